"""`build:` in the spec: every problem found by `mwin validate`, each at its file:line."""

from __future__ import annotations

from pathlib import Path

from reconciler.spec import load_spec
from tests.unit.media.conftest import Kit

HEAD = """version: 1
defaults: {zone: Zone1}
"""


def problems(path: Path) -> list[str]:
    doc, diags = load_spec(path)
    return [d.render().split("\n")[0].replace(str(path.parent) + "/", "") for d in diags]


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(HEAD + body, encoding="utf-8")
    return path


VM = """vms:
  w11:
    install_iso: auto
    compute_offering: c
    disk_offering: d
    networks: [{name: n}]
    boot: {type: UEFI, mode: SECURE, tpm: "2.0"}
    state: stopped
"""


def test_a_valid_build(kit: Kit, tmp_path: Path) -> None:
    path = write(tmp_path, f"""isos:
  auto:
    os_type: Windows 11 (64-bit)
    build:
      from: {kit.windows}
      drivers: {kit.virtio}
      unattend: {{image: Windows 11 Pro, admin_password_env: PW}}
{VM}    cdrom: null
""")
    assert problems(path) == []


def test_every_problem_at_its_line(kit: Kit, tmp_path: Path) -> None:
    path = write(tmp_path, f"""isos:
  auto:
    os_type: Windows 11 (64-bit)
    public: true
    build:
      from: http://example.org/win11.iso
      drivers: ./missing-virtio.iso
      firmware: BIOS
      unattend: {{image: Windows 11 Pro, admin_password_env: PW}}
  drv: {{url: https://example.org/virtio.iso, bootable: false}}
  other:
    os_type: Windows 11 (64-bit)
    build:
      from: {kit.windows}
      drivers: drv
      unattend: {{image: Windows 11 Pro, admin_password_env: PW}}
{VM}""")
    assert problems(path) == [
        "spec.yaml:6:13: error: iso.auto: built media carry the Administrator password: "
        "`public` must stay false",
        "spec.yaml:8:13: error: iso.auto: `build.from`: http://example.org/win11.iso is not "
        "https (a download must be private and whole)",
        "spec.yaml:8:13: error: iso.auto: `build.from` is a URL: declare `build.sha256` (the "
        "download is checked against it)",
        "spec.yaml:9:16: error: iso.auto: `build.drivers`: missing-virtio.iso does not exist "
        "(declare `build.drivers_sha256` beside it to plan without the file)",
        "spec.yaml:17:16: error: iso.other: `build.drivers` names iso.drv, whose bytes mwin "
        "downloads from its `url:`: declare `build.drivers_sha256`, or a sha256 `checksum` "
        "({SHA-256}<hex>) on iso.drv",
        "spec.yaml:20:3: error: vm.w11: the drive must be emptied after the install: iso.auto "
        "is deleted once its template is made (its answer file holds the Administrator "
        "password)",
        "spec.yaml:25:18: error: vm.w11: boot type UEFI, but iso.auto is built for BIOS "
        "(`build.firmware`): its disk layout would not boot",
    ]


def test_the_answer_settings_need_one_image_and_one_password(tmp_path: Path) -> None:
    path = write(tmp_path, """isos:
  auto:
    os_type: Windows 11 (64-bit)
    build:
      from: https://example.org/w.iso
      sha256: "0000000000000000000000000000000000000000000000000000000000000000"
      drivers: https://example.org/v.iso
      drivers_sha256: "1111111111111111111111111111111111111111111111111111111111111111"
      unattend: {image: Windows 11 Pro, index: 2, admin_password_env: PW,
                 admin_password_file: pw.txt}
""")
    found = problems(path)
    assert len(found) == 1 and found[0].startswith("spec.yaml:") and \
        "declare exactly one of `image` (its name) or `index`" in found[0]


def test_two_sources_are_one_too_many(kit: Kit, tmp_path: Path) -> None:
    path = write(tmp_path, f"""isos:
  auto:
    os_type: Windows 11 (64-bit)
    url: https://example.org/w.iso
    build:
      from: {kit.windows}
      drivers: {kit.virtio}
      unattend: {{image: Windows 11 Pro, admin_password_env: PW}}
""")
    assert problems(path) == [
        "spec.yaml:4:3: error: iso.auto: declare exactly one source: `url` (Mold downloads "
        "it), `file` (mwin uploads it) or `build` (mwin builds unattended media and uploads "
        "them)"]
