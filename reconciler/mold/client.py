"""The Mold HTTP client: one send path for every command (reference/mold-api.md §2).

Three jobs and nothing else: ``call`` (one command → the object inside its response envelope,
errors as typed exceptions), ``list_all`` (paging to ``count``) and ``wait_job``/``run_job``
(async jobs with a deadline, backoff and a progress callback).

Retries are honest. Reads (``list*``, ``query*``, ``get*``) are retried on transport errors
and on 429/500/502/503/504. A mutation is sent again only when it certainly did not run: the
connection was never made, or the answer was 429 (rate limit) or 503 (nothing behind the proxy
took it). Any other lost answer raises ``UncertainMutation``: the caller looks at what Mold
holds before deciding (``resources.common.send``). Mold's own errors (4xx, 53x) are answers,
never retried.

httpx exceptions are translated here and never leak. Imports only ``reconciler.errors``,
``reconciler.settings`` and this package. No key, secret or signature in any log line,
exception text or repr: only the caller's own parameters are logged (sensitive ones masked),
and the signer adds the credentials below that point.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

import httpx

from reconciler import failpoints
from reconciler.errors import (
    ApiError,
    AuthError,
    JobFailed,
    JobTimeout,
    MoldError,
    SettingsError,
    TransportError,
    UncertainMutation,
)
from reconciler.mold.auth import MoldSigner
from reconciler.mold.batch import Rounds
from reconciler.mold.encoding import encode_params
from reconciler.mold.pace import Pacer
from reconciler.mold.poll import Clock, Deadline, PollPolicy
from reconciler.mold.upload import UploadTicket, post_file
from reconciler.settings import Settings, shown_url

__all__ = ["MoldClient", "RetryPolicy", "is_read", "narrate_jobs"]

log = logging.getLogger("reconciler.mold")

# HTTP statuses after which a read is retried: rate limit and proxy/server hiccups. Mold's
# business errors are 4xx and 530-537 and are real answers.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Of those, the ones that say the request was not carried out (a mutation may be sent again).
NOT_EXECUTED_STATUSES = frozenset({429, 503})
# Parameter names the client owns (the signer owns apikey/signature/signatureversion/expires).
_CLIENT_PARAMS = frozenset({"command", "response"})
# Who hears, in this thread, of a job waited on without an ``on_progress`` of its own (a
# createTags job after a create, a delete's job): set per action by the CLI's progress view,
# so that no wait is silent. Unset: nobody.
_narrator = threading.local()


def narrate_jobs(report: Callable[[str], None] | None) -> None:
    """``report(text)`` hears, from now on in the calling thread, which job a wait without
    its own ``on_progress`` waits for (once per wait); None stops it."""
    _narrator.report = report


# Parameter names whose values are never logged.
_MASKED = ("password", "secret", "userdata", "apikey", "signature", "sessionkey")


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for reads: ``attempts`` in total (first try included).

    The delay after the k-th failure is ``min(initial * factor**(k-1), max_delay)``; no jitter,
    so tests with a fake sleep see exact values.
    """

    attempts: int = 4
    initial: float = 0.2
    factor: float = 2.0
    max_delay: float = 5.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.initial < 0 or self.factor < 1 or self.max_delay < 0:
            raise ValueError(f"invalid {self!r}")

    def delay(self, failures: int) -> float:
        return min(self.initial * self.factor ** (failures - 1), self.max_delay)


def is_read(command: str) -> bool:
    """Commands that change nothing and may be retried. getUploadParams* creates an entry."""
    name = command.lower()
    return name.startswith(("list", "query", "get")) and not name.startswith("getuploadparams")


class MoldClient:
    """Thread-safe: one shared ``httpx.Client``; the request counter has its own lock."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy = RetryPolicy(),
        poll: PollPolicy = PollPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = settings.url
        self._shown_url = shown_url(settings.url)  # in messages and reprs: no userinfo
        try:
            self._path = httpx.URL(settings.url).path  # for log lines: the host is in --url already
        except httpx.InvalidURL as exc:  # what Settings' own check lets through
            raise SettingsError(f"the Mold API URL (--url or MOLD_URL) is not a valid URL: "
                                f"{exc}") from None
        self._retry = retry
        self._poll = poll
        self._sleep = sleep
        self._clock = clock
        self._count_lock = threading.Lock()
        self._request_count = 0
        self.pacer = Pacer(Clock(clock, sleep))  # Mold's API limit, learnt from its 429s
        self._jobs: Rounds[str, dict[str, Any]] = Rounds(self._fetch_jobs, poll,
                                                         Clock(clock, sleep), self._round_gap)
        self._job_count = 0  # rows the last listAsyncJobs answered
        self._since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
        self._listed: dict[Any, Rounds[str, list[dict[str, Any]]]] = {}
        signer = MoldSigner(
            settings.api_key.get_secret_value(),
            settings.secret_key.get_secret_value(),
            settings.signature,
        )
        verify = _verification(settings)  # one TLS context for both clients (loading it costs)
        self.tls_verify = verify  # also for the console's websocket (wss)
        self._http = httpx.Client(
            auth=signer,
            transport=transport,
            verify=verify,
            timeout=settings.timeout,
            headers={"User-Agent": "mwin", "Accept": "application/json"},
        )
        # Uploads go to the secondary storage's URL: unsigned, the same TLS trust, no read
        # deadline while the file streams (the connection and each write still have one).
        self._upload_http = httpx.Client(
            transport=transport, verify=verify,
            timeout=httpx.Timeout(settings.timeout, read=None),
            headers={"User-Agent": "mwin"})

    def __repr__(self) -> str:
        return f"MoldClient(url={self._shown_url!r})"

    @property
    def request_count(self) -> int:
        """HTTP requests sent so far, every retry included."""
        with self._count_lock:
            return self._request_count

    # -- one command ------------------------------------------------------------------------

    def call(self, command: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Send ``command``; return the object inside ``<command>response``.

        Raises AuthError (401), ApiError (any error envelope, also with HTTP 200) or
        TransportError (no usable answer). Reads are retried per RetryPolicy, mutations never.
        """
        data = self._form(command, params or {})
        read = is_read(command)
        attempts = self._retry.attempts
        for attempt in range(1, attempts + 1):
            try:
                body = self._attempt(command, data, attempt)
            except _Retryable as exc:
                if not read and exc.maybe_executed:
                    raise UncertainMutation(command, exc.error.detail
                                            if isinstance(exc.error, TransportError)
                                            else str(exc.error)) from None
                if attempt == attempts:
                    raise exc.error from None
                delay = max(self._retry.delay(attempt), exc.wait or 0.0)
                log.info("%s; retry %d/%d in %.3gs", exc.error, attempt, attempts - 1, delay)
                self._sleep(delay)
                continue
            if not read:
                failpoints.hit(f"answered:{command}")
            return body
        raise AssertionError("unreachable")

    def _form(self, command: str, params: Mapping[str, Any]) -> dict[str, str]:
        clash = sorted(n for n in params if n.lower() in _CLIENT_PARAMS)
        if clash:
            raise ValueError(f"{command}: parameters {clash} are added by the client")
        return {"command": command, **encode_params(params), "response": "json"}

    def _attempt(self, command: str, data: dict[str, str], attempt: int) -> dict[str, Any]:
        self.pacer.acquire()
        with self._count_lock:
            self._request_count += 1
        started = time.perf_counter()
        try:
            response = self._http.post(self._url, data=data)
        except httpx.TransportError as exc:
            self.pacer.released()
            error = TransportError(command, _transport_detail(self._shown_url, exc,
                                                              is_read(command)))
            log.debug("POST %s %s → %s (attempt %d)", self._path, _loggable(data),
                      type(exc).__name__, attempt)
            if _certificate_refused(exc):
                raise error from None  # asking again changes nothing
            raise _Retryable(error, maybe_executed=not _never_sent(exc)) from None
        ms = (time.perf_counter() - started) * 1000
        log.debug("POST %s %s → HTTP %d in %.0f ms (attempt %d)", self._path, _loggable(data),
                  response.status_code, ms, attempt)
        try:
            body = _unwrap(command, response)
        except _Retryable as exc:
            if response.status_code == 429:
                self.pacer.refused(exc.wait or 0.0)
            else:
                self.pacer.accepted()
            raise
        except Exception:
            self.pacer.accepted()
            raise
        self.pacer.accepted()
        return body

    # -- lists ------------------------------------------------------------------------------

    def list_all(
        self,
        command: str,
        item_key: str,
        params: Mapping[str, Any] | None = None,
        *,
        pagesize: int = 500,
    ) -> list[dict[str, Any]]:
        """Every item of a list command, page by page until ``count`` items (or a short page).

        ``item_key`` is the list's object name ("iso", "virtualmachine", "vmSnapshot"; matched
        case-insensitively as a fallback). Items that reappear on a later page because the list
        shifted while paging are returned once (by ``id`` and ``zoneid``: listTemplates and
        listIsos give one row per zone an image is in, with the same id).
        """
        params = dict(params or {})
        if pagesize < 1:
            raise ValueError("pagesize must be at least 1 (Mold allows at most 500)")
        if {"page", "pagesize"} & {n.lower() for n in params}:
            raise ValueError(f"{command}: list_all sets page/pagesize itself")
        items: list[dict[str, Any]] = []
        seen: set[tuple[Any, Any]] = set()
        read = 0
        for page in itertools.count(1):
            body = self.call(command, {**params, "page": page, "pagesize": pagesize})
            batch = _items(command, body, item_key)
            read += len(batch)
            for item in batch:
                key = (item.get("id"), item.get("zoneid"))
                if "id" in item and key in seen:
                    continue
                items.append(item)
                if "id" in item:
                    seen.add(key)
            total = body.get("count")
            if len(batch) < pagesize or (isinstance(total, int) and read >= total):
                break
        return items

    # -- async jobs -------------------------------------------------------------------------

    def wait_job(
        self,
        command: str,
        jobid: str,
        *,
        timeout: float,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        resource_id: str | None = None,
    ) -> dict[str, Any]:
        """Wait until the job ends; return its ``jobresult``.

        The jobs every worker waits on are looked at together, one round at a time
        (``batch.Rounds``): one listAsyncJobs when that is fewer requests than a
        queryAsyncJobResult each. ``command`` names the job in errors. ``on_progress`` gets
        the job after every round in which it is still pending. Raises JobFailed (jobstatus
        2), JobTimeout, or what ``call`` raises.
        """
        narrate = None if on_progress else getattr(_narrator, "report", None)

        def check(job: dict[str, Any] | None) -> dict[str, Any] | None:
            nonlocal narrate
            if job is None:
                return None
            status = job.get("jobstatus")
            if status == 1:
                result = job.get("jobresult")
                return dict(result) if isinstance(result, dict) else {}
            if status == 2:
                raise _job_failed(command, jobid, job, resource_id)
            if status != 0:
                raise TransportError(command, f"job {jobid}: unexpected jobstatus {status!r}")
            if on_progress is not None:
                on_progress(job)
            elif narrate is not None:
                narrate(f"waiting for Mold's {command} job {jobid}")
                narrate = None
            return None

        try:
            return self._jobs.wait(jobid, check, timeout=timeout, what=f"{command} job {jobid}")
        except Deadline:
            raise JobTimeout(command, jobid, timeout, resource_id=resource_id) from None

    def _fetch_jobs(self, jobids: frozenset[str]) -> dict[str, dict[str, Any]]:
        """One round: listAsyncJobs (the account's jobs since this client started) when it
        takes fewer requests than one queryAsyncJobResult per job, else those."""
        pages = max(1, -(-self._job_count // 500))
        if len(jobids) > pages:
            rows = self.list_all("listAsyncJobs", "asyncjobs", {"startdate": self._since})
            self._job_count = len(rows)
            found = {str(r.get("jobid")): r for r in rows}  # every job: later waits may end at once
            missing = jobids - set(found)
        else:
            found, missing = {}, frozenset(jobids)
        for jobid in sorted(missing):
            found[jobid] = self.call("queryAsyncJobResult", {"jobid": jobid})
        return found

    def _round_gap(self) -> float:
        """Once Mold's API limit is known every poll takes budget from the requests that
        change things: rounds keep one first poll interval apart while requests wait for
        their turn, half of it otherwise."""
        if not self.pacer.limit:
            return 0.0
        return self._poll.initial if self.pacer.saturated else self._poll.initial / 2

    def wait_listed(self, command: str, item_key: str, params: Mapping[str, Any], ident: str,
                    check: Callable[[list[dict[str, Any]] | None], Any], *, timeout: float,
                    what: str) -> Any:
        """Wait until ``check(rows of ident)`` returns something: the objects every worker
        waits on with the same command and ``params`` are read by one list call per round
        (by ``id`` while only one waits). ``check`` gets None when the object is not listed."""
        key = (command, item_key, tuple(sorted((k, repr(v)) for k, v in params.items())))
        with self._count_lock:
            rounds = self._listed.get(key)
            if rounds is None:
                def fetch(ids: frozenset[str]) -> dict[str, list[dict[str, Any]]]:
                    query = {**params, "id": next(iter(ids))} if len(ids) == 1 else params
                    grouped: dict[str, list[dict[str, Any]]] = {}
                    for row in self.list_all(command, item_key, query):
                        grouped.setdefault(str(row.get("id")), []).append(row)
                    return grouped
                rounds = self._listed[key] = Rounds(fetch, self._poll, Clock(self._clock,
                                                                               self._sleep),
                                                    self._round_gap)
        return rounds.wait(ident, check, timeout=timeout, what=what)

    def run_job(
        self,
        command: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout: float,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """``call`` an async command, then ``wait_job``; return the jobresult.

        Async-create commands (deploy, createTemplate, createVMSnapshot) answer with the new
        entity's ``id`` at once: it is added to the result as ``"_id"`` and carried by
        JobFailed/JobTimeout as ``resource_id``, so a failed or slow create can still be
        recorded. A command that answers without a ``jobid`` raises TransportError.
        """
        return self.finish_job(command, self.call(command, params), timeout=timeout,
                               on_progress=on_progress)

    def finish_job(
        self,
        command: str,
        answer: Mapping[str, Any],
        *,
        timeout: float,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """The second half of ``run_job``: wait for the job an async command's ``answer``
        names; the entity id it carries is added to the result as ``"_id"``."""
        jobid = answer.get("jobid")
        if not isinstance(jobid, str) or not jobid:
            raise TransportError(command, f"expected an async job id, got keys {sorted(answer)}")
        entity = answer.get("id") if isinstance(answer.get("id"), str) else None
        result = self.wait_job(
            command, jobid, timeout=timeout, on_progress=on_progress, resource_id=entity
        )
        if entity is not None:
            result.setdefault("_id", entity)
        return result

    # -- lifetime ---------------------------------------------------------------------------

    def upload(self, ticket: UploadTicket, path: Path,
               on_progress: Callable[[int, int], None]) -> None:
        """Stream ``path`` to the post URL of ``ticket`` (``upload.post_file``)."""
        with self._count_lock:
            self._request_count += 1
        post_file(self._upload_http, ticket, path, on_progress)

    def close(self) -> None:
        self._http.close()
        self._upload_http.close()

    def __enter__(self) -> MoldClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _Retryable(Exception):
    """Internal: a failure a read may retry; carries the error to raise when attempts run out.
    ``maybe_executed``: Mold may have carried the request out (a mutation is then uncertain)."""

    def __init__(self, error: MoldError, *, maybe_executed: bool,
                 wait: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.maybe_executed = maybe_executed
        self.wait = wait  # what the server asked for (rate limits), seconds


# Mold's API-limit text: "... has reached his/her account api limit, please retry after [N] ms."
_LIMIT_WAIT = re.compile(r"retry after \[?(\d+)\]? ?ms", re.IGNORECASE)
MAX_SERVER_WAIT = 60.0  # never wait longer than this because a server said so


def _server_wait(response: httpx.Response, errortext: str) -> float | None:
    """Seconds a rate-limited answer asks to wait: Mold's text, else a Retry-After header."""
    match = _LIMIT_WAIT.search(errortext)
    if match:
        return min(int(match.group(1)) / 1000, MAX_SERVER_WAIT)
    header = response.headers.get("Retry-After", "").strip()
    if header.isdigit():
        return min(float(header), MAX_SERVER_WAIT)
    return None


def _never_sent(exc: httpx.TransportError) -> bool:
    """The request cannot have reached Mold: no connection was made."""
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def _unwrap(command: str, response: httpx.Response) -> dict[str, Any]:
    """HTTP response → the envelope's object, or the matching exception."""
    status = response.status_code
    if 300 <= status < 400:
        where = response.headers.get("Location", "?")
        raise TransportError(
            command, f"HTTP {status} redirect to {where}; is the Mold URL right (http/https)?"
        )
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    envelope = _envelope(command, body)
    if envelope is None:
        _no_envelope(command, response)
    if status == 401 or envelope.get("errorcode") == 401:
        raise AuthError(command, 401, _errortext(envelope), envelope.get("cserrorcode"))
    if "errorcode" in envelope or status >= 400:
        code = envelope.get("errorcode", status)
        error = ApiError(command, code, _errortext(envelope), envelope.get("cserrorcode"))
        if code in RETRY_STATUSES:
            raise _Retryable(error, maybe_executed=code not in NOT_EXECUTED_STATUSES,
                             wait=_server_wait(response, error.errortext) if code == 429 else None)
        raise error
    return envelope


def _envelope(command: str, body: Any) -> dict[str, Any] | None:
    """``<command>response``, else ``errorresponse``, else the single ``*response`` key."""
    if not isinstance(body, dict):
        return None
    for key in (f"{command.lower()}response", "errorresponse"):
        inner = body.get(key)
        if isinstance(inner, dict):
            return inner
    keys = [k for k in body if k.endswith("response")]
    only = body[keys[0]] if len(keys) == 1 else None
    return only if isinstance(only, dict) else None


def _no_envelope(command: str, response: httpx.Response) -> NoReturn:
    """No Mold envelope (proxy page, HTML, broken or empty body): retry-worthy if the status
    says so. A 2xx answer that is not Mold's JSON (cut off, garbled by a proxy) came after Mold
    ran the command: a read may be retried, a mutation is uncertain. A 2xx HTML page is a web
    page (the UI, a login portal), not the API: the URL is wrong."""
    ctype = response.headers.get("Content-Type", "no content type")
    status = response.status_code
    garbled = 200 <= status < 300 and "html" not in ctype.lower()
    if garbled:
        hint = "the answer was cut off or garbled on its way"
    elif status >= 500:
        hint = "Mold or a proxy in front of it failed"
    else:
        hint = "is the URL the Mold API endpoint (…/client/api)?"
    error = TransportError(
        command,
        f"HTTP {status} without a Mold JSON answer "
        f"({ctype}, {len(response.content)} bytes); {hint}",
    )
    if status in RETRY_STATUSES or garbled:
        raise _Retryable(error, maybe_executed=status not in NOT_EXECUTED_STATUSES,
                         wait=_server_wait(response, "") if status == 429 else None)
    raise error


def _errortext(envelope: Mapping[str, Any]) -> str:
    text = envelope.get("errortext")
    return text if isinstance(text, str) and text else "(Mold gave no error text)"


def _job_failed(
    command: str, jobid: str, job: Mapping[str, Any], resource_id: str | None
) -> JobFailed:
    found = job.get("jobresult")
    result: Mapping[str, Any] = found if isinstance(found, dict) else {}
    code = job.get("jobresultcode") or result.get("errorcode") or 530
    return JobFailed(command, jobid, code, _errortext(result), resource_id=resource_id)


def _items(command: str, body: Mapping[str, Any], item_key: str) -> list[dict[str, Any]]:
    """The item list of one page; ``{}`` is an empty page."""
    if item_key in body:
        found = body[item_key]
    else:
        keys = [k for k in body if k.lower() == item_key.lower()]
        found = body[keys[0]] if keys else None
    if found is None:
        if body.get("count", 0):
            keys = sorted(body)
            raise TransportError(command, f"count {body['count']} but no {item_key!r} in {keys}")
        return []
    if not isinstance(found, list):
        raise TransportError(command, f"{item_key!r} is not a list")
    return found


def _verification(settings: Settings) -> ssl.SSLContext | bool:
    """What httpx checks Mold's certificate against: the given CA bundle only; else the system's
    CA store (where an admin installs a private CA; SSL_CERT_FILE/SSL_CERT_DIR can move it) plus
    certifi's Mozilla bundle (for a Python without a usable system store); or nothing
    (--insecure). settings.py has already checked that the bundle loads."""
    if not settings.verify_tls:
        return False
    if settings.ca_bundle:
        return ssl.create_default_context(cafile=settings.ca_bundle)
    import certifi  # httpx's own dependency

    context = ssl.create_default_context()  # silently skips a missing SSL_CERT_FILE
    context.load_verify_locations(cafile=certifi.where())
    return context


def _certificate_refused(exc: httpx.TransportError) -> bool:
    return "CERTIFICATE_VERIFY_FAILED" in str(exc) or "certificate verify failed" in str(exc)


def _transport_detail(url: str, exc: httpx.TransportError, read: bool) -> str:
    """What went wrong talking to ``url``; for a mutation, whether it may have run anyway."""
    if _certificate_refused(exc):
        reason = str(exc).rsplit("certificate verify failed:", 1)[-1].split("(_ssl")[0].strip()
        reason = reason.rstrip(".") or str(exc)
        if "mismatch" in reason.lower():
            todo = (f"connect with a host name the certificate was issued for (--url or "
                    f"MOLD_URL; {httpx.URL(url).host} is not one of them)")
        elif "expired" in reason.lower() or "not yet valid" in reason.lower():
            todo = "renew Mold's certificate (or check this machine's clock)"
        else:
            todo = ("if Mold's certificate comes from a private CA, pass --ca-bundle FILE (or "
                    "set MOLD_CA_BUNDLE) with the CA that signed it")
        return (f"the TLS certificate of {url} could not be verified ({reason}): {todo}; "
                "--insecure skips verification (not recommended)")
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
    detail = f"{kind} talking to {url} ({type(exc).__name__}: {exc})"
    if url.startswith("https://") and "WRONG_VERSION_NUMBER" in str(exc):
        detail += "; the server does not seem to speak TLS there: for plain HTTP use an http:// URL"
    elif url.startswith("http://") and isinstance(exc, httpx.RemoteProtocolError):
        # a TLS server reads plain HTTP as a broken handshake and hangs up without a word
        detail += ("; the server may expect TLS there: for HTTPS use an https:// URL (--url or "
                   "MOLD_URL)")
    if read or isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return detail  # nothing was executed, or executing twice is harmless
    return f"{detail}; Mold may have carried it out"


def _loggable(data: Mapping[str, str]) -> str:
    """``command k=v ...`` for a log line: ``response`` dropped, sensitive values masked.

    ``data`` is what the caller asked for; apikey, expires and signature are only added later by
    the signer, so they cannot reach a log line from here.
    """
    shown = [
        f"{k}={'***' if any(m in k.lower() for m in _MASKED) else v}"
        for k, v in data.items()
        if k not in _CLIENT_PARAMS
    ]
    return " ".join([data["command"], *shown])
