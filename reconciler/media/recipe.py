"""The recipe of one built medium: everything the builder needs, resolved from the spec (paths
absolute, URLs with their sha256), and nothing secret (the password and product key are named
by their variable or file). A plan carries it in the ISO's create action; `mwin media build`
makes it from the spec the same way.

The media's identity (``Recipe.identity``) is the sha256 of the builder's version, the inputs'
sha256 and the answer file's settings, minus the secrets and minus where the inputs lie: the
same inputs on another machine (or downloaded instead of copied) are the same media; a new
password alone is not a new medium (``--replace`` builds one).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["BUILDER_VERSION", "Source", "SecretRef", "Recipe"]

BUILDER_VERSION = "mwin-media-1"  # raise when the same inputs would give other media


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Frozen):
    """An input ISO: a local file or a URL, and its sha256 (None: a local file whose digest
    is computed when needed)."""

    path: str | None = None
    url: str | None = None
    sha256: str | None = None

    @property
    def shown(self) -> str:
        where = self.path or self.url or "?"
        return where.rsplit("/", 1)[-1]


class SecretRef(_Frozen):
    env: str | None = None
    file: str | None = None

    @property
    def shown(self) -> str:
        return f"${self.env}" if self.env else f"file {self.file}"


class Recipe(_Frozen):
    windows_iso: Source
    drivers_iso: Source
    windows: str | None = None  # virtio-win folder as declared (None: read from install.wim)
    firmware: str = "UEFI"
    first_boot: str = "keypress"
    image: str | None = None
    index: int | None = None
    locale: str = "en-US"
    input_locale: str | None = None
    timezone: str = "UTC"
    computer_name: str = "*"
    first_logon: tuple[str, ...] = ()
    generalize: bool = True
    admin_password: SecretRef
    product_key: SecretRef | None = None

    def identity(self) -> str:
        """The media's digest; the inputs' sha256 must be known."""
        if not (self.windows_iso.sha256 and self.drivers_iso.sha256):
            raise ValueError("the inputs' sha256 are not known yet")
        settings: dict[str, Any] = self.model_dump(
            exclude={"windows_iso", "drivers_iso", "admin_password", "product_key"})
        body = {"builder": BUILDER_VERSION, "windows_iso": self.windows_iso.sha256.lower(),
                "drivers_iso": self.drivers_iso.sha256.lower(),
                "product_key": self.product_key is not None, **settings}
        text = json.dumps(body, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def image_shown(self) -> str:
        return repr(self.image) if self.image is not None else f"index {self.index}"
