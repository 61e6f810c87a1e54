"""Templates for a whole cloud: a user's keys on a three-zone moldsim build a template, copy it
to every zone, share it with another account and a project, keep three of four revisions (the
oldest retired only once the newest is ready everywhere, one in use kept), carry provenance
tags read back through Mold's API, and restore a deleted zone copy and a removed share."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from moldsim.server import MoldSim
from tests.helpers.checks import STOP_AT_ONCE, ok, tags_of, wait_job, write
from tests.helpers.cli import Mwin, Run
from tests.helpers.mold_api import MoldApi, new_account

SPEC = """\
version: 1
defaults: {{zone: Zone1}}
isos:
  win2022: {{url: "https://example.com/ws2022.iso", os_type: Windows PV, checksum: abc123}}
networks:
  prep-net: {{}}
vms:
  master:
    install_iso: win2022
    compute_offering: 2vCore-4GB
    disk_offering: 50GB
    networks: [prep-net]
    state: stopped
templates:
  base:
    from_vm: master
    name: Windows Server 2022 base
    os_type: Windows PV
    revision: {revision}
    keep: {keep}
    zones: all
    share: {{accounts: [tenant], projects: [{projects}]}}
"""
FAST = STOP_AT_ONCE
NAME = "Windows Server 2022 base"



@pytest.fixture
def cloud() -> Iterator[MoldSim]:
    with MoldSim(job_seconds=0.02, download_seconds=0.05, zones=3) as server:
        yield server


@pytest.fixture
def admin(cloud: MoldSim) -> Iterator[MoldApi]:
    client = MoldApi(cloud.url)
    yield client
    client.close()




def revisions(mine: MoldApi) -> dict[str, list[dict]]:
    """Template rows by revision tag (one row per zone)."""
    found: dict[str, list[dict]] = {}
    for row in mine.items("listTemplates", "template", templatefilter="self"):
        found.setdefault(tags_of(row)["mwin:revision"], []).append(row)
    return found


def test_a_template_for_every_zone_and_tenant(cloud: MoldSim, admin: MoldApi,
                                              tmp_path: Path) -> None:
    domain = admin.call("createDomain", name="images")["domain"]
    key, secret, _ = new_account(admin, "op", domainid=domain["id"])
    tenant_key, tenant_secret, _ = new_account(admin, "tenant", domainid=domain["id"])
    mine = MoldApi(cloud.url, key, secret)
    tenant = MoldApi(cloud.url, tenant_key, tenant_secret)
    project = mine.call("createProject", name="consumers", displaytext="Template consumers")
    if project.get("jobid"):
        wait_job(mine, project["jobid"])
    [pid] = [p["id"] for p in mine.items("listProjects", "project")]
    work = tmp_path / "images"
    work.mkdir()
    spec = work / "cloud.yaml"
    mwin = Mwin(cloud.url, work)
    mwin.env.update(MOLD_API_KEY=key, MOLD_SECRET_KEY=secret)

    def apply(revision: int, keep: int = 3, projects: str = "consumers") -> Run:
        spec.write_text(SPEC.format(revision=revision, keep=keep, projects=projects),
                        encoding="utf-8")
        subprocess.run(["git", "add", "cloud.yaml"], cwd=work, check=True)
        subprocess.run(["git", "commit", "-qm", f"revision {revision}"], cwd=work, check=True)
        return mwin("apply", str(spec), "--auto-approve", *FAST)

    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    subprocess.run(["git", "config", "user.email", "op@example.test"], cwd=work, check=True)
    subprocess.run(["git", "config", "user.name", "op"], cwd=work, check=True)
    (work / ".gitignore").write_text("state/\n.mwin/\n")
    subprocess.run(["git", "add", ".gitignore"], cwd=work, check=True)

    # revision 1: made in Zone1, copied to Zone2 and Zone3, shared, published
    ok(apply(1))
    [rows] = revisions(mine).values()
    assert sorted((r["zonename"], r["isready"]) for r in rows) == [
        ("Zone1", True), ("Zone2", True), ("Zone3", True)]
    first = rows[0]["id"]
    permissions = mine.call("listTemplatePermissions", id=first)["templatepermission"]
    assert "tenant" in permissions["account"] and permissions["projectids"] == [pid]
    assert [t["id"] for t in tenant.items("listTemplates", "template",
                                          templatefilter="sharedexecutable")][:1] == [first]

    # provenance, read back through Mold's API (listTags), not through mwin
    read = {t["key"]: t["value"] for t in mine.items("listTags", "tag", resourceid=first)}
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, check=True,
                          capture_output=True, text=True).stdout.strip()
    assert read["mwin:git-commit"] == head
    assert read["mwin:source"] == "vm.master" and read["mwin:iso:win2022"] == "abc123"
    assert read["mwin:channel"] == "stable" and read["mwin:revision"] == "1"
    assert len(read["mwin:spec-digest"]) == 64 and read["mwin:version"]
    assert read["mwin:built-at"].startswith(time.strftime("%Y-", time.gmtime(time.time())))
    assert "No changes." in ok(mwin("plan", str(spec))).out

    # `mwin templates` lists it per zone with its channel and provenance
    listed = ok(mwin("templates", str(spec))).out
    assert "template.base" in listed and "revision 1  [stable]" in listed
    assert "Zone3: ready" in listed and f"git-commit: {head}" in listed

    # a copy deleted in the UI and a share removed by hand come back with the next apply
    zone3 = next(r["zoneid"] for r in rows if r["zonename"] == "Zone3")
    wait_job(mine, mine.call("deleteTemplate", id=first, zoneid=zone3)["jobid"])
    mine.call("updateTemplatePermissions", id=first, op="remove", accounts="tenant")
    drift = ok(mwin("plan", str(spec))).out
    assert "copy it to Zone3" in drift and "share it as `share` says" in drift
    ok(mwin("apply", str(spec), "--auto-approve", *FAST))
    assert sorted(r["zonename"] for r in revisions(mine)["1"]) == ["Zone1", "Zone2", "Zone3"]
    assert "tenant" in mine.call("listTemplatePermissions", id=first)["templatepermission"][
        "account"]

    # revisions 2 and 3: three kept, the newest has the name and the channel
    ok(apply(2))
    ok(apply(3))
    held = revisions(mine)
    assert sorted(held) == ["1", "2", "3"]
    names = {rev: rows[0]["name"] for rev, rows in held.items()}
    assert names == {"3": NAME, "2": f"{NAME} (revision 2)", "1": f"{NAME} (revision 1)"}
    assert [rev for rev, rows in held.items() if tags_of(rows[0]).get("mwin:channel")] == ["3"]

    # a step on the newest revision (the project no longer shared) keeps the older ones
    ok(apply(3, projects=""))
    assert "projectids" not in mine.call("listTemplatePermissions", id=held["3"][0]["id"])[
        "templatepermission"]
    assert sorted(revisions(mine)) == ["1", "2", "3"]
    assert "No changes." in ok(mwin("plan", str(spec))).out
    ok(apply(3))

    # a tenant's VM runs from revision 1 in Zone2
    zone2 = next(z["id"] for z in tenant.items("listZones", "zone") if z["name"] == "Zone2")
    offering = tenant.items("listServiceOfferings", "serviceoffering")[0]["id"]
    deployed = tenant.call("deployVirtualMachine", templateid=first, zoneid=zone2,
                           serviceofferingid=offering, name="consumer")
    assert wait_job(tenant, deployed["jobid"])["jobstatus"] == 1

    # revision 4 whose copy to the other zones fails: nothing older is retired
    cloud.set_faults(fail_jobs=[{"command": "copyTemplate", "errortext": "no secondary storage"}])
    failed = apply(4)
    assert failed.code == 1 and "no secondary storage" in failed.err
    held = revisions(mine)
    assert sorted(held) == ["1", "2", "3", "4"]
    assert [rev for rev, rows in held.items() if tags_of(rows[0]).get("mwin:channel")] == ["3"]

    # the next apply copies it, then publishes it and retires revision 1 — in use, so kept
    done = ok(mwin("apply", str(spec), "--auto-approve", *FAST))
    assert "VMs still use it" in done.out + done.err
    held = revisions(mine)
    assert sorted(held) == ["1", "2", "3", "4"]
    assert sorted(r["zonename"] for r in held["4"]) == ["Zone1", "Zone2", "Zone3"]
    assert [rev for rev, rows in held.items() if tags_of(rows[0]).get("mwin:channel")] == ["4"]
    assert held["4"][0]["name"] == NAME
    assert "No changes." in ok(mwin("plan", str(spec))).out

    # once the tenant's VM is gone, the next revision retires the two beyond keep, oldest first
    [vm] = tenant.items("listVirtualMachines", "virtualmachine")
    wait_job(admin, admin.call("destroyVirtualMachine", id=vm["id"], expunge=True)["jobid"])
    ok(apply(5))
    held = revisions(mine)
    assert sorted(held) == ["3", "4", "5"]
    assert {rev: rows[0]["name"] for rev, rows in held.items()} == {
        "5": NAME, "4": f"{NAME} (revision 4)", "3": f"{NAME} (revision 3)"}

    # keep lowered: the revision beyond it goes at once, no new revision needed
    lowered = ok(mwin("plan", str(write(spec, SPEC.format(revision=5, keep=2,
                                                          projects="consumers")))))
    assert "keep is 2: retire 1 older revision(s) beyond it" in lowered.out
    ok(mwin("apply", str(spec), "--auto-approve", *FAST))
    assert sorted(revisions(mine)) == ["4", "5"]
    assert "No changes." in ok(mwin("plan", str(spec))).out

    # a zone taken out of `zones`: every kept revision's copy there goes, not only the newest
    write(spec, SPEC.format(revision=5, keep=2, projects="consumers").replace(
        "zones: all", "zones: [Zone1, Zone2]"))
    [action] = mwin.plan_json(spec)["actions"]
    assert (action["operation"], action["reason"]) == (
        "delete_template_copy", "delete its copy in Zone3 and those of the older revisions "
        "kept (no longer in `zones`)")
    ok(mwin("apply", str(spec), "--auto-approve", *FAST))
    assert {rev: sorted(r["zonename"] for r in rows) for rev, rows in revisions(mine).items()} == {
        "4": ["Zone1", "Zone2"], "5": ["Zone1", "Zone2"]}
    assert "No changes." in ok(mwin("plan", str(spec))).out
    mine.close()
    tenant.close()


def test_a_template_made_by_hand_is_imported_and_managed(cloud: MoldSim, admin: MoldApi,
                                                         tmp_path: Path) -> None:
    spec = tmp_path / "cloud.yaml"
    text = SPEC.format(revision=1, keep=3, projects="").replace(
        "    share: {accounts: [tenant], projects: []}\n", "")
    spec.write_text(text.split("templates:")[0], encoding="utf-8")
    mwin = Mwin(cloud.url, tmp_path)
    ok(mwin("apply", str(spec), "--auto-approve", *FAST))  # the VM, no template yet
    [vm] = admin.items("listVirtualMachines", "virtualmachine")
    [root] = admin.items("listVolumes", "volume", virtualmachineid=vm["id"], type="ROOT")
    ostype = admin.items("listOsTypes", "ostype", description="Windows PV")[0]["id"]
    made = admin.call("createTemplate", name=NAME, displaytext=NAME, volumeid=root["id"],
                      ostypeid=ostype)
    assert wait_job(admin, made["jobid"])["jobstatus"] == 1
    spec.write_text(text, encoding="utf-8")

    ok(mwin("import", "template.base", made["id"], "--spec", str(spec)))
    planned = ok(mwin("plan", str(spec))).out
    assert "copy it to Zone2, Zone3" in planned and "will be created" not in planned
    ok(mwin("apply", str(spec), "--auto-approve", *FAST))
    rows = admin.items("listTemplates", "template", templatefilter="self", id=made["id"])
    assert sorted(r["zonename"] for r in rows) == ["Zone1", "Zone2", "Zone3"]
    assert tags_of(rows[0])["mwin:address"] == "template.base"
    assert tags_of(rows[0])["mwin:channel"] == "stable"
    assert "No changes." in ok(mwin("plan", str(spec))).out
