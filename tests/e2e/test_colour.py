"""--color/--no-color reach every view: the plan and result on stdout, warnings and apply
progress on stderr. Without the flag, NO_COLOR (set by the Mwin helper) and a stream that is
not a terminal keep everything plain."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.cli import Mwin

SPEC = """\
version: 1
defaults: {zone: Zone1}
isos:
  virtio-win: {url: https://example.com/virtio-win.iso, bootable: false}
"""
ESC = "\033["


def test_color_flag_colours_plan_progress_and_summary(mwin: Mwin, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    plain = mwin("plan", str(spec))
    assert plain.code == 0 and ESC not in plain.out + plain.err
    applied = mwin("apply", str(spec), "--auto-approve", "--color")
    assert applied.code == 0, applied.err
    assert f"{ESC}1m  # iso.virtio-win will be created{ESC}0m" in applied.out  # the plan
    assert f"{ESC}32;1m\nApply complete! 1 action(s) done.{ESC}0m" in applied.out
    done = [line for line in applied.err.splitlines() if ": done after " in line]
    assert len(done) == 1 and done[0].startswith(f"{ESC}32miso.virtio-win (create): done")
    spec.write_text(SPEC.replace("virtio-win.iso", "virtio-win-2.iso"), encoding="utf-8")
    forced_off = mwin("apply", str(spec), "--auto-approve", "--no-color")
    assert forced_off.code == 0, forced_off.err
    assert ESC not in forced_off.out + forced_off.err
    assert ": done after " in forced_off.err
