"""Profiles (`moldsim serve --profile`, `MoldSim(profile=...)`) and the new serve flags.

Sources: see moldsim/profiles.py. Upstream CloudStack 4.17 (apache/cloudstack; L =
jeongda-young/ablestack-cloud where Mold had not changed the text yet):
- no `tpmversion` (Mold's ApiConstants.TpmVersion); CloudStack ignores parameters it does not know
- api/.../response/GuestOSResponse.java: `name` only since 4.19, `description` before
- L server/.../vm/UserVmManagerImpl.destroyVm: "Parameter expunge can be passed by Admin only. ..."
- L server/.../template/TemplateAdapterBase.prepare: "Please specify a valid zone Id. Only admins ..."
- L server/.../api/query/dao/UserVmJoinDaoImpl: "Bios"/"legacy" when a VM has no details at all
- upstream SnapshotManager.VmStorageSnapshotKvm defaults to false
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from moldsim.server import MoldSim

from simclient import Client, Workflow


def test_cloudstack_417_profile() -> None:
    with MoldSim(profile="cloudstack-4.17") as sim, Workflow(sim.url, algo="sha1") as wf:
        assert sim.config.signature == "sha1"
        with Workflow(sim.url) as sha256:
            assert sha256.call("listZones")[0] == 401
        deploy = wf.first("listApis", "api", name="deployVirtualMachine")
        assert "tpmversion" not in {p["name"] for p in deploy["params"]}
        ostype = wf.ok("listOsTypes")["ostype"][0]
        assert "name" not in ostype and ostype["description"]
        iso = wf.ready_iso("win", ostypeid=next(o["id"] for o in wf.ok("listOsTypes")["ostype"]
                                               if o["description"] == "Windows PV"))
        net = wf.network()
        answer, job = wf.deploy(iso["id"], net["id"], boottype="BIOS", bootmode="LEGACY", tpmversion="V2_0")
        vm = wf.vm(answer["id"])
        assert vm["details"] == {} and (vm["boottype"], vm["bootmode"]) == ("Bios", "legacy")
        assert wf.first("listConfigurations", "configuration", name="kvm.vmstoragesnapshot.enabled")["value"] == "false"


def test_cloudstack_417_texts(users: Any) -> None:
    with MoldSim(profile="cloudstack-4.17") as sim, Workflow(sim.url, algo="sha1") as wf:
        alice, _ = users(wf, "alice")
        win = next(o["id"] for o in alice.ok("listOsTypes")["ostype"] if o["description"] == "Windows PV")
        status, body = alice.call("registerIso", name="x", url="http://h/x.iso", zoneid="-1", ostypeid=win)
        assert (status, body["errortext"]) == (431, "Please specify a valid zone Id. Only admins can create "
                                                    "templates in all zones.")
        iso = alice.ready_iso("w", ostypeid=win)
        answer, _ = alice.deploy(iso["id"], alice.network()["id"], tpmversion=None)
        job = alice.run_job("destroyVirtualMachine", id=answer["id"], expunge=True)
        assert job["jobresult"] == {"errorcode": 530, "errortext": "Parameter expunge can be passed by Admin "
                                                                   "only. Or when the allow.user.expunge.recover.vm "
                                                                   "key is set."}


def test_mold_423_adds_the_cdrom_api_and_the_older_profiles_lack_it() -> None:
    """The mold-4.23 profile is mold-4.21 plus Mold 4.23's multi-CD-ROM API (see
    test_sim_cdrom.py); the others know neither its parameters nor its setting."""
    with MoldSim(profile="mold-4.23") as sim, Workflow(sim.url) as wf:
        assert sim.config.release.cdrom_drives == 2
        deploy = {p["name"] for p in wf.first("listApis", "api", name="deployVirtualMachine")["params"]}
        assert {"tpmversion", "additionalisoids"} <= deploy
        assert "id" in {p["name"] for p in wf.first("listApis", "api", name="detachIso")["params"]}
        assert wf.ok("listOsTypes")["ostype"][0]["name"]
    for profile, algo in (("mold-4.21", "sha256"), ("cloudstack-4.17", "sha1")):
        with MoldSim(profile=profile) as sim, Workflow(sim.url, algo=algo) as wf:
            assert sim.config.release.cdrom_drives == 1
            deploy = {p["name"] for p in wf.first("listApis", "api", name="deployVirtualMachine")["params"]}
            assert "additionalisoids" not in deploy
            assert "id" not in {p["name"] for p in wf.first("listApis", "api", name="detachIso")["params"]}
            status, body = wf.call("updateConfiguration", name="vm.iso.max.count", value="2")
            assert (status, body["errortext"]) == (431, "Config parameter with name vm.iso.max.count doesn't exist")
    with pytest.raises(ValueError, match="profile must be one of mold-4.21, mold-4.23, cloudstack-4.17"):
        MoldSim(profile="mold-9")


def test_serve_flags_profile_api_limit_zones(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "moldsim", "serve", "--port", "0", "--job-seconds", "0",
         "--profile", "cloudstack-4.17", "--api-limit", "5/2", "--zones", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split(" ")[-1].strip()
        base = url.rsplit("/client/api", 1)[0]
        config = httpx.get(base + "/moldsim/config").json()
        assert (config["profile"], config["api_limit"], config["zones"], config["signature"]) == \
            ("cloudstack-4.17", "5/2", 3, "sha1")
        with Client(url, algo="sha1") as c:
            assert [z["name"] for z in c.ok("listZones")["zone"]] == ["Zone1", "Zone2", "Zone3"]
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    bad = subprocess.run([sys.executable, "-m", "moldsim", "serve", "--api-limit", "lots"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "api limit must be N/S" in bad.stderr
