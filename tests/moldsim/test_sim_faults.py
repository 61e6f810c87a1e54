"""moldsim's fault injection: seeded random failures, lost answers (reset before/after acting),
hung jobs, answers no Mold gives, and how rules are checked. HTTPS is in test_sim_tls.py."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cs import CloudStack, CloudStackException

from moldsim.server import MoldSim

from simclient import API_KEY, SECRET_KEY, Client, Workflow

ALL_MODES = ["http_503", "reset_before", "reset_after"]
HTML_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
            b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
            b"</body>\r\n</html>\r\n")


@pytest.fixture
def sha1_sim() -> Iterator[MoldSim]:
    """For the `cs` client (SHA-1 signatures) as an outside judge."""
    with MoldSim(signature="sha1", job_seconds=0.01) as s:
        yield s


def judge(sim: MoldSim, **options: Any) -> CloudStack:
    return CloudStack(endpoint=sim.url, key=API_KEY, secret=SECRET_KEY, fetch_result=True,
                      poll_interval=0.02, **options)


def predict(seed: int, share: float, modes: list[str], n: int) -> list[str | None]:
    """What a random rule does to n matching requests: the documented draw, done here again."""
    rng = random.Random(seed)
    return [rng.choice(modes) if rng.random() < share else None for _ in range(n)]


def outcome(client: Client, command: str, **params: Any) -> str:
    """"200", "503", ... or "reset" when the connection closed without an answer."""
    try:
        return str(client.request(command, **params).status_code)
    except httpx.RemoteProtocolError:
        return "reset"


SEEN = {None: "200", "http_503": "503", "reset_before": "reset", "reset_after": "reset"}


# --- random -----------------------------------------------------------------------------------

def test_random_failures_follow_the_seed(sim: MoldSim, client: Client) -> None:
    sim.set_faults(random=[{"share": 0.5, "seed": 42}])
    seen = [outcome(client, "listIsos", isofilter="self") for _ in range(200)]
    planned = predict(42, 0.5, ALL_MODES, 200)
    assert seen == [SEEN[m] for m in planned]
    failures = sum(s != "200" for s in seen)
    assert failures == sum(m is not None for m in planned) and 60 <= failures <= 140
    [rule] = sim.faults.snapshot()["random"]
    assert rule["fired"] == {m: n for m, n in Counter(planned).items() if m} | {
        m: 0 for m in ALL_MODES if m not in planned}
    assert rule["count"] == -1 and rule["modes"] == ALL_MODES


def test_random_resets_after_acting_leave_the_object_behind(sim: MoldSim, client: Client) -> None:
    """reset_before never acts, reset_after always does; 503 answers before acting."""
    zone, os_type = client.zone_id(), client.os_type_id("Windows PV")
    sim.set_faults(random=[{"share": 0.6, "seed": 7, "command": "registerIso"}])
    names = [f"iso-{i}" for i in range(40)]
    seen = [outcome(client, "registerIso", name=n, url=f"http://images.test/{n}.iso",
                    zoneid=zone, ostypeid=os_type) for n in names]
    planned = predict(7, 0.6, ALL_MODES, 40)
    assert seen == [SEEN[m] for m in planned]
    assert {"http_503", "reset_before", "reset_after", None} <= set(planned)
    made = {i["name"] for i in client.ok("listIsos", isofilter="self")["iso"]}
    assert made == {n for n, m in zip(names, planned, strict=True) if m in (None, "reset_after")}


def test_random_rule_spares_excluded_commands_which_draw_nothing(sim: MoldSim,
                                                                  client: Client) -> None:
    sim.set_faults(random=[{"share": 0.5, "seed": 3, "modes": ["http_503"],
                            "exclude": ["listZones", "QUERYASYNCJOBRESULT"]}])
    seen = []
    for _ in range(30):
        assert client.request("listZones").status_code == 200
        seen.append(client.request("listIsos", isofilter="self").status_code)
    assert seen == [503 if m else 200 for m in predict(3, 0.5, ["http_503"], 30)]


def test_random_count_limits_the_firings(sim: MoldSim, client: Client) -> None:
    sim.set_faults(random=[{"share": 1.0, "seed": 1, "modes": ["http_503"], "count": 3}])
    responses = [client.request("listZones") for _ in range(5)]
    assert [r.status_code for r in responses] == [503, 503, 503, 200, 200]
    assert responses[0].text == "moldsim: injected HTTP 503 for listZones"
    assert responses[0].headers["Content-Type"].startswith("text/plain")
    [rule] = sim.faults.snapshot()["random"]
    assert (rule["count"], rule["fired"]) == (0, {"http_503": 3})


def test_control_endpoints_are_never_faulted(sim: MoldSim, client: Client) -> None:
    sim.set_faults(random=[{"share": 1.0}], drop_connections=[{"command": "*", "count": -1}],
                   http_errors=[{"command": "*", "count": -1}], hang_jobs=[{"count": -1}],
                   bad_responses=[{"command": "*", "kind": "html", "count": -1}])
    with httpx.Client() as http:
        assert http.get(sim.base_url + "/moldsim/health").json()["status"] == "ok"
        assert len(http.get(sim.base_url + "/moldsim/faults").json()["random"]) == 1
        assert outcome(client, "listZones") == "reset"
        http.post(sim.base_url + "/moldsim/faults", json={"clear": True})
    assert outcome(client, "listZones") == "200"


# --- lost answers ---------------------------------------------------------------------------

def test_reset_after_acts_then_hangs_up(sim: MoldSim, client: Client) -> None:
    sim.set_faults(reset_after=[{"command": "REGISTERISO", "count": 1}])
    with pytest.raises(httpx.RemoteProtocolError):
        client.register_iso("lost-answer")
    names = [i["name"] for i in client.ok("listIsos", isofilter="self").get("iso", [])]
    assert names == ["lost-answer"]  # it happened although nobody was told
    assert sim.faults.snapshot()["reset_after"] == [{"command": "REGISTERISO", "count": 0}]
    client.register_iso("answered")  # count 1: the next one is answered


def test_reset_after_submits_the_job(sim: MoldSim) -> None:
    with Workflow(sim.url) as flow:
        iso, net = flow.ready_iso("win"), flow.network()
        sim.set_faults(reset_after=[{"command": "deployVirtualMachine"}])
        with pytest.raises(httpx.RemoteProtocolError):
            flow.ok("deployVirtualMachine", **flow.deploy_params(iso["id"], net["id"], name="lost"))
        vm = flow.first("listVirtualMachines", "virtualmachine", name="lost")
        jobs = flow.ok("listAsyncJobs")["asyncjobs"]
        assert [j["jobinstanceid"] for j in jobs if "DeployVM" in j["cmd"]] == [vm["id"]]
        assert flow.vm(vm["id"])["state"] == "Running"


def test_reset_before_does_not_act(sim: MoldSim, client: Client) -> None:
    sim.set_faults(drop_connections=[{"command": "registerIso", "count": 1}])
    with pytest.raises(httpx.RemoteProtocolError):
        client.register_iso("never-made")
    assert client.ok("listIsos", isofilter="self").get("iso", []) == []


# --- jobs that never finish -----------------------------------------------------------------

def test_hung_job_never_finishes_while_others_do(sim: MoldSim) -> None:
    sim.control("POST", "/moldsim/config", {"job_seconds": 0.01})
    with Workflow(sim.url) as flow:
        iso, net = flow.ready_iso("win"), flow.network()
        sim.set_faults(hang_jobs=[{"command": "deployVirtualMachine", "count": 1}])
        hung = flow.ok("deployVirtualMachine", **flow.deploy_params(iso["id"], net["id"], name="a"))
        done = flow.ok("deployVirtualMachine", **flow.deploy_params(iso["id"], net["id"], name="b"))
        sim.set_faults(clear=True)  # does not unhang
        assert flow.wait_job(done["jobid"])["jobstatus"] == 1
        time.sleep(0.3)  # 30 times job_seconds
        for _ in range(5):
            job = flow.ok("queryAsyncJobResult", jobid=hung["jobid"])
            assert (job["jobstatus"], job["jobresultcode"]) == (0, 0) and "jobresult" not in job
        vm = flow.vm(hung["id"])
        assert (vm["state"], vm["jobid"], vm["jobstatus"]) == ("Starting", hung["jobid"], 0)
        assert flow.vm(done["id"])["state"] == "Running"
        start = flow.run_job("startVirtualMachine", id=hung["id"])
        assert (start["jobstatus"], start["jobresult"]["errortext"]) == (
            2, "Unable to start VM a in state Starting")
        root = flow.first("listVolumes", "volume", virtualmachineid=hung["id"], listall=True)
        assert root["state"] == "Allocated"


def test_hung_stop_is_judged_a_timeout_by_cs(sha1_sim: MoldSim) -> None:
    with Workflow(sha1_sim.url, algo="sha1") as flow:
        iso, net = flow.ready_iso("win"), flow.network()
        answer, _ = flow.deploy(iso["id"], net["id"])
    sha1_sim.set_faults(hang_jobs=[{"command": "stopVirtualMachine"}])
    with pytest.raises(CloudStackException, match="Timeout waiting for async job result"):
        judge(sha1_sim, job_timeout=1).stopVirtualMachine(id=answer["id"])
    vm = judge(sha1_sim).listVirtualMachines(id=answer["id"])["virtualmachine"][0]
    assert (vm["state"], vm["jobstatus"]) == ("Stopping", 0)


def test_hung_template_stays_unready_across_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with MoldSim(job_seconds=0.01, data_dir=data) as sim, Workflow(sim.url) as flow:
        iso, net = flow.ready_iso("win"), flow.network()
        answer, _ = flow.deploy(iso["id"], net["id"])
        flow.run_job("stopVirtualMachine", id=answer["id"])
        root = flow.first("listVolumes", "volume", virtualmachineid=answer["id"], listall=True)
        sim.set_faults(hang_jobs=[{"command": "createTemplate"}])
        made = flow.ok("createTemplate", volumeid=root["id"], name="base", displaytext="base",
                       ostypeid=flow.os_type_id("Windows PV"))
    stored = (data / "moldsim.json").read_text()
    doc = json.loads(stored, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))
    assert doc["jobs"][made["jobid"]]["hung"] is True
    time.sleep(0.1)
    with MoldSim(job_seconds=0.01, data_dir=data) as again, Workflow(again.url) as flow:
        assert flow.ok("queryAsyncJobResult", jobid=made["jobid"])["jobstatus"] == 0
        tpl = flow.first("listTemplates", "template", templatefilter="self", id=made["id"])
        assert tpl["isready"] is False


# --- answers no Mold gives ------------------------------------------------------------------

@pytest.mark.parametrize("kind, status, ctype, body", [
    ("html", 502, "text/html", HTML_502),
    ("malformed_json", 200, "application/json; charset=UTF-8",
     b'{"listzonesresponse": {"count": 1, "'),
    ("empty", 200, "application/json; charset=UTF-8", b""),
    ("errorresponse_200", 200, "application/json; charset=UTF-8",
     b'{"errorresponse": {"uuidList": [], "errorcode": 530, "cserrorcode": 9999, '
     b'"errortext": "moldsim: injected error answer for listZones"}}'),
])
def test_bad_answers_are_exactly_as_described(sim: MoldSim, client: Client, kind: str,
                                              status: int, ctype: str, body: bytes) -> None:
    sim.set_faults(bad_responses=[{"command": "listZones", "kind": kind, "count": 1}])
    response = client.request("listZones")
    assert (response.status_code, response.headers["Content-Type"]) == (status, ctype)
    assert response.content == body
    assert client.call("listZones")[0] == 200  # count 1: the next answer is normal


def test_bad_answer_options(sim: MoldSim, client: Client) -> None:
    sim.set_faults(bad_responses=[
        {"command": "listZones", "kind": "html", "status": 504},
        {"command": "listZones", "kind": "errorresponse_200", "errortext": "Session expired"}])
    gateway = client.request("listZones")
    assert gateway.status_code == 504 and b"<h1>504 Gateway Timeout</h1>" in gateway.content
    assert client.request("listZones").json() == {"errorresponse": {
        "uuidList": [], "errorcode": 530, "cserrorcode": 9999, "errortext": "Session expired"}}


@pytest.mark.parametrize("kind, verdict", [
    ("html", "HTTP 502 Bad Gateway"), ("malformed_json", "Malformed JSON document"),
    ("empty", "Malformed JSON document"), ("errorresponse_200", None),
])
def test_bad_answers_come_before_acting_as_cs_sees_them(sha1_sim: MoldSim, kind: str,
                                                        verdict: str | None) -> None:
    cs = judge(sha1_sim)
    zone = cs.listZones()["zone"][0]["id"]
    sha1_sim.set_faults(bad_responses=[{"command": "registerIso", "kind": kind}])
    params = {"name": "x", "url": "http://images.test/x.iso", "zoneid": zone, "bootable": False}
    if verdict is None:  # a 200 carrying an error passes for an answer with a naive client
        assert cs.registerIso(**params)["errorcode"] == 530
    else:
        with pytest.raises(CloudStackException, match=verdict):
            cs.registerIso(**params)
    assert cs.listIsos(isofilter="self") == {}


def test_missing_fields_runs_the_command_and_drops_the_fields(sim: MoldSim,
                                                              client: Client) -> None:
    sim.set_faults(bad_responses=[{"command": "registerIso", "kind": "missing_fields",
                                   "fields": ["id", "name"], "count": 1}])
    [iso] = client.ok("registerIso", name="x", url="http://images.test/x.iso",
                      zoneid=client.zone_id(), bootable=False)["iso"]
    assert "id" not in iso and "name" not in iso and iso["displaytext"] == "x"
    assert client.first("listIsos", "iso", isofilter="self")["name"] == "x"


def test_missing_fields_reach_the_answer_and_list_items_in_it(sim: MoldSim) -> None:
    """Removed from the response object and from objects in any list inside it; an object
    that is not a list item (a job's jobresult) keeps them."""
    with Workflow(sim.url) as flow:
        iso, net = flow.ready_iso("win"), flow.network()
        params = flow.deploy_params(iso["id"], net["id"])
        sim.set_faults(bad_responses=[
            {"command": c, "kind": "missing_fields"}
            for c in ("deployVirtualMachine", "listVirtualMachines", "queryAsyncJobResult")])
        answer = flow.ok("deployVirtualMachine", **params)
        assert set(answer) == {"jobid"}
        [vm] = flow.ok("listVirtualMachines")["virtualmachine"]
        assert "id" not in vm and vm["name"] == "win-master"
        assert "id" not in vm["nic"][0] and vm["nic"][0]["networkid"] == net["id"]
        job = flow.ok("queryAsyncJobResult", jobid=answer["jobid"])
        assert "id" in job["jobresult"]["virtualmachine"]
        assert "id" in flow.ok("listVirtualMachines")["virtualmachine"][0]  # count 1 spent


# --- rules --------------------------------------------------------------------------------------

@pytest.mark.parametrize("body, message", [
    ({"bad_responses": [{"command": "*", "kind": "teapot"}]}, "kind must be one of"),
    ({"random": [{"seed": 1}]}, "random needs a share"),
    ({"random": [{"share": 1.5}]}, "share must be between 0 and 1"),
    ({"random": [{"share": 0.1, "modes": ["explode"]}]}, "modes must be among"),
    ({"random": [{"share": 0.1, "exclude": "listZones"}]}, "exclude must be a list of strings"),
    ({"hang_job": [{"command": "x"}]}, "unknown fault kinds ['hang_job']"),
    ({"reset_after": {"command": "x"}}, "reset_after must be a list of objects"),
    ({"delays": [{"seconds": "1"}]}, "delays seconds must be a number"),
    ({"http_errors": [{"count": -2}]}, "count must be -1 (forever) or more"),
    ({"reset_after": [{"command": "x"}], "random": [{"share": 5}]}, "between 0 and 1"),
])
def test_rules_moldsim_cannot_follow_are_refused_whole(sim: MoldSim, body: dict[str, Any],
                                                       message: str) -> None:
    with httpx.Client() as http:
        response = http.post(sim.base_url + "/moldsim/faults", json=body)
    assert response.status_code == 400 and message in response.json()["error"]
    assert all(rules == [] for rules in sim.faults.snapshot().values())


def test_new_kinds_through_set_faults_and_get(sim: MoldSim) -> None:
    sim.set_faults(reset_after=[{"command": "deleteIso"}], hang_jobs=[{"command": "createTags"}],
                   bad_responses=[{"command": "listIsos", "kind": "empty", "count": -1}],
                   random=[{"share": 0.1, "seed": 7, "exclude": ["queryAsyncJobResult"]}])
    with httpx.Client() as http:
        shown = http.get(sim.base_url + "/moldsim/faults").json()
    assert shown["reset_after"] == [{"command": "deleteIso"}]
    assert shown["hang_jobs"] == [{"command": "createTags"}]
    assert shown["bad_responses"] == [{"command": "listIsos", "kind": "empty", "count": -1}]
    assert shown["random"] == [{"share": 0.1, "seed": 7, "exclude": ["queryAsyncJobResult"],
                                "command": "*", "count": -1, "modes": ALL_MODES,
                                "fired": {"http_503": 0, "reset_before": 0, "reset_after": 0}}]
