"""Domains, accounts, users, keys, roles, and what each caller may call and see.

Sources (L = jeongda-young/ablestack-cloud, Mold "Diplo"; M = ablecloud-team/ablestack-cloud):
- L engine/schema/src/main/resources/META-INF/db/create-default-role-api-mappings.sql and
  schema-481to490.sql (default roles and rules)
- L plugins/acl/dynamic-role-based/.../DynamicRoleBasedAPIAccessChecker.java (432 text)
- L server/src/main/java/com/cloud/api/ApiServer.java (commandAvailable, handleRequest masking,
  getSerializedApiError: 432 under errorresponse)
- L server/src/main/java/com/cloud/user/AccountManagerImpl.java (createAccount, keys,
  buildACLSearchParameters, finalizeOwner, checkRoleEscalation)
- L server/src/main/java/com/cloud/acl/DomainChecker.java (permission texts)
- L engine/schema/src/main/java/com/cloud/user/AccountVO.java toString
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from moldsim.server import MoldSim

from simclient import DOMAIN_ADMIN, Client, Workflow, create_domain


@pytest.fixture
def wf(sim: MoldSim) -> Iterator[Workflow]:
    with Workflow(sim.url) as w:
        yield w


def account_str(account: dict, n: int) -> str:
    """AccountVO.toString: Account [{"accountName":…,"id":…,"uuid":…}] (fields sorted)."""
    return "Account [" + json.dumps({"accountName": account["name"], "id": n, "uuid": account["id"]},
                                    separators=(",", ":")) + "]"


def test_default_roles_are_seeded(wf: Workflow) -> None:
    """schema-481to490.sql: ids 1..4 with these names, types and descriptions."""
    roles = wf.ok("listRoles")["role"]
    assert [(r["name"], r["type"], r["description"]) for r in roles] == [
        ("Root Admin", "Admin", "Default root admin role"),
        ("Resource Admin", "ResourceAdmin", "Default resource admin role"),
        ("Domain Admin", "DomainAdmin", "Default domain admin role"),
        ("User", "User", "Default Root Admin role")]  # sic: the User row's description


def test_create_account_register_keys_and_call_as_that_user(wf: Workflow, users: Any) -> None:
    user, account = users(wf, "alice")
    assert (account["name"], account["accounttype"], account["rolename"], account["roletype"],
            account["domain"], account["domainpath"], account["state"]) == \
        ("alice", 0, "User", "User", "ROOT", "ROOT", "enabled")
    assert [u["username"] for u in account["user"]] == ["alice"]
    # RegisterResponse: object `userkeys` with apikey/secretkey; new keys replace the old ones
    keys = wf.ok("registerUserKeys", id=account["user"][0]["id"])["userkeys"]
    assert set(keys) == {"apikey", "secretkey"} and len(keys["apikey"]) == 43
    assert user.call("listZones")[0] == 401  # the client still signs with the replaced keys
    with Client(wf.url, key=keys["apikey"], secret=keys["secretkey"]) as fresh:
        assert fresh.ok("listZones")["count"] == 1
        # getUserKeys: the same object, for one's own user
        own = fresh.ok("getUserKeys", id=account["user"][0]["id"])["userkeys"]
        assert own == keys
    with Client(wf.url, key=keys["apikey"], secret="wrong") as bad:
        assert bad.call("listZones") == (401, {"uuidList": [], "errorcode": 401, "errortext":
                                               "unable to verify user credentials and/or request signature"})


def test_role_refusal_is_432_under_errorresponse(wf: Workflow, users: Any) -> None:
    """DynamicRoleBasedAPIAccessChecker.checkAccess → UnavailableCommandException, which
    ApiServer.commandAvailable makes a 432; getSerializedApiError answers it as errorresponse.
    createAccount has rows for roles 2 and 3 only; createDomain is annotated Admin+DomainAdmin."""
    user, account = users(wf, "bob")
    resp = user.request("createAccount", username="x", email="x@x", firstname="x", lastname="x",
                        password="x", accounttype=0)
    assert resp.status_code == 432
    text = f"The API [createAccount] does not exist or is not available for the account {account_str(account, 3)}."
    assert resp.json() == {"errorresponse": {"uuidList": [], "errorcode": 432, "cserrorcode": 9999,
                                             "errortext": text}}
    status, body = user.call("createDomain", name="nope")
    assert (status, body["errortext"]) == (432, text.replace("createAccount", "createDomain"))
    status, body = user.call("listConfigurations")  # schema-41610to41700.sql: role 3 only
    assert status == 432
    assert user.ok("listApis", name="listZones")["api"][0]["name"] == "listZones"


def test_domain_admin_creates_its_users_but_cannot_escalate(wf: Workflow, users: Any) -> None:
    sub = create_domain(wf, "sales")
    assert (sub["path"], sub["level"], sub["parentdomainname"]) == ("ROOT/sales", 1, "ROOT")
    dadmin, dacct = users(wf, "sales-admin", DOMAIN_ADMIN, sub["id"])
    assert (dacct["rolename"], dacct["accounttype"], dacct["domainpath"]) == ("Domain Admin", 2, "ROOT/sales")
    made = dadmin.ok("createAccount", username="carol", email="c@x", firstname="c", lastname="c",
                     password="p", accounttype=0, domainid=sub["id"])["account"]
    assert made["domain"] == "sales"
    # DomainChecker.checkAccess(caller, ROOT): not the caller's subtree → 531
    status, body = dadmin.call("createAccount", username="dave", email="d@x", firstname="d",
                               lastname="d", password="p", accounttype=0)
    assert (status, body["errorcode"], body["errortext"]) == \
        (531, 531, f"Account sales-admin does not have permission to operate within domain id={wf.first('listDomains', 'domain')['id']}")
    # AccountManagerImpl.createAccount: ADMIN outside ROOT (domain ids are internal numbers)
    status, body = wf.call("createAccount", username="eve", email="e@x", firstname="e",
                           lastname="e", password="p", accounttype=1, domainid=sub["id"])
    assert (status, body["errortext"]) == (431, "Invalid account type ADMIN given for an account in "
                                                "domain 2; unable to create user of admin role type "
                                                "in non-ROOT domain.")
    status, body = wf.call("createAccount", username="carol", email="c@x", firstname="c",
                           lastname="c", password="p", accounttype=0, domainid=sub["id"])
    assert (status, body["errortext"]) == (431, "The user carol already exists in domain 2")
    # createAccount without type or role: CreateAccountCmd ServerApiException
    status, body = wf.call("createAccount", username="f", email="f@x", firstname="f", lastname="f",
                           password="p")
    assert (status, body["errortext"]) == (431, "Neither account type and role ID are not provided")
    # Resource Admin: the domain needs a private (dedicated) zone
    status, body = wf.call("createAccount", username="ra", email="r@x", firstname="r", lastname="r",
                           password="p", accounttype=3, domainid=sub["id"])
    assert (status, body["errortext"]) == (431, "The account cannot be created as domain sales is not "
                                                "associated with any private Zone")


def test_non_root_admins_get_the_user_error_message_for_synchronous_530(sim: MoldSim, wf: Workflow, users: Any) -> None:
    """ApiServer.handleRequest: the catch-all 530 (here deploy's BIOS-without-bootmode NPE) reaches
    callers who are not root admin as BaseCmd.USER_ERROR_MESSAGE; a ServerApiException keeps it."""
    user, _ = users(wf, "frank")
    with Workflow(user.url, key=user.key, secret=user.secret) as uwf:
        iso, net = uwf.ready_iso("w"), uwf.network()
        params = uwf.deploy_params(iso["id"], net["id"], boottype="BIOS", bootmode=None)
        assert uwf.call("deployVirtualMachine", **params) == (530, {
            "uuidList": [], "errorcode": 530, "cserrorcode": 4250,
            "errortext": "Internal error executing command, please contact your system administrator"})
        status, body = wf.call("deployVirtualMachine", **params)  # the root admin reads the real text
        assert (status, body["errortext"]) == (530, "java.lang.NullPointerException")
        # ListApisCmd's own ServerApiException is not hidden
        status, body = uwf.call("listApis", name="nothing")
        assert body["errortext"] == "Api Discovery plugin was unable to find an api by that name or process any apis"


def test_list_apis_shows_what_the_role_allows_and_hides_admin_parameters(wf: Workflow, users: Any) -> None:
    """ApiDiscoveryServiceImpl.listApis: users get the APIs their role allows; parameters with
    @Parameter(authorized = {Admin}) are left out for non-ADMIN accounts (DeployVMCmd: displayvm,
    deploymentplanner; hostid, podid, clusterid carry no such annotation and stay)."""
    user, _ = users(wf, "gina")
    mine = {a["name"] for a in user.ok("listApis")["api"]}
    everything = {a["name"] for a in wf.ok("listApis")["api"]}
    assert "deployVirtualMachine" in mine and "createAccount" not in mine and "listRoles" not in mine
    assert {"createAccount", "createDomain", "listConfigurations", "resetApiLimit"} <= everything - mine
    params = {p["name"] for p in user.first("listApis", "api", name="deployVirtualMachine")["params"]}
    assert {"hostid", "podid", "clusterid", "tpmversion"} <= params
    assert not {"displayvm", "deploymentplanner"} & params
    admin_params = {p["name"] for p in wf.first("listApis", "api", name="deployVirtualMachine")["params"]}
    assert {"displayvm", "deploymentplanner"} <= admin_params
    status, body = user.call("listApis", name="createAccount")  # not permitted → the same 530
    assert (status, body["errortext"]) == (530, "Api Discovery plugin was unable to find an api by "
                                                "that name or process any apis")


def test_objects_belong_to_the_caller_and_lists_show_what_mold_shows(wf: Workflow, users: Any) -> None:
    """AccountManagerImpl.buildACLSearchParameters: users always see their own account only;
    a root admin sees its own account unless listall=true."""
    alice, _ = users(wf, "alice")
    with Workflow(alice.url, key=alice.key, secret=alice.secret) as awf:
        net = awf.network("alice-net")
        assert (net["account"], net["domain"], net["domainpath"]) == ("alice", "ROOT", "ROOT")
        iso = awf.register_iso("alice-iso")
        assert (iso["account"], iso["accountid"]) == ("alice", awf.first("listAccounts", "account")["id"])
    wf.network("admin-net")
    names = lambda c, **p: [n["name"] for n in c.ok("listNetworks", **p).get("network", [])]
    assert names(wf) == ["admin-net"]
    assert names(wf, listall=True) == ["alice-net", "admin-net"]
    assert names(alice) == names(alice, listall=True) == ["alice-net"]
    assert names(wf, account="alice", domainid=net["domainid"]) == ["alice-net"]
    # a user asking for another account → DomainChecker: "<caller> does not have permission…"
    status, body = alice.call("listNetworks", account="admin")
    assert (status, body["errortext"]) == (531, f"{account_str(alice.ok('listAccounts')['account'][0], 3)} "
                                                "does not have permission to operate with resource")
    status, body = wf.call("listNetworks", account="nobody")
    assert (status, body["errortext"]) == (431, f"could not find account nobody in domain {net['domainid']}")
    status, body = wf.call("listNetworks", account="alice", projectid="-1")
    assert (status, body["errortext"]) == (431, "Account and projectId can't be specified together")
    # operating another account's object: @ACL(OperateEntry) → synchronous 531
    status, body = alice.call("updateNetwork", id=wf.first("listNetworks", "network", name="admin-net")["id"],
                              name="x")
    assert (status, body["errorcode"]) == (531, 531)
    assert body["errortext"].endswith("does not have permission to operate with resource")


def test_domain_admin_sees_its_subtree_with_listall(wf: Workflow, users: Any) -> None:
    sub = create_domain(wf, "eng")
    dadmin, _ = users(wf, "eng-admin", DOMAIN_ADMIN, sub["id"])
    dev, _ = users(wf, "dev", domainid=sub["id"])
    root_user, _ = users(wf, "rooted")
    for client, name in ((dadmin, "eng-admin-net"), (dev, "dev-net"), (root_user, "root-net")):
        with Workflow(client.url, key=client.key, secret=client.secret) as w:
            w.network(name)
    names = lambda c, **p: sorted(n["name"] for n in c.ok("listNetworks", **p).get("network", []))
    assert names(dadmin) == ["eng-admin-net"]
    assert names(dadmin, listall=True) == ["dev-net", "eng-admin-net"]
    assert names(wf, domainid=sub["id"]) == ["dev-net", "eng-admin-net"]
    assert names(wf, listall=True) == ["dev-net", "eng-admin-net", "root-net"]
    # listDomains: the caller's domain, its subtree with listall
    assert [d["path"] for d in dadmin.ok("listDomains", listall=True)["domain"]] == ["ROOT/eng"]
    assert [d["path"] for d in wf.ok("listDomains", listall=True)["domain"]] == ["ROOT", "ROOT/eng"]
    assert wf.ok("listDomains")["domain"][0]["haschild"] is True
    # listAccounts: users see their own account
    assert [a["name"] for a in dev.ok("listAccounts", listall=True)["account"]] == ["dev"]
    assert [a["name"] for a in dadmin.ok("listAccounts", listall=True)["account"]] == ["eng-admin", "dev"]
    assert [u["username"] for u in dadmin.ok("listUsers", listall=True)["user"]] == ["eng-admin", "dev"]


def test_get_user_keys_of_a_root_admin(wf: Workflow, users: Any) -> None:
    """M AccountManagerImpl.getKeys (notes): a domain admin of ROOT may not read root admin keys."""
    dadmin, _ = users(wf, "root-domain-admin", DOMAIN_ADMIN)
    admin_user = wf.first("listUsers", "user", username="admin")
    status, body = dadmin.call("getUserKeys", id=admin_user["id"])
    assert (status, body["errortext"]) == (531, "Caller Username root-domain-admin does not have access "
                                                "to root admin keys")
    assert wf.ok("getUserKeys", id=admin_user["id"])["userkeys"] == \
        {"apikey": "moldsim-admin-key", "secretkey": "moldsim-admin-secret"}
