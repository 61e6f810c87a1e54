"""The ``build:`` side of the ISO kind: unattended media built by mwin (reconciler.media)
and uploaded like a ``file:``.

- validate: the inputs exist (or their sha256 is declared, so a plan needs no file); a URL
  declares its sha256; ``drivers`` names a path, a URL or an ISO of this spec with ``file:``
  or ``url:`` (downloaded, checked against ``drivers_sha256`` or that ISO's sha256 checksum);
  the media is private and not extractable; the firmware agrees with the VMs installed from it.
- plan: the media is known by its identity (``Recipe.identity``: tag ``mwin:media``), computed
  without building or downloading anything; other inputs are a replacement. Once every
  template made from a VM installed from it exists, the media is retired (deleted: its answer
  file holds the Administrator password) unless ``build.keep``; state remembers that, so a
  plan after it wants nothing.
- apply: the medium is built into a private file of the cache directory, uploaded through the
  ``file:`` path, and the file deleted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from reconciler.diagnostics import Diagnostics
from reconciler.media import MediaError, Recipe, SecretRef, Source, build
from reconciler.media.inputs import known_sha256
from reconciler.media.spec import BuildSpec, is_url
from reconciler.model import Address, Declared, Draft, LiveObject
from reconciler.plan import Operation
from reconciler.resources.contract import PlanningContext, SpecView

__all__ = ["MEDIA_TAG", "validate_build", "recipe_for", "firmware_of", "summary", "retire_step",
           "build_address",
           "is_retired", "build_for_upload", "installed_from"]

MEDIA_TAG = "mwin:media"


def _here(decl: Declared, value: str) -> Path:
    return (Path(decl.pos.file).parent / value).resolve()


def installed_from(key: str, declared: Mapping[Address, Declared]) -> list[Declared]:
    """The VMs of the spec that install from the ISO ``key``."""
    return [d for a, d in sorted(declared.items(), key=lambda item: str(item[0]))
            if a.kind == "vm" and d.spec.install_iso == key]


def firmware_of(decl: Declared, declared: Mapping[Address, Declared]) -> str:
    """``build.firmware``, else the boot type of the VMs installed from it, else UEFI."""
    spec: BuildSpec = decl.spec.build
    if spec.firmware:
        return spec.firmware
    types = {vm.spec.boot.type for vm in installed_from(decl.address.key, declared)}
    return types.pop() if len(types) == 1 else "UEFI"


def validate_build(decl: Declared, doc: SpecView, diags: Diagnostics) -> None:
    spec: BuildSpec = decl.spec.build
    address = str(decl.address)

    def error(text: str, key: str, detail: str | None = None) -> None:
        diags.error(text, decl.at(key), address=address, detail=detail)

    for key in ("public", "extractable"):
        if getattr(decl.spec, key):
            error(f"built media carry the Administrator password: `{key}` must stay false",
                  key)
    if not decl.spec.bootable:
        error("built media must be bootable", "bootable")
    _check_source(decl, spec.from_, spec.sha256, "build.from", "build.sha256", error)
    drivers = Address("iso", spec.drivers)
    if drivers in doc.resources:
        target = doc.resources[drivers]
        if target.spec.url is not None:  # its bytes are downloaded, like a `drivers` URL
            if _url_sha256(target, spec.drivers_sha256) is None:
                error(f"`build.drivers` names {drivers}, whose bytes mwin downloads from its "
                      f"`url:`: declare `build.drivers_sha256`, or a sha256 `checksum` "
                      f"({{SHA-256}}<hex>) on {drivers}", "build.drivers")
            elif not target.spec.url.lower().startswith("https://"):
                error(f"`build.drivers` names {drivers}, whose `url:` is not https (a "
                      "download must be private and whole)", "build.drivers")
        elif target.spec.file is None:
            error(f"`build.drivers` names {drivers}, which has neither `file:` nor `url:`: "
                  "mwin needs the driver ISO's bytes (name a path or an https URL with "
                  "`drivers_sha256`)", "build.drivers")
    else:
        _check_source(decl, spec.drivers, spec.drivers_sha256, "build.drivers",
                      "build.drivers_sha256", error)
    unattend = spec.unattend
    if unattend.admin_password_file is not None and not \
            _here(decl, unattend.admin_password_file).is_file():
        diags.warning(f"`build.unattend.admin_password_file`: "
                      f"{_here(decl, unattend.admin_password_file)} does not exist here (apply "
                      "needs it)", decl.at("build.unattend.admin_password_file"),
                      address=address)
    _check_firmware(decl, doc, diags)


def _check_source(decl: Declared, value: str, sha256: str | None, key: str, sha_key: str,
                  error: Callable[..., None]) -> None:
    if is_url(value):
        if not value.lower().startswith("https://"):
            error(f"`{key}`: {value} is not https (a download must be private and whole)", key)
        if sha256 is None:
            error(f"`{key}` is a URL: declare `{sha_key}` (the download is checked against it)",
                  key)
        return
    path = _here(decl, value)
    if not path.exists() and sha256 is None:
        error(f"`{key}`: {path} does not exist (declare `{sha_key}` beside it to plan without "
              "the file)", key)
    elif path.is_dir():
        error(f"`{key}`: {path} is a directory, not an ISO image", key)


def _check_firmware(decl: Declared, doc: SpecView, diags: Diagnostics) -> None:
    spec: BuildSpec = decl.spec.build
    vms = installed_from(decl.address.key, doc.resources)
    types = {vm.spec.boot.type for vm in vms}
    if spec.firmware is None and len(types) > 1:
        diags.error("VMs of both boot types install from these media, but the answer file "
                    "lays out the disk for one (MBR for BIOS, GPT for UEFI): declare "
                    "`build.firmware` and make the VMs agree, or build two media",
                    decl.at("build"), address=str(decl.address))
    for vm in vms:
        if spec.firmware is not None and vm.spec.boot.type != spec.firmware:
            diags.error(f"boot type {vm.spec.boot.type}, but {decl.address} is built for "
                        f"{spec.firmware} (`build.firmware`): its disk layout would not boot",
                        vm.at("boot.type"), address=str(vm.address))
        if vm.spec.state == "stopped" and not spec.keep and (
                "cdrom" not in vm.spec.model_fields_set or decl.address.key in (
                    vm.spec.cdrom if isinstance(vm.spec.cdrom, list) else [vm.spec.cdrom])):
            diags.error(f"the drive must be emptied after the install: {decl.address} is "
                        "deleted once its template is made (its answer file holds the "
                        "Administrator password)", vm.at("cdrom") if "cdrom" in
                        vm.spec.model_fields_set else vm.pos, address=str(vm.address),
                        detail="declare `cdrom: null` (or another ISO), or keep the media "
                               f"with `build.keep: true` on {decl.address}")


def _url_sha256(target: Declared, declared: str | None) -> str | None:
    """The sha256 a download of an ISO of the spec with `url:` is checked against:
    ``build.drivers_sha256``, else the ISO's `checksum` where it is a sha256
    (`{SHA-256}<hex>`, Mold's form, or 64 bare hex digits)."""
    if declared:
        return declared.lower()
    checksum = str(target.spec.checksum or "").strip()
    if checksum.upper().startswith("{SHA-256}"):
        checksum = checksum[len("{SHA-256}"):]
    return checksum.lower() if re.fullmatch(r"[0-9a-fA-F]{64}", checksum) else None


def _source(decl: Declared, value: str, sha256: str | None,
            declared: Mapping[Address, Declared]) -> Source:
    target = declared.get(Address("iso", value))
    if target is not None and target.spec.file is not None:
        path = (Path(target.pos.file).parent / str(target.spec.file)).resolve()
        return Source(path=str(path), sha256=(target.spec.sha256 or sha256 or None))
    if target is not None and target.spec.url is not None:
        return Source(url=target.spec.url, sha256=_url_sha256(target, sha256))
    if is_url(value):
        return Source(url=value, sha256=sha256.lower() if sha256 else None)
    return Source(path=str(_here(decl, value)), sha256=sha256.lower() if sha256 else None)


def _secret(decl: Declared, env: str | None, file: str | None) -> SecretRef | None:
    if env is not None:
        return SecretRef(env=env)
    return SecretRef(file=str(_here(decl, file))) if file is not None else None


def recipe_for(decl: Declared, declared: Mapping[Address, Declared]) -> Recipe:
    """The recipe of ``decl``'s media, with the sha256 of every input known (a local file
    without a declared one is hashed once per version: ``inputs.known_sha256``)."""
    spec: BuildSpec = decl.spec.build
    unattend = spec.unattend
    windows = _source(decl, spec.from_, spec.sha256, declared)
    drivers = _source(decl, spec.drivers, spec.drivers_sha256, declared)
    windows, drivers = _digested(windows), _digested(drivers)
    password = _secret(decl, unattend.admin_password_env, unattend.admin_password_file)
    assert password is not None  # the model requires one
    return Recipe(windows_iso=windows, drivers_iso=drivers, windows=spec.windows,
                  firmware=firmware_of(decl, declared), first_boot=spec.first_boot,
                  image=unattend.image, index=unattend.index, locale=unattend.locale,
                  input_locale=unattend.input_locale, timezone=unattend.timezone,
                  computer_name=unattend.computer_name, first_logon=tuple(unattend.first_logon),
                  generalize=unattend.generalize, admin_password=password,
                  product_key=_secret(decl, unattend.product_key_env, unattend.product_key_file))


def _digested(source: Source) -> Source:
    if source.sha256 is None and source.path:
        try:
            return source.model_copy(update={"sha256": known_sha256(Path(source.path))})
        except OSError as exc:
            raise MediaError(f"{source.path} cannot be read ({exc.strerror or exc})") from None
    return source


def summary(recipe: Recipe) -> str:
    """One line for plans: what the media are made of."""
    return (f"{recipe.windows_iso.shown} (sha256 {str(recipe.windows_iso.sha256)[:12]}…) "
            f"image {recipe.image_shown}, drivers {recipe.drivers_iso.shown} "
            f"({recipe.windows or 'version from install.wim'}), {recipe.firmware}"
            + (f", first boot {recipe.first_boot}" if recipe.firmware == "UEFI" else ""))


def _templates_of(key: str, ctx: PlanningContext) -> list[Declared]:
    vms = {vm.address.key for vm in installed_from(key, ctx.declared)
           if vm.spec.state == "stopped"}
    return [d for a, d in sorted(ctx.declared.items(), key=lambda item: str(item[0]))
            if a.kind == "template" and d.spec.from_vm in vms]


def retire_step(address: Address, build_spec: BuildSpec, live: LiveObject | None,
                ctx: PlanningContext, after: dict[str, Any]) -> list[Draft]:
    """Delete the media once the templates made from its VMs exist (they exist in Mold, or
    are made by this plan: the step waits for them)."""
    if build_spec.keep:
        return []
    templates = _templates_of(address.key, ctx)
    if not templates:
        return []
    names = ", ".join(str(t.address) for t in templates)
    return [Draft(Operation.RETIRE, f"{names} made from its VM: delete the media (its answer "
                  "file holds the Administrator password; `build.keep: true` keeps it)",
                  before=dict(live.attrs) if live else dict(after),
                  after={**after, "retired": True}, needs=[str(t.address) for t in templates],
                  frees=live.id if live else None)]


def is_retired(recorded: Mapping[str, Any], media: str | None) -> bool:
    """State says these very media were retired after their template was made."""
    return bool(recorded.get("retired")) and recorded.get("build") == media


def build_for_upload(recipe_json: Mapping[str, Any], progress: Callable[[str], None]) -> Path:
    """Build the medium into a private file (the caller uploads and deletes it)."""
    recipe = Recipe.model_validate(recipe_json)
    return build(recipe, progress).path


def build_address(declared: Mapping[Address, Declared], address: str, out: Path,
                  progress: Callable[[str], None]) -> Any:
    """`mwin media build`: the media of the ISO ``address`` of a validated spec, into
    ``out``, without Mold."""
    try:
        parsed = Address.parse(address)
    except ValueError as exc:
        raise MediaError(str(exc)) from None
    decl = declared.get(parsed)
    if decl is None or parsed.kind != "iso":
        isos = [str(a) for a, d in declared.items()
                if a.kind == "iso" and getattr(d.spec, "build", None) is not None]
        raise MediaError(f"{address} is not an ISO of the spec; ISOs with `build:`: "
                         f"{', '.join(sorted(isos)) or '(none)'}")
    if decl.spec.build is None:
        raise MediaError(f"{address} has no `build:`: it is registered from "
                         f"{'its url' if decl.spec.url else 'its file'}, not built")
    out.parent.mkdir(parents=True, exist_ok=True)
    return build(recipe_for(decl, declared), progress, out)
