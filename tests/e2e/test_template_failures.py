"""Templates through failures: a revision is recorded (with the history `keep` protects) the
moment Mold answers createTemplate, so an apply that stops waiting, a tagging that fails or a
download that fails leaves nothing state does not know; the next plan waits for it, tags it or
makes it again, and only then publishes and retires. A destroy takes every recorded revision."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from moldsim.server import MoldSim
from tests.helpers.checks import STOP_AT_ONCE, ok, tags_of, wait_job, write
from tests.helpers.cli import Mwin
from tests.helpers.mold_api import MoldApi

SPEC = """\
version: 1
defaults: {{zone: Zone1}}
isos:
  win: {{url: "https://example.com/ws2022.iso", os_type: Windows PV}}
networks:
  prep-net: {{}}
vms:
  master: {{install_iso: win, compute_offering: 2vCore-4GB, disk_offering: 50GB,
           networks: [prep-net], state: stopped, cdrom: null}}
templates:
  base: {{from_vm: master, name: Base, os_type: Windows PV, revision: {revision}, keep: 2}}
"""
FAST = ("--auto-approve", *STOP_AT_ONCE)


@pytest.fixture
def sim() -> Iterator[MoldSim]:
    with MoldSim(job_seconds=0.05, download_seconds=0.05) as server:
        yield server


def revisions(mold: MoldApi) -> dict[str, tuple[str, bool, str | None, str | None]]:
    """id -> (name, ready, revision tag, channel tag)."""
    return {r["id"]: (r["name"], r["isready"], tags_of(r).get("mwin:revision"),
                      tags_of(r).get("mwin:channel"))
            for r in mold.items("listTemplates", "template", templatefilter="self")}


def recorded(mwin: Mwin) -> dict[str, Any]:
    return dict(json.loads(mwin.state.read_text(encoding="utf-8"))["resources"]["template.base"])


def zoned(zones: str) -> str:
    """Revision 1 declared in ``zones`` besides the VM's."""
    return SPEC.format(revision=1).replace("keep: 2}", f"keep: 2, zones: {zones}}}")


def made_then_copied(sim: MoldSim, tmp_path: Path, zones: str) -> tuple[Mwin, Path]:
    """Revision 1 made in Zone1, then the spec declaring it in ``zones`` as well."""
    mwin = Mwin(sim.url, tmp_path)
    spec = write(tmp_path / "spec.yaml", SPEC.format(revision=1))
    ok(mwin("apply", str(spec), *FAST))
    write(spec, zoned(zones))
    return mwin, spec


def test_a_revision_the_apply_stopped_waiting_for_is_recorded_and_published_later(
        sim: MoldSim, tmp_path: Path) -> None:
    with MoldApi(sim.url) as mold:
        mwin = Mwin(sim.url, tmp_path)
        spec = write(tmp_path / "spec.yaml", SPEC.format(revision=1))
        ok(mwin("apply", str(spec), *FAST))
        [first] = revisions(mold)
        write(spec, SPEC.format(revision=2))
        sim.config.download_seconds = 1.5
        stopped = mwin("apply", str(spec), *FAST, "--ready-timeout", "300ms")
        assert stopped.code == 1 and "not done within 0.3s" in stopped.err
        record = recorded(mwin)
        second = record["id"]
        assert second != first and record["attributes"]["previous_ids"] == [first]
        assert revisions(mold)[first] == ("Base", True, "1", "stable")  # not yet retired

        waiting = mwin.plan_json(spec)
        assert [a["operation"] for a in waiting["actions"]] == ["publish"]
        assert any(f"template {second} is not ready in Mold yet" in w and
                   "the steps below wait for it" in w for w in waiting["warnings"])
        done = ok(mwin("apply", str(spec), *FAST))
        assert f"waiting for template {second} to be ready first" in done.err
        assert revisions(mold) == {first: ("Base (revision 1)", True, "1", None),
                                   second: ("Base", True, "2", "stable")}
        assert "No changes." in ok(mwin("plan", str(spec))).out

        ok(mwin("destroy", str(spec), "--auto-approve"))  # every revision goes
        assert revisions(mold) == {}


def test_a_first_revision_whose_download_failed_is_made_again(sim: MoldSim, tmp_path: Path
                                                               ) -> None:
    with MoldApi(sim.url) as mold:
        mwin = Mwin(sim.url, tmp_path)
        spec = write(tmp_path / "spec.yaml", SPEC.format(revision=1))
        sim.set_faults(fail_downloads=[{"name_contains": "Base"}])
        started = time.monotonic()
        failed = mwin("apply", str(spec), *FAST)  # --ready-timeout 1h: failed when Mold said so
        assert failed.code == 1 and time.monotonic() - started < 30
        assert "failed: Download failed: HTTP Server returned 404" in failed.err
        [broken] = revisions(mold)
        assert revisions(mold)[broken] == ("Base", False, "1", None)  # no channel tag: not ready
        assert recorded(mwin)["id"] == broken
        sim.set_faults(clear=True)
        again = mwin.plan_json(spec)
        assert [(a["operation"], a["reason"]) for a in again["actions"]] == [
            ("delete", f"delete template {broken}: it failed in Mold (Download failed: HTTP "
                       "Server returned 404 (expected 200 OK))"),
            ("create_template", "its revision failed in Mold (Download failed: HTTP Server "
                                "returned 404 (expected 200 OK)): make it again")]
        ok(mwin("apply", str(spec), *FAST))
        [made] = revisions(mold)
        assert made != broken and revisions(mold)[made] == ("Base", True, "1", "stable")
        assert "No changes." in ok(mwin("plan", str(spec))).out


def test_a_revision_whose_tagging_failed_is_tagged_by_the_next_plan(sim: MoldSim,
                                                                    tmp_path: Path) -> None:
    with MoldApi(sim.url) as mold:
        mwin = Mwin(sim.url, tmp_path)
        spec = write(tmp_path / "spec.yaml", SPEC.format(revision=1))
        ok(mwin("apply", str(spec), *FAST))
        write(spec, SPEC.format(revision=2))
        sim.set_faults(fail_jobs=[{"command": "createTags"}])
        assert mwin("apply", str(spec), *FAST).code == 1
        sim.set_faults(clear=True)
        untagged = recorded(mwin)["id"]
        plan = json.dumps(mwin.plan_json(spec)["actions"])  # state's own keys are not shown
        assert "provenance" not in plan and "previous_ids" not in plan
        ok(mwin("apply", str(spec), *FAST))
        assert len(revisions(mold)) == 2 and revisions(mold)[untagged][0] == "Base"
        tags = tags_of(mold.items("listTemplates", "template", templatefilter="self",
                                  id=untagged)[0])
        assert (tags["mwin:address"], tags["mwin:revision"], tags["mwin:from-vm"]) == (
            "template.base", "2", "vm.master")
        # its provenance too, as recorded when Mold made it (built-at is then, not now)
        provenance = recorded(mwin)["attributes"]["provenance"]
        assert provenance["mwin:source"] == "vm.master" and len(provenance["mwin:spec-digest"]) == 64
        assert {k: tags.get(k) for k in provenance} == provenance
        assert recorded(mwin)["attributes"]["previous_ids"]  # the history is kept
        assert "No changes." in ok(mwin("plan", str(spec))).out


def test_a_zone_copy_still_downloading_is_not_counted_as_there(tmp_path: Path) -> None:
    with MoldSim(job_seconds=0.05, download_seconds=0.05, zones=2) as sim, \
            MoldApi(sim.url) as mold:
        mwin, spec = made_then_copied(sim, tmp_path, "all")
        sim.config.download_seconds = 1.5
        late = mwin("apply", str(spec), *FAST, "--job-timeout", "200ms")
        assert late.code == 1
        rows = mold.items("listTemplates", "template", templatefilter="self")
        assert sorted((r["zonename"], r["isready"]) for r in rows) == [("Zone1", True),
                                                                      ("Zone2", False)]
        # not "no changes": the copy in Zone2 is not there yet; and not a second copyTemplate,
        # which Mold would answer with a second copy onto the same image store
        plan = mwin.plan_json(spec)
        [(operation, reason)] = [(a["operation"], a["reason"]) for a in plan["actions"]]
        assert operation == "copy_template"
        assert reason.startswith("wait for its copy to Zone2 (") and "% Downloaded)" in reason
        sim.control("POST", "/moldsim/stats/reset")
        ok(mwin("apply", str(spec), *FAST))
        assert "copyTemplate" not in sim.control("GET", "/moldsim/stats")["by_command"]
        rows = mold.items("listTemplates", "template", templatefilter="self")
        assert sorted((r["zonename"], r["isready"]) for r in rows) == [("Zone1", True),
                                                                      ("Zone2", True)]
        assert "No changes." in ok(mwin("plan", str(spec))).out


def test_a_removed_template_whose_old_revision_is_in_use_keeps_its_state(sim: MoldSim,
                                                                         tmp_path: Path) -> None:
    """Revisions go oldest first and the newest last: when Mold refuses one (a VM outside this
    state uses it), state still records the template and its history, and nothing is forgotten
    while it is in Mold."""
    with MoldApi(sim.url) as mold:
        mwin = Mwin(sim.url, tmp_path)
        spec = write(tmp_path / "spec.yaml", SPEC.format(revision=1))
        ok(mwin("apply", str(spec), *FAST))
        [first] = revisions(mold)
        deploy = mold.call("deployVirtualMachine", zoneid=mold.items("listZones", "zone")[0]["id"],
                           templateid=first, name="someone-elses-vm",
                           serviceofferingid=mold.items("listServiceOfferings",
                                                        "serviceoffering")[0]["id"],
                           networkids=mold.items("listNetworks", "network", listall=True)[0]["id"])
        wait_job(mold, deploy["jobid"])
        write(spec, SPEC.format(revision=2))
        ok(mwin("apply", str(spec), *FAST))
        write(spec, SPEC.format(revision=2).split("templates:")[0])
        refused = mwin("apply", str(spec), *FAST)
        assert refused.code == 1 and "are using it" in refused.err
        assert len(revisions(mold)) == 2  # the newest is deleted last: both still there
        record = recorded(mwin)
        assert record["attributes"]["previous_ids"] == [first]
        assert [a["operation"] for a in mwin.plan_json(spec)["actions"]] == ["delete"]


def test_a_template_moved_with_state_mv_keeps_its_history(sim: MoldSim, tmp_path: Path) -> None:
    """The retag after `mwin state mv` keeps what state records beside the attributes: the
    older revisions (so keep and destroy still reach them) and the provenance."""
    mwin = Mwin(sim.url, tmp_path)
    spec = write(tmp_path / "spec.yaml", SPEC.format(revision=1))
    ok(mwin("apply", str(spec), *FAST))
    write(spec, SPEC.format(revision=2))
    ok(mwin("apply", str(spec), *FAST))
    before = recorded(mwin)["attributes"]
    assert before["previous_ids"] and before["provenance"]
    ok(mwin("state", "mv", "template.base", "template.img"))
    write(spec, SPEC.format(revision=2).replace("  base:", "  img:"))
    ok(mwin("apply", str(spec), *FAST))
    after = json.loads(mwin.state.read_text(encoding="utf-8"))["resources"]["template.img"]
    assert history_of(after) == history_of({"attributes": before})
    ok(mwin("destroy", str(spec), "--auto-approve"))
    with MoldApi(sim.url) as mold:
        assert mold.items("listTemplates", "template", templatefilter="self") == []


def history_of(resource: dict[str, Any]) -> tuple[Any, Any]:
    return resource["attributes"].get("previous_ids"), resource["attributes"].get("provenance")


def test_a_zone_copy_stuck_in_mold_fails_later_applies_at_once(tmp_path: Path) -> None:
    """A copy that never ends is waited for up to --ready-timeout counted from the first apply
    that waited for it (recorded in state), so each later apply says at once that it looks
    stuck instead of waiting the whole timeout again; nothing is copied twice."""
    with MoldSim(job_seconds=0.05, download_seconds=0.05, zones=2) as sim:
        mwin, spec = made_then_copied(sim, tmp_path, "all")
        sim.set_faults(hang_jobs=[{"command": "copyTemplate"}])
        assert mwin("apply", str(spec), *FAST, "--job-timeout", "200ms").code == 1
        [reason] = [a["reason"] for a in mwin.plan_json(spec)["actions"]]
        assert reason == "wait for its copy to Zone2 (Active)"

        waited = mwin("apply", str(spec), *FAST, "--ready-timeout", "300ms")
        assert waited.code == 1 and "within 0.3s" in waited.err, waited.err
        assert "copy_waits" in recorded(mwin)["attributes"]
        [reason] = [a["reason"] for a in mwin.plan_json(spec)["actions"]]
        assert reason.startswith("wait for its copy to Zone2 (Active, waited for since 20")

        sim.control("POST", "/moldsim/stats/reset")
        stuck = mwin("apply", str(spec), *FAST, "--ready-timeout", "300ms")
        assert stuck.code == 1
        assert "its copy to Zone2 has been on its way since 20" in stuck.err
        assert "the copy looks stuck in Mold" in stuck.err and "Traceback" not in stuck.err
        calls = sim.control("GET", "/moldsim/stats")["by_command"]
        assert "copyTemplate" not in calls and calls.get("listTemplates", 0) <= 2, calls


def test_a_stuck_copy_keeps_no_other_zone_from_its_copy(tmp_path: Path) -> None:
    """Zone2's copy is stuck in Mold; Zone3, declared later, is still copied to (first), and
    the apply then fails naming Zone2's copy alone."""
    with MoldSim(job_seconds=0.05, download_seconds=0.05, zones=3) as sim, \
            MoldApi(sim.url) as mold:
        mwin, spec = made_then_copied(sim, tmp_path, "[Zone1, Zone2]")
        sim.set_faults(hang_jobs=[{"command": "copyTemplate"}])
        assert mwin("apply", str(spec), *FAST, "--job-timeout", "200ms").code == 1
        assert mwin("apply", str(spec), *FAST, "--ready-timeout", "300ms").code == 1
        sim.set_faults(clear=True)  # new jobs end again; Zone2's copy stays stuck
        write(spec, zoned("all"))
        [reason] = [a["reason"] for a in mwin.plan_json(spec)["actions"]]
        assert reason.startswith("copy it to Zone3; wait for its copy to Zone2 (Active, waited")
        stuck = mwin("apply", str(spec), *FAST, "--ready-timeout", "300ms")
        assert stuck.code == 1 and "its copy to Zone2 has been on its way since" in stuck.err
        rows = mold.items("listTemplates", "template", templatefilter="self")
        assert sorted((r["zonename"], r["isready"]) for r in rows) == [
            ("Zone1", True), ("Zone2", False), ("Zone3", True)]
