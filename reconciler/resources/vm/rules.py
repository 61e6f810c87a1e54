"""A VM's rules: spec-level validation (no Mold data) and resolution against Mold's
catalog at plan time (names → ids, Windows 11 and capability checks).

The guide's Windows rules that Mold does not enforce live here: Windows 11 needs
UEFI + SECURE boot + TPM 2.0 and a root disk of at least 100 GB; Windows VMs take
no SSH key pair; SECURE boot needs UEFI (BIOS always boots LEGACY).
"""

from __future__ import annotations

import re
from typing import Any

from reconciler.diagnostics import Diagnostics
from reconciler.model import Address, Declared, Desired, Ref
from reconciler.resources.contract import PlanningContext, SpecView
from reconciler.resources.vm.spec import UNSET, one_or_list

__all__ = ["desired", "validate", "tpm_input", "WINDOWS_11_MIN_GB"]

WINDOWS_11_MIN_GB = 100


def _is_windows(os_type: str | None) -> bool:
    return bool(os_type) and "windows" in str(os_type).lower()


def _is_windows_11(os_type: str | None) -> bool:
    return bool(os_type) and "windows 11" in str(os_type).lower()


_UUID = re.compile(r"^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$", re.IGNORECASE)


# --- spec level (mwin validate) ------------------------------------------------------------

def validate(decl: Declared, doc: SpecView, diags: Diagnostics) -> None:
    spec = decl.spec
    address = str(decl.address)
    if (spec.install_iso is None) == (spec.template is None):
        diags.error("declare exactly one deploy source: `install_iso` or `template`", decl.pos,
                    address=address)
    if spec.install_iso is not None and spec.disk_offering is None:
        diags.error("a VM installed from an ISO needs `disk_offering` (its root disk)", decl.pos,
                    address=address, detail="Windows Server: ≥ 40 GB; Windows 11: ≥ 100 GB")
    if spec.zone is None and doc.defaults.zone is None:
        diags.error("no zone: set `zone:` here or `defaults.zone`", decl.pos, address=address)
    if spec.boot.mode == "SECURE" and spec.boot.type != "UEFI":
        diags.error("boot mode SECURE needs boot type UEFI (BIOS always boots LEGACY)",
                    decl.at("boot.mode"), address=address)
    _check_cdrom_kind(decl, doc, diags)
    _check_template_zone(decl, doc, diags)
    os_type = _spec_os_type(decl, doc)
    if os_type is not None:
        check_windows_rules(decl, os_type, diags, _inherited_boot(decl, doc))


def _check_template_zone(decl: Declared, doc: SpecView, diags: Diagnostics) -> None:
    """A VM deployed from a template this spec declares must be in a zone the template has a
    copy in: its source VM's zone or one of its `zones` (Mold refuses the deploy otherwise:
    "Template … has not been completely downloaded to zone …")."""
    key = decl.spec.template
    template = doc.resources.get(Address("template", key)) if isinstance(key, str) else None
    if template is None or template.spec.zones == "all":
        return
    source = doc.resources.get(Address("vm", template.spec.from_vm))
    home = (source.spec.zone or doc.defaults.zone) if source is not None else None
    copies = [*([home] if home else []), *(template.spec.zones or [])]
    zone = decl.spec.zone or doc.defaults.zone
    if zone is None or home is None or zone.casefold() in {z.casefold() for z in copies}:
        return
    if any(_UUID.match(z) for z in (zone, *copies)):
        return  # a zone given by id: which name it is, only Mold's catalog says
    diags.error(f"template.{key} is in zone(s) {', '.join(dict.fromkeys(copies))}, not in "
                f"{zone}, where this VM is: add {zone} to the template's `zones` (or "
                "`zones: all`)", decl.at("template"), address=str(decl.address),
                detail=f"template.{key} is declared at {template.pos}")


def _check_cdrom_kind(decl: Declared, doc: SpecView, diags: Diagnostics) -> None:
    listed = isinstance(decl.spec.cdrom, list)
    entries = decl.spec.cdrom if listed else [decl.spec.cdrom]
    if listed and len(entries) != len({str(e) for e in entries}):
        diags.error("`cdrom` lists an ISO twice", decl.at("cdrom"), address=str(decl.address))
    for i, cdrom in enumerate(entries):
        if not isinstance(cdrom, str) or Address("iso", cdrom) in doc.resources:
            continue
        others = [a for a in doc.resources if a.key == cdrom and a.kind != "iso"]
        if others:
            diags.error(f"`cdrom` must name an ISO; {cdrom!r} is a {others[0].kind}",
                        decl.at(f"cdrom.{i}" if listed else "cdrom"), address=str(decl.address))


def _spec_os_type(decl: Declared, doc: SpecView) -> str | None:
    """OS type of the deploy source when the spec itself declares it."""
    for field_name, kind in (("install_iso", "iso"), ("template", "template")):
        value = getattr(decl.spec, field_name)
        if isinstance(value, str):
            source = doc.resources.get(Address(kind, value))
            return getattr(source.spec, "os_type", None) if source else None
    return None


def _inherited_boot(decl: Declared, doc: SpecView) -> Any:
    """The boot settings a VM without `boot:` gets from a template of this spec: those of
    the template's source VM, whose details createTemplate copies into the template
    (TemplateManagerImpl.createPrivateTemplateRecord) and the deploy into the VM
    (UserVmManagerImpl.commitUserVm). None: the VM declares its own, or cannot tell."""
    if "boot" in decl.spec.model_fields_set or not isinstance(decl.spec.template, str):
        return None
    template = doc.resources.get(Address("template", decl.spec.template))
    source = doc.resources.get(Address("vm", template.spec.from_vm)) if template else None
    return source.spec.boot if source and "boot" in source.spec.model_fields_set else None


def check_windows_rules(decl: Declared, os_type: str, diags: Diagnostics,
                        inherited: Any = None) -> None:
    spec, address = decl.spec, str(decl.address)
    if _is_windows_11(os_type):
        boot = inherited or spec.boot
        if boot.type != "UEFI" or boot.mode != "SECURE" or boot.tpm != "2.0":
            diags.error(f"Windows 11 (OS type {os_type!r}) needs boot {{type: UEFI, mode: SECURE, "
                        f"tpm: \"2.0\"}}; this VM has type {boot.type}, mode {boot.mode or 'LEGACY'},"
                        f" tpm {boot.tpm}", decl.at("boot"), address=address)
    if _is_windows(os_type) and spec.ssh_key_pair:
        diags.error("SSH key pairs do not apply to Windows VMs; remove `ssh_key_pair`",
                    decl.at("ssh_key_pair"), address=address)


# --- plan level (needs Mold's catalog) -----------------------------------------------------

def desired(decl: Declared, ctx: PlanningContext, diags: Diagnostics) -> Desired | None:
    spec = decl.spec
    address = str(decl.address)
    errors_before = len(diags.errors)
    attrs: dict[str, Any] = {"name": spec.name or decl.address.key}
    attrs["display_name"] = spec.display_name or attrs["name"]
    inputs: dict[str, Any] = {"name": attrs["name"], "displayname": attrs["display_name"]}
    found = Desired(decl.address, attrs, inputs)
    zone = ctx.catalog.resolve("zone", spec.zone or ctx.defaults.zone or "", decl.at("zone"),
                               diags, address)
    attrs["zone"], inputs["zoneid"] = (zone.name, zone.id) if zone else (None, None)
    _placement(decl, ctx, diags, attrs, inputs)
    os_type = _source(decl, ctx, diags, found)
    attrs["hypervisor"] = inputs["hypervisor"] = spec.hypervisor or ctx.defaults.hypervisor
    _offerings(decl, ctx, diags, attrs, inputs, os_type)
    _networks(decl, ctx, diags, found)
    _boot(decl, ctx, diags, attrs, inputs)
    _cdrom(decl, ctx, diags, found)
    attrs.update(group=spec.group, keyboard=spec.keyboard, state=spec.state,
                 root_disk_controller=spec.root_disk_controller,
                 snapshots=sorted(set(spec.snapshots)))
    inputs.update(group=spec.group, keyboard=spec.keyboard, keypair=spec.ssh_key_pair)
    if spec.root_disk_controller:
        inputs["details"] = [{"rootDiskController": spec.root_disk_controller}]
    if os_type is not None and not isinstance(getattr(spec, "install_iso", None), str) \
            and not isinstance(spec.template, str) \
            and not (spec.template is not None and "boot" not in spec.model_fields_set):
        # sources outside the spec: now known; a template's boot settings, which a VM
        # without `boot:` takes (its details), are the template's business
        check_windows_rules(decl, os_type, diags)
    if len(diags.errors) > errors_before:
        return None
    return found


def _placement(decl: Declared, ctx: PlanningContext, diags: Diagnostics, attrs: dict[str, Any],
               inputs: dict[str, Any]) -> None:
    for field_name, param in (("pod", "podid"), ("cluster", "clusterid"), ("host", "hostid")):
        value = getattr(decl.spec, field_name)
        attrs[field_name] = None
        if value is None:
            continue
        entry = ctx.catalog.resolve(field_name, value, decl.at(field_name), diags, str(decl.address))
        if entry:
            attrs[field_name], inputs[param] = entry.name, entry.id


def _image(ctx: PlanningContext, kind: str, value: Any, decl: Declared, field_name: str, diags: Diagnostics
           ) -> tuple[str | None, Any, str | None, list[str]]:
    """(name, id or {"$ref"}, OS type name, needed addresses) of an ISO or template."""
    if isinstance(value, str):
        target = ctx.declared[Address(kind, value)]
        name = target.spec.name or value
        os_name = getattr(target.spec, "os_type", None)
        entry = ctx.catalog.find("os_type", os_name) if os_name else None
        os_name = entry.name if entry else os_name
        if kind == "iso" and not getattr(target.spec, "bootable", True):
            os_name = "None"
        return name, {"$ref": str(target.address)}, os_name, [str(target.address)]
    ref: Ref = value
    found = [o for o in ctx.live.of_kind(kind)
             if (ref.id and o.id == ref.id) or (ref.name and o.name == ref.name)]
    if len(found) != 1:
        names = sorted({o.name for o in ctx.live.of_kind(kind)})
        what = f"id {ref.id}" if ref.id else f"name {ref.name!r}"
        diags.error(f"`{field_name}`: {'no' if not found else 'more than one'} {kind} with {what} "
                    "in Mold", decl.at(field_name), address=str(decl.address),
                    detail=f"{kind}s visible to this account: {', '.join(names) or '(none)'}")
        return None, None, None, []
    return found[0].name, found[0].id, found[0].attrs.get("os_type"), []


def _source(decl: Declared, ctx: PlanningContext, diags: Diagnostics, found: Desired) -> str | None:
    """The deploy source: ``install_iso``/``template`` keep the spec's words (the key of a
    declared image, or the name/id of one in Mold), compared with what state recorded at
    deploy; the image's Mold name is what the VM answer shows."""
    spec = decl.spec
    kind, value, field_name = (("iso", spec.install_iso, "install_iso") if spec.install_iso
                               is not None else ("template", spec.template, "template"))
    name, ident, os_type, needs = _image(ctx, kind, value, decl, field_name, diags)
    found.attrs["install_iso"] = _spoken(spec.install_iso)
    found.attrs["template"] = _spoken(spec.template)
    found.private.update(source_name=name, install_iso_name=name if kind == "iso" else None)
    target = ctx.declared.get(Address(kind, value)) if isinstance(value, str) else None
    build = getattr(target.spec, "build", None) if target is not None else None
    if kind == "iso" and build is not None:  # unattended media: Setup runs by itself
        found.private["unattended"] = {"first_boot": build.first_boot}
    found.inputs.update(templateid=ident, source_kind=kind)
    found.needs += needs
    return os_type


def _spoken(value: Any) -> str | None:
    """A reference as the spec writes it: a key, or the name (else id) of a Mold object."""
    if value is None or isinstance(value, str):
        return value
    ref: Ref = value
    return ref.name or ref.id


def _offerings(decl: Declared, ctx: PlanningContext, diags: Diagnostics, attrs: dict[str, Any],
               inputs: dict[str, Any], os_type: str | None) -> None:
    spec, address = decl.spec, str(decl.address)
    compute = ctx.catalog.resolve("service_offering", spec.compute_offering,
                                  decl.at("compute_offering"), diags, address)
    attrs["compute_offering"] = compute.name if compute else None
    inputs["serviceofferingid"] = compute.id if compute else None
    attrs["disk_offering"], attrs["disk_size"] = None, spec.disk_size
    if spec.disk_offering is None:
        return
    disk = ctx.catalog.resolve("disk_offering", spec.disk_offering, decl.at("disk_offering"),
                               diags, address)
    if disk is None:
        return
    attrs["disk_offering"], inputs["diskofferingid"] = disk.name, disk.id
    custom = bool(disk.raw.get("iscustomized"))
    if custom and spec.disk_size is None:
        diags.error(f"disk offering {disk.name!r} is custom-sized: set `disk_size` (GB)",
                    decl.at("disk_offering"), address=address)
    elif not custom and spec.disk_size is not None:
        diags.error(f"`disk_size` only applies to a custom disk offering; {disk.name!r} is "
                    f"{disk.raw.get('disksize')} GB", decl.at("disk_size"), address=address)
    size = spec.disk_size if custom else int(disk.raw.get("disksize") or 0)
    inputs["size"] = spec.disk_size if custom else None
    attrs["disk_size"] = size if custom else None
    if _is_windows_11(os_type) and size is not None and size < WINDOWS_11_MIN_GB:
        diags.error(f"Windows 11 needs a root disk of at least {WINDOWS_11_MIN_GB} GB; "
                    f"disk offering {disk.name!r} gives {size} GB",
                    decl.at("disk_size" if custom else "disk_offering"), address=address)


def _networks(decl: Declared, ctx: PlanningContext, diags: Diagnostics, found: Desired) -> None:
    names, ids = [], []
    for i, value in enumerate(decl.spec.networks):
        name, ident, _os, needs = _image(ctx, "network", value, decl, f"networks.{i}", diags)
        names.append(name)
        ids.append(ident)
        found.needs += needs
    found.attrs["networks"], found.inputs["networkids"] = names, ids
    found.private["network_ids"] = dict(zip(names, ids, strict=True))


def _boot(decl: Declared, ctx: PlanningContext, diags: Diagnostics, attrs: dict[str, Any],
          inputs: dict[str, Any]) -> None:
    """Boot settings are sent only as declared. Without `boot:` Mold takes them from the
    deploy source (UserVmManagerImpl.commitUserVm copies a template's details, UEFI
    included; an explicit BIOS would drop a UEFI template's firmware), so they are then not
    compared either. BIOS always goes with LEGACY (Mold dereferences bootmode)."""
    boot = decl.spec.boot
    declared = "boot" in decl.spec.model_fields_set
    tpm_declared = declared and "tpm" in boot.model_fields_set
    mode = boot.mode or "LEGACY"
    attrs.update({"boot.type": boot.type if declared else None,
                  "boot.mode": mode if declared else None,
                  "boot.tpm": boot.tpm if tpm_declared else None})
    if declared:
        inputs.update(boottype=boot.type, bootmode=mode)


def _cdrom(decl: Declared, ctx: PlanningContext, diags: Diagnostics, found: Desired) -> None:
    spec = decl.spec
    if "cdrom" not in spec.model_fields_set:
        found.attrs["cdrom"] = UNSET
        return
    listed = isinstance(spec.cdrom, list)
    names, ids, needs = [], {}, {}
    for i, value in enumerate(spec.cdrom if listed else [] if spec.cdrom is None else [spec.cdrom]):
        name, ident, _os, need = _image(ctx, "iso", value, decl,
                                        f"cdrom.{i}" if listed else "cdrom", diags)
        names.append(str(name))
        ids[str(name)], needs[str(name)] = ident, need
    found.attrs["cdrom"] = one_or_list(names)
    found.private.update(cdrom_ids=ids, cdrom_needs=needs)


def tpm_input(desired: Desired, ctx: PlanningContext) -> str | None:
    """``tpmversion`` for a deploy about to be planned: V2_0 or NONE as declared, None when
    not declared. Mold parses it as ApiConstants.TpmVersion (V2_0, V1_2, TPM, NONE; only V1_2
    and V2_0 give a TPM). Whether this Mold has the parameter is read from listApis only now,
    when a deploy is planned (upstream CloudStack has none): not offered and TPM declared is
    an error at `boot.tpm`."""
    want = desired.attrs.get("boot.tpm")
    if want is None:
        return None
    if not ctx.catalog.api_known("deployVirtualMachine"):
        return "V2_0" if want == "2.0" else "NONE"  # planned again once listApis is read
    if "tpmversion" in (ctx.catalog.api_params("deployVirtualMachine") or ()):
        return "V2_0" if want == "2.0" else "NONE"
    if want == "2.0":
        ctx.error_at(desired.address, "boot.tpm",
                     "this Mold does not offer TPM: deployVirtualMachine has no `tpmversion` "
                     "parameter (Mold since Cerato has it; upstream CloudStack does not)")
    return None
