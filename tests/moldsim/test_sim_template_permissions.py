"""Sharing templates: updateTemplatePermissions with accounts/projectids and op add/remove/reset,
listTemplatePermissions, and what sharing shows in listTemplates.

Sources (L = jeongda-young/ablestack-cloud @2caa557d91; M = ablecloud-team/ablestack-cloud):
- M server/src/main/java/com/cloud/template/TemplateManagerImpl.java @0ff4005
  updateTemplateOrIsoPermissions, listTemplatePermissions (L the same but for the project
  texts: L the internal project id and a refusal of project-owned templates)
- L api/src/main/java/org/apache/cloudstack/api/BaseUpdateTemplateOrIsoPermissionsCmd.java
  getAccountNames/getProjectIds ("Accounts and projectIds can't be specified together")
- L server/src/main/java/com/cloud/api/ApiResponseHelper.java createTemplatePermissionsResponse
  (domainid only in the Full view; account names, project accounts as projectids)
- M server/src/main/java/com/cloud/api/query/QueryManagerImpl.java @7001a71
  searchForTemplatesInternal (sharedexecutable: sharedAccountId IN permitted accounts;
  executable: public or owned)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from moldsim.server import MoldSim

from simclient import Workflow


@pytest.fixture
def wf(sim: MoldSim) -> Iterator[Workflow]:
    with Workflow(sim.url) as w:
        yield w


def _names(client: Workflow, filt: str, **params: Any) -> list[str]:
    return [t["name"] for t in client.ok("listTemplates", templatefilter=filt, **params).get("template", [])]


def test_share_with_accounts_add_remove_reset(wf: Workflow, users: Any) -> None:
    alice, _ = users(wf, "alice")
    bob, _ = users(wf, "bob")
    carol, _ = users(wf, "carol")
    tpl = alice.ready_template("alice-base")
    root = wf.first("listDomains", "domain")["id"]
    perms = lambda c: c.ok("listTemplatePermissions", id=tpl["id"])["templatepermission"]
    assert perms(alice) == {"id": tpl["id"], "ispublic": False, "account": ["alice"]}  # the owner, private
    status, body = bob.call("listTemplatePermissions", id=tpl["id"])
    assert (status, body["errortext"]) == (531, "Account bob does not have permission to launch instances "
                                                "from template alice-base")
    assert alice.ok("updateTemplatePermissions", id=tpl["id"], op="add", accounts="bob") == {"success": True}
    assert alice.ok("updateTemplatePermissions", id=tpl["id"], op="add", accounts="bob,alice") == {"success": True}
    assert perms(alice)["account"] == ["bob", "alice"]  # no duplicate; the caller gets none
    assert perms(bob)["account"] == ["bob", "alice"]  # a launch permission lets bob read them
    assert perms(wf) == {"id": tpl["id"], "ispublic": False, "domainid": root, "account": ["bob", "alice"]}
    assert _names(bob, "sharedexecutable") == ["alice-base"]
    assert _names(bob, "executable") == _names(bob, "self") == []  # executable: public or owned
    assert _names(carol, "sharedexecutable") == []
    assert alice.ok("updateTemplatePermissions", id=tpl["id"], op="remove", accounts="bob,nobody") == \
        {"success": True}  # unknown names are ignored by remove
    assert perms(alice)["account"] == ["alice"]
    assert _names(bob, "sharedexecutable") == []
    # an unknown account fails the grant (431), after the flags were written
    status, body = alice.call("updateTemplatePermissions", id=tpl["id"], op="add", accounts="carol,nobody",
                              ispublic=True)
    assert (status, body["errortext"]) == (
        431, f"Unable to grant a launch permission to account nobody in domain id={root}, account not "
             "found.  No permissions updated, please verify the account names and retry.")
    after = perms(alice)
    assert (after["ispublic"], "account" in after) == (True, False)  # public: no owner; carol not granted
    assert _names(carol, "executable") == ["alice-base"]
    alice.ok("updateTemplatePermissions", id=tpl["id"], op="add", accounts="carol", isfeatured=True)
    assert alice.ok("updateTemplatePermissions", id=tpl["id"], op="reset") == {"success": True}
    row = wf.first("listTemplates", "template", templatefilter="all", id=tpl["id"])
    assert (row["ispublic"], row["isfeatured"]) == (False, False)
    assert perms(alice) == {"id": tpl["id"], "ispublic": False, "account": ["alice"]}
    # the refusals
    status, body = alice.call("updateTemplatePermissions", id=tpl["id"], op="add")
    assert (status, body["errortext"]) == (431, "Operation add requires accounts or projectIds to be passed in")
    proj = alice.wait_job(alice.ok("createProject", name="build", displaytext="b")["jobid"])["jobresult"]["project"]
    status, body = alice.call("updateTemplatePermissions", id=tpl["id"], op="add", accounts="bob",
                              projectids=proj["id"])
    assert (status, body["errortext"]) == (431, "Accounts and projectIds can't be specified together")
    status, body = alice.call("updateTemplatePermissions", id=tpl["id"], op="grant", accounts="bob")
    assert body["errortext"] == ("Invalid operation on accounts, the operation must be either 'add' or 'remove' "
                                 "in order to modify launch permissions.  Given operation is: 'grant'")


def test_share_with_projects(wf: Workflow, users: Any) -> None:
    alice, _ = users(wf, "alice")
    bob, _ = users(wf, "bob")
    carol, carol_account = users(wf, "carol")
    proj = alice.wait_job(alice.ok("createProject", name="build", displaytext="b")["jobid"])["jobresult"]["project"]
    alice.run_job("addAccountToProject", projectid=proj["id"], account="bob")
    tpl = alice.ready_template("alice-base")
    assert alice.ok("updateTemplatePermissions", id=tpl["id"], op="add", projectids=proj["id"]) == \
        {"success": True}
    perms = alice.ok("listTemplatePermissions", id=tpl["id"])["templatepermission"]
    assert (perms["projectids"], perms["account"]) == ([proj["id"]], ["alice"])
    # the project's members see it with projectid; without it project resources are skipped
    assert _names(bob, "sharedexecutable", projectid=proj["id"]) == ["alice-base"]
    assert _names(bob, "sharedexecutable") == []
    # M: the project's uuid in the text (L: its internal id)
    mine = carol.ready_template("carol-base")
    status, body = carol.call("updateTemplatePermissions", id=mine["id"], op="add", projectids=proj["id"])
    assert (status, body["errortext"]) == (
        431, f'Account Account [{{"accountName":"carol","id":{5},"uuid":"{carol_account["id"]}"}}] '
             f"can't access project id={proj['id']}")
    assert alice.ok("updateTemplatePermissions", id=tpl["id"], op="remove", projectids=proj["id"]) == \
        {"success": True}
    assert _names(bob, "sharedexecutable", projectid=proj["id"]) == []


@pytest.mark.parametrize(("profile", "refused"), [("mold-4.21", False), ("cloudstack-4.17", True)])
def test_project_owned_templates(profile: str, refused: bool) -> None:
    """M checks the user's access to a project's template (then only admins may go on); L
    refuses to share it at all."""
    with MoldSim(profile=profile) as sim, Workflow(sim.url, algo=sim.config.signature) as wf:
        ostype = next(o["id"] for o in wf.ok("listOsTypes")["ostype"] if o["description"] == "Windows PV")
        proj = wf.wait_job(wf.ok("createProject", name="build", displaytext="b")["jobid"])["jobresult"]["project"]
        tpl = wf.ready_template("proj-base", ostypeid=ostype, projectid=proj["id"])
        status, body = wf.call("updateTemplatePermissions", id=tpl["id"], ispublic=True)
        if refused:
            assert (status, body["errortext"]) == (
                431, "Update template permissions is an invalid operation on template proj-base. Project "
                     "owned templates cannot be shared outside template.")
        else:
            assert (status, body) == (200, {"success": True})


def test_account_names_are_found_ignoring_case(wf: Workflow, users: Any) -> None:
    """AccountDaoImpl.findActiveAccount is an SQL `=` under MySQL's case-insensitive default
    collation (create-schema.sql: the account table is DEFAULT CHARSET=utf8): a share to
    "BOB" grants bob, listed under the stored name; createAccount "Bob" beside bob is refused."""
    alice, _ = users(wf, "alice")
    users(wf, "bob")
    tpl = alice.ready_template("alice-base")
    assert alice.ok("updateTemplatePermissions", id=tpl["id"], op="add", accounts="BOB") == {"success": True}
    assert alice.ok("listTemplatePermissions", id=tpl["id"])["templatepermission"]["account"] == [
        "bob", "alice"]
    root = wf.first("listDomains", "domain")["id"]
    status, body = wf.call("createAccount", username="bob2", account="Bob", email="b@example.test",
                           firstname="b", lastname="b", password="x", accounttype=0, domainid=root)
    assert (status, body["errortext"]) == (431, "The specified account: Bob already exists")
