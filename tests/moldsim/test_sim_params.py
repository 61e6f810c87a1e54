"""Parameter handling: case-insensitive names, map syntax (430), booleans, paging (431)."""

from __future__ import annotations

import pytest

from moldsim.server import MoldSim

from simclient import Client


def test_parameter_names_are_case_insensitive(client: Client) -> None:
    iso = client.ok("registerIso", NAME="Mixed", URL="http://h/m.iso", ZoneId=client.zone_id(),
                    osTypeId=client.os_type_id("Windows PV"), isPublic="TRUE")["iso"][0]
    assert (iso["name"], iso["ispublic"]) == ("Mixed", True)


def test_booleans_parse_like_java(client: Client) -> None:
    iso = client.register_iso("b", ispublic="yes", isextractable="True")
    assert (iso["ispublic"], iso["isextractable"]) == (False, True)


@pytest.mark.parametrize("name", ["tags[a].key", "tags[0]key", "tags[0][1].key", "tags0].key", "tags[0]"])
def test_malformed_map_parameter_is_430(client: Client, name: str) -> None:
    status, body = client.call("listIsos", **{name: "x"})
    assert status == 430 and body["errorcode"] == 430
    assert body["errortext"].startswith(f"Unable to decode parameter {name};")


def test_missing_required_and_empty_value(client: Client) -> None:
    status, body = client.call("listIsos", isofilter="all", id="")  # empty = not sent
    assert status == 200
    # ParamProcessWorker.processParameters → validateNonEmptyString for a required parameter
    # (server/src/main/java/com/cloud/api/dispatch/ParamProcessWorker.java)
    status, body = client.call("updateIso", id="")
    assert (status, body["errortext"]) == (431, "Invalid value provided for API arg: id")


def test_integer_parameter_must_be_a_number(client: Client) -> None:
    status, body = client.call("listIsos", page="one", pagesize=2)
    assert (status, body["errortext"]) == (
        431, "Unable to execute API command listIsos due to invalid value one for parameter page".replace(
            "listIsos", "listisos"))


@pytest.mark.parametrize("params, text", [
    ({"pagesize": 10}, '"page" parameter is required when "pagesize" is specified'),
    ({"page": 1}, '"pagesize" parameter is required when "page" is specified'),
    ({"page": 1, "pagesize": 501}, "Page size can't exceed max allowed page size value: 500"),
    ({"page": 1, "pagesize": -1}, "Can't specify page parameter when pagesize is -1 (Unlimited)"),
])
def test_paging_rules(client: Client, params: dict, text: str) -> None:
    status, body = client.call("listZones", **params)
    assert (status, body["errorcode"], body["errortext"]) == (431, 431, text)


def test_paging_counts_all_matches(client: Client) -> None:
    for i in range(5):
        client.register_iso(f"p{i}", bootable=False)
    page = client.ok("listIsos", isofilter="all", page=2, pagesize=2)
    assert page["count"] == 5 and [i["name"] for i in page["iso"]] == ["p2", "p3"]
    beyond = client.ok("listIsos", isofilter="all", page=9, pagesize=2)
    assert beyond == {"count": 5}
    unlimited = client.ok("listIsos", isofilter="all", pagesize=-1)
    assert len(unlimited["iso"]) == 5


def test_default_page_size_caps_unpaged_lists() -> None:
    with MoldSim(max_page_size=3) as sim, Client(sim.url) as c:
        for i in range(4):
            c.register_iso(f"q{i}", bootable=False)
        resp = c.ok("listIsos", isofilter="all")
        assert resp["count"] == 4 and len(resp["iso"]) == 3


def test_no_command_is_432(client: Client) -> None:
    resp = client.raw([("response", "json")])
    assert resp.status_code == 432


def test_list_apis_is_generated_from_declared_params(client: Client) -> None:
    apis = {a["name"]: a for a in client.ok("listApis")["api"]}
    assert {"registerIso", "listIsos", "deleteIso", "queryAsyncJobResult", "createTags"} <= set(apis)
    assert apis["deleteIso"]["isasync"] is True and apis["registerIso"]["isasync"] is False
    url = next(p for p in apis["registerIso"]["params"] if p["name"] == "url")
    assert (url["type"], url["required"]) == ("string", True)
    one = client.ok("listApis", name="listIsos")
    assert one["count"] == 1 and one["api"][0]["name"] == "listIsos"
    # plugins/api/discovery/.../ListApisCmd.execute: the service found nothing → 530
    status, body = client.call("listApis", name="launchRocket")
    assert (status, body["errortext"]) == (530, "Api Discovery plugin was unable to find an api by "
                                                "that name or process any apis")


def test_list_os_types_and_offerings(client: Client) -> None:
    names = [o["name"] for o in client.ok("listOsTypes")["ostype"]]
    for wanted in ("Windows PV", "Windows 11 (64-bit)", "Windows Server 2022 (64-bit)", "None", "Rocky Linux 9"):
        assert wanted in names
    so = client.first("listServiceOfferings", "serviceoffering", name="4vCore-8GB")
    assert (so["cpunumber"], so["memory"]) == (4, 8192)
    do = {d["name"]: d for d in client.ok("listDiskOfferings")["diskoffering"]}
    assert (do["50GB"]["disksize"], do["Custom"]["iscustomized"], do["Custom"]["disksize"]) == (50, True, 0)
    no = client.ok("listNetworkOfferings", guestiptype="Isolated", state="Enabled", forvpc=False)
    assert [n["name"] for n in no["networkoffering"]] == ["DefaultIsolatedNetworkOfferingWithSourceNatService"]
    assert no["networkoffering"][0]["isdefault"] is True


def test_removed_ids_still_bind_for_lists(client: Client) -> None:
    """ParamProcessWorker.translateUuidToInternalId finds removed rows too: listing a deleted
    ISO by id answers an empty list (L server/.../api/dispatch/ParamProcessWorker.java,
    QueryManagerImpl.searchForTemplatesInternal findByIdIncludingRemoved)."""
    iso = client.register_iso("gone")
    assert client.wait_job(client.ok("deleteIso", id=iso["id"])["jobid"])["jobstatus"] == 1
    assert client.ok("listIsos", isofilter="all", id=iso["id"]) == {}
    status, _ = client.call("updateIso", id=iso["id"], name="x")  # other commands: 431
    assert status == 431
