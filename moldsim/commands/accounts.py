"""Domains, accounts, users, API keys and roles: createDomain, listDomains, createAccount,
listAccounts, listUsers, registerUserKeys, getUserKeys, listRoles (all synchronous).

Sources (jeongda-young/ablestack-cloud "L"; the notes checked ablecloud-team @199d848 "M"):
- server/.../user/DomainManagerImpl.java createDomain (parent access, unique name per parent),
  searchForDomains; ApiResponseHelper.createDomainResponse (path "ROOT/...")
- server/.../user/AccountManagerImpl.java createUserAccount and createAccount (texts, the
  escalation check checkRoleEscalation), createApiKeyAndSecretKey (keys: a random
  HmacSHA256 key, URL-safe Base64), getKeys
- api/.../admin/account/CreateAccountCmd.java (account type from the role, the default role
  from the type), api/.../acl/RoleType.java
- server/.../api/query/QueryManagerImpl.java searchForAccountIdsAndCount, searchForUsers
- server/.../api/query/dao/AccountJoinDaoImpl.java, UserAccountJoinDaoImpl.java (answers)
- server/.../org/apache/cloudstack/acl/RoleManagerImpl.java (listRoles hides roles that can
  do more than the caller's)
"""

from __future__ import annotations

from typing import Any

from moldsim import errors, identity, listing, rolerules
from moldsim.clock import stamp
from moldsim.context import Ctx
from moldsim.registry import COMMANDS, INTEGER, MAP, STRING, UUID, Param, api

# ---------------------------------------------------------------- views


def domain_view(ctx: Ctx, dom: dict[str, Any]) -> dict[str, Any]:
    parent = identity.domain(ctx.store, dom.get("parentid"))
    has_child = any(d.get("parentid") == dom["id"] for d in ctx.store.data["domains"].values())
    return {"id": dom["id"], "name": dom["name"], "level": dom["level"],
            "parentdomainid": parent["id"] if parent else None,
            "parentdomainname": parent["name"] if parent else None, "haschild": has_child,
            "networkdomain": dom.get("networkdomain"), "path": identity.pretty_path(dom),
            "state": dom.get("state", "Active"), "created": stamp(dom["created"])}


def user_view(ctx: Ctx, user: dict[str, Any]) -> dict[str, Any]:
    acct = identity.account(ctx.store, user["accountid"]) or ctx.store.admin_account
    dom = identity.domain(ctx.store, acct["domainid"]) or {"name": "ROOT"}
    role = identity.role_of(ctx.store, acct)
    apikey, secretkey = identity.keys_of(ctx.store, user, ctx.config)
    return {"id": user["id"], "username": user["username"], "firstname": user.get("firstname"),
            "lastname": user.get("lastname"), "email": user.get("email"),
            "created": stamp(user["created"]), "state": user["state"], "account": acct["name"],
            "accounttype": acct["type"], "usersource": "native", "roleid": role["id"],
            "roletype": role["type"], "rolename": role["name"], "domainid": acct["domainid"],
            "domain": dom["name"], "timezone": user.get("timezone"), "apikey": apikey,
            "secretkey": secretkey, "accountid": acct["id"], "isdefault": user["n"] <= 2,
            "is2faenabled": False, "is2famandated": False}


def account_view(ctx: Ctx, acct: dict[str, Any]) -> dict[str, Any]:
    dom = identity.domain(ctx.store, acct["domainid"]) or {"name": "ROOT", "path": "/"}
    role = identity.role_of(ctx.store, acct) if acct.get("roleid") else None
    users = [user_view(ctx, u) for u in ctx.store.data["users"].values() if u["accountid"] == acct["id"]]
    return {"id": acct["id"], "name": acct["name"], "accounttype": acct["type"],
            "roleid": role["id"] if role else None, "roletype": role["type"] if role else None,
            "rolename": role["name"] if role else None, "domainid": acct["domainid"],
            "domain": dom["name"], "domainpath": identity.pretty_path(dom),
            "state": acct["state"], "created": stamp(acct["created"]), "user": users,
            "networkdomain": acct.get("networkdomain"), "isdefault": acct["n"] <= 2,
            "iscleanuprequired": False, "groups": []}


def role_view(role: dict[str, Any]) -> dict[str, Any]:
    return {"id": role["id"], "name": role["name"], "type": role["type"],
            "description": role["description"], "isdefault": role["isdefault"]}


# ---------------------------------------------------------------- domains


@api("createDomain", [Param("name", STRING, True), Param("parentdomainid", UUID, entity="domains"),
                      Param("networkdomain"), Param("domainid")],
     description="Creates a domain")
def create_domain(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    store = ctx.store
    parent = identity.domain(store, p.get("parentdomainid") or identity.root_domain_id(store))
    assert parent is not None
    identity.check_domain(store, ctx.account, parent)
    if any(d["name"] == p["name"] and d.get("parentid") == parent["id"] for d in store.data["domains"].values()):
        raise errors.param_error(f"Domain with name [{p['name']}] already exists for the parent "
                                 f"with ID [{parent['n']}].")
    did = p.get("domainid") or ctx.new_id()
    dom = {"id": did, "n": store.next_seq("domain"), "name": p["name"],
           "path": f"{parent['path']}{p['name']}/", "parentid": parent["id"],
           "level": parent["level"] + 1, "networkdomain": p.get("networkdomain"),
           "state": "Active", "created": ctx.now}
    store.data["domains"][did] = dom
    return {"domain": domain_view(ctx, dom)}


@api("listDomains", [Param("id", UUID, entity="domains"), Param("name"), Param("level", INTEGER),
                     Param("keyword"), Param("listall"), Param("page", INTEGER),
                     Param("pagesize", INTEGER), Param("details")])
def list_domains(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """DomainManagerImpl.searchForDomains: the caller's domain (or `id`), its subtree with
    listall=true."""
    store = ctx.store
    base = identity.domain(store, p.get("id") or ctx.account["domainid"])
    assert base is not None
    identity.check_domain(store, ctx.account, base)
    listall = str(p.get("listall", "")).lower() == "true" and "id" not in p
    doms = sorted(store.data["domains"].values(), key=lambda d: d["n"])
    doms = [d for d in doms if (str(d["path"]).startswith(base["path"]) if listall else d["id"] == base["id"])]
    doms = listing.where(p, doms, name="name", level="level")
    doms = listing.by_keyword(p, doms)
    return listing.respond(ctx, p, "domain", [domain_view(ctx, d) for d in doms])


# ---------------------------------------------------------------- accounts and users


def _role_for(ctx: Ctx, p: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """CreateAccountCmd.getAccountType / getRoleId: the role's type decides the account type;
    without a role, the account type's default role."""
    roles = ctx.store.data["roles"]
    if p.get("roleid"):
        role = roles[p["roleid"]]
        return identity.ROLE_TYPE_ACCOUNT[role["type"]], role
    atype = p.get("accounttype")
    if atype not in identity.DEFAULT_ROLE_OF_TYPE:
        raise errors.server_error(errors.PARAM_ERROR, "Neither account type and role ID are not provided")
    n = identity.DEFAULT_ROLE_OF_TYPE[atype]
    return atype, next(r for r in roles.values() if r["n"] == n)


def _check_escalation(ctx: Ctx, role: dict[str, Any]) -> None:
    """AccountManagerImpl.checkRoleEscalation over the APIs moldsim serves: the new account may
    not call any API the caller may not."""
    mine = identity.role_of(ctx.store, ctx.account)
    for name in sorted(c.name for c in COMMANDS.values()):
        if rolerules.role_allows(role["n"], role["type"], name) and \
                not rolerules.role_allows(mine["n"], mine["type"], name):
            caller = ctx.account
            dom = identity.domain(ctx.store, caller["domainid"])
            raise errors.permission_denied(
                f"User of Account {caller['name']}/{dom['n'] if dom else caller['domainid']} "
                f"({caller['id']}) can not create an account with access to more privileges they "
                "have themself.")


@api("createAccount", [
    Param("email", STRING, True), Param("firstname", STRING, True), Param("lastname", STRING, True),
    Param("password", STRING, True), Param("username", STRING, True), Param("account"),
    Param("accounttype", INTEGER), Param("roleid", UUID, entity="roles"),
    Param("domainid", UUID, entity="domains"), Param("timezone"), Param("networkdomain"),
    Param("accountdetails", MAP), Param("accountid"), Param("userid")],
    description="Creates an account")
def create_account(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    store = ctx.store
    atype, role = _role_for(ctx, p)
    dom = identity.domain(store, p.get("domainid") or identity.root_domain_id(store))
    assert dom is not None
    name = p.get("account") or p["username"]
    identity.check_domain(store, ctx.account, dom)
    taken = any(u["username"] == p["username"] and
                (identity.account(store, u["accountid"]) or {}).get("domainid") == dom["id"]
                for u in store.data["users"].values())
    if taken:
        raise errors.param_error(f"The user {p['username']} already exists in domain {dom['n']}")
    if dom["n"] != 1 and atype == identity.ADMIN:
        raise errors.param_error(f"Invalid account type ADMIN given for an account in domain {dom['n']}; "
                                 "unable to create user of admin role type in non-ROOT domain.")
    if identity.find_account(store, name, dom["id"]) is not None:
        raise errors.param_error(f"The specified account: {name} already exists")
    if atype == identity.RESOURCE_DOMAIN_ADMIN and not any(
            z.get("domainid") == dom["id"] for z in store.data["zones"].values()):
        raise errors.param_error(f"The account cannot be created as domain {dom['name']} is not "
                                 "associated with any private Zone")
    _check_escalation(ctx, role)
    aid = p.get("accountid") or ctx.new_id()
    acct = {"id": aid, "n": store.next_seq("account"), "name": name, "type": atype,
            "roleid": role["id"], "domainid": dom["id"], "networkdomain": p.get("networkdomain"),
            "state": "enabled", "created": ctx.now}
    store.data["accounts"][aid] = acct
    uid = p.get("userid") or ctx.new_id()
    store.data["users"][uid] = {
        "id": uid, "n": store.next_seq("user"), "username": p["username"], "accountid": aid,
        "firstname": p["firstname"], "lastname": p["lastname"], "email": p["email"],
        "timezone": p.get("timezone"), "state": "enabled", "created": ctx.now,
        "apikey": None, "secretkey": None}
    return {"account": account_view(ctx, acct)}


def _account_ids(ctx: Ctx, p: dict[str, Any], ident: str | None) -> list[dict[str, Any]]:
    """QueryManagerImpl.searchForAccountIdsAndCount: with listall, an admin sees its domain's
    subtree (or `domainid`'s); without, a user or an admin without `domainid` only its own
    account; project accounts and the system account are never listed."""
    store, caller = ctx.store, ctx.account
    accounts = [a for a in store.data["accounts"].values() if a["type"] != identity.PROJECT]
    domain_id, recursive = p.get("domainid"), bool(p.get("isrecursive"))
    if domain_id is not None:
        dom = identity.domain(store, domain_id)
        assert dom is not None
        identity.check_domain(store, caller, dom)
    if ident is None:
        if p.get("listall") and identity.is_admin(caller):
            domain_id, recursive = domain_id or caller["domainid"], True
        elif not identity.is_admin(caller) or domain_id is None:
            accounts = [a for a in accounts if a["id"] == caller["id"]]
    else:
        found = next((a for a in accounts if a["id"] == ident), None)
        if found is None:
            raise errors.param_error(f"Unable to find account by id {ident}")
        identity.check_owner(store, caller, found["id"])
        accounts = [found]
    if domain_id is not None:
        accounts = [a for a in accounts if (identity.is_child_domain(store, domain_id, a["domainid"])
                                            if recursive else a["domainid"] == domain_id)]
    return sorted(accounts, key=lambda a: a["n"])


@api("listAccounts", [Param("id", UUID, entity="accounts"), Param("name"),
                      Param("accounttype", INTEGER), Param("roleid", UUID), Param("state"),
                      Param("details"), Param("showicon")], listing=True)
def list_accounts(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    accounts = _account_ids(ctx, p, p.get("id"))
    accounts = listing.where(p, accounts, name="name", accounttype="type", roleid="roleid",
                             state=lambda v, a: a["state"].lower() == str(v).lower())
    accounts = listing.by_keyword(p, accounts)
    return listing.respond(ctx, p, "account", [account_view(ctx, a) for a in accounts])


@api("listUsers", [Param("id", UUID, entity="users"), Param("username"),
                   Param("accounttype", INTEGER), Param("state"), Param("showicon"),
                   Param("usersource")], listing=True)
def list_users(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """QueryManagerImpl.searchForUsers: users see their own account's users, admins their
    domain (subtree with listall)."""
    ident = p.get("id")
    if ident is not None:
        user = ctx.store.data["users"][ident]
        identity.check_owner(ctx.store, ctx.account, user["accountid"])
        accounts = {user["accountid"]}
    else:
        accounts = {a["id"] for a in _account_ids(ctx, p, None)}
    users = sorted((u for u in ctx.store.data["users"].values() if u["accountid"] in accounts),
                   key=lambda u: u["n"])
    if ident is not None:
        users = [u for u in users if u["id"] == ident]
    users = listing.where(p, users, username="username",
                          state=lambda v, u: u["state"].lower() == str(v).lower(),
                          accounttype=lambda v, u: (identity.account(ctx.store, u["accountid"]) or {}).get("type") == v)
    users = listing.by_keyword(p, users, ("username", "firstname", "lastname", "email"))
    return listing.respond(ctx, p, "user", [user_view(ctx, u) for u in users])


@api("registerUserKeys", [Param("id", UUID, True, entity="users")],
     description="This command allows a user to register for the developer API, returning a "
                 "secret key and an API key.")
def register_user_keys(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """AccountManagerImpl.createApiKeyAndSecretKey: access to the user's account (531), new
    keys replace the old ones at once."""
    user = ctx.store.data["users"][p["id"]]
    identity.check_owner(ctx.store, ctx.account, user["accountid"])
    user["apikey"], user["secretkey"] = identity.new_key(), identity.new_key()
    return {"userkeys": {"apikey": user["apikey"], "secretkey": user["secretkey"]}}


@api("getUserKeys", [Param("id", UUID, True, entity="users")],
     description="This command allows the user to query the secret and API keys for the account")
def get_user_keys(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    user = ctx.store.data["users"][p["id"]]
    identity.check_owner(ctx.store, ctx.account, user["accountid"])
    owner = identity.account(ctx.store, user["accountid"])
    if owner is not None and identity.is_root_admin(owner) and not ctx.root_admin:
        raise errors.permission_denied(f"Caller Username {ctx.user['username']} does not have access "
                                       "to root admin keys")
    apikey, secretkey = identity.keys_of(ctx.store, user, ctx.config)
    return {"userkeys": {"apikey": apikey, "secretkey": secretkey}}


# ---------------------------------------------------------------- roles


def _visible_role(ctx: Ctx, role: dict[str, Any]) -> bool:
    """RoleManagerImpl.removeRolesIfNeeded: a role is listed to non-root callers only when it
    allows nothing (of what moldsim serves) that the caller's role does not."""
    if ctx.root_admin:
        return True
    mine = identity.role_of(ctx.store, ctx.account)
    if mine["id"] == role["id"]:
        return True
    return not any(rolerules.role_allows(role["n"], role["type"], c.name) and
                   not rolerules.role_allows(mine["n"], mine["type"], c.name)
                   for c in COMMANDS.values())


@api("listRoles", [Param("id", UUID, entity="roles"), Param("name"), Param("type"),
                   Param("keyword"), Param("page", INTEGER), Param("pagesize", INTEGER)])
def list_roles(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    roles = sorted(ctx.store.data["roles"].values(), key=lambda r: r["n"])
    roles = [r for r in roles if _visible_role(ctx, r)]
    roles = listing.where(p, roles, id="id", name="name",
                          type=lambda v, r: r["type"].lower() == str(v).lower())
    roles = listing.by_keyword(p, roles, ("name", "type", "description", "id"))
    return listing.respond(ctx, p, "role", [role_view(r) for r in roles])
