"""The answer file (autounattend.xml) Windows Setup reads from the root of the media, written
to Microsoft's unattend schema (namespace urn:schemas-microsoft-com:unattend; every component
for amd64, publicKeyToken 31bf3856ad364e35, language neutral, versionScope nonSxS).

Passes: windowsPE (languages, the disk layout of the firmware: MBR for BIOS, GPT with EFI, MSR
and Windows partitions for UEFI; the image by name or index; the EULA; the product key when
given; the driver paths of ``$WinPEDriver$``), specialize (computer name, time zone),
oobeSystem (languages, OOBE pages hidden, the Administrator password, one automatic logon, the
first-logon commands: the VirtIO installers, the operator's commands, deleting the copies
Windows keeps of the answer file, then sysprep or a shutdown).

Passwords are written the way Windows System Image Manager hides them (PlainText false: the
base64 of UTF-16LE password + "AdministratorPassword" or + "Password"), so the literal never
appears in the media's bytes; ``mask`` blanks them (and the product key) for display.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

__all__ = ["AnswerFile", "render", "mask", "TOOLS_DIR", "DRIVER_DIR", "GUEST_AGENT_MSI",
           "GUEST_TOOLS_EXE", "PANTHER_COPIES"]

DRIVER_DIR = "$WinPEDriver$"  # Setup loads drivers from this folder of any media by itself
TOOLS_DIR = "mwin"  # the first-logon installers on the media
GUEST_AGENT_MSI = "virtio-win-gt-x64.msi"
GUEST_TOOLS_EXE = "virtio-win-guest-tools.exe"
CD_LETTERS = "D E F G H I J K L M N O P Q R S T U V W Y Z"  # X: is WinPE's own
# Where Windows keeps the answer file it ran with (it holds the password).
PANTHER_COPIES = (r"%WINDIR%\Panther\unattend.xml", r"%WINDIR%\Panther\autounattend.xml",
                  r"%WINDIR%\Panther\Unattend\unattend.xml",
                  r"%WINDIR%\Panther\Unattend\autounattend.xml",
                  r"%WINDIR%\System32\Sysprep\unattend.xml")
COMPONENT = ('processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" '
             'language="neutral" versionScope="nonSxS"')


@dataclass(frozen=True)
class AnswerFile:
    """Everything the answer file says; ``password`` and ``product_key`` are secrets."""

    firmware: str  # "BIOS" or "UEFI"
    image_name: str | None
    image_index: int | None
    locale: str
    input_locale: str
    timezone: str
    computer_name: str
    password: str
    product_key: str | None = None
    first_logon: list[str] = field(default_factory=list)
    generalize: bool = True


def _hidden(secret: str, suffix: str) -> str:
    return base64.b64encode((secret + suffix).encode("utf-16-le")).decode("ascii")


def _component(name: str, body: list[str]) -> list[str]:
    return [f'    <component name="{name}" {COMPONENT}>', *[f"      {line}" for line in body],
            "    </component>"]


def _languages(answer: AnswerFile, setup_ui: bool) -> list[str]:
    lines = ([f"<SetupUILanguage><UILanguage>{escape(answer.locale)}</UILanguage>"
              "</SetupUILanguage>"] if setup_ui else [])
    return [*lines, f"<InputLocale>{escape(answer.input_locale)}</InputLocale>",
            f"<SystemLocale>{escape(answer.locale)}</SystemLocale>",
            f"<UILanguage>{escape(answer.locale)}</UILanguage>",
            f"<UserLocale>{escape(answer.locale)}</UserLocale>"]


def _partitions(firmware: str) -> tuple[list[str], list[str], int]:
    """CreatePartitions, ModifyPartitions and the Windows partition's number."""
    if firmware == "UEFI":
        create = [(1, "EFI", "<Size>260</Size>"), (2, "MSR", "<Size>16</Size>"),
                  (3, "Primary", "<Extend>true</Extend>")]
        modify = [(1, "<Format>FAT32</Format><Label>System</Label>"),  # the MSR stays as is
                  (3, "<Format>NTFS</Format><Label>Windows</Label><Letter>C</Letter>")]
        target = 3
    else:
        create = [(1, "Primary", "<Size>500</Size>"), (2, "Primary", "<Extend>true</Extend>")]
        modify = [(1, "<Format>NTFS</Format><Label>System Reserved</Label>"
                      "<Active>true</Active>"),
                  (2, "<Format>NTFS</Format><Label>Windows</Label><Letter>C</Letter>")]
        target = 2
    created = [f'<CreatePartition wcm:action="add"><Order>{n}</Order><Type>{kind}</Type>'
               f"{size}</CreatePartition>" for n, kind, size in create]
    modified = [f'<ModifyPartition wcm:action="add"><Order>{order}</Order>'
                f"<PartitionID>{n}</PartitionID>{extra}</ModifyPartition>"
                for order, (n, extra) in enumerate(modify, start=1)]
    return created, modified, target


def _setup(answer: AnswerFile) -> list[str]:
    created, modified, target = _partitions(answer.firmware)
    key, value = (("/IMAGE/NAME", escape(answer.image_name)) if answer.image_name is not None
                  else ("/IMAGE/INDEX", str(answer.image_index)))
    user = ["<UserData>", "  <AcceptEula>true</AcceptEula>"]
    if answer.product_key:
        user += [f"  <ProductKey><Key>{escape(answer.product_key)}</Key>"
                 "<WillShowUI>OnError</WillShowUI></ProductKey>"]
    return ["<DiskConfiguration>", '  <Disk wcm:action="add">', "    <DiskID>0</DiskID>",
            "    <WillWipeDisk>true</WillWipeDisk>", "    <CreatePartitions>",
            *[f"      {c}" for c in created], "    </CreatePartitions>",
            "    <ModifyPartitions>", *[f"      {m}" for m in modified],
            "    </ModifyPartitions>", "  </Disk>", "</DiskConfiguration>",
            "<ImageInstall>", "  <OSImage>", "    <InstallFrom>",
            f'      <MetaData wcm:action="add"><Key>{key}</Key><Value>{value}</Value></MetaData>',
            "    </InstallFrom>",
            f"    <InstallTo><DiskID>0</DiskID><PartitionID>{target}</PartitionID></InstallTo>",
            "  </OSImage>", "</ImageInstall>", *user, "</UserData>"]


def _driver_paths() -> list[str]:
    """The media's driver folder on the drive letters WinPE gives a CD (missing ones are
    skipped); Setup also finds ``$WinPEDriver$`` by itself."""
    lines = ["<DriverPaths>"]
    for n, letter in enumerate(("D", "E", "F"), start=1):
        lines.append(f'  <PathAndCredentials wcm:action="add" wcm:keyValue="{n}">'
                     f"<Path>{letter}:\\{DRIVER_DIR}</Path></PathAndCredentials>")
    return [*lines, "</DriverPaths>"]


def _on_media(tool: str, command: str) -> str:
    """A command that runs ``tool`` from whichever drive holds the media."""
    path = "%d:\\" + TOOLS_DIR + "\\" + tool
    return f'cmd /c "for %d in ({CD_LETTERS}) do @if exist {path} {command.replace("@", path)}"'


def first_logon_commands(answer: AnswerFile) -> list[tuple[str, str]]:
    """(description, command line), in order: the VirtIO installers, the operator's
    commands, deleting the answer-file copies, then sysprep (or a shutdown)."""
    commands = [("VirtIO guest drivers and agent",
                 _on_media(GUEST_AGENT_MSI, "msiexec /i @ /qn /norestart")),
                ("VirtIO guest tools", _on_media(GUEST_TOOLS_EXE, "@ /install /quiet /norestart"))]
    commands += [(f"operator command {n}", line)
                 for n, line in enumerate(answer.first_logon, start=1)]
    commands.append(("delete the copies of the answer file (they hold the password)",
                     "cmd /c del /f /q " + " ".join(PANTHER_COPIES)))
    commands.append(("generalize and power off", r"%WINDIR%\System32\Sysprep\sysprep.exe "
                                                 "/generalize /oobe /shutdown")
                    if answer.generalize else ("power off", "shutdown /s /t 0"))
    return commands


def _oobe(answer: AnswerFile) -> list[str]:
    hidden = ["HideEULAPage", "HideOEMRegistrationScreen", "HideOnlineAccountScreens",
              "HideWirelessSetupInOOBE", "HideLocalAccountScreen"]
    commands = []
    for order, (description, line) in enumerate(first_logon_commands(answer), start=1):
        commands += ['  <SynchronousCommand wcm:action="add">', f"    <Order>{order}</Order>",
                     f"    <CommandLine>{escape(line)}</CommandLine>",
                     f"    <Description>{escape(description)}</Description>",
                     "  </SynchronousCommand>"]
    return ["<OOBE>", *[f"  <{h}>true</{h}>" for h in hidden], "  <ProtectYourPC>3</ProtectYourPC>",
            "</OOBE>", "<UserAccounts>", "  <AdministratorPassword>",
            f"    <Value>{_hidden(answer.password, 'AdministratorPassword')}</Value>",
            "    <PlainText>false</PlainText>", "  </AdministratorPassword>", "</UserAccounts>",
            "<AutoLogon>", "  <Enabled>true</Enabled>", "  <LogonCount>1</LogonCount>",
            "  <Username>Administrator</Username>", "  <Password>",
            f"    <Value>{_hidden(answer.password, 'Password')}</Value>",
            "    <PlainText>false</PlainText>", "  </Password>", "</AutoLogon>",
            "<FirstLogonCommands>", *commands, "</FirstLogonCommands>",
            f"<TimeZone>{escape(answer.timezone)}</TimeZone>"]


def render(answer: AnswerFile) -> str:
    """The answer file's text (UTF-8, CRLF-free, the same for the same settings)."""
    lines = ['<?xml version="1.0" encoding="utf-8"?>',
             '<unattend xmlns="urn:schemas-microsoft-com:unattend" '
             'xmlns:wcm="http://schemas.microsoft.com/WMIConfig/2002/State">',
             '  <settings pass="windowsPE">',
             *_component("Microsoft-Windows-International-Core-WinPE", _languages(answer, True)),
             *_component("Microsoft-Windows-PnpCustomizationsWinPE", _driver_paths()),
             *_component("Microsoft-Windows-Setup", _setup(answer)),
             "  </settings>", '  <settings pass="specialize">',
             *_component("Microsoft-Windows-Shell-Setup",
                         [f"<ComputerName>{escape(answer.computer_name)}</ComputerName>",
                          f"<TimeZone>{escape(answer.timezone)}</TimeZone>"]),
             "  </settings>", '  <settings pass="oobeSystem">',
             *_component("Microsoft-Windows-International-Core", _languages(answer, False)),
             *_component("Microsoft-Windows-Shell-Setup", _oobe(answer)),
             "  </settings>", "</unattend>", ""]
    return "\n".join(lines)


_SECRET_VALUES = re.compile(r"(<(AdministratorPassword|Password)>\s*<Value>)[^<]*(</Value>)")
_KEYS = re.compile(r"(<ProductKey>\s*<Key>)[^<]*(</Key>)")


def mask(text: str) -> str:
    """The answer file with every password value and the product key blanked."""
    text = _SECRET_VALUES.sub(lambda m: f"{m.group(1)}********{m.group(3)}", text)
    return _KEYS.sub(lambda m: f"{m.group(1)}*****-*****-*****-*****-*****{m.group(2)}", text)
