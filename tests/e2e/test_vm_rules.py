"""Each VM/template validation rule: its message and the file:line it points at."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.cli import Mwin

HEAD = """\
version: 1
defaults: {zone: Zone1}
isos:
  win11: {url: https://example.com/win11.iso, os_type: Windows 11 (64-bit)}
  win2022: {url: https://example.com/ws2022.iso, os_type: Windows PV}
networks:
  prep-net: {}
"""

SPEC_ERRORS = HEAD + """\
vms:
  both-sources:
    install_iso: win2022
    template: base
    compute_offering: 4vCore-8GB
    disk_offering: 50GB
    networks: [prep-net]
  secure-bios:
    install_iso: win2022
    compute_offering: 4vCore-8GB
    disk_offering: 50GB
    networks: [prep-net]
    boot: {type: BIOS, mode: SECURE}
  win11-legacy:
    install_iso: win11
    compute_offering: 4vCore-8GB
    disk_offering: 100GB
    networks: [prep-net]
    boot: {type: UEFI, mode: SECURE}
  with-key:
    install_iso: win2022
    compute_offering: 4vCore-8GB
    disk_offering: 50GB
    networks: [prep-net]
    ssh_key_pair: admin-key
  dangling:
    install_iso: win2025
    cdrom: prep-net
    compute_offering: 4vCore-8GB
    disk_offering: 50GB
    networks: [prep-net]
templates:
  base: {from_vm: both-sources, os_type: Windows PV}
"""


def lines_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if ": error: " in line]


def test_spec_rules_all_reported_with_file_and_line(mwin: Mwin, tmp_path: Path) -> None:
    spec = tmp_path / "rules.yaml"
    spec.write_text(SPEC_ERRORS)
    run = mwin("validate", str(spec))
    assert run.code == 1
    assert "Traceback" not in run.err
    errors = lines_of(run.err)
    f = str(spec)
    expected = [
        f"{f}:9:3: error: vm.both-sources: declare exactly one deploy source: `install_iso` or `template`",
        f"{f}:40:3: error: template.base: reference cycle: template.base → vm.both-sources → template.base",
        f"{f}:40:19: error: template.base: the template must be made from vm.both-sources, which is declared `state: running`; a template needs a stopped VM",
        f"{f}:20:30: error: vm.secure-bios: boot mode SECURE needs boot type UEFI (BIOS always boots LEGACY)",
        f"{f}:26:11: error: vm.win11-legacy: Windows 11 (OS type 'Windows 11 (64-bit)') needs boot {{type: UEFI, mode: SECURE, tpm: \"2.0\"}}; this VM has type UEFI, mode SECURE, tpm none",
        f"{f}:32:19: error: vm.with-key: SSH key pairs do not apply to Windows VMs; remove `ssh_key_pair`",
        f"{f}:34:18: error: vm.dangling: `install_iso` refers to iso.win2025, which the spec does not declare",
        f"{f}:35:12: error: vm.dangling: `cdrom` refers to iso.prep-net, which the spec does not declare",
        f"{f}:35:12: error: vm.dangling: `cdrom` must name an ISO; 'prep-net' is a network",
    ]
    assert sorted(errors) == sorted(expected)
    planned = mwin("plan", str(spec))
    assert planned.code == 1 and sorted(lines_of(planned.err)) == sorted(expected)


def test_plan_time_rules_name_file_and_line(mwin: Mwin, tmp_path: Path) -> None:
    spec = tmp_path / "plan.yaml"
    spec.write_text(HEAD + """\
vms:
  small-win11:
    install_iso: win11
    compute_offering: 4vCore-8GB
    disk_offering: 50GB
    networks: [prep-net]
    boot: {type: UEFI, mode: SECURE, tpm: "2.0"}
    state: stopped
  busy:
    install_iso: win2022
    compute_offering: 4vCore-8GB
    disk_offering: 50GB
    networks: [prep-net]
    state: running
templates:
  from-busy: {from_vm: busy, os_type: Windows PV}
""")
    f = str(spec)
    validated = mwin("validate", str(spec))  # every rule that needs no Mold
    assert validated.code == 1 and lines_of(validated.err) == [
        f"{f}:23:24: error: template.from-busy: the template must be made from vm.busy, which is declared `state: running`; a template needs a stopped VM"]
    assert f"vm.busy is declared at {f}:21:12" in validated.err
    spec.write_text(spec.read_text().replace("state: running", "state: stopped"))
    assert mwin("validate", str(spec)).code == 0
    run = mwin("plan", str(spec))  # the offering's size is Mold's data
    assert run.code == 1 and "Traceback" not in run.err
    assert lines_of(run.err) == [
        f"{f}:12:20: error: vm.small-win11: Windows 11 needs a root disk of at least 100 GB; disk offering '50GB' gives 50 GB"]


def test_a_windows_11_vm_from_a_template_of_the_spec_takes_its_sources_boot(
        mwin: Mwin, tmp_path: Path) -> None:
    """Without `boot:`, a VM deployed from a template gets the template's details, which
    createTemplate copied from the source VM: the Windows 11 rule judges those."""
    spec = tmp_path / "spec.yaml"
    source = """\
vms:
  master:
    install_iso: win11
    compute_offering: 4vCore-8GB
    disk_offering: 100GB
    networks: [prep-net]
    state: stopped
    cdrom: null
    boot: {BOOT}
  clone:
    template: base
    compute_offering: 4vCore-8GB
    networks: [prep-net]
templates:
  base: {from_vm: master, os_type: Windows 11 (64-bit)}
"""
    spec.write_text(HEAD + source.replace("{BOOT}", '{type: UEFI, mode: SECURE, tpm: "2.0"}'))
    assert mwin("validate", str(spec)).code == 0
    spec.write_text(HEAD + source.replace("{BOOT}", "{type: UEFI, mode: SECURE}"))
    errors = lines_of(mwin("validate", str(spec)).err)
    assert [e.split(": error: ")[1].split(":")[0] for e in errors] == ["vm.master", "vm.clone"]
