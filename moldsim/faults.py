"""Fault injection rules, set through `POST /moldsim/faults` (kept in memory, not persisted).

Rule kinds (each a list of dicts; `command` matches case-insensitively, "*" = any command;
`count` = how many times the rule fires, default 1, -1 = forever):
  fail_jobs:      {command, errorcode=530, errortext, count}  → the next jobs of that command
                  end with jobstatus 2, jobresultcode=errorcode.
  fail_downloads: {name_contains, errortext}  → ISO/template downloads whose name contains the
                  text end in an error status and never become ready (applies at registration).
  http_errors:    {command, status=503, count, body}  → the request is answered with that HTTP
                  status and a plain-text body before anything else happens.
  drop_connections: {command, count}  → the connection is closed without any response.
  delays:         {command, seconds, count}  → the answer is sent after sleeping that long.
"""

from __future__ import annotations

import threading
from typing import Any

KINDS = ("fail_jobs", "fail_downloads", "http_errors", "drop_connections", "delays")


class Faults:
    """The active rules; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rules: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}

    def update(self, body: dict[str, Any]) -> None:
        """Apply a control request: `clear` first, then append the given rules."""
        with self._lock:
            if body.get("clear"):
                self.rules = {k: [] for k in KINDS}
            for kind in KINDS:
                for rule in body.get(kind, []):
                    self.rules[kind].append(dict(rule))

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {k: [dict(r) for r in v] for k, v in self.rules.items()}

    def take(self, kind: str, command: str) -> dict[str, Any] | None:
        """Consume one firing of the first rule of `kind` matching `command`."""
        with self._lock:
            for rule in self.rules[kind]:
                target = str(rule.get("command", "*")).lower()
                if target not in ("*", command.lower()):
                    continue
                count = int(rule.get("count", 1))
                if count == 0:
                    continue
                if count > 0:
                    rule["count"] = count - 1
                return dict(rule)
            return None

    def download_failure(self, name: str) -> str | None:
        """Error text for a download of an image called `name`, or None if it succeeds."""
        with self._lock:
            for rule in self.rules["fail_downloads"]:
                if str(rule.get("name_contains", "")) in name:
                    return str(rule.get("errortext") or
                               "Download failed: HTTP Server returned 404 (expected 200 OK)")
            return None
