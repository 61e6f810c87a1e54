"""Resource tag commands (reference §4.8): createTags, deleteTags (async), listTags.

Ownership (jeongda-young/ablestack-cloud server/.../tags/TaggedResourceManagerImpl.java and
ResourceManagerUtilImpl.checkResourceAccessible): a tag belongs to the resource's owner
(zones and offerings: the system account); createTags needs access to that owner, deleteTags
to the tag's owner (checkAccess: users their own account, domain admins their subtree), else
the job fails 530 with the PermissionDeniedException's text. A key already on the resource:
530 "tag <key> already on <type> with id <id>". A key or value longer than 255 characters:
530 "DB Exception on: ..." (the columns' length, see TAG_COLUMN_LENGTH). deleteTags matches
keys and values ignoring case (`equalsIgnoreCase`).
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


# resource_tags.key and .value are varchar(255) (engine/schema/.../db/schema-304to305.sql,
# setup/db/create-schema.sql); the management server's connection runs with
# sql_mode='STRICT_TRANS_TABLES,...' (client/conf/db.properties.in), so a longer one fails
# the INSERT and GenericDaoBase.persist throws CloudRuntimeException("DB Exception on: " +
# the prepared statement). Lengths are in characters (the table's charset is utf8).
TAG_COLUMN_LENGTH = 255


def _db_exception(rtype: str, rid: str, key: str, value: str, customer: str | None) -> errors.ApiError:
    """GenericDaoBase.persist's text: "DB Exception on: " and the statement as the MySQL driver
    prints it (moldsim's rendering of the statement; only the prefix is Mold's)."""
    quoted = ", ".join("NULL" if v is None else "'" + v.replace("'", "\\'") + "'"
                       for v in (key, value, rid, rtype, customer))
    return errors.internal_error(
        "DB Exception on: com.mysql.cj.jdbc.ClientPreparedStatement: INSERT INTO resource_tags "
        "(resource_tags.key, resource_tags.value, resource_tags.resource_uuid, "
        f"resource_tags.resource_type, resource_tags.customer) VALUES ({quoted})")


@job_kind("createTags", None, _TAG_CLASS + "CreateTagsCmd")
def finish_create_tags(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    """TaggedResourceManagerImpl.createTags: in one transaction, for each key and then each
    resource: access to the owner (530), an empty value (431), the row's INSERT (a key or
    value longer than the columns: 530 DB Exception; a key the resource has: 530). Any
    failure leaves no tag."""
    p = job["params"]
    rtype, ids = _resolve(ctx, p)
    _, coll = tagging.resource_type(p["resourcetype"])
    wanted = tag_pairs(p["tags"])
    existing = {(t["resourceid"], t["key"]) for t in ctx.store.data["tags"]}
    owners = {rid: _owner(ctx, coll, rid) for rid in ids}
    for key, value in wanted:
        for rid in ids:
            identity.check_owner(ctx.store, ctx.account, owners[rid])
            if not value:
                raise errors.param_error(f"Value for the key {key} is either null or empty")
            if len(key) > TAG_COLUMN_LENGTH or len(value) > TAG_COLUMN_LENGTH:
                raise _db_exception(rtype, rid, key, value, p.get("customer"))
            if (rid, key) in existing:
                raise errors.internal_error(f"tag {key} already on {rtype} with id {rid}")
    for key, value in wanted:
        for rid in ids:
            ctx.store.data["tags"].append({"key": key, "value": value or "", "resourcetype": rtype,
                                           "resourceid": rid, "customer": p.get("customer"),
                                           "accountid": owners[rid]})
    return {"success": True}


@job_kind("deleteTags", None, _TAG_CLASS + "DeleteTagsCmd")
def finish_delete_tags(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    p = job["params"]
    _, ids = _resolve(ctx, p)
    wanted = tag_pairs(p.get("tags"))

    def doomed(tag: dict[str, Any]) -> bool:  # keys and values compared ignoring case
        if tag["resourceid"] not in ids:
            return False
        return not wanted or any(tag["key"].lower() == k.lower() and
                                 (v is None or tag["value"].lower() == v.lower()) for k, v in wanted)

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
