"""Projects, tags across accounts, settings and API throttling.

Sources (L = jeongda-young/ablestack-cloud):
- L server/src/main/java/com/cloud/projects/ProjectManagerImpl.java (createProject,
  addAccountToProject, deleteProject, canAccessProjectAccount)
- L server/src/main/java/com/cloud/user/AccountManagerImpl.java (buildACLSearchParameters:
  projectid, projectid=-1; finalizeOwner)
- L server/src/main/java/com/cloud/api/query/QueryManagerImpl.java listProjectsInternal
- L server/src/main/java/com/cloud/tags/TaggedResourceManagerImpl.java, acl/DomainChecker.java
- L server/src/main/java/com/cloud/configuration/ConfigurationManagerImpl.java updateConfiguration,
  server/src/main/java/com/cloud/server/ManagementServerImpl.java searchForConfigurations
- L plugins/api/rate-limit/src/main/java/org/apache/cloudstack/ratelimit/ApiRateLimitServiceImpl.java
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from moldsim.server import MoldSim

from simclient import Workflow


@pytest.fixture
def wf(sim: MoldSim) -> Iterator[Workflow]:
    with Workflow(sim.url) as w:
        yield w


def _project(client: Workflow, name: str) -> dict[str, Any]:
    answer = client.ok("createProject", name=name, displaytext=f"{name} project")
    job = client.wait_job(answer["jobid"])
    assert (job["jobstatus"], job["jobinstancetype"], job["jobinstanceid"]) == (1, "Project", answer["id"])
    project: dict[str, Any] = job["jobresult"]["project"]
    return project


def test_projects_membership_decides_access(wf: Workflow, users: Any) -> None:
    alice, _ = users(wf, "alice")
    bob, bob_account = users(wf, "bob")
    proj = _project(alice, "build")
    assert (proj["name"], proj["displaytext"], proj["state"], proj["owner"], proj["projectaccountname"]) == \
        ("build", "build project", "Active", [{"account": "alice"}], "PrjAcct-build-1")
    # an object made with projectid belongs to the project: `project`/`projectid`, no `account`
    net = alice.network("proj-net", projectid=proj["id"])
    assert (net["projectid"], net["project"], "account" in net) == (proj["id"], "build", False)
    # lists skip project objects unless projectid is given (SkipProjectResources)
    assert alice.ok("listNetworks") == {}
    assert [n["name"] for n in alice.ok("listNetworks", projectid=proj["id"])["network"]] == ["proj-net"]
    assert [n["name"] for n in alice.ok("listNetworks", projectid="-1")["network"]] == ["proj-net"]
    # not a member: buildACLSearchParameters → PermissionDenied with the internal project id
    status, body = bob.call("listNetworks", projectid=proj["id"])
    assert (status, body["errortext"]) == (531, "Account Account [{\"accountName\":\"bob\",\"id\":4,"
                                                f"\"uuid\":\"{bob_account['id']}\"}}] can't access project id=1")
    status, body = bob.call("createNetwork", name="x", zoneid=bob.zone_id(), projectid=proj["id"],
                            networkofferingid=net["networkofferingid"])
    assert (status, body["errortext"]) == (531, "Account Account [{\"accountName\":\"bob\",\"id\":4,"
                                                f"\"uuid\":\"{bob_account['id']}\"}}] is unauthorised to use project id=1")
    assert bob.ok("listProjects") == {}
    # addAccountToProject: a job; project.invite.required is false, so bob is in at once
    job = alice.run_job("addAccountToProject", projectid=proj["id"], account="bob")
    assert (job["jobstatus"], job["jobresult"]) == (1, {"success": True})
    assert [n["name"] for n in bob.ok("listNetworks", projectid=proj["id"])["network"]] == ["proj-net"]
    assert [p["name"] for p in bob.ok("listProjects")["project"]] == ["build"]
    # a Regular member may not add others (ModifyProject): the job fails 530
    _, carol = users(wf, "carol")
    job = bob.run_job("addAccountToProject", projectid=proj["id"], account="carol")
    assert (job["jobstatus"], job["jobresultcode"]) == (2, 530)
    assert job["jobresult"]["errortext"].endswith("does not have permission to operate with resource")
    job = alice.run_job("addAccountToProject", projectid=proj["id"], account="nobody")
    assert job["jobresult"]["errortext"] == "Unable to find account name=nobody in specified domain id"
    # the root admin sees every project with listall, its own (none) without
    assert wf.ok("listProjects") == {}
    assert [p["name"] for p in wf.ok("listProjects", listall=True)["project"]] == ["build"]
    # deleteProject refuses while the project owns objects (CloudRuntimeException → 530)
    job = alice.run_job("deleteProject", id=proj["id"])
    assert job["jobresult"]["errortext"] == "Can't delete the project yet because it has 1 Network to clean up"
    assert alice.run_job("deleteNetwork", id=net["id"])["jobstatus"] == 1
    assert alice.run_job("deleteProject", id=proj["id"])["jobresult"] == {"success": True}
    assert wf.ok("listProjects", listall=True) == {}


def test_project_name_is_unique_per_domain_and_users_may_create_projects(wf: Workflow, users: Any) -> None:
    alice, _ = users(wf, "alice")
    _project(alice, "dup")
    status, body = alice.call("createProject", name="dup")
    assert (status, body["errortext"]) == (431, "Project with name dup already exists in domain id=1")
    wf.ok("updateConfiguration", name="allow.user.create.projects", value="false")
    status, body = alice.call("createProject", name="other")
    assert (status, body["errortext"]) == (531, "Regular user is not permitted to create a project")


def test_a_user_cannot_tag_another_accounts_object(wf: Workflow, users: Any) -> None:
    """TaggedResourceManagerImpl.createTags → checkResourceAccessible → DomainChecker: the job
    fails 530 with the PermissionDeniedException's text; a key already there: 530 as well."""
    alice, alice_account = users(wf, "alice")
    iso = wf.register_iso("admin-iso")
    job = alice.run_job("createTags", resourcetype="ISO", resourceids=iso["id"],
                        **{"tags[0].key": "k", "tags[0].value": "v"})
    assert (job["jobstatus"], job["jobresultcode"], job["jobresult"]["errortext"]) == (2, 530, (
        f"Account [{{\"accountName\":\"alice\",\"id\":3,\"uuid\":\"{alice_account['id']}\"}}] "
        "does not have permission to operate with resource"))
    own = alice.register_iso("alice-iso")
    assert alice.run_job("createTags", resourcetype="ISO", resourceids=own["id"],
                         **{"tags[0].key": "k", "tags[0].value": "v"})["jobstatus"] == 1
    again = alice.run_job("createTags", resourcetype="ISO", resourceids=own["id"],
                          **{"tags[0].key": "k", "tags[0].value": "w"})
    assert again["jobresult"]["errortext"] == f"tag k already on ISO with id {own['id']}"
    tags = alice.ok("listTags")["tag"]
    assert [(t["key"], t["account"]) for t in tags] == [("k", "alice")]
    assert wf.ok("listTags") == {}  # the root admin's own account has none
    assert [t["account"] for t in wf.ok("listTags", listall=True)["tag"]] == ["alice"]
    assert alice.run_job("createTags", resourcetype="Zone", resourceids=alice.zone_id(),
                         **{"tags[0].key": "k", "tags[0].value": "v"})["jobstatus"] == 2


def test_settings_list_and_update(wf: Workflow, users: Any) -> None:
    """Defaults: UserVmManager.AllowUserExpungeRecoverVm (false), QueryService
    .AllowUserViewDestroyedVM (false), TemplateManager.AllowPublicUserTemplates (true),
    Config.ExpungeDelay (86400), SnapshotManager.VmStorageSnapshotKvm (Mold: true)."""
    rows = {c["name"]: c for c in wf.ok("listConfigurations")["configuration"]}
    assert {n: rows[n]["value"] for n in ("allow.user.expunge.recover.vm", "allow.user.view.destroyed.vm",
                                          "allow.public.user.templates", "expunge.delay",
                                          "kvm.vmstoragesnapshot.enabled")} == \
        {"allow.user.expunge.recover.vm": "false", "allow.user.view.destroyed.vm": "false",
         "allow.public.user.templates": "true", "expunge.delay": "86400",
         "kvm.vmstoragesnapshot.enabled": "true"}
    assert (rows["expunge.delay"]["scope"], rows["allow.user.view.destroyed.vm"]["scope"]) == ("global", "account")
    _, account = users(wf, "alice")
    row = wf.ok("updateConfiguration", name="allow.user.view.destroyed.vm", value="true",
                accountid=account["id"])["configuration"]
    assert (row["value"], row["scope"], row["id"]) == ("true", "account", account["id"])
    assert wf.first("listConfigurations", "configuration", name="allow.user.view.destroyed.vm")["value"] == "false"
    scoped = wf.ok("listConfigurations", accountid=account["id"])["configuration"]
    assert {c["name"]: c["value"] for c in scoped}["allow.user.view.destroyed.vm"] == "true"
    assert all(c["scope"] == "account" for c in scoped)
    assert wf.call("updateConfiguration", name="no.such.setting", value="1")[1]["errortext"] == \
        "Config parameter with name no.such.setting doesn't exist"
    assert wf.call("updateConfiguration", name="expunge.delay", value="1", accountid=account["id"])[1]["errortext"] == \
        "Invalid scope id provided for the parameter expunge.delay"
    assert wf.call("updateConfiguration", name="allow.user.view.destroyed.vm", value="yes")[1]["errortext"] == \
        "Please enter either 'true' or 'false'."
    assert wf.call("updateConfiguration", name="expunge.delay", value="soon")[1]["errortext"] == \
        "There was error in trying to parse value: soon. Please enter a valid integer value for parameter expunge.delay"


_LIMIT = re.compile(r"^The given user has reached his/her account api limit, please retry after \[(\d+)\] ms\.$")


def test_api_limit_per_account_root_admin_exempt(users: Any) -> None:
    """ApiRateLimitServiceImpl: counted per account, root admins exempt; over the limit
    RequestLimitException → ServerApiException(API_LIMIT_EXCEED): HTTP 429, errorcode 429, the
    milliseconds left in the text, no Retry-After."""
    with MoldSim(api_limit="3/0.6") as sim, Workflow(sim.url) as wf:
        alice, _ = users(wf, "alice")
        bob, _ = users(wf, "bob")
        assert [alice.call("listZones")[0] for _ in range(3)] == [200, 200, 200]
        resp = alice.request("listZones")
        assert resp.status_code == 429 and "retry-after" not in resp.headers
        body = resp.json()["listzonesresponse"]
        assert (body["errorcode"], body["cserrorcode"]) == (429, 9999)
        wait = int(_LIMIT.match(body["errortext"]).group(1))  # type: ignore[union-attr]
        assert 0 < wait <= 600
        assert bob.call("listZones")[0] == 200  # another account has its own counter
        assert all(wf.call("listZones")[0] == 200 for _ in range(10))  # root admin: exempt
        limit = alice.call("getApiLimit")  # counted too, so still refused
        assert limit[0] == 429
        time.sleep(wait / 1000 + 0.05)
        status, info = alice.call("getApiLimit")
        assert status == 200 and (info["apilimit"]["apiIssued"], info["apilimit"]["apiAllowed"]) == (1, 2)
        # settable at run time; null switches it off
        assert httpx.post(sim.base_url + "/moldsim/config", json={"api_limit": None}).json()["api_limit"] is None
        assert all(alice.call("listZones")[0] == 200 for _ in range(6))
        assert alice.call("getApiLimit")[1]["errortext"] == "This api is only available when api.throttling.enabled = true."
        assert httpx.post(sim.base_url + "/moldsim/config", json={"api_limit": "1/5"}).json()["api_limit"] == "1/5"
        assert [alice.call("listZones")[0] for _ in range(2)] == [200, 429]
        assert httpx.post(sim.base_url + "/moldsim/config", json={"api_limit": "x"}).status_code == 400
