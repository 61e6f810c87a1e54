"""ISO uploads: getUploadParamsForIso and the upload URL, driven with a plain httpx multipart client.

Sources (L = jeongda-young/ablestack-cloud, M = ablecloud-team/ablestack-cloud, U = apache/cloudstack):
- api/src/main/java/org/apache/cloudstack/api/command/user/iso/GetUploadParamsForIsoCmd.java:
  response name "postuploadisoresponse", displaytext required, validateRequest "Invalid zoneid"
- api/src/main/java/org/apache/cloudstack/api/response/GetUploadParamsResponse.java: id,
  postURL, metadata, expires, signature (object "getuploadparams", as Mold's UI reads
  json.postuploadisoresponse.getuploadparams, ui/src/views/image/RegisterOrUploadIso.vue)
- server/src/main/java/com/cloud/template/TemplateManagerImpl.java registerPostUploadInternal:
  expires = now + upload.operation.timeout minutes (Joda, UTC), signature = HmacSHA256 Base64
  of metadata + postURL + expires (com.cloud.utils.EncryptionUtil.generateSignature)
- services/secondary-storage/server/src/main/java/org/apache/cloudstack/storage/resource/
  HttpUploadServerHandler.java ("only post requests are allowed", "received entity is not a
  file" 422, "upload successful." 200, text/plain; charset=UTF-8; the UI posts 'files[]' with
  X-signature, X-expires, X-metadata) and NfsPostUploadRequestValidationService.java
  ("signature, metadata and expires are compulsory fields.", "signature validation failed.",
  "request not valid anymore.", 400)
- NfsSecondaryStorageResource.createUploadEntity (L, notes item 16): "The one time post url is
  already used ...", "Maximum file upload size exceeded. Content Length received: <n>GB.
  Maximum allowed size: <m>GB."
- M server/src/main/java/com/cloud/api/query/dao/TemplateJoinDaoImpl.java newIsoResponse (the
  status of an ISO whose store row is neither DOWNLOADED, DOWNLOAD_IN_PROGRESS nor BYPASSED is
  its error string: none before the upload) and searchByTemplateZonePair (NotUploaded and
  UploadInProgress ISOs are listed)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import os
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from moldsim.control import ControlError
from moldsim.server import MoldSim

from simclient import Client, Workflow


@pytest.fixture
def sim() -> Iterator[MoldSim]:
    with MoldSim(download_seconds=0.0) as s:
        yield s


@pytest.fixture
def wf(sim: MoldSim) -> Iterator[Workflow]:
    with Workflow(sim.url) as client:
        yield client


def ticket(client: Client, name: str = "win-upload", **params: Any) -> dict[str, Any]:
    base = {"name": name, "displaytext": f"{name} (uploaded)", "format": "ISO", "zoneid": client.zone_id(),
            "ostypeid": client.os_type_id("Windows PV")}
    base.update(params)
    status, body = client.call("getUploadParamsForIso", **{k: v for k, v in base.items() if v is not None})
    assert status == 200, body
    answer: dict[str, Any] = body["getuploadparams"]
    return answer


def post(t: dict[str, Any], content: bytes | io.IOBase = b"ISO9660 payload", *, headers: dict[str, str] | None = None,
         field: str = "files[]", data: dict[str, str] | None = None, files: bool = True) -> httpx.Response:
    sent = {"X-signature": t["signature"], "X-metadata": t["metadata"], "X-expires": t["expires"]}
    sent.update(headers or {})
    sent = {k: v for k, v in sent.items() if v is not None}
    with httpx.Client(timeout=30) as http:
        return http.post(t["postURL"], headers=sent, data=data,
                         files={field: ("win.iso", content, "application/octet-stream")} if files else None)


def iso(client: Client, iso_id: str) -> dict[str, Any]:
    return client.first("listIsos", "iso", isofilter="self", id=iso_id)


def test_ticket_shape_and_the_pending_iso(sim: MoldSim, wf: Workflow) -> None:
    before = time.time()
    resp = wf.request("getUploadParamsForIso", name="w", displaytext="W", format="ISO", zoneid=wf.zone_id(),
                      ostypeid=wf.os_type_id("Windows PV"))
    assert resp.status_code == 200 and list(resp.json()) == ["postuploadisoresponse"]
    t = resp.json()["postuploadisoresponse"]["getuploadparams"]
    assert set(t) == {"id", "postURL", "metadata", "expires", "signature"}
    assert t["postURL"] == f"{sim.base_url}/upload/{t['id']}"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", t["expires"])
    expires = datetime.fromisoformat(t["expires"].replace("Z", "+00:00")).timestamp()
    assert before + 3600 - 2 <= expires <= time.time() + 3600 + 2  # upload.operation.timeout: 60 minutes
    secret = sim.store.data["upload_secret"]
    expected = base64.b64encode(hmac.new(secret.encode(), (t["metadata"] + t["postURL"] + t["expires"]).encode(),
                                         hashlib.sha256).digest()).decode()
    assert t["signature"] == expected
    pending = iso(wf, t["id"])
    assert (pending["name"], pending["isready"], pending["bootable"], pending["zoneid"]) == ("w", False, True, wf.zone_id())
    assert "status" not in pending and "size" not in pending and "url" not in pending
    assert pending["downloaddetails"][0]["downloadState"] == "NOT_UPLOADED"
    assert "iso" not in wf.ok("listIsos")  # selfexecutable lists ready ISOs only
    assert sim.upload_info(t["id"])["state"] == "NotUploaded"


@pytest.mark.parametrize("params, status, text", [
    ({"zoneid": "-1"}, 431, "Invalid zoneid"),
    ({"displaytext": None}, 431, "Unable to execute API command getuploadparamsforiso due to missing parameter displaytext"),
    ({"ostypeid": None}, 431, "Please pass a valid GuestOS Id"),
])
def test_ticket_refusals(wf: Workflow, params: dict[str, Any], status: int, text: str) -> None:
    base = {"name": "x", "displaytext": "x", "format": "ISO", "zoneid": wf.zone_id(),
            "ostypeid": wf.os_type_id("Windows PV")}
    base.update(params)
    resp = wf.request("getUploadParamsForIso", **{k: v for k, v in base.items() if v is not None})
    body = resp.json()["postuploadisoresponse"]
    assert (resp.status_code, body["errorcode"], body["errortext"]) == (status, status, text)


def test_upload_streams_the_file_and_the_iso_becomes_ready(tmp_path: Path) -> None:
    payload = os.urandom(3 * 1024 * 1024 + 17)
    with MoldSim(data_dir=tmp_path, download_seconds=0.0) as sim, Workflow(sim.url) as wf:
        t = ticket(wf)
        resp = post(t, io.BytesIO(payload))
        assert (resp.status_code, resp.text) == (200, "upload successful.")
        assert resp.headers["content-type"] == "text/plain; charset=UTF-8"
        info = sim.upload_info(t["id"])
        assert (info["state"], info["bytes"], info["sha256"]) == ("Uploaded", len(payload), hashlib.sha256(payload).hexdigest())
        assert Path(info["path"]) == tmp_path / "uploads" / f"{t['id']}.iso"
        assert Path(info["path"]).read_bytes() == payload
        ready = iso(wf, t["id"])
        assert (ready["isready"], ready["status"], ready["size"]) == (True, "Successfully Installed", len(payload))
        assert wf.first("listIsos", "iso", id=t["id"])["id"] == t["id"]
        again = post(t)
        assert (again.status_code, again.text) == \
            (400, "The one time post url is already used and the upload is in COMPLETED state.")
        wf.run_job("deleteIso", id=t["id"])
        assert not Path(info["path"]).exists()


def test_upload_installs_over_download_seconds(sim: MoldSim, wf: Workflow) -> None:
    sim.config.download_seconds = 0.5
    t = ticket(wf)
    assert post(t).status_code == 200
    first = iso(wf, t["id"])
    assert first["isready"] is False and re.fullmatch(r"\d+% Downloaded", first["status"])
    time.sleep(0.55)
    assert iso(wf, t["id"])["status"] == "Successfully Installed"


@pytest.mark.parametrize("case, text", [
    ("tampered", "signature validation failed."),
    ("other host", "signature validation failed."),
    ("no signature", "signature, metadata and expires are compulsory fields."),
])
def test_refused_upload_leaves_the_iso_not_ready(sim: MoldSim, wf: Workflow, case: str, text: str) -> None:
    t = ticket(wf)
    headers = {"tampered": {"X-metadata": t["metadata"][:-4] + "AAAA"},
               "other host": {"X-Forwarded-Host": "ssvm.example.test"},
               "no signature": {"X-signature": None}}[case]
    resp = post(t, headers=headers)
    assert (resp.status_code, resp.text) == (400, text)
    info = sim.upload_info(t["id"])
    assert (info["state"], info["error"], info["bytes"]) == ("UploadError", text, None)
    failed = iso(wf, t["id"])
    assert failed["isready"] is False and failed["downloaddetails"][0]["downloadState"] == "DOWNLOAD_ERROR"
    retry = post(t)  # the SSVM knows the URL now: one time only
    assert (retry.status_code, retry.text) == \
        (400, "The one time post url is already used and the upload is in ERROR state.")


def test_expired_and_abandoned_tickets(sim: MoldSim, wf: Workflow) -> None:
    wf.ok("updateConfiguration", name="upload.operation.timeout", value="0.001")  # 60 ms (fractions: moldsim only)
    late, unused = ticket(wf, "late"), ticket(wf, "unused")
    time.sleep(0.1)
    resp = post(late)
    assert (resp.status_code, resp.text) == (400, "request not valid anymore.")
    assert iso(wf, late["id"])["isready"] is False
    assert sim.upload_info(unused["id"])["state"] == "UploadAbandoned"
    assert iso(wf, unused["id"])["downloaddetails"][0]["downloadState"] == "ABANDONED"


def test_size_limit_in_whole_gigabytes(sim: MoldSim, wf: Workflow) -> None:
    wf.ok("updateConfiguration", name="max.template.iso.size", value="0")
    t = ticket(wf)
    resp = post(t)
    assert (resp.status_code, resp.text) == \
        (400, "Maximum file upload size exceeded. Content Length received: 1GB. Maximum allowed size: 0GB.")
    assert sim.upload_info(t["id"])["state"] == "UploadError"
    wf.ok("updateConfiguration", name="max.template.iso.size", value="1")
    fits = ticket(wf, "fits")  # the limit is the one in force when the ticket is made
    assert post(fits).status_code == 200


def test_a_body_without_a_file_and_a_get(sim: MoldSim, wf: Workflow) -> None:
    t = ticket(wf)
    resp = post(t, data={"name": "not a file"}, files=False)  # urlencoded: no file part
    assert (resp.status_code, resp.text) == (422, "received entity is not a file")
    assert sim.upload_info(t["id"])["state"] == "UploadError"
    t2 = ticket(wf, "multipart-without-file")
    with httpx.Client(timeout=10) as http:
        body = b'--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue\r\n--xyz--\r\n'
        resp = http.post(t2["postURL"], content=body, headers={
            "Content-Type": "multipart/form-data; boundary=xyz", "X-signature": t2["signature"],
            "X-metadata": t2["metadata"], "X-expires": t2["expires"]})
        assert (resp.status_code, resp.text) == (422, "received entity is not a file")
        got = http.get(ticket(wf, "get")["postURL"])
        assert (got.status_code, got.text) == (400, "only post requests are allowed")


def test_headers_ignore_case_and_any_file_field(sim: MoldSim, wf: Workflow) -> None:
    t = ticket(wf)
    with httpx.Client(timeout=10) as http:
        resp = http.post(t["postURL"], files={"file": ("x.iso", b"abc")},
                         headers={"x-SIGNATURE": t["signature"], "x-metadata": t["metadata"],
                                  "X-EXPIRES": t["expires"], "X-Host": "ignored.example.test"})
    assert (resp.status_code, resp.text) == (200, "upload successful.")
    assert sim.upload_info(t["id"])["bytes"] == 3


def test_a_user_uploads_into_their_own_account(wf: Workflow, users: Any) -> None:
    alice, _ = users(wf, "alice")
    t = ticket(alice, "alice-iso", bootable=False, ostypeid=None)
    assert post(t).status_code == 200
    mine = iso(alice, t["id"])
    assert (mine["account"], mine["bootable"], mine["ostypename"], mine["isready"]) == ("alice", False, "None", True)


def test_upload_info_of_a_registered_iso_is_404(sim: MoldSim, wf: Workflow) -> None:
    registered = wf.register_iso("plain")
    with pytest.raises(ControlError) as err:
        sim.upload_info(registered["id"])
    assert err.value.status == 404
    with httpx.Client() as http:
        assert http.get(f"{sim.base_url}/moldsim/uploads/{registered['id']}").status_code == 404
