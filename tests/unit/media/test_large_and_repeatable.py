"""A file over 4 GiB (install.wim of a real installer) carried through, from a sparse source
into a sparse result; and the same inputs built in two processes: the same identity and the
same tree, byte for byte in every file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pycdlib

from reconciler.media import build
from reconciler.media.isofs import IsoTree
from tests.unit.media import synthetic
from tests.unit.media.conftest import Kit, tool

BIG = 4 * 1024**3 + 3 * 1024**2 + 123  # over 4 GiB, not a multiple of a block
CHUNK = 8 * 1024**2


def same_bytes(a: IsoTree, a_path: str, b: IsoTree, b_path: str) -> bool:
    """The same bytes at the start, across the 4 GiB boundary and at the end (reading all of
    two 4 GiB files twice would dominate the suite's time for no more certainty)."""
    windows = (0, 4 * 1024**3 - CHUNK // 2, BIG - CHUNK)
    with a.open(a_path) as left, b.open(b_path) as right:
        for offset in windows:
            left.seek(offset)
            right.seek(offset)
            if left.read(CHUNK) != right.read(CHUNK):
                return False
    return True


def test_a_file_over_4_gib_is_carried(kit: Kit, tmp_path: Path, password: str) -> None:
    wim = synthetic.write_wim(tmp_path / "install.wim", size=BIG)
    source = synthetic.windows_iso(tmp_path / "big-windows.iso", wim)
    out = tmp_path / "unattended.iso"
    from reconciler.media import Source
    built = build(kit.recipe(windows_iso=Source(path=str(source))), lambda _l: None, out)
    assert built.windows == "w11"  # its metadata read from the end of the 4 GiB file
    assert out.stat().st_size > BIG and out.stat().st_blocks * 512 < 64 * 1024**2  # sparse
    with IsoTree(source) as before, IsoTree(out) as after:
        [entry] = [e for e in after.entries if e.path == "sources/install.wim"]
        assert entry.size == BIG
        assert same_bytes(before, "sources/install.wim", after, "sources/install.wim")
    iso = pycdlib.PyCdlib()  # the ISO 9660 side (several extents) and Joliet say the same
    iso.open(str(out))
    with wim.open("rb") as original:
        original.seek(BIG - 4096)
        tail = original.read()
    with iso.open_file_from_iso(iso_path="/SOURCES/INSTALL.WIM;1") as f9660, \
            iso.open_file_from_iso(joliet_path="/sources/install.wim") as fjoliet:
        for handle in (f9660, fjoliet):
            handle.seek(BIG - 4096)
            assert handle.read() == tail
            handle.seek(0)
            assert handle.read(8) == synthetic.WIM_MAGIC
    iso.close()
    listing = subprocess.run([tool("7zz"), "l", "-tudf", str(out), "sources/install.wim"],
                             capture_output=True, text=True, check=True).stdout
    assert f" {BIG} " in listing


SCRIPT = """
import json, sys
from pathlib import Path
from reconciler.media import Recipe, build
recipe = Recipe.model_validate_json(sys.argv[1])
built = build(recipe, lambda _l: None, Path(sys.argv[2]))
print(json.dumps({"identity": built.identity}))
"""


def test_two_processes_build_the_same_media(kit: Kit, tmp_path: Path, password: str) -> None:
    recipe = kit.recipe().model_dump_json()
    results = []
    for n in (1, 2):
        out = tmp_path / f"media-{n}.iso"
        run = subprocess.run([sys.executable, "-c", SCRIPT, recipe, str(out)], check=True,
                             capture_output=True, text=True, cwd=Path(__file__).parents[3])
        results.append((json.loads(run.stdout)["identity"], out))
    (first, a), (second, b) = results
    assert first == second == kit.recipe().identity()
    with IsoTree(a) as one, IsoTree(b) as two:
        assert [(e.path, e.size) for e in one.entries] == [(e.path, e.size) for e in two.entries]
        assert all(one.read(e.path) == two.read(e.path) for e in one.entries if not e.is_dir)
        assert [(x.platform, x.path) for x in one.boot_entries()] == \
            [(x.platform, x.path) for x in two.boot_entries()]


def test_the_identity_leaves_out_secrets_and_locations(kit: Kit) -> None:
    from reconciler.media import SecretRef, Source
    base = kit.recipe()
    moved = kit.recipe(windows_iso=Source(url="https://example.org/w.iso",
                                          sha256=base.windows_iso.sha256),
                       admin_password=SecretRef(file="/elsewhere/pw.txt"))
    assert moved.identity() == base.identity()
    for change in ({"image": "Windows 11 Home"}, {"firmware": "BIOS"},
                   {"first_boot": "disk_first"}, {"first_logon": ("echo hi",)},
                   {"product_key": SecretRef(env="KEY")}, {"generalize": False}):
        assert kit.recipe(**change).identity() != base.identity(), change
