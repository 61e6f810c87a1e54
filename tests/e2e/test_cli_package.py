"""The real package: `python -m build` makes an sdist (with the docs, the CI examples and the
example specs) and a wheel built from it; the wheel, installed into a new virtualenv, gives
the `mwin` and `moldsim` commands, and that mwin plans against that moldsim.

Building and installing take tens of seconds, so both are cached under .pytest_cache, keyed
by a digest of every file that goes into the package: a run after no change reuses them and
takes about a second; any change to the code, docs or packaging builds and installs afresh.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler import __version__

ROOT = Path(__file__).resolve().parents[2]
NAME = "ablestack-mwin"
INPUTS = ("pyproject.toml", "MANIFEST.in", "README.md", "CHANGELOG.md", "reconciler",
          "moldsim", "docs", "examples", "specs")
CACHE = ROOT / ".pytest_cache" / "mwin-package"

pytestmark = [pytest.mark.package, pytest.mark.timeout(900)]


def digest() -> str:
    """sha256 over the path and bytes of every file that goes into the package."""
    sha = hashlib.sha256()
    for top in INPUTS:
        where = ROOT / top
        files = [where] if where.is_file() else sorted(
            p for p in where.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        for path in files:
            sha.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return sha.hexdigest()[:16]


def _made(target: Path, make: object) -> Path:
    """``target``, made by ``make(target)`` unless a run before made it whole (it leaves a
    ``.done`` file beside it last: an interrupted run's half is made again). Made in place: a
    virtualenv's scripts name its path, it cannot be moved."""
    done = target.with_name(f"{target.name}.done")
    if done.exists() and target.exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    make(target)  # type: ignore[operator]
    done.touch()
    return target


@pytest.fixture(scope="module")
def built() -> Path:
    def build(out: Path) -> None:
        for old in CACHE.glob("*"):  # one cached build at a time
            if old.name != out.parent.name:
                shutil.rmtree(old, ignore_errors=True)
        done = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    return _made(CACHE / digest() / "dist", build)


@pytest.fixture(scope="module")
def venv(built: Path) -> Path:
    wheel = one(built, "*.whl")

    def install(where: Path) -> None:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True,
                       timeout=120)
        done = subprocess.run([sys.executable, "-m", "pip", "--python", str(where / "bin" /
                               "python"), "install", "--quiet", str(wheel)],
                              capture_output=True, text=True, timeout=600, env=_no_pythonpath())
        assert done.returncode == 0, done.stderr[-3000:]

    return _made(built.parent / "venv", install)


def _no_pythonpath() -> dict[str, str]:
    """This environment without PYTHONPATH: a source tree on it (with the egg-info the build
    leaves there) would make pip take the package for installed already."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def one(folder: Path, pattern: str) -> Path:
    (found,) = folder.glob(pattern)
    return found


def test_the_sdist_carries_docs_examples_and_specs(built: Path) -> None:
    sdist = one(built, "*.tar.gz")
    assert sdist.name == f"ablestack_mwin-{__version__}.tar.gz"
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for wanted in ("README.md", "CHANGELOG.md", "docs/spec.md", "docs/mwin-spec.schema.json",
                   "docs/plan-json.md", "examples/ci/github-actions.yml",
                   "examples/ci/gitlab-ci.yml", "specs/quickstart.yaml",
                   "reconciler/cli/app.py", "moldsim/server.py"):
        assert wanted in names
    assert not any(name.startswith("tests/") for name in names)


def test_the_wheel_names_the_distribution_and_both_commands(built: Path) -> None:
    wheel = one(built, "*.whl")
    assert wheel.name == f"ablestack_mwin-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        info = f"ablestack_mwin-{__version__}.dist-info"
        metadata = archive.read(f"{info}/METADATA").decode()
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
        packages = {name.split("/", 1)[0] for name in archive.namelist()}
    assert f"Name: {NAME}\n" in metadata and f"Version: {__version__}\n" in metadata
    assert "mwin = reconciler.cli:main" in entry_points
    assert "moldsim = moldsim.cli:main" in entry_points
    assert packages == {"reconciler", "moldsim", info}


@pytest.fixture
def moldsim(venv: Path) -> Iterator[str]:
    with subprocess.Popen([str(venv / "bin" / "moldsim"), "serve", "--port", "0",
                           "--job-seconds", "0"], stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on " in line, line
        try:
            yield line.split("listening on ", 1)[1].strip()
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def test_the_installed_wheel_runs_mwin_against_its_moldsim(venv: Path, moldsim: str,
                                                           tmp_path: Path) -> None:
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "NO_COLOR": "1",
           "MOLD_URL": moldsim, "MOLD_API_KEY": "moldsim-admin-key",
           "MOLD_SECRET_KEY": "moldsim-admin-secret"}

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(argv), cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)

    where = run(str(venv / "bin" / "python"), "-c", "import reconciler; print(reconciler.__file__)")
    assert where.stdout.startswith(str(venv)), where  # the installed copy, not this checkout
    version = run("mwin", "--version")
    assert (version.returncode, version.stdout) == (0, f"mwin {__version__}\n")
    shutil.copy(ROOT / "specs" / "quickstart.yaml", tmp_path / "quickstart.yaml")
    planned = run("mwin", "plan", "quickstart.yaml", "--detailed-exitcode")
    assert planned.returncode == 2, planned.stderr
    assert "Plan: 2 to add, 0 to change, 0 to destroy." in planned.stdout
