"""Resolver Core's export jobs over HTTP: create one, poll it until its file is ready, download the file.

- ``POST {base}/api/audit/user/export`` with ``{"dateStart", "dateEnd"}`` answers the job id: a JSON string, bare
  text, a number or ``{"id": ...}`` (the docs show none of them), all accepted.
- ``GET {base}/api/object/job/{id}`` eventually carries ``signedURL``. Its status field is undocumented
  (``status``, ``state`` or none at all), so a job is done when it has a URL and failed when it carries an
  ``error`` or a failure status; it is polled with a growing wait, so the polls grow with the job's time.
- The signed URL is a pre-signed object-store link: it is fetched on a session of its own that never holds
  the API key, cookies or any other credential (a pre-signed URL carries its own signature, and object stores
  refuse a request with two). It may expire; the caller asks the job again, or makes a new one.
- The API key goes only to ``base_url``: API calls do not follow redirects (a custom header would follow one).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

from ..errors import (
    AuthenticationError,
    FatalSourceError,
    RateLimited,
    RetriableSourceError,
    safe_code,
)
from ..http import Deadline, retry_after
from .resolver_csv import READ_BYTES, ExportFile, ExportFormatError, IncompleteExport, read_export, spool_body

EXPORT_PATH = "/api/audit/user/export"
JOB_PATH = "/api/object/job/"
RATE_GROUP = "resolver"
# The longest wait between two polls of one job: a job that takes many minutes is still seen soon after it ends.
MAX_POLL_WAIT = 30.0
POLL_GROWTH = 1.5
FAILED_STATES = frozenset({"FAILED", "FAILURE", "ERROR", "ERRORED", "CANCELLED", "CANCELED", "ABORTED", "EXPIRED",
                           "TIMEOUT", "TIMED_OUT", "REJECTED"})
_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+=-]{0,199}")
_XML_CODE = re.compile(rb"<Code>([^<]{1,80})</Code>")


class WrongRange(FatalSourceError):
    """The export refused the date range (HTTP 400): a wrong epoch unit, or a range it does not take."""


class JobFailed(RetriableSourceError):
    """The export job reported failure; another job may succeed."""


class JobGone(RetriableSourceError):
    """The job is unknown to the API (404): it expired or was never made; a new one is needed."""


class UrlRefused(RetriableSourceError):
    """The object store refused the signed URL (expired, revoked, or the file is gone)."""


class JobTimedOut(Exception):
    """The job did not finish within the time the run gives it; it is still running."""


@dataclass(frozen=True)
class JobStatus:
    url: Optional[str]
    failed: Optional[str]  # a short, safe description of the failure, or None


def parse_job_id(body: str) -> Optional[str]:
    """The job id from an export answer: ``"abc"``, ``abc``, ``12345`` or ``{"id": ...}``; None if none is there."""
    text = body.strip()
    try:
        value: Any = json.loads(text)
    except ValueError:
        value = text
    if isinstance(value, dict):
        value = next((value[k] for k in ("id", "jobId", "job_id") if value.get(k) not in (None, "")), None)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, (str, int)):
        return None
    job_id = str(value).strip()
    return job_id if _JOB_ID.fullmatch(job_id) else None


def job_status(answer: Any) -> JobStatus:
    """Reads a job answer whatever its status field is called, or whether it has one."""
    if not isinstance(answer, dict):
        return JobStatus(None, "a job status that is not a JSON object")
    lowered = {str(k).lower(): v for k, v in answer.items()}
    label = lowered.get("status", lowered.get("state"))
    error = lowered.get("error")
    # A failure wins over a URL: the file of a failed job may be incomplete.
    if error not in (None, "", False, {}, []):
        return JobStatus(None, f"the job reported an error (status {safe_code(label)})")
    if isinstance(label, str) and label.strip().upper() in FAILED_STATES:
        return JobStatus(None, f"the job reported status {safe_code(label.strip())}")
    url = lowered.get("signedurl")
    return JobStatus(url if isinstance(url, str) and url.strip() else None, None)


class ExportApi:
    """The three calls of an export, with the run's sessions and timings; ``requests`` counts calls made."""

    def __init__(self, base_url: str, api_key: str, session: Any, download_session: Any, timeout: Any,
                 download_seconds: float, poll_interval: float, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.base_url = base_url
        self._key = api_key
        self.session = session
        self.download_session = download_session
        self.timeout = timeout
        self.download_seconds = download_seconds
        self.poll_interval = max(poll_interval, 0.001)
        self.sleep = sleep
        self.clock = clock
        self.requests = 0
        self.polls = 0

    # -- the API ----------------------------------------------------------------------------------------

    def create(self, date_start: int, date_end: int) -> str:
        """Makes an export job for ``[date_start, date_end]`` (epoch values in the unit the caller chose)."""
        response = self._call("POST", EXPORT_PATH, {"dateStart": date_start, "dateEnd": date_end}, "export request")
        if 200 <= response.status_code < 300:
            job_id = parse_job_id(response.text)
            if job_id is None:
                # A proxy's page, or a changed API: nothing to poll.
                msg = f"the export request answered HTTP {response.status_code} without a recognisable job id"
                raise RetriableSourceError(msg, response.status_code)
            return job_id
        if response.status_code == 400:
            msg = f"the export refused the date range (HTTP 400 {self._code(response)})"
            raise WrongRange(msg, 400, self._code(response))
        raise self._error(response, "export request")

    def poll(self, job_id: str) -> JobStatus:
        from urllib.parse import quote

        self.polls += 1
        response = self._call("GET", JOB_PATH + quote(job_id, safe=""), None, "job status request")
        if response.status_code == 404:
            msg = "the export job is no longer known to the API (HTTP 404)"
            raise JobGone(msg, 404)
        if not 200 <= response.status_code < 300:
            raise self._error(response, "job status request")
        try:
            answer = response.json()
        except ValueError:
            msg = f"the job status request answered HTTP {response.status_code} with a body that is not JSON"
            raise RetriableSourceError(msg, response.status_code) from None
        return job_status(answer)

    def wait(self, job_id: str, timeout_seconds: float) -> str:
        """Polls the job until it has a signed URL, waiting a little longer each time; returns the URL.

        Raises JobFailed, JobGone, or JobTimedOut once ``timeout_seconds`` have passed in this call.
        """
        deadline = self.clock() + timeout_seconds
        delay = self.poll_interval
        while True:
            self.sleep(max(0.0, min(delay, deadline - self.clock())))
            status = self.poll(job_id)
            if status.failed is not None:
                msg = f"export job {safe_code(job_id)} failed: {status.failed}"
                raise JobFailed(msg)
            if status.url is not None:
                return status.url
            if self.clock() >= deadline:
                raise JobTimedOut(job_id)
            delay = min(delay * POLL_GROWTH, max(self.poll_interval, MAX_POLL_WAIT))

    def download(self, url: str) -> ExportFile:
        """Fetches the file at a signed URL, with no credential of any kind, and checks it is whole."""
        import requests

        if not url.lower().startswith("https://"):
            msg = "the job's signed URL is not https; refusing to download the audit trail in clear text"
            raise FatalSourceError(msg)
        self.requests += 1
        with Deadline(self.download_seconds) as deadline:
            try:
                response = self.download_session.get(url, stream=True, timeout=self.timeout,
                                                     headers={"Accept": "text/csv, */*"})
            except requests.RequestException as exc:
                why = "no complete answer in time" if deadline.expired else type(exc).__name__
                msg = f"the download of the export failed ({why})"
                raise RetriableSourceError(msg) from None
            try:
                if response.status_code != 200:
                    raise self._download_error(response)
                length = response.headers.get("Content-Length")
                expected = int(length) if length is not None and length.strip().isdigit() else None
                spool = spool_body(response.raw.stream(READ_BYTES, decode_content=True), expected, response.raw.tell)
            except IncompleteExport as exc:
                why = "no complete answer in time" if deadline.expired else str(exc)
                msg = f"the export file is incomplete: {why}; it is downloaded again"
                raise RetriableSourceError(msg) from None
            finally:
                response.close()
            if deadline.expired:
                spool.close()
                msg = f"the download of the export took longer than {self.download_seconds:g} s"
                raise RetriableSourceError(msg)
        try:
            return read_export(spool)
        except IncompleteExport as exc:
            msg = f"the export file is incomplete: {exc}; it is downloaded again"
            raise RetriableSourceError(msg) from None
        except ExportFormatError as exc:
            raise FatalSourceError(str(exc)) from None

    def close(self) -> None:
        self.session.close()
        self.download_session.close()

    # -- helpers ----------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: Optional[Dict[str, Any]], what: str) -> Any:
        import requests

        self.requests += 1
        headers = {"x-api-key": self._key, "Accept": "application/json"}
        try:
            response = self.session.request(method, self.base_url + path, json=body, headers=headers,
                                            timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            msg = f"the {what} to {self.base_url} failed ({type(exc).__name__})"
            raise RetriableSourceError(msg) from None
        if 300 <= response.status_code < 400:
            msg = (f"the {what} was redirected (HTTP {response.status_code}); base_url must be the environment's "
                   "own address, e.g. https://<org>.resolver.com (the API key is not sent anywhere else)")
            raise FatalSourceError(msg, response.status_code)
        return response

    def _code(self, response: Any) -> str:
        """A short error code from an API error body, if it has one (never its message text)."""
        try:
            body = response.json()
        except ValueError:
            return "-"
        if not isinstance(body, dict):
            return "-"
        return safe_code(body.get("code") or body.get("errorCode") or body.get("error"), (self._key,))

    def _error(self, response: Any, what: str) -> Exception:
        status = response.status_code
        code = self._code(response)
        if status == 401:
            msg = f"Resolver refused the API key (HTTP 401 {code} on the {what}): check api_key"
            return AuthenticationError(msg, status, code)
        if status == 403:
            msg = (f"Resolver refused the {what} (HTTP 403 {code}): check api_key, and that the key's user has the "
                   "Administrator permission the User Audit Trail needs")
            return AuthenticationError(msg, status, code)
        if status == 429:
            return RateLimited(f"the {what} was rate limited (HTTP 429 {code})", retry_after(response), RATE_GROUP,
                               code)
        if status >= 500:
            return RetriableSourceError(f"the {what} failed (HTTP {status} {code})", status, code)
        if status == 404:
            msg = f"the {what} found no Resolver API (HTTP 404 {code}): check base_url"
            return FatalSourceError(msg, status, code)
        return FatalSourceError(f"the {what} was refused (HTTP {status} {code})", status, code)

    def _download_error(self, response: Any) -> Exception:
        status = response.status_code
        try:
            head = response.raw.read(4096, decode_content=True) or b""
        except Exception:  # noqa: BLE001 - an error body cut or stalled says nothing more than its status
            head = b""
        match = _XML_CODE.search(head)
        code = safe_code(match.group(1).decode("utf-8", "replace"), (self._key,)) if match else "-"
        if status in (403, 404, 410):
            return UrlRefused(f"the object store refused the signed URL (HTTP {status} {code})", status, code)
        if status == 429 or (status == 503 and code == "SlowDown"):
            return RateLimited(f"the download was rate limited (HTTP {status} {code})", retry_after(response),
                               RATE_GROUP, code)
        if status >= 500:
            return RetriableSourceError(f"the download failed (HTTP {status} {code})", status, code)
        return FatalSourceError(f"the object store refused the download (HTTP {status} {code})", status, code)


def request_range(unit_ms: int, start_ms: int, end_ms: int) -> Tuple[int, int]:
    """``dateStart``/``dateEnd`` in a unit of ``unit_ms`` that cover ``[start_ms, end_ms]`` whether either bound is
    inclusive or exclusive and whether the API compares rows at the unit's precision or finer: one unit wider on
    each side (the extra rows are dropped by time). Times before 1970 are negative, as a Unix timestamp is: a
    bound clamped at 0 would skip them and still call the window complete."""
    return start_ms // unit_ms - 1, end_ms // unit_ms + 1
