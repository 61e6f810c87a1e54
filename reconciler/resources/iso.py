"""ISOs: the Windows installer and the VirtIO driver disc, registered by URL or uploaded
from a local file (``file:``, relative to the spec file; getUploadParamsForIso, then the
file streamed to the post URL Mold hands out).

Rules (ATTRS): ``url``, ``zone``, ``checksum`` and ``project`` are registration-only and
force a replacement: the new ISO is registered first (so an image is never missing), and the
old one is deleted by an action of its own once no VM holds it in a drive; ``name``,
``display_text``, ``os_type``, ``bootable`` change with updateIso; ``public``, ``featured``,
``extractable`` with updateIsoPermissions. A non-bootable ISO is registered with the OS type
"None" (TemplateAdapterBase.prepare); one made non-bootable later keeps its OS type, which is
then not compared: updateIso never resets it, and setting it would give every VM deployed
from the ISO that OS type too (TemplateManagerImpl.updateTemplateOrIso). registerIso makes an ISO featured only for a root-admin owner
(TemplateAdapterBase.prepare); the owner may feature it afterwards, so mwin does.

An uploaded ISO is known by the sha256 of its file (tag ``mwin:sha256``, recorded in state
too): another file is a replacement, uploaded before the old ISO is deleted. With
``sha256:`` declared beside ``file:`` a plan needs no file (a CI runner planning a pull
request); apply then checks the file against it.

Built media (``build:``, reconciler.resources.isobuild): a Windows ISO remastered for an
unattended install, known by the identity of its inputs (tag ``mwin:media``), built at apply
and uploaded like a ``file:``; retired once the templates made with it exist.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, StrictBool, StrictStr

from reconciler.diagnostics import Diagnostics
from reconciler.errors import MoldError, MwinError, TransportError
from reconciler.media.spec import BuildSpec
from reconciler.model import (
    Address,
    Catalog,
    Declared,
    Desired,
    Draft,
    LiveObject,
    Outcome,
    ResourceSpec,
    holder_of,
    tags_of,
)
from reconciler.mold.api import MoldApi
from reconciler.mold.upload import UploadTicket
from reconciler.plan import Action, Operation
from reconciler.resources.base import (
    ActionInputs,
    Attr,
    ExecContext,
    OnChange,
    api_params,
    as_bool,
    casefold_equal,
    read_attrs,
)
from reconciler.resources.common import (
    FORCED_REASON,
    RESEND,
    Check,
    delete_image,
    delete_job,
    is_image_progress,
    leftover_delete,
    named,
    plan_generic,
    row_state,
    send,
    tag_resource,
    wait_image_ready,
)
from reconciler.resources.contract import PlanningContext, SpecView
from reconciler.resources.focus import Focus, focused_rows
from reconciler.resources.isobuild import (
    MEDIA_TAG,
    build_for_upload,
    installed_from,
    is_retired,
    recipe_for,
    retire_step,
    summary,
    validate_build,
)

KIND = "iso"
SECTION = "isos"
RESOURCE_TYPE = "ISO"
LIST_COMMAND = "listIsos"
# the catalog tables its desired state and observe resolve names in (live.refresh reads only those)
CATALOG = ("zone", "os_type")
ALL_ZONES = "all"


class Spec(ResourceSpec):
    """One entry of `isos:`."""

    model_config = ConfigDict(json_schema_extra={  # exactly one source, for editors too
        "oneOf": [{"required": ["url"]}, {"required": ["file"]}, {"required": ["build"]}]})

    name: StrictStr | None = Field(None, description="Name in Mold (default: the key)")
    display_text: StrictStr | None = Field(None, description="Description (default: the name)")
    url: StrictStr | None = Field(None, description="http(s) URL Mold downloads the .iso "
                                                    "file from (or `file:`)")
    file: StrictStr | None = Field(None, description="A local .iso file to upload, relative "
                                                     "to the spec file (or `url:`)")
    sha256: StrictStr | None = Field(None, pattern="^[0-9a-fA-F]{64}$",
                                     description="sha256 of `file` (then a plan needs no "
                                                 "file; apply checks it)")
    zone: StrictStr | None = Field(None, description="Zone name or id, or 'all' for every zone")
    os_type: StrictStr | None = Field(None, description="OS type name or id (bootable ISOs)")
    bootable: StrictBool = Field(True, description="Can a VM boot from it (the installer: "
                                                   "yes; drivers: no)")
    public: StrictBool = Field(False, description="Visible to every account")
    featured: StrictBool = Field(False, description="Listed as featured")
    extractable: StrictBool = Field(False, description="May be downloaded from Mold")
    checksum: StrictStr | None = Field(None, description="{ALGO}hex checksum of the file")
    build: BuildSpec | None = Field(None, description="Unattended Windows install media built "
                                                      "by mwin from a Windows ISO and the "
                                                      "VirtIO drivers (or `url:`/`file:`; "
                                                      "docs/unattended.md)")


def _bootable(value: Any) -> bool:
    return True if value is None else bool(value)


def _checksum(value: Any) -> Any:
    return value or None


SHA256_TAG = "mwin:sha256"
ISO9660_MAGIC_AT = 32769  # "CD001": the primary volume descriptor of an ISO 9660 image


ATTRS: tuple[Attr, ...] = (
    Attr("project", OnChange.REPLACE, optional=True, field="project"),
    Attr("name", OnChange.IN_PLACE, "updateIso", param="name", field="name"),
    Attr("display_text", OnChange.IN_PLACE, "updateIso", param="displaytext",
         field="displaytext"),
    Attr("url", OnChange.REPLACE, param="url", field="url", optional=True,
         replace_reason="Mold cannot change an ISO's URL"),
    Attr("sha256", OnChange.REPLACE, optional=True,  # a tag on uploaded ISOs
         replace_reason="another file is uploaded as a new ISO"),
    Attr("build", OnChange.REPLACE, optional=True,  # built media's identity (a tag)
         replace_reason="other inputs: new media are built and uploaded"),
    Attr("zone", OnChange.REPLACE, equal=casefold_equal),  # zoneid in inputs
    Attr("os_type", OnChange.IN_PLACE, "updateIso"),  # ostypeid in inputs
    Attr("bootable", OnChange.IN_PLACE, "updateIso", param="bootable", field="bootable",
         read=_bootable),
    Attr("public", OnChange.IN_PLACE, "updateIsoPermissions", param="ispublic",
         field="ispublic", read=as_bool),
    Attr("featured", OnChange.IN_PLACE, "updateIsoPermissions", param="isfeatured",
         field="isfeatured", read=as_bool),
    Attr("extractable", OnChange.IN_PLACE, "updateIsoPermissions", param="isextractable",
         field="isextractable", read=as_bool),
    Attr("checksum", OnChange.REPLACE, optional=True, equal=casefold_equal, param="checksum",
         field="checksum", read=_checksum),
)


class Inputs(ActionInputs):
    zoneid: str | None = None  # "-1": every zone
    ostypeid: str | None = None
    file: str | None = None  # absolute path of the file to upload
    build: dict[str, Any] | None = None  # the recipe of built media (reconciler.media.Recipe)


def references(spec: Spec) -> list[tuple[str, Address]]:
    return []


def validate(decl: Declared, doc: SpecView, diags: Diagnostics) -> None:
    """Spec-level rules (no Mold needed), a local file's among them."""
    spec: Spec = decl.spec
    if [spec.url, spec.file, spec.build].count(None) != 2:
        diags.error("declare exactly one source: `url` (Mold downloads it), `file` (mwin "
                    "uploads it) or `build` (mwin builds unattended media and uploads them)",
                    decl.pos, address=str(decl.address))
    if spec.build is not None:
        validate_build(decl, doc, diags)
    if spec.url is not None:
        problem = url_problem(spec.url)
        if problem:
            diags.error(f"`url`: {spec.url!r} {problem}", decl.at("url"),
                        address=str(decl.address))
    if spec.sha256 is not None and spec.file is None:
        diags.error("`sha256` goes with `file`", decl.at("sha256"), address=str(decl.address))
    if spec.file is not None:
        problem = file_problem(local_path(decl), spec.sha256 is not None)
        if problem:
            diags.error(problem, decl.at("file"), address=str(decl.address))
    if decl.spec.zone is None and doc.defaults.zone is None:
        diags.error("no zone: set `zone:` here or `defaults.zone`", decl.pos,
                    address=str(decl.address))
    if decl.spec.bootable and decl.spec.os_type is None:
        diags.error("a bootable ISO needs `os_type` (e.g. \"Windows PV\")", decl.pos,
                    address=str(decl.address))


# what Mold's registerIso takes (UriUtils.validateUrl with the ISO format, from
# HypervisorTemplateAdapter.prepare): http(s), a host that is not loopback, link-local, "any"
# or multicast, a path ending in an ISO extension (checkFormat); else 431 at apply
ISO_PATH = re.compile(r"\.(iso|iso\.gz|iso\.bz2|iso\.zip|metalink)$", re.IGNORECASE)


def url_problem(url: str) -> str | None:
    """Why Mold would refuse ``url`` for registerIso (None: it would take it, as far as can
    be told without resolving the host)."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - parsing the port raises for one that is not a number
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return "is not an http(s) URL: Mold downloads ISOs over http or https only"
    host = parts.hostname
    if not host:
        return "has no host"
    if host == "localhost" or _local_ip(host):
        return ("names a loopback, link-local or multicast host, which Mold refuses (\"Illegal "
                "host specified in url\"): give an address Mold's storage can reach")
    if not ISO_PATH.search(parts.path):
        return ("does not end in .iso (or .iso.gz, .iso.bz2, .iso.zip, .metalink), which Mold "
                "requires of an ISO's URL")
    return None


def _local_ip(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast


def local_path(decl: Declared) -> Path:
    """``file:`` of the declaration, relative to the spec file that declares it."""
    return (Path(decl.pos.file).parent / str(decl.spec.file)).resolve()


def file_problem(path: Path, sha256_declared: bool) -> str | None:
    """Why ``path`` cannot be uploaded as an ISO (None: it can, or it is absent and its sha256
    is declared, so only apply needs it)."""
    if not path.exists():
        return None if sha256_declared else (
            f"`file`: {path} does not exist (declare `sha256:` beside it to plan without the "
            "file)")
    if path.is_dir():
        return f"`file`: {path} is a directory, not an ISO image"
    try:
        with path.open("rb") as handle:
            handle.seek(ISO9660_MAGIC_AT)
            magic = handle.read(5)
    except OSError as exc:
        return f"`file`: {path} cannot be read ({exc.strerror or exc})"
    if magic != b"CD001":
        return (f"`file`: {path} is not an ISO 9660 image (no CD001 volume descriptor at byte "
                f"{ISO9660_MAGIC_AT})")
    return None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def desired(decl: Declared, ctx: PlanningContext, diags: Diagnostics) -> Desired | None:
    spec: Spec = decl.spec
    address = str(decl.address)
    name = spec.name or decl.address.key
    attrs: dict[str, Any] = {
        "name": name, "display_text": spec.display_text or name, "url": spec.url,
        "bootable": spec.bootable, "public": spec.public, "featured": spec.featured,
        "extractable": spec.extractable, "checksum": spec.checksum, "os_type": "None"}
    inputs: dict[str, Any] = {}
    if spec.file is not None:
        path = local_path(decl)
        attrs["file"] = str(spec.file)
        attrs["sha256"] = (spec.sha256 or file_sha256(path)).lower()
        attrs["size"] = path.stat().st_size if path.exists() else None
        inputs["file"] = str(path)
    if spec.build is not None and not _built(decl, ctx, diags, attrs, inputs):
        return None
    found = True  # every problem is reported, not only the first
    zone_value = str(spec.zone or ctx.defaults.zone)  # validate: one of them is set
    if zone_value.lower() == ALL_ZONES:
        attrs["zone"], inputs["zoneid"] = ALL_ZONES, "-1"
    elif zone := ctx.catalog.resolve("zone", zone_value, decl.at("zone"), diags, address):
        attrs["zone"], inputs["zoneid"] = zone.name, zone.id
    else:
        found = False
    if spec.bootable:
        os_type = ctx.catalog.resolve("os_type", str(spec.os_type), decl.at("os_type"), diags,
                                      address)
        if os_type is None:
            return None
        attrs["os_type"], inputs["ostypeid"] = os_type.name, os_type.id
    return Desired(decl.address, attrs, inputs) if found else None


def _built(decl: Declared, ctx: PlanningContext, diags: Diagnostics, attrs: dict[str, Any],
           inputs: dict[str, Any]) -> bool:
    """Built media: their identity and recipe (nothing is built or downloaded here)."""
    try:
        recipe = recipe_for(decl, ctx.declared)
    except MwinError as exc:
        diags.error(str(exc), decl.at("build"), address=str(decl.address))
        return False
    attrs.update(build=recipe.identity(), built_from=summary(recipe), public=False,
                 extractable=False)
    inputs["build"] = recipe.model_dump(mode="json")
    return True


def observe(raw: Mapping[str, Any], catalog: Catalog) -> LiveObject:
    """One ISO from its first listIsos row; ``rows`` holds all of them (a cross-zone ISO has
    one per zone)."""
    rows = raw.get("rows") or [raw]
    zone = ALL_ZONES if raw.get("crossZones") else raw.get("zonename") or catalog.name_of(
        "zone", raw.get("zoneid"))
    os_type = raw.get("ostypename") or catalog.name_of("os_type", raw.get("ostypeid"))
    tags = tags_of(raw)
    attrs = {**read_attrs(ATTRS, raw), "zone": zone, "os_type": os_type,
             "sha256": tags.get(SHA256_TAG), "build": tags.get(MEDIA_TAG)}
    ready = all(r.get("isready") for r in rows)
    return LiveObject(KIND, str(raw["id"]), str(raw.get("name", "")), attrs, tags,
                      "ready" if ready else str(raw.get("status") or "not ready"),
                      holder=holder_of(raw))


def refresh(client: MoldApi, catalog: Catalog, focus: Focus | None = None) -> list[LiveObject]:
    """This account's ISOs (``focus``: those the plan needs, resources.focus), a row per zone."""
    rows = focused_rows(client, focus, "listIsos", "iso", {"isofilter": "self", "listall": True})
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(str(row["id"]), []).append(row)
    return [observe({**group[0], "rows": group}, catalog) for group in grouped.values()]


def holds(live: LiveObject) -> list[str]:
    return []


def release_steps(desired: Desired | None, live: LiveObject, held: str, freed: str | None,
                  planned: list[Draft], ctx: PlanningContext) -> list[Draft]:
    return []


def tables(spec: Spec) -> list[str]:
    return []


def plan_changes(desired: Desired, live: LiveObject | None, ctx: PlanningContext
                 ) -> list[Draft]:
    if live is not None and not desired.attrs["bootable"]:  # whatever Mold kept (module doc)
        desired.attrs["os_type"] = live.attrs.get("os_type")
    if desired.attrs.get("build"):
        return _plan_built(desired, live, ctx)
    if live is not None and live.attrs.get("sha256") and live.state != "ready" \
            and desired.attrs.get("sha256"):
        # an upload an interrupted apply began: nothing will finish it
        return [Draft(Operation.REPLACE, f"its upload did not finish ({live.state}): upload "
                      "the file again", before=dict(live.attrs), after=desired.attrs,
                      inputs=dict(desired.inputs)),
                _retire(live)]
    if live is not None and live.state != "ready" and not is_image_progress(live.state or ""):
        # Mold keeps an ISO whose download failed, never ready, and no VM can hold it (an ISO
        # is attached once ready): deleted first, so that a download that fails again leaves
        # one broken ISO, not one more each apply
        return [_retire(live, "its download failed in Mold"),
                Draft(Operation.REPLACE, f"its download failed in Mold ({live.state}): "
                      "register it again", before=dict(live.attrs), after=desired.attrs,
                      inputs=dict(desired.inputs), broken=True)]
    drafts = plan_generic(desired, live, ATTRS)
    for draft in drafts:
        if draft.operation is Operation.CREATE and desired.attrs.get("sha256"):
            draft.reason = (f"upload {desired.attrs['file']} ({_size(desired.attrs.get('size'))}"
                            f"sha256 {desired.attrs['sha256'][:12]}…)")
    if live is None or not any(d.operation is Operation.REPLACE for d in drafts):
        return drafts
    return [*drafts, _retire(live)]


def _plan_built(desired: Desired, live: LiveObject | None, ctx: PlanningContext
                ) -> list[Draft]:
    """Built media: made unless state says these very media were retired; replaced when
    their inputs changed (or an upload did not finish); retired after their templates."""
    spec: Spec = ctx.declared[desired.address].spec
    address = str(desired.address)
    recorded = ctx.state_attrs(address)
    if live is None and recorded.get("retired") and (
            is_retired(recorded, desired.attrs["build"]) or _all_installed(desired, ctx)):
        if not is_retired(recorded, desired.attrs["build"]):
            ctx.warn(desired, "build", "the media's inputs changed, but every VM installed "
                     "from it exists (a VM's install source is deploy-only): nothing is "
                     f"built. To install again: `mwin state rm {address}` and `--replace` "
                     "the VM")
        return []
    reason = (f"build unattended media from {desired.attrs['built_from']} and upload them "
              f"(media {desired.attrs['build'][:12]}…)")
    if live is not None and live.state != "ready" and live.attrs.get("build"):
        drafts = [Draft(Operation.REPLACE, f"its upload did not finish ({live.state}): build "
                        "and upload the media again", before=dict(live.attrs),
                        after=desired.attrs, inputs=dict(desired.inputs)), _retire(live)]
    else:
        drafts = plan_generic(desired, live, ATTRS)
        if drafts and drafts[0].operation is Operation.CREATE:
            drafts[0].reason = reason
        if live is not None and any(d.operation is Operation.REPLACE for d in drafts):
            drafts.append(_retire(live))
    assert spec.build is not None
    after = dict(drafts[0].after or desired.attrs) if drafts else dict(live.attrs if live
                                                                       else desired.attrs)
    return [*drafts, *retire_step(desired.address, spec.build, live if not drafts else None,
                                  ctx, after)]


def _all_installed(desired: Desired, ctx: PlanningContext) -> bool:
    """Every VM of the spec that installs from these media exists in Mold (this state's)."""
    made = {o.address_tag for o in ctx.live.of_kind("vm") if o.owner_tag == ctx.owner}
    return all(str(vm.address) in made for vm in installed_from(desired.address.key,
                                                                 ctx.declared))


def _retire(live: LiveObject, why: str | None = None) -> Draft:
    """After a replacement's registration, the old ISO's deletion: a step of its own, so the
    VMs holding the old ISO can eject it in between (and insert the new one afterwards)."""
    return leftover_delete(live, f"delete ISO {live.id}: {why}" if why else
                           f"delete the replaced ISO {live.id} (once no VM holds it in a drive)")


def forced_replace(desired: Desired, live: LiveObject, ctx: PlanningContext) -> list[Draft]:
    """``--replace``: registered anew, then the replaced ISO deleted, as in any replacement."""
    return [Draft(Operation.REPLACE, FORCED_REASON, before=dict(live.attrs), after=desired.attrs,
                  inputs=dict(desired.inputs), needs=list(desired.needs)), _retire(live)]


def _size(size: int | None) -> str:
    if size is None:
        return ""
    units = ("bytes", "KiB", "MiB", "GiB", "TiB")
    value, unit = float(size), 0
    while value >= 1024 and unit < len(units) - 1:
        value, unit = value / 1024, unit + 1
    return f"{value:.0f} {units[unit]}, " if unit == 0 else f"{value:.1f} {units[unit]}, "


# --- execution -------------------------------------------------------------------------

def execute(action: Action, ctx: ExecContext) -> Outcome:
    inputs = Inputs.model_validate(action.inputs)
    op = action.operation
    if op in (Operation.CREATE, Operation.REPLACE):  # a replaced ISO goes in its own DELETE
        return _register(action, inputs, ctx)
    if op is Operation.UPDATE:
        _update(action, inputs, ctx)
        return Outcome(action.mold_id, action.after)
    if op is Operation.DELETE:
        _delete(str(action.mold_id), ctx)
        return Outcome(removed=True)
    if op is Operation.RETIRE:  # state keeps the id: these media were used, not lost
        _delete(str(action.mold_id), ctx)
        return Outcome(action.mold_id, action.after)
    raise ValueError(f"iso cannot {op}")  # pragma: no cover - the planner never emits it


def _delete(iso_id: str, ctx: ExecContext) -> None:
    delete_image(ctx, "deleteIso", "listIsos", "iso", {"isofilter": "self", "id": iso_id},
                 f"ISO {iso_id}", _gone(iso_id, ctx))


def _register(action: Action, inputs: Inputs, ctx: ExecContext) -> Outcome:
    if inputs.build is not None:
        return _upload_built(action, inputs, ctx)
    if inputs.file is not None:
        return _upload(action, inputs, ctx)
    after = action.after or {}
    params = {**api_params(ATTRS, after), "zoneid": inputs.zoneid,
              "ostypeid": inputs.ostypeid if after["bootable"] else None}
    # A lost answer is looked for by name. zoneid=-1 ("all zones") cannot filter a list: Mold
    # takes it as zone id -1 and lists nothing (QueryManagerImpl.templateChecks).
    lookup = {"isofilter": "self", "name": after["name"]}
    if inputs.zoneid != "-1":
        lookup["zoneid"] = str(inputs.zoneid)
    result = send(ctx, "registerIso", params,
                  named(ctx, "listIsos", "iso", lookup, after["name"], action.address,
                        exclude=[action.mold_id]))
    iso_id = str(result["id"] if result.get("_found") else result["iso"][0]["id"])
    # in state before its tags and the wait: a tagging that fails, or a download that never
    # ends, leaves an ISO state knows (the next plan tags it, waits for it or replaces it)
    ctx.record(Outcome(iso_id, after))
    ctx.progress(f"registered as {iso_id}; tagging it {action.address}")
    tag_resource(ctx, RESOURCE_TYPE, iso_id, action.address)
    registered = {} if result.get("_found") else result["iso"][0]
    if after["featured"] and not registered.get("isfeatured"):
        send(ctx, "updateIsoPermissions", {"id": iso_id, "isfeatured": True}, RESEND)
    wait_image_ready(ctx, "listIsos", "iso", {"isofilter": "self", "id": iso_id},
                     f"ISO {iso_id} download", is_image_progress)
    return Outcome(iso_id, after)


UPLOAD_ATTEMPTS = 3  # a broken upload starts again from the first byte, with the same ticket


def _upload(action: Action, inputs: Inputs, ctx: ExecContext) -> Outcome:
    """getUploadParamsForIso, then the file streamed to the post URL, then Mold's upload
    states until it is ready. A ticket that expired, or an upload Mold refused, is abandoned:
    its ISO (tagged, never ready) is deleted, never left behind."""
    after = action.after or {}
    path = Path(str(inputs.file))
    problem = file_problem(path, sha256_declared=False)
    if problem:
        raise MwinError(f"{action.address}: {problem}")
    actual = file_sha256(path)
    if actual != after.get("sha256"):
        raise MwinError(f"{action.address}: {path} has sha256 {actual}, the plan expected "
                        f"{after.get('sha256')}: the file is not the one planned; run `mwin plan`")
    _delete_abandoned(action, ctx)
    ticket = _ticket(action, inputs, ctx)
    tag_resource(ctx, RESOURCE_TYPE, ticket.id, action.address, {SHA256_TAG: actual})
    try:
        _post(action, ctx, ticket, path)
    except MoldError:
        delete_job(ctx, "deleteIso", {"id": ticket.id}, _gone(ticket.id, ctx))
        raise
    if after["featured"]:
        send(ctx, "updateIsoPermissions", {"id": ticket.id, "isfeatured": True}, RESEND)
    wait_image_ready(ctx, "listIsos", "iso", {"isofilter": "self", "id": ticket.id},
                     f"ISO {ticket.id} upload", is_image_progress)
    return Outcome(ticket.id, after)


def _upload_built(action: Action, inputs: Inputs, ctx: ExecContext) -> Outcome:
    """Build the media into a private file, upload it as a ``file:`` is, delete the file
    (it holds the password)."""
    assert inputs.build is not None
    path = build_for_upload(inputs.build, ctx.progress)
    try:
        actual = file_sha256(path)
        _delete_abandoned(action, ctx)
        ticket = _ticket(action, inputs, ctx)
        tag_resource(ctx, RESOURCE_TYPE, ticket.id, action.address,
                     {SHA256_TAG: actual, MEDIA_TAG: str((action.after or {})["build"])})
        try:
            _post(action, ctx, ticket, path)
        except MoldError:
            delete_job(ctx, "deleteIso", {"id": ticket.id}, _gone(ticket.id, ctx))
            raise
    finally:
        path.unlink(missing_ok=True)
    wait_image_ready(ctx, "listIsos", "iso", {"isofilter": "self", "id": ticket.id},
                     f"ISO {ticket.id} upload", is_image_progress)
    return Outcome(ticket.id, action.after)


def _ticket(action: Action, inputs: Inputs, ctx: ExecContext) -> UploadTicket:
    after = action.after or {}
    params = {**api_params(ATTRS, after), "url": None, "zoneid": inputs.zoneid,
              "ostypeid": inputs.ostypeid if after["bootable"] else None, "format": "ISO"}
    # Each request makes a new ISO. One whose answer was lost has a ticket mwin never saw:
    # it is found by name (untagged, never uploaded), deleted, and the request sent again.
    lookup = {"isofilter": "self", "name": after["name"]}
    if inputs.zoneid != "-1":
        lookup["zoneid"] = str(inputs.zoneid)
    lost = named(ctx, "listIsos", "iso", lookup, after["name"], action.address,
                 exclude=[action.mold_id])
    answer = send(ctx, "getUploadParamsForIso", params, lost)
    if answer.get("_found"):
        ctx.progress(f"deleting {answer['id']}: made for an upload whose answer was lost")
        delete_job(ctx, "deleteIso", {"id": answer["id"]}, _gone(str(answer["id"]), ctx))
        answer = dict(ctx.client.call("getUploadParamsForIso", params))
    body = answer.get("getuploadparams", answer)
    try:
        return UploadTicket(str(body["id"]), str(body["postURL"]), str(body["metadata"]),
                            str(body["signature"]), str(body["expires"]))
    except KeyError as missing:
        raise MoldError(f"getUploadParamsForIso answered without {missing}") from None


def _post(action: Action, ctx: ExecContext, ticket: UploadTicket, path: Path) -> None:
    last = [-1.0]
    started = ctx.waits.clock.now()

    def progress(sent: int, total: int) -> None:
        now = ctx.waits.clock.now()
        if sent == total or now - last[0] >= 1.0:
            last[0] = now
            rate = sent / max(now - started, 1e-6)
            eta = (total - sent) / rate if rate > 0 else 0.0
            ctx.progress(f"uploading {path.name}: {_size(sent).rstrip(', ')} of "
                         f"{_size(total).rstrip(', ')} ({sent * 100 // max(total, 1)}%, "
                         f"{_size(int(rate)).rstrip(', ')}/s, {eta:.0f}s left)")

    for attempt in range(1, UPLOAD_ATTEMPTS + 1):
        try:
            ctx.client.upload(ticket, path, progress)
            return
        except TransportError as exc:
            if attempt == UPLOAD_ATTEMPTS:
                raise
            ctx.progress(f"{exc}; starting the upload again ({attempt + 1} of "
                         f"{UPLOAD_ATTEMPTS})")


def _delete_abandoned(action: Action, ctx: ExecContext) -> None:
    """Uploads of this address an earlier try began and never finished (tagged by this
    state, never ready): nothing will finish them."""
    name = (action.after or {}).get("name")
    for row in ctx.client.list_all("listIsos", "iso", {"isofilter": "self", "name": name}):
        tags = tags_of(row)
        ours = {k: tags.get(k) for k in ctx.ownership_tags(action.address)} == \
            ctx.ownership_tags(action.address)
        if ours and SHA256_TAG in tags and not row.get("isready") \
                and str(row.get("id")) != action.mold_id:
            ctx.progress(f"deleting {row['id']}, an upload an earlier try left unfinished")
            delete_job(ctx, "deleteIso", {"id": row["id"]}, _gone(str(row["id"]), ctx))


def _gone(iso_id: str | None, ctx: ExecContext) -> Check:
    return row_state(ctx, "listIsos", "iso", {"isofilter": "self", "id": iso_id},
                     lambda row: row is None)


def _update(action: Action, inputs: Inputs, ctx: ExecContext) -> None:
    after = action.after or {}
    if "updateIso" in inputs.commands:
        send(ctx, "updateIso", {
            "id": action.mold_id, **api_params(ATTRS, after, "updateIso"),
            "ostypeid": inputs.ostypeid if after["bootable"] else None}, RESEND)
    if "updateIsoPermissions" in inputs.commands:
        send(ctx, "updateIsoPermissions", {
            "id": action.mold_id, **api_params(ATTRS, after, "updateIsoPermissions")}, RESEND)
