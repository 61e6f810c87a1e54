"""moldsim over HTTPS (`tls_cert`/`tls_key`, `--tls-cert`/`--tls-key`) with a throwaway trustme
CA; the `cs` client is the outside judge. Clients that fail the handshake are not news."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme
from cs import CloudStack

from moldsim.server import MoldSim

from simclient import API_KEY, SECRET_KEY, Client


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def pems(ca: trustme.CA, tmp_path: Path) -> dict[str, Path]:
    """cert, key (for 127.0.0.1) and the CA bundle, as PEM files."""
    issued = ca.issue_cert("127.0.0.1")
    paths = {name: tmp_path / f"{name}.pem" for name in ("cert", "key", "ca")}
    issued.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    issued.private_key_pem.write_to_path(str(paths["key"]))
    ca.cert_pem.write_to_path(str(paths["ca"]))
    return paths


@pytest.fixture
def tls_sim(pems: dict[str, Path]) -> Iterator[MoldSim]:
    with MoldSim(signature="sha1", tls_cert=pems["cert"], tls_key=pems["key"]) as sim:  # sha1: cs
        yield sim


def context(pems: dict[str, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(pems["ca"]))


def trusted(pems: dict[str, Path]) -> httpx.Client:
    return httpx.Client(verify=context(pems), timeout=5)


def test_https_with_the_ca_works_and_without_it_fails_verification(
        tls_sim: MoldSim, pems: dict[str, Path]) -> None:
    assert tls_sim.url.startswith("https://127.0.0.1:") and tls_sim.url.endswith("/client/api")
    assert tls_sim.base_url.startswith("https://")
    with httpx.Client() as plain, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY"):
        plain.get(tls_sim.url)
    judge = CloudStack(endpoint=tls_sim.url, key=API_KEY, secret=SECRET_KEY, verify=str(pems["ca"]))
    assert [z["name"] for z in judge.listZones()["zone"]] == ["Zone1"]
    with trusted(pems) as http:
        assert http.get(tls_sim.base_url + "/moldsim/health").json()["status"] == "ok"


def test_failed_handshakes_neither_crash_nor_hold_up_the_server(
        tls_sim: MoldSim, pems: dict[str, Path], capfd: pytest.CaptureFixture[str]) -> None:
    host, port = tls_sim.base_url.removeprefix("https://").split(":")
    address = (host, int(port))
    stalled = socket.create_connection(address)  # connects, never says a word
    with pytest.raises(httpx.HTTPError):
        httpx.get(tls_sim.url.replace("https://", "http://"), timeout=5)  # plain HTTP
    with socket.create_connection(address) as junk:
        junk.sendall(b"\x16\x03\x01\x00\x05hello")  # a record that is no ClientHello
    socket.create_connection(address).close()  # hangs up at once
    with socket.create_connection(address) as raw, pytest.raises(ssl.SSLCertVerificationError):
        ssl.create_default_context().wrap_socket(raw, server_hostname=host)  # CA unknown
    try:
        for _ in range(3):
            with trusted(pems) as http:
                assert http.get(tls_sim.base_url + "/moldsim/health").status_code == 200
    finally:
        stalled.close()
    time.sleep(0.1)
    assert capfd.readouterr().err == ""


def test_verbose_logs_failed_handshakes(pems: dict[str, Path],
                                        capfd: pytest.CaptureFixture[str]) -> None:
    with MoldSim(tls_cert=pems["cert"], tls_key=pems["key"], verbose=True) as sim:
        with pytest.raises(httpx.HTTPError):
            httpx.get(sim.url.replace("https://", "http://"), timeout=5)
        deadline, err = time.monotonic() + 5, ""
        while "SSL" not in err and time.monotonic() < deadline:
            time.sleep(0.05)
            err += capfd.readouterr().err
    assert "SSL" in err


def test_faults_apply_over_https(tls_sim: MoldSim, pems: dict[str, Path]) -> None:
    tls_sim.set_faults(reset_after=[{"command": "registerIso"}])
    with Client(tls_sim.url, algo="sha1", verify=context(pems)) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.register_iso("lost-over-tls")
        assert client.first("listIsos", "iso", isofilter="self")["name"] == "lost-over-tls"


@pytest.mark.parametrize("given", ["tls_cert", "tls_key"])
def test_tls_needs_both_certificate_and_key(tmp_path: Path, given: str) -> None:
    with pytest.raises(ValueError, match=r"both a certificate \(tls_cert\) and its key"):
        MoldSim(**{given: tmp_path / "x.pem"})  # type: ignore[arg-type]


def serve(*flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "moldsim", "serve", "--port", "0",
                             "--job-seconds", "0", *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_serve_with_tls_prints_the_https_url(pems: dict[str, Path]) -> None:
    proc = serve("--tls-cert", str(pems["cert"]), "--tls-key", str(pems["key"]))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().rstrip("\n")
        assert line.startswith("moldsim listening on https://127.0.0.1:")
        with Client(line.split(" ")[-1], verify=context(pems)) as client:
            assert client.ok("listZones")["zone"][0]["name"] == "Zone1"
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert (proc.returncode, out, err) == (0, "", "")


@pytest.mark.parametrize("flags, message", [
    (["--tls-cert", "c.pem"], "--tls-cert and --tls-key go together"),
    (["--tls-key", "k.pem"], "--tls-cert and --tls-key go together"),
    (["--tls-cert", "/no/such.pem", "--tls-key", "/no/such.pem"],
     "moldsim: cannot read the TLS certificate or key: [Errno 2] No such file or directory"),
])
def test_serve_refuses_half_or_unreadable_tls(flags: list[str], message: str) -> None:
    proc = serve(*flags)
    out, err = proc.communicate(timeout=10)
    assert (proc.returncode, out) == (2, "") and message in err


def test_serve_refuses_a_key_that_is_not_the_certificates(pems: dict[str, Path],
                                                          ca: trustme.CA, tmp_path: Path) -> None:
    other = tmp_path / "other-key.pem"
    ca.issue_cert("127.0.0.1").private_key_pem.write_to_path(str(other))
    proc = serve("--tls-cert", str(pems["cert"]), "--tls-key", str(other))
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 2 and err.startswith(f"moldsim: cannot use {pems['cert']} with {other}")
