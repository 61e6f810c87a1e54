"""The accounts a template is shared with are checked at plan time where the keys can see
them: an admin's (root or domain) keys list every account of the owner's domain, so a name
Mold would refuse at apply time (updateTemplatePermissions finds accounts only in the
template owner's domain, by name, ignoring case) is a plan error at its file:line. A user's
keys list only their own account: the plan does not guess and Mold judges at apply time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from moldsim.server import MoldSim
from tests.helpers.checks import STOP_AT_ONCE, ok, write
from tests.helpers.cli import Mwin
from tests.helpers.mold_api import MoldApi, new_account

DOMAIN_ADMIN, USER = 2, 0
SPEC = """\
version: 1
defaults: {{zone: Zone1}}
isos:
  win2022: {{url: "https://example.com/ws2022.iso", os_type: Windows PV}}
networks:
  prep-net: {{}}
vms:
  master: {{install_iso: win2022, compute_offering: 2vCore-4GB, disk_offering: 50GB,
           networks: [prep-net], state: stopped}}
templates:
  base:
    from_vm: master
    os_type: Windows PV
    share:
      accounts: [{accounts}]
"""


@pytest.fixture
def cloud() -> Iterator[tuple[MoldSim, MoldApi, str]]:
    """moldsim with a domain `images` holding the account `tenant`."""
    with MoldSim(job_seconds=0.02, download_seconds=0.02) as sim, MoldApi(sim.url) as admin:
        domain = admin.call("createDomain", name="images")["domain"]["id"]
        new_account(admin, "tenant", domainid=domain)
        yield sim, admin, domain


def keyed(sim: MoldSim, tmp_path: Path, key: str | None = None, secret: str | None = None) -> Mwin:
    mwin = Mwin(sim.url, tmp_path)
    if key and secret:
        mwin.env.update(MOLD_API_KEY=key, MOLD_SECRET_KEY=secret)
    return mwin


def test_a_domain_admin_plan_names_an_account_mold_would_refuse(
        cloud: tuple[MoldSim, MoldApi, str], tmp_path: Path) -> None:
    sim, admin, domain = cloud
    key, secret, _ = new_account(admin, "ops", accounttype=DOMAIN_ADMIN, domainid=domain)
    mwin = keyed(sim, tmp_path, key, secret)
    spec = write(tmp_path / "spec.yaml", SPEC.format(accounts="tenant"))
    assert "Plan: 4 to add" in ok(mwin("plan", str(spec))).out

    write(spec, SPEC.format(accounts="tenant, tenat, Tenant"))
    run = mwin("plan", str(spec))
    assert run.code == 1
    assert (f"{spec}:15:26: error: template.base: account 'tenat' does not exist in the domain "
            "of the template's owner (did you mean 'tenant'?); Mold shares a template only with "
            "accounts of that domain") in run.err
    assert (f"{spec}:15:33: error: template.base: account 'Tenant' is called 'tenant' in Mold: "
            "declare it so, or the plan would differ from Mold's permissions forever") in run.err
    assert "accounts there: ops, tenant" in run.err and "Traceback" not in run.err


def test_a_root_admin_in_root_cannot_share_with_a_subdomain_account(
        cloud: tuple[MoldSim, MoldApi, str], tmp_path: Path) -> None:
    sim, _admin, _domain = cloud
    spec = write(tmp_path / "spec.yaml", SPEC.format(accounts="tenant"))
    run = keyed(sim, tmp_path)("plan", str(spec))
    assert run.code == 1 and "account 'tenant' does not exist in the domain" in run.err


def test_a_user_plan_leaves_the_accounts_to_mold(cloud: tuple[MoldSim, MoldApi, str],
                                                 tmp_path: Path) -> None:
    sim, admin, domain = cloud
    key, secret, _ = new_account(admin, "builder", accounttype=USER, domainid=domain)
    mwin = keyed(sim, tmp_path, key, secret)
    spec = write(tmp_path / "spec.yaml", SPEC.format(accounts="tenant, nobody"))
    ok(mwin("plan", str(spec)))
    write(spec, SPEC.format(accounts="tenant, Builder"))  # the owner: Mold records no share
    run = mwin("plan", str(spec))
    assert run.code == 1 and (f"{spec}:15:26: error: template.base: account 'Builder' owns the "
                              "template (it is the account of these keys, 'builder')") in run.err
    write(spec, SPEC.format(accounts="tenant, nobody"))
    run = mwin("apply", str(spec), "--auto-approve", *STOP_AT_ONCE)
    assert run.code == 1 and "updateTemplatePermissions" in run.err
    assert "Unable to grant a launch permission to account nobody" in run.err
    write(spec, SPEC.format(accounts="tenant"))
    ok(mwin("apply", str(spec), "--auto-approve", *STOP_AT_ONCE))
    assert "No changes." in ok(mwin("plan", str(spec))).out
