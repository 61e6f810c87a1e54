"""Saying things right: did-you-mean for Mold's names, http:// against an HTTPS port, a spec
that declares nothing, the job-timeout message and when it fires, `mwin show` of the state,
an empty `state list`, `destroy --target/--json`, the workspace selection kept out of git,
`show` saying the summary once, and `import --all` reporting each failure."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from moldsim.server import MoldSim
from tests.helpers.cli import Mwin
from tests.helpers.mold_api import MoldApi

ISOS = """\
version: 1
defaults: {zone: Zone1}
isos:
  win2022: {url: https://example.com/ws2022.iso, os_type: Windows PV}
  virtio-win: {url: https://example.com/virtio-win.iso, bootable: false}
"""
WORKFLOW = ISOS + """\
networks:
  prep-net: {display_text: Prep network}
vms:
  master:
    install_iso: win2022
    compute_offering: 4vCore-8GB
    disk_offering: 50GB
    networks: [prep-net]
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def state_of(mwin: Mwin) -> dict[str, str]:
    resources = json.loads(mwin.state.read_text(encoding="utf-8"))["resources"]
    return {address: record["id"] for address, record in resources.items()}


# --- Mold's names ---------------------------------------------------------------------------

def test_mold_names_get_a_did_you_mean(mwin: Mwin, tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", WORKFLOW.replace("4vCore-8GB", "4vCore-8G").replace(
        "{zone: Zone1}", "{zone: Zone 1}").replace("disk_offering: 50GB", "disk_offering: 50G"))
    planned = mwin("plan", str(spec))
    assert planned.code == 1
    said = [line for line in planned.err.splitlines() if "does not exist in Mold" in line]
    assert "zone 'Zone 1' does not exist in Mold (did you mean 'Zone1'?)" in said[0]
    assert any("compute offering '4vCore-8G' does not exist in Mold (did you mean "
               "'4vCore-8GB'?)" in line for line in said)
    assert any("disk offering '50G' does not exist in Mold (did you mean '50GB'?)" in line
               for line in said)


# --- http:// against HTTPS --------------------------------------------------------------------

@pytest.fixture
def https_sim(tmp_path: Path) -> Iterator[MoldSim]:
    cert = trustme.CA().issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    with MoldSim(tls_cert=tmp_path / "cert.pem", tls_key=tmp_path / "key.pem") as sim:
        yield sim


def test_http_against_an_https_port_says_to_use_https(https_sim: MoldSim, tmp_path: Path) -> None:
    plain = https_sim.url.replace("https://", "http://")
    spec = write(tmp_path / "spec.yaml", ISOS)
    planned = Mwin(plain, tmp_path)("plan", str(spec))
    assert planned.code == 1
    assert planned.err.startswith(f"Error: listZones: connection failed talking to {plain} (")
    assert planned.err.rstrip().endswith(
        "; the server may expect TLS there: for HTTPS use an https:// URL (--url or MOLD_URL)")


# --- a spec that declares nothing ------------------------------------------------------------

def test_an_empty_spec_is_a_warning_and_deleting_everything_needs_asking(mwin: Mwin,
                                                                          tmp_path: Path) -> None:
    empty = write(tmp_path / "empty.yaml", "version: 1\n")
    validated = mwin("validate", str(empty))
    assert validated.code == 0
    assert validated.err == ("Warning: the spec declares no resource (no isos, networks, vms or "
                             "templates): a plan from it deletes everything in state\n")
    assert mwin("plan", str(empty)).code == 0  # nothing in state: nothing to refuse

    assert mwin("apply", str(write(tmp_path / "spec.yaml", ISOS)), "--auto-approve").code == 0
    refused = mwin("plan", str(empty))
    assert (refused.code, refused.out) == (1, "")
    assert refused.err == (f"Error: {empty} declares no resource, so this plan would delete all 2 "
                           f"resource(s) in state ({mwin.state}). Check the path and the files; to "
                           "delete everything say so: `mwin destroy`, or pass --allow-empty-spec\n")
    assert mwin("apply", str(empty), "--auto-approve").code == 1
    assert len(state_of(mwin)) == 2  # nothing was deleted
    asked = mwin("plan", str(empty), "--allow-empty-spec")
    assert asked.code == 0 and "Plan: 0 to add, 0 to change, 2 to destroy." in asked.out


# --- the job timeout ----------------------------------------------------------------------------

def test_the_job_timeout_fires_on_time_and_says_what_to_do(mwin: Mwin, sim: MoldSim,
                                                           tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", "version: 1\ndefaults: {zone: Zone1}\nnetworks:\n"
                                         "  prep-net: {display_text: Prep}\n")
    sim.set_faults(hang_jobs=[{"command": "createTags", "count": 1}])
    started = time.monotonic()
    applied = mwin("apply", str(spec), "--auto-approve", "--job-timeout", "1s",
                   "--poll-interval", "600ms")  # polls at 0.6s, then 1.5s without the deadline
    took = time.monotonic() - started
    assert applied.code == 1
    assert 1.0 <= took < 1.45, took
    (said,) = [line for line in applied.err.splitlines() if "#1 failed: " in line]
    assert said.startswith("  #1 failed: createTags job ")
    assert said.endswith(" did not finish within 1s (--job-timeout). It may still be running in "
                         "Mold: its event in Mold's UI (Events) shows how it ends. Then run "
                         "`mwin plan`: it picks up what the job made and plans what is left.")
    assert "queryAsyncJobResult" not in applied.err


# --- show, state list ----------------------------------------------------------------------------

def test_show_without_a_file_shows_the_state(mwin: Mwin, tmp_path: Path) -> None:
    shown = mwin("show", "--state", str(mwin.state))
    assert (shown.code, shown.out) == (0, f"The state is empty ({mwin.state}): mwin manages "
                                          "nothing there yet.\n")
    listed = mwin("state", "list")
    assert (listed.code, listed.out) == (0, "")
    assert listed.err == f"The state is empty ({mwin.state}): mwin manages nothing there.\n"

    assert mwin("apply", str(write(tmp_path / "spec.yaml", ISOS)), "--auto-approve").code == 0
    ids = state_of(mwin)
    shown = mwin("show", "--state", str(mwin.state))
    lines = shown.out.splitlines()
    assert lines[0] == f"# state {mwin.state}, serial 2: 2 resource(s)"
    at = lines.index("# iso.virtio-win:")
    assert lines[at + 1] == f'    id           = "{ids["iso.virtio-win"]}"'
    assert '    bootable     = false' in lines[at + 1:lines.index("# iso.win2022:")]
    assert '    os_type      = "Windows PV"' in lines[lines.index("# iso.win2022:"):]
    as_json = json.loads(mwin("show", "--json", "--state", str(mwin.state)).out)
    assert {a: r["id"] for a, r in as_json["resources"].items()} == ids
    assert mwin("state", "list").out == "".join(f"{a}\t{i}\n" for a, i in sorted(ids.items()))


def test_show_of_a_saved_plan_says_the_summary_once(mwin: Mwin, tmp_path: Path) -> None:
    saved = tmp_path / "mwin.plan"
    assert mwin("plan", str(write(tmp_path / "spec.yaml", ISOS)), "--out", str(saved)).code == 0
    shown = mwin("show", str(saved))
    assert shown.out.count("Plan: 2 to add, 0 to change, 0 to destroy.") == 1
    assert shown.out.endswith(f"\nApply exactly this plan with: mwin apply {saved}\n")


# --- destroy --target / --json -----------------------------------------------------------------

def test_destroy_a_target_and_what_uses_it(mwin: Mwin, tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", WORKFLOW)
    assert mwin("apply", str(spec), "--auto-approve").code == 0
    before = state_of(mwin)
    typo = mwin("destroy", "nospec", "--target", "network.prep-nt", "--auto-approve")
    assert typo.code == 1 and typo.err.endswith(
        "Error: --target network.prep-nt is not in state (did you mean 'network.prep-net'?)\n")
    gone = mwin("destroy", "nospec", "--target", "network.prep-net", "--auto-approve", "--json")
    assert gone.code == 0, gone.err
    events = [json.loads(line) for line in gone.out.splitlines()]
    assert events[0]["type"] == "plan"
    planned = [(a["address"], a["operation"]) for a in events[0]["plan"]["actions"]]
    assert ("vm.master", "delete") in planned and ("network.prep-net", "delete") in planned
    assert not any(address.startswith("iso.") and op == "delete" for address, op in planned)
    assert events[-1]["type"] == "apply_complete" and events[-1]["ok"] is True
    assert state_of(mwin) == {a: i for a, i in before.items() if a.startswith("iso.")}


# --- the workspace selection and git -------------------------------------------------------------

def test_the_workspace_selection_stays_out_of_git_and_config_stays_committable(
        mwin: Mwin, tmp_path: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=tmp_path, capture_output=True, text=True,
                              check=True, timeout=60).stdout

    git("init", "-q")
    git("config", "user.email", "t@example.com")
    assert mwin("workspace", "new", "zone-b").code == 0
    assert (tmp_path / ".mwin" / "workspace").read_text() == "zone-b\n"
    status = git("status", "--porcelain", "--untracked-files=all")
    assert ".mwin" not in status
    write(tmp_path / ".mwin" / "config.yaml", "backend: local\n")
    assert "?? .mwin/config.yaml" in git("status", "--porcelain", "--untracked-files=all")
    assert mwin("workspace", "select", "default").code == 0
    assert git("status", "--porcelain", "--untracked-files=all").count(".mwin/") == 1


# --- import --all is honest ----------------------------------------------------------------------

def test_import_all_reports_each_adoption_that_failed(mwin: Mwin, mold: MoldApi, sim: MoldSim,
                                                     tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", ISOS)
    zone = mold.items("listZones", "zone")[0]["id"]
    winpv = next(o["id"] for o in mold.items("listOsTypes", "ostype") if o["name"] == "Windows PV")
    made = {"iso.win2022": mold.call("registerIso", name="win2022", zoneid=zone, ostypeid=winpv,
                                     url="https://example.com/ws2022.iso")["iso"][0]["id"],
            "iso.virtio-win": mold.call("registerIso", name="virtio-win", zoneid=zone,
                                        bootable=False,
                                        url="https://example.com/virtio-win.iso")["iso"][0]["id"]}
    sim.set_faults(fail_jobs=[{"command": "createTags", "count": 1,
                               "errortext": "tags are not writable right now"}])
    imported = mwin("import", "--all", "--spec", str(spec))
    assert imported.code == 1
    (refused,) = [line for line in imported.err.splitlines() if line.startswith("Not adopted: ")]
    failed = refused.split(": ")[1]
    assert failed in made and "tags are not writable right now" in refused
    (adopted,) = [a for a in made if a != failed]
    assert f"Adopted {adopted}: {made[adopted]} " in imported.out
    assert imported.err.rstrip().endswith("import --all: 1 object(s) adopted, 1 not (above); state "
                                          "holds the adopted ones. Fix the cause and run `mwin "
                                          "import --all` again.")
    assert state_of(mwin) == {adopted: made[adopted]}
    again = mwin("import", "--all", "--spec", str(spec))
    assert again.code == 0 and "1 object(s) adopted." in again.out
    assert state_of(mwin) == made


def test_a_mold_url_with_a_bad_port_is_a_settings_error(tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", ISOS)
    bad = "http://127.0.0.1:abc/client/api"
    for run in (Mwin(bad, tmp_path)("plan", str(spec)),
                Mwin("http://127.0.0.1:9/client/api", tmp_path)("plan", str(spec), "--url", bad)):
        assert run.code == 1 and "internal error" not in run.err and "Traceback" not in run.err
        assert run.err.startswith("Error: invalid Mold settings: ")
        assert "the port must be a number from 0 to 65535" in run.err
    assert f"MOLD_URL={bad}: the port" in Mwin(bad, tmp_path)("plan", str(spec)).err


def test_show_of_a_file_that_is_no_plan_says_so_in_one_line(tmp_path: Path) -> None:
    mwin = Mwin("http://127.0.0.1:9/client/api", tmp_path)
    cases = {"garbage.plan": ("garbage\n", "not JSON"),
             "list.plan": ("[1, 2]\n", "input should be an object"),
             "partial.plan": ('{"actions": [{"address": "iso.a"}]}\n',
                              "actions.0.operation: field required, and 1 more problem(s)")}
    for name, (content, why) in cases.items():
        write(tmp_path / name, content)
        run = mwin("show", name)
        assert (run.code, run.out) == (1, "")
        assert run.err == (f"Error: {name} is not a readable mwin plan file ({why}); save one "
                           "with `mwin plan --out FILE`\n"), run.err
        assert "pydantic" not in run.err


def test_a_mold_url_with_credentials_is_never_printed_or_logged_whole(sim: MoldSim,
                                                                     tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", ISOS)
    port = sim.url.split(":")[2].split("/")[0]
    reachable = Mwin(f"http://ops:pw-789@127.0.0.1:{port}/client/api", tmp_path)
    planned = reachable("plan", str(spec), "--debug")
    assert planned.code == 0 and "POST /client/api listZones" in planned.err
    closed = Mwin("http://ops:pw-789@127.0.0.1:9/client/api", tmp_path)("plan", str(spec),
                                                                       "--debug")
    assert closed.code == 1
    assert "connection failed talking to http://***@127.0.0.1:9/client/api" in closed.err
    broken = Mwin("http://ops:pw-789@127.0.0.1:x/client/api", tmp_path)("plan", str(spec))
    assert broken.code == 1 and "MOLD_URL=http://***@127.0.0.1:x/client/api" in broken.err
    for run in (planned, closed, broken):
        assert "pw-789" not in run.out + run.err and "ops:" not in run.out + run.err
