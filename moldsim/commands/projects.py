"""Projects: createProject (async create), listProjects, addAccountToProject (async),
deleteProject (async).

Objects created with `projectid` belong to the project's account (type PROJECT, named
"PrjAcct-<project name>-<domain internal id>"), which its members may use
(identity.can_access_project_account).

Sources (jeongda-young/ablestack-cloud): server/.../projects/ProjectManagerImpl.java
(createProject, enableProject, addAccountToProject, deleteProject), api/.../user/project/
{CreateProjectCmd (BaseAsyncCreateCmd: create() is synchronous, execute() enables the
project), AddAccountToProjectCmd, DeleteProjectCmd, ListProjectsCmd}.java,
server/.../api/query/QueryManagerImpl.listProjectsInternal (who sees which project),
server/.../api/query/dao/ProjectJoinDaoImpl.newProjectResponse (the answer: `owner` lists
the project admins). Settings: allow.user.create.projects (default true), project.invite.required
(default false; invitations themselves are not emulated).
"""

from __future__ import annotations

from typing import Any

from moldsim import errors, identity, jobs, listing, settings, tagging
from moldsim.clock import stamp
from moldsim.context import Ctx
from moldsim.registry import BOOLEAN, STRING, UUID, Param, api, job_kind

_PROJECT_CLASS = "org.apache.cloudstack.api.command.user.project."


def view(ctx: Ctx, proj: dict[str, Any]) -> dict[str, Any]:
    dom = identity.domain(ctx.store, proj["domainid"]) or {"name": "ROOT"}
    owners = []
    for member in proj["members"]:
        acct = identity.account(ctx.store, member["accountid"])
        if member["role"] == "Admin" and acct is not None:
            owners.append({"account": acct["name"]})
    pacct = identity.account(ctx.store, proj["accountid"]) or {}
    return {"id": proj["id"], "name": proj["name"], "displaytext": proj["displaytext"],
            "domainid": proj["domainid"], "domain": dom["name"], "owner": owners,
            "projectaccountname": pacct.get("name"), "state": proj["state"],
            "tags": tagging.tags_of(ctx, proj["id"]), "created": stamp(proj["created"])}


@api("createProject", [Param("name", STRING, True), Param("displaytext"), Param("account"),
                       Param("domainid", UUID, entity="domains"), Param("userid", UUID, entity="users"),
                       Param("accountid", UUID, entity="accounts")], isasync=True,
     description="Creates a project")
def create_project(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    store, caller = ctx.store, ctx.account
    if identity.is_normal(caller) and not settings.flag(store, ctx.config, "allow.user.create.projects"):
        raise errors.permission_denied("Regular user is not permitted to create a project")
    if (p.get("account") is None) != (p.get("domainid") is None):
        raise errors.param_error("Account name and domain id must be specified together")
    owner = identity.finalize_owner(ctx, {"account": p.get("account"), "domainid": p.get("domainid")}) \
        if p.get("account") is not None else caller
    if p.get("accountid"):
        found = identity.account(store, p["accountid"])
        assert found is not None
        identity.check_owner(store, caller, found["id"])
        owner = found
    dom = identity.domain(store, owner["domainid"])
    assert dom is not None
    if any(pr["name"] == p["name"] and pr["domainid"] == dom["id"] and pr["state"] != "Removed"
           for pr in store.data["projects"].values()):
        raise errors.param_error(f"Project with name {p['name']} already exists in domain id={dom['n']}")
    pacct = {"id": ctx.new_id(), "n": store.next_seq("account"),
             "name": f"PrjAcct-{p['name']}-{dom['n']}", "type": identity.PROJECT, "roleid": None,
             "domainid": dom["id"], "networkdomain": None, "state": "enabled", "created": ctx.now}
    store.data["accounts"][pacct["id"]] = pacct
    proj = {"id": ctx.new_id(), "n": store.next_seq("project"), "name": p["name"],
            "displaytext": p.get("displaytext") or p["name"], "domainid": dom["id"],
            "accountid": pacct["id"], "state": "Disabled", "created": ctx.now,
            "members": [{"accountid": owner["id"], "role": "Admin"}]}
    store.data["projects"][proj["id"]] = proj
    job = jobs.submit(ctx, "createProject", proj["id"], {"id": proj["id"]})
    return {"id": proj["id"], "jobid": job["id"]}


def _drop_failed(ctx: Ctx, job: dict[str, Any]) -> None:
    proj = ctx.store.data["projects"].pop(job["instanceid"], None)
    if proj is not None:
        ctx.store.data["accounts"].pop(proj["accountid"], None)


@job_kind("createProject", "Project", _PROJECT_CLASS + "CreateProjectCmd", _drop_failed)
def finish_create(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    """ProjectManagerImpl.enableProject: the project becomes Active."""
    proj = ctx.store.data["projects"][job["instanceid"]]
    proj["state"] = "Active"
    return {"project": view(ctx, proj)}


@api("listProjects", [Param("id", UUID, entity="projects"), Param("name"), Param("displaytext"),
                      Param("state"), Param("username"), Param("details"), Param("showicon", BOOLEAN)],
     listing=True, tagged=True)
def list_projects(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """listProjectsInternal: members see their projects; admins with listall their domain
    subtree (root admins everything); newest first."""
    store, caller = ctx.store, ctx.account
    domain_id = p.get("domainid")
    if identity.is_admin(caller):
        if domain_id is not None:
            dom = identity.domain(store, domain_id)
            assert dom is not None
            identity.check_domain(store, caller, dom)
        elif p.get("account") is not None:
            raise errors.param_error(f"could not find account {p['account']} because domain is not specified")
    else:
        if p.get("account") is not None and p["account"] != caller["name"]:
            raise errors.permission_denied(f"Can't list account {p['account']} projects; unauthorized")
        if domain_id is not None and domain_id != caller["domainid"]:
            dom = identity.domain(store, domain_id)
            raise errors.permission_denied(f"Can't list domain id= {dom['n'] if dom else domain_id} "
                                           "projects; unauthorized")
    member: str | None = None
    path: str | None = None
    if p.get("account") is not None and domain_id is not None:
        found = identity.find_account(store, p["account"], domain_id)
        if found is None:
            raise errors.param_error(f"Unable to find account {p['account']} in domain {domain_id}")
        member = found["id"]
    elif not identity.is_admin(caller):
        member = caller["id"]
    if domain_id is None and member is None and (identity.is_normal(caller) or not p.get("listall")):
        member = caller["id"]
    elif caller["type"] == identity.DOMAIN_ADMIN or (p.get("isrecursive") and not p.get("listall")):
        dom = identity.domain(store, caller["domainid"])
        path = dom["path"] if dom else None
    projects = sorted((pr for pr in store.data["projects"].values() if pr["state"] != "Removed"),
                      key=lambda pr: -pr["n"])
    if member is not None:
        projects = [pr for pr in projects if any(m["accountid"] == member for m in pr["members"])]
    if path is not None:
        projects = [pr for pr in projects
                    if str((identity.domain(store, pr["domainid"]) or {}).get("path", "")).startswith(path)]
    if domain_id is not None and not p.get("isrecursive"):
        projects = [pr for pr in projects if pr["domainid"] == domain_id]
    projects = listing.where(p, projects, id="id", name="name", displaytext="displaytext",
                             state=lambda v, pr: pr["state"].lower() == str(v).lower())
    projects = listing.by_tags(ctx, p, listing.by_keyword(p, projects, ("name", "displaytext")))
    return listing.respond(ctx, p, "project", [view(ctx, pr) for pr in projects])


@api("addAccountToProject", [Param("projectid", UUID, True, entity="projects"), Param("account"),
                             Param("email"), Param("projectroleid", UUID), Param("roletype")],
     isasync=True, description="Adds account to a project")
def add_account(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    return {"jobid": jobs.submit(ctx, "addAccountToProject", p["projectid"], p)["id"]}


@job_kind("addAccountToProject", "Project", _PROJECT_CLASS + "AddAccountToProjectCmd")
def finish_add_account(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    """ProjectManagerImpl.addAccountToProject: an Active project, an account of the project's
    domain, the caller must be able to modify the project (a project admin, a domain admin of
    its domain, a root admin); an account already in it is fine."""
    p, store = job["params"], ctx.store
    proj = store.data["projects"].get(p["projectid"])
    if proj is None:
        raise errors.param_error("Unable to find project with specified id")
    if proj["state"] != "Active":
        raise errors.param_error(f"Can't add account to the specified project id in state={proj['state']} "
                                 "as it's no longer active")
    target = None
    if p.get("account") is not None:
        target = identity.find_account(store, p["account"], proj["domainid"])
        if target is None:
            raise errors.param_error(f"Unable to find account name={p['account']} in specified domain id")
        identity.check_owner(store, ctx.account, proj["accountid"], modify_project=True)
        if any(m["accountid"] == target["id"] for m in proj["members"]):
            return {"success": True}
    if settings.flag(store, ctx.config, "project.invite.required"):
        raise errors.internal_error("moldsim does not emulate project invitations "
                                    "(project.invite.required=true)")
    if target is None:
        raise errors.param_error("Account information is required for assigning account to the project")
    role = "Admin" if str(p.get("roletype") or "").lower() == "admin" else "Regular"
    proj["members"].append({"accountid": target["id"], "role": role})
    return {"success": True}


@api("deleteProject", [Param("id", UUID, True, entity="projects"), Param("cleanup", BOOLEAN)],
     isasync=True, description="Deletes a project")
def delete_project(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    return {"jobid": jobs.submit(ctx, "deleteProject", p["id"], p)["id"]}


@job_kind("deleteProject", "Project", _PROJECT_CLASS + "DeleteProjectCmd")
def finish_delete(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    """ProjectManagerImpl.deleteProject without cleanup: refused (530) while the project
    account owns templates/ISOs, VM snapshots, VMs or networks, naming the first kind."""
    store = ctx.store
    proj = store.data["projects"].get(job["instanceid"])
    if proj is None or proj["state"] == "Removed":
        raise errors.param_error(f"Unable to find project by id {job['instanceid']}")
    identity.check_owner(store, ctx.account, proj["accountid"], modify_project=True)
    owned = [("VirtualMachineTemplate", [*ctx.coll("templates").values(), *ctx.coll("isos").values()]),
             ("VMSnapshot", list(ctx.coll("vmsnapshots").values())),
             ("VirtualMachine", list(ctx.coll("vms").values())),
             ("Network", list(ctx.coll("networks").values()))]
    if not job["params"].get("cleanup"):
        for kind, records in owned:
            mine = [r for r in records if r.get("accountid") == proj["accountid"]]
            if mine:
                raise errors.internal_error(f"Can't delete the project yet because it has {len(mine)} "
                                            f"{kind} to clean up")
    else:
        for coll in ("templates", "isos", "vms", "vmsnapshots", "networks"):
            for key in [k for k, r in ctx.coll(coll).items() if r.get("accountid") == proj["accountid"]]:
                ctx.remove(coll, key)
    proj["state"] = "Removed"
    pacct = identity.account(store, proj["accountid"])
    if pacct is not None:
        pacct["state"] = "removed"
    return {"success": True}
