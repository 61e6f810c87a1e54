"""Domains, accounts, users, roles and projects, and Mold's access rules over them.

Records (in the store document):
  domains[id]  = {id, n, name, path ("/" for ROOT, "/a/b/" below it, as DomainVO.path),
                  parentid, level, networkdomain, state, created}
  accounts[id] = {id, n, name, type (Account.Type ordinal: 0 NORMAL, 1 ADMIN, 2 DOMAIN_ADMIN,
                  3 RESOURCE_DOMAIN_ADMIN, 4 READ_ONLY_ADMIN, 5 PROJECT), roleid, domainid,
                  networkdomain, state, created}
  users[id]    = {id, n, username, accountid, firstname, lastname, email, timezone, state,
                  created, apikey, secretkey} (the seeded root admin user has apikey None: its
                  keys are the configured ones, --api-key/--secret-key)
  roles[id]    = {id, n, name, type, description, isdefault} (rules: moldsim.rolerules)
  projects[id] = {id, n, name, displaytext, domainid, accountid (the project account),
                  state, created, members: [{accountid, role: "Admin"|"Regular"}]}
  admin        = {accountid, userid} of the root admin of ROOT (the default caller)
Internal numbers follow Mold's seed: ROOT domain 1, system account and user 1, admin account
and user 2; new ones count up from there. Every owned record carries `accountid`; records
stored by older moldsim versions lack it and belong to the root admin.

Access rules (jeongda-young/ablestack-cloud, Mold "Diplo"; same in ablecloud-team @199d848
where the notes checked): server/.../user/AccountManagerImpl.java (buildACLSearchParameters,
buildACLSearchCriteria, finalizeOwner, checkAccess, isAdmin, isRootAdmin),
server/.../acl/DomainChecker.java (checkAccess for domains, entities and templates),
server/.../projects/ProjectManagerImpl.java (canAccessProjectAccount, canModifyProjectAccount).
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from dataclasses import dataclass
from typing import Any

from moldsim import errors

NORMAL, ADMIN, DOMAIN_ADMIN, RESOURCE_DOMAIN_ADMIN, READ_ONLY_ADMIN, PROJECT = range(6)
ACCOUNT_TYPE_NAMES = ("NORMAL", "ADMIN", "DOMAIN_ADMIN", "RESOURCE_DOMAIN_ADMIN",
                      "READ_ONLY_ADMIN", "PROJECT")
# RoleType.getAccountType / RoleType.getByAccountType (api/.../acl/RoleType.java)
ROLE_TYPE_ACCOUNT = {"Admin": ADMIN, "ResourceAdmin": RESOURCE_DOMAIN_ADMIN,
                     "DomainAdmin": DOMAIN_ADMIN, "User": NORMAL}
ACCOUNT_ROLE_TYPE = {ADMIN: "Admin", RESOURCE_DOMAIN_ADMIN: "ResourceAdmin",
                     DOMAIN_ADMIN: "DomainAdmin", NORMAL: "User", READ_ONLY_ADMIN: "Admin"}
# schema-481to490.sql: the default roles and their ids; RoleType.getRoleByAccountType picks
# the default role of an account type when createAccount has no roleid.
DEFAULT_ROLES = ((1, "Root Admin", "Admin", "Default root admin role"),
                 (2, "Resource Admin", "ResourceAdmin", "Default resource admin role"),
                 (3, "Domain Admin", "DomainAdmin", "Default domain admin role"),
                 (4, "User", "User", "Default Root Admin role"))
DEFAULT_ROLE_OF_TYPE = {ADMIN: 1, RESOURCE_DOMAIN_ADMIN: 2, DOMAIN_ADMIN: 3, NORMAL: 4}
SYSTEM_ACCOUNT_N = 1


def _id() -> str:
    return str(uuid.uuid4())


def new_key() -> str:
    """AccountManagerImpl.createUserApiKey/SecretKey: a 256-bit HmacSHA256 key, URL-safe Base64."""
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode("ascii")


# ---------------------------------------------------------------- seed and migration

def seed(now: float, domain_id: str | None = None, account_id: str | None = None,
         user_id: str | None = None) -> dict[str, Any]:
    """The identity part of a fresh store: ROOT, the admin account and user, default roles."""
    domain_id, account_id, user_id = domain_id or _id(), account_id or _id(), user_id or _id()
    roles = {}
    role_ids = {}
    for n, name, rtype, description in DEFAULT_ROLES:
        rid = _id()
        role_ids[n] = rid
        roles[rid] = {"id": rid, "n": n, "name": name, "type": rtype,
                      "description": description, "isdefault": True}
    return {
        "domains": {domain_id: {"id": domain_id, "n": 1, "name": "ROOT", "path": "/",
                                "parentid": None, "level": 0, "networkdomain": None,
                                "state": "Active", "created": now}},
        "accounts": {account_id: {"id": account_id, "n": 2, "name": "admin", "type": ADMIN,
                                  "roleid": role_ids[1], "domainid": domain_id,
                                  "networkdomain": None, "state": "enabled", "created": now}},
        "users": {user_id: {"id": user_id, "n": 2, "username": "admin", "accountid": account_id,
                            "firstname": "admin", "lastname": "cloud", "email": None,
                            "timezone": None, "state": "enabled", "created": now,
                            "apikey": None, "secretkey": None}},
        "roles": roles,
        "projects": {},
        "admin": {"accountid": account_id, "userid": user_id},
    }


def migrate(data: dict[str, Any], now: float) -> bool:
    """Give a store written by an older moldsim (one `account`, one domain) the identity model;
    True when something was added."""
    if "accounts" in data and "admin" in data:
        return False
    old = data.get("account") or {}
    root = next(iter(data.get("domains", {})), None) or old.get("domainid")
    made = seed(now, root, old.get("accountid"), old.get("userid"))
    for key in ("domains", "accounts", "users", "roles", "projects", "admin"):
        data[key] = made[key]
    seq = data.setdefault("seq", {})
    seq.setdefault("account", 2)
    seq.setdefault("user", 2)
    seq.setdefault("domain", 1)
    return True


# ---------------------------------------------------------------- lookups and renderings

def admin_account_id(store: Any) -> str:
    return str(store.data["admin"]["accountid"])


def owner_id(store: Any, rec: dict[str, Any]) -> str:
    """The account owning a record (older records: the root admin)."""
    return str(rec.get("accountid") or admin_account_id(store))


def account(store: Any, account_id: str | None) -> dict[str, Any] | None:
    found: dict[str, Any] | None = store.data["accounts"].get(account_id) if account_id else None
    return found


def domain(store: Any, domain_id: str | None) -> dict[str, Any] | None:
    found: dict[str, Any] | None = store.data["domains"].get(domain_id) if domain_id else None
    return found


def pretty_path(dom: dict[str, Any]) -> str:
    """ApiResponseHelper: "ROOT" + DomainVO.path without its last character ("ROOT", "ROOT/a")."""
    return "ROOT" + str(dom["path"])[:-1]


def reflect(fields: dict[str, Any]) -> str:
    """ReflectionToStringBuilderUtils.reflectOnlySelectedFields (JSON style, names sorted)."""
    return json.dumps(dict(sorted(fields.items())), ensure_ascii=False, separators=(",", ":"))


def account_str(acct: dict[str, Any]) -> str:
    """AccountVO.toString()."""
    fields = reflect({"accountName": acct["name"], "id": acct["n"], "uuid": acct["id"]})
    return f"Account [{fields}]"


def role_of(store: Any, acct: dict[str, Any]) -> dict[str, Any]:
    role: dict[str, Any] = store.data["roles"][acct["roleid"]]
    return role


def is_root_admin(acct: dict[str, Any]) -> bool:
    """AccountManagerImpl.isRootAdmin: DomainChecker's SystemCapability is account type ADMIN."""
    return bool(acct["type"] == ADMIN)


def is_admin(acct: dict[str, Any]) -> bool:
    """AccountManagerImpl.isAdmin: root, domain, resource-domain or read-only admin."""
    return acct["type"] in (ADMIN, DOMAIN_ADMIN, RESOURCE_DOMAIN_ADMIN, READ_ONLY_ADMIN)


def is_normal(acct: dict[str, Any]) -> bool:
    return bool(acct["type"] == NORMAL)


def is_child_domain(store: Any, parent_id: str, child_id: str) -> bool:
    """DomainDao.isChildDomain: the child is the parent or below it."""
    parent, child = domain(store, parent_id), domain(store, child_id)
    return bool(parent and child and str(child["path"]).startswith(parent["path"]))


def user_by_apikey(store: Any, api_key: str, configured_key: str) -> dict[str, Any] | None:
    """AccountManagerImpl.findUserByApiKey; the seeded admin user answers to the configured key."""
    admin_user = store.data["admin"]["userid"]
    for user in store.data["users"].values():
        key = user.get("apikey")
        if key is None and user["id"] == admin_user:
            key = configured_key
        if key is not None and key == api_key:
            return dict(user) if user["state"] == "enabled" else None
    return None


def keys_of(store: Any, user: dict[str, Any], config: Any) -> tuple[str | None, str | None]:
    if user.get("apikey") is None and user["id"] == store.data["admin"]["userid"]:
        return config.api_key, config.secret_key
    return user.get("apikey"), user.get("secretkey")


def project_by_account(store: Any, account_id: str) -> dict[str, Any] | None:
    for proj in store.data["projects"].values():
        if proj["accountid"] == account_id:
            found: dict[str, Any] = proj
            return found
    return None


def owner_fields(store: Any, account_id: str | None) -> dict[str, Any]:
    """Ownership fields of an owned object's answer: `account` for accounts, `projectid` and
    `project` instead for project-owned objects (ApiResponseHelper.populateOwner and the
    join views), then `domainid`, `domain`, `domainpath`."""
    acct = account(store, account_id) or account(store, admin_account_id(store))
    assert acct is not None
    dom = domain(store, acct["domainid"]) or {"name": "ROOT", "path": "/"}
    out: dict[str, Any] = {}
    if acct["type"] == PROJECT:
        proj = project_by_account(store, acct["id"])
        if proj is not None:
            out.update(projectid=proj["id"], project=proj["name"])
    else:
        out["account"] = acct["name"]
    out.update(domainid=acct["domainid"], domain=dom["name"], domainpath=pretty_path(dom))
    return out


# ---------------------------------------------------------------- access checks (DomainChecker)

def check_domain(store: Any, caller: dict[str, Any], dom: dict[str, Any]) -> None:
    """DomainChecker.checkAccess(caller, domain): users only their own domain, admins their
    subtree; 531 (PermissionDeniedException) otherwise."""
    if is_root_admin(caller):
        return
    text = (f"Account {caller['name']} does not have permission to operate within domain "
            f"id={dom['id']}")
    if is_normal(caller):
        if caller["domainid"] != dom["id"]:
            raise errors.permission_denied(text)
    elif not is_child_domain(store, caller["domainid"], dom["id"]):
        raise errors.permission_denied(text)


def can_access_project_account(store: Any, caller: dict[str, Any], project_account_id: str,
                               modify: bool = False) -> bool:
    """ProjectManagerImpl.canAccessProjectAccount / canModifyProjectAccount: root admins always,
    domain admins when the project's domain is theirs (else the domain denial), members
    otherwise (for modifying: project admins)."""
    if is_root_admin(caller):
        return True
    if caller["type"] == DOMAIN_ADMIN:
        owner = account(store, project_account_id)
        dom = domain(store, owner["domainid"]) if owner else None
        if dom is not None:
            check_domain(store, caller, dom)
        return True
    proj = project_by_account(store, project_account_id)
    if proj is None:
        return False
    for member in proj["members"]:
        if member["accountid"] == caller["id"]:
            return not modify or member["role"] == "Admin"
    return False


def check_owner(store: Any, caller: dict[str, Any], owner_account_id: str | None,
                modify_project: bool = False) -> None:
    """AccountManagerImpl.checkAccess(caller, accessType, sameOwner, entity) for an entity owned
    by `owner_account_id` (None = the system account): users only their own (or their
    projects'), domain admins their domain subtree, root admins everything."""
    if is_root_admin(caller):
        return
    owner = account(store, owner_account_id) if owner_account_id else None
    if is_normal(caller):
        text = f"{account_str(caller)} does not have permission to operate with resource"
        if owner is not None and owner["type"] == PROJECT:
            if not can_access_project_account(store, caller, owner["id"], modify_project):
                raise errors.permission_denied(text)
        elif owner is None or owner["id"] != caller["id"]:
            raise errors.permission_denied(text)
        return
    dom = domain(store, owner["domainid"] if owner else root_domain_id(store))
    if dom is not None:
        check_domain(store, caller, dom)


def check_template(store: Any, caller: dict[str, Any], rec: dict[str, Any], operate: bool) -> None:
    """DomainChecker.checkAccess for a VirtualMachineTemplate (ISOs too): private ones only for
    root admins, the owner, its project's members and accounts with a launch permission;
    public ones may be modified (OperateEntry) only by root admins and the owner."""
    if is_root_admin(caller):
        return
    owner_ref = owner_id(store, rec)
    owner = account(store, owner_ref)
    if not rec.get("ispublic"):
        if owner_ref == caller["id"]:
            return
        if owner is not None and owner["type"] == PROJECT and \
                can_access_project_account(store, caller, owner_ref):
            return
        if caller["id"] in (rec.get("launch_accounts") or []):
            return
        raise errors.permission_denied(f"Account {caller['name']} does not have permission to "
                                       f"launch instances from template {rec['name']}")
    if operate and owner_ref != caller["id"] and (
            owner is None or owner["type"] != PROJECT
            or not can_access_project_account(store, caller, owner_ref)):
        raise errors.permission_denied("Domain Admin and regular users can modify only their "
                                       "own Public templates")


def root_domain_id(store: Any) -> str:
    return next(d["id"] for d in store.data["domains"].values() if d["n"] == 1)


# ---------------------------------------------------------------- owners of new objects

def finalize_owner(ctx: Any, p: dict[str, Any]) -> dict[str, Any]:
    """AccountManagerImpl.finalizeOwner(caller, account, domainid, projectid)."""
    store, caller = ctx.store, ctx.account
    name, domain_id, project_id = p.get("account"), p.get("domainid"), p.get("projectid")
    if name is not None and domain_id is not None and project_id is not None:
        raise errors.param_error("ProjectId and account/domainId can't be specified together")
    if project_id is not None:
        proj = store.data["projects"].get(project_id)
        if proj is None or proj["state"] == "Removed":
            raise errors.param_error(f"Unable to find project by id={project_n(store, project_id)}")
        if not can_access_project_account(store, caller, proj["accountid"]):
            raise errors.permission_denied(f"Account {account_str(caller)} is unauthorised to "
                                           f"use project id={proj['n']}")
        found = account(store, proj["accountid"])
        assert found is not None
        return found
    if name is not None and domain_id is not None:
        dom = domain(store, domain_id)
        if is_admin(caller):
            owner = find_account(store, name, domain_id)
            if owner is None:
                raise errors.param_error(f"Unable to find account {name} in domain "
                                         f"{dom['n'] if dom else domain_id}")
            if dom is not None:
                check_domain(store, caller, dom)
            return owner
        if name != caller["name"] or domain_id != caller["domainid"]:
            raise errors.permission_denied(
                f"Can't create/list resources for account {name} in domain "
                f"{dom['n'] if dom else domain_id}, permission denied")
        return caller
    if name is not None:
        raise errors.param_error("AccountName and domainId must be specified together")
    return caller


def project_n(store: Any, project_id: str) -> Any:
    proj = store.data["projects"].get(project_id)
    return proj["n"] if proj else project_id


def find_account(store: Any, name: str, domain_id: str) -> dict[str, Any] | None:
    """AccountDao.findActiveAccount(name, domain): the name compared ignoring case, as
    MySQL's default collation of Mold's account table does (docs/moldsim.md, "Accounts")."""
    folded = name.casefold()
    for acct in store.data["accounts"].values():
        if acct["name"].casefold() == folded and acct["domainid"] == domain_id and \
                acct["state"] != "removed":
            found: dict[str, Any] = acct
            return found
    return None


# ---------------------------------------------------------------- what a list shows (ACL)

@dataclass
class Scope:
    """The result of buildACLSearchParameters: which owners a list may show.

    permitted: account ids (empty = no account restriction); domain_id with recursive: the
    owner's domain is that one (or below it); projects: "skip" (no project-owned objects),
    "only" (only those) or "all".
    """

    permitted: set[str]
    domain_id: str | None
    recursive: bool
    projects: str | None

    def allows(self, store: Any, owner_account_id: str) -> bool:
        acct = account(store, owner_account_id)
        if acct is None:
            return False
        is_project = acct["type"] == PROJECT
        if self.projects == "skip" and is_project:
            return False
        if self.projects == "only" and not is_project:
            return False
        if self.permitted:
            return owner_account_id in self.permitted
        if self.domain_id is not None:
            if self.recursive:
                return is_child_domain(store, self.domain_id, acct["domainid"])
            return bool(acct["domainid"] == self.domain_id)
        return True

    def filter(self, store: Any, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in records if self.allows(store, owner_id(store, r))]


def member_project_accounts(store: Any, account_id: str) -> list[str]:
    """ProjectManager.listPermittedProjectAccounts: the accounts of the projects one belongs to."""
    return [proj["accountid"] for proj in store.data["projects"].values()
            if proj["state"] != "Removed" and any(m["accountid"] == account_id for m in proj["members"])]


def scope(ctx: Any, p: dict[str, Any], has_id: bool, listall: bool | None = None) -> Scope:
    """AccountManagerImpl.buildACLSearchParameters for the caller and the list parameters
    (`account`, `domainid`, `isrecursive`, `projectid`, `listall`; `has_id`: an `id` was given)."""
    store, caller = ctx.store, ctx.account
    listall = bool(p.get("listall")) if listall is None else listall
    domain_id, recursive = p.get("domainid"), bool(p.get("isrecursive"))
    permitted: set[str] = set()
    projects: str | None = None
    if domain_id is not None:
        dom = domain(store, domain_id)
        if dom is None:
            raise errors.param_error(f"Unable to find domain by id {domain_id}")
        check_domain(store, caller, dom)
    if p.get("account") is not None:
        if p.get("projectid") is not None:
            raise errors.param_error("Account and projectId can't be specified together")
        where = domain_id or caller["domainid"]
        target = find_account(store, p["account"], where)
        if target is None:
            raise errors.param_error(f"could not find account {p['account']} in domain {where}")
        check_owner(store, caller, target["id"])
        permitted.add(target["id"])
    project_id = p.get("projectid")
    if project_id is not None:
        if project_id == "-1":
            projects = "only"
            if caller["type"] != ADMIN:
                permitted.update(member_project_accounts(store, caller["id"]))
                if not permitted or listall:
                    permitted.add(caller["id"])
            if listall:
                projects = "all"
        else:
            proj = store.data["projects"].get(project_id)
            if proj is None:
                raise errors.param_error(f"Unable to find project by id {project_n(store, project_id)}")
            if not can_access_project_account(store, caller, proj["accountid"]):
                raise errors.permission_denied(f"Account {account_str(caller)} can't access "
                                               f"project id={proj['n']}")
            permitted.add(proj["accountid"])
    else:
        if not has_id:
            projects = "skip"
        if not permitted and domain_id is None:
            if caller["type"] == NORMAL:
                permitted.add(caller["id"])
            elif not listall:
                if not has_id:
                    permitted.add(caller["id"])
                elif caller["type"] != ADMIN:
                    domain_id, recursive = caller["domainid"], True
            elif caller["type"] == DOMAIN_ADMIN:
                domain_id, recursive = caller["domainid"], True
        elif domain_id is not None and caller["type"] == NORMAL:
            permitted.add(caller["id"])
    return Scope(permitted, domain_id, recursive, projects)
