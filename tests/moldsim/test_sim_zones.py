"""Several zones: the seeded catalog per zone, copyTemplate (a copy per zone, each with its own
download), listTemplates rows per (template, zone), deleteTemplate zoneid=.

Sources (L = jeongda-young/ablestack-cloud @2caa557d91; M = ablecloud-team/ablestack-cloud):
- L/M api/src/main/java/org/apache/cloudstack/api/command/user/template/CopyTemplateCmd.java
  (parameters destzoneid, destzoneids, sourcezoneid; execute: the two ServerApiException texts,
  the answer = createTemplateResponses(view, template, destZoneIds, false).get(0))
- M server/src/main/java/com/cloud/template/TemplateManagerImpl.java @0ff4005 copyTemplate,
  copy, deleteTemplate (L the same, with the numeric id in the texts)
- L server/src/main/java/com/cloud/template/HypervisorTemplateAdapter.java delete ("Please
  specify a template that is not currently being downloaded."; the template goes with its
  last image store)
- L engine/schema/src/main/java/com/cloud/vm/dao/VMInstanceDaoImpl.java
  ZoneTemplateNonExpungedSearch (listNonExpungedByZoneAndTemplate)
- L server/src/main/java/com/cloud/api/query/dao/TemplateJoinDaoImpl.java getTemplateStatus
  ("N% Downloaded", "Installing Template", "Download Complete"), newTemplateResponse
- M api/.../user/template/ListTemplatesCmd.java @25f556e listInReadyState; M
  server/src/main/java/com/cloud/api/query/QueryManagerImpl.java @7001a71
  searchForTemplatesInternal (distinct (template, zone) pairs; showunique: distinct template)
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from moldsim.server import MoldSim

from simclient import Workflow


@pytest.fixture
def zsim() -> Iterator[MoldSim]:
    with MoldSim(zones=3, job_seconds=0.0) as sim:
        yield sim


@pytest.fixture
def wf(zsim: MoldSim) -> Iterator[Workflow]:
    with Workflow(zsim.url) as w:
        yield w


def _zones(wf: Workflow) -> dict[str, str]:
    return {z["name"]: z["id"] for z in wf.ok("listZones")["zone"]}


def _template(wf: Workflow, name: str = "base", client: Workflow | None = None) -> dict[str, Any]:
    """A ready template in Zone1, made from a stopped VM's ROOT volume."""
    c = client or wf
    iso = c.ready_iso(f"{name}-iso")
    answer, _ = c.deploy(iso["id"], c.network(f"{name}-net")["id"], name=f"{name}-vm")
    c.run_job("stopVirtualMachine", id=answer["id"])
    root = c.first("listVolumes", "volume", virtualmachineid=answer["id"], type="ROOT")
    job = c.wait_job(c.ok("createTemplate", volumeid=root["id"], name=name,
                          ostypeid=c.os_type_id("Windows PV"))["jobid"])
    tpl: dict[str, Any] = job["jobresult"]["template"]
    _wait(c, tpl["id"], {"Zone1"})
    return tpl


def _rows(wf: Workflow, tpl_id: str, **params: Any) -> dict[str, dict[str, Any]]:
    params.setdefault("templatefilter", "self")
    rows = wf.ok("listTemplates", id=tpl_id, **params).get("template", [])
    return {r["zonename"]: r for r in rows}


def _wait(wf: Workflow, tpl_id: str, zones: set[str], timeout: float = 10) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        rows = _rows(wf, tpl_id)
        if zones <= {z for z, r in rows.items() if r["isready"]}:
            return rows
        assert time.monotonic() < deadline, rows
        time.sleep(0.02)


def _failed(job: dict[str, Any]) -> tuple[int, int, str]:
    return job["jobstatus"], job["jobresultcode"], job["jobresult"]["errortext"]


def test_every_zone_has_the_same_catalog_and_its_own_cluster(wf: Workflow) -> None:
    zones = _zones(wf)
    assert list(zones) == ["Zone1", "Zone2", "Zone3"]
    offerings = sorted(o["name"] for o in wf.ok("listServiceOfferings")["serviceoffering"])
    disks = sorted(o["name"] for o in wf.ok("listDiskOfferings")["diskoffering"])
    for i, (name, zid) in enumerate(zones.items(), start=1):
        assert sorted(o["name"] for o in wf.ok("listServiceOfferings", zoneid=zid)["serviceoffering"]) == offerings
        assert sorted(o["name"] for o in wf.ok("listDiskOfferings", zoneid=zid)["diskoffering"]) == disks
        assert [h["name"] for h in wf.ok("listHypervisors", zoneid=zid)["hypervisor"]] == ["KVM"]
        [cluster] = wf.ok("listClusters", zoneid=zid)["cluster"]
        assert (cluster["name"], cluster["zonename"], cluster["hypervisortype"]) == (f"Cluster{i}", name, "KVM")
        offering = wf.offering("listNetworkOfferings", "networkoffering",
                               "DefaultIsolatedNetworkOfferingWithSourceNatService")
        net = wf.ok("createNetwork", name=f"net-{name}", zoneid=zid, networkofferingid=offering)["network"]
        assert net["zonename"] == name


def test_copy_template_makes_a_row_per_zone_each_with_its_own_download() -> None:
    with MoldSim(zones=3, job_seconds=0.0, download_seconds=0.4) as sim, Workflow(sim.url) as wf:
        zones = _zones(wf)
        tpl = _template(wf)
        answer = wf.ok("copyTemplate", id=tpl["id"], destzoneids=f"{zones['Zone2']},{zones['Zone3']}")
        assert set(answer) == {"jobid"}
        rows = _rows(wf, tpl["id"])
        assert list(rows) == ["Zone1", "Zone2", "Zone3"]
        assert rows["Zone1"]["isready"] is True and rows["Zone1"]["status"] == "Download Complete"
        for zone in ("Zone2", "Zone3"):
            row = rows[zone]
            assert (row["isready"], row["zoneid"], row["id"]) == (False, zones[zone], tpl["id"])
            assert row["status"].endswith("% Downloaded") or row["status"] == "Installing Template"
            assert row["downloaddetails"][0]["downloadState"] == "DOWNLOAD_IN_PROGRESS"
            assert "size" not in row
        # listInReadyState is a criterion of each (template, zone) row
        ready = wf.ok("listTemplates", templatefilter="selfexecutable", id=tpl["id"])["template"]
        assert [r["zonename"] for r in ready] == ["Zone1"]
        job = wf.ok("queryAsyncJobResult", jobid=answer["jobid"])
        assert job["jobstatus"] == 0  # the job waits for its copies (TemplateManagerImpl.copy)
        statuses = set()
        while job["jobstatus"] == 0:
            statuses.add(_rows(wf, tpl["id"])["Zone2"]["status"])
            job = wf.ok("queryAsyncJobResult", jobid=answer["jobid"])
            time.sleep(0.02)
        assert any(s.endswith("% Downloaded") for s in statuses)
        assert (job["jobstatus"], job["jobinstancetype"], job["jobinstanceid"]) == (1, "Template", tpl["id"])
        assert job["cmd"] == "org.apache.cloudstack.api.command.admin.template.CopyTemplateCmdByAdmin"
        result = job["jobresult"]["template"]
        assert (result["zonename"], result["isready"], result["status"]) == ("Zone2", True, "Download Complete")
        rows = _rows(wf, tpl["id"])
        assert all(r["isready"] for r in rows.values()) and rows["Zone3"]["size"] == rows["Zone1"]["size"]
        assert [r["zonename"] for r in wf.ok("listTemplates", templatefilter="selfexecutable",
                                              id=tpl["id"])["template"]] == ["Zone1", "Zone2", "Zone3"]
        unique = wf.ok("listTemplates", templatefilter="self", id=tpl["id"], showunique=True)
        assert unique["count"] == 1
        assert [r["zonename"] for r in wf.ok("listTemplates", templatefilter="self",
                                              zoneid=zones["Zone3"])["template"]] == ["Zone3"]


def test_copy_template_refusals_fail_the_job(wf: Workflow, users: Any) -> None:
    zones = _zones(wf)
    tpl = _template(wf)
    assert _failed(wf.run_job("copyTemplate", id=tpl["id"])) == (
        2, 431, "Either destzoneid or destzoneids parameters have to be specified.")
    assert _failed(wf.run_job("copyTemplate", id=tpl["id"], destzoneid=zones["Zone2"],
                              destzoneids=zones["Zone3"])) == (
        2, 431, "Both destzoneid and destzoneids cannot be specified at the same time.")
    assert _failed(wf.run_job("copyTemplate", id=tpl["id"], sourcezoneid=zones["Zone1"],
                              destzoneids=f"{zones['Zone1']},{zones['Zone2']}")) == (
        2, 431, "Please specify different source and destination zones.")
    status, body = wf.call("copyTemplate", id=tpl["id"], destzoneid="00000000-0000-4000-8000-00000000dead")
    assert (status, body["errorcode"]) == (431, 431)  # binding: the zone does not resolve
    status, body = wf.call("copyTemplate", id=wf.first("listIsos", "iso", isofilter="self")["id"],
                           destzoneid=zones["Zone2"])
    assert status == 431  # moldsim binds only templates (copyIso is not emulated)
    # not ready in the source zone (M formats the VMTemplateVO)
    failed = wf.run_job("copyTemplate", id=tpl["id"], sourcezoneid=zones["Zone2"], destzoneid=zones["Zone3"])
    assert failed["jobresultcode"] == 431
    assert failed["jobresult"]["errortext"].startswith('There is no template Template {"format":"QCOW2","id":')
    assert failed["jobresult"]["errortext"].endswith("} ready on image store.")
    # someone who may not operate it: PermissionDeniedException in a job is 530
    bob, _ = users(wf, "bob")
    wf.ok("updateTemplatePermissions", id=tpl["id"], ispublic=True)
    job = bob.run_job("copyTemplate", id=tpl["id"], destzoneid=zones["Zone2"])
    assert _failed(job) == (2, 530, "Domain Admin and regular users can modify only their own Public templates")
    assert list(_rows(wf, tpl["id"])) == ["Zone1"]
    # the zone it is ready in already: "don't need to copy", a success that changes nothing
    done = wf.run_job("copyTemplate", id=tpl["id"], destzoneid=zones["Zone1"])
    assert (done["jobstatus"], done["jobresult"]["template"]["zonename"]) == (1, "Zone1")
    assert list(_rows(wf, tpl["id"])) == ["Zone1"]


def test_copy_a_template_vms_use_and_users_copy_their_own(wf: Workflow, users: Any) -> None:
    zones = _zones(wf)
    tpl = _template(wf)
    used, _ = wf.deploy(tpl["id"], wf.network("user-net")["id"], name="user-vm", hypervisor=None,
                        diskofferingid=None)
    assert wf.run_job("copyTemplate", id=tpl["id"], destzoneid=zones["Zone2"])["jobstatus"] == 1
    assert set(_rows(wf, tpl["id"])) == {"Zone1", "Zone2"}
    alice, _ = users(wf, "alice")
    mine = _template(wf, "alices", client=alice)
    job = alice.run_job("copyTemplate", id=mine["id"], destzoneids=zones["Zone3"])
    assert job["jobstatus"] == 1
    assert job["cmd"] == "org.apache.cloudstack.api.command.user.template.CopyTemplateCmd"
    assert set(_rows(alice, mine["id"])) == {"Zone1", "Zone3"}
    assert used["id"]


def test_copy_faults_leave_no_copy(zsim: MoldSim, wf: Workflow) -> None:
    zones = _zones(wf)
    tpl = _template(wf)
    zsim.set_faults(fail_jobs=[{"command": "copyTemplate", "errortext": "storage down"}])
    assert _failed(wf.run_job("copyTemplate", id=tpl["id"], destzoneid=zones["Zone2"])) == (2, 530, "storage down")
    assert list(_rows(wf, tpl["id"])) == ["Zone1"]
    zsim.set_faults(fail_downloads=[{"name_contains": "base", "errortext": "copy failed"}])
    assert _failed(wf.run_job("copyTemplate", id=tpl["id"], destzoneid=zones["Zone2"])) == (
        2, 530, "Failed to copy template")
    assert list(_rows(wf, tpl["id"])) == ["Zone1"]
    zsim.set_faults(clear=True, hang_jobs=[{"command": "copyTemplate"}])
    jobid = wf.ok("copyTemplate", id=tpl["id"], destzoneid=zones["Zone3"])["jobid"]
    assert wf.ok("queryAsyncJobResult", jobid=jobid)["jobstatus"] == 0
    # L server/.../api/query/dao/TemplateJoinDaoImpl.java getTemplateStatus: no download
    # state, no error -> the template's own state
    assert _rows(wf, tpl["id"])["Zone3"]["status"] == "Active"


def test_delete_template_in_one_zone_and_the_last_copy_takes_it(wf: Workflow) -> None:
    zones = _zones(wf)
    tpl = _template(wf)
    wf.run_job("copyTemplate", id=tpl["id"], destzoneids=f"{zones['Zone2']},{zones['Zone3']}")
    # a VM in Zone2 deployed from it
    offering = wf.offering("listNetworkOfferings", "networkoffering",
                           "DefaultIsolatedNetworkOfferingWithSourceNatService")
    net2 = wf.ok("createNetwork", name="net2", zoneid=zones["Zone2"], networkofferingid=offering)["network"]
    vm, _ = wf.deploy(tpl["id"], net2["id"], zoneid=zones["Zone2"], name="z2-vm", hypervisor=None,
                      diskofferingid=None)
    # listNonExpungedByZoneAndTemplate: only the VMs of that zone count (Zone1's source VM is
    # an ISO VM)
    job = wf.run_job("deleteTemplate", id=tpl["id"], zoneid=zones["Zone2"])
    assert job["jobresultcode"] == 431
    assert job["jobresult"]["errortext"].startswith("Unable to delete template: Template {")
    assert f'"uuid":"{vm["id"]}"' in job["jobresult"]["errortext"]
    assert wf.run_job("deleteTemplate", id=tpl["id"])["jobresultcode"] == 431  # all zones
    assert wf.run_job("deleteTemplate", id=tpl["id"], zoneid=zones["Zone3"])["jobresult"] == {"success": True}
    assert list(_rows(wf, tpl["id"])) == ["Zone1", "Zone2"]
    assert wf.run_job("deleteTemplate", id=tpl["id"], zoneid=zones["Zone1"])["jobstatus"] == 1
    assert list(_rows(wf, tpl["id"])) == ["Zone2"]
    # a zone without a copy: a success that changes nothing (no image store holds it there)
    assert wf.run_job("deleteTemplate", id=tpl["id"], zoneid=zones["Zone3"])["jobstatus"] == 1
    assert list(_rows(wf, tpl["id"])) == ["Zone2"]
    # copied back to Zone1 (from Zone2), then the VM goes and the last copies go
    assert wf.run_job("copyTemplate", id=tpl["id"], destzoneid=zones["Zone1"])["jobstatus"] == 1
    assert list(_rows(wf, tpl["id"])) == ["Zone2", "Zone1"]
    wf.run_job("destroyVirtualMachine", id=vm["id"], expunge=True)
    assert wf.run_job("deleteTemplate", id=tpl["id"], zoneid=zones["Zone2"])["jobstatus"] == 1
    assert list(_rows(wf, tpl["id"])) == ["Zone1"]
    assert wf.run_job("deleteTemplate", id=tpl["id"], zoneid=zones["Zone1"])["jobstatus"] == 1
    assert wf.ok("listTemplates", templatefilter="self", id=tpl["id"]) == {}
    status, _ = wf.call("updateTemplate", id=tpl["id"], name="gone")
    assert status == 431


def test_delete_refused_while_a_copy_downloads() -> None:
    with MoldSim(zones=2, job_seconds=0.0, download_seconds=0.5) as sim, Workflow(sim.url) as wf:
        zones = _zones(wf)
        tpl = _template(wf)
        wf.ok("copyTemplate", id=tpl["id"], destzoneid=zones["Zone2"])
        text = "Please specify a template that is not currently being downloaded."
        assert _failed(wf.run_job("deleteTemplate", id=tpl["id"], zoneid=zones["Zone2"])) == (2, 530, text)
        assert _failed(wf.run_job("deleteTemplate", id=tpl["id"])) == (2, 530, text)
        # the ready copy in Zone1 may go meanwhile
        assert wf.run_job("deleteTemplate", id=tpl["id"], zoneid=zones["Zone1"])["jobstatus"] == 1
        rows = _wait(wf, tpl["id"], {"Zone2"})
        assert list(rows) == ["Zone2"]


def test_no_template_ready_text_of_cloudstack_4_17() -> None:
    with MoldSim(zones=2, profile="cloudstack-4.17") as sim, Workflow(sim.url, algo="sha1") as wf:
        zones = _zones(wf)
        ostype = next(o["id"] for o in wf.ok("listOsTypes")["ostype"] if o["description"] == "Windows PV")
        iso = wf.ready_iso("win", ostypeid=ostype)
        answer, _ = wf.deploy(iso["id"], wf.network()["id"], tpmversion=None)
        wf.run_job("stopVirtualMachine", id=answer["id"])
        root = wf.first("listVolumes", "volume", virtualmachineid=answer["id"])
        tpl = wf.wait_job(wf.ok("createTemplate", volumeid=root["id"], name="t",
                                ostypeid=ostype)["jobid"])["jobresult"]["template"]
        job = wf.run_job("copyTemplate", id=tpl["id"], sourcezoneid=zones["Zone2"], destzoneid=zones["Zone1"])
        assert _failed(job) == (2, 431, "There is no template 2 ready on image store.")


def test_copies_survive_a_restart(tmp_path: Any) -> None:
    with MoldSim(zones=2, data_dir=tmp_path) as sim, Workflow(sim.url) as wf:
        zones = _zones(wf)
        tpl = _template(wf)
        wf.run_job("copyTemplate", id=tpl["id"], destzoneid=zones["Zone2"])
        wf.run_job("deleteTemplate", id=tpl["id"], zoneid=zones["Zone1"])
    with MoldSim(data_dir=tmp_path) as sim, Workflow(sim.url) as wf:
        rows = _rows(wf, tpl["id"])
        assert list(rows) == ["Zone2"] and rows["Zone2"]["isready"] is True


def test_deploy_from_a_template_needs_its_copy_in_the_vms_zone() -> None:
    """L engine/orchestration/.../VolumeOrchestrator.java allocateTemplatedVolume →
    L server/.../template/TemplateManagerImpl.java getTemplateSize: "Template <id> has not been
    completely downloaded to zone <id>" (internal ids), a CloudRuntimeException in the create
    phase: 530 and no VM (L server/.../api/ApiServer.java handleRequest)."""
    with MoldSim(zones=2, job_seconds=0.0, download_seconds=0.3) as sim, Workflow(sim.url) as wf:
        zones = _zones(wf)
        tpl = _template(wf)
        net = wf.network("zone2-net", zoneid=zones["Zone2"])
        params = wf.deploy_params(tpl["id"], net["id"], name="from-tpl", zoneid=zones["Zone2"],
                                  diskofferingid=None, hypervisor=None)
        status, body = wf.call("deployVirtualMachine", **params)
        assert status == 530 and body["errorcode"] == 530
        assert re.fullmatch(r"Template \d+ has not been completely downloaded to zone 2",
                            body["errortext"]), body
        assert wf.ok("listVirtualMachines", name="from-tpl").get("virtualmachine") is None
        copy = wf.ok("copyTemplate", id=tpl["id"], destzoneid=zones["Zone2"])
        status, body = wf.call("deployVirtualMachine", **params)  # the copy is downloading
        assert status == 530 and "has not been completely downloaded to zone 2" in body["errortext"]
        wf.wait_job(copy["jobid"])
        _, job = wf.deploy(tpl["id"], net["id"], **{k: v for k, v in params.items()
                                                     if k not in ("templateid", "networkids")})
        assert job["jobstatus"] == 1 and job["jobresult"]["virtualmachine"]["zonename"] == "Zone2"
