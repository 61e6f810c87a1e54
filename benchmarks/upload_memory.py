"""Peak memory of `mwin apply` uploading a large local ISO: the file streams in chunks, so
mwin's own peak RSS stays flat whatever the file's size.

Makes sparse ISO 9660-shaped files (by default 16 MiB and 600 MiB; `--sizes` in MiB), applies
a spec uploading each to moldsim, and prints mwin's process peak RSS (wait4 of that one
child) next to the file size, plus whether the bytes moldsim stored match the file.

    .venv/bin/python benchmarks/upload_memory.py [--sizes 16 600]
Target (issue "CD media"): the peak for the large file within 20 MiB of the small one's.
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import tempfile
from pathlib import Path

from _harness import Moldsim, mwin

MIB = 1024 * 1024


def make_iso(path: Path, size: int) -> str:
    """A sparse file with an ISO 9660 volume descriptor; returns its sha256."""
    with path.open("wb") as handle:
        handle.seek(32768)
        handle.write(b"\x01CD001\x01")
        handle.seek(size - 1)
        handle.write(b"\0")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(MIB), b""):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 600])
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        sim = Moldsim("--job-seconds", "0", "--data", str(Path(tmp) / "mold"))
        try:
            for size in args.sizes:
                work = Path(tmp) / f"w{size}"
                work.mkdir()
                digest = make_iso(work / "big.iso", size * MIB)
                (work / "spec.yaml").write_text(
                    "version: 1\ndefaults: {zone: Zone1}\nisos:\n"
                    f"  big{size}: {{file: big.iso, bootable: false}}\n")
                run = mwin(sim.url, "apply", "spec.yaml", "--auto-approve", "--poll-interval",
                           "50ms", cwd=work)
                assert run.code == 0, run.err
                isos = [i for i in sim.control("/moldsim/dump")["isos"].values()
                        if i["name"] == f"big{size}"]
                stored = sim.control(f"/moldsim/uploads/{isos[0]['id']}")
                results.append((size, run.max_rss_mb, run.seconds, stored["sha256"] == digest))
        finally:
            sim.stop()
    print(f"machine: {platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}")
    for size, rss, seconds, same in results:
        print(f"file {size:>6} MiB: mwin peak RSS {rss:6.1f} MiB, {seconds:5.1f}s, "
              f"bytes in moldsim {'equal' if same else 'DIFFER'}")
    flat = results[-1][1] - results[0][1] <= 20
    print(f"target: peak RSS flat (within 20 MiB): {'holds' if flat else 'MISSED'}")


if __name__ == "__main__":
    main()
