"""Run the real `mwin` CLI against a moldsim URL: in this process (the default, fast) or as a
`python -m reconciler` subprocess (``process=True``).

In process, ``run_cli`` calls the same click command and exit-code mapping as ``mwin`` itself
(``reconciler.cli.run``), with the call's environment, working directory, stdin, stdout and
stderr in place and everything it may change put back afterwards: environment, working
directory, standard streams, logging handlers and levels, SIGINT/SIGTERM handlers, warning
filters. A subprocess is still needed where the test is about the process itself: signals,
SIGKILL crash points (``MWIN_FAILPOINTS`` makes mwin kill itself, so it is refused here),
``os._exit``, a terminal on stdin, and the CLI contract (`python -m reconciler`'s exit codes
and usage errors, the CI examples' command lines). ``MWIN_TEST_PROCESS=1`` in the test's
environment runs every call as a subprocess (to compare the two ways, or time them).
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.cli import run as run_mwin
from tests.helpers.mold_api import API_KEY, SECRET_KEY

__all__ = ["Mwin", "Run", "run_cli", "run_process"]

PROG_NAME = "python -m reconciler"  # what click calls the program in a subprocess run


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run_cli(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path,
            stdin: str | None = None) -> Run:
    """`mwin ARGV` in this process with exactly ``env`` as its environment, in ``cwd``;
    stdin is ``stdin`` (never a terminal)."""
    if env.get("MWIN_FAILPOINTS"):
        raise ValueError("MWIN_FAILPOINTS makes mwin SIGKILL its own process: run it with "
                         "process=True")
    out, err = _Capture("strict"), _Capture("backslashreplace")
    with _isolated(env, cwd, io.StringIO(stdin or ""), out, err):
        try:
            code = run_mwin(argv, prog_name=PROG_NAME)
        except SystemExit as exc:  # nothing in mwin exits this way; were it to, say how
            code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
    return Run(code, out.text(), err.text())


def run_process(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path,
                stdin: str | None = None, timeout: float = 60) -> Run:
    """`python -m reconciler ARGV` as a child process."""
    proc = subprocess.run([sys.executable, "-m", "reconciler", *argv], cwd=cwd, env=dict(env),
                          capture_output=True, text=True, timeout=timeout, input=stdin)
    return Run(proc.returncode, proc.stdout, proc.stderr)


class _Capture(io.TextIOWrapper):
    """A standard stream as a process has one (UTF-8 text over bytes), kept in memory."""

    def __init__(self, errors: str) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8", errors=errors, write_through=True)

    def isatty(self) -> bool:
        return False

    def text(self) -> str:
        self.flush()
        buffer = self.buffer
        assert isinstance(buffer, io.BytesIO)
        return buffer.getvalue().decode("utf-8", errors="replace")


@contextmanager
def _isolated(env: Mapping[str, str], cwd: Path, stdin: io.StringIO, out: _Capture,
              err: _Capture) -> Iterator[None]:
    saved_env, saved_cwd = dict(os.environ), Path.cwd()
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    saved_signals = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    names = {*logging.Logger.manager.loggerDict, "httpx", "httpcore"}  # the last two: --debug
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in sorted(names))]
    saved_logging = [(logger, logger.level, list(logger.handlers)) for logger in loggers]
    _set_environ(env)
    os.chdir(cwd)
    sys.stdin, sys.stdout, sys.stderr = stdin, out, err
    try:
        with warnings.catch_warnings():
            warnings.resetwarnings()  # as in a fresh `python`: the default filters only
            for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning,
                             ResourceWarning):
                warnings.simplefilter("ignore", category)
            yield
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.chdir(saved_cwd)
        _set_environ(saved_env)
        for signum, handler in saved_signals.items():
            signal.signal(signum, handler)
        for logger, level, handlers in saved_logging:
            for handler in set(logger.handlers) - set(handlers):
                logger.removeHandler(handler)
                handler.close()
            logger.setLevel(level)


def _set_environ(env: Mapping[str, str]) -> None:
    """Make ``os.environ`` (and the C-level environment OpenSSL and libpq read) exactly ``env``."""
    for name in set(os.environ) - set(env):
        del os.environ[name]
    os.environ.update(env)


class Mwin:
    """`mwin` bound to one moldsim URL, working directory and state file. Runs in this
    process unless ``process=True`` (here or per call)."""

    def __init__(self, url: str, workdir: Path, state: Path | None = None, *,
                 process: bool = False) -> None:
        self.url = url
        self.workdir = workdir
        self.state = state or workdir / "state" / "mwin.state.json"
        self.process = process or os.environ.get("MWIN_TEST_PROCESS") == "1"
        self.env = {**os.environ, "MOLD_URL": url, "MOLD_API_KEY": API_KEY,
                    "MOLD_SECRET_KEY": SECRET_KEY, "NO_COLOR": "1"}

    def argv(self, *args: str) -> list[str]:
        """``args`` with this Mwin's state file and, for apply/destroy, fast waits (unless the
        test sets them)."""
        argv = list(args)
        if args and args[0] in ("plan", "apply", "destroy", "import", "state"):
            argv += ["--state", str(self.state)]
        if args and args[0] in ("apply", "destroy"):
            for flag, value in (("--poll-interval", "20ms"), ("--recheck-delay", "10ms")):
                if flag not in args:
                    argv += [flag, value]
        return argv

    def __call__(self, *args: str, timeout: float = 60, stdin: str | None = None,
                 process: bool = False) -> Run:
        argv = self.argv(*args)
        if self.process or process:
            return run_process(argv, env=self.env, cwd=self.workdir, stdin=stdin, timeout=timeout)
        return run_cli(argv, env=self.env, cwd=self.workdir, stdin=stdin)

    def owner(self) -> str:
        """The owner recorded in this Mwin's state file (written by its first apply)."""
        return str(json.loads(self.state.read_text(encoding="utf-8"))["owner"])

    def plan_json(self, spec: str | Path, *extra: str) -> dict[str, Any]:
        run = self("plan", str(spec), "--json", *extra)
        assert run.code == 0, run.err
        return dict(run.json())
