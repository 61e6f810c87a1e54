"""`moldsim serve`: run the emulator until SIGTERM/SIGINT.

Prints exactly one line on start (scripts parse it):
    moldsim listening on http://HOST:PORT/client/api   (https:// with --tls-cert/--tls-key)
--tls-cert FILE --tls-key FILE (both or neither, PEM) serve HTTPS; a client that fails the
handshake is dropped quietly (its traceback only with --verbose).
Keys: --api-key/--secret-key, else MOLDSIM_API_KEY/MOLDSIM_SECRET_KEY, else the local
defaults moldsim-admin-key / moldsim-admin-secret.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import ssl
import sys
import threading
from collections.abc import Sequence

from moldsim import __version__, profiles
from moldsim.config import DEFAULT_API_KEY, DEFAULT_SECRET_KEY, parse_api_limit
from moldsim.server import MoldSim

DEFAULT_JOB_SECONDS = 1.0
DEFAULT_INSTALL_SECONDS = 5.0
DEFAULT_PROMPT_SECONDS = 5.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="moldsim", description="Emulator of the ABLESTACK Mold API.")
    parser.add_argument("--version", action="version", version=f"moldsim {__version__}")
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve", help="serve the API at http://HOST:PORT/client/api")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 = a free port)")
    serve.add_argument("--data", metavar="DIR", help="persist state in DIR/moldsim.json (default: memory only)")
    serve.add_argument("--job-seconds", type=float, default=DEFAULT_JOB_SECONDS,
                       help=f"seconds each async job and each ISO/template download takes "
                            f"(default {DEFAULT_JOB_SECONDS}; 0 = done by the next poll)")
    serve.add_argument("--download-seconds", type=float, default=None,
                       help="seconds an ISO/template download takes (default: --job-seconds)")
    serve.add_argument("--guest-poweroff-detect-seconds", type=float, default=0.0,
                       help="delay before a guest-initiated power-off shows as Stopped (default 0)")
    serve.add_argument("--install-seconds", type=float, default=DEFAULT_INSTALL_SECONDS,
                       help="seconds the simulated Windows Setup takes from unattended media to the "
                            f"guest's own power-off (default {DEFAULT_INSTALL_SECONDS:g})")
    serve.add_argument("--boot-prompt-seconds", type=float, default=DEFAULT_PROMPT_SECONDS,
                       help="seconds \"Press any key to boot from CD or DVD\" waits for a key "
                            f"(default {DEFAULT_PROMPT_SECONDS:g})")
    serve.add_argument("--console-port", type=int, default=0,
                       help="port of the console proxy websocket (default 0: a free port)")
    serve.add_argument("--signature", choices=("sha256", "sha1"), default=None,
                       help="HMAC algorithm: sha256 as Mold, sha1 as upstream CloudStack "
                            "(default: the profile's, sha256 for Mold, sha1 for cloudstack-4.17)")
    serve.add_argument("--profile", choices=tuple(profiles.PROFILES), default=profiles.DEFAULT_PROFILE,
                       help=f"release to behave like (default {profiles.DEFAULT_PROFILE})")
    serve.add_argument("--api-limit", metavar="N/S", default=None, type=_api_limit,
                       help="throttle each non-root-admin account to N API calls per S seconds "
                            "(Mold's api.throttling.*); default: off")
    serve.add_argument("--zones", type=int, default=1,
                       help="zones a fresh store is seeded with: Zone1 ... ZoneN (default 1)")
    serve.add_argument("--api-key", default=None, help="admin API key (env MOLDSIM_API_KEY)")
    serve.add_argument("--secret-key", default=None, help="admin secret key (env MOLDSIM_SECRET_KEY)")
    serve.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this certificate (PEM; needs --tls-key)")
    serve.add_argument("--tls-key", metavar="FILE", help="the certificate's private key (PEM)")
    serve.add_argument("--verbose", action="store_true", help="log every HTTP request to stderr")
    return parser


def _api_limit(text: str) -> tuple[int, float] | None:
    try:
        return parse_api_limit(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _make(args: argparse.Namespace) -> MoldSim:
    return MoldSim(
        api_key=args.api_key or os.environ.get("MOLDSIM_API_KEY") or DEFAULT_API_KEY,
        secret_key=args.secret_key or os.environ.get("MOLDSIM_SECRET_KEY") or DEFAULT_SECRET_KEY,
        signature=args.signature, job_seconds=args.job_seconds, data_dir=args.data,
        download_seconds=args.download_seconds,
        guest_poweroff_detect_seconds=args.guest_poweroff_detect_seconds, verbose=args.verbose,
        tls_cert=args.tls_cert, tls_key=args.tls_key, profile=args.profile,
        api_limit=args.api_limit, zones=args.zones, install_seconds=args.install_seconds,
        boot_prompt_seconds=args.boot_prompt_seconds, console_port=args.console_port,
    )


def _serve(args: argparse.Namespace) -> int:
    try:
        sim = _make(args)
    except ssl.SSLError as exc:
        print(f"moldsim: cannot use {args.tls_cert} with {args.tls_key} for TLS: {exc}",
              file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"moldsim: cannot read the TLS certificate or key: {exc}", file=sys.stderr)
        return 2
    _log_guests()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        url = sim.start(args.host, args.port)
    except OSError as exc:
        print(f"moldsim: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(f"moldsim listening on {url}", flush=True)
    while not stop.wait(0.5):
        pass
    sim.stop()
    return 0


def _log_guests() -> None:
    """The guest model's state changes, one line each on stderr (moldsim.guest)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("moldsim: %(message)s"))
    for name in ("moldsim.guest", "moldsim.console"):
        logger = logging.getLogger(name)
        if logger.handlers:
            continue
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together: give both (HTTPS) or neither (HTTP)")
    return _serve(args)


if __name__ == "__main__":
    raise SystemExit(main())
