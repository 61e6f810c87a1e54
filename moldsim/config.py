"""Run-time settings of one moldsim (flags of `moldsim serve`, arguments of `MoldSim`)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_API_KEY = "moldsim-admin-key"
DEFAULT_SECRET_KEY = "moldsim-admin-secret"

# Settings that POST /moldsim/config may change while running.
RUNTIME_KEYS = ("job_seconds", "download_seconds", "guest_poweroff_detect_seconds")


@dataclass
class SimConfig:
    """Settings; times are seconds (floats allowed).

    job_seconds: how long every async job takes (0 = done by the next poll).
    download_seconds: how long an ISO/template download takes; None = job_seconds.
    guest_poweroff_detect_seconds: after a guest powers itself off (control endpoint), how
      long the VM still shows Running before Mold notices and reports Stopped.
    max_page_size: Mold's `default.page.size`.
    """

    api_key: str = DEFAULT_API_KEY
    secret_key: str = DEFAULT_SECRET_KEY
    signature: str = "sha256"
    job_seconds: float = 0.0
    download_seconds: float | None = None
    guest_poweroff_detect_seconds: float = 0.0
    max_page_size: int = 500

    def download_time(self) -> float:
        return self.job_seconds if self.download_seconds is None else self.download_seconds
