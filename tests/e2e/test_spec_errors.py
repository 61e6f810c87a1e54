"""Broken specs through the real CLI: every problem at once, each with file:line, exit 1,
never a traceback. `validate` (and `plan` of an invalid spec) must not need Mold at all,
so those runs point MOLD_URL at a port where nothing listens."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.checks import write
from tests.helpers.cli import Mwin

NOBODY = "http://127.0.0.1:9/client/api"  # discard port: any API call would fail

BROKEN = """\
version: 1
defaults: {zone: Zone1}
isos:
  win2022:
    url: https://example.com/win.iso
    os_tpe: Windows PV
    public: "yes"
  virtio-win:
    display_text: VirtIO drivers
"""



def clean(text: str) -> bool:
    return "Traceback" not in text and "internal error" not in text


def error_lines(stderr: str) -> list[str]:
    """The diagnostics, without the `allowed here:` detail lines (whose list grows with the
    schema) and the closing count."""
    return [line for line in stderr.splitlines()
            if line and not line.startswith("    allowed here: ")]


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_broken_spec_lists_every_error_with_file_line(tmp_path: Path, command: str) -> None:
    write(tmp_path / "spec.yaml", BROKEN)
    run = Mwin(NOBODY, tmp_path)(command, "spec.yaml")
    assert run.code == 1
    assert clean(run.err) and run.out == ""
    assert error_lines(run.err) == [
        "spec.yaml:6:5: error: iso.win2022: unknown key 'os_tpe' (did you mean 'os_type'?)",
        'spec.yaml:7:13: error: iso.win2022: `public`: Input should be a valid boolean (got "yes")',
        "spec.yaml:8:3: error: iso.virtio-win: declare exactly one source: `url` (Mold "
        "downloads it), `file` (mwin uploads it) or `build` (mwin builds unattended media "
        "and uploads them)",
        'spec.yaml:8:3: error: iso.virtio-win: a bootable ISO needs `os_type` (e.g. "Windows PV")',
        "4 error(s); nothing was changed.",
    ]
    assert run.err.splitlines()[1].startswith("    allowed here: ")
    assert "os_type" in run.err.splitlines()[1]


def test_validate_json_lists_diagnostics_in_file_order(tmp_path: Path) -> None:
    write(tmp_path / "spec.yaml", BROKEN)
    run = Mwin(NOBODY, tmp_path)("validate", "spec.yaml", "--json")
    assert run.code == 1 and clean(run.err)
    document = run.json()
    assert document["valid"] is False
    assert [(d["file"], d["line"], d["column"], d["address"], d["severity"])
            for d in document["diagnostics"]] == [
        ("spec.yaml", 6, 5, "iso.win2022", "error"),
        ("spec.yaml", 7, 13, "iso.win2022", "error"),
        ("spec.yaml", 8, 3, "iso.virtio-win", "error"),
        ("spec.yaml", 8, 3, "iso.virtio-win", "error"),
    ]


def test_yaml_syntax_error_and_missing_spec(tmp_path: Path) -> None:
    write(tmp_path / "spec.yaml", "isos:\n  w:\n\turl: x\n")
    mwin = Mwin(NOBODY, tmp_path)
    run = mwin("validate", "spec.yaml")
    assert run.code == 1 and clean(run.err)
    assert error_lines(run.err)[0].startswith("spec.yaml:3:1: error: YAML syntax error: ")
    assert "    YAML does not allow tabs for indentation: indent with spaces" in run.err
    missing = mwin("plan", "nope.yaml")
    assert missing.code == 1 and clean(missing.err)
    assert error_lines(missing.err) == ["error: spec nope.yaml does not exist",
                                        "1 error(s); nothing was changed."]


def test_valid_directory_is_merged(tmp_path: Path, mwin: Mwin) -> None:
    specs = tmp_path / "specs"
    write(specs / "00-common.yaml", "version: 1\ndefaults: {zone: Zone1}\n")
    write(specs / "10-windows.yaml", "isos:\n  win2022:\n    url: https://example.com/w.iso\n"
                                     "    os_type: Windows PV\n")
    write(specs / "20-virtio.yml", "isos:\n  virtio-win:\n    url: https://example.com/v.iso\n"
                                   "    bootable: false\n")
    write(specs / "30-later.yaml", "")  # empty: declares nothing, and is a file of the spec
    checked = Mwin(NOBODY, tmp_path)("validate", "specs")
    assert checked.code == 0, checked.err
    assert checked.out.strip() == "The spec is valid: 2 resource(s) in 4 file(s)."
    plan = mwin.plan_json(specs)
    assert sorted(a["address"] for a in plan["actions"]) == ["iso.virtio-win", "iso.win2022"]
    assert plan["summary"]["add"] == 2


def test_duplicate_address_across_files_names_both_positions(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    write(specs / "a.yaml", "defaults: {zone: Zone1}\nisos:\n  win2022:\n"
                            "    url: https://example.com/a.iso\n    os_type: Windows PV\n")
    write(specs / "b.yaml", "isos:\n  other: {url: https://example.com/o.iso, bootable: false}\n"
                            "  win2022: {url: https://example.com/b.iso, os_type: Windows PV}\n")
    mwin = Mwin(NOBODY, tmp_path)
    for command in ("validate", "plan"):
        run = mwin(command, "specs")
        assert run.code == 1 and clean(run.err)
        assert error_lines(run.err) == [
            "specs/b.yaml:3:3: error: iso.win2022 is declared twice",
            "    first declared at specs/a.yaml:3:3",
            "1 error(s); nothing was changed.",
        ]


def test_errors_in_several_files_are_reported_together(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    write(specs / "a.yaml", "defaults: {zone: Zone1}\n")
    write(specs / "b.yaml", "defaults: {zone: Zone2}\nisos:\n  w: {url: 1}\n")
    run = Mwin(NOBODY, tmp_path)("validate", "specs")
    assert run.code == 1 and clean(run.err)
    assert error_lines(run.err) == [
        "specs/b.yaml:1:1: error: `defaults` is set in more than one file",
        "    first set at specs/a.yaml:1:1",
        "specs/b.yaml:3:12: error: iso.w: `url`: Input should be a valid string (got 1)",
        "2 error(s); nothing was changed.",
    ]


def test_unknown_zone_and_os_type_name_file_line_and_what_exists(tmp_path: Path, mwin: Mwin) -> None:
    write(tmp_path / "spec.yaml", """\
version: 1
isos:
  win2022:
    url: https://example.com/win.iso
    zone: Zone7
    os_type: Windows 95
""")
    assert Mwin(NOBODY, tmp_path)("validate", "spec.yaml").code == 0  # only Mold knows
    run = mwin("plan", "spec.yaml")
    assert run.code == 1 and clean(run.err) and run.out == ""
    lines = run.err.splitlines()
    assert lines[0] == ("spec.yaml:5:11: error: iso.win2022: zone 'Zone7' does not exist in Mold "
                        "(did you mean 'Zone1'?)")
    assert lines[1] == "    zones Mold has: 'Zone1'"
    assert lines[2] == ("spec.yaml:6:14: error: iso.win2022: OS type 'Windows 95' does not exist "
                        "in Mold (did you mean 'Windows PV'?)")
    assert lines[3].startswith("    OS types Mold has: 'None', ")
    assert "'Windows PV'" in lines[3] and "'Windows Server 2022 (64-bit)'" in lines[3]
    assert lines[-1] == "2 error(s); nothing was changed."
    assert not mwin.state.exists()


@pytest.mark.parametrize("args, message", [
    (("plan", "--bogus"), "No such option: --bogus"),
    (("apply", "--parallelism", "x"), "Invalid value for '--parallelism'"),
    (("state", "unlock"), "Missing argument"),
])
def test_usage_errors_are_one_message_and_exit_2(tmp_path: Path, args: tuple[str, ...],
                                                 message: str) -> None:
    run = Mwin("http://127.0.0.1:9/client/api", tmp_path, process=True)(*args)  # the CLI contract
    assert run.code == 2 and run.out == ""
    assert message in run.err and "Traceback" not in run.err


def test_iso_urls_mold_would_refuse_are_errors_before_anything_is_sent(tmp_path: Path) -> None:
    write(tmp_path / "spec.yaml", 'version: 1\ndefaults: {zone: Zone1}\nisos:\n'
                                  '  x: {url: "ftp://a/x.iso", bootable: false}\n'
                                  '  y: {url: "not a url", bootable: false}\n'
                                  '  z: {url: "https://example.com/win.qcow2", bootable: false}\n'
                                  '  ok: {url: "https://example.com/virtio-win.iso", bootable: false}\n')
    for command in ("validate", "plan"):
        run = Mwin(NOBODY, tmp_path)(command, "spec.yaml")
        assert run.code == 1 and clean(run.err) and run.out == ""
        assert error_lines(run.err) == [
            "spec.yaml:4:12: error: iso.x: `url`: 'ftp://a/x.iso' is not an http(s) URL: Mold "
            "downloads ISOs over http or https only",
            "spec.yaml:5:12: error: iso.y: `url`: 'not a url' is not an http(s) URL: Mold "
            "downloads ISOs over http or https only",
            "spec.yaml:6:12: error: iso.z: `url`: 'https://example.com/win.qcow2' does not end "
            "in .iso (or .iso.gz, .iso.bz2, .iso.zip, .metalink), which Mold requires of an "
            "ISO's URL",
            "3 error(s); nothing was changed.",
        ], command
