"""Run-time settings of one moldsim (flags of `moldsim serve`, arguments of `MoldSim`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from moldsim import profiles

DEFAULT_API_KEY = "moldsim-admin-key"
DEFAULT_SECRET_KEY = "moldsim-admin-secret"

# Settings that POST /moldsim/config may change while running (numbers of seconds), and the
# one that is not a number (`api_limit`: "N/S" or null).
RUNTIME_KEYS = ("job_seconds", "download_seconds", "guest_poweroff_detect_seconds", "install_seconds",
                "boot_prompt_seconds")
_LIMIT_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d*)?|\.\d+)\s*$")


def parse_api_limit(text: str | None) -> tuple[int, float] | None:
    """`N/S` → (N requests, S seconds); None/"" → no throttling. ValueError when malformed."""
    if text is None or str(text).strip() in ("", "off", "none"):
        return None
    m = _LIMIT_RE.match(str(text))
    if not m or float(m.group(2)) <= 0:
        raise ValueError(f"api limit must be N/S (requests per seconds, e.g. 25/1), not {text!r}")
    return int(m.group(1)), float(m.group(2))


@dataclass
class SimConfig:
    """Settings; times are seconds (floats allowed).

    job_seconds: how long every async job takes (0 = done by the next poll).
    download_seconds: how long an ISO/template download takes; None = job_seconds.
    guest_poweroff_detect_seconds: after a guest powers itself off (control endpoint), how
      long the VM still shows Running before Mold notices and reports Stopped.
    max_page_size: Mold's `default.page.size`.
    profile: the emulated release (moldsim.profiles).
    api_limit: (max requests, interval seconds) per account, as Mold's api.throttling.max and
      api.throttling.interval with api.throttling.enabled; None = no throttling.
    zones: how many zones a fresh store is seeded with (Zone1 ... ZoneN).
    host_cdrom_max_count: the CD-ROM drives the (emulated) KVM hosts advertise
      (Host.HOST_CDROM_MAX_COUNT); `isomaxcount` is min(vm.iso.max.count, this). Mold 4.23 only.
    base_url: "http(s)://HOST:PORT" of the running server (MoldSim.start sets it); upload
      URLs use the Host of the API request instead when there is one.
    install_seconds: how long the simulated Windows Setup takes from its start on the CD to
      the guest's own power-off (moldsim.guest).
    boot_prompt_seconds: how long "Press any key to boot from CD or DVD" waits for a key.
    console_port: the port asked for the console proxy's websocket (0 = a free one);
      console_bound_port: the one it listens on (MoldSim.start sets it; None = no console).
    console_ticket_seconds: Mold's console ticket minute: a session's token is accepted in
      the minute it was made and the next.
    """

    api_key: str = DEFAULT_API_KEY
    secret_key: str = DEFAULT_SECRET_KEY
    signature: str = "sha256"
    job_seconds: float = 0.0
    download_seconds: float | None = None
    guest_poweroff_detect_seconds: float = 0.0
    max_page_size: int = 500
    profile: str = profiles.DEFAULT_PROFILE
    api_limit: tuple[int, float] | None = None
    zones: int = 1
    host_cdrom_max_count: int = 2
    base_url: str | None = None
    install_seconds: float = 0.0
    boot_prompt_seconds: float = 5.0
    console_port: int = 0
    console_bound_port: int | None = None
    console_ticket_seconds: float = 60.0

    def download_time(self) -> float:
        return self.job_seconds if self.download_seconds is None else self.download_seconds

    @property
    def release(self) -> profiles.Profile:
        return profiles.get(self.profile)

    def api_limit_text(self) -> str | None:
        if self.api_limit is None:
            return None
        count, seconds = self.api_limit
        return f"{count}/{seconds:g}"
