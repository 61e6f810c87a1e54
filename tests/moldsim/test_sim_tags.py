"""Resource tag limits and matching.

Sources (L = jeongda-young/ablestack-cloud @2caa557d91):
- L server/src/main/java/com/cloud/tags/TaggedResourceManagerImpl.java createTags (one
  transaction: key by key, resource by resource; no length check of its own), deleteTags
  (keys and values compared with equalsIgnoreCase); the same code in apache/cloudstack and
  ycyun/ablestack-cloud
- L engine/schema/src/main/resources/META-INF/db/schema-304to305.sql `resource_tags`: `key`
  varchar(255), `value` varchar(255), DEFAULT CHARSET=utf8
- L client/conf/db.properties.in db.cloud.url.params: sql_mode='STRICT_TRANS_TABLES,...', so
  a longer value fails the INSERT
- L framework/db/src/main/java/com/cloud/utils/db/GenericDaoBase.java persist:
  CloudRuntimeException("DB Exception on: " + pstmt): a failed job, 530
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from moldsim.server import MoldSim

from simclient import Workflow


@pytest.fixture
def wf(sim: MoldSim) -> Iterator[Workflow]:
    with Workflow(sim.url) as w:
        yield w


def _tag(wf: Workflow, rid: str, **tags: str) -> dict:
    params = {}
    for i, (k, v) in enumerate(tags.items()):
        params[f"tags[{i}].key"] = k.replace("_", ":")
        params[f"tags[{i}].value"] = v
    return wf.run_job("createTags", resourcetype="ISO", resourceids=rid, **params)


def test_a_value_longer_than_the_column_fails_the_job_and_makes_no_tag(wf: Workflow) -> None:
    iso = wf.register_iso("win")
    assert _tag(wf, iso["id"], mwin_source="s" * 255)["jobstatus"] == 1  # 255 fits
    assert _tag(wf, iso["id"], mwin_korean="가" * 255)["jobstatus"] == 1  # characters, not bytes
    job = _tag(wf, iso["id"], mwin_a="fine", mwin_b="x" * 256)
    assert (job["jobstatus"], job["jobresultcode"], job["jobresult"]["errorcode"]) == (2, 530, 530)
    assert job["jobresult"]["errortext"].startswith("DB Exception on: ")
    keys = {t["key"] for t in wf.ok("listTags", resourceid=iso["id"])["tag"]}
    assert keys == {"mwin:source", "mwin:korean"}  # the transaction left no mwin:a
    job = wf.run_job("createTags", resourcetype="ISO", resourceids=iso["id"],
                     **{"tags[0].key": "k" * 256, "tags[0].value": "v"})
    assert (job["jobresultcode"], job["jobresult"]["errortext"][:17]) == (530, "DB Exception on: ")


def test_delete_tags_matches_ignoring_case(wf: Workflow) -> None:
    iso = wf.register_iso("win")
    _tag(wf, iso["id"], mwin_owner="Team-A")
    job = wf.run_job("deleteTags", resourcetype="ISO", resourceids=iso["id"],
                     **{"tags[0].key": "MWIN:OWNER", "tags[0].value": "team-a"})
    assert job["jobresult"] == {"success": True}
    assert wf.ok("listTags", resourceid=iso["id"]) == {}
