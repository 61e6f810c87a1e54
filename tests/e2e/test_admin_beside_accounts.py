"""An admin's keys list other accounts' objects too (listall; for images Mold's own
"self" filter falls back to the domain path). Those are never adopted and never in the way:
a plan matches only objects held where the declaration's are (its project, else the keys'
own account)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from moldsim.server import MoldSim
from tests.helpers.checks import ok, write
from tests.helpers.cli import Mwin
from tests.helpers.mold_api import MoldApi, new_account

DOMAIN_ADMIN = 2
SPEC = """\
version: 1
defaults: {zone: Zone1}
isos:
  win2022: {url: "https://example.com/ws2022.iso", os_type: Windows PV}
networks:
  prep-net: {}
"""


@pytest.fixture
def cloud() -> Iterator[tuple[MoldSim, MoldApi]]:
    with MoldSim(job_seconds=0.02, download_seconds=0.02) as sim, MoldApi(sim.url) as admin:
        yield sim, admin


def keyed(sim: MoldSim, workdir: Path, key: str | None = None, secret: str | None = None
          ) -> Mwin:
    workdir.mkdir()
    mwin = Mwin(sim.url, workdir)
    if key and secret:
        mwin.env.update(MOLD_API_KEY=key, MOLD_SECRET_KEY=secret)
    return mwin


def test_a_domain_admin_is_not_blocked_by_a_users_objects_elsewhere(
        cloud: tuple[MoldSim, MoldApi], tmp_path: Path) -> None:
    sim, admin = cloud
    users = admin.call("createDomain", name="users")["domain"]["id"]
    admins = admin.call("createDomain", name="admins")["domain"]["id"]
    user = keyed(sim, tmp_path / "user", *new_account(admin, "user1", domainid=users)[:2])
    spec = write(tmp_path / "spec.yaml", SPEC)
    ok(user("apply", str(spec), "--auto-approve"))
    dadmin = keyed(sim, tmp_path / "dadmin",
                   *new_account(admin, "dadmin", DOMAIN_ADMIN, admins)[:2])
    plan = dadmin.plan_json(spec)
    assert [(a["address"], a["operation"]) for a in plan["actions"]] == [
        ("iso.win2022", "create"), ("network.prep-net", "create")]
    ok(dadmin("apply", str(spec), "--auto-approve"))
    assert sorted(i["account"] for i in admin.items("listIsos", "iso", isofilter="all",
                                                     listall=True)) == ["dadmin", "user1"]
    assert "No changes." in ok(user("plan", str(spec))).out


def test_a_root_admin_never_adopts_another_accounts_untagged_object(
        cloud: tuple[MoldSim, MoldApi], tmp_path: Path) -> None:
    """A root admin's listNetworks listall=true shows every account's networks: a tenant's
    untagged network of the declared name is not this state's to adopt."""
    sim, admin = cloud
    key, secret, _ = new_account(admin, "tenant")
    with MoldApi(sim.url, key, secret) as tenant:
        zone = tenant.items("listZones", "zone")[0]["id"]
        offering = next(o["id"] for o in tenant.items("listNetworkOfferings", "networkoffering")
                        if o["name"] == "DefaultIsolatedNetworkOfferingWithSourceNatService")
        theirs = tenant.call("createNetwork", name="prep-net", displaytext="theirs",
                             networkofferingid=offering, zoneid=zone)["network"]["id"]
    root = keyed(sim, tmp_path / "root")
    spec = write(tmp_path / "spec.yaml", SPEC)
    plan = root.plan_json(spec)
    assert ("network.prep-net", "create") in [(a["address"], a["operation"])
                                              for a in plan["actions"]]
    ok(root("apply", str(spec), "--auto-approve"))
    [row] = admin.items("listNetworks", "network", listall=True, id=theirs)
    assert not [t for t in row.get("tags") or [] if t["key"].startswith("mwin:")]
    assert row["displaytext"] == "theirs"
