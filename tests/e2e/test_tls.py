"""TLS: verification on by default, a private CA through --ca-bundle / MOLD_CA_BUNDLE, and an
explicit --insecure that warns. The real CLI against moldsim serving HTTPS with a throwaway CA."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from moldsim.server import MoldSim
from tests.helpers.cli import Mwin

SPEC = """\
version: 1
defaults: {zone: Zone1}
isos:
  win11: {url: https://example.com/win11.iso, os_type: Windows 11 (64-bit)}
"""


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def https_sim(ca: trustme.CA, tmp_path: Path) -> Iterator[MoldSim]:
    cert = ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    with MoldSim(tls_cert=tmp_path / "cert.pem", tls_key=tmp_path / "key.pem") as sim:
        yield sim


@pytest.fixture
def work(https_sim: MoldSim, ca: trustme.CA, tmp_path: Path) -> tuple[Mwin, Path, Path]:
    mwin = Mwin(https_sim.url, tmp_path)
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    return mwin, spec, bundle


def test_unknown_ca_is_refused_with_a_way_out(work: tuple[Mwin, Path, Path]) -> None:
    mwin, spec, _ = work
    run = mwin("plan", str(spec))
    assert run.code == 1 and "Traceback" not in run.err
    assert f"the TLS certificate of {mwin.url} could not be verified" in run.err
    assert "--ca-bundle FILE" in run.err and "--insecure" in run.err


def test_private_ca_by_flag_or_environment(work: tuple[Mwin, Path, Path]) -> None:
    mwin, spec, bundle = work
    by_flag = mwin("plan", str(spec), "--json", "--ca-bundle", str(bundle))
    assert by_flag.code == 0, by_flag.err
    assert [a["operation"] for a in by_flag.json()["actions"]] == ["create"]
    mwin.env["MOLD_CA_BUNDLE"] = str(bundle)
    applied = mwin("apply", str(spec), "--auto-approve")
    assert applied.code == 0, applied.err
    assert "Warning" not in applied.err


def test_insecure_works_and_warns_on_stderr_only(work: tuple[Mwin, Path, Path]) -> None:
    mwin, spec, _ = work
    run = mwin("plan", str(spec), "--json", "--insecure")
    assert run.code == 0, run.err
    assert json.loads(run.out)["summary"]["add"] == 1
    assert "Warning: TLS certificate verification is off" in run.err


def test_ca_bundle_problems_are_settings_errors(work: tuple[Mwin, Path, Path],
                                                tmp_path: Path) -> None:
    mwin, spec, bundle = work
    missing = mwin("plan", str(spec), "--ca-bundle", str(tmp_path / "nope.pem"))
    assert missing.code == 1
    assert f"--ca-bundle: cannot read the CA bundle {tmp_path / 'nope.pem'}" in missing.err
    both = mwin("plan", str(spec), "--ca-bundle", str(bundle), "--insecure")
    assert both.code == 1 and "choose one" in both.err
