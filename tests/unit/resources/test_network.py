"""Networks: planning from the attribute table, and execution against an in-process moldsim."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import MwinError
from reconciler.plan import Action, Operation
from reconciler.planner import make_plan
from reconciler.resources import network
from tests.helpers.builders import live, ops, spec_from, state
from tests.helpers.builders import network as net_obj
from tests.helpers.fake_mold import exec_context, in_process_mold

SPEC = "version: 1\ndefaults: {zone: Zone1}\nnetworks:\n  prep: {display_text: Prep}\n"


def test_create_uses_the_default_isolated_offering(tmp_path: Path) -> None:
    plan, _ = make_plan(spec_from(tmp_path, SPEC), state(), live())
    [create] = plan.actions
    assert create.after is not None and create.after["offering"] == \
        "DefaultIsolatedNetworkOfferingWithSourceNatService"
    assert set(create.inputs) >= {"zoneid", "networkofferingid"}


def test_a_gateway_change_replaces_and_frees_the_old_network_first(tmp_path: Path) -> None:
    doc = spec_from(tmp_path, SPEC.replace("{display_text: Prep}",
                                           "{display_text: Prep, gateway: 10.9.9.1}"))
    mold = live(net_obj("n1", "prep", "network.prep", display_text="Prep"))
    plan, _ = make_plan(doc, state({"network.prep": ("n1", {})}), mold)
    assert ops(plan) == [("network.prep", "replace")]
    assert plan.actions[0].requires_replace == ["gateway"]


def test_create_update_delete_and_a_refused_delete_says_why() -> None:
    with in_process_mold() as (sim, client):
        zone = client.list_all("listZones", "zone")[0]["id"]
        offering = next(o["id"] for o in client.list_all("listNetworkOfferings", "networkoffering")
                        if o["name"].startswith("DefaultIsolated"))
        after = {"name": "prep", "display_text": "Prep", "gateway": None, "netmask": None,
                 "network_domain": None, "external_id": None}
        made = network.execute(Action(address="network.prep", operation=Operation.CREATE,
                                      reason="r", after=after,
                                      inputs={"zoneid": zone, "networkofferingid": offering}),
                               exec_context(client))
        ident = str(made.mold_id)
        network.execute(Action(address="network.prep", operation=Operation.UPDATE, reason="r",
                               mold_id=ident, after={**after, "display_text": "준비"},
                               inputs={"id": ident, "commands": ["updateNetwork"]}),
                        exec_context(client))
        [row] = client.list_all("listNetworks", "network", {"id": ident})
        assert row["displaytext"] == "준비"
        sim.set_faults(fail_jobs=[{"command": "deleteNetwork",
                                   "errortext": "Failed to delete network"}])
        delete = Action(address="network.prep", operation=Operation.DELETE, reason="r",
                        mold_id=ident, inputs={"id": ident})
        with pytest.raises(MwinError) as caught:
            network.execute(delete, exec_context(client))
        assert "also a destroyed one" in str(caught.value) and "expunge.delay" in str(caught.value)
        assert network.execute(delete, exec_context(client)).removed is True
        assert client.list_all("listNetworks", "network", {}) == []
