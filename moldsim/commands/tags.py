"""Resource tag commands (reference §4.8): createTags, deleteTags (async), listTags.

Ownership (jeongda-young/ablestack-cloud server/.../tags/TaggedResourceManagerImpl.java and
ResourceManagerUtilImpl.checkResourceAccessible): a tag belongs to the resource's owner
(zones and offerings: the system account); createTags needs access to that owner, deleteTags
to the tag's owner (checkAccess: users their own account, domain admins their subtree), else
the job fails 530 with the PermissionDeniedException's text. A key already on the resource:
530 "tag <key> already on <type> with id <id>".
"""

from __future__ import annotations

from typing import Any

from moldsim import errors, identity, jobs, listing, tagging
from moldsim.context import Ctx
from moldsim.params import tag_pairs
from moldsim.registry import LIST, MAP, STRING, Param, api, job_kind

_TAG_CLASS = "org.apache.cloudstack.api.command.user.tag."


@api("createTags", [Param("resourcetype", STRING, True), Param("resourceids", LIST, True),
                    Param("tags", MAP, True), Param("customer")], isasync=True)
def create_tags(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    return {"jobid": jobs.submit(ctx, "createTags", None, p)["id"]}


@api("deleteTags", [Param("resourcetype", STRING, True), Param("resourceids", LIST, True),
                    Param("tags", MAP)], isasync=True)
def delete_tags(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    return {"jobid": jobs.submit(ctx, "deleteTags", None, p)["id"]}


def _resolve(ctx: Ctx, p: dict[str, Any]) -> tuple[str, list[str]]:
    """Canonical type and the resource ids, each checked to exist (431 otherwise)."""
    rtype, coll = tagging.resource_type(p["resourcetype"])
    for rid in p["resourceids"]:
        if coll is None or rid not in ctx.coll(coll):
            raise errors.param_error(f"Unable to find resource by id {rid} and type {rtype}")
    return rtype, p["resourceids"]


@job_kind("createTags", None, _TAG_CLASS + "CreateTagsCmd")
def finish_create_tags(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    p = job["params"]
    rtype, ids = _resolve(ctx, p)
    _, coll = tagging.resource_type(p["resourcetype"])
    wanted = tag_pairs(p["tags"])
    existing = {(t["resourceid"], t["key"]) for t in ctx.store.data["tags"]}
    owners = {rid: _owner(ctx, coll, rid) for rid in ids}
    for rid in ids:
        identity.check_owner(ctx.store, ctx.account, owners[rid])
        for key, value in wanted:
            if not value:
                raise errors.param_error(f"Value for the key {key} is either null or empty")
            if (rid, key) in existing:
                raise errors.internal_error(f"tag {key} already on {rtype} with id {rid}")
    for rid in ids:
        for key, value in wanted:
            ctx.store.data["tags"].append({"key": key, "value": value or "", "resourcetype": rtype,
                                           "resourceid": rid, "customer": p.get("customer"),
                                           "accountid": owners[rid]})
    return {"success": True}


@job_kind("deleteTags", None, _TAG_CLASS + "DeleteTagsCmd")
def finish_delete_tags(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    p = job["params"]
    _, ids = _resolve(ctx, p)
    wanted = tag_pairs(p.get("tags"))

    def doomed(tag: dict[str, Any]) -> bool:
        if tag["resourceid"] not in ids:
            return False
        return not wanted or any(tag["key"] == k and (v is None or tag["value"] == v) for k, v in wanted)

    tags = ctx.store.data["tags"]
    if not any(doomed(t) for t in tags):
        raise errors.param_error("Unable to find any tags which conform to specified delete parameters.")
    for tag in tags:  # checkTagsDeletePermission
        if doomed(tag) and tag.get("accountid", identity.admin_account_id(ctx.store)) != ctx.account["id"]:
            identity.check_owner(ctx.store, ctx.account, tag.get("accountid") or identity.admin_account_id(ctx.store))
    ctx.store.data["tags"] = [t for t in tags if not doomed(t)]
    return {"success": True}


@api("listTags", [Param("resourcetype"), Param("resourceid"), Param("key"), Param("value"),
                  Param("customer")], listing=True)
def list_tags(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    scope = identity.scope(ctx, p, False)
    owned = [t for t in ctx.store.data["tags"]
             if scope.allows(ctx.store, t.get("accountid") or identity.admin_account_id(ctx.store))]
    tags = listing.where(p, owned, resourceid="resourceid", key="key",
                         value="value", customer="customer",
                         resourcetype=lambda v, t: t["resourcetype"].lower() == v.lower())
    tags = listing.by_keyword(p, tags, ("key", "value"))
    return listing.respond(ctx, p, "tag", [tagging.view(ctx, t) for t in tags])


def _owner(ctx: Ctx, coll: str | None, rid: str) -> str | None:
    """The account a resource belongs to; None (the system account) for unowned kinds."""
    if coll in ("zones", "serviceofferings", "diskofferings", None):
        return None
    return ctx.owner_id(ctx.coll(coll)[rid])
