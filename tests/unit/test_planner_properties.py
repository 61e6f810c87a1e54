"""Property: over random specs, states and live snapshots of every kind, the planner returns
a plan or diagnostics, never anything else, and every plan is safe to run.

The world is small on purpose (two ISOs, two networks, two VMs, one template, each in a few
versions) so that collisions are frequent: replacements, leftovers of interrupted
replacements, ISOs held in drives, objects of other owners and of mwin 0.1, removed
resources. Checked for every plan:

* acyclic and ordered: every ``depends_on`` points backwards;
* Mold's one-at-a-time rule: two actions on one VM never run at once (one depends on the
  other, transitively);
* ownership: no action changes or deletes an object another owner holds, or one tagged by
  mwin 0.1 that state does not record;
* a deletion of an object waits for every action that stops using it.

`make test` runs a bounded number of examples; a long run:
``MWIN_PROPERTY_EXAMPLES=20000 .venv/bin/python -m pytest tests/unit/test_planner_properties.py``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from reconciler.errors import PlanError
from reconciler.model import LiveObject
from reconciler.plan import Plan
from reconciler.planner import PlanOptions, make_destroy_plan, make_plan
from reconciler.spec import load_spec
from tests.helpers.builders import OTHER_OWNER, OWNER, iso, live, network, state, template, vm

EXAMPLES = int(os.environ.get("MWIN_PROPERTY_EXAMPLES", "120"))
ISOS = ("inst", "drivers")
NETWORKS = ("net", "lab")
VMS = ("m1", "m2")
OWNERS = st.sampled_from([OWNER, OWNER, OWNER, OTHER_OWNER, None, "untagged"])


@st.composite
def specs(draw: st.DrawFn) -> tuple[str, set[str]]:
    """A valid spec (YAML text) and the addresses it declares."""
    isos = draw(st.sets(st.sampled_from(ISOS), min_size=1))
    nets = draw(st.sets(st.sampled_from(NETWORKS), min_size=1))
    lines = ["version: 1", "defaults: {zone: Zone1}", "isos:"]
    for name in sorted(isos):
        version = draw(st.sampled_from(["v1", "v2"]))
        lines.append(f"  {name}: {{url: \"https://example.com/{name}-{version}.iso\", "
                     "os_type: Windows PV}")
    lines.append("networks:")
    lines += [f"  {name}: {{}}" for name in sorted(nets)]
    declared = {f"iso.{n}" for n in isos} | {f"network.{n}" for n in nets}
    vms = draw(st.sets(st.sampled_from(VMS)))
    stopped = set()
    if vms:
        lines.append("vms:")
    for name in sorted(vms):
        networks = draw(st.lists(st.sampled_from(sorted(nets)), min_size=1, max_size=2,
                                 unique=True))
        power = draw(st.sampled_from(["running", "stopped"]))
        lines += [f"  {name}:", f"    install_iso: {draw(st.sampled_from(sorted(isos)))}",
                  "    compute_offering: " + draw(st.sampled_from(["4vCore-8GB", "8vCore-16GB"])),
                  "    disk_offering: 50GB", f"    networks: [{', '.join(networks)}]",
                  f"    state: {power}"]
        two = ["[inst, drivers]", "[drivers, inst]"] if len(isos) == 2 else []
        cdrom = draw(st.sampled_from(["omit", "null", *sorted(isos), *two]))
        if cdrom != "omit":
            lines.append(f"    cdrom: {cdrom}")
        if draw(st.booleans()):
            lines.append("    snapshots: [s1]")
        if draw(st.booleans()):
            lines.append("    boot: {type: UEFI, mode: SECURE}")
        declared.add(f"vm.{name}")
        if power == "stopped":
            stopped.add(name)
    if stopped and draw(st.booleans()):
        source = draw(st.sampled_from(sorted(stopped)))
        lines += ["templates:", "  t1:", f"    from_vm: {source}", "    os_type: Windows PV",
                  f"    revision: {draw(st.sampled_from([1, 2]))}",
                  f"    keep: {draw(st.sampled_from([1, 2, 3]))}",
                  f"    zones: {draw(st.sampled_from(['[Zone1]', '[Zone1, Zone2]', 'all']))}"]
        share = draw(st.sampled_from(["omit", "[]", "[a1]", "[a1, a2]"]))
        if share != "omit":
            lines.append(f"    share: {{accounts: {share}}}")
        declared.add("template.t1")
    return "\n".join(lines) + "\n", declared


def _tag_args(owner: Any, address: str) -> dict[str, Any]:
    if owner == "untagged":
        return {"address": None}
    return {"address": address, "owner": owner}


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[LiveObject], dict[str, tuple[str, dict]], set[str]]:
    """Objects in Mold (0-2 per address), what state records, and which it records protected."""
    objects: list[LiveObject] = []
    ids: dict[str, list[str]] = {}
    counter = iter(range(1000))
    for name in ISOS:
        for _ in range(draw(st.integers(0, 2))):
            ident = f"i{next(counter)}"
            version = draw(st.sampled_from(["v1", "v2"]))
            objects.append(iso(ident, name, **_tag_args(draw(OWNERS), f"iso.{name}"),
                               url=f"https://example.com/{name}-{version}.iso"))
            ids.setdefault(f"iso.{name}", []).append(ident)
    for name in NETWORKS:
        for _ in range(draw(st.integers(0, 1))):
            ident = f"n{next(counter)}"
            objects.append(network(ident, name, **_tag_args(draw(OWNERS), f"network.{name}")))
            ids.setdefault(f"network.{name}", []).append(ident)
    iso_objects = [o for o in objects if o.kind == "iso"]
    net_objects = [o for o in objects if o.kind == "network"] or [network("n999", "net", None)]
    for name in VMS:
        for _ in range(draw(st.integers(0, 2))):
            ident = f"v{next(counter)}"
            drives = draw(st.sampled_from([1, 2]))
            held = draw(st.lists(st.sampled_from(iso_objects), max_size=drives,
                                 unique_by=lambda o: o.name)) if iso_objects else []
            nets = draw(st.lists(st.sampled_from(net_objects), min_size=1, max_size=2,
                                 unique_by=lambda o: o.name))
            boot = draw(st.sampled_from(["BIOS", "UEFI"]))
            objects.append(vm(ident, name, **_tag_args(draw(OWNERS), f"vm.{name}"),
                              source=draw(st.sampled_from(ISOS)),
                              drives=drives, iso_ids={o.name: o.id for o in held},
                              networks={o.name: o.id for o in nets},
                              snapshots={"s1": f"s{ident}"} if draw(st.booleans()) else {},
                              state=draw(st.sampled_from(["running", "stopped"])),
                              **{"boot.type": boot,
                                 "boot.mode": "SECURE" if boot == "UEFI" else "LEGACY"}))
            ids.setdefault(f"vm.{name}", []).append(ident)
    for _ in range(draw(st.integers(0, 2))):
        ident = f"t{next(counter)}"
        shared = draw(st.sampled_from([None, [], ["a1"], ["a2"]]))
        objects.append(template(ident, "t1", **_tag_args(draw(OWNERS), "template.t1"),
                                revision=draw(st.sampled_from([1, 2])),
                                zones=draw(st.sampled_from([["Zone1"], ["Zone2"],
                                                            ["Zone1", "Zone2"]])),
                                share=None if shared is None else {"accounts": shared,
                                                                   "projects": []},
                                channel=draw(st.booleans())))
        ids.setdefault("template.t1", []).append(ident)
    records: dict[str, tuple[str, dict]] = {}
    universe = [f"iso.{n}" for n in ISOS] + [f"network.{n}" for n in NETWORKS] + \
        [f"vm.{n}" for n in VMS] + ["template.t1", "iso.gone"]
    for address in universe:
        choice = draw(st.sampled_from(["none", "known", "missing"]))
        if choice == "known" and ids.get(address):
            records[address] = (draw(st.sampled_from(ids[address])), {})
        elif choice == "missing":
            records[address] = (f"x-{address}", {})
    protected = set(draw(st.lists(st.sampled_from(universe), max_size=2)))
    return objects, records, protected


def _check(plan: Plan, snapshot: Any, records: dict[str, tuple[str, dict]],
           unowned: bool = False) -> None:
    actions = plan.actions
    before: list[set[int]] = []
    for index, action in enumerate(actions):
        assert all(d < index for d in action.depends_on), (index, action)
        before.append(set(action.depends_on).union(*(before[d] for d in action.depends_on)))
    on_vm: dict[str, list[int]] = {}
    for index, action in enumerate(actions):
        if action.kind == "vm" and action.operation.value not in ("adopt", "forget", "refresh"):
            on_vm.setdefault(action.mold_id or action.address, []).append(index)
    for steps in on_vm.values():
        for a, b in zip(steps, steps[1:], strict=False):
            assert a in before[b], f"actions #{a} and #{b} on one VM may overlap"
    for index, action in enumerate(actions):  # a revision is published (older ones retired)
        if action.operation.value == "publish":  # only after it is copied and shared
            steps = [i for i, a in enumerate(actions[:index]) if a.address == action.address
                     and a.operation.value in ("create_template", "replace", "copy_template",
                                               "update_share")]
            assert set(steps) <= before[index], (index, _show(plan))
    recorded_ids = {i for i, _attrs in records.values()}
    for index, action in enumerate(actions):
        obj = snapshot.get(action.kind, action.mold_id)
        if obj is None or action.operation.value in ("create", "create_template"):
            continue
        if action.operation.value == "forget":
            continue
        assert obj.owner_tag in (None, OWNER), f"#{index} touches another owner's object"
        if obj.owner_tag is None and obj.address_tag is not None and not unowned:
            assert obj.id in recorded_ids, f"#{index} takes an unrecorded mwin 0.1 object"
    renewed = set()  # steps acting on an object made earlier in the plan, not on the live one
    made: set[str] = set()
    for index, action in enumerate(actions):
        if action.address in made:
            renewed.add(index)
        if action.operation.value in ("create", "replace"):
            made.add(action.address)
    for index, action in enumerate(actions):
        if action.operation.value not in ("delete", "replace"):
            continue
        for other, step in enumerate(actions):
            target = snapshot.get("vm", step.mold_id)
            if target is None or other in renewed:
                continue
            released = (step.operation.value == "detach_iso"
                        and step.inputs.get("isoid") == action.mold_id) or (
                step.operation.value == "remove_nic"
                and step.inputs.get("networkid") == action.mold_id)
            if released and action.operation.value == "delete":
                assert other in before[index], (f"#{index} deletes what #{other} still uses: "
                                                f"{_show(plan)}")


def _show(plan: Plan) -> list[tuple[Any, ...]]:
    return [(i, a.address, a.operation.value, a.mold_id, a.depends_on)
            for i, a in enumerate(plan.actions)]


def _plan_or_diagnostics(run: Any) -> Plan | None:
    try:
        return run()  # type: ignore[no-any-return]
    except PlanError as exc:
        for problem in exc.diagnostics.errors:
            assert "internal error" not in problem.summary.lower()
        return None


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(spec=specs(), world=worlds(), unowned=st.booleans())
def test_every_plan_is_acyclic_ordered_and_owned(spec: tuple[str, set[str]],
                                                 world: tuple[list, dict, set],
                                                 unowned: bool) -> None:
    text, _declared = spec
    objects, records, protected = world
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "spec.yaml"
        path.write_text(text, encoding="utf-8")
        doc, diags = load_spec(path)
        assert doc is not None, f"{diags}\n{text}"
        snapshot = live(*objects)
        current = state(records, protected=tuple(protected))
        plan = _plan_or_diagnostics(
            lambda: make_plan(doc, current, snapshot, PlanOptions(adopt_unowned=unowned))[0])
        event("plan" if plan is not None else "diagnostics")
        if plan is not None:
            event(f"{len(plan.actions) // 5 * 5}+ actions")
            event(f"{sum(a.operation.value in ('attach_iso', 'detach_iso') for a in plan.actions)}"
                  " ISO steps")
            _check(plan, snapshot, records, unowned)
        destroy = _plan_or_diagnostics(lambda: make_destroy_plan(current, snapshot))
        if destroy is not None:
            _check(destroy, snapshot, records)
