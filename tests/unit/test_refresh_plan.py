"""`--refresh-only` plans: what changed in Mold behind mwin's back, as state-only actions."""

from __future__ import annotations

from typing import Any

from reconciler.model import Catalog, LiveObject, LiveSnapshot
from reconciler.plan import Operation
from reconciler.planner import make_refresh_plan
from reconciler.state import ResourceState, State

VM = {"name": "master", "zone": "Zone1", "cdrom": None, "state": "stopped", "pod": None,
      "disk_offering": "50GB"}
NET = {"name": "prep-net", "display_text": "Prep", "zone": "Zone1", "gateway": None}


def snapshot(**kinds: dict[str, dict[str, Any]]) -> LiveSnapshot:
    return LiveSnapshot(Catalog({}), {kind: {i: LiveObject(kind, i, str(a["name"]), a, {}, "ready")
                                             for i, a in objs.items()}
                                      for kind, objs in kinds.items()})


def state() -> State:
    return State(serial=3, resources={"vm.master": ResourceState(id="v1", attributes=VM),
                                      "network.prep-net": ResourceState(id="n1", attributes=NET)})


def test_in_sync_is_empty_although_mold_fills_in_optional_values() -> None:
    live = snapshot(vm={"v1": {**VM, "pod": "Pod1", "zone": "zone1"}},
                    network={"n1": {**NET, "gateway": "10.1.1.1"}})
    assert make_refresh_plan(state(), live).actions == []


def test_iso_swapped_in_and_power_change_are_refreshes_not_undone() -> None:
    live = snapshot(vm={"v1": {**VM, "cdrom": "win2022", "state": "running"}},
                    network={"n1": NET})
    plan = make_refresh_plan(state(), live)
    assert plan.refresh_only is True
    [action] = plan.actions
    assert (action.address, action.operation, action.drift) == ("vm.master", Operation.REFRESH, True)
    assert action.changed == ["cdrom", "state"]
    assert action.after == {**VM, "cdrom": "win2022", "state": "running"}


def test_iso_ejected_and_network_deleted_behind_our_back() -> None:
    recorded = state().with_resource("vm.master", ResourceState(id="v1", attributes={
        **VM, "cdrom": "virtio-win"}))
    plan = make_refresh_plan(recorded, snapshot(vm={"v1": VM}, network={}))
    found = {a.address: a for a in plan.actions}
    assert {a: (x.operation, x.changed) for a, x in found.items()} == {
        "network.prep-net": (Operation.FORGET, []), "vm.master": (Operation.REFRESH, ["cdrom"])}
    assert found["vm.master"].after is not None and found["vm.master"].after["cdrom"] is None
