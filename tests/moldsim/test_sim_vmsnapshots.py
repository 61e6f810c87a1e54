"""VM snapshots as Mold has them.

Sources (L = jeongda-young/ablestack-cloud; M = ablecloud-team/ablestack-cloud @25f556e):
- L api/src/main/java/org/apache/cloudstack/api/command/user/vmsnapshot/CreateVMSnapshotCmd.java
  (`name` is the display name; create() wraps CloudRuntimeException as "Failed to create vm
  snapshot: ...")
- L/M server/src/main/java/com/cloud/vm/snapshot/VMSnapshotManagerImpl.java (allocVMSnapshot,
  listVMSnapshots, orchestrateCreateVMSnapshot); utils/.../DateUtil.java (YYYYMMDD_FORMAT, GMT)
- L engine/schema/.../vm/snapshot/dao/VMSnapshotDaoImpl.java findByName (returns null)
- L/M engine/storage/snapshot/.../vmsnapshot/StorageVMSnapshotStrategy.java takeVMSnapshot (freeze)
- L plugins/hypervisors/kvm/.../LibvirtFreezeThawVMCommandWrapper.java ("Failed to frozen VM - …")
- L server/src/main/java/com/cloud/storage/snapshot/SnapshotManager.java (kvm.vmstoragesnapshot.enabled)
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from moldsim.server import MoldSim

from simclient import Workflow

NAME = re.compile(r"^i-2-(\d+)-VM_VS_(\d{14})$")
FROZEN = ("Could not freeze VM.Failed to frozen VM - i-2-1-VM due to Guest agent is not responding: "
          "QEMU guest agent is not connected")


@pytest.fixture
def wf(sim: MoldSim) -> Iterator[Workflow]:
    with Workflow(sim.url) as w:
        yield w


def _utc_stamp() -> str:
    """Now as yyyyMMddHHmmss UTC from time.time(), the clock moldsim stamps with: time.gmtime()
    without an argument reads glibc's coarse clock, which can be a tick behind it."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(time.time()))


def _running_vm(wf: Workflow) -> dict:
    answer, _ = wf.deploy(wf.ready_iso("win")["id"], wf.network()["id"])
    return wf.vm(answer["id"])


def test_name_is_the_display_name_and_the_name_is_generated(sim: MoldSim, wf: Workflow) -> None:
    vm = _running_vm(wf)
    sim.guest_agent(vm["id"])
    before = _utc_stamp()
    first = wf.run_job("createVMSnapshot", virtualmachineid=vm["id"], name="X")["jobresult"]["vmsnapshot"]
    after = _utc_stamp()
    match = NAME.match(first["name"])
    assert match and before <= match.group(2) <= after  # <instancename>_VS_<yyyyMMddHHmmss UTC>
    assert (first["displayname"], first["type"], first["current"], first["state"]) == ("X", "Disk", True, "Ready")
    assert (first["account"], first["domain"], first["virtualmachinename"]) == ("admin", "ROOT", vm["name"])
    # duplicates are accepted: findByName is dead code
    second = wf.run_job("createVMSnapshot", virtualmachineid=vm["id"], name="X")["jobresult"]["vmsnapshot"]
    assert second["displayname"] == "X" and second["id"] != first["id"]
    assert (second["parent"], second["parentName"]) == (first["id"], "X")
    # listVMSnapshot name= is the display name, exactly; created descending
    assert [s["id"] for s in wf.ok("listVMSnapshot", name="X")["vmSnapshot"]] == [second["id"], first["id"]]
    assert wf.ok("listVMSnapshot", name=first["name"]) == {}
    assert wf.ok("listVMSnapshot", name="x") == {}
    assert wf.ok("listVMSnapshot", keyword="_VS_")["count"] == 2
    assert [s["current"] for s in wf.ok("listVMSnapshot")["vmSnapshot"]] == [True, False]
    # without name the display name is the generated name
    third = wf.run_job("createVMSnapshot", virtualmachineid=vm["id"])["jobresult"]["vmsnapshot"]
    assert third["displayname"] == third["name"]


def test_a_running_vm_without_guest_agent_fails_the_freeze(sim: MoldSim, wf: Workflow) -> None:
    """StorageVMSnapshotStrategy always freezes a Running VM's disks, whatever quiescevm says;
    without a qemu guest agent the job fails 530 and the snapshot stays listed in Error."""
    vm = _running_vm(wf)
    job = wf.run_job("createVMSnapshot", virtualmachineid=vm["id"], name="pre", quiescevm=False)
    assert (job["jobstatus"], job["jobresultcode"]) == (2, 530)
    text = job["jobresult"]["errortext"]
    # M: String.format("Failed to create vm snapshot: [%s] due to: %s", vmSnapshot, msg), and a
    # VMSnapshotVO has no toString of its own (Object.toString: class@hash)
    assert re.fullmatch(r"Failed to create vm snapshot: \[com\.cloud\.vm\.snapshot\.VMSnapshotVO@[0-9a-f]+\] "
                        r"due to: " + re.escape(FROZEN), text), text
    listed = wf.first("listVMSnapshot", "vmSnapshot", virtualmachineid=vm["id"])
    assert (listed["state"], listed["displayname"]) == ("Error", "pre")
    assert wf.run_job("deleteVMSnapshot", vmsnapshotid=listed["id"])["jobstatus"] == 1
    # the agent runs now (POST /moldsim/guest-agent): the freeze works
    sim.guest_agent(vm["id"])
    assert wf.run_job("createVMSnapshot", virtualmachineid=vm["id"], name="pre")["jobstatus"] == 1
    sim.guest_agent(vm["id"], running=False)
    assert wf.run_job("createVMSnapshot", virtualmachineid=vm["id"], name="again")["jobstatus"] == 2


def test_stopped_and_memory_snapshots_need_no_agent(wf: Workflow) -> None:
    """DefaultVMSnapshotStrategy handles Stopped VMs and memory snapshots (QCOW2), no freeze."""
    vm = _running_vm(wf)
    mem = wf.run_job("createVMSnapshot", virtualmachineid=vm["id"], name="m", snapshotmemory=True)
    assert (mem["jobstatus"], mem["jobresult"]["vmsnapshot"]["type"]) == (1, "DiskAndMemory")
    # M: StorageVMSnapshotStrategy cannot handle a VM with a DiskAndMemory snapshot, and the
    # default strategy takes no running disk-only one: no strategy at all (a synchronous 530)
    status, body = wf.call("createVMSnapshot", virtualmachineid=vm["id"], name="d")
    assert (status, body["errortext"]) == (530, "Failed to create vm snapshot: No strategy was able to "
                                                f"handle requested snapshot for VM [{vm['id']}].")
    wf.run_job("stopVirtualMachine", id=vm["id"])
    assert wf.run_job("createVMSnapshot", virtualmachineid=vm["id"], name="cold")["jobstatus"] == 1
    status, body = wf.call("createVMSnapshot", virtualmachineid=vm["id"], snapshotmemory=True)
    assert (status, body["errortext"]) == (431, "Can not snapshot memory when VM is not in Running state")


def test_wrong_state_is_a_synchronous_431_with_the_internal_vm_id(wf: Workflow) -> None:
    vm = _running_vm(wf)
    wf.run_job("destroyVirtualMachine", id=vm["id"])
    status, body = wf.call("createVMSnapshot", virtualmachineid=vm["id"], name="late")
    assert (status, body["errorcode"], body["errortext"]) == \
        (431, 431, "Creating vm snapshot failed due to VM:1 is not in the running or Stopped state")
    status, body = wf.call("createVMSnapshot", virtualmachineid=vm["id"], name="n" * 256)
    assert body["errortext"] == ("Creating VM snapshot failed due to length of VM snapshot vsDisplayName "
                                 "should not exceed 255")


def test_a_vm_never_started_has_no_ready_root_volume(wf: Workflow) -> None:
    answer, _ = wf.deploy(wf.ready_iso("win")["id"], wf.network()["id"], startvm=False)
    status, body = wf.call("createVMSnapshot", virtualmachineid=answer["id"])
    assert (status, body["errortext"]) == (530, f"Failed to create vm snapshot: Unable to find root volume "
                                                f"for the user vm:{answer['id']}")


def test_disabled_storage_snapshots_leave_no_strategy_for_a_running_vm(wf: Workflow) -> None:
    vm = _running_vm(wf)
    wf.ok("updateConfiguration", name="kvm.vmstoragesnapshot.enabled", value="false")
    status, body = wf.call("createVMSnapshot", virtualmachineid=vm["id"])
    assert (status, body["errortext"]) == (530, "Failed to create vm snapshot: No strategy was able to "
                                                f"handle requested snapshot for VM [{vm['id']}].")


def test_max_snapshots_and_active_tasks(wf: Workflow) -> None:
    """vmsnapshot.max (Config.VMSnapshotMax, default 10), then hasActiveVMSnapshotTasks."""
    answer, _ = wf.deploy(wf.ready_iso("win")["id"], wf.network()["id"])
    wf.run_job("stopVirtualMachine", id=answer["id"])
    wf.ok("updateConfiguration", name="vmsnapshot.max", value="1")
    assert wf.run_job("createVMSnapshot", virtualmachineid=answer["id"], name="one")["jobstatus"] == 1
    status, body = wf.call("createVMSnapshot", virtualmachineid=answer["id"], name="two")
    assert (status, body["errortext"]) == (530, "Failed to create vm snapshot: Creating vm snapshot failed "
                                                "due to a VM can just have : 1 VM snapshots. Please delete old ones")
    with MoldSim(job_seconds=0.3) as slow, Workflow(slow.url) as wf:
        answer, _ = wf.deploy(wf.ready_iso("win")["id"], wf.network()["id"], startvm=True)
        wf.run_job("stopVirtualMachine", id=answer["id"])
        wf.ok("createVMSnapshot", virtualmachineid=answer["id"], name="one")
        status, body = wf.call("createVMSnapshot", virtualmachineid=answer["id"], name="two")
        assert (status, body["errortext"]) == (530, "Failed to create vm snapshot: There is other active vm "
                                                    "snapshot tasks on the instance, please try again later")
