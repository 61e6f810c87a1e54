"""A plan marks drift only where Mold was changed behind mwin's back: a value the spec now
declares for the first time (Mold had picked one) is a change of the spec, not drift."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.checks import STOP_AT_ONCE, ok, write
from tests.helpers.cli import Mwin
from tests.helpers.mold_api import MoldApi

BASE = """\
version: 1
defaults: {zone: Zone1}
isos:
  a: {url: "https://example.com/a.iso", os_type: Windows PV}
networks:
  n1: {display_text: n1}
vms:
  m:
    install_iso: a
    cdrom: null
    compute_offering: 2vCore-4GB
    disk_offering: 50GB
    networks: [n1]
    state: stopped
"""
FAST = ("--auto-approve", *STOP_AT_ONCE)


def drift_of(mwin: Mwin, spec: Path) -> list[str]:
    return sorted(d["address"] for d in mwin.plan_json(spec)["drift"])


def test_values_declared_for_the_first_time_are_not_drift(mwin: Mwin, mold: MoldApi,
                                                           tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", BASE)
    ok(mwin("apply", str(spec), *FAST))
    write(spec, BASE.replace("n1: {display_text: n1}",
                             "n1: {display_text: n1, network_domain: lab.internal}")
          .replace("    state: stopped\n", "    state: stopped\n    snapshots: [clean]\n"))
    assert drift_of(mwin, spec) == []
    assert "drift" not in ok(mwin("plan", str(spec))).out

    [net] = mold.items("listNetworks", "network", name="n1")
    mold.call("updateNetwork", id=net["id"], displaytext="changed in the UI")
    assert drift_of(mwin, spec) == ["network.n1"]
    assert "changed in Mold outside mwin" in ok(mwin("plan", str(spec))).out
