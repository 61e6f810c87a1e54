"""Templates made from a stopped VM's ROOT volume, for a whole cloud: copied to every zone
tenants use, shared with accounts and projects, kept in revisions, traceable.

Rules (ATTRS): ``name``, ``display_text``, ``os_type``, ``password_enabled``,
``dynamically_scalable``, ``requires_hvm`` change in place (updateTemplate); ``public``,
``featured`` with updateTemplatePermissions; ``zones`` and ``share`` are steps (copyTemplate
to a missing zone, deleteTemplate zoneid for a zone no longer wanted; updateTemplatePermissions
op add / remove); ``from_vm``, ``revision`` and ``project`` make a new revision from the VM's
current disk.

A revision is made in the VM's zone, copied to the other zones, shared, and only then
published (``publish``): it takes the channel tag ``mwin:channel=stable`` and the declared
name, and the revision before it keeps a name with its revision number; of the older ones,
``keep`` revisions are kept in all (the current one included), the oldest go first, and one
that VMs still use is kept and said so (Mold refuses to delete it). Every revision carries its
provenance as tags (docs/state.md, "Template tags"). Making one asks the planner, as data on
the draft (``clean_stop``), that the VM's stop in the same plan be the guest's own power-off.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field, StrictBool, StrictInt, StrictStr

from reconciler import __version__
from reconciler.diagnostics import Diagnostics
from reconciler.errors import ApiError, JobFailed, MoldError
from reconciler.model import (
    ADDRESS_TAG,
    OWNER_TAG,
    Address,
    Catalog,
    Declared,
    Desired,
    Draft,
    LiveObject,
    Outcome,
    ResourceSpec,
    SpecModel,
    did_you_mean,
    holder_of,
    tags_of,
)
from reconciler.mold.api import MoldApi
from reconciler.plan import Action, Operation
from reconciler.resources.base import (
    ActionInputs,
    Attr,
    ExecContext,
    OnChange,
    api_params,
    as_bool,
    read_attrs,
)
from reconciler.resources.common import (
    RESEND,
    Check,
    Held,
    delete_image,
    delete_job,
    is_image_progress,
    leftover_delete,
    named,
    plan_generic,
    retag,
    row_state,
    send,
    send_job,
    tag_resource,
    wait_image_ready,
)
from reconciler.resources.contract import PlanningContext, SpecView
from reconciler.resources.focus import Focus, focused_rows
from reconciler.resources.iso import SHA256_TAG

KIND = "template"
SECTION = "templates"
RESOURCE_TYPE = "Template"
LIST_COMMAND = "listTemplates"
# VMs deployed from a template keep it in use (deleteTemplate refuses while they exist), so a
# destroy deletes them first although templates are made after VMs (planner.deletion_waits)
DELETED_AFTER = ("vm",)
# the catalog tables its desired state and observe resolve names in (live.refresh reads only those)
CATALOG = ("zone", "os_type")
REVISION_TAG = "mwin:revision"
FROM_VM_TAG = "mwin:from-vm"
CHANNEL_TAG = "mwin:channel"
CHANNEL = "stable"
# what state records beside the attributes, which a step on the current revision leaves as it
# is: the older revisions (``keep``'s history) and the current one's provenance tags
HISTORY = ("previous_ids", "retained", "provenance")
# all that state records beside the attributes, never shown in a plan: HISTORY, and when an
# apply first waited for each copy on its way (dropped once the copies are done)
STATE_ONLY = (*HISTORY, "copy_waits")
_ISO_KEY = "mwin:iso:"  # provenance: the checksum of each ISO the source VM was declared with
SHARED_TAG = "mwin:shared"  # set once mwin shared it: then its permissions are read back
TAG_VALUE_MAX = 255  # Mold's resource tags hold at most 255 characters a value


class Share(SpecModel):
    accounts: list[StrictStr] = Field(
        default_factory=list, description="Account names it is shared with (of the owner's "
                                          "domain; checked at plan time where the keys list accounts)")
    projects: list[StrictStr] = Field(default_factory=list,
                                      description="Projects (name or id) it is shared with")


class Spec(ResourceSpec):
    """One entry of `templates:`."""

    name: StrictStr | None = Field(None, description="Name in Mold of the newest revision "
                                                     "(default: the key)")
    display_text: StrictStr | None = Field(None, description="Description (default: the name)")
    from_vm: StrictStr = Field(description="Key of the VM (in `vms:`) whose ROOT volume is used")
    os_type: StrictStr = Field(description="OS type name or id")
    public: StrictBool = Field(False, description="Visible to every account")
    featured: StrictBool = Field(False, description="Listed as featured")
    dynamically_scalable: StrictBool = Field(False, description="VMs from it can change CPU "
                                                                "and memory while running")
    requires_hvm: StrictBool = Field(False, description="Needs hardware virtualisation")
    password_enabled: StrictBool = Field(False, description="Mold may reset the password")
    zones: list[StrictStr] | Literal["all"] | None = Field(
        None, description="Zones it is copied to (besides the VM's zone, where it is made), "
                          "or all")
    share: Share | None = Field(None, description="Accounts and projects it is shared with "
                                                  "(omitted: whatever Mold has)")
    revision: StrictInt = Field(1, ge=1, description="Bump to make a new template from the VM")
    keep: StrictInt | None = Field(None, ge=1, description="Revisions kept, the current one "
                                                           "included (default 1)")
    keep_previous: StrictInt | None = Field(None, ge=0, description="Deprecated: older "
                                                                    "revisions kept (keep - 1)")


def _revision(value: Any) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _same_set(a: Any, b: Any) -> bool:
    return sorted(a or []) == sorted(b or [])


def _same_share(a: Any, b: Any) -> bool:
    a, b = a or {}, b or {}
    return all(_same_set(a.get(k), b.get(k)) for k in ("accounts", "projects"))


ATTRS: tuple[Attr, ...] = (
    Attr("project", OnChange.REPLACE, optional=True, field="project"),
    Attr("name", OnChange.IN_PLACE, "updateTemplate", param="name", field="name"),
    Attr("display_text", OnChange.IN_PLACE, "updateTemplate", param="displaytext",
         field="displaytext"),
    Attr("os_type", OnChange.IN_PLACE, "updateTemplate"),  # ostypeid in inputs
    Attr("password_enabled", OnChange.IN_PLACE, "updateTemplate", param="passwordenabled",
         field="passwordenabled", read=as_bool),
    Attr("dynamically_scalable", OnChange.IN_PLACE, "updateTemplate",
         param="isdynamicallyscalable", field="isdynamicallyscalable", read=as_bool),
    Attr("requires_hvm", OnChange.IN_PLACE, "updateTemplate", param="requireshvm",
         field="requireshvm", read=as_bool),
    Attr("public", OnChange.IN_PLACE, "updateTemplatePermissions", param="ispublic",
         field="ispublic", read=as_bool),
    Attr("featured", OnChange.IN_PLACE, "updateTemplatePermissions", param="isfeatured",
         field="isfeatured", read=as_bool),
    Attr("zones", OnChange.STEP, equal=_same_set),
    Attr("share", OnChange.STEP, equal=_same_share, optional=True),
    Attr("from_vm", OnChange.REPLACE, replace_reason="made from another VM"),  # a tag
    Attr("revision", OnChange.REPLACE, replace_reason="a new revision is made from the VM's "
                                                      "current disk"),  # a tag
)
_STEPS = {"zones", "share"}


class Inputs(ActionInputs):
    ostypeid: str | None = None
    vm: str | None = None  # the source VM's id
    keep: int = 1
    previous_ids: list[str] = Field(default_factory=list)  # kept older revisions, newest first
    retained: list[str] = Field(default_factory=list)  # of those, kept only as VMs used them
    channel: bool = False  # create: it is the first revision, so it takes the channel tag now
    zoneids: dict[str, str] = Field(default_factory=dict)  # zone name -> id
    projectids: dict[str, str] = Field(default_factory=dict)  # project name -> id
    provenance: dict[str, str] = Field(default_factory=dict)  # tags every revision carries
    add: list[str] = Field(default_factory=list)  # zones to copy to / accounts to share with
    remove: list[str] = Field(default_factory=list)
    add_projects: list[str] = Field(default_factory=list)
    remove_projects: list[str] = Field(default_factory=list)
    await_ready: bool = False  # the first step for a revision not ready yet: wait for it first
    # copy: zone -> {"copy": the copy's `created` in Mold, "since": when an apply first waited
    # for that copy (Unix seconds, mwin's clock)} of copies on their way that it waits for
    awaiting: dict[str, dict[str, Any]] = Field(default_factory=dict)
    copy_waits: dict[str, Any] = Field(default_factory=dict)  # state's, for the planner


def references(spec: Spec) -> list[tuple[str, Address]]:
    return [("from_vm", Address("vm", spec.from_vm))]


def validate(decl: Declared, doc: SpecView, diags: Diagnostics) -> None:
    """Spec-level rules (no Mold needed): the source VM must be declared stopped; an ISO left
    in its drive is worth a warning; `keep_previous` is the old word for `keep`."""
    spec: Spec = decl.spec
    if spec.keep is not None and spec.keep_previous is not None:
        diags.error("`keep` and `keep_previous` say the same thing: keep only `keep` (the "
                    "revisions kept, the current one included)", decl.at("keep_previous"),
                    address=str(decl.address))
    elif spec.keep_previous is not None:
        diags.warning(f"`keep_previous: {spec.keep_previous}` is deprecated: write `keep: "
                      f"{spec.keep_previous + 1}` (the revisions kept, the current one "
                      "included)", decl.at("keep_previous"), address=str(decl.address))
    vm_decl = doc.resources.get(Address("vm", spec.from_vm))
    if vm_decl is None:
        return
    if vm_decl.spec.state == "running":
        diags.error(f"the template must be made from vm.{spec.from_vm}, which is declared "
                    "`state: running`; a template needs a stopped VM", decl.at("from_vm"),
                    address=str(decl.address),
                    detail=f"vm.{spec.from_vm} is declared at {vm_decl.at('state')}: "
                           "declare it `state: stopped` (after sysprep) so the template can be "
                           "made")
    elif "cdrom" not in vm_decl.spec.model_fields_set or vm_decl.spec.cdrom is not None:
        diags.warning(f"vm.{spec.from_vm} keeps an ISO in its drive; CloudStack advises "
                      "detaching it before making a template (declare `cdrom: null`)",
                      decl.at("from_vm"), address=str(decl.address))


def keep_of(spec: Spec) -> int:
    if spec.keep is not None:
        return spec.keep
    return (spec.keep_previous or 0) + 1


def desired(decl: Declared, ctx: PlanningContext, diags: Diagnostics) -> Desired | None:
    spec: Spec = decl.spec
    address = str(decl.address)
    os_type = ctx.catalog.resolve("os_type", spec.os_type, decl.at("os_type"), diags, address)
    zones = _zones(decl, ctx, diags)
    wanted = spec.share.projects if spec.share else []
    projects = {p: e for p in wanted
                if (e := ctx.catalog.resolve("project", p, decl.at("share.projects"), diags,
                                             address))}
    _check_share_accounts(decl, ctx, diags)
    _check_featured(decl, ctx, diags)
    if os_type is None or zones is None or len(projects) != len(wanted):
        return None
    name = spec.name or decl.address.key
    vm = f"vm.{spec.from_vm}"
    attrs = {
        "name": name, "display_text": spec.display_text or name, "os_type": os_type.name,
        "public": spec.public, "featured": spec.featured,
        "dynamically_scalable": spec.dynamically_scalable, "requires_hvm": spec.requires_hvm,
        "password_enabled": spec.password_enabled, "from_vm": vm, "revision": spec.revision,
        "zones": sorted(zones),
        "share": None if spec.share is None else {
            "accounts": sorted(spec.share.accounts),
            "projects": sorted(e.name for e in projects.values())},
    }
    recorded = ctx.state_attrs(address)
    previous = list(recorded.get("previous_ids") or [])
    inputs = {"ostypeid": os_type.id, "vm": {"$ref": vm}, "keep": keep_of(spec),
              "previous_ids": previous, "zoneids": zones,
              "retained": [r for r in recorded.get("retained") or [] if r in previous],
              "projectids": {e.name: e.id for e in projects.values()},
              "provenance": _provenance(decl, ctx, vm),
              "copy_waits": dict(recorded.get("copy_waits") or {})}
    return Desired(decl.address, attrs, inputs, needs=[vm])


def _zones(decl: Declared, ctx: PlanningContext, diags: Diagnostics) -> dict[str, str] | None:
    """Zone name -> id of every zone it must be in: the VM's (where it is made) and `zones`."""
    spec: Spec = decl.spec
    vm_decl = ctx.declared.get(Address("vm", spec.from_vm))
    home = (vm_decl.spec.zone if vm_decl else None) or ctx.defaults.zone
    names = [e.name for e in ctx.catalog.entries("zone")] if spec.zones == "all" else [
        *(spec.zones or []), *([home] if home else [])]
    found: dict[str, str] = {}
    for i, value in enumerate(names):
        where = decl.at(f"zones.{i}") if spec.zones not in (None, "all") and i < len(
            spec.zones or []) else decl.at("zones")
        entry = ctx.catalog.resolve("zone", value, where, diags, str(decl.address))
        if entry is None:
            return None
        found[entry.name] = entry.id
    return found


def _provenance(decl: Declared, ctx: PlanningContext, vm: str) -> dict[str, str]:
    """The tags that say where a revision comes from (docs/state.md); values cut at Mold's
    255 characters."""
    tags = {"mwin:source": vm, "mwin:version": __version__, **ctx.provenance}
    vm_decl = ctx.declared.get(Address.parse(vm))
    if vm_decl is not None:
        cdrom = vm_decl.spec.cdrom if isinstance(vm_decl.spec.cdrom, list) else [
            vm_decl.spec.cdrom]
        for ref in [vm_decl.spec.install_iso, *cdrom]:
            if isinstance(ref, str):
                iso = ctx.declared.get(Address("iso", ref))
                sha = getattr(iso.spec, "sha256", None) if iso else None
                checksum = getattr(iso.spec, "checksum", None) if iso else None
                tags[f"{_ISO_KEY}{ref}"] = (sha or checksum or "unknown").lower()
    return {k[:TAG_VALUE_MAX]: v[:TAG_VALUE_MAX] for k, v in tags.items()}


def observe(raw: Mapping[str, Any], catalog: Catalog) -> LiveObject:
    """One template from its listTemplates rows (``rows``: one per zone it is in) and its
    permissions (``permissions``)."""
    rows = raw.get("rows") or [raw]
    # a zone counts once its copy is ready: one still downloading (or hung) is not there yet,
    # and the plan waits for it (a revision's first row is made before any copy, so while
    # none is ready, all are counted: the revision is waited for)
    held = [r for r in rows if r.get("isready")] or rows
    tags = tags_of(raw)
    permissions = raw.get("permissions") or {}
    attrs = {
        **read_attrs(ATTRS, raw),
        "os_type": raw.get("ostypename") or catalog.name_of("os_type", raw.get("ostypeid")),
        "from_vm": tags.get(FROM_VM_TAG), "revision": _revision(tags.get(REVISION_TAG)),
        "zones": sorted({str(r.get("zonename") or catalog.name_of("zone", r.get("zoneid")))
                         for r in held}),
        "share": None if SHARED_TAG not in tags else {
            # Mold lists a private template's owner after the accounts it is shared with
            # (ApiResponseHelper.createTemplatePermissionsResponse)
            "accounts": sorted(set(permissions.get("account") or []) - {raw.get("account")}),
            "projects": sorted(catalog.name_of("project", p) or p
                               for p in permissions.get("projectids") or [])},
    }
    # ready once a zone's copy is: copies still on their way are the copy step's (``held``);
    # while none is, the revision itself is on its way or failed (its first row says which)
    ready = any(r.get("isready") for r in rows)
    private = {"zone_ids": {str(r.get("zonename")): r.get("zoneid") for r in rows},
               "copying": {str(r.get("zonename")): {"status": str(r.get("status") or ""),
                                                     "copy": r.get("created")}
                           for r in rows if ready and not r.get("isready")
                           and is_image_progress(str(r.get("status") or ""))},
               "project_ids": {catalog.name_of("project", p) or p: p
                               for p in permissions.get("projectids") or []}}
    return LiveObject(KIND, str(raw["id"]), str(raw.get("name", "")), attrs, tags,
                      "ready" if ready else str(raw.get("status") or "not ready"), private,
                      holder=holder_of(raw))


def refresh(client: MoldApi, catalog: Catalog, focus: Focus | None = None) -> list[LiveObject]:
    """Every zone's row of each template (``focus``: of those the plan needs,
    resources.focus), and who the ones mwin shared are shared with (one
    listTemplatePermissions each: only templates tagged mwin:shared)."""
    rows = focused_rows(client, focus, "listTemplates", "template",
                        {"templatefilter": "self", "listall": True})
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(str(row["id"]), []).append(row)
    objects = []
    for ident, group in grouped.items():
        permissions = {}
        if SHARED_TAG in tags_of(group[0]):
            body = client.call("listTemplatePermissions", {"id": ident})
            permissions = dict(body.get("templatepermission") or {})
        objects.append(observe({**group[0], "rows": group, "permissions": permissions},
                               catalog))
    return objects


def adopt_tags(recorded: Mapping[str, Any]) -> dict[str, str]:
    """The tags of a revision state recorded whose tagging failed (its revision, source VM
    and provenance, as createTemplate's tagging would have set them)."""
    tags = {str(k): str(v) for k, v in (recorded.get("provenance") or {}).items()}
    if recorded.get("revision"):
        tags[REVISION_TAG] = str(recorded["revision"])
    if recorded.get("from_vm"):
        tags[FROM_VM_TAG] = str(recorded["from_vm"])
    return tags


def removal_inputs(recorded: Mapping[str, Any]) -> dict[str, Any]:
    """A template taken out of the spec, or destroyed, goes with every older revision state
    records (``keep``'s history), not only the newest."""
    return {"previous_ids": [str(i) for i in recorded.get("previous_ids") or []]}


def holds(live: LiveObject) -> list[str]:
    return []


def release_steps(desired: Desired | None, live: LiveObject, held: str, freed: str | None,
                  planned: list[Draft], ctx: PlanningContext) -> list[Draft]:
    return []


def tables(spec: Spec) -> list[str]:
    """The projects it is shared with, by name; the accounts, to check their names; the
    caller's own account, to check who may make it featured."""
    tables = ["caller"] if spec.featured else []
    if spec.share is not None:
        tables += ["project", *(["account", "caller"] if spec.share.accounts else [])]
    return sorted(set(tables))


def _check_featured(decl: Declared, ctx: PlanningContext, diags: Diagnostics) -> None:
    """Mold makes a new template featured only for a root admin owner and ignores the flag
    otherwise (TemplateAdapterBase.prepare), so mwin sets it afterwards with
    updateTemplatePermissions, which only an admin or the owner may call
    (TemplateManagerImpl.updateTemplateOrIsoPermissions). A project's template is the
    project's: a user's keys cannot make it featured."""
    spec: Spec = decl.spec
    callers = ctx.catalog.entries("caller")
    project = spec.project or ctx.defaults.project
    if spec.featured and project and len(callers) == 1 and \
            callers[0].raw.get("accounttype") == _USER_TYPE:
        diags.error(f"a template of project {project!r} cannot be made featured with a user's "
                    f"keys ({callers[0].name!r}): Mold lets only an admin or the template's "
                    "owner (the project) change its permissions", decl.at("featured"),
                    address=str(decl.address),
                    detail="declare `featured: false`, or apply with an admin's keys")


# AccountResponse.accounttype of the admins whose listAccounts listall=true shows every account
# of their domain (Account.Type ADMIN, DOMAIN_ADMIN); NORMAL, the only type not isAdmin
# (AccountManagerImpl.isAdmin) but for project accounts
_ADMIN_TYPES = (1, 2)
_USER_TYPE = 0


def _check_share_accounts(decl: Declared, ctx: PlanningContext, diags: Diagnostics) -> None:
    """Mold shares a template only with active accounts of its owner's domain
    (TemplateManagerImpl.updateTemplateOrIsoPermissions, findActiveAccount(name, domain));
    an admin's keys list them all, so a name that is not among them is an error now rather
    than at apply time. A user's keys list only their own account: Mold judges at apply."""
    spec: Spec = decl.spec
    callers = ctx.catalog.entries("caller")
    if spec.share is None or len(callers) != 1:
        return
    project_name = spec.project or ctx.defaults.project
    if not project_name and _names_the_owner(decl, callers[0].name, diags):
        return
    if callers[0].raw.get("accounttype") not in _ADMIN_TYPES:
        return
    domain = callers[0].raw.get("domainid")
    if project_name:
        project = ctx.catalog.find("project", project_name)
        if project is None:
            return  # reported where the project is resolved
        domain = project.raw.get("domainid")
    known = {e.name for e in ctx.catalog.entries("account") if e.raw.get("domainid") == domain}
    by_fold = {n.casefold(): n for n in known}
    for i, name in enumerate(spec.share.accounts):
        if name in known:
            continue
        if name.casefold() in by_fold:  # Mold finds it ignoring case, then lists its own name
            message = (f"account {name!r} is called {by_fold[name.casefold()]!r} in Mold: "
                       "declare it so, or the plan would differ from Mold's permissions forever")
        else:
            message = (f"account {name!r} does not exist in the domain of the template's owner"
                       f"{did_you_mean(name, sorted(known))}; Mold shares a template only with "
                       "accounts of that domain")
        diags.error(message, decl.at(f"share.accounts.{i}"), address=str(decl.address),
                    detail="accounts there: " + (", ".join(sorted(known)[:25]) or "none"))


def _names_the_owner(decl: Declared, owner: str, diags: Diagnostics) -> bool:
    """The template's owner (the caller, outside a project) among the accounts it is shared
    with: Mold skips it (updateTemplateOrIsoPermissions: the caller has the template) and
    lists no permission for it, so the plan would want to add it every time."""
    spec: Spec = decl.spec
    found = False
    for i, name in enumerate(spec.share.accounts if spec.share else []):
        if name.casefold() == owner.casefold():
            diags.error(f"account {name!r} owns the template (it is the account of these "
                        f"keys, {owner!r}): it needs no share, and Mold records none, so take "
                        "it out of share.accounts", decl.at(f"share.accounts.{i}"),
                        address=str(decl.address))
            found = True
    return found


def plan_changes(desired: Desired, live: LiveObject | None, ctx: PlanningContext
                 ) -> list[Draft]:
    if live is None:
        return _first_revision(desired, ctx)
    if live.state != "ready" and not is_image_progress(str(live.state)):
        return _failed(desired, live, ctx)
    drafts = _planned(desired, live, ctx)
    if live.state != "ready":
        ctx.warn(desired, "from_vm", f"template {live.id} is not ready in Mold yet "
                 f"({live.state}): {'the steps below wait for it' if drafts else 'nothing to do'}")
        if drafts and drafts[0].operation is not Operation.REPLACE:
            drafts[0].inputs["await_ready"] = True  # copied, shared, published once ready
    return drafts


def _first_revision(desired: Desired, ctx: PlanningContext) -> list[Draft]:
    """Made from the VM's ROOT volume where Mold holds none: the first revision, or one after
    the current was deleted (the history state records is published with it)."""
    vm = str(desired.attrs["from_vm"])
    made = {**desired.attrs, "zones": [_home_zone(desired, ctx)], "share": None}
    first = not desired.inputs.get("previous_ids")
    create = Draft(Operation.CREATE_TEMPLATE, "declared in the spec, not in Mold: made from "
                   "the VM's ROOT volume", after=made,
                   inputs={**desired.inputs, "channel": first}, needs=[vm], clean_stop=vm)
    return [create, *_revision_steps(desired, made, new=None if first else list(
        desired.inputs.get("previous_ids") or []))]


def _planned(desired: Desired, live: LiveObject, ctx: PlanningContext) -> list[Draft]:
    vm = str(desired.attrs["from_vm"])
    home = _home_zone(desired, ctx)
    if live.attrs["revision"] is None:  # untagged: provenance unknown
        recorded = ctx.state_attrs(str(desired.address))
        # An untagged template adopted by name (say, made by an apply killed before it could
        # tag it, or one made by hand and imported) is taken to be the declared revision.
        attrs = {**live.attrs, "from_vm": recorded.get("from_vm") or vm,
                 "revision": recorded.get("revision") or desired.attrs["revision"]}
        live = dataclasses.replace(live, attrs=attrs)
    fixed = tuple(a for a in ATTRS if a.name not in _STEPS)
    drafts = plan_generic(desired, live, fixed, needs=[vm])
    for draft in drafts:
        if draft.operation is Operation.REPLACE:
            draft.clean_stop, draft.new_revision = vm, True
            draft.after = {**desired.attrs, "zones": [home], "share": None}
            return [draft, *_revision_steps(desired, draft.after, new=[
                live.id, *(desired.inputs.get("previous_ids") or [])])]
    state = dict(drafts[-1].after or live.attrs) if drafts else dict(live.attrs)
    steps = _revision_steps(desired, state, new=None,
                            held=live.private)
    if not any(s.operation is Operation.PUBLISH for s in steps):
        previous = list(desired.inputs.get("previous_ids") or [])
        beyond = len(set(previous) - set(desired.inputs.get("retained") or [])) \
            - (desired.inputs["keep"] - 1)
        if live.tags.get(CHANNEL_TAG) != CHANNEL:
            steps.append(_publish(desired, state, "the newest revision takes the channel tag",
                                  previous))
        elif beyond > 0:
            steps.append(_publish(desired, state, f"keep is {desired.inputs['keep']}: retire "
                                  f"{beyond} older revision(s) beyond it", previous))
    return drafts + steps


def _failed(desired: Desired, live: LiveObject, ctx: PlanningContext) -> list[Draft]:
    """The revision failed in Mold (an error status, never ready): deleted first, then made
    again (the history state records is kept)."""
    status = str(live.state)
    failed = leftover_delete(live, f"delete template {live.id}: it failed in Mold ({status})")
    again = _first_revision(desired, ctx)
    again[0].reason = f"its revision failed in Mold ({status}): make it again"
    again[0].broken = True
    return [failed, *again]


def _home_zone(desired: Desired, ctx: PlanningContext) -> str:
    vm = ctx.declared.get(Address.parse(str(desired.attrs["from_vm"])))
    home = (vm.spec.zone if vm else None) or ctx.defaults.zone or ""
    entry = ctx.catalog.find("zone", home)
    return entry.name if entry else home


def _revision_steps(desired: Desired, state: dict[str, Any], new: list[str] | None,
                    held: Mapping[str, Any] | None = None) -> list[Draft]:
    """Copies to the zones it lacks, deletion of copies no longer wanted, sharing; for a new
    revision (``new``: the revisions before it, newest first) then its publication: the
    channel tag, the older revisions retired."""
    drafts: list[Draft] = []
    held = held or {}  # the live template's ids of its zones and the projects it is shared with
    zone_ids = {**(held.get("zone_ids") or {}), **desired.inputs["zoneids"]}
    project_ids = {**(held.get("project_ids") or {}), **desired.inputs["projectids"]}
    want, have = set(desired.attrs["zones"]), set(state.get("zones") or [])
    if want - have:
        after = {**state, "zones": sorted(have | want)}
        copying = {z: c for z, c in (held.get("copying") or {}).items() if z in want - have}
        awaiting = _awaiting(copying, desired.inputs.get("copy_waits") or {})
        drafts.append(Draft(Operation.COPY_TEMPLATE, _copy_reason(want - have, copying, awaiting),
                            before=dict(state), after=after, changed=["zones"],
                            inputs={"add": sorted(want - have - set(copying)),
                                    "zoneids": zone_ids, "awaiting": awaiting}))
        state = after
    for zone in sorted(have - want):
        after = {**state, "zones": sorted(set(state["zones"]) - {zone})}
        older = desired.inputs.get("previous_ids") or []
        drafts.append(Draft(Operation.DELETE_TEMPLATE_COPY, f"delete its copy in {zone}"
                            + (" and those of the older revisions kept" if older else "")
                            + " (no longer in `zones`)", before=dict(state), after=after,
                            changed=["zones"], inputs={"remove": [zone], "zoneids": zone_ids,
                                                       "previous_ids": older}))
        state = after
    share, held = desired.attrs["share"], state.get("share") or {}
    if share is not None and not _same_share(share, held):
        after = {**state, "share": share}
        accounts, projects = set(share["accounts"]), set(share["projects"])
        had_accounts, had_projects = set(held.get("accounts") or []), set(
            held.get("projects") or [])
        drafts.append(Draft(Operation.UPDATE_SHARE, "share it as `share` says", before=dict(state),
                            after=after, changed=["share"], inputs={
                                "add": sorted(accounts - had_accounts),
                                "remove": sorted(had_accounts - accounts),
                                "add_projects": sorted(projects - had_projects),
                                "remove_projects": sorted(had_projects - projects),
                                "projectids": project_ids}))
        state = after
    if new is not None:
        drafts.append(_publish(desired, state, "publish the new revision: it takes the channel "
                               "tag and the name; older revisions are retired as `keep` says",
                               new))
    return drafts


def _publish(desired: Desired, state: dict[str, Any], reason: str,
             previous: list[str] | None = None) -> Draft:
    inputs = {"keep": desired.inputs["keep"]}
    if previous is not None:
        inputs["previous_ids"] = previous
    return Draft(Operation.PUBLISH, reason, before=dict(state), after=dict(state),
                 inputs=inputs)


# --- execution -------------------------------------------------------------------------

def execute(action: Action, ctx: ExecContext) -> Outcome:
    inputs = Inputs.model_validate(action.inputs)
    op = action.operation
    after = action.after or {}
    if op is Operation.CREATE_TEMPLATE:  # the history a revision deleted outside mwin left
        made = {**after, "previous_ids": list(inputs.previous_ids), "retained": inputs.retained}
        return Outcome(_create(action, inputs, ctx, made), made)
    if op is Operation.REPLACE:
        made = {**after, "previous_ids": [str(action.mold_id), *inputs.previous_ids],
                "retained": inputs.retained}
        return Outcome(_create(action, inputs, ctx, made), made)
    if inputs.await_ready:  # an interrupted apply left it on its way
        ctx.progress(f"waiting for template {action.mold_id} to be ready first")
        _wait_ready(str(action.mold_id), ctx)
    runner = _STEP_RUNNERS.get(op)
    if runner is not None:
        return runner(action, inputs, ctx)
    if op is Operation.UPDATE:
        _update(action, inputs, ctx)
        return Outcome(action.mold_id, {**after, "previous_ids": inputs.previous_ids,
                                        "retained": inputs.retained}, kept=HISTORY)
    if op is Operation.DELETE:  # every older revision state records, oldest first, then the
        # newest: a refusal (VMs use one) leaves state's id valid and the history to try again
        for old in [*reversed(inputs.previous_ids), str(action.mold_id)]:
            delete_image(ctx, "deleteTemplate", "listTemplates", "template",
                         {"templatefilter": "self", "id": old}, f"template {old}",
                         _gone(old, ctx))
        return Outcome(removed=True)
    raise ValueError(f"template cannot {op}")  # pragma: no cover


def _create(action: Action, inputs: Inputs, ctx: ExecContext, made: dict[str, Any]) -> str:
    """createTemplate from the VM's ROOT volume; recorded as ``made`` once Mold answered,
    before its tags and waits, so that no failure after it leaves a template state does not
    know (the next plan tags it, waits for it, or makes it again)."""
    after = action.after or {}
    volumes = ctx.client.list_all("listVolumes", "volume", {
        "virtualmachineid": inputs.vm, "type": "ROOT", "listall": True})
    if not volumes:
        raise MoldError(f"{after['from_vm']} ({inputs.vm}) has no ROOT volume")
    params = {**api_params(ATTRS, after), "volumeid": volumes[0]["id"],
              "ostypeid": inputs.ostypeid}
    response = send(ctx, "createTemplate", params, named(
        ctx, "listTemplates", "template", {"templatefilter": "self"}, after["name"],
        action.address, exclude=[action.mold_id, *inputs.previous_ids]))
    template_id = str(response["id"])
    provenance = {**_iso_sums(ctx, inputs.provenance),
                  "mwin:built-at": datetime.now(UTC).isoformat(timespec="seconds")}
    made["provenance"] = provenance  # recorded: a failed tagging is made good with them
    ctx.record(Outcome(template_id, made))
    tag_resource(ctx, RESOURCE_TYPE, template_id, action.address,
                 {REVISION_TAG: str(after["revision"]), FROM_VM_TAG: after["from_vm"],
                  **provenance})
    ctx.progress(f"making template {template_id} from volume {volumes[0]['id']}")
    if response.get("jobid"):
        ctx.client.wait_job("createTemplate", str(response["jobid"]),
                            timeout=ctx.waits.job_timeout, resource_id=template_id)
    made = _wait_ready(template_id, ctx)
    if inputs.channel:  # the first revision: consumers find it by the tag once it is ready
        retag(ctx, RESOURCE_TYPE, template_id, {}, {CHANNEL_TAG: CHANNEL})
    if after["featured"] and not made.get("isfeatured"):
        # Mold makes a new template featured only for a root admin owner and ignores the
        # flag otherwise (TemplateAdapterBase.prepare); the owner may set it afterwards.
        send(ctx, "updateTemplatePermissions", {"id": template_id, "isfeatured": True}, RESEND)
    return template_id


def _iso_sums(ctx: ExecContext, provenance: Mapping[str, str]) -> dict[str, str]:
    """The ISO checksums the plan could not know: an ISO mwin uploaded (a `file:` or built
    media, perhaps made by this very apply) carries its sha256 as a tag by now."""
    out = dict(provenance)
    for key, value in provenance.items():
        if not key.startswith(_ISO_KEY) or value != "unknown":
            continue
        tags = [{"key": ADDRESS_TAG, "value": f"iso.{key[len(_ISO_KEY):]}"}]
        if ctx.owner:
            tags.append({"key": OWNER_TAG, "value": ctx.owner})
        rows = ctx.client.list_all("listIsos", "iso", {"isofilter": "self", "tags": tags})
        sums = {tags_of(r).get(SHA256_TAG) for r in rows} - {None}
        if len(sums) == 1:
            out[key] = str(sums.pop()).lower()[:TAG_VALUE_MAX]
    return out


def _wait_ready(template_id: str, ctx: ExecContext, timeout: float | None = None
                ) -> dict[str, Any]:
    return wait_image_ready(ctx, "listTemplates", "template",
                            {"templatefilter": "self", "id": template_id},
                            f"template {template_id}", is_image_progress, timeout=timeout)


def _awaiting(copying: Mapping[str, Mapping[str, Any]], waits: Mapping[str, Any]
              ) -> dict[str, dict[str, Any]]:
    """The copies on their way, each with when an apply first waited for it: state's
    ``copy_waits`` entry if it is of the same copy (Mold's `created` of it), else none yet."""
    out: dict[str, dict[str, Any]] = {}
    for zone, copy in copying.items():
        known = waits.get(zone) or {}
        same = known.get("copy") == copy.get("copy") and known.get("since") is not None
        out[zone] = {"copy": copy.get("copy"), "since": known.get("since") if same else None}
    return out


def _copy_reason(missing: set[str], copying: Mapping[str, Mapping[str, Any]],
                 awaiting: Mapping[str, Mapping[str, Any]]) -> str:
    """A zone whose copy is on its way (an earlier apply stopped waiting for it) is waited
    for, not copied to: Mold would start a second copy onto the same image store
    (TemplateManagerImpl.copy keeps a DOWNLOAD_IN_PROGRESS row and copies again)."""
    parts = []
    if missing - set(copying):
        parts.append(f"copy it to {', '.join(sorted(missing - set(copying)))}")
    for zone, copy in sorted(copying.items()):
        since = awaiting.get(zone, {}).get("since")
        waited = f", waited for since {_utc(since)}" if since is not None else ""
        parts.append(f"wait for its copy to {zone} ({copy.get('status') or 'on its way'}{waited})")
    return "; ".join(parts)


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(float(epoch), UTC).strftime("%Y-%m-%d %H:%M UTC")


def _copy(action: Action, inputs: Inputs, ctx: ExecContext) -> Outcome:
    """copyTemplate to the zones it lacks (not those whose copy is on its way); then until
    every zone's copy is ready. A copy on its way is given ``--ready-timeout`` counted from
    the first apply that waited for it (state's ``copy_waits``), so that a copy stuck in
    Mold fails each later apply at once instead of after another full wait."""
    zones = [inputs.zoneids[z] for z in inputs.add]
    if zones:  # first: a copy stuck elsewhere keeps no zone from its own (Mold's job ends
        # when its copies are done: TemplateManagerImpl.copy waits on each)
        send_job(ctx, "copyTemplate", {"id": action.mold_id, "destzoneids": zones},
                 _in_zones(action, ctx, set(zones)))
        ctx.progress(f"copying to {', '.join(inputs.add)}")
    _wait_ready(str(action.mold_id), ctx, _copy_deadline(action, inputs, ctx))
    return Outcome(action.mold_id, action.after, kept=HISTORY)  # copy_waits done with


def _copy_deadline(action: Action, inputs: Inputs, ctx: ExecContext) -> float:
    """The wait left for the copies on their way; recorded in state before waiting."""
    if not inputs.awaiting:
        return ctx.waits.ready_timeout
    now = datetime.now(UTC).timestamp()
    since = {zone: float(a.get("since") or now) for zone, a in inputs.awaiting.items()}
    waits = {zone: {"copy": a.get("copy"), "since": since[zone]}
             for zone, a in inputs.awaiting.items()}
    ctx.record(Outcome(action.mold_id, {**(action.before or {}), "copy_waits": waits},
                       kept=HISTORY))
    zone = min(since, key=lambda z: since[z])
    left = ctx.waits.ready_timeout - (now - since[zone])
    if left <= 0:
        raise MoldError(f"template {action.mold_id}: its copy to {zone} has been on its way "
                        f"since {_utc(since[zone])}, longer than --ready-timeout "
                        f"({ctx.waits.ready_timeout:g}s, counted from the first apply that "
                        "waited for it): the copy looks stuck in Mold. A Mold admin can end "
                        "it; once it has failed or is deleted, the next apply copies again")
    ctx.progress(f"waiting for its copy to {', '.join(sorted(waits))}, on its way already")
    return left


def _in_zones(action: Action, ctx: ExecContext, zones: set[str]) -> Check:
    def check() -> Held:
        rows = ctx.client.list_all("listTemplates", "template",
                                   {"templatefilter": "self", "id": action.mold_id})
        return Held(zones <= {str(r.get("zoneid")) for r in rows})
    return check


def _delete_copy(action: Action, inputs: Inputs, ctx: ExecContext) -> Outcome:
    """The zone's copy of the current revision, and of each older revision kept (a tenant
    there could still deploy those); an older one that VMs in the zone use stays, said so."""
    for zone in inputs.remove:
        zone_id = inputs.zoneids.get(zone) or zone
        for old in inputs.previous_ids:
            rows = ctx.client.list_all("listTemplates", "template",
                                       {"templatefilter": "self", "id": old})
            if zone_id not in {str(r.get("zoneid")) for r in rows}:
                continue
            if len(rows) == 1:  # its last copy: deleting it would delete the revision
                ctx.progress(f"kept revision {old}'s copy in {zone}: it is its only one "
                             "(`keep` retires the revision)")
                continue
            try:
                delete_job(ctx, "deleteTemplate", {"id": old, "zoneid": zone_id}, RESEND)
            except (ApiError, JobFailed) as exc:
                if not _in_use(exc):
                    raise
                ctx.progress(f"kept revision {old}'s copy in {zone}: VMs there use it "
                             f"({exc.errortext})")
        delete_job(ctx, "deleteTemplate", {"id": action.mold_id, "zoneid": zone_id},
                   RESEND)
    return Outcome(action.mold_id, action.after, kept=HISTORY)


def _share(action: Action, inputs: Inputs, ctx: ExecContext) -> Outcome:
    retag(ctx, RESOURCE_TYPE, str(action.mold_id), {}, {SHARED_TAG: "true"})
    # one call per op and list: Mold refuses accounts and projectids together
    # (BaseUpdateTemplateOrIsoPermissionsCmd / TemplateManagerImpl.updateTemplateOrIsoPermissions)
    for op, accounts, projects in (("add", inputs.add, inputs.add_projects),
                                   ("remove", inputs.remove, inputs.remove_projects)):
        if accounts:
            send(ctx, "updateTemplatePermissions",
                 {"id": action.mold_id, "op": op, "accounts": accounts}, RESEND)
        if projects:
            send(ctx, "updateTemplatePermissions", {
                "id": action.mold_id, "op": op,
                "projectids": [inputs.projectids[p] for p in projects]}, RESEND)
    return Outcome(action.mold_id, action.after, kept=HISTORY)


def _publish_run(action: Action, inputs: Inputs, ctx: ExecContext) -> Outcome:
    """The new revision (ready in every zone by now) takes the channel tag; the one before
    it is renamed after its revision; revisions beyond ``keep`` are deleted, oldest first,
    except those VMs still use (kept, and said so)."""
    after = action.after or {}
    current = str(action.mold_id)
    history = [h for h in inputs.previous_ids if h != current]
    kept: list[str] = []
    retiring: list[str] = []
    for old in history:
        rows = ctx.client.list_all("listTemplates", "template",
                                   {"templatefilter": "self", "id": old})
        if not rows:
            continue
        tags = tags_of(rows[0])
        if tags.get(CHANNEL_TAG):
            send_job(ctx, "deleteTags", {"resourcetype": RESOURCE_TYPE, "resourceids": [old],
                                         "tags": [{"key": CHANNEL_TAG,
                                                   "value": tags[CHANNEL_TAG]}]}, RESEND)
        if len(kept) + 1 >= inputs.keep:
            retiring.append(old)
            continue
        kept.append(old)
        _label(old, after["name"], ctx)
    in_use = [old for old in reversed(retiring) if not _retire_one(old, ctx)]  # oldest first
    for old in in_use:
        _label(old, after["name"], ctx)
    retag(ctx, RESOURCE_TYPE, current, {}, {CHANNEL_TAG: CHANNEL})
    return Outcome(current, {**after, "previous_ids": [*kept, *reversed(in_use)],
                             "retained": list(reversed(in_use))}, kept=HISTORY)


def _label(template_id: str, name: str, ctx: ExecContext) -> None:
    """An older revision takes the name ``<name> (revision N)``, so that only the newest
    carries the declared name."""
    rows = ctx.client.list_all("listTemplates", "template",
                               {"templatefilter": "self", "id": template_id})
    if rows:
        label = f"{name} (revision {tags_of(rows[0]).get(REVISION_TAG, '?')})"
        if rows[0].get("name") != label:
            send(ctx, "updateTemplate", {"id": template_id, "name": label}, RESEND)


def _retire_one(template_id: str, ctx: ExecContext) -> bool:
    """Delete an old revision; False when Mold refuses because VMs still use it."""
    try:
        delete_image(ctx, "deleteTemplate", "listTemplates", "template",
                     {"templatefilter": "self", "id": template_id}, f"template {template_id}",
                     _gone(template_id, ctx))
    except (ApiError, JobFailed) as exc:
        if not _in_use(exc):
            raise
        ctx.progress(f"kept revision {template_id}: VMs still use it ({exc.errortext})")
        return False
    ctx.progress(f"deleted revision {template_id} (beyond `keep`)")
    return True


def _in_use(exc: ApiError | JobFailed) -> bool:
    """Mold's refusal to delete a template (or a zone's copy) that VMs use."""
    return "are using it" in (exc.errortext or "") or "in use" in (exc.errortext or "")


def _gone(template_id: str, ctx: ExecContext) -> Check:
    return row_state(ctx, "listTemplates", "template",
                     {"templatefilter": "self", "id": template_id}, lambda row: row is None)


def _update(action: Action, inputs: Inputs, ctx: ExecContext) -> None:
    after = action.after or {}
    if "updateTemplate" in inputs.commands:
        send(ctx, "updateTemplate", {"id": action.mold_id,
                                     **api_params(ATTRS, after, "updateTemplate"),
                                     "ostypeid": inputs.ostypeid}, RESEND)
    if "updateTemplatePermissions" in inputs.commands:
        send(ctx, "updateTemplatePermissions", {
            "id": action.mold_id, **api_params(ATTRS, after, "updateTemplatePermissions")},
            RESEND)


_STEP_RUNNERS = {
    Operation.COPY_TEMPLATE: _copy,
    Operation.DELETE_TEMPLATE_COPY: _delete_copy,
    Operation.UPDATE_SHARE: _share,
    Operation.PUBLISH: _publish_run,
}
