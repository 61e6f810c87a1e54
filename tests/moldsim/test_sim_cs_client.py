"""The third-party `cs` client (SHA-1 signing) as an outside judge of moldsim."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cs import CloudStack, CloudStackApiException

from moldsim.server import MoldSim

from simclient import API_KEY, SECRET_KEY


@pytest.fixture
def cs_sim() -> Iterator[MoldSim]:
    with MoldSim(signature="sha1", job_seconds=0.1) as s:
        yield s


def _cs(sim: MoldSim, secret: str = SECRET_KEY, method: str = "get") -> CloudStack:
    return CloudStack(endpoint=sim.url, key=API_KEY, secret=secret, fetch_result=True,
                      poll_interval=0.02, method=method, job_timeout=10)


def _windows_pv(cs: CloudStack) -> str:
    types = cs.listOsTypes(description="Windows PV")["ostype"]
    return next(t["id"] for t in types if t["name"] == "Windows PV")


def test_signed_calls_succeed_get_and_post(cs_sim: MoldSim) -> None:
    for method in ("get", "post"):
        cs = _cs(cs_sim, method=method)
        zones = cs.listZones()
        assert zones["count"] == 1 and zones["zone"][0]["name"] == "Zone1"
        hv = cs.listHypervisors(zoneid=zones["zone"][0]["id"])
        assert hv == {"count": 1, "hypervisor": [{"name": "KVM"}]}


def test_wrong_secret_gets_401(cs_sim: MoldSim) -> None:
    with pytest.raises(CloudStackApiException) as info:
        _cs(cs_sim, secret="wrong").listZones()
    assert info.value.response.status_code == 401
    assert info.value.error["errorcode"] == 401


def test_sha256_signature_is_rejected_in_sha1_mode_and_vice_versa() -> None:
    with MoldSim(signature="sha256") as sim, pytest.raises(CloudStackApiException) as info:
        _cs(sim).listZones()
    assert info.value.response.status_code == 401


def test_missing_parameter_gets_431(cs_sim: MoldSim) -> None:
    cs = _cs(cs_sim)
    with pytest.raises(CloudStackApiException) as info:
        cs.registerIso(name="x", zoneid=cs.listZones()["zone"][0]["id"])
    assert info.value.response.status_code == 431
    assert info.value.error == {
        "uuidList": [], "errorcode": 431, "cserrorcode": 9999,
        "errortext": "Unable to execute API command registeriso due to missing parameter url"}


def test_jobs_complete_through_cs_polling(cs_sim: MoldSim) -> None:
    cs = _cs(cs_sim)
    zone = cs.listZones()["zone"][0]["id"]
    iso = cs.registerIso(name="win", url="http://images.test/win.iso", zoneid=zone,
                         ostypeid=_windows_pv(cs))["iso"][0]
    result = cs.createTags(resourcetype="ISO", resourceids=iso["id"],
                           tags=[{"key": "mwin", "value": "iso.win"}])
    assert result == {"success": True}
    tags = cs.listTags(resourceid=iso["id"])["tag"]
    assert [(t["key"], t["value"], t["resourcetype"]) for t in tags] == [("mwin", "iso.win", "ISO")]
    assert cs.deleteIso(id=iso["id"]) == {"success": True}
    assert cs.listIsos(isofilter="all") == {}


def test_failed_job_is_reported_to_cs(cs_sim: MoldSim) -> None:
    cs = _cs(cs_sim)
    with pytest.raises(CloudStackApiException) as info:
        cs.deleteTags(resourcetype="Zone", resourceids=cs.listZones()["zone"][0]["id"])
    assert info.value.error == {
        "errorcode": 431,
        "errortext": "Unable to find any tags which conform to specified delete parameters."}


def test_paging_with_fetch_list(cs_sim: MoldSim) -> None:
    cs = _cs(cs_sim)
    zone = cs.listZones()["zone"][0]["id"]
    for i in range(7):
        cs.registerIso(name=f"iso-{i}", url=f"http://images.test/{i}.iso", zoneid=zone, bootable=False)
    everything = cs.listIsos(isofilter="all", fetch_list=True, pagesize=3)
    assert [i["name"] for i in everything] == [f"iso-{i}" for i in range(7)]
    page3 = cs.listIsos(isofilter="all", page=3, pagesize=3)
    assert page3["count"] == 7 and [i["name"] for i in page3["iso"]] == ["iso-6"]


def test_empty_list_is_empty_object(cs_sim: MoldSim) -> None:
    cs = _cs(cs_sim)
    assert cs.listIsos(isofilter="all") == {}
    assert cs.listTags() == {}


def test_a_users_keys_a_432_refusal_and_projects_through_cs(cs_sim: MoldSim) -> None:
    """createAccount + registerUserKeys as the root admin, then cs signs with the user's keys.
    The refusal: DynamicRoleBasedAPIAccessChecker → ApiServer.commandAvailable → 432 under
    `errorresponse` (ApiServer.getSerializedApiError); projects: ProjectManagerImpl."""
    admin = _cs(cs_sim)
    account = admin.createAccount(username="alice", email="a@example.test", firstname="a",
                                  lastname="b", password="p", accounttype=0)["account"]
    keys = admin.registerUserKeys(id=account["user"][0]["id"])["userkeys"]
    alice = CloudStack(endpoint=cs_sim.url, key=keys["apikey"], secret=keys["secretkey"],
                       fetch_result=True, poll_interval=0.02, job_timeout=10)
    assert alice.listZones()["count"] == 1
    with pytest.raises(CloudStackApiException) as info:
        alice.createDomain(name="nope")
    assert info.value.response.status_code == 432
    assert info.value.error["errortext"] == (
        "The API [createDomain] does not exist or is not available for the account "
        f'Account [{{"accountName":"alice","id":3,"uuid":"{account["id"]}"}}].')
    assert "errorresponse" in info.value.response.json()
    project = alice.createProject(name="build", displaytext="Build project")["project"]
    assert (project["name"], project["state"], project["owner"]) == ("build", "Active", [{"account": "alice"}])
    assert [p["name"] for p in alice.listProjects()["project"]] == ["build"]
    assert admin.listProjects() == {}
    assert [p["id"] for p in admin.listProjects(listall=True)["project"]] == [project["id"]]
