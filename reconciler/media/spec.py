"""The spec's shape of built media: ``isos.<key>.build`` (BuildSpec) and its ``unattend``
(UnattendSpec). A leaf module (it imports only reconciler.model), so that the ISO kind can use
it without importing the spec loader.

Secrets never appear here: the Administrator password and the product key are named by the
environment variable or file that holds them (read at apply, never in a plan or state).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictBool, StrictInt, StrictStr, model_validator

from reconciler.model import SpecModel

__all__ = ["BuildSpec", "UnattendSpec", "FIRMWARES", "FIRST_BOOTS", "is_url"]

FIRMWARES = ("BIOS", "UEFI")
FIRST_BOOTS = ("keypress", "disk_first")
SHA256 = "^[0-9a-fA-F]{64}$"


def is_url(value: str) -> bool:
    return value.lower().startswith(("https://", "http://"))


class UnattendSpec(SpecModel):
    """What Windows Setup is told (Microsoft's unattend schema): the image, the languages,
    the Administrator account, the commands of the first logon, the generalization."""

    image: StrictStr | None = Field(None, description="Image to install by its name in "
                                                      "install.wim (/IMAGE/NAME), e.g. "
                                                      "\"Windows 11 Pro\" (or `index`)")
    index: StrictInt | None = Field(None, ge=1, description="Image to install by its index in "
                                                            "install.wim (/IMAGE/INDEX)")
    locale: StrictStr = Field("en-US", description="UI language, system and user locale, "
                                                   "e.g. ko-KR")
    input_locale: StrictStr | None = Field(None, description="Keyboard layout (default: "
                                                             "`locale`)")
    timezone: StrictStr = Field("UTC", description="Windows time zone name, e.g. \"Korea "
                                                   "Standard Time\"")
    computer_name: StrictStr = Field("*", description="Computer name (\"*\": Windows makes "
                                                      "one up)")
    admin_password_env: StrictStr | None = Field(
        None, description="Environment variable holding the Administrator password (read at "
                          "apply; never in the spec, plan, state or logs)")
    admin_password_file: StrictStr | None = Field(
        None, description="File holding the Administrator password (relative to the spec file)")
    product_key_env: StrictStr | None = Field(None, description="Environment variable holding "
                                                                "the product key (optional)")
    product_key_file: StrictStr | None = Field(None, description="File holding the product key "
                                                                 "(optional)")
    first_logon: list[StrictStr] = Field(
        default_factory=list, description="Commands run at the first logon, after the VirtIO "
                                          "installers and before the answer file is deleted")
    generalize: StrictBool = Field(True, description="End with `sysprep /generalize /oobe "
                                                     "/shutdown` (false: only shut down)")

    @model_validator(mode="after")
    def _one_of_each(self) -> UnattendSpec:
        if (self.image is None) == (self.index is None):
            raise ValueError("declare exactly one of `image` (its name) or `index`")
        if (self.admin_password_env is None) == (self.admin_password_file is None):
            raise ValueError("declare exactly one of `admin_password_env` or "
                             "`admin_password_file`")
        if self.product_key_env is not None and self.product_key_file is not None:
            raise ValueError("declare at most one of `product_key_env` or `product_key_file`")
        return self


class BuildSpec(SpecModel):
    """``isos.<key>.build``: a Windows installer remastered for an unattended install."""

    from_: StrictStr = Field(alias="from", description="The Windows ISO: a local path "
                                                        "(relative to the spec file) or an "
                                                        "https URL (downloaded at apply)")
    sha256: StrictStr | None = Field(None, pattern=SHA256,
                                     description="sha256 of `from` (required for a URL; for a "
                                                 "path it lets a plan run without the file)")
    windows: StrictStr | None = Field(None, description="virtio-win folder of the Windows "
                                                        "version: w10, w11, 2k16, 2k19, 2k22, "
                                                        "2k25 (default: read from install.wim)")
    drivers: StrictStr = Field(description="The virtio-win ISO: a local path, an https URL, "
                                           "or the key of an ISO of this spec with `file:` or "
                                           "`url:`")
    drivers_sha256: StrictStr | None = Field(
        None, pattern=SHA256, description="sha256 of `drivers` (required for a URL, unless "
                                          "the ISO it names has a sha256 `checksum`)")
    unattend: UnattendSpec = Field(description="The answer file's settings")
    firmware: Literal["BIOS", "UEFI"] | None = Field(
        None, description="Disk layout for BIOS (MBR) or UEFI (GPT) (default: the boot type of "
                          "the VMs installed from it)")
    first_boot: Literal["keypress", "disk_first"] = Field(
        "keypress", description="UEFI first boot: press a key at \"Press any key to boot from "
                                "CD\" through the console (any Mold with a console proxy), or "
                                "the no-prompt image with the disk first in the boot order "
                                "(the VM detail bootOrder=hd; docs/unattended.md)")
    keep: StrictBool = Field(False, description="Keep the media after the template made from "
                                                "its VM is ready (it holds the password)")
