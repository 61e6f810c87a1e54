"""Executing ISO actions against an in-process moldsim (planning: test_iso_planning.py)."""

from __future__ import annotations

from typing import Any

from reconciler.model import OWNER_TAG
from reconciler.mold import MoldClient
from reconciler.plan import Action, Operation
from reconciler.resources import iso
from tests.helpers.fake_mold import exec_context, in_process_mold

AFTER = {"name": "win2022", "display_text": "Windows", "url": "https://example.com/w.iso",
         "zone": "all", "os_type": "Windows PV", "bootable": True, "public": False,
         "featured": True, "extractable": False, "checksum": None}


def os_type(client: MoldClient, name: str) -> str:
    return next(o["id"] for o in client.list_all("listOsTypes", "ostype") if o["name"] == name)


def register(client: MoldClient, **inputs: Any) -> tuple[str, list[str]]:
    said: list[str] = []
    action = Action(address="iso.win2022", operation=Operation.CREATE, reason="r", after=AFTER,
                    inputs={"zoneid": "-1", "ostypeid": os_type(client, "Windows PV"), **inputs})
    outcome = iso.execute(action, exec_context(client, progress=said))
    assert outcome.mold_id is not None
    return outcome.mold_id, said


def test_cross_zone_registration_is_tagged_featured_and_waited_for() -> None:
    with in_process_mold() as (_sim, client):
        iso_id, said = register(client)
        [row] = client.list_all("listIsos", "iso", {"isofilter": "self", "id": iso_id})
        tags = {t["key"]: t["value"] for t in row["tags"]}
        assert tags == {"mwin:address": "iso.win2022", OWNER_TAG: "default.0123456789ab"}
        assert (row["crossZones"], row["isfeatured"], row["isready"]) == (True, True, True)
        assert said[0] == f"registered as {iso_id}; tagging it iso.win2022"


def test_update_sends_only_the_table_s_parameters_of_each_command() -> None:
    with in_process_mold() as (sim, client):
        iso_id, _said = register(client)
        after = {**AFTER, "display_text": "새 이름", "public": True}
        action = Action(address="iso.win2022", operation=Operation.UPDATE, reason="r",
                        mold_id=iso_id, after=after,
                        inputs={"id": iso_id, "ostypeid": os_type(client, "Windows PV"),
                                "commands": ["updateIso", "updateIsoPermissions"]})
        iso.execute(action, exec_context(client))
        [row] = client.list_all("listIsos", "iso", {"isofilter": "self", "id": iso_id})
        assert (row["displaytext"], row["ispublic"]) == ("새 이름", True)
        counts = sim.control("GET", "/moldsim/stats", {})["by_command"]
        # a root admin's registration is featured already: no second permissions call
        assert counts["updateIso"] == 1 and counts["updateIsoPermissions"] == 1


def test_a_misspelt_input_is_an_error_not_a_default() -> None:
    with in_process_mold() as (_sim, client):
        action = Action(address="iso.win2022", operation=Operation.DELETE, reason="r",
                        mold_id="x", inputs={"id": "x", "zoned": "-1"})
        try:
            iso.execute(action, exec_context(client))
        except ValueError as exc:
            assert "zoned" in str(exc)
        else:  # pragma: no cover - the assertion is the point
            raise AssertionError("a misspelt input key was accepted")
