"""The executor: Plan → API calls → state, against a small in-memory fake of Mold.

FakeMold has the methods the executor and kind modules use (`call`, `wait_job`, `finish_job`, `run_job`,
`list_all`) and keeps ISOs and tags in dictionaries; nothing of mwin is patched. Async
commands run when they are called; `wait_job` hands back their result or failure.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest

from reconciler.errors import ApiError, JobFailed, MoldError, PlanStale
from reconciler.executor import ApplyOptions, apply_plan
from reconciler.hooks import NullHook
from reconciler.mold.poll import Clock, Deadline
from reconciler.plan import Action, Operation, Plan
from reconciler.resources.base import Waits
from reconciler.state import ResourceState, State

ZONE = "zone-1"
OSTYPE = "ostype-winpv"
ASYNC = frozenset({"createTags", "deleteIso"})


class FakeMold:
    """ISOs download in `download_polls` listIsos polls; `fail` maps a command (and optionally
    an ISO name or id) to the error text its job or call ends with."""

    def __init__(self, download_polls: int = 0) -> None:
        self.isos: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail: dict[tuple[str, str | None], str] = {}
        self.download_polls = download_polls
        self.download_error: str | None = None
        self._ids = (f"iso-{n}" for n in itertools.count(1))
        self._jobids = itertools.count(1)
        self.jobs: dict[str, dict[str, Any] | Exception] = {}
        self._lock = threading.Lock()

    def _failure(self, command: str, params: Mapping[str, Any]) -> str | None:
        for key in (params.get("name"), params.get("id"), None):
            text = self.fail.get((command, key))
            if text:
                return text
        return None

    def _sync(self, command: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        params = dict(params or {})
        with self._lock:
            self.calls.append((command, params))
            failure = self._failure(command, params)
            if failure:
                raise ApiError(command, 431, failure)
            if command == "registerIso":
                iso_id = next(self._ids)
                self.isos[iso_id] = {"id": iso_id, "name": params["name"], "tags": [],
                                     "polls": 0, "params": params}
                return {"count": 1, "iso": [{"id": iso_id, "isready": False}]}
            if command in ("updateIso", "updateIsoPermissions"):
                self.isos[params["id"]]["params"].update(params)
                return {"iso": {"id": params["id"]}}
        raise AssertionError(f"unexpected call {command}")

    def call(self, command: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        if command not in ASYNC:
            return self._sync(command, params)
        jobid = f"job-{next(self._jobids)}"
        try:
            self.jobs[jobid] = self._job(command, params)
        except MoldError as exc:
            self.jobs[jobid] = exc
        return {"jobid": jobid}

    def wait_job(self, command: str, jobid: str, *, timeout: float, on_progress: Any = None,
                 resource_id: str | None = None) -> dict[str, Any]:
        outcome = self.jobs[jobid]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def finish_job(self, command: str, answer: Mapping[str, Any], *, timeout: float,
                   on_progress: Any = None) -> dict[str, Any]:
        return self.wait_job(command, answer["jobid"], timeout=timeout)

    def run_job(self, command: str, params: Mapping[str, Any] | None = None, *, timeout: float,
                on_progress: Any = None) -> dict[str, Any]:
        return self.finish_job(command, self.call(command, params), timeout=timeout)

    def wait_listed(self, command: str, item_key: str, params: Mapping[str, Any], ident: str,
                    check: Any, *, timeout: float, what: str) -> Any:
        """The client's batched wait, done one object at a time (a poll per call)."""
        deadline = time.monotonic() + timeout
        while True:
            rows = list(self.list_all(command, item_key, {**params, "id": ident}))
            result = check(rows or None)
            if result is not None:
                return result
            if time.monotonic() >= deadline:
                raise Deadline(what, timeout)

    def _job(self, command: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        params = dict(params or {})
        with self._lock:
            self.calls.append((command, params))
            failure = self._failure(command, params)
            if failure:
                raise JobFailed(command, "job-1", 530, failure)
            if command == "createTags":
                for ident in params["resourceids"]:
                    self.isos[ident]["tags"].extend(params["tags"])
                return {"success": True}
            if command == "deleteIso":
                if params["id"] not in self.isos:  # Mold's text for a missing entity
                    raise JobFailed(command, "job-1", 431, f"Unable to find ISO with id {params['id']}")
                self.isos.pop(params["id"])
                return {"success": True}
        raise AssertionError(f"unexpected job {command}")

    def list_all(self, command: str, item_key: str, params: Mapping[str, Any] | None = None,
                 **_: Any) -> list[dict[str, Any]]:
        assert (command, item_key) == ("listIsos", "iso")
        params = dict(params or {})
        with self._lock:
            self.calls.append((command, params))
            rows = []
            for rec in self.isos.values():
                if "id" in params and params["id"] != rec["id"]:
                    continue
                rec["polls"] += 1
                ready = rec["polls"] > self.download_polls and not self.download_error
                pct = min(99, rec["polls"] * 100 // (self.download_polls + 1))
                status = ("Successfully Installed" if ready else
                          self.download_error if self.download_error and rec["polls"] > 1 else
                          f"{pct}% Downloaded")
                rows.append({"id": rec["id"], "name": rec["name"], "isready": ready,
                             "status": status})
            return rows

    def commands(self) -> list[str]:
        return [c for c, _ in self.calls]


class RecordingBackend:
    """A StateBackend that keeps every written snapshot in memory."""

    def __init__(self) -> None:
        self.written: list[State] = []

    def read(self) -> State:
        return self.written[-1] if self.written else State()

    def write(self, state: State) -> State:
        new = state.model_copy(update={"serial": state.serial + 1})
        self.written.append(new)
        return new

    def lock(self, operation: str, timeout: float) -> None:
        pass

    def unlock(self) -> None:
        pass

    def describe(self) -> str:
        return "memory"


class RecordingHook(NullHook):
    def __init__(self) -> None:
        self.events: list[tuple[str, int, str]] = []
        self._lock = threading.Lock()

    def _add(self, kind: str, index: int, text: str = "") -> None:
        with self._lock:
            self.events.append((kind, index, text))

    def action_started(self, index: int, action: Action) -> None:
        self._add("started", index)

    def action_progress(self, index: int, action: Action, message: str) -> None:
        self._add("progress", index, message)

    def action_finished(self, index: int, action: Action, seconds: float) -> None:
        self._add("finished", index)

    def action_failed(self, index: int, action: Action, error: Exception) -> None:
        self._add("failed", index, str(error))

    def action_skipped(self, index: int, action: Action, because: list[int]) -> None:
        self._add("skipped", index, ",".join(map(str, because)))


NO_SLEEP = Clock(sleep=lambda _s: None)
OPTIONS = ApplyOptions(parallelism=4, waits=Waits(ready_timeout=5, clock=NO_SLEEP))


def iso_attrs(name: str, url: str = "https://example.com/x.iso") -> dict[str, Any]:
    return {"name": name, "display_text": name, "url": url, "zone": "Zone1",
            "os_type": "Windows PV", "bootable": True, "public": False, "featured": False,
            "extractable": False, "checksum": None}


def create(name: str, depends_on: list[int] | None = None) -> Action:
    return Action(address=f"iso.{name}", operation=Operation.CREATE, reason="new",
                  after=iso_attrs(name), inputs={"zoneid": ZONE, "ostypeid": OSTYPE},
                  depends_on=depends_on or [])


def update(name: str, mold_id: str, depends_on: list[int]) -> Action:
    after = {**iso_attrs(name), "public": True}
    return Action(address=f"iso.{name}", operation=Operation.UPDATE, reason="public changed",
                  before=iso_attrs(name), after=after, changed=["public"], mold_id=mold_id,
                  inputs={"zoneid": ZONE, "ostypeid": OSTYPE, "id": mold_id,
                          "commands": ["updateIsoPermissions"]},
                  depends_on=depends_on)


def test_creates_register_tag_wait_and_record_state_after_each_action() -> None:
    mold, backend, hook = FakeMold(download_polls=3), RecordingBackend(), RecordingHook()
    plan = Plan(actions=[create("a"), create("b")])
    result = apply_plan(plan, backend, State(), mold, hook, OPTIONS)
    assert result.ok and sorted(result.finished) == [0, 1]
    assert [s.serial for s in backend.written] == [1, 2]
    assert [sorted(s.resources) for s in backend.written][-1] == ["iso.a", "iso.b"]
    assert len(backend.written[0].resources) == 1  # written as soon as the first one finished
    assert result.state == backend.written[-1]
    record = result.state.resources["iso.a"]
    assert record.attributes == iso_attrs("a") and mold.isos[record.id]["name"] == "a"
    assert mold.isos[record.id]["tags"] == [{"key": "mwin:address", "value": "iso.a"}]
    registered = [p for c, p in mold.calls if c == "registerIso"]
    assert {p["zoneid"] for p in registered} == {ZONE} and {p["ostypeid"] for p in registered} == {OSTYPE}
    progress = [text for kind, index, text in hook.events if kind == "progress" and index == 0]
    assert progress[0].startswith("registered as iso-") and "%" in progress[-1]
    assert any(text.endswith("% Downloaded") for text in progress)


def test_failed_action_skips_its_dependants_and_lets_independent_work_finish() -> None:
    mold, backend, hook = FakeMold(), RecordingBackend(), RecordingHook()
    mold.fail[("registerIso", "a")] = "Unable to resolve url"
    plan = Plan(actions=[create("a"), update("a2", "x", depends_on=[0]),
                         update("a3", "y", depends_on=[1]), create("c")])
    result = apply_plan(plan, backend, State(), mold, hook, OPTIONS)
    assert not result.ok
    assert list(result.failed) == [0]
    assert str(result.failed[0]) == "registerIso failed (431): Unable to resolve url"
    assert result.skipped == [1, 2] and result.finished == [3]
    assert ("skipped", 1, "0") in hook.events and ("skipped", 2, "1") in hook.events
    assert "updateIsoPermissions" not in mold.commands()
    assert [sorted(s.resources) for s in backend.written] == [["iso.c"]]


def test_failed_job_keeps_state_of_what_finished_before() -> None:
    mold = FakeMold()
    current = State(serial=4, resources={"iso.old": ResourceState(id="keep"),
                                         "iso.gone": ResourceState(id="gone-id")})
    mold.isos["keep"] = {"id": "keep", "name": "old", "tags": [], "polls": 9, "params": {}}
    mold.isos["gone-id"] = {"id": "gone-id", "name": "gone", "tags": [], "polls": 9, "params": {}}
    mold.fail[("deleteIso", "keep")] = "simulated failure"
    plan = Plan(state_lineage=current.lineage, state_serial=4, actions=[
        Action(address="iso.old", operation=Operation.DELETE, reason="r", mold_id="keep",
               inputs={"id": "keep"}, destructive=True),
        Action(address="iso.gone", operation=Operation.DELETE, reason="r", mold_id="gone-id",
               inputs={"id": "gone-id"}, destructive=True),
    ])
    backend = RecordingBackend()
    result = apply_plan(plan, backend, current, mold, None, OPTIONS)
    assert str(result.failed[0]) == "deleteIso job job-1 failed (530): simulated failure"
    assert result.finished == [1]
    assert sorted(result.state.resources) == ["iso.old"] and result.state.serial == 5


def test_delete_of_an_iso_already_gone_counts_as_done() -> None:
    mold = FakeMold()
    current = State(serial=1, resources={"iso.x": ResourceState(id="i9")})
    plan = Plan(state_lineage=current.lineage, state_serial=1, actions=[
        Action(address="iso.x", operation=Operation.DELETE, reason="r", mold_id="i9",
               inputs={"id": "i9"})])
    result = apply_plan(plan, RecordingBackend(), current, mold, None, OPTIONS)
    assert result.ok and result.state.resources == {}


def test_adopt_and_forget_change_state_only() -> None:
    mold = FakeMold()
    current = State(serial=2, resources={"iso.lost": ResourceState(id="l1")})
    plan = Plan(state_lineage=current.lineage, state_serial=2, actions=[
        Action(address="iso.found", operation=Operation.ADOPT, reason="r", after={"name": "found"},
               inputs={"id": "f1", "tagged": True}),
        Action(address="iso.lost", operation=Operation.FORGET, reason="r", inputs={"id": "l1"}),
    ])
    result = apply_plan(plan, RecordingBackend(), current, mold, None, OPTIONS)
    assert result.ok and mold.calls == []
    assert result.state.resources == {"iso.found": ResourceState(id="f1", attributes={"name": "found"})}


def test_update_calls_only_the_commands_the_plan_names() -> None:
    mold = FakeMold()
    mold.isos["i1"] = {"id": "i1", "name": "a", "tags": [], "polls": 9, "params": {}}
    current = State(serial=1, resources={"iso.a": ResourceState(id="i1", attributes=iso_attrs("a"))})
    plan = Plan(state_lineage=current.lineage, state_serial=1, actions=[update("a", "i1", [])])
    result = apply_plan(plan, RecordingBackend(), current, mold, None, OPTIONS)
    assert result.ok
    assert mold.calls == [("updateIsoPermissions", {"id": "i1", "ispublic": True,
                                                    "isfeatured": False, "isextractable": False})]
    assert result.state.resources["iso.a"].attributes["public"] is True


def test_stale_plan_is_refused_before_any_call() -> None:
    mold, current = FakeMold(), State(serial=3)
    with pytest.raises(PlanStale, match=r"serial 2 → 3"):
        apply_plan(Plan(state_lineage=current.lineage, state_serial=2, actions=[create("a")]),
                   RecordingBackend(), current, mold, None, OPTIONS)
    with pytest.raises(PlanStale, match="lineage other"):
        apply_plan(Plan(state_lineage="other", state_serial=3, actions=[create("a")]),
                   RecordingBackend(), current, mold, None, OPTIONS)
    assert mold.calls == []


def test_failed_download_fails_the_action_with_mold_status() -> None:
    mold = FakeMold(download_polls=3)
    mold.download_error = "Download failed: HTTP Server returned 404 (expected 200 OK)"
    options = ApplyOptions(waits=Waits(ready_timeout=0.3, clock=NO_SLEEP))
    result = apply_plan(Plan(actions=[create("a")]), RecordingBackend(), State(), mold, None, options)
    assert isinstance(result.failed.get(0), MoldError)
    assert "HTTP Server returned 404" in str(result.failed[0])


def test_replace_whose_delete_fails_still_records_the_new_iso() -> None:
    mold = FakeMold()
    mold.isos["old"] = {"id": "old", "name": "a", "tags": [], "polls": 9, "params": {}}
    mold.fail[("deleteIso", "old")] = "simulated failure"
    current = State(serial=1, resources={"iso.a": ResourceState(id="old")})
    after = iso_attrs("a", url="https://example.com/new.iso")
    plan = Plan(state_lineage=current.lineage, state_serial=1, actions=[
        Action(address="iso.a", operation=Operation.REPLACE, reason="url", mold_id="old",
               before=iso_attrs("a"), after=after, inputs={"zoneid": ZONE, "ostypeid": OSTYPE,
                                                          "id": "old"}),
        Action(address="iso.a", operation=Operation.DELETE, reason="replaced", mold_id="old",
               inputs={"id": "old", "orphan": True}, depends_on=[0])])
    result = apply_plan(plan, RecordingBackend(), current, mold, None, OPTIONS)
    assert result.finished == [0] and 1 in result.failed
    new_ids = [i for i in mold.isos if i != "old"]
    assert result.state.id_of("iso.a") == new_ids[0]
