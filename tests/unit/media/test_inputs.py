"""The build's inputs at apply: secrets from a variable or a file, ISOs from a path or a URL
(downloaded into the cache, checked against the declared sha256, reused while they match).
Downloads are served by an httpx.MockTransport."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from reconciler.media.inputs import cache_dir, known_sha256, local_iso, read_secret
from reconciler.media.isofs import MediaError
from reconciler.media.recipe import SecretRef, Source

BODY = b"ISO-BYTES" * 100_000  # 900 kB: more than one chunk would be, fewer than a progress step
SHA = hashlib.sha256(BODY).hexdigest()
URL = "https://downloads.example.com/iso/virtio-win.iso"


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MWIN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def serving(answer: Callable[[httpx.Request], httpx.Response]) -> tuple[httpx.Client, list[str]]:
    asked: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return answer(request)

    return httpx.Client(transport=httpx.MockTransport(handle)), asked


def test_a_download_is_checked_kept_in_the_cache_and_reused(cache: Path) -> None:
    http, asked = serving(lambda _: httpx.Response(200, content=BODY))
    said: list[str] = []
    first = local_iso(Source(url=URL, sha256=SHA.upper()), "drivers", said.append, http)
    assert first == cache / "downloads" / f"{SHA}.iso" and first.read_bytes() == BODY
    assert said == ["downloading virtio-win.iso: 0 MiB of 0 MiB"]
    again = local_iso(Source(url=URL, sha256=SHA), "drivers", said.append, http)
    assert again == first and asked == [URL]  # no second GET
    assert said[-1] == "drivers: using the cached download of virtio-win.iso"
    assert [p.name for p in (cache / "downloads").iterdir()] == [f"{SHA}.iso"]  # no temp left


def test_a_cached_file_that_no_longer_matches_is_downloaded_again(cache: Path) -> None:
    stale = cache / "downloads" / f"{SHA}.iso"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"truncated")
    http, asked = serving(lambda _: httpx.Response(200, content=BODY))
    assert local_iso(Source(url=URL, sha256=SHA), "drivers", lambda _: None, http).read_bytes() == BODY
    assert asked == [URL]


@pytest.mark.parametrize(("answer", "message"), [
    (lambda _: httpx.Response(200, content=b"something else"),
     f"drivers: {URL} has sha256 {hashlib.sha256(b'something else').hexdigest()}, the spec "
     f"declares {SHA}"),
    (lambda _: httpx.Response(404, content=b"gone"), f"drivers: GET {URL} answered HTTP 404"),
])
def test_a_wrong_download_is_an_error_and_leaves_nothing_behind(
        cache: Path, answer: Callable[[httpx.Request], httpx.Response], message: str) -> None:
    http, _ = serving(answer)
    with pytest.raises(MediaError) as caught:
        local_iso(Source(url=URL, sha256=SHA), "drivers", lambda _: None, http)
    assert str(caught.value) == message
    assert list((cache / "downloads").iterdir()) == []


def test_a_broken_connection_says_how_far_it_got(cache: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    http, _ = serving(refuse)
    with pytest.raises(MediaError) as caught:
        local_iso(Source(url=URL, sha256=SHA), "drivers", lambda _: None, http)
    assert str(caught.value) == (f"drivers: downloading {URL} failed after 0 bytes "
                                 "(ConnectError: connection refused)")
    assert list((cache / "downloads").iterdir()) == []


def test_a_local_file_is_checked_against_its_declared_sha256(tmp_path: Path) -> None:
    iso = tmp_path / "virtio-win.iso"
    iso.write_bytes(BODY)
    said: list[str] = []
    assert local_iso(Source(path=str(iso), sha256=SHA), "drivers", said.append) == iso
    assert said == ["checking the sha256 of virtio-win.iso"]
    with pytest.raises(MediaError, match=f"has sha256 {SHA}, the spec declares 0+$"):
        local_iso(Source(path=str(iso), sha256="0" * 64), "drivers", said.append)
    with pytest.raises(MediaError, match=r"^drivers: .*/nope\.iso does not exist$"):
        local_iso(Source(path=str(tmp_path / "nope.iso")), "drivers", said.append)


def test_a_local_files_digest_is_computed_once_per_version(tmp_path: Path, cache: Path) -> None:
    iso = tmp_path / "win.iso"
    iso.write_bytes(BODY)
    assert known_sha256(iso) == SHA
    assert (cache / "digests.json").is_file()
    iso.write_bytes(b"another version")
    assert known_sha256(iso) == hashlib.sha256(b"another version").hexdigest()


def test_secrets_come_from_their_variable_or_file_and_are_never_in_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MWIN_T_PW", "pw-123")
    assert read_secret(SecretRef(env="MWIN_T_PW"), "the Administrator password") == "pw-123"
    monkeypatch.setenv("MWIN_T_PW", "")
    with pytest.raises(MediaError, match="variable MWIN_T_PW is empty"):
        read_secret(SecretRef(env="MWIN_T_PW"), "the Administrator password")
    monkeypatch.delenv("MWIN_T_PW")
    with pytest.raises(MediaError, match="variable MWIN_T_PW is not set; set it to the "
                                         "Administrator password before"):
        read_secret(SecretRef(env="MWIN_T_PW"), "the Administrator password")
    secret = tmp_path / "pw.txt"
    secret.write_text("pw-456\n", encoding="utf-8")
    assert read_secret(SecretRef(file=str(secret)), "the password") == "pw-456"
    secret.write_text("\n", encoding="utf-8")
    with pytest.raises(MediaError, match=r"pw\.txt is empty$"):
        read_secret(SecretRef(file=str(secret)), "the password")
    with pytest.raises(MediaError, match=r"missing\.txt cannot be read \(No such file"):
        read_secret(SecretRef(file=str(tmp_path / "missing.txt")), "the password")


def test_the_cache_follows_xdg_then_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MWIN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "mwin"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "mwin"
