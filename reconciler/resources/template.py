"""Templates made from a stopped VM's ROOT volume.

Rules (ATTRS): ``name``, ``display_text``, ``os_type``, ``password_enabled``,
``dynamically_scalable``, ``requires_hvm`` change in place (updateTemplate);
``public``, ``featured`` with updateTemplatePermissions; ``from_vm`` and
``revision`` force a new template from the VM's current disk. The new one is
made before the old one is deleted, and ``keep_previous: N`` keeps the last N
revisions (VMs may still use them). ``from_vm`` and ``revision`` are read back
from the template's tags, so they survive a lost state.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictBool, StrictInt, StrictStr

from reconciler.address import Address
from reconciler.diagnostics import Diagnostics
from reconciler.errors import MoldError
from reconciler.plan import Action, Operation
from reconciler.resources.base import (
    Attr,
    Desired,
    Draft,
    ExecContext,
    LiveObject,
    OnChange,
    Outcome,
    ResourceSpec,
    tags_of,
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

KIND = "template"
SECTION = "templates"
RESOURCE_TYPE = "Template"
LIST_COMMAND = "listTemplates"
REVISION_TAG = "mwin:revision"
FROM_VM_TAG = "mwin:from-vm"


class Spec(ResourceSpec):
    """One entry of `templates:`."""

    name: StrictStr | None = Field(None, description="Name in Mold (default: the key)")
    display_text: StrictStr | None = None
    from_vm: StrictStr = Field(description="Key of the VM (in `vms:`) whose ROOT volume is used")
    os_type: StrictStr
    public: StrictBool = False
    featured: StrictBool = False
    dynamically_scalable: StrictBool = False
    requires_hvm: StrictBool = False
    password_enabled: StrictBool = False
    revision: StrictInt = Field(1, ge=1, description="Bump to make a new template from the VM")
    keep_previous: StrictInt = Field(0, ge=0, description="Older revisions to keep")


ATTRS: tuple[Attr, ...] = (
    Attr("project", OnChange.REPLACE, optional=True),
    Attr("name", OnChange.IN_PLACE, "updateTemplate"),
    Attr("display_text", OnChange.IN_PLACE, "updateTemplate"),
    Attr("os_type", OnChange.IN_PLACE, "updateTemplate"),
    Attr("password_enabled", OnChange.IN_PLACE, "updateTemplate"),
    Attr("dynamically_scalable", OnChange.IN_PLACE, "updateTemplate"),
    Attr("requires_hvm", OnChange.IN_PLACE, "updateTemplate"),
    Attr("public", OnChange.IN_PLACE, "updateTemplatePermissions"),
    Attr("featured", OnChange.IN_PLACE, "updateTemplatePermissions"),
    Attr("from_vm", OnChange.REPLACE, replace_reason="made from another VM"),
    Attr("revision", OnChange.REPLACE, replace_reason="a new revision is made from the VM's "
                                                      "current disk"),
)


def references(spec: Spec) -> list[tuple[str, Address]]:
    return [("from_vm", Address("vm", spec.from_vm))]


def validate(decl: Any, doc: Any, diags: Diagnostics) -> None:
    """Spec-level rules (no Mold needed): the source VM must be declared stopped."""
    vm_decl = doc.resources.get(Address("vm", decl.spec.from_vm))
    if vm_decl is not None and vm_decl.spec.state == "running":
        diags.error(f"the template must be made from vm.{decl.spec.from_vm}, which is declared "
                    "`state: running`; a template needs a stopped VM", decl.at("from_vm"),
                    address=str(decl.address),
                    detail=f"vm.{decl.spec.from_vm} is declared at {vm_decl.at('state')}: "
                           "declare it `state: stopped` (after sysprep) so the template can be "
                           "made")


def desired(decl: Any, ctx: Any, diags: Diagnostics) -> Desired | None:
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
    return Desired(decl.address, attrs, inputs)


def observe(raw: dict[str, Any], catalog: Any) -> LiveObject:
    tags = tags_of(raw)
    revision = tags.get(REVISION_TAG)
    attrs = {
        "project": raw.get("project"),
        "name": raw.get("name"), "display_text": raw.get("displaytext"),
        "os_type": raw.get("ostypename") or catalog.name_of("os_type", raw.get("ostypeid")),
        "public": bool(raw.get("ispublic")), "featured": bool(raw.get("isfeatured")),
        "dynamically_scalable": bool(raw.get("isdynamicallyscalable")),
        "requires_hvm": bool(raw.get("requireshvm")),
        "password_enabled": bool(raw.get("passwordenabled")),
        "from_vm": tags.get(FROM_VM_TAG),
        "revision": int(revision) if revision and revision.isdigit() else None,
    }
    return LiveObject(KIND, str(raw["id"]), str(raw.get("name", "")), attrs, tags,
                      "ready" if raw.get("isready") else str(raw.get("status") or "not ready"))


def refresh(client: Any, catalog: Any) -> list[LiveObject]:
    rows = client.list_all("listTemplates", "template", {"templatefilter": "self",
                                                          "listall": True})
    seen: dict[str, LiveObject] = {}
    for row in rows:
        seen.setdefault(str(row["id"]), observe(row, catalog))
    return list(seen.values())


def plan_changes(desired: Desired, live: LiveObject | None, ctx: Any) -> list[Draft]:
    vm = str(desired.attrs["from_vm"])
    if live is not None and live.attrs["revision"] is None:  # untagged: provenance unknown
        recorded = ctx.state_attrs(str(desired.address))
        # An untagged template adopted by name (say, made by an apply killed before it could
        # tag it) is taken to be the declared revision; state may record None for it.
        attrs = {**live.attrs, "from_vm": recorded.get("from_vm") or vm,
                 "revision": recorded.get("revision") or desired.attrs["revision"]}
        live = LiveObject(live.kind, live.id, live.name, attrs, live.tags, live.state)
    drafts = plan_generic(desired, live, ATTRS, needs=[vm])
    for draft in drafts:
        if draft.operation is Operation.CREATE:
            draft.operation = Operation.CREATE_TEMPLATE
            draft.reason = "declared in the spec, not in Mold: made from the VM's ROOT volume"
        if draft.operation in (Operation.CREATE_TEMPLATE, Operation.REPLACE):
            _check_source_vm(desired, vm, ctx)
            ctx.mark_stop_for_template(vm)
    return drafts


def _check_source_vm(desired: Desired, vm: str, ctx: Any) -> None:
    vm_desired = ctx.desired.get(vm)
    if vm_desired is not None and vm_desired.attrs.get("cdrom") not in (None,):
        ctx.warn(desired, "from_vm", f"{vm} keeps an ISO in its drive; CloudStack advises "
                 "detaching it before making a template (declare `cdrom: null`)")


# --- execution -------------------------------------------------------------------------

def execute(action: Action, ctx: ExecContext) -> Outcome:
    op = action.operation
    if op is Operation.CREATE_TEMPLATE:
        return Outcome(_create(action, ctx), {**(action.after or {}), "previous_ids": []})
    if op is Operation.REPLACE:
        new_id = _create(action, ctx)
        previous = [action.mold_id, *action.inputs.get("previous_ids", [])]
        ctx.record(Outcome(new_id, {**(action.after or {}), "previous_ids": previous}))
        kept = _retire(action, ctx)
        return Outcome(new_id, {**(action.after or {}), "previous_ids": kept})
    if op is Operation.UPDATE:
        _update(action, ctx)
        return Outcome(action.mold_id, {**(action.after or {}),
                                        "previous_ids": action.inputs.get("previous_ids", [])})
    if op is Operation.DELETE:
        for old in [action.mold_id, *action.inputs.get("previous_ids", [])]:
            delete_job(ctx, "deleteTemplate", {"id": old}, _gone(old, ctx))
        return Outcome(removed=True)
    raise ValueError(f"template cannot {op}")  # pragma: no cover


def _create(action: Action, ctx: ExecContext) -> str:
    after = action.after or {}
    vm_id = action.inputs["vm"]
    volumes = ctx.client.list_all("listVolumes", "volume", {
        "virtualmachineid": vm_id, "type": "ROOT", "listall": True})
    if not volumes:
        raise MoldError(f"{after['from_vm']} ({vm_id}) has no ROOT volume")
    response = send(ctx, "createTemplate", {
        "volumeid": volumes[0]["id"], "name": after["name"], "displaytext": after["display_text"],
        "ostypeid": action.inputs["ostypeid"], "ispublic": after["public"],
        "isfeatured": after["featured"], "isdynamicallyscalable": after["dynamically_scalable"],
        "requireshvm": after["requires_hvm"], "passwordenabled": after["password_enabled"],
    }, named(ctx, "listTemplates", "template", {"templatefilter": "self"}, after["name"],
             action.address, exclude=[action.mold_id, *action.inputs.get("previous_ids", [])]))
    template_id = str(response["id"])
    tag_resource(ctx, RESOURCE_TYPE, template_id, action.address,
                 {REVISION_TAG: str(after["revision"]), FROM_VM_TAG: after["from_vm"]})
    ctx.progress(f"making template {template_id} from volume {volumes[0]['id']}")
    if response.get("jobid"):
        ctx.client.wait_job("createTemplate", str(response["jobid"]),
                            timeout=ctx.waits.job_timeout, resource_id=template_id)
    made = _wait_ready(template_id, ctx)
    if after["featured"] and not made.get("isfeatured"):
        # Mold makes a new template featured only for a root admin owner and ignores the
        # flag otherwise (TemplateAdapterBase.prepare); the owner may set it afterwards.
        send(ctx, "updateTemplatePermissions", {"id": template_id, "isfeatured": True}, RESEND)
    return template_id


def _gone(template_id: str, ctx: ExecContext) -> Check:
    return row_state(ctx, "listTemplates", "template",
                     {"templatefilter": "self", "id": template_id}, lambda row: row is None)


def _wait_ready(template_id: str, ctx: ExecContext) -> dict[str, Any]:
    """Until every zone's row of the template is ready; returns one of its rows."""
    return wait_image_ready(ctx, "listTemplates", "template",
                            {"templatefilter": "self", "id": template_id},
                            f"template {template_id}", lambda status: True)


def _retire(action: Action, ctx: ExecContext) -> list[str]:
    """The replaced template joins the kept revisions; the oldest beyond keep_previous go."""
    keep = int(action.inputs.get("keep_previous", 0))
    history = [action.mold_id, *action.inputs.get("previous_ids", [])]
    kept, dropped = history[:keep], history[keep:]
    for old in dropped:
        delete_job(ctx, "deleteTemplate", {"id": old}, _gone(old, ctx))
    return [k for k in kept if k]


def _update(action: Action, ctx: ExecContext) -> None:
    after = action.after or {}
    commands = action.inputs.get("commands", [])
    if "updateTemplate" in commands:
        send(ctx, "updateTemplate", {
            "id": action.mold_id, "name": after["name"], "displaytext": after["display_text"],
            "ostypeid": action.inputs["ostypeid"], "passwordenabled": after["password_enabled"],
            "isdynamicallyscalable": after["dynamically_scalable"],
            "requireshvm": after["requires_hvm"]}, RESEND)
    if "updateTemplatePermissions" in commands:
        send(ctx, "updateTemplatePermissions", {
            "id": action.mold_id, "ispublic": after["public"], "isfeatured": after["featured"]},
            RESEND)
