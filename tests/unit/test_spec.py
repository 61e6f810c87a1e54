"""Loading the spec: models, file:line for every problem, merging a directory of files."""

from __future__ import annotations

from pathlib import Path

from reconciler.diagnostics import SourcePos
from reconciler.model import Address
from reconciler.spec import json_schema, load_spec
from tests.helpers.checks import write


def problems(path: Path) -> list[str]:
    doc, diags = load_spec(path)
    assert doc is None
    return str(diags).replace(f"{path.parent if path.is_file() else path}/", "").splitlines()


def test_valid_file_gives_declared_resources_with_positions(tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", """\
version: 1
defaults: {zone: Zone1}
isos:
  win2022:
    url: https://example.com/win.iso
    os_type: Windows PV
    display_text: 윈도우 서버 2022
""")
    doc, diags = load_spec(spec)
    assert doc is not None and not diags.items
    assert doc.defaults.zone == "Zone1" and doc.defaults.hypervisor == "KVM"
    decl = doc.resources[Address("iso", "win2022")]
    assert decl.spec.url == "https://example.com/win.iso"
    assert decl.spec.bootable is True and decl.spec.public is False
    assert decl.pos == SourcePos(str(spec), 4, 3)
    assert decl.at("os_type") == SourcePos(str(spec), 6, 14)
    assert decl.at("zone") == decl.pos  # not written: the entry's own position
    assert doc.files == [str(spec)]
    assert len(doc.digest) == 64


def test_digest_depends_on_content_not_on_file_name_or_layout(tmp_path: Path) -> None:
    one = write(tmp_path / "one.yaml", "isos:\n  w: {url: http://a/a.iso, os_type: x, zone: z}\n")
    two = write(tmp_path / "two.yaml", "isos:\n  w:\n    zone: z\n    os_type: x\n    url: http://a/a.iso\n")
    three = write(tmp_path / "three.yaml", "isos:\n  w: {url: http://b/b.iso, os_type: x, zone: z}\n")
    digests = [load_spec(p)[0].digest for p in (one, two, three)]  # type: ignore[union-attr]
    assert digests[0] == digests[1] != digests[2]


def test_broken_entry_reports_every_problem_with_file_line(tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", """\
version: 1
isos:
  win:
    url: 5
    os_tpe: Windows PV
    bootable: "yes"
  virtio:
    display_text: x
""")
    lines = problems(spec)
    assert lines[0] == "spec.yaml:4:10: error: iso.win: `url`: Input should be a valid string (got 5)"
    assert lines[1] == ("spec.yaml:5:5: error: iso.win: unknown key 'os_tpe' (did you mean "
                        "'os_type'?)")
    assert lines[2].startswith("    allowed here: ") and "os_type, bootable, public" in lines[2]
    assert lines[3:] == [
        'spec.yaml:6:15: error: iso.win: `bootable`: Input should be a valid boolean (got "yes")',
        "spec.yaml:7:3: error: iso.virtio: declare exactly one source: `url` (Mold downloads "
        "it), `file` (mwin uploads it) or `build` (mwin builds unattended media and uploads "
        "them)",
        "spec.yaml:7:3: error: iso.virtio: no zone: set `zone:` here or `defaults.zone`",
        "spec.yaml:7:3: error: iso.virtio: a bootable ISO needs `os_type` (e.g. \"Windows PV\")",
    ]


def test_unknown_top_level_key_and_unsupported_version(tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", "version: 2\ndefults: {zone: Zone1}\n")
    assert problems(spec) == [
        "spec.yaml:1:10: error: unsupported spec version 2 (this mwin reads version 1)",
        "spec.yaml:2:1: error: unknown top-level key 'defults' (did you mean 'defaults'?)",
        "    allowed: version, defaults, isos, networks, vms, templates",
    ]


def test_unknown_key_without_a_close_match_has_no_suggestion(tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", "isos:\n  w:\n    url: http://a/a.iso\n    colour: red\n")
    assert problems(spec)[0] == "spec.yaml:4:5: error: iso.w: unknown key 'colour'"


def test_section_and_file_shapes(tmp_path: Path) -> None:
    as_list = write(tmp_path / "list.yaml", "- isos\n")
    assert problems(as_list) == [
        "list.yaml:1:1: error: a spec file must be a mapping with keys like `isos:` and `vms:`"]
    section = write(tmp_path / "section.yaml", "isos: [a, b]\n")
    assert problems(section) == ["section.yaml:1:7: error: `isos` must be a mapping of names to entries"]
    empty_entry = write(tmp_path / "entry.yaml", "defaults: {zone: z}\nisos:\n  w: {bootable: false}\n")
    assert problems(empty_entry) == [
        "entry.yaml:3:3: error: iso.w: declare exactly one source: `url` (Mold downloads it), "
        "`file` (mwin uploads it) or `build` (mwin builds unattended media and uploads them)"]


def test_yaml_errors_of_one_file_and_model_errors_of_another_are_reported_together(
        tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "isos:\n  w:\n\turl: x\n")
    write(tmp_path / "b.yaml", "isos:\n  v: {url: 1}\n")
    lines = problems(tmp_path)
    assert lines[0].startswith("a.yaml:3:1: error: YAML syntax error:")
    assert lines[-1] == "b.yaml:2:12: error: iso.v: `url`: Input should be a valid string (got 1)"


def test_directory_merges_files_in_name_order(tmp_path: Path) -> None:
    write(tmp_path / "10-defaults.yaml", "version: 1\ndefaults: {zone: Zone1}\n")
    write(tmp_path / "20-isos.yaml", "isos:\n  win: {url: http://a/a.iso, os_type: Windows PV}\n")
    write(tmp_path / "30-more.yml", "isos:\n  virtio: {url: http://b/b.iso, bootable: false}\n")
    write(tmp_path / "empty.yaml", "")
    write(tmp_path / "notes.txt", "not: [a spec")
    doc, diags = load_spec(tmp_path)
    assert doc is not None, str(diags)
    assert doc.defaults.zone == "Zone1"
    assert sorted(str(a) for a in doc.resources) == ["iso.virtio", "iso.win"]
    assert doc.resources[Address("iso", "virtio")].pos == SourcePos(
        str(tmp_path / "30-more.yml"), 2, 3)


def test_duplicate_address_across_files_names_both_positions(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "defaults: {zone: z}\nisos:\n  win: {url: http://a/a.iso, os_type: x}\n")
    write(tmp_path / "b.yaml", "isos:\n  other: {url: http://c/c.iso, bootable: false}\n"
                               "  win: {url: http://b/b.iso}\n")
    assert problems(tmp_path) == [
        "b.yaml:3:3: error: iso.win is declared twice",
        "    first declared at a.yaml:3:3",
    ]


def test_duplicate_address_is_reported_even_when_the_first_entry_is_invalid(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "isos:\n  win: {url: 5}\n")
    write(tmp_path / "b.yaml", "isos:\n  win: {url: http://b/b.iso}\n")
    lines = problems(tmp_path)
    assert "b.yaml:2:3: error: iso.win is declared twice" in lines


def test_defaults_in_two_files(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "defaults: {zone: Zone1}\n")
    write(tmp_path / "b.yaml", "defaults:\n  zone: Zone2\n")
    assert problems(tmp_path) == [
        "b.yaml:1:1: error: `defaults` is set in more than one file",
        "    first set at a.yaml:1:1",
    ]


def test_bad_defaults_are_reported_at_their_key(tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", "defaults:\n  zone: 3\n  hypervsor: KVM\n")
    assert problems(spec) == [
        "spec.yaml:2:9: error: `zone`: Input should be a valid string (got 3)",
        "spec.yaml:3:3: error: unknown key 'hypervsor' (did you mean 'hypervisor'?)",
        "    allowed here: zone, hypervisor, project",
    ]


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    doc, diags = load_spec(tmp_path / "nope.yaml")
    assert doc is None and [d.summary for d in diags] == [f"spec {tmp_path}/nope.yaml does not exist"]
    doc, diags = load_spec(tmp_path)
    assert doc is None and [d.summary for d in diags] == [f"no *.yaml files in directory {tmp_path}"]


def test_json_schema_describes_iso_entries() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    isos = schema["properties"]["isos"]["anyOf"][0]["additionalProperties"]["$ref"]
    iso = schema["$defs"][isos.rsplit("/", 1)[1]]
    assert iso["oneOf"] == [{"required": ["url"]}, {"required": ["file"]}, {"required": ["build"]}]
    assert iso["additionalProperties"] is False
    assert {"name", "display_text", "url", "zone", "os_type", "bootable", "public", "featured",
            "extractable", "checksum"} <= set(iso["properties"])
    assert iso["properties"]["bootable"] == {
        "default": True, "title": "Bootable", "type": "boolean",
        "description": "Can a VM boot from it (the installer: yes; drivers: no)"}


def test_one_mistake_is_one_error_not_a_dangling_reference_too(tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", """\
version: 1
defaults: {zone: Zone1}
isos:
  win2019: {url: "https://example.com/w.iso", os_type: Windows PV, dispaly_text: typo}
networks:
  net: {}
vms:
  m:
    install_iso: win2019
    compute_offering: c
    disk_offering: d
    networks: [net]
""")
    assert problems(spec) == [
        "spec.yaml:4:68: error: iso.win2019: unknown key 'dispaly_text' (did you mean "
        "'display_text'?)",
        "    allowed here: lifecycle, project, name, display_text, url, file, sha256, zone, "
        "os_type, bootable, "
        "public, featured, extractable, checksum, build"]


def test_a_vm_from_a_template_must_be_in_one_of_its_zones(tmp_path: Path) -> None:
    body = """\
version: 1
defaults: {zone: Zone1}
isos:
  win: {url: "https://example.com/w.iso", os_type: Windows PV}
networks:
  net: {}
  far-net: {zone: Zone3}
vms:
  master: {install_iso: win, compute_offering: c, disk_offering: d, networks: [net],
           state: stopped, cdrom: null}
  clone:
    template: base
    compute_offering: c
    networks: [far-net]
    zone: Zone3
templates:
  base: {from_vm: master, os_type: Windows PV%s}
"""
    spec = write(tmp_path / "spec.yaml", body % "")
    assert problems(spec) == [
        "spec.yaml:12:15: error: vm.clone: template.base is in zone(s) Zone1, not in Zone3, "
        "where this VM is: add Zone3 to the template's `zones` (or `zones: all`)",
        "    template.base is declared at spec.yaml:17:3"]
    by_id = body.replace("zone: Zone3\n", "zone: 3f2a8c1e-0b7d-4c55-9a51-2d7f0e9c1a11\n")
    doc, diags = load_spec(write(tmp_path / "spec.yaml", by_id % ""))  # only Mold knows its name
    assert doc is not None and not diags.errors, str(diags)
    for zones in (", zones: [Zone2, zone3]", ", zones: all"):
        doc, diags = load_spec(write(tmp_path / "spec.yaml", body % zones))
        assert doc is not None and not diags.errors, str(diags)
