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


# Ambient trust settings of the machine running the tests must not decide the outcome.
AMBIENT = ("MOLD_CA_BUNDLE", "MOLD_INSECURE", "SSL_CERT_FILE", "SSL_CERT_DIR",
           "REQUESTS_CA_BUNDLE", "MOLD_PROFILE", "CLOUDSTACK_REGION")
REFUSED = ("Error: listZones: the TLS certificate of {url} could not be verified (unable to get "
           "local issuer certificate): if Mold's certificate comes from a private CA, pass "
           "--ca-bundle FILE (or set MOLD_CA_BUNDLE) with the CA that signed it; --insecure skips "
           "verification (not recommended)")
WARNING = ("Warning: TLS certificate verification is disabled (--insecure or MOLD_INSECURE): "
           "anyone on the path to Mold can read the traffic and change Mold's answers. Use "
           "--ca-bundle FILE for a private CA instead.")


def _bound(url: str, tmp_path: Path) -> Mwin:
    mwin = Mwin(url, tmp_path)
    for name in AMBIENT:
        mwin.env.pop(name, None)
    mwin.env["HOME"] = str(tmp_path)  # no ~/.cloudstack.ini of the tester's
    return mwin


@pytest.fixture
def work(https_sim: MoldSim, ca: trustme.CA, tmp_path: Path) -> tuple[Mwin, Path, Path]:
    mwin = _bound(https_sim.url, tmp_path)
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    return mwin, spec, bundle


def test_unknown_ca_is_refused_with_a_way_out(work: tuple[Mwin, Path, Path]) -> None:
    mwin, spec, _ = work
    for args in (("plan", str(spec)), ("plan", str(spec), "--json"),
                 ("apply", str(spec), "--auto-approve")):
        run = mwin(*args)
        assert (run.code, run.out) == (1, ""), run
        assert run.err.splitlines() == [REFUSED.format(url=mwin.url)]
    assert not mwin.state.exists()  # refused before anything was written


def test_missing_ssl_cert_file_still_refuses_cleanly(work: tuple[Mwin, Path, Path],
                                                     tmp_path: Path) -> None:
    mwin, spec, _ = work
    mwin.env["SSL_CERT_FILE"] = str(tmp_path / "gone.pem")  # OpenSSL skips it; no crash
    run = mwin("plan", str(spec), process=True)  # the variable as a new process finds it
    assert run.code == 1 and run.err.splitlines() == [REFUSED.format(url=mwin.url)]


def test_ssl_cert_file_moves_the_default_trust(work: tuple[Mwin, Path, Path]) -> None:
    mwin, spec, bundle = work
    mwin.env["SSL_CERT_FILE"] = str(bundle)  # OpenSSL's variable, as curl and Python honour it
    run = mwin("plan", str(spec), "--json", process=True)  # as a new process finds it
    assert (run.code, run.err) == (0, ""), run.err
    assert run.json()["summary"]["add"] == 1


def test_private_ca_by_flag_or_environment(work: tuple[Mwin, Path, Path]) -> None:
    mwin, spec, bundle = work
    by_flag = mwin("plan", str(spec), "--json", "--ca-bundle", str(bundle))
    assert (by_flag.code, by_flag.err) == (0, ""), by_flag.err
    assert [(a["address"], a["operation"]) for a in by_flag.json()["actions"]] == [
        ("iso.win11", "create")]
    mwin.env["MOLD_CA_BUNDLE"] = str(bundle)
    by_env = mwin("plan", str(spec), "--json")
    assert (by_env.code, by_env.err) == (0, ""), by_env.err
    assert by_env.json()["summary"]["add"] == 1
    applied = mwin("apply", str(spec), "--auto-approve")
    assert applied.code == 0, applied.err
    assert "Warning" not in applied.err and "iso.win11 (create): done" in applied.err
    after = mwin("plan", str(spec), "--json")
    assert after.code == 0 and after.json()["actions"] == []  # it really reached Mold


def test_insecure_works_and_warns_on_stderr_only(work: tuple[Mwin, Path, Path]) -> None:
    mwin, spec, _ = work
    run = mwin("plan", str(spec), "--json", "--insecure")
    assert run.code == 0, run.err
    assert json.loads(run.out)["summary"]["add"] == 1  # stdout is nothing but the JSON plan
    assert run.err.splitlines() == [WARNING]
    mwin.env["MOLD_INSECURE"] = "1"
    for args in (("plan", str(spec), "--json"), ("apply", str(spec), "--auto-approve"),
                 ("state", "rebuild")):
        run = mwin(*args)
        assert run.code == 0, run.err
        assert run.err.splitlines()[0] == WARNING and run.err.count(WARNING) == 1, run.err
    assert json.loads(mwin("plan", str(spec), "--json").out)["actions"] == []


def test_wrong_host_name_says_so(https_sim: MoldSim, work: tuple[Mwin, Path, Path]) -> None:
    _, spec, bundle = work
    url = https_sim.url.replace("127.0.0.1", "localhost")  # the certificate names 127.0.0.1 only
    mwin = _bound(url, spec.parent)
    run = mwin("plan", str(spec), "--ca-bundle", str(bundle))
    assert run.code == 1 and run.err.splitlines() == [
        f"Error: listZones: the TLS certificate of {url} could not be verified (Hostname "
        "mismatch, certificate is not valid for 'localhost'): connect with a host name the "
        "certificate was issued for (--url or MOLD_URL; localhost is not one of them); "
        "--insecure skips verification (not recommended)"]


def test_https_url_to_a_plain_http_server(tmp_path: Path) -> None:
    with MoldSim() as plain:
        url = plain.url.replace("http://", "https://")
        mwin = _bound(url, tmp_path)
        (tmp_path / "spec.yaml").write_text(SPEC)
        run = mwin("plan", str(tmp_path / "spec.yaml"))
    assert run.code == 1 and "Traceback" not in run.err
    assert run.err.splitlines()[-1].endswith(
        "the server does not seem to speak TLS there: for plain HTTP use an http:// URL")


def test_ca_bundle_problems_are_settings_errors(work: tuple[Mwin, Path, Path],
                                                tmp_path: Path) -> None:
    mwin, spec, bundle = work
    missing = mwin("plan", str(spec), "--ca-bundle", str(tmp_path / "nope.pem"))
    assert missing.code == 1 and missing.err.splitlines() == [
        f"Error: --ca-bundle: cannot read the CA bundle {tmp_path / 'nope.pem'}: "
        "No such file or directory"]
    (tmp_path / "key-not-ca.pem").write_text((tmp_path / "key.pem").read_text())
    mwin.env["MOLD_CA_BUNDLE"] = str(tmp_path / "key-not-ca.pem")
    not_a_ca = mwin("plan", str(spec))
    assert not_a_ca.code == 1 and "Traceback" not in not_a_ca.err
    assert not_a_ca.err.startswith(f"Error: MOLD_CA_BUNDLE: the CA bundle {tmp_path}/key-not-ca.pem "
                                   "holds no usable PEM certificate")
    del mwin.env["MOLD_CA_BUNDLE"]
    both = mwin("plan", str(spec), "--ca-bundle", str(bundle), "--insecure")
    assert both.code == 1 and both.err.splitlines() == [
        f"Error: --insecure turns TLS verification off, but --ca-bundle {bundle} names a CA "
        "bundle to verify against: choose one (keep the CA bundle, or skip verification with "
        "--insecure)"]
