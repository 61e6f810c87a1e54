"""Fault injection rules, set through `POST /moldsim/faults` (kept in memory, not persisted).

A body holds lists of rules by kind, and optionally `"clear": true` (all rules are removed
first). The whole body is checked before anything changes: an unknown kind or a rule moldsim
cannot follow is a 400 and leaves the rules as they were. Only `/client/api` requests are
affected, never `/moldsim/*`. In every rule `command` matches case-insensitively ("*" = any
command, the default) and `count` is how many times the rule fires (default 1, -1 = forever;
a rule at 0 is spent and stays listed).

Rule kinds:
  fail_jobs:      {command, errorcode=530, errortext, count}  → the next jobs of that command
                  end with jobstatus 2, jobresultcode=errorcode (533 etc. allowed).
  fail_downloads: {name_contains, errortext}  → ISO/template downloads whose name contains the
                  text end in an error status and never become ready (applies at registration).
  http_errors:    {command, status=503, count, body}  → the request is answered with that HTTP
                  status and a plain-text body before anything else happens.
  drop_connections: {command, count}  → the connection is closed without any answer, before
                  acting ("reset before").
  delays:         {command, seconds=1, count}  → the answer is sent after sleeping that long
                  (longer than the client's timeout: a slow response).
  reset_after:    {command, count}  → the command is carried out, then the connection is
                  closed without an answer (the client cannot tell whether it happened).
  hang_jobs:      {command, count}  → jobs of that command submitted while the rule has
                  firings left never finish: jobstatus stays 0 and the object stays in its
                  transitional state (a deployed or started VM `Starting`, a stopped one
                  `Stopping`, a template not ready, a VM snapshot `Creating`). Clearing faults
                  does not unhang them.
  bad_responses:  {command, kind, count, status?, fields?, errortext?}  answers no Mold gives:
                  html (status, default 502, text/html, an nginx "Bad Gateway" page),
                  malformed_json (200, application/json, cut off), empty (200, no body),
                  errorresponse_200 (200 with {"errorresponse": {"uuidList": [], "errorcode":
                  530, "cserrorcode": 9999, "errortext": ...}}) — all before acting;
                  missing_fields: the command runs, then every key in `fields` (default
                  ["id"]) is removed from the response object and from every object in any
                  list inside it.
  random:         {share, seed?, modes?, exclude?, command="*", count=-1}  → every matching
                  request draws from a random.Random(seed) owned by the rule (under the lock,
                  so a given order of requests gives the same failures): with probability
                  `share` it fails, in a mode drawn by the same generator from `modes`
                  ("http_503", "reset_before", "reset_after"; default all three). Commands in
                  `exclude` are never hit and draw nothing. `count` limits firings. The
                  rule's "fired" ({mode: firings}) is shown by GET /moldsim/faults. Without a
                  seed the failures are not reproducible. Rules are asked in order; the first
                  that fires decides, later ones do not draw for that request.

Order within one API request (server.py): the random draw; a reset before acting (random or
drop_connections); a delay; an HTTP error (random http_503, else http_errors); a bad answer
given before acting; the command itself; a reset after acting (random or reset_after); else
missing_fields. A rule's firing is only spent when it takes effect.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

KINDS = ("fail_jobs", "fail_downloads", "http_errors", "drop_connections", "delays",
         "reset_after", "hang_jobs", "bad_responses", "random")
RANDOM_MODES = ("http_503", "reset_before", "reset_after")
BAD_KINDS = ("html", "malformed_json", "empty", "errorresponse_200", "missing_fields")

Rule = dict[str, Any]


class Faults:
    """The active rules; thread-safe. Keys starting with "_" (a random rule's generator) are
    private: not shown, not copied out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rules: dict[str, list[Rule]] = {k: [] for k in KINDS}

    def update(self, body: dict[str, Any]) -> None:
        """Apply a control request: `clear` first, then append the given rules. Raises
        ValueError (nothing changed) for a body moldsim cannot follow."""
        unknown = sorted(set(body) - set(KINDS) - {"clear"})
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; known: {', '.join(KINDS)}")
        added = {kind: [_checked(kind, rule) for rule in _rule_list(kind, body.get(kind, []))]
                 for kind in KINDS}
        with self._lock:
            if body.get("clear"):
                self.rules = {k: [] for k in KINDS}
            for kind, rules in added.items():
                self.rules[kind].extend(rules)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {k: [_public(r) for r in rules] for k, rules in self.rules.items()}

    def random_mode(self, command: str) -> str | None:
        """The failure mode a `random` rule picks for this request, or None."""
        with self._lock:
            for rule in self.rules["random"]:
                if not _matches(rule, command) or int(rule["count"]) == 0:
                    continue
                if command.lower() in rule["_exclude"]:
                    continue
                rng: random.Random = rule["_rng"]
                if rng.random() >= float(rule["share"]):
                    continue
                mode = str(rng.choice(rule["modes"]))
                _spend(rule)
                rule["fired"][mode] += 1
                return mode
            return None

    def take(self, kind: str, command: str,
             where: Callable[[Rule], bool] | None = None) -> Rule | None:
        """Consume one firing of the first live rule of `kind` matching `command` (and
        `where`, if given); a copy of it, or None."""
        with self._lock:
            for rule in self.rules[kind]:
                if not _matches(rule, command) or int(rule.get("count", 1)) == 0:
                    continue
                if where is not None and not where(rule):
                    continue
                _spend(rule)
                return _public(rule)
            return None

    def download_failure(self, name: str) -> str | None:
        """Error text for a download of an image called `name`, or None if it succeeds."""
        with self._lock:
            for rule in self.rules["fail_downloads"]:
                if str(rule.get("name_contains", "")) in name:
                    return str(rule.get("errortext") or
                               "Download failed: HTTP Server returned 404 (expected 200 OK)")
            return None


def _public(rule: Rule) -> Rule:
    return {n: (dict(v) if isinstance(v, dict) else v) for n, v in rule.items()
            if not n.startswith("_")}


def _matches(rule: Rule, command: str) -> bool:
    return str(rule.get("command", "*")).lower() in ("*", command.lower())


def _spend(rule: Rule) -> None:
    count = int(rule.get("count", 1))
    if count > 0:
        rule["count"] = count - 1


def _rule_list(kind: str, rules: Any) -> list[Rule]:
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise ValueError(f"{kind} must be a list of objects")
    return [dict(r) for r in rules]


def _number(rule: Rule, key: str, kind: str, integer: bool = False) -> None:
    value = rule.get(key)
    wanted = (int,) if integer else (int, float)
    if value is not None and (isinstance(value, bool) or not isinstance(value, wanted)):
        raise ValueError(f"{kind} {key} must be {'an integer' if integer else 'a number'}")


def _strings(rule: Rule, key: str, kind: str) -> None:
    value = rule.get(key)
    if value is not None and (not isinstance(value, list)
                              or not all(isinstance(v, str) for v in value)):
        raise ValueError(f"{kind} {key} must be a list of strings")


def _checked(kind: str, rule: Rule) -> Rule:
    """The rule as kept: types checked, a random rule's defaults, generator and counters."""
    if not isinstance(rule.get("command", "*"), str):
        raise ValueError(f"{kind} command must be a string")
    _number(rule, "count", kind, integer=True)
    if int(rule.get("count", 1)) < -1:
        raise ValueError(f"{kind} count must be -1 (forever) or more")
    for key in ("status", "errorcode"):
        _number(rule, key, kind, integer=True)
    _number(rule, "seconds", kind)
    if kind == "bad_responses":
        if rule.get("kind") not in BAD_KINDS:
            raise ValueError(f"bad_responses kind must be one of {', '.join(BAD_KINDS)}")
        _strings(rule, "fields", kind)
    if kind == "random":
        return _checked_random(rule)
    return rule


def _checked_random(rule: Rule) -> Rule:
    if "share" not in rule:
        raise ValueError("random needs a share (0..1): the probability that a request fails")
    _number(rule, "share", "random")
    _strings(rule, "modes", "random")
    _strings(rule, "exclude", "random")
    if not 0.0 <= float(rule["share"]) <= 1.0:
        raise ValueError("random share must be between 0 and 1")
    if set(rule.get("modes") or ()) - set(RANDOM_MODES):
        raise ValueError(f"random modes must be among {', '.join(RANDOM_MODES)}")
    seed = rule.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, str))):
        raise ValueError("random seed must be an integer or a string")
    rule.setdefault("command", "*")
    rule.setdefault("count", -1)
    rule["modes"] = list(rule.get("modes") or RANDOM_MODES)
    rule["fired"] = dict.fromkeys(rule["modes"], 0)
    rule["_rng"] = random.Random(seed)
    rule["_exclude"] = {c.lower() for c in rule.get("exclude") or ()}
    return rule
