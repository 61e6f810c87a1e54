"""ISOs and templates across zones and accounts: zoneid=-1, cross-zone ISOs, featured and
public, the filters as each caller sees them.

Sources (L = jeongda-young/ablestack-cloud; M = ablecloud-team/ablestack-cloud @0ff4005):
- L server/src/main/java/com/cloud/api/dispatch/ParamProcessWorker.java translateUuidToInternalId
  ("-1" → -1L) and L server/src/main/java/com/cloud/api/query/QueryManagerImpl.java
  searchForTemplatesInternal, templateChecks (zone -1 matches nothing; temp_zone_pair rows,
  showunique; filters; "Filter all can be specified by admin only")
- M server/src/main/java/com/cloud/template/TemplateAdapterBase.java prepare ("All zones" needs a
  root-admin owner; featured only for a root-admin owner; public with allow.public.user.templates)
- L/M server/src/main/java/com/cloud/template/TemplateManagerImpl.java updateTemplateOrIsoPermissions
- L api/src/main/java/org/apache/cloudstack/api/response/TemplateResponse.java (crossZones)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from moldsim.server import MoldSim

from simclient import Workflow


@pytest.fixture
def two() -> Iterator[Workflow]:
    with MoldSim(zones=2) as sim, Workflow(sim.url) as wf:
        yield wf


@pytest.fixture
def wf(sim: MoldSim) -> Iterator[Workflow]:
    with Workflow(sim.url) as w:
        yield w


def test_zoneid_minus_one_lists_nothing_and_cross_zone_isos_come_once_per_zone(two: Workflow) -> None:
    zones = two.ok("listZones")["zone"]
    assert [z["name"] for z in zones] == ["Zone1", "Zone2"]
    iso = two.ready_iso("everywhere", zoneid="-1")
    assert two.ok("listIsos", zoneid="-1") == {}
    rows = two.ok("listIsos")["iso"]
    assert [(r["id"], r["zonename"], r["crossZones"]) for r in rows] == \
        [(iso["id"], "Zone1", True), (iso["id"], "Zone2", True)]
    assert two.ok("listIsos", showunique=True)["count"] == 1
    assert [r["zonename"] for r in two.ok("listIsos", zoneid=zones[1]["id"])["iso"]] == ["Zone2"]
    single = two.ready_iso("here")
    assert two.ok("listIsos", id=single["id"])["iso"][0]["crossZones"] is False


def test_cross_zone_registration_needs_a_root_admin_owner(wf: Workflow, users: Any) -> None:
    from simclient import DOMAIN_ADMIN
    for name, kind in (("alice", 0), ("dom", DOMAIN_ADMIN)):
        client, _ = users(wf, name, kind)
        status, body = client.call("registerIso", name="x", url="http://h/x.iso", zoneid="-1",
                                   ostypeid=client.os_type_id("Windows PV"))
        assert (status, body["errortext"]) == (431, "Template registered for 'All zones' can only be owned "
                                                    "a Root Admin account. Please select specific zone(s).")


def test_featured_is_forced_false_at_registration_but_the_owner_may_set_it(wf: Workflow, users: Any) -> None:
    alice, account = users(wf, "alice")
    iso = alice.register_iso("mine", isfeatured=True, ispublic=True)
    assert (iso["isfeatured"], iso["ispublic"]) == (False, True)  # no error: silently false
    assert alice.ok("updateIsoPermissions", id=iso["id"], isfeatured=True) == {"success": True}
    assert wf.first("listIsos", "iso", isofilter="all", id=iso["id"])["isfeatured"] is True
    admin_iso = wf.register_iso("admins", isfeatured=True)
    assert admin_iso["isfeatured"] is True
    # allow.public.user.templates=false for the owner: no public images for non-admins
    wf.ok("updateConfiguration", name="allow.public.user.templates", value="false", accountid=account["id"])
    status, body = alice.call("registerIso", name="pub", url="http://h/p.iso", zoneid=alice.zone_id(),
                              ostypeid=alice.os_type_id("Windows PV"), ispublic=True)
    assert (status, body["errortext"]) == (431, "Only private templates/ISO can be created.")
    status, body = alice.call("updateIsoPermissions", id=iso["id"], ispublic=True)
    assert (status, body["errortext"]) == (431, "Only private isos can be created.")
    # a non-owner: checkAccess(OperateEntry) first → 531
    bob, _ = users(wf, "bob")
    status, body = bob.call("updateIsoPermissions", id=iso["id"], isfeatured=False)
    assert (status, body["errortext"]) == (531, "Domain Admin and regular users can modify only their own "
                                                "Public templates")
    private = alice.register_iso("private")
    status, body = bob.call("updateIso", id=private["id"], name="stolen")
    assert (status, body["errortext"]) == (531, "Account bob does not have permission to launch instances "
                                                "from template private")
    status, body = alice.call("updateIsoPermissions", id=private["id"], accounts="bob", op="share")
    assert body["errortext"] == ("Invalid operation on accounts, the operation must be either 'add' or 'remove' "
                                 "in order to modify launch permissions.  Given operation is: 'share'")


def test_filters_as_a_user_sees_them(wf: Workflow, users: Any) -> None:
    alice, _ = users(wf, "alice")
    bob, _ = users(wf, "bob")
    mine = alice.ready_iso("alice-private")
    shared = alice.ready_iso("alice-shared")
    public = bob.ready_iso("bob-public", ispublic=True)
    featured = wf.ready_iso("admin-featured", ispublic=True, isfeatured=True)
    wf.ready_iso("admin-private")
    assert alice.ok("updateIsoPermissions", id=shared["id"], accounts="bob", op="add") == {"success": True}
    names = lambda c, f: sorted(i["name"] for i in c.ok("listIsos", isofilter=f).get("iso", []))
    assert names(bob, "self") == names(bob, "selfexecutable") == ["bob-public"]
    assert names(bob, "sharedexecutable") == ["alice-shared"]
    assert names(bob, "executable") == ["admin-featured", "bob-public"]
    assert names(bob, "featured") == ["admin-featured"]
    assert names(bob, "community") == ["bob-public"]
    status, body = bob.call("listIsos", isofilter="all")
    assert (status, body["errortext"]) == (431, "Filter all can be specified by admin only")
    assert names(wf, "all") == sorted(["alice-private", "alice-shared", "bob-public", "admin-featured",
                                       "admin-private"])
    assert names(wf, "self") == ["admin-featured", "admin-private"]  # root admin: own account
    assert len(wf.ok("listIsos", isofilter="self", listall=True)["iso"]) == 5
    # TemplateManagerImpl.listTemplatePermissions (ablecloud-team/ablestack-cloud
    # server/src/main/java/com/cloud/template/TemplateManagerImpl.java @0ff4005): the launch
    # permissions, then "also add the owner if not public"; domainid only in the Full view
    permissions = alice.ok("listIsoPermissions", id=shared["id"])["templatepermission"]
    assert (permissions["account"], permissions["ispublic"]) == (["bob", "alice"], False)
    assert "domainid" not in permissions and "projectids" not in permissions
    # by id: another user's private ISO is refused, a public one is listed
    status, body = bob.call("listIsos", id=mine["id"])
    assert (status, body["errortext"]) == (531, "Account bob does not have permission to launch instances "
                                                "from template alice-private")
    assert alice.first("listIsos", "iso", id=public["id"])["name"] == "bob-public"
    assert featured["account"] == "admin"
