"""Hostile and broken specs end in a clean result or clean diagnostics, never an exception."""

from __future__ import annotations

import time
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.spec import load_spec

SECTION_KEYS = ["version", "defaults", "isos", "networks", "vms", "templates"]
FIELD_NAMES = ["url", "os_type", "zone", "name", "display_text", "bootable", "install_iso",
               "networks", "boot", "type", "mode", "tpm", "cdrom", "state", "from_vm",
               "compute_offering", "disk_offering", "snapshots", "lifecycle", "protect"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                    st.text(max_size=20))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8),
                                            inner, max_size=4)),
    max_leaves=30)
documents = st.dictionaries(st.sampled_from(SECTION_KEYS),
                            st.dictionaries(st.text(min_size=1, max_size=10), values, max_size=3)
                            | values, max_size=6)


def _load(tmp_path: Path, raw: bytes) -> tuple[object, list[str]]:
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(raw)
    doc, diags = load_spec(spec)
    rendered = [d.render() for d in diags]
    for line in rendered:
        if ": error: " in line:
            assert line.startswith(str(spec)), line  # every error names the file (and line)
    return doc, rendered


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(documents)
def test_random_structures_never_raise(tmp_path: Path, data: dict) -> None:
    raw = yaml.safe_dump(data, allow_unicode=True).encode()
    doc, rendered = _load(tmp_path, raw)
    assert doc is not None or rendered


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(tmp_path: Path, raw: bytes) -> None:
    _load(tmp_path, raw)


def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    started = time.monotonic()
    doc, rendered = _load(tmp_path, "\n".join(lines).encode())
    assert doc is None
    assert any("alias bomb" in line for line in rendered)
    assert time.monotonic() - started < 5


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    raw = ("isos: " + "[" * 500 + "]" * 500).encode()
    doc, rendered = _load(tmp_path, raw)
    assert doc is None and any("nesting" in line or "error" in line for line in rendered)


def test_tabs_and_bad_utf8_name_the_line(tmp_path: Path) -> None:
    _doc, rendered = _load(tmp_path, b"isos:\n\twin: {}\n")
    assert any(":2:" in line for line in rendered)
    _doc, rendered = _load(tmp_path, b"isos:\n  win:\n    url: \xff\xfe\n")
    assert any(":3:" in line and "UTF-8" in line for line in rendered)
