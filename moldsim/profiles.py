"""Profiles: which Mold (or upstream CloudStack) release moldsim behaves like.

`moldsim serve --profile NAME` / `MoldSim(profile=NAME)`; the default is mold-4.21. A profile
decides the default signature algorithm (`--signature` still overrides), whether Mold-only
parameters exist, how some answers are shaped, and the texts that changed between releases.

Sources (docs/moldsim.md, "Profiles"): "M" is ablecloud-team/ablestack-cloud at Mold 4.23
"Europa", "L" is jeongda-young/ablestack-cloud at Mold "Diplo" (4.20.0.0-SNAPSHOT), whose
texts are those of upstream CloudStack before the changes M carries. Mold 4.21 itself was not
read: mold-4.21 uses M's texts, and so does mold-4.23, which adds Mold 4.23's multi-CD-ROM
API (`cdrom_drives` = 2: `vm.iso.max.count`, `isos`/`isomaxcount`, `detachIso id`,
`deployVirtualMachine additionalisoids`; moldsim.cdrom). The cloudstack-4.17 profile uses
L's (older, upstream) texts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_PROFILE = "mold-4.21"


@dataclass(frozen=True)
class Profile:
    """What differs between the emulated releases.

    signature: default HMAC (Mold since "Diplo": sha256; upstream CloudStack: sha1).
    tpm: deployVirtualMachine has `tpmversion` and VMs always carry a `tpmversion` detail
      (Mold only: ApiConstants.TpmVersion, BaseDeployVMCmd.getDetails).
    ostype_name: listOsTypes answers `name` as well as `description` (GuestOSResponse, 4.19+).
    storage_snapshot_default: default of `kvm.vmstoragesnapshot.enabled` (Mold "true",
      SnapshotManager.VmStorageSnapshotKvm; upstream "false").
    cdrom_drives: 1 = classic Mold, one CD-ROM drive (attachIso replaces the ISO in it). More
      than 1 = Mold 4.23's multi-CD-ROM API (UserVmResponse `isos`/`isomaxcount` since
      4.23.0, DetachIsoCmd `id`, `additionalisoids` (#1084), ISO jobs serialised per VM (#1124));
      the number is the default of the cluster setting `vm.iso.max.count` (#1084 raised it
      from 1 to 2). See moldsim.cdrom.
    texts: the messages that differ between releases, by key (see TEXTS).
    """

    name: str
    signature: str
    tpm: bool
    ostype_name: bool
    storage_snapshot_default: bool
    cdrom_drives: int = 1
    texts: dict[str, str] = field(default_factory=dict)


# Texts by key: M's wording (Mold 4.21/4.23) and L's (upstream CloudStack, Mold "Diplo").
_M_TEXTS = {
    # UserVmManagerImpl.checkExpungeVmPermission (M @001c69f)
    "expunge_denied": "Account does not have permission for expunging.",
    # TemplateAdapterBase.prepare (M @0ff4005)
    "cross_zone_owner": ("Template registered for 'All zones' can only be owned a Root Admin "
                         "account. Please select specific zone(s)."),
    # TemplateManagerImpl.deleteTemplate (M @0ff4005)
    "template_in_use": "Unable to delete template: {template} because VM instances: [{vms}] are using it.",
    # TemplateManagerImpl.copyTemplate (M @0ff4005): the VMTemplateVO itself
    "no_template_ready": "There is no template {template} ready on image store.",
    # TemplateManagerImpl.updateTemplateOrIsoPermissions (M @0ff4005): the project's uuid;
    # M has no "project_template_share" refusal (it checks the user's access instead)
    "project_access": "Account {account} can't access project id={project_uuid}",
    # VMSnapshotManagerImpl.allocVMSnapshot with no strategy (M)
    "no_snapshot_strategy": "No strategy was able to handle requested snapshot for VM [{vm_uuid}].",
    # VMSnapshotManagerImpl.orchestrateCreateVMSnapshot (M @25f556e): the VMSnapshotVO itself
    "snapshot_failed": "Failed to create vm snapshot: [{snapshot_object}] due to: {reason}",
}
_L_TEXTS = {
    "expunge_denied": ("Parameter expunge can be passed by Admin only. Or when the "
                       "allow.user.expunge.recover.vm key is set."),
    "cross_zone_owner": "Please specify a valid zone Id. Only admins can create templates in all zones.",
    "template_in_use": "Unable to delete template with id: {template_n} because VM instances: [{vms}] are using it.",
    "no_template_ready": "There is no template {template_n} ready on image store.",
    "project_access": "Account {account} can't access project id={project_n}",
    "project_template_share": ("Update template permissions is an invalid operation on template "
                               "{name}. Project owned templates cannot be shared outside template."),
    "no_snapshot_strategy": "KVM does not support the type of snapshot requested",
    "snapshot_failed": "Failed to create vm snapshot: [{snapshot_n}] due to: {reason}",
}

PROFILES: dict[str, Profile] = {
    "mold-4.21": Profile("mold-4.21", "sha256", tpm=True, ostype_name=True,
                         storage_snapshot_default=True, texts=_M_TEXTS),
    "mold-4.23": Profile("mold-4.23", "sha256", tpm=True, ostype_name=True,
                         storage_snapshot_default=True, cdrom_drives=2, texts=_M_TEXTS),
    "cloudstack-4.17": Profile("cloudstack-4.17", "sha1", tpm=False, ostype_name=False,
                               storage_snapshot_default=False, texts=_L_TEXTS),
}


def multi_cdrom(profile: Profile) -> bool:
    """Mold 4.23's multi-CD-ROM API exists (isos, isomaxcount, detachIso id, additionalisoids)."""
    return profile.cdrom_drives > 1


def get(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, not {name!r}") from None


def text(profile: Profile, key: str, **values: Any) -> str:
    """The profile's wording of a message, with its fields filled in (unused ones ignored)."""
    return profile.texts[key].format(**values)
