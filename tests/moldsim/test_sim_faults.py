"""moldsim's fault injection: random failures, lost answers, hung jobs, bad answers, HTTPS."""

from __future__ import annotations

import random
import ssl
from pathlib import Path

import httpx
import pytest
import trustme
from cs import CloudStack, CloudStackApiException

from moldsim.server import MoldSim
from simclient import API_KEY, SECRET_KEY, Client, Workflow


def test_random_failures_follow_the_seed(sim: MoldSim, client: Client) -> None:
    sim.set_faults(random=[{"share": 0.5, "seed": 42, "modes": ["http_503"]}])
    statuses = [client.raw([("command", "listZones")], sign=False).status_code
                for _ in range(200)]
    rng = random.Random(42)
    expected = []
    for _ in range(200):
        hit = rng.random() < 0.5
        if hit:
            rng.choice(["http_503"])
        expected.append(503 if hit else 401)  # unsigned: Mold's 401 when not faulted
    assert statuses == expected
    assert 60 <= statuses.count(503) <= 140
    [rule] = sim.faults.snapshot()["random"]
    assert rule["fired"] == {"http_503": statuses.count(503)}


def test_random_rule_spares_excluded_commands(sim: MoldSim, client: Client) -> None:
    sim.set_faults(random=[{"share": 1.0, "seed": 1, "exclude": ["listZones"]}])
    assert all(client.call("listZones")[0] == 200 for _ in range(20))


def test_reset_after_acts_then_hangs_up(sim: MoldSim, client: Client) -> None:
    sim.set_faults(reset_after=[{"command": "registerIso", "count": 1}])
    with pytest.raises(httpx.RemoteProtocolError):
        client.register_iso("lost-answer")
    names = [i["name"] for i in client.ok("listIsos", isofilter="self").get("iso", [])]
    assert names == ["lost-answer"]  # it happened although nobody was told


def test_reset_before_does_not_act(sim: MoldSim, client: Client) -> None:
    sim.set_faults(drop_connections=[{"command": "registerIso", "count": 1}])
    with pytest.raises(httpx.RemoteProtocolError):
        client.register_iso("never-made")
    assert client.ok("listIsos", isofilter="self").get("iso", []) == []


def test_hung_job_never_finishes_while_others_do(sim: MoldSim) -> None:
    sim.control("POST", "/moldsim/config", {"job_seconds": 0.01})
    with Workflow(sim.url) as flow:
        iso = flow.ready_iso("win")
        net = flow.network()
        sim.set_faults(hang_jobs=[{"command": "deployVirtualMachine", "count": 1}])
        hung = flow.ok("deployVirtualMachine", **flow.deploy_params(iso["id"], net["id"], name="a"))
        done = flow.ok("deployVirtualMachine", **flow.deploy_params(iso["id"], net["id"], name="b"))
        sim.set_faults(clear=True)
        assert flow.wait_job(done["jobid"])["jobstatus"] == 1
        for _ in range(20):
            assert flow.ok("queryAsyncJobResult", jobid=hung["jobid"])["jobstatus"] == 0
        vm = flow.first("listVirtualMachines", "virtualmachine", id=hung["id"])
        assert vm["state"] != "Running" and vm["jobid"] == hung["jobid"]


@pytest.mark.parametrize("kind, status, ctype, body", [
    ("html", 502, "text/html", b"<h1>502 Bad Gateway</h1>"),
    ("malformed_json", 200, "application/json", b'{"listzonesresponse": {"count": 1, "'),
    ("empty", 200, "application/json", b""),
    ("errorresponse_200", 200, "application/json", b'"errorresponse": {"uuidList": [], '
                                                   b'"errorcode": 530'),
])
def test_bad_answers_are_exactly_as_described(sim: MoldSim, client: Client, kind: str,
                                              status: int, ctype: str, body: bytes) -> None:
    sim.set_faults(bad_responses=[{"command": "listZones", "kind": kind, "count": 1}])
    response = client.raw([("command", "listZones"), ("response", "json")], sign=False)
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith(ctype)
    assert body in response.content if body else response.content == b""
    assert client.call("listZones")[0] == 200  # count 1: the next answer is normal


def test_missing_fields_runs_the_command_and_drops_the_fields(sim: MoldSim,
                                                              client: Client) -> None:
    sim.set_faults(bad_responses=[{"command": "registerIso", "kind": "missing_fields",
                                   "fields": ["id", "name"], "count": 1}])
    answer = client.ok("registerIso", name="x", url="http://images.test/x.iso",
                       zoneid=client.zone_id(), bootable=False)
    assert "id" not in answer["iso"][0] and "name" not in answer["iso"][0]
    assert client.first("listIsos", "iso", isofilter="self")["name"] == "x"


def test_unknown_fault_kinds_are_refused(sim: MoldSim) -> None:
    with httpx.Client() as http:
        response = http.post(sim.base_url + "/moldsim/faults",
                             json={"bad_responses": [{"command": "*", "kind": "teapot"}]})
    assert response.status_code == 400 and "kind must be one of" in response.json()["error"]


# --- HTTPS --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_sim(ca: trustme.CA, tmp_path: Path):  # type: ignore[no-untyped-def]
    cert = ca.issue_cert("127.0.0.1")
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    with MoldSim(signature="sha1", tls_cert=cert_path, tls_key=key_path) as sim:  # sha1: `cs`
        yield sim


def test_https_with_the_ca_works_and_without_it_fails_verification(
        tls_sim: MoldSim, ca: trustme.CA, tmp_path: Path) -> None:
    assert tls_sim.url.startswith("https://127.0.0.1:")
    with httpx.Client() as plain, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY"):
        plain.get(tls_sim.url)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    context = ssl.create_default_context(cafile=str(bundle))
    # The outside judge: the `cs` client over HTTPS with the CA, after the failed handshake.
    judge = CloudStack(endpoint=tls_sim.url, key=API_KEY, secret=SECRET_KEY, verify=str(bundle))
    try:
        zones = judge.listZones()
    except CloudStackApiException as exc:  # pragma: no cover - shows Mold's text on failure
        pytest.fail(str(exc))
    assert [z["name"] for z in zones["zone"]] == ["Zone1"]
    with httpx.Client(verify=context) as trusted:
        assert trusted.get(tls_sim.base_url + "/moldsim/health").json()["status"] == "ok"


def test_tls_needs_both_certificate_and_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="both a certificate"):
        MoldSim(tls_cert=tmp_path / "cert.pem")
