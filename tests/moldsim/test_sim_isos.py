"""ISO commands: registration rules, download progression, filters, update, delete, faults."""

from __future__ import annotations

import time

import pytest

from moldsim.server import MoldSim

from simclient import Client, Workflow


def test_register_iso_response_is_a_list_and_not_ready(client: Client) -> None:
    resp = client.ok("registerIso", name="win2022", url="http://images.test/win.iso",
                     zoneid=client.zone_id(), ostypeid=client.os_type_id("Windows PV"),
                     displaytext="Windows Server 2022", isextractable=True, ispublic=True,
                     isfeatured=True)
    assert resp["count"] == 1
    iso = resp["iso"][0]
    assert (iso["name"], iso["displaytext"], iso["isready"], iso["status"]) == \
        ("win2022", "Windows Server 2022", False, "0% Downloaded")
    assert (iso["ispublic"], iso["isfeatured"], iso["isextractable"], iso["bootable"]) == (True, True, True, True)
    assert iso["ostypename"] == "Windows PV" and iso["crossZones"] is False
    assert iso["zonename"] == "Zone1" and iso["account"] == "admin" and iso["tags"] == []


def test_non_bootable_iso_gets_os_type_none(client: Client) -> None:
    iso = client.register_iso("virtio-win", bootable=False, ostypeid=client.os_type_id("Windows PV"))
    assert iso["bootable"] is False and iso["ostypename"] == "None"


@pytest.mark.parametrize("params, text", [
    ({"url": "http://images.test/win.iso"}, "Please pass a valid GuestOS Id"),
    ({"url": "file:///tmp/win.iso", "ostypeid": None}, "Unsupported scheme for url: file:///tmp/win.iso"),
    ({"url": "http://images.test/win.qcow2", "ostypeid": None},
     "Please specify a valid URL. URL:http://images.test/win.qcow2 is an invalid for the format iso"),
])
def test_register_iso_rejections(client: Client, params: dict, text: str) -> None:
    if "ostypeid" in params:
        params["ostypeid"] = client.os_type_id("Windows PV")
    status, body = client.call("registerIso", name="bad", zoneid=client.zone_id(), **params)
    assert (status, body["errorcode"], body["errortext"]) == (431, 431, text)


def test_register_accepts_compressed_and_metalink_urls(client: Client) -> None:
    for url in ("https://h/a.ISO.gz", "http://h/b.iso.bz2", "http://h/c.iso.zip?x=1", "http://h/d.metalink"):
        assert client.register_iso("ok", url=url)["url"] == url


def test_unknown_zone_uuid_is_431(client: Client) -> None:
    status, body = client.call("registerIso", name="x", url="http://h/x.iso", bootable=False,
                               zoneid="00000000-0000-0000-0000-000000000000")
    assert status == 431
    assert body["errortext"].startswith(
        "Invalid parameter zoneid value=00000000-0000-0000-0000-000000000000 due to incorrect long value format")


def test_cross_zone_iso(client: Client) -> None:
    iso = client.register_iso("xz", zoneid="-1")
    assert iso["crossZones"] is True and iso["zoneid"] == client.zone_id()


def test_download_progression_and_default_filter() -> None:
    with MoldSim(job_seconds=0.0, download_seconds=0.5) as sim, Client(sim.url) as c:
        iso = c.register_iso("slow")
        seen: list[str] = []
        hidden_while_downloading = True
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            default_view = c.ok("listIsos")  # taken before the row, so it is older than it
            row = c.first("listIsos", "iso", isofilter="self", id=iso["id"])
            if not seen or seen[-1] != row["status"]:
                seen.append(row["status"])
            if row["isready"]:
                break
            hidden_while_downloading &= default_view == {}
            time.sleep(0.02)
        assert seen[-1] == "Successfully Installed"
        assert any(s.endswith("% Downloaded") for s in seen)
        assert "Installing ISO" in seen
        assert hidden_while_downloading
        assert c.first("listIsos", "iso")["id"] == iso["id"]  # selfexecutable shows it once ready
        assert c.first("listIsos", "iso", isready=True)["size"] > 0


def test_list_filters(client: Client) -> None:
    a = client.register_iso("alpha", bootable=False)
    b = client.register_iso("beta")
    client.register_iso("alphabet")
    names = lambda **p: [i["name"] for i in client.ok("listIsos", **p).get("iso", [])]
    assert names(name="alpha") == ["alpha"]
    assert names(keyword="ALPHA") == ["alpha", "alphabet"]
    assert names(id=b["id"]) == ["beta"]
    assert names(bootable=False) == ["alpha"]
    assert names(isofilter="featured") == []
    client.wait_job(client.ok("createTags", resourcetype="ISO", resourceids=a["id"],
                              **{"tags[0].key": "mwin", "tags[0].value": "iso.alpha"})["jobid"])
    assert names(**{"tags[0].key": "mwin", "tags[0].value": "iso.alpha"}) == ["alpha"]
    assert names(**{"tags[0].key": "mwin"}) == ["alpha"]
    assert names(**{"tags[0].key": "mwin", "tags[0].value": "other"}) == []
    assert client.first("listIsos", "iso", id=a["id"])["tags"][0]["value"] == "iso.alpha"
    status, body = client.call("listIsos", isofilter="mine")
    assert (status, body["errortext"]) == (431, "Please specify a valid template filter.")


def test_update_iso_and_permissions(client: Client) -> None:
    iso = client.register_iso("old")
    resp = client.ok("updateIso", id=iso["id"], name="new", displaytext="New text",
                     ostypeid=client.os_type_id("Windows 11 (64-bit)"))
    assert (resp["iso"]["name"], resp["iso"]["displaytext"], resp["iso"]["ostypename"]) == \
        ("new", "New text", "Windows 11 (64-bit)")
    assert client.ok("updateIsoPermissions", id=iso["id"], ispublic=True, isfeatured=True,
                     isextractable=True) == {"success": True}
    row = client.first("listIsos", "iso", id=iso["id"])
    assert (row["name"], row["ispublic"], row["isfeatured"], row["isextractable"]) == ("new", True, True, True)


def test_delete_iso_job(client: Client) -> None:
    iso = client.register_iso("gone")
    resp = client.ok("deleteIso", id=iso["id"])
    assert list(resp) == ["jobid"]
    job = client.wait_job(resp["jobid"])
    assert (job["jobstatus"], job["jobresultcode"], job["jobresult"]) == (1, 0, {"success": True})
    assert (job["jobinstancetype"], job["jobinstanceid"]) == ("Iso", iso["id"])
    assert job["cmd"] == "org.apache.cloudstack.api.command.user.iso.DeleteIsoCmd"
    assert "completed" in job and job["jobresulttype"] == "object"
    assert client.ok("listIsos", isofilter="all") == {}
    status, body = client.call("deleteIso", id=iso["id"])
    assert status == 431 and body["errortext"].startswith("Invalid parameter id value=")


def test_unknown_job_is_431(client: Client) -> None:
    status, body = client.call("queryAsyncJobResult", jobid="5d5c3d3e-0000-4000-8000-000000000000")
    assert status == 431 and body["cserrorcode"] == 4350


def test_job_takes_job_seconds() -> None:
    with MoldSim(job_seconds=0.3) as sim, Client(sim.url) as c:
        iso = c.register_iso("slowjob")
        jobid = c.ok("deleteIso", id=iso["id"])["jobid"]
        pending = c.ok("queryAsyncJobResult", jobid=jobid)
        assert pending["jobstatus"] == 0 and "jobresult" not in pending and "completed" not in pending
        assert c.wait_job(jobid)["jobstatus"] == 1


def test_fail_jobs_fault(sim: MoldSim, client: Client) -> None:
    iso = client.register_iso("keep")
    sim.set_faults(fail_jobs=[{"command": "deleteIso", "errorcode": 530, "errortext": "storage down", "count": 1}])
    job = client.wait_job(client.ok("deleteIso", id=iso["id"])["jobid"])
    assert (job["jobstatus"], job["jobresultcode"], job["jobresult"]) == \
        (2, 530, {"errorcode": 530, "errortext": "storage down"})
    assert client.first("listIsos", "iso", id=iso["id"])["name"] == "keep"
    assert client.wait_job(client.ok("deleteIso", id=iso["id"])["jobid"])["jobstatus"] == 1


def test_fail_downloads_fault(sim: MoldSim, client: Client) -> None:
    sim.set_faults(fail_downloads=[{"name_contains": "broken"}])
    iso = client.register_iso("broken-win")
    row = client.first("listIsos", "iso", isofilter="self", id=iso["id"])
    assert row["isready"] is False
    assert row["status"] == "Download failed: HTTP Server returned 404 (expected 200 OK)"
    assert row["downloaddetails"][0]["downloadState"] == "DOWNLOAD_ERROR"
    assert client.ok("listIsos") == {}
    assert client.register_iso("fine")["name"] == "fine"


def test_http_error_fault(sim: MoldSim, client: Client) -> None:
    sim.set_faults(http_errors=[{"command": "listIsos", "status": 503, "count": 1}])
    status_first = client.raw([("command", "listIsos")]).status_code
    assert status_first == 503
    assert client.call("listIsos")[0] == 200


def test_delete_iso_is_refused_while_it_downloads() -> None:
    """L server/src/main/java/com/cloud/template/HypervisorTemplateAdapter.java delete: a store
    copy DOWNLOAD_IN_PROGRESS fails the job with a CloudRuntimeException (530)."""
    with MoldSim(job_seconds=0.0, download_seconds=0.6) as sim, Workflow(sim.url) as wf:
        iso = wf.register_iso("slow")
        job = wf.run_job("deleteIso", id=iso["id"])
        assert (job["jobstatus"], job["jobresultcode"]) == (2, 530)
        assert job["jobresult"]["errortext"] == ("Please specify a template that is not "
                                                 "currently being downloaded.")
        deadline = time.monotonic() + 5
        while not wf.first("listIsos", "iso", isofilter="self", id=iso["id"])["isready"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert wf.run_job("deleteIso", id=iso["id"])["jobstatus"] == 1
