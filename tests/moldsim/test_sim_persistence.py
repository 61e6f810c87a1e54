"""Persistence with a data directory: restarts keep everything, including jobs in flight."""

from __future__ import annotations

import json
import time
from pathlib import Path

from moldsim.server import MoldSim

from simclient import Client


def test_restart_keeps_ids_and_objects(tmp_path: Path) -> None:
    with MoldSim(data_dir=tmp_path) as sim, Client(sim.url) as c:
        zone = c.zone_id()
        iso = c.register_iso("kept")
    assert json.loads((tmp_path / "moldsim.json").read_text())["isos"][iso["id"]]["name"] == "kept"
    with MoldSim(data_dir=tmp_path) as sim, Client(sim.url) as c:
        assert c.zone_id() == zone
        assert c.first("listIsos", "iso", id=iso["id"])["name"] == "kept"


def test_restart_mid_job_finishes_the_job(tmp_path: Path) -> None:
    with MoldSim(data_dir=tmp_path, job_seconds=0.4) as sim, Client(sim.url) as c:
        iso = c.register_iso("doomed")
        other = c.register_iso("doomed-too")
        jobid = c.ok("deleteIso", id=iso["id"])["jobid"]
        late_jobid = c.ok("deleteIso", id=other["id"])["jobid"]
        assert c.ok("queryAsyncJobResult", jobid=jobid)["jobstatus"] == 0
    time.sleep(0.45)  # the first job came due while moldsim was down
    with MoldSim(data_dir=tmp_path, job_seconds=0.4) as sim, Client(sim.url) as c:
        job = c.ok("queryAsyncJobResult", jobid=jobid)
        assert (job["jobstatus"], job["jobresult"]) == (1, {"success": True})
        assert c.wait_job(late_jobid)["jobstatus"] == 1
        assert c.ok("listIsos", isofilter="all") == {}


def test_restart_mid_download_continues(tmp_path: Path) -> None:
    with MoldSim(data_dir=tmp_path, download_seconds=0.5) as sim, Client(sim.url) as c:
        iso = c.register_iso("dl")
    with MoldSim(data_dir=tmp_path, download_seconds=0.5) as sim, Client(sim.url) as c:
        row = c.first("listIsos", "iso", isofilter="self", id=iso["id"])
        assert row["isready"] is False
        time.sleep(0.5)
        assert c.first("listIsos", "iso", id=iso["id"])["status"] == "Successfully Installed"


def test_a_store_from_before_accounts_is_migrated(tmp_path: Path) -> None:
    """Stores written before domains/accounts existed had one `account`; they load with their
    objects owned by the root admin of ROOT, keeping its ids."""
    with MoldSim(data_dir=tmp_path) as sim, Client(sim.url) as c:
        iso = c.register_iso("old")
    doc = json.loads((tmp_path / "moldsim.json").read_text())
    admin = doc["accounts"][doc["admin"]["accountid"]]
    root = next(iter(doc["domains"]))
    old = {k: v for k, v in doc.items() if k not in ("accounts", "users", "roles", "projects", "admin",
                                                   "settings")}
    old["account"] = {"account": "admin", "accountid": admin["id"], "userid": doc["admin"]["userid"],
                      "username": "admin", "domain": "ROOT", "domainid": root, "domainpath": "/"}
    old["domains"] = {root: {"id": root, "name": "ROOT", "path": "ROOT"}}
    del old["isos"][iso["id"]]["accountid"]
    (tmp_path / "moldsim.json").write_text(json.dumps(old))
    with MoldSim(data_dir=tmp_path) as sim, Client(sim.url) as c:
        row = c.first("listIsos", "iso", isofilter="self", id=iso["id"])
        assert (row["account"], row["accountid"], row["domainid"]) == ("admin", admin["id"], root)
        assert c.first("listAccounts", "account")["id"] == admin["id"]
