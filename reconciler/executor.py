"""Plan → API calls → state. Takes a Plan, never a spec.

Actions run as soon as the actions they depend on have finished, at most
``parallelism`` at a time. State is written after every finished action, so a
crash loses at most the actions in flight (and the next plan adopts what they
created, by tag). A failed action skips its dependants; independent actions
still finish.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from reconciler import failpoints
from reconciler.errors import MoldError, PlanStale, answer_problem
from reconciler.hooks import Hook, NullHook
from reconciler.model import Outcome
from reconciler.mold.api import MoldApi
from reconciler.mold.scope import Scoped
from reconciler.plan import Action, Operation, Plan
from reconciler.resources import KINDS
from reconciler.resources.base import ExecContext, Waits
from reconciler.resources.common import retag
from reconciler.state import ResourceState, State, StateBackend

__all__ = ["ApplyOptions", "ApplyResult", "StateRecorder", "apply_plan", "check_fresh"]


@dataclass(frozen=True)
class ApplyOptions:
    parallelism: int = 10
    waits: Waits = Waits()  # every deadline and pause
    force_stop: bool = False  # stop VMs that did not power off by themselves, templates too
    cancel: threading.Event | None = None  # set (e.g. by SIGINT/SIGTERM): start nothing new


@dataclass
class ApplyResult:
    state: State
    recorder: StateRecorder | None = None
    finished: list[int] = field(default_factory=list)
    failed: dict[int, Exception] = field(default_factory=dict)
    skipped: list[int] = field(default_factory=list)
    abandoned: list[int] = field(default_factory=list)  # in flight when cancelled
    not_started: list[int] = field(default_factory=list)  # never started because cancelled

    @property
    def ok(self) -> bool:
        return not (self.failed or self.skipped or self.abandoned or self.not_started)

    @property
    def cancelled(self) -> bool:
        return bool(self.abandoned or self.not_started)


class StateRecorder:
    """The state as apply changes it; every record is written through the backend before
    ``record`` returns. Records that arrive while a write is under way go out together in the
    next one (group commit): several actions finishing at once cost one or two writes, and
    each still returns only once a written state holds it."""

    def __init__(self, backend: StateBackend, state: State) -> None:
        self.backend = backend
        self.state = state  # the last state written (or read)
        self._latest = state  # ``state`` with every record so far, written or not
        self._lock = threading.Lock()  # guards the fields
        self._write_lock = threading.Lock()  # one write at a time
        self._recorded = 0  # records that changed something, so far
        self._written = 0  # of those, how many a written state holds

    def freeze(self) -> None:
        """Wait for a write in progress, then refuse further writes (before a hard exit)."""
        self._write_lock.acquire()
        self._lock.acquire()

    def record(self, address: str, outcome: Outcome, protect: bool | None = None) -> None:
        """Write ``outcome`` for ``address``; ``protect`` (lifecycle.protect as declared) is
        recorded with it, else the recorded flag is kept."""
        with self._lock:
            new = self._with(self._latest, address, outcome, protect)
            if new is None or new.resources == self._latest.resources:
                return
            self._latest = new
            self._recorded += 1
            ticket = self._recorded
        with self._write_lock:
            with self._lock:
                if self._written >= ticket:  # a write that began after this record held it
                    return
                target, upto = self._latest, self._recorded
            written = self.backend.write(target)
            with self._lock:
                self.state = written
                self._latest = written.model_copy(update={"resources": self._latest.resources})
                self._written = upto

    @staticmethod
    def _with(state: State, address: str, outcome: Outcome, protect: bool | None
              ) -> State | None:
        if outcome.removed:
            return state.with_resource(address, None)
        old = state.resources.get(address)
        mold_id = outcome.mold_id or (old.id if old else None)
        if mold_id is None:
            return None
        attrs = outcome.attributes if outcome.attributes is not None else (
            old.attributes if old else {})
        if old and outcome.kept:
            attrs = {**{k: old.attributes[k] for k in outcome.kept if k in old.attributes},
                     **attrs}
        protected = protect if protect is not None else bool(old and old.protected)
        return state.with_resource(address, ResourceState(id=mold_id, attributes=attrs,
                                                          protected=protected))

    def id_of(self, address: str) -> str | None:
        with self._lock:
            return self._latest.id_of(address)


def check_fresh(plan: Plan, state: State) -> None:
    if plan.state_lineage is not None and plan.state_lineage != state.lineage:
        raise PlanStale("saved plan does not match the state: it was made for state lineage "
                        f"{plan.state_lineage}, the state has {state.lineage}. Run `mwin plan` again.")
    if plan.state_serial != state.serial:
        raise PlanStale(f"saved plan is stale: the state changed since the plan was made (serial "
                        f"{plan.state_serial} → {state.serial}). Run `mwin plan` again.")


def apply_plan(plan: Plan, backend: StateBackend, state: State, client: MoldApi,
               hook: Hook | None = None, options: ApplyOptions = ApplyOptions()) -> ApplyResult:
    check_fresh(plan, state)
    recorder = StateRecorder(backend, state)
    walker = _Walker(plan, recorder, client, hook or NullHook(), options)
    return walker.run()


class _Walker:
    def __init__(self, plan: Plan, recorder: StateRecorder, client: MoldApi, hook: Hook,
                 options: ApplyOptions) -> None:
        self.plan = plan
        self.recorder = recorder
        self.client = client
        self.hook = hook
        self.options = options
        self.result = ApplyResult(recorder.state, recorder)

    def run(self) -> ApplyResult:
        actions = self.plan.actions
        pending = set(range(len(actions)))
        running: dict[Future[None], int] = {}
        done: set[int] = set()
        broken: set[int] = set()  # failed or skipped
        cancel = self.options.cancel or threading.Event()
        pool = ThreadPoolExecutor(max_workers=max(1, self.options.parallelism))
        try:
            while pending or running:
                if cancel.is_set():
                    self.result.abandoned = sorted(running.values())
                    self.result.not_started = sorted(pending)
                    break
                for index in sorted(pending):
                    deps = actions[index].depends_on
                    bad = [d for d in deps if d in broken]
                    if bad:
                        pending.discard(index)
                        broken.add(index)
                        self.result.skipped.append(index)
                        self.hook.action_skipped(index, actions[index], bad)
                    elif all(d in done for d in deps) and len(running) < self.options.parallelism:
                        pending.discard(index)
                        running[pool.submit(self._run_one, index)] = index
                if not running:
                    if pending:  # only possible with a hand-edited plan
                        raise PlanStale(f"actions {sorted(pending)} depend on actions that never run")
                    continue
                finished, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
                for future in finished:
                    index = running.pop(future)
                    error = future.exception()
                    if error is not None and not isinstance(error, Exception):
                        raise error  # KeyboardInterrupt/SystemExit in a worker: not a failure
                    if error is None:
                        done.add(index)
                        self.result.finished.append(index)
                    else:
                        broken.add(index)
                        self.result.failed[index] = error
                        self.hook.action_failed(index, actions[index], error)
        finally:
            # Abandoned waits go on in their threads until their own deadlines; never wait here.
            pool.shutdown(wait=not cancel.is_set(), cancel_futures=True)
        self.result.state = self.recorder.state
        return self.result

    def _run_one(self, index: int) -> None:
        action = self.plan.actions[index]
        self.hook.action_started(index, action)
        started = time.monotonic()
        try:
            outcome = self._execute(index, action)
        except (KeyError, IndexError) as exc:  # an answer without the fields Mold always sends
            raise MoldError(f"{action.address}: Mold's answer is not what mwin understands "
                            f"({answer_problem(exc)}); the change may have been made: run "
                            "`mwin plan` to see") from None
        failpoints.hit(f"before-record:{action.operation.value}")
        self.recorder.record(action.address, outcome, action.protect)
        self.hook.action_finished(index, action, time.monotonic() - started)

    def _execute(self, index: int, action: Action) -> Outcome:
        ctx = ExecContext(
            client=Scoped(self.client, [action.inputs.get("projectid")]),
            resolve=self._resolve,
            progress=lambda message: self.hook.action_progress(index, action, message),
            waits=self.options.waits,
            force_stop=self.options.force_stop,
            record=lambda outcome: self.recorder.record(action.address, outcome,
                                                        action.protect),
            owner=self.recorder.state.owner,
        )
        kind = KINDS[action.kind]
        if action.operation is Operation.ADOPT:
            wanted = ctx.ownership_tags(action.address)
            wrong = dict(action.inputs.get("wrong_tags") or {})
            fixed = {k: v for k, v in wanted.items()
                     if k in action.inputs.get("add_tags", []) or k in wrong}
            fixed.update(action.inputs.get("extra_tags") or {})  # the kind's (a revision)
            if fixed:
                retag(ctx, kind.RESOURCE_TYPE, action.inputs["id"], wrong, fixed)
            # what state records beside the attributes (a template's older revisions) stays
            return Outcome(action.inputs["id"], action.after, kept=getattr(kind, "HISTORY", ()))
        if action.operation is Operation.FORGET:
            return Outcome(removed=True)
        if action.operation is Operation.REFRESH:
            return Outcome(action.inputs["id"], action.after)
        outcome = kind.execute(action.model_copy(update={
            "inputs": self._resolve(action.inputs), "mold_id": self._target(action)}), ctx)
        if action.inputs.get("orphan"):  # a leftover object of this address: state unchanged
            return Outcome()
        return outcome

    def _target(self, action: Action) -> str | None:
        """The object a step acts on is the one state holds now: a VM created or replaced
        earlier in this plan has an id the plan could not know."""
        if action.operation in (Operation.CREATE, Operation.REPLACE, Operation.DELETE):
            return action.mold_id
        return self.recorder.id_of(action.address) or action.mold_id

    def _resolve(self, value: Any) -> Any:
        """Replace {"$ref": address} by the id that state holds now."""
        if isinstance(value, dict):
            if set(value) == {"$ref"}:
                ident = self.recorder.id_of(value["$ref"])
                if ident is None:
                    raise RuntimeError(f"{value['$ref']} has no id in state yet")
                return ident
            return {k: self._resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._resolve(v) for v in value]
        return value
