"""Templates made from a stopped VM's ROOT volume.

Rules (ATTRS): ``name``, ``display_text``, ``os_type``, ``password_enabled``,
``dynamically_scalable``, ``requires_hvm`` change in place (updateTemplate); ``public``,
``featured`` with updateTemplatePermissions; ``from_vm``, ``revision`` and ``project`` force
a new template from the VM's current disk. The new one is made before the old one is
deleted, and ``keep_previous: N`` keeps the last N revisions (VMs may still use them).
``from_vm`` and ``revision`` are read back from the template's tags, so they survive a lost
state. Making one asks the planner, as data on the draft (``clean_stop``), that the VM's stop
in the same plan be the guest's own power-off.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, StrictBool, StrictInt, StrictStr

from reconciler.diagnostics import Diagnostics
from reconciler.errors import MoldError
from reconciler.model import (
    Address,
    Catalog,
    Declared,
    Desired,
    Draft,
    LiveObject,
    Outcome,
    ResourceSpec,
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
    delete_job,
    named,
    plan_generic,
    row_state,
    send,
    tag_resource,
    wait_image_ready,
)
from reconciler.resources.contract import PlanningContext, SpecView

KIND = "template"
SECTION = "templates"
RESOURCE_TYPE = "Template"
LIST_COMMAND = "listTemplates"
REVISION_TAG = "mwin:revision"
FROM_VM_TAG = "mwin:from-vm"


class Spec(ResourceSpec):
    """One entry of `templates:`."""

    name: StrictStr | None = Field(None, description="Name in Mold (default: the key)")
    display_text: StrictStr | None = Field(None, description="Description (default: the name)")
    from_vm: StrictStr = Field(description="Key of the VM (in `vms:`) whose ROOT volume is used")
    os_type: StrictStr = Field(description="OS type name or id")
    public: StrictBool = Field(False, description="Visible to every account")
    featured: StrictBool = Field(False, description="Listed as featured")
    dynamically_scalable: StrictBool = Field(False, description="VMs from it can change CPU "
                                                                "and memory while running")
    requires_hvm: StrictBool = Field(False, description="Needs hardware virtualisation")
    password_enabled: StrictBool = Field(False, description="Mold may reset the password")
    revision: StrictInt = Field(1, ge=1, description="Bump to make a new template from the VM")
    keep_previous: StrictInt = Field(0, ge=0, description="Older revisions to keep")


def _revision(value: Any) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() else None


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
    Attr("from_vm", OnChange.REPLACE, replace_reason="made from another VM"),  # a tag
    Attr("revision", OnChange.REPLACE, replace_reason="a new revision is made from the VM's "
                                                      "current disk"),  # a tag
)


class Inputs(ActionInputs):
    ostypeid: str | None = None
    vm: str | None = None  # the source VM's id
    keep_previous: int = 0
    previous_ids: list[str] = Field(default_factory=list)  # kept older revisions, newest first


def references(spec: Spec) -> list[tuple[str, Address]]:
    return [("from_vm", Address("vm", spec.from_vm))]


def validate(decl: Declared, doc: SpecView, diags: Diagnostics) -> None:
    """Spec-level rules (no Mold needed): the source VM must be declared stopped; an ISO left
    in its drive is worth a warning."""
    vm_decl = doc.resources.get(Address("vm", decl.spec.from_vm))
    if vm_decl is None:
        return
    if vm_decl.spec.state == "running":
        diags.error(f"the template must be made from vm.{decl.spec.from_vm}, which is declared "
                    "`state: running`; a template needs a stopped VM", decl.at("from_vm"),
                    address=str(decl.address),
                    detail=f"vm.{decl.spec.from_vm} is declared at {vm_decl.at('state')}: "
                           "declare it `state: stopped` (after sysprep) so the template can be "
                           "made")
    elif "cdrom" not in vm_decl.spec.model_fields_set or vm_decl.spec.cdrom is not None:
        diags.warning(f"vm.{decl.spec.from_vm} keeps an ISO in its drive; CloudStack advises "
                      "detaching it before making a template (declare `cdrom: null`)",
                      decl.at("from_vm"), address=str(decl.address))


def desired(decl: Declared, ctx: PlanningContext, diags: Diagnostics) -> Desired | None:
    spec: Spec = decl.spec
    address = str(decl.address)
    os_type = ctx.catalog.resolve("os_type", spec.os_type, decl.at("os_type"), diags, address)
    if os_type is None:
        return None
    name = spec.name or decl.address.key
    vm = f"vm.{spec.from_vm}"
    attrs = {
        "name": name, "display_text": spec.display_text or name, "os_type": os_type.name,
        "public": spec.public, "featured": spec.featured,
        "dynamically_scalable": spec.dynamically_scalable, "requires_hvm": spec.requires_hvm,
        "password_enabled": spec.password_enabled, "from_vm": vm, "revision": spec.revision,
    }
    previous = list(ctx.state_attrs(address).get("previous_ids") or [])
    inputs = {"ostypeid": os_type.id, "vm": {"$ref": vm}, "keep_previous": spec.keep_previous,
              "previous_ids": previous}
    return Desired(decl.address, attrs, inputs, needs=[vm])


def observe(raw: Mapping[str, Any], catalog: Catalog) -> LiveObject:
    tags = tags_of(raw)
    attrs = {
        **read_attrs(ATTRS, raw),
        "os_type": raw.get("ostypename") or catalog.name_of("os_type", raw.get("ostypeid")),
        "from_vm": tags.get(FROM_VM_TAG), "revision": _revision(tags.get(REVISION_TAG)),
    }
    return LiveObject(KIND, str(raw["id"]), str(raw.get("name", "")), attrs, tags,
                      "ready" if raw.get("isready") else str(raw.get("status") or "not ready"))


def refresh(client: MoldApi, catalog: Catalog) -> list[LiveObject]:
    rows = client.list_all("listTemplates", "template", {"templatefilter": "self",
                                                          "listall": True})
    seen: dict[str, LiveObject] = {}
    for row in rows:
        seen.setdefault(str(row["id"]), observe(row, catalog))
    return list(seen.values())


def holds(live: LiveObject) -> list[str]:
    return []


def release_steps(desired: Desired | None, live: LiveObject, held: str, freed: str | None,
                  planned: list[Draft], ctx: PlanningContext) -> list[Draft]:
    return []


def tables(spec: Spec) -> list[str]:
    return []


def plan_changes(desired: Desired, live: LiveObject | None, ctx: PlanningContext
                 ) -> list[Draft]:
    vm = str(desired.attrs["from_vm"])
    if live is None:
        return [Draft(Operation.CREATE_TEMPLATE, "declared in the spec, not in Mold: made from "
                      "the VM's ROOT volume", after=desired.attrs, inputs=dict(desired.inputs),
                      needs=[vm], clean_stop=vm)]
    if live.attrs["revision"] is None:  # untagged: provenance unknown
        recorded = ctx.state_attrs(str(desired.address))
        # An untagged template adopted by name (say, made by an apply killed before it could
        # tag it) is taken to be the declared revision; state may record None for it.
        attrs = {**live.attrs, "from_vm": recorded.get("from_vm") or vm,
                 "revision": recorded.get("revision") or desired.attrs["revision"]}
        live = LiveObject(live.kind, live.id, live.name, attrs, live.tags, live.state)
    drafts = plan_generic(desired, live, ATTRS, needs=[vm])
    for draft in drafts:
        if draft.operation is Operation.REPLACE:
            draft.clean_stop, draft.new_revision = vm, True
    return drafts


# --- execution -------------------------------------------------------------------------

def execute(action: Action, ctx: ExecContext) -> Outcome:
    inputs = Inputs.model_validate(action.inputs)
    op = action.operation
    if op is Operation.CREATE_TEMPLATE:
        return Outcome(_create(action, inputs, ctx), {**(action.after or {}), "previous_ids": []})
    if op is Operation.REPLACE:
        new_id = _create(action, inputs, ctx)
        previous = [str(action.mold_id), *inputs.previous_ids]
        ctx.record(Outcome(new_id, {**(action.after or {}), "previous_ids": previous}))
        kept = _retire(action, inputs, ctx)
        return Outcome(new_id, {**(action.after or {}), "previous_ids": kept})
    if op is Operation.UPDATE:
        _update(action, inputs, ctx)
        return Outcome(action.mold_id, {**(action.after or {}),
                                        "previous_ids": inputs.previous_ids})
    if op is Operation.DELETE:
        for old in [str(action.mold_id), *inputs.previous_ids]:
            delete_job(ctx, "deleteTemplate", {"id": old}, _gone(old, ctx))
        return Outcome(removed=True)
    raise ValueError(f"template cannot {op}")  # pragma: no cover


def _create(action: Action, inputs: Inputs, ctx: ExecContext) -> str:
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
    tag_resource(ctx, RESOURCE_TYPE, template_id, action.address,
                 {REVISION_TAG: str(after["revision"]), FROM_VM_TAG: after["from_vm"]})
    ctx.progress(f"making template {template_id} from volume {volumes[0]['id']}")
    if response.get("jobid"):
        ctx.client.wait_job("createTemplate", str(response["jobid"]),
                            timeout=ctx.waits.job_timeout, resource_id=template_id)
    made = wait_image_ready(ctx, "listTemplates", "template",
                            {"templatefilter": "self", "id": template_id},
                            f"template {template_id}", lambda status: True)
    if after["featured"] and not made.get("isfeatured"):
        # Mold makes a new template featured only for a root admin owner and ignores the
        # flag otherwise (TemplateAdapterBase.prepare); the owner may set it afterwards.
        send(ctx, "updateTemplatePermissions", {"id": template_id, "isfeatured": True}, RESEND)
    return template_id


def _gone(template_id: str, ctx: ExecContext) -> Check:
    return row_state(ctx, "listTemplates", "template",
                     {"templatefilter": "self", "id": template_id}, lambda row: row is None)


def _retire(action: Action, inputs: Inputs, ctx: ExecContext) -> list[str]:
    """The replaced template joins the kept revisions; the oldest beyond keep_previous go."""
    history = [str(action.mold_id), *inputs.previous_ids]
    kept, dropped = history[:inputs.keep_previous], history[inputs.keep_previous:]
    for old in dropped:
        delete_job(ctx, "deleteTemplate", {"id": old}, _gone(old, ctx))
    return [k for k in kept if k]


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
