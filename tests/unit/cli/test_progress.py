"""Apply progress: a live view with one line per action in flight on a terminal, plain lines
elsewhere; the view in use also hears of the jobs an action waits on without saying so."""

from __future__ import annotations

import io
import time
from contextlib import redirect_stderr

import pytest
from rich.console import Console

from reconciler.cli.output import Output, Progress
from reconciler.mold.client import narrate_jobs
from reconciler.plan import Action, Operation
from reconciler.render.progress import LiveProgress, percent_of
from reconciler.render.text import ProgressView
from tests.helpers.fake_mold import in_process_mold


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def action(address: str, operation: Operation = Operation.CREATE) -> Action:
    return Action(address=address, kind=address.split(".")[0], operation=operation, reason="r")


def shown(view: LiveProgress, width: int = 100) -> list[str]:
    console = Console(file=io.StringIO(), width=width, record=True)
    console.print(view.render())
    return [line.rstrip() for line in console.export_text().splitlines() if line.strip()]


@pytest.mark.parametrize("message, share", [("48% Downloaded", 48.0), ("Installing Template", None),
                                            ("uploading a.iso: 3 MiB of 6 MiB (50%, 1 MiB/s, "
                                             "3s left)", 50.0), ("100% Downloaded", 100.0),
                                            ("at 300%", None)])
def test_percentages_in_messages(message: str, share: float | None) -> None:
    assert percent_of(message) == share


def test_one_line_per_action_in_flight_with_its_message_and_time() -> None:
    stream = Terminal()
    iso, vm, net = action("iso.win2022"), action("vm.master", Operation.STOP), action("network.n")
    with LiveProgress(stream, colour=False, width=100) as view:
        view.action_started(0, iso)
        view.action_started(1, vm)
        view.action_started(2, net)
        view.action_progress(0, iso, "48% Downloaded")
        view.action_progress(1, vm, "waiting up to 180s for the guest to power off")
        lines = shown(view)
        assert len(lines) == 3
        assert lines[0].startswith("⠋ iso.win2022 (create)")
        assert "48% Downloaded" in lines[0] and lines[0].endswith(" 0s")
        assert "━" in lines[0]  # the bar: the message has a percentage
        assert "waiting up to 180s for the guest to power off" in lines[1]
        assert "━" not in lines[1]
        assert "started" in lines[2]
        view.action_finished(0, iso, 1.25)
        view.action_failed(2, net, RuntimeError("boom"))
        lines = shown(view)
        assert len(lines) == 1 and "vm.master (stop)" in lines[0]
    printed = stream.getvalue()
    assert "iso.win2022 (create): done after 1.2s" in printed
    assert "network.n (create): FAILED: boom" in printed


def test_narrow_terminals_get_no_bar_and_cut_the_message() -> None:
    with LiveProgress(Terminal(), colour=False, width=60) as view:
        view.action_started(0, action("iso.win2022"))
        view.action_progress(0, action("iso.win2022"), "48% Downloaded " + "x" * 80)
        (line,) = shown(view, width=60)
    assert "━" not in line and "…" in line and len(line) <= 60


def test_elapsed_time_counts_from_the_start() -> None:
    with LiveProgress(Terminal(), colour=False, width=100) as view:
        view.action_started(0, action("iso.win2022"))
        view._flights[0].started = time.monotonic() - 125  # as if started 2m05s ago
        (line,) = shown(view)
    assert line.endswith("2m05s")


@pytest.mark.parametrize("stream, term, live", [(Terminal(), "xterm", True),
                                                (io.StringIO(), "xterm", False),
                                                (Terminal(), "dumb", False)])
def test_the_live_view_only_on_a_terminal(stream: io.StringIO, term: str, live: bool,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", term)
    with redirect_stderr(stream), Output(False).progress() as progress:
        assert isinstance(progress.view, LiveProgress if live else ProgressView)


def test_jobs_waited_on_silently_are_told_to_the_action_that_waits() -> None:
    heard: list[tuple[int, str]] = []

    class Ear(ProgressView):
        def action_progress(self, index: int, action: Action, message: str) -> None:
            heard.append((index, message))

    progress = Progress(Ear(io.StringIO()))
    with in_process_mold(job_seconds=0.05) as (_sim, client):
        zone = client.list_all("listZones", "zone")[0]["id"]
        iso = client.call("registerIso", {"name": "a", "displaytext": "a", "zoneid": zone,
                                          "url": "https://example.com/a.iso",
                                          "bootable": False})["iso"][0]
        tagging = {"resourcetype": "ISO", "resourceids": iso["id"],
                   "tags[0].key": "k", "tags[0].value": "v"}
        progress.action_started(3, action("iso.a"))
        answer = client.call("createTags", tagging)
        client.finish_job("createTags", answer, timeout=5)
        said = [f"waiting for Mold's createTags job {answer['jobid']}"]
        assert heard == [(3, said[0])]  # once per wait, however many rounds it took
        client.finish_job("createTags", client.call("createTags", tagging | {
            "tags[0].key": "k2"}), timeout=5, on_progress=lambda job: None)
        assert len(heard) == 1  # a wait with its own on_progress is the caller's to tell
        progress.action_finished(3, action("iso.a"), 0.1)
        client.finish_job("createTags", client.call("createTags", tagging | {
            "tags[0].key": "k3"}), timeout=5)
        assert len(heard) == 1  # the action is over: nobody hears
    narrate_jobs(None)
