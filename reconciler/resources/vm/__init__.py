"""VMs: deployed from an install ISO (or a template), with boot firmware, TPM, the ISO
in the CD drive, networks, power state and named VM snapshots.

Rules (ATTRS):
- deploy-only (DEPLOY_ONLY): the deploy source (``install_iso``/``template``), pod/cluster/
  host, hypervisor, disk_offering, disk_size, root_disk_controller, keyboard. They are set
  when the VM is deployed; once it exists (with an OS installed on its disk) a different value
  in the spec is a plan warning and nothing else: a new Mold id behind the same ISO resource,
  or the spec pointing at another image, never redeploys a VM. ``--replace`` does, on purpose.
- replacement, loud: zone, boot.type (an installed OS cannot change firmware), boot.mode,
  boot.tpm (set at deploy time).
- in place: display_name, group (updateVirtualMachine).
- in place while stopped: name (hostname) and compute_offering
  (changeServiceForVirtualMachine); a running VM is stopped, changed, started.
- steps: networks → add_nic / update_default_nic / remove_nic (the first network is the
  default NIC); cdrom → detach_iso / attach_iso (never both at once: detach first);
  state → start / stop (stop waits for a guest-initiated power-off first);
  snapshots → create_snapshot / delete_snapshot (only snapshots mwin made are deleted).
Omitting ``cdrom`` leaves the drive as the deploy left it (the install ISO).
Modules: ``spec`` (the spec model and the attribute table), ``rules`` (validation and
resolution against Mold's catalog), ``observe`` (reading VMs), ``plan`` (drafts),
``execution`` (API calls).
"""


from __future__ import annotations

from reconciler.resources.vm.execution import execute
from reconciler.resources.vm.observe import REF_KINDS, holds, observe, refresh
from reconciler.resources.vm.plan import forced_replace, plan_changes, plan_recover, release_steps
from reconciler.resources.vm.rules import desired, validate
from reconciler.resources.vm.spec import ATTRS, UNSET, Spec, references, tables

__all__ = ["KIND", "SECTION", "RESOURCE_TYPE", "LIST_COMMAND", "Spec", "ATTRS", "UNSET",
           "references", "validate", "desired", "observe", "refresh", "holds", "plan_changes",
           "plan_recover", "forced_replace", "execute", "release_steps", "tables", "REF_KINDS",
           "CATALOG"]

KIND = "vm"
SECTION = "vms"
RESOURCE_TYPE = "UserVm"
LIST_COMMAND = "listVirtualMachines"  # also listVMSnapshot and listVolumes
# the catalog tables its desired state and observe resolve names in (live.refresh reads only those)
CATALOG = ("zone", "os_type", "service_offering", "disk_offering")
