"""A VM's spec (one entry of `vms:`) and its attribute table: what each attribute costs to
change (see the package docstring)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, StrictInt, StrictStr, field_validator

from reconciler.model import Address, Ref, ResourceSpec, SpecModel
from reconciler.resources.base import Attr, OnChange, casefold_equal

BOOT_TYPE_REASON = ("boot type can never change once the OS is installed: the VM and its "
                    "disk are destroyed and deployed again")
UNSET = "<unset>"  # cdrom omitted: leave the drive as the deploy left it

IsoRef = StrictStr | Ref


class Boot(SpecModel):
    type: Literal["BIOS", "UEFI"] = Field("BIOS", description="Firmware: BIOS or UEFI (Windows 11 "
                                                              "needs UEFI). Fixed once the OS is "
                                                              "installed")
    mode: Literal["LEGACY", "SECURE"] | None = Field(
        None, description="LEGACY (default) or SECURE (Secure Boot; needs UEFI)")
    tpm: Literal["none", "2.0"] = Field("none", description='"2.0" for a TPM 2.0 (Windows 11), '
                                                            "or none")

    @field_validator("type", "mode", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("tpm", mode="before")
    @classmethod
    def _tpm(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and value.lower() in ("none", "")):
            return "none"
        if value in (2, 2.0) or (isinstance(value, str) and value.lower() in ("2", "2.0", "v2_0")):
            return "2.0"
        return value


class Spec(ResourceSpec):
    """One entry of `vms:`."""

    name: StrictStr | None = Field(None, description="Hostname in Mold (default: the key)")
    display_name: StrictStr | None = Field(None, description="Name shown in Mold's UI "
                                                             "(default: the name)")
    zone: StrictStr | None = Field(None, description="Zone name or id (default: defaults.zone)")
    pod: StrictStr | None = Field(None, description="Pod to deploy in (name or id)")
    cluster: StrictStr | None = Field(None, description="Cluster to deploy in (name or id)")
    host: StrictStr | None = Field(None, description="Host to deploy on (name or id)")
    install_iso: IsoRef | None = Field(None, description="ISO to install from (deploy source)")
    template: IsoRef | None = Field(None, description="Template to deploy from (deploy source)")
    hypervisor: StrictStr | None = Field(None, description="Hypervisor (default: "
                                                           "defaults.hypervisor, KVM)")
    compute_offering: StrictStr = Field(description="Compute offering name or id (vCPUs, "
                                                    "memory)")
    disk_offering: StrictStr | None = Field(None, description="Root disk offering (ISO deploys)")
    disk_size: StrictInt | None = Field(None, ge=1, description="GB, for a custom disk offering")
    networks: list[IsoRef] = Field(min_length=1, description="Networks, one NIC each; the "
                                                             "first is the default NIC")
    boot: Boot = Field(default_factory=Boot, description="Firmware, Secure Boot and TPM")
    root_disk_controller: Literal["ide", "sata", "virtio", "scsi"] | None = Field(
        None, description="Bus of the root disk (default: Mold's choice for the OS type)")
    keyboard: StrictStr | None = Field(None, description="Keyboard layout of the console, "
                                                         "e.g. us")
    group: StrictStr | None = Field(None, description="Group name in Mold")
    cdrom: IsoRef | list[IsoRef] | None = Field(
        None, description="ISO in the drive, or a list for Mold's two drives (the first is "
                          "the first drive); null: empty; omitted: as deployed")
    state: Literal["running", "stopped"] = Field("running", description="Power state")
    snapshots: list[StrictStr] = Field(default_factory=list,
                                       description="Names of VM snapshots to keep")
    ssh_key_pair: StrictStr | None = Field(None, description="Not for Windows VMs")


def drives(value: Any) -> list[str]:
    """The CD attribute as a list of ISO names, first drive first: None is [], a name [name]."""
    if value is None or value == UNSET:
        return []
    return list(value) if isinstance(value, list) else [value]


def one_or_list(names: list[str]) -> str | list[str] | None:
    """The CD attribute from a list of names: [] is None, one name is the name (as with one
    drive), more stay a list."""
    return None if not names else names[0] if len(names) == 1 else list(names)


def same_networks(a: Any, b: Any) -> bool:
    """The same networks with the same default NIC; the order of the others does not matter."""
    return bool(a) and bool(b) and a[0] == b[0] and set(a) == set(b)


ATTRS: tuple[Attr, ...] = (
    Attr("project", OnChange.DEPLOY_ONLY, optional=True),
    Attr("name", OnChange.NEEDS_STOP, "updateVirtualMachine"),
    Attr("display_name", OnChange.IN_PLACE, "updateVirtualMachine"),
    Attr("group", OnChange.IN_PLACE, "updateVirtualMachine", optional=True),  # none: keep it
    Attr("zone", OnChange.REPLACE, equal=casefold_equal,
         replace_reason="a VM cannot move to another zone: it is deployed again there"),
    Attr("pod", OnChange.DEPLOY_ONLY, optional=True),
    Attr("cluster", OnChange.DEPLOY_ONLY, optional=True),
    Attr("host", OnChange.DEPLOY_ONLY, optional=True),
    Attr("install_iso", OnChange.DEPLOY_ONLY),
    Attr("template", OnChange.DEPLOY_ONLY),
    Attr("hypervisor", OnChange.DEPLOY_ONLY, equal=casefold_equal),
    Attr("compute_offering", OnChange.NEEDS_STOP, "changeServiceForVirtualMachine"),
    Attr("disk_offering", OnChange.DEPLOY_ONLY, optional=True),
    Attr("disk_size", OnChange.DEPLOY_ONLY, optional=True),
    Attr("networks", OnChange.STEP, equal=same_networks),
    Attr("boot.type", OnChange.REPLACE, replace_reason=BOOT_TYPE_REASON, optional=True),
    Attr("boot.mode", OnChange.REPLACE, replace_reason="Secure Boot is set at deploy time",
         optional=True),
    Attr("boot.tpm", OnChange.REPLACE, replace_reason="TPM is set at deploy time",
         optional=True),
    Attr("root_disk_controller", OnChange.DEPLOY_ONLY, optional=True, equal=casefold_equal),
    Attr("keyboard", OnChange.DEPLOY_ONLY, optional=True),
    Attr("cdrom", OnChange.STEP),
    Attr("state", OnChange.STEP, equal=lambda a, b: settled(a) == settled(b)),
    Attr("snapshots", OnChange.STEP),
)
# Mold's power states while a job works on the VM, and where that job takes it
SETTLING = {"starting": "running", "stopping": "stopped"}


def settled(state: Any) -> Any:
    """The power state a VM is in or on its way to (Starting: running; Stopping: stopped)."""
    return SETTLING.get(state, state) if isinstance(state, str) else state


FROM_STATE = ("pod", "cluster", "host", "install_iso", "template")  # Mold cannot tell them
STEPS = {a.name for a in ATTRS if a.on_change is OnChange.STEP}
SOURCE_KEYS = ("install_iso", "template")


def references(spec: Spec) -> list[tuple[str, Address]]:
    refs = []
    for field_name, kind, value in (("install_iso", "iso", spec.install_iso),
                                    ("template", "template", spec.template)):
        if isinstance(value, str):
            refs.append((field_name, Address(kind, value)))
    cdrom = spec.cdrom if isinstance(spec.cdrom, list) else [spec.cdrom]
    refs += [("cdrom" if not isinstance(spec.cdrom, list) else f"cdrom.{i}", Address("iso", c))
             for i, c in enumerate(cdrom) if isinstance(c, str)]
    refs += [(f"networks.{i}", Address("network", n)) for i, n in enumerate(spec.networks)
             if isinstance(n, str)]
    return refs




def tables(spec: Spec) -> list[str]:
    """Placement names are looked up only when declared: not every account may list them."""
    return [name for name in ("pod", "cluster", "host") if getattr(spec, name)]
