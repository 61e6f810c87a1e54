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
  delays:         {command, seconds, count}  → the answer is sent after sleeping that long
                  (longer than the client's timeout: a slow response).
  reset_after:    {command, count}  → the command is carried out, then the connection is
                  closed without an answer (the client cannot tell whether it happened).
  hang_jobs:      {command, count}  → jobs of that command never finish: jobstatus stays 0
                  and the object stays in its transitional state. Clearing faults does not
                  unhang them.
  bad_responses:  {command, kind, count, status?, fields?, errortext?}  answers no Mold gives:
                  kind html (status, default 502, an HTML proxy page), malformed_json (200, cut
                  off), empty (200, no body), errorresponse_200 (200 with an errorresponse
                  envelope, errorcode 530) — all before acting; missing_fields: the command
                  runs, then `fields` (default ["id"]) are removed from the answer's objects.
  random:         {share, seed, modes, exclude?, command="*", count=-1}  → each matching request
                  fails with probability `share`, drawn from a random.Random(seed) owned by the
                  rule (reproducible for a given order of requests), in a mode drawn from
                  `modes` ("http_503", "reset_before", "reset_after"; default all); commands in
                  `exclude` are never hit. Firings per mode are counted in the rule's "fired".
"""

from __future__ import annotations

import random
import threading
from typing import Any

KINDS = ("fail_jobs", "fail_downloads", "http_errors", "drop_connections", "delays",
         "reset_after", "hang_jobs", "bad_responses", "random")
RANDOM_MODES = ("http_503", "reset_before", "reset_after")
BAD_KINDS = ("html", "malformed_json", "empty", "errorresponse_200", "missing_fields")


class Faults:
    """The active rules; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rules: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}

    def update(self, body: dict[str, Any]) -> None:
        """Apply a control request: `clear` first, then append the given rules. Raises
        ValueError for a rule moldsim cannot follow."""
        with self._lock:
            if body.get("clear"):
                self.rules = {k: [] for k in KINDS}
            for kind in KINDS:
                for rule in body.get(kind, []):
                    self.rules[kind].append(_checked(kind, dict(rule)))

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {k: [{n: v for n, v in r.items() if not n.startswith("_")} for r in rules]
                    for k, rules in self.rules.items()}

    def random_mode(self, command: str) -> str | None:
        """The failure mode a `random` rule picks for this request, or None."""
        with self._lock:
            for rule in self.rules["random"]:
                target = str(rule.get("command", "*")).lower()
                excluded = {str(c).lower() for c in rule.get("exclude", [])}
                if target not in ("*", command.lower()) or command.lower() in excluded:
                    continue
                if int(rule.get("count", -1)) == 0:
                    continue
                rng = rule.setdefault("_rng", random.Random(rule.get("seed")))
                if rng.random() >= float(rule.get("share", 0.0)):
                    return None
                mode = rng.choice(list(rule.get("modes") or RANDOM_MODES))
                if int(rule.get("count", -1)) > 0:
                    rule["count"] = int(rule["count"]) - 1
                fired = rule.setdefault("fired", {})
                fired[mode] = fired.get(mode, 0) + 1
                return str(mode)
            return None

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


def _checked(kind: str, rule: dict[str, Any]) -> dict[str, Any]:
    if kind == "bad_responses" and rule.get("kind") not in BAD_KINDS:
        raise ValueError(f"bad_responses kind must be one of {', '.join(BAD_KINDS)}")
    if kind == "random":
        unknown = set(rule.get("modes") or ()) - set(RANDOM_MODES)
        if unknown:
            raise ValueError(f"random modes must be among {', '.join(RANDOM_MODES)}")
        if not 0.0 <= float(rule.get("share", 0.0)) <= 1.0:
            raise ValueError("random share must be between 0 and 1")
        rule.setdefault("count", -1)
    return rule
