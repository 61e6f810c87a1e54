"""POST /moldsim/seed (bulk inventory for benchmarks) and the cost of listing it.

moldsim's own control endpoint (no Mold source): docs/moldsim.md "Benchmark endpoints".
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from moldsim.control import ControlError
from moldsim.server import MoldSim

from simclient import Client


@pytest.fixture
def zsim() -> Iterator[MoldSim]:
    with MoldSim(zones=3) as sim:
        yield sim


def test_seed_without_tags_keeps_the_old_shape(sim: MoldSim, client: Client) -> None:
    made = sim.control("POST", "/moldsim/seed", {"isos": 2, "templates": 1, "networks": 1, "vms": 1})
    assert made == {"isos": 2, "templates": 1, "networks": 1, "vms": 1}
    assert sorted(i["name"] for i in client.ok("listIsos", isofilter="self")["iso"]) == ["bulk-iso-0", "bulk-iso-1"]
    assert client.first("listTemplates", "template", templatefilter="self")["name"] == "bulk-template-0"
    assert client.first("listNetworks", "network")["name"] == "bulk-net-0"
    vm = client.first("listVirtualMachines", "virtualmachine")
    assert (vm["name"], vm["state"]) == ("bulk-vm-0", "Stopped")
    assert client.ok("listTags") == {}


def test_seed_with_tags_addresses_and_names(sim: MoldSim, client: Client) -> None:
    sim.control("POST", "/moldsim/seed", {
        "isos": 3, "tags": {"mwin:owner": "bench"}, "address_prefix": "iso.bulk-", "names": "win-",
        "networks": {"count": 1, "names": "prep-", "address_prefix": "network.prep-",
                     "tags": {"mwin:owner": "other"}}})
    isos = {i["name"]: i for i in client.ok("listIsos", isofilter="self")["iso"]}
    assert sorted(isos) == ["win-0", "win-1", "win-2"]
    tags = {t["key"]: t["value"] for t in isos["win-2"]["tags"]}
    assert tags == {"mwin:owner": "bench", "mwin:address": "iso.bulk-2"}
    assert isos["win-2"]["tags"][0]["resourcetype"] == "ISO"
    found = client.ok("listIsos", isofilter="self", **{"tags[0].key": "mwin:address", "tags[0].value": "iso.bulk-1"})
    assert [i["name"] for i in found["iso"]] == ["win-1"]
    net = client.first("listNetworks", "network")
    assert net["name"] == "prep-0"
    assert {t["key"]: t["value"] for t in net["tags"]} == {"mwin:owner": "other", "mwin:address": "network.prep-0"}
    assert client.ok("listTags", key="mwin:owner")["count"] == 4


@pytest.mark.parametrize("body", [{"isos": -1}, {"isos": "3"}, {"tags": {"k": 1}}, {"colour": "red"},
                                  {"isos": {"count": 1, "zones": 2}}, {"template_zones": 0},
                                  {"names": 7}])
def test_seed_refuses_a_bad_body_and_makes_nothing(sim: MoldSim, body: dict) -> None:
    with pytest.raises(ControlError) as err:
        sim.control("POST", "/moldsim/seed", body)
    assert err.value.status == 400
    assert sim.store.data["isos"] == {} and sim.store.data["tags"] == []


def test_seed_templates_in_every_zone(zsim: MoldSim) -> None:
    zsim.control("POST", "/moldsim/seed", {"templates": 2, "template_zones": "all"})
    with Client(zsim.url) as c:
        rows = c.ok("listTemplates", templatefilter="selfexecutable")["template"]
        assert sorted((r["name"], r["zonename"]) for r in rows) == [
            (f"bulk-template-{i}", f"Zone{z}") for i in range(2) for z in (1, 2, 3)]
        assert all(r["isready"] for r in rows)


def test_list_templates_stays_linear_in_templates_times_zones(zsim: MoldSim) -> None:
    """listTemplates over N templates x 3 zones: 4 times the templates must not cost much more
    than 4 times the time (a quadratic view would cost 16 times)."""
    def cost(n: int) -> float:
        zsim.store.data["templates"].clear()
        zsim.control("POST", "/moldsim/seed", {"templates": n, "template_zones": "all",
                                               "tags": {"mwin:owner": "bench"}, "address_prefix": "template.t-"})
        best = float("inf")
        with Client(zsim.url) as c:
            for _ in range(3):
                start = time.perf_counter()
                for page in (1, 2):
                    doc = c.ok("listTemplates", templatefilter="all", pagesize=500, page=page)
                    assert doc["count"] == 3 * n
                best = min(best, time.perf_counter() - start)
        return best

    small, large = cost(400), cost(1600)
    assert large < small * 10, (small, large)
