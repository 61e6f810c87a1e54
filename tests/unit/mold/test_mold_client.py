"""MoldClient against small fake Mold apps on httpx.MockTransport (no patching, values asserted)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote

import httpx
import pytest

from reconciler.errors import (
    ApiError,
    AuthError,
    JobFailed,
    JobTimeout,
    TransportError,
    UncertainMutation,
)
from reconciler.mold import MoldClient, PollPolicy, RetryPolicy
from reconciler.settings import Settings

API_KEY = "AK-visible-nowhere-1234"
SECRET = "SK-never-shown-5678"
URL = "http://mold.test:8080/client/api"

Answer = dict[str, Any] | httpx.Response | Exception


def reference_signature(params: dict[str, str], algorithm=hashlib.sha256) -> str:
    """An independent copy of §2.3, as Mold's verifyRequest computes it."""
    enc = lambda v: quote(v, safe="*").replace("~", "%7E")
    text = "&".join(f"{k}={enc(params[k])}" for k in sorted(params) if k != "signature").lower()
    digest = hmac.new(SECRET.encode(), text.encode(), algorithm).digest()
    return base64.b64encode(digest).decode()


class FakeMold:
    """Checks every request's signature, then answers by command from ``routes``.

    A route is a callable(params) → answer, or a list of answers served in order (the last one
    repeats). An answer is a JSON body (HTTP 200), an httpx.Response, or an exception to raise.
    """

    def __init__(self, routes: dict[str, Any]) -> None:
        self.routes = routes
        self.requests: list[dict[str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "POST"
        assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
        params = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
        with self.lock:
            self.requests.append(params)
        if params.get("apikey") != API_KEY or params.get("signature") != reference_signature(params):
            return error(401, "unable to verify user credentials and/or request signature", params)
        answer = self._answer(params)
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)

    def _answer(self, params: dict[str, str]) -> Answer:
        route = self.routes[params["command"]]
        if callable(route):
            return route(params)
        with self.lock:
            return route.pop(0) if len(route) > 1 else route[0]

    def commands(self) -> list[str]:
        return [r["command"] for r in self.requests]


def error(code: int, text: str, params: dict[str, str], cserrorcode: int = 4350) -> httpx.Response:
    key = params.get("command", "error").lower() + "response"
    body = {key: {"uuidList": [], "errorcode": code, "cserrorcode": cserrorcode, "errortext": text}}
    return httpx.Response(code, json=body)


class FakeTime:
    """A clock that only moves when the client sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_client(app: Callable[[httpx.Request], httpx.Response], time: FakeTime | None = None,
                **kwargs: Any) -> MoldClient:
    time = time or FakeTime()
    settings = Settings(url=URL, api_key=API_KEY, secret_key=SECRET)
    return MoldClient(settings, transport=httpx.MockTransport(app), sleep=time.sleep,
                      clock=time.clock, **kwargs)


ZONES = {"listzonesresponse": {"count": 1, "zone": [{"id": "z1", "name": "Zone1"}]}}


# -- requests -------------------------------------------------------------------------------

def test_call_returns_the_envelope_object_and_signs_with_v3():
    app = FakeMold({"listZones": [ZONES]})
    with make_client(app) as client:
        assert client.call("listZones", {"name": "Zone1"}) == ZONES["listzonesresponse"]
    [sent] = app.requests
    assert sent["command"] == "listZones" and sent["response"] == "json" and sent["name"] == "Zone1"
    assert sent["signatureversion"] == "3"
    expires = datetime.fromisoformat(sent["expires"])
    assert timedelta(minutes=9) < expires - datetime.now(UTC) <= timedelta(minutes=10)
    assert client.request_count == 1


def test_parameters_are_flattened_once_and_reach_mold_as_signed():
    app = FakeMold({"deployVirtualMachine": [{"deployvirtualmachineresponse": {"id": "vm", "jobid": "j"}}]})
    with make_client(app) as client:
        client.call("deployVirtualMachine", {
            "name": "윈도우 서버", "startvm": False, "networkids": ["n1", "n2"], "keypair": None,
            "details": [{"UEFI": "SECURE", "rootDiskController": "scsi"}],
            "tags": [{"key": "mwin", "value": "vm.win~1 +*"}],
        })
    [sent] = app.requests
    assert sent["name"] == "윈도우 서버" and sent["startvm"] == "false" and "keypair" not in sent
    assert sent["networkids"] == "n1,n2"
    assert sent["details[0].UEFI"] == "SECURE" and sent["details[0].rootDiskController"] == "scsi"
    assert sent["tags[0].key"] == "mwin" and sent["tags[0].value"] == "vm.win~1 +*"


def test_sha1_setting_signs_with_sha1():
    seen: list[dict[str, str]] = []

    def app(request: httpx.Request) -> httpx.Response:
        seen.append(dict(parse_qsl(request.content.decode())))
        return httpx.Response(200, json=ZONES)

    settings = Settings(url=URL, api_key=API_KEY, secret_key=SECRET, signature="sha1")
    with MoldClient(settings, transport=httpx.MockTransport(app)) as client:
        client.call("listZones")
    assert seen[0]["signature"] == reference_signature(seen[0], hashlib.sha1)


def test_client_owned_parameters_are_refused():
    with make_client(FakeMold({})) as client, pytest.raises(ValueError, match="command"):
        client.call("listZones", {"command": "x"})


# -- errors ---------------------------------------------------------------------------------

def test_error_envelope_becomes_api_error():
    app = FakeMold({"registerIso": lambda p: error(431, "Unable to execute API command registeriso "
                                                        "due to missing parameter url", p)})
    with make_client(app) as client, pytest.raises(ApiError) as caught:
        client.call("registerIso", {"name": "x"})
    assert type(caught.value) is ApiError
    assert (caught.value.command, caught.value.errorcode, caught.value.cserrorcode) == ("registerIso", 431, 4350)
    assert caught.value.errortext.endswith("missing parameter url")


def test_401_is_auth_error_with_the_way_out():
    def app(request: httpx.Request) -> httpx.Response:
        return error(401, "unable to verify user credentials and/or request signature", {"command": "listZones"})

    with make_client(app) as client, pytest.raises(AuthError) as caught:
        client.call("listZones")
    message = str(caught.value)
    assert "listZones" in message and "key" in message
    assert "MOLD_SIGNATURE=sha1" in message
    assert client.request_count == 1  # auth failures are answers, not retried


def test_wrong_secret_is_rejected_by_the_fake_as_401():
    app = FakeMold({"listZones": [ZONES]})
    settings = Settings(url=URL, api_key=API_KEY, secret_key="wrong")
    with MoldClient(settings, transport=httpx.MockTransport(app)) as client, pytest.raises(AuthError):
        client.call("listZones")


@pytest.mark.parametrize("key", ["errorresponse", "listzonesresponse"])
def test_error_inside_http_200_is_api_error(key):
    body = {key: {"errorcode": 530, "cserrorcode": 4250, "errortext": "internal error"}}
    app = FakeMold({"listZones": [body]})
    with make_client(app) as client, pytest.raises(ApiError) as caught:
        client.call("listZones")
    assert (caught.value.errorcode, caught.value.errortext) == (530, "internal error")
    assert len(app.requests) == 1  # 53x is Mold's answer, not retried


def test_html_page_is_transport_error_naming_the_command():
    page = httpx.Response(200, html="<html><title>Login</title></html>")
    app = FakeMold({"listZones": [page]})
    with make_client(app) as client, pytest.raises(TransportError) as caught:
        client.call("listZones")
    assert caught.value.command == "listZones"
    assert str(caught.value).startswith("listZones: HTTP 200 without a Mold JSON answer (text/html")
    assert len(app.requests) == 1


def test_json_without_envelope_is_transport_error():
    app = FakeMold({"listZones": [{"something": 1}]})
    with make_client(app) as client, pytest.raises(TransportError, match="listZones"):
        client.call("listZones")


def test_redirect_is_not_followed():
    app = FakeMold({"listZones": [httpx.Response(301, headers={"Location": "https://mold.test/client/api"})]})
    with make_client(app) as client, pytest.raises(TransportError, match="redirect to https://mold.test"):
        client.call("listZones")


# -- retries --------------------------------------------------------------------------------

def test_read_is_retried_after_503():
    unavailable = httpx.Response(503, html="<h1>Service Unavailable</h1>")
    app = FakeMold({"listZones": [unavailable, ZONES]})
    time = FakeTime()
    with make_client(app, time) as client:
        assert client.call("listZones") == ZONES["listzonesresponse"]
    assert len(app.requests) == 2 and client.request_count == 2
    assert time.sleeps == [0.2]
    # each attempt is signed afresh (the fake verified both)
    assert app.requests[0]["signature"] and app.requests[1]["signature"]


def test_read_is_retried_after_connect_error():
    def refused(params):
        return httpx.ConnectError("[Errno 111] Connection refused")

    answers = iter([refused, refused, lambda p: ZONES])
    app = FakeMold({"listZones": lambda p: next(answers)(p)})  # noqa: PLW0108 - lazy
    time = FakeTime()
    with make_client(app, time) as client:
        assert client.call("listZones")["count"] == 1
    assert client.request_count == 3
    assert time.sleeps == [0.2, 0.4]


def test_read_retries_stop_after_the_policy_and_back_off():
    app = FakeMold({"listIsos": lambda p: httpx.ReadTimeout("timed out")})
    time = FakeTime()
    retry = RetryPolicy(attempts=5, initial=1.0, factor=3.0, max_delay=5.0)
    with make_client(app, time, retry=retry) as client, pytest.raises(TransportError) as caught:
        client.call("listIsos")
    assert client.request_count == 5
    assert time.sleeps == [1.0, 3.0, 5.0, 5.0]
    assert "timed out" in str(caught.value) and caught.value.command == "listIsos"


def test_json_503_envelope_on_read_is_retried_then_reported_as_api_error():
    app = FakeMold({"listZones": lambda p: error(503, "busy", p)})
    with make_client(app, retry=RetryPolicy(attempts=2)) as client, pytest.raises(ApiError) as caught:
        client.call("listZones")
    assert caught.value.errorcode == 503 and client.request_count == 2


@pytest.mark.parametrize("answer", [
    httpx.ReadTimeout("timed out"),
    httpx.RemoteProtocolError("Server disconnected without sending a response."),
    httpx.Response(502, html="<h1>Bad Gateway</h1>"),
    httpx.Response(504, html="<h1>Gateway Timeout</h1>"),
    httpx.Response(200, text='{"deployvirtualmachineresponse": {"id": "vm-1", ',
                   headers={"Content-Type": "application/json"}),
])
def test_mutation_whose_answer_is_lost_is_sent_once_and_uncertain(answer):
    app = FakeMold({"deployVirtualMachine": [answer]})
    time = FakeTime()
    with make_client(app, time) as client, pytest.raises(UncertainMutation) as caught:
        client.call("deployVirtualMachine", {"zoneid": "z1"})
    assert client.request_count == 1 and time.sleeps == []
    assert caught.value.command == "deployVirtualMachine"


@pytest.mark.parametrize("answer", [
    httpx.Response(503, html="<h1>Service Unavailable</h1>"),
    httpx.Response(429, json={"deployvirtualmachineresponse": {
        "errorcode": 429, "errortext": "The given command has reached its API limit"}}),
    httpx.ConnectError("refused"),
])
def test_mutation_that_certainly_did_not_run_is_sent_again(answer):
    ok = {"deployvirtualmachineresponse": {"id": "vm-1", "jobid": "j-1"}}
    app = FakeMold({"deployVirtualMachine": [answer, ok]})
    time = FakeTime()
    with make_client(app, time) as client:
        body = client.call("deployVirtualMachine", {"zoneid": "z1"})
    assert body == {"id": "vm-1", "jobid": "j-1"}
    assert client.request_count == 2 and time.sleeps == [0.2]


def test_uncertain_mutation_failure_says_so():
    app = FakeMold({"deleteIso": [httpx.ReadTimeout("timed out")]})
    with make_client(app) as client, pytest.raises(TransportError, match="Mold may have carried it out"):
        client.call("deleteIso", {"id": "i1"})


def test_request_count_is_thread_safe():
    app = FakeMold({"listZones": [ZONES]})
    with make_client(app) as client:
        threads = [threading.Thread(target=lambda: [client.call("listZones") for _ in range(20)])
                   for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert client.request_count == 160 == len(app.requests)


# -- paging ---------------------------------------------------------------------------------

def paged_isos(total: int) -> Callable[[dict[str, str]], dict[str, Any]]:
    isos = [{"id": f"iso-{i}", "name": f"n{i}"} for i in range(total)]

    def answer(params: dict[str, str]) -> dict[str, Any]:
        page, size = int(params["page"]), int(params["pagesize"])
        chunk = isos[(page - 1) * size: page * size]
        return {"listisosresponse": {"count": total, "iso": chunk} if chunk else {}}

    return answer


def test_list_all_pages_until_count():
    app = FakeMold({"listIsos": paged_isos(5)})
    with make_client(app) as client:
        items = client.list_all("listIsos", "iso", {"isofilter": "self"}, pagesize=2)
    assert [i["id"] for i in items] == [f"iso-{i}" for i in range(5)]
    assert [(r["page"], r["pagesize"], r["isofilter"]) for r in app.requests] == [
        ("1", "2", "self"), ("2", "2", "self"), ("3", "2", "self"),
    ]


def test_list_all_stops_at_count_on_a_full_last_page():
    app = FakeMold({"listIsos": paged_isos(4)})
    with make_client(app) as client:
        assert len(client.list_all("listIsos", "iso", pagesize=2)) == 4
    assert len(app.requests) == 2


def test_list_all_empty_object_is_empty_list():
    app = FakeMold({"listVMSnapshot": [{"listvmsnapshotresponse": {}}]})
    with make_client(app) as client:
        assert client.list_all("listVMSnapshot", "vmSnapshot") == []
    assert len(app.requests) == 1


def test_list_all_drops_items_repeated_by_a_shifting_list():
    pages = [
        {"listisosresponse": {"count": 3, "iso": [{"id": "a"}, {"id": "b"}]}},
        {"listisosresponse": {"count": 3, "iso": [{"id": "b"}, {"id": "c"}]}},
    ]
    app = FakeMold({"listIsos": pages})
    with make_client(app) as client:
        assert [i["id"] for i in client.list_all("listIsos", "iso", pagesize=2)] == ["a", "b", "c"]


def test_list_all_keeps_one_row_per_zone_of_an_image():
    rows = [{"id": "t", "zoneid": "z1"}, {"id": "t", "zoneid": "z2"}, {"id": "t", "zoneid": "z1"}]
    app = FakeMold({"listTemplates": [{"listtemplatesresponse": {"count": 2, "template": rows}}]})
    with make_client(app) as client:
        found = client.list_all("listTemplates", "template", pagesize=3)
    assert [(r["id"], r["zoneid"]) for r in found] == [("t", "z1"), ("t", "z2")]


# -- async jobs -----------------------------------------------------------------------------

def job(status: int, **extra: Any) -> dict[str, Any]:
    return {"queryasyncjobresultresponse": {"jobid": "job-1", "jobstatus": status,
                                            "jobprocstatus": 0, **extra}}


VM = {"virtualmachine": {"id": "vm-1", "state": "Running"}}


def test_wait_job_success_reports_progress_and_backs_off():
    app = FakeMold({"queryAsyncJobResult": [job(0), job(0), job(1, jobresultcode=0, jobresult=VM)]})
    time = FakeTime()
    progress: list[dict[str, Any]] = []
    with make_client(app, time) as client:
        result = client.wait_job("deployVirtualMachine", "job-1", timeout=60, on_progress=progress.append)
    assert result == VM
    assert [p["jobstatus"] for p in progress] == [0, 0] and progress[0]["jobid"] == "job-1"
    assert time.sleeps == [0.5, 0.75, 1.125]  # the first look one interval after the start
    assert {r["jobid"] for r in app.requests} == {"job-1"}


def test_wait_job_failure_carries_mold_error():
    failed = job(2, jobresultcode=533, jobresult={"errorcode": 533,
                                                  "errortext": "Unable to create a deployment for VM"})
    app = FakeMold({"queryAsyncJobResult": [failed]})
    with make_client(app) as client, pytest.raises(JobFailed) as caught:
        client.wait_job("deployVirtualMachine", "job-1", timeout=60)
    assert (caught.value.jobid, caught.value.errorcode) == ("job-1", 533)
    assert caught.value.errortext == "Unable to create a deployment for VM"
    assert "deployVirtualMachine job job-1 failed (533)" in str(caught.value)


def test_wait_job_times_out_at_the_deadline_with_growing_intervals():
    app = FakeMold({"queryAsyncJobResult": [job(0)]})
    time = FakeTime()
    start = time.now
    poll = PollPolicy(initial=0.001, factor=2.0, max_interval=0.004)
    with make_client(app, time, poll=poll) as client, pytest.raises(JobTimeout) as caught:
        client.wait_job("createTemplate", "job-1", timeout=0.02)
    assert time.sleeps == pytest.approx([0.001, 0.002, 0.004, 0.004, 0.004, 0.004, 0.001])
    assert time.now - start == pytest.approx(0.02)  # never slept past the deadline
    assert len(app.requests) == 7  # one poll after every sleep, the last at the deadline
    assert (caught.value.jobid, caught.value.seconds) == ("job-1", 0.02)


def test_wait_job_poll_survives_a_transport_hiccup():
    answers = iter([httpx.ConnectError("refused"), job(1, jobresult={"success": True})])
    app = FakeMold({"queryAsyncJobResult": lambda p: next(answers)})
    with make_client(app) as client:
        assert client.wait_job("deleteIso", "job-1", timeout=5) == {"success": True}


def test_run_job_returns_result_with_created_id():
    app = FakeMold({
        "deployVirtualMachine": [{"deployvirtualmachineresponse": {"id": "vm-1", "jobid": "job-1"}}],
        "queryAsyncJobResult": [job(0), job(1, jobresult=VM)],
    })
    progress: list[dict[str, Any]] = []
    with make_client(app) as client:
        result = client.run_job("deployVirtualMachine", {"zoneid": "z1"}, timeout=60,
                                on_progress=progress.append)
    assert result == {**VM, "_id": "vm-1"}
    assert len(progress) == 1
    assert app.commands() == ["deployVirtualMachine", "queryAsyncJobResult", "queryAsyncJobResult"]


def test_run_job_failure_keeps_the_created_id():
    failed = job(2, jobresultcode=530, jobresult={"errorcode": 530, "errortext": "boom"})
    app = FakeMold({
        "deployVirtualMachine": [{"deployvirtualmachineresponse": {"id": "vm-1", "jobid": "job-1"}}],
        "queryAsyncJobResult": [failed],
    })
    with make_client(app) as client, pytest.raises(JobFailed) as caught:
        client.run_job("deployVirtualMachine", {"zoneid": "z1"}, timeout=60)
    assert caught.value.resource_id == "vm-1" and caught.value.errortext == "boom"


def test_run_job_without_jobid_is_an_error():
    app = FakeMold({"registerIso": [{"registerisoresponse": {"count": 1, "iso": [{"id": "i"}]}}]})
    with make_client(app) as client, pytest.raises(TransportError, match="async job id"):
        client.run_job("registerIso", {"name": "x"}, timeout=5)


# -- secrets --------------------------------------------------------------------------------

def test_no_secret_in_logs_exceptions_or_reprs(caplog):
    answers = iter([
        httpx.ConnectError("refused"),
        httpx.Response(503, html="<p>busy</p>"),
        ZONES,
    ])
    app = FakeMold({
        "listZones": lambda p: next(answers),
        "deployVirtualMachine": lambda p: error(431, "bad zone", p),
        "deleteIso": [httpx.ReadTimeout("slow")],
        "updateIso": [{"updateisoresponse": {"iso": {"id": "i"}}}],
    })
    texts: list[str] = []
    caplog.set_level(logging.DEBUG)
    settings = Settings(url=URL, api_key=API_KEY, secret_key=SECRET)
    with make_client(app) as client:
        texts += [repr(client), repr(settings), str(settings)]
        client.call("listZones")
        client.call("updateIso", {"id": "i", "password": "hunter2-pw"})
        for command in ("deployVirtualMachine", "deleteIso"):
            with pytest.raises(Exception) as caught:
                client.call(command, {"zoneid": "z1"})
            texts += [str(caught.value), repr(caught.value)]
    bad = Settings(url=URL, api_key=API_KEY, secret_key="wrong")
    with MoldClient(bad, transport=httpx.MockTransport(app)) as client, pytest.raises(AuthError) as caught:
        client.call("listZones")
    texts += [str(caught.value), repr(caught.value)]
    texts += [record.getMessage() for record in caplog.records]
    assert any("listZones" in t for t in texts)  # logging did happen
    signatures = [r["signature"] for r in app.requests]
    haystack = "\n".join(texts)
    for secret in [API_KEY, SECRET, "hunter2-pw", *signatures]:
        assert secret not in haystack


# -- policies -------------------------------------------------------------------------------

def test_policies_validate_and_allow_millisecond_values():
    assert RetryPolicy(attempts=3, initial=0.001, factor=2, max_delay=0.002).delay(3) == 0.002
    assert PollPolicy(initial=0, factor=1.5, max_interval=10).initial == 0
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        PollPolicy(initial=5, max_interval=1)


def test_reads_and_mutations():
    from reconciler.mold.client import is_read

    assert all(map(is_read, ["listIsos", "listApis", "queryAsyncJobResult", "getVMPassword"]))
    assert not any(map(is_read, ["registerIso", "deployVirtualMachine", "getUploadParamsForIso"]))


def test_mold_api_limit_is_waited_out_as_mold_asks_then_reported():
    limit = "The given user has reached his/her account api limit, please retry after [1500] ms."
    app = FakeMold({"listIsos": lambda p: error(429, limit, p)})
    time = FakeTime()
    with make_client(app, time, retry=RetryPolicy(attempts=3, initial=0.2)) as client, \
            pytest.raises(ApiError) as caught:
        client.call("listIsos")
    assert time.sleeps == [1.5, 1.5]  # Mold's wait beats the shorter backoff
    assert str(caught.value) == (f"listIsos failed (429): {limit} (Mold's API limit for this "
                                 "account (api.throttling.max per api.throttling.interval))")


def test_proxy_rate_limit_honours_retry_after_capped_at_a_minute():
    answers = [httpx.Response(429, text="slow down", headers={"Retry-After": "3"}),
               httpx.Response(429, text="slow down", headers={"Retry-After": "7200"}),
               {"listisosresponse": {"count": 0}}]
    app = FakeMold({"listIsos": answers})
    time = FakeTime()
    with make_client(app, time, retry=RetryPolicy(attempts=3, initial=0.2)) as client:
        assert client.call("listIsos") == {"count": 0}
    assert time.sleeps == [3.0, 60.0]
