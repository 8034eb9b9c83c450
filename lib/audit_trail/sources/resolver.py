"""Resolver Core User Audit Trail: export jobs, each the newest rows of a date range, walked back past the cap.

Facts this module relies on (help.resolver.com) and the readings it survives where the docs are silent:
- The API is at ``https://<org>.resolver.com/api``; an API key goes in the ``x-api-key`` header, and the User
  Audit Trail needs a user with the Administrator permission.
- An export returns at most the 50,000 most recent rows of its range, newest first; the rest is reached by a
  next export ending at the oldest row's time, so the oldest unit of time comes back and is counted afresh.
- ``dateStart``/``dateEnd`` are a "Unix timestamp": seconds or milliseconds is not said. ``auto`` proves the unit
  once (rows that come back lie inside the range as read in that unit, and could not in the other; or the other
  unit is refused with a 400) and remembers it; until then both are tried. Whether the bounds are inclusive,
  and compared at the unit's precision, is not said either: requests are one unit wider on each side and rows
  are filtered back by time.
- Rows carry no id (the engine keys them by content; identical rows are genuine repeats). Their time is UTC,
  to the second or to the millisecond, as the file shows it.
- Events show up "after a few minutes of processing": the settle time defaults to 15 minutes.
- An export job may outlast a run: the walk's progress and a job still running are kept in the checkpoint, and
  the next run resumes polling that job and walks on from where the last run stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Tuple

from ..config import https_url, integer, required, text
from ..errors import (
    AuthenticationError,
    ConfigError,
    FatalSourceError,
    RateLimited,
    RetriableSourceError,
    WorkPending,
    safe_code,
)
from ..pacing import RetryPolicy
from ..paging import walk_back
from ..source import AT_CAP_CONTINUE, DESCENDING, SECOND_MS, TOTALS_ABSENT, Capabilities, Page, Window
from .resolver_csv import ExportFile, time_of
from .resolver_jobs import ExportApi, JobFailed, JobGone, JobTimedOut, UrlRefused, WrongRange, request_range

if TYPE_CHECKING:
    from ..modinput import BuildContext, InputSpec

SCHEME = "resolver_audit"
SOURCETYPE = "resolver:audit"
EXAMPLE_URL = "https://<org>.resolver.com"
MAX_RESULTS = 50_000
PROCESSING_DELAY_SECONDS = 900
DEFAULT_JOB_TIMEOUT = 900
UNITS = {"seconds": SECOND_MS, "milliseconds": 1}
EPOCH_UNITS = ("auto", *UNITS)
# A job still running after this many job timeouts since it was made is given up for a new one.
ABANDON_AFTER_TIMEOUTS = 4
# Polls of a job that a refused signed URL may lead to (fresh URLs, then a new job) before the batch is retried.
URL_ATTEMPTS = 4
RETRY = RetryPolicy(default_retry_after=30.0)
SECRET_FIELDS = ("api_key",)


class ExportJobPending(WorkPending):
    """An export job did not finish within job_timeout_seconds; the next run resumes polling it."""


@dataclass(frozen=True)
class ResolverSettings:
    base_url: str
    api_key: str
    epoch_unit: str
    job_timeout_seconds: int

    @classmethod
    def parse(cls, params: Dict[str, str]) -> ResolverSettings:
        required(params, "base_url", f"the address of your Resolver environment, e.g. {EXAMPLE_URL}")
        unit = (text(params, "epoch_unit", "auto") or "auto").lower()
        if unit not in EPOCH_UNITS:
            msg = f"must be auto, seconds or milliseconds, got {unit!r}"
            raise ConfigError("epoch_unit", msg)  # noqa: EM101 - the field name, not the message
        return cls(
            base_url=https_url(params, "base_url", EXAMPLE_URL),
            api_key=required(params, "api_key", "create an API key for a user with the Administrator permission"),
            epoch_unit=unit,
            job_timeout_seconds=integer(params, "job_timeout_seconds", DEFAULT_JOB_TIMEOUT, 1, 86400),
        )


@dataclass(frozen=True)
class _Job:
    """An export job: its id, the request it was made with (in its unit), and when it was made (epoch s)."""

    job_id: str
    unit: str
    date_start: int
    date_end: int
    created: float

    def to_memory(self) -> Dict[str, Any]:
        return {"id": self.job_id, "unit": self.unit, "start": self.date_start, "end": self.date_end,
                "created": self.created}

    @classmethod
    def from_memory(cls, value: Any) -> Optional[_Job]:
        try:
            job = cls(str(value["id"]), str(value["unit"]), int(value["start"]), int(value["end"]),
                      float(value["created"]))
        except (TypeError, KeyError, ValueError):
            return None
        return job if job.unit in UNITS else None


@dataclass(frozen=True)
class _Cursor:
    """Ranges of the window still to read, each walked back from its end (the first is read next), and a job
    already made for the next batch (resumed from an earlier run)."""

    todo: Tuple[Tuple[int, int], ...]
    job: Optional[_Job] = None


@dataclass
class _Batch:
    export: ExportFile
    unit: Optional[str]  # the epoch unit the rows were asked for in (None: not known, the export was empty)
    date_start: int
    date_end: int


class ResolverSource:
    """The User Audit Trail export, walked back batch by batch; the cursor is the ranges still to read."""

    name = "resolver"
    sourcetype = SOURCETYPE
    # Free-text before/after values go last in each event (within Splunk's extraction limits the identifying
    # columns come first); every other column keeps the export's order.
    bulky_fields: Tuple[str, ...] = ("Previous Value", "New Value")
    pages_are_batches = True  # one page is one export job: the summary says how many a window needed

    def __init__(self, settings: ResolverSettings, api: ExportApi, max_results: int = MAX_RESULTS,
                 wall_clock: Any = time.time) -> None:
        self.settings = settings
        self.api = api
        self.max_results = max_results
        self.page_size = max_results
        self.wall_clock = wall_clock
        self._memory: Dict[str, Any] = {}
        self._job: Optional[_Job] = None  # the job of the batch being read; a retry of the batch reuses it
        self._url: Optional[str] = None  # its signed URL, once known
        self._open: Optional[ExportFile] = None
        self._time_column: Optional[str] = None
        self._current: Tuple[Any, Optional[int]] = (None, None)
        self.capabilities = self._capabilities()

    # -- what the engine plans with ------------------------------------------------------------------------

    @property
    def memory(self) -> Dict[str, Any]:
        return self._memory

    @memory.setter
    def memory(self, value: Dict[str, Any]) -> None:
        # The engine hands over what earlier runs learnt (the epoch unit, the rows' resolution) before it reads
        # the capabilities, which depend on it.
        self._memory = value
        self.capabilities = self._capabilities()

    def _capabilities(self) -> Capabilities:
        unit = self._unit()
        bound = UNITS[unit] if unit else SECOND_MS
        # Milliseconds are trusted only where both the bounds and the last file had them.
        resolution = 1 if bound == 1 and self.memory.get("time_resolution_ms") == 1 else SECOND_MS
        return Capabilities(bound_resolution_ms=bound, time_resolution_ms=resolution, order=DESCENDING,
                            totals=TOTALS_ABSENT, max_results=self.max_results, at_cap=AT_CAP_CONTINUE,
                            max_page_size=self.max_results, retention_seconds=None,
                            processing_delay_seconds=float(PROCESSING_DELAY_SECONDS))

    def _unit(self) -> Optional[str]:
        if self.settings.epoch_unit != "auto":
            return self.settings.epoch_unit
        remembered = self.memory.get("epoch_unit")
        return remembered if remembered in UNITS else None

    # -- paging ----------------------------------------------------------------------------------------------

    def fetch(self, window: Window, cursor: Any, page_size: int) -> Page:
        self.api.requests = 0
        if self._open is not None:
            self._open.close()
            self._open = None
        current: _Cursor = cursor if isinstance(cursor, _Cursor) else self._start(window)
        low, high = current.todo[0]
        unit = self._unit()
        try:
            batch = self._detect(low, high, current.job) if unit is None else self._batch(unit, low, high, current.job)
        except WrongRange as exc:
            if self.settings.epoch_unit != "auto":
                msg = f"{exc} in {unit}: check epoch_unit (auto finds the unit Resolver uses)"
                raise FatalSourceError(msg, 400) from None
            # The unit proven earlier is refused now: forget it, and let the retry find it again.
            self.memory.pop("epoch_unit", None)
            msg = f"{exc} in the {unit} proven earlier; the epoch unit is found again"
            raise RetriableSourceError(msg, 400) from None
        except _StillRunning as pending:
            self._keep_walk(window, current.todo, pending.job)
            msg = (f"export job {safe_code(pending.job.job_id)} was still running after job_timeout_seconds "
                   f"({self.settings.job_timeout_seconds} s); the next run resumes polling it")
            raise ExportJobPending(msg) from None
        export = self._open = batch.export
        if export.rows and export.oldest_ms is None:
            export.close()
            msg = "no row of the export has a time this add-on can read (expected e.g. 2024-05-01 12:00:00, UTC)"
            raise FatalSourceError(msg)
        if export.rows:
            self.memory["time_resolution_ms"] = 1 if export.millis else SECOND_MS
        self._time_column = export.time_column
        # The walk goes back in whole units of what both the request and the rows can tell apart.
        unit_ms = max(UNITS[batch.unit] if batch.unit else SECOND_MS, 1 if export.millis else SECOND_MS)
        claim = Window(_floor(low, unit_ms), _floor(high, unit_ms) + unit_ms - 1)
        oldest = _floor(export.oldest_ms, unit_ms) if export.oldest_ms is not None else None
        next_end, _, unreachable = walk_back(Window(low, high), high, high, oldest, export.rows, self.max_results,
                                             unit_ms)
        todo = (((low, next_end),) if next_end is not None else ()) + current.todo[1:]
        return Page(records=self._records(export, claim, window, todo),
                    next_cursor=_Cursor(todo) if todo else None,
                    # This batch lists its whole range again; rows outside it are another batch's, and dropped.
                    relisted=claim, unreachable=unreachable, requests=self.api.requests)

    def _records(self, export: ExportFile, claim: Window, window: Window,
                 todo: Tuple[Tuple[int, int], ...]) -> Iterator[Dict[str, str]]:
        yield from export.records(keep=lambda at: at is None or claim.contains(at), seen=self._seen)
        # Every row of the batch has been handed over: the engine writes and checkpoints them before it asks for
        # the next page, and this progress is saved with that checkpoint.
        self._open = None
        self._keep_walk(window, todo, None)

    def _seen(self, row: Dict[str, str], time_ms: Optional[int]) -> None:
        self._current = (row, time_ms)

    def _start(self, window: Window) -> _Cursor:
        """The ranges a fresh read of ``window`` needs: what an unfinished walk of it left, plus what is new."""
        walk = self.memory.get("walk")
        todo: List[Tuple[int, int]] = []
        top = None
        job = None
        if isinstance(walk, dict) and walk.get("start") == window.start_ms:
            try:
                top = int(walk["top"])
                todo = [(int(low), int(high)) for low, high in walk["todo"]]
            except (KeyError, TypeError, ValueError):
                todo, top = [], None
            if top is None or top > window.end_ms or any(not window.start_ms <= lo <= hi <= top for lo, hi in todo):
                todo, top = [], None
            job = _Job.from_memory(walk.get("job")) if top is not None else None
        if top is None:
            return _Cursor(((window.start_ms, window.end_ms),))
        if top < window.end_ms:
            if len(todo) > 1 and todo[-1][1] == top:
                todo[-1] = (todo[-1][0], window.end_ms)  # what earlier runs added, and what is new, in one range
            else:
                todo.append((top + 1, window.end_ms))
        if not todo:
            return _Cursor(((window.start_ms, window.end_ms),))
        if job is not None and not self._resumable(job, todo[0]):
            job = None
        return _Cursor(tuple(todo), job)

    def _resumable(self, job: _Job, first: Tuple[int, int]) -> bool:
        unit = self._unit()
        if unit is not None and job.unit != unit:
            return False
        if request_range(UNITS[job.unit], *first) != (job.date_start, job.date_end):
            return False
        return self.wall_clock() - job.created <= ABANDON_AFTER_TIMEOUTS * self.settings.job_timeout_seconds

    def _keep_walk(self, window: Window, todo: Tuple[Tuple[int, int], ...], job: Optional[_Job]) -> None:
        """Remembers how far the walk of ``window`` got, so that a run that stops early is not redone."""
        if not todo:
            self.memory.pop("walk", None)
            return
        self.memory["walk"] = {"start": window.start_ms, "top": window.end_ms, "todo": [list(r) for r in todo],
                               "job": job.to_memory() if job is not None else None}

    # -- the epoch unit --------------------------------------------------------------------------------------

    def _detect(self, low: int, high: int, job: Optional[_Job]) -> _Batch:
        """Reads ``[low, high]`` in each unit until one is proven; an empty range in both proves nothing."""
        order = ("seconds", "milliseconds")
        if job is not None and job.unit == "milliseconds":
            order = ("milliseconds", "seconds")
        outcome: Dict[str, str] = {}
        empty: Optional[_Batch] = None
        for unit in order:
            try:
                batch = self._batch(unit, low, high, job if job is not None and job.unit == unit else None)
            except WrongRange:
                outcome[unit] = "refused"
                continue
            except BaseException:
                if empty is not None:
                    empty.export.close()
                raise
            export = batch.export
            if not export.rows:
                outcome[unit] = "empty"
                empty = empty or batch
                continue
            scale = UNITS[unit]
            if (export.oldest_ms is not None and export.newest_ms is not None
                    and batch.date_start * scale <= export.oldest_ms
                    and export.newest_ms <= (batch.date_end + 1) * scale - 1):
                self.memory["epoch_unit"] = unit
                if empty is not None:
                    empty.export.close()
                return batch
            outcome[unit] = "outside"
            export.close()
        if set(outcome.values()) == {"refused"}:
            msg = ("the export refused the date range in seconds and in milliseconds (HTTP 400); set epoch_unit, "
                   "or check that base_url is a Resolver environment")
            raise FatalSourceError(msg, 400)
        if "outside" in outcome.values():
            if empty is not None:
                empty.export.close()
            msg = ("the export returned rows outside the date range asked for, read in either epoch unit; its "
                   "times may not be UTC, or it ignores the range: set epoch_unit to the unit Resolver uses")
            raise FatalSourceError(msg)
        if empty is None:  # not reached: each unit was refused, outside or empty
            msg = "the export answered in neither epoch unit"
            raise FatalSourceError(msg)
        if outcome.get(_other(empty.unit or "")) == "refused":
            # The other unit was refused outright: this one is the unit, though the range held no rows.
            self.memory["epoch_unit"] = empty.unit
            return empty
        # Empty whichever unit is right: there is nothing in this range, and the unit is still unknown.
        return _Batch(empty.export, None, empty.date_start, empty.date_end)

    # -- one export ------------------------------------------------------------------------------------------

    def _batch(self, unit: str, low: int, high: int, resumed: Optional[_Job]) -> _Batch:
        """The export of ``[low, high]`` in ``unit``: a job made (or resumed), polled, and its file downloaded."""
        date_start, date_end = request_range(UNITS[unit], low, high)
        job = resumed
        current = self._job
        if job is None and current is not None and (current.unit, current.date_start, current.date_end) == (
                unit, date_start, date_end):
            job = current  # the same batch again after a transient failure: its job is not made twice
        if job is not None and job is not current:
            self._url = None
        if job is None:
            job = self._new_job(unit, date_start, date_end)
        self._job = job
        refused: List[str] = []
        for _ in range(URL_ATTEMPTS):
            if self._url is None:
                try:
                    self._url = self.api.wait(job.job_id, self.settings.job_timeout_seconds)
                except JobGone:
                    job = self._job = self._new_job(unit, date_start, date_end)
                    continue
                except JobTimedOut:
                    raise _StillRunning(job) from None
                except JobFailed:
                    self._job = None  # the retry of the batch makes a new job
                    raise
            if self._url in refused:
                # Asking the job again gave back the URL already refused: only a new job gives a fresh one.
                job = self._job = self._new_job(unit, date_start, date_end)
                self._url = None
                continue
            try:
                export = self.api.download(self._url)
            except UrlRefused:
                refused.append(self._url)
                self._url = None
                continue
            self._job = None
            self._url = None
            return _Batch(export, unit, date_start, date_end)
        msg = "the object store kept refusing the export's signed URLs (HTTP 403/404); the batch is retried"
        raise RetriableSourceError(msg)

    def _new_job(self, unit: str, date_start: int, date_end: int) -> _Job:
        self._url = None
        return _Job(self.api.create(date_start, date_end), unit, date_start, date_end, float(self.wall_clock()))

    # -- records ---------------------------------------------------------------------------------------------

    def record_id(self, record: Dict[str, Any]) -> Optional[str]:
        return None

    def record_time_ms(self, record: Dict[str, Any]) -> Optional[int]:
        row, time_ms = self._current
        if record is row:
            return time_ms
        return time_of(record, self._time_column)

    # -- validation and lifecycle ----------------------------------------------------------------------------

    def check_access(self) -> None:
        """Proves the key and its permission with one export request for the last minute.

        Resolver documents nothing cheaper that needs the same permission (who-am-I proves the key, not the
        Administrator permission the export needs). The job is made but not polled or downloaded.
        """
        now_ms = int(self.wall_clock() * 1000)
        units = [self.settings.epoch_unit] if self.settings.epoch_unit != "auto" else list(UNITS)
        try:
            for unit in units:
                try:
                    self.api.create(*request_range(UNITS[unit], now_ms - 60_000, now_ms))
                    return
                except WrongRange:
                    continue
        except AuthenticationError as exc:
            raise ConfigError("api_key", str(exc)) from None  # noqa: EM101 - the field name, not the message
        except (RateLimited, RetriableSourceError, FatalSourceError) as exc:
            msg = f"{exc}; check base_url, proxy_url and ca_bundle"
            raise ConfigError("base_url", msg) from None  # noqa: EM101 - the field name, not the message
        msg = (f"the export refused a one-minute date range in {' and in '.join(units)} (HTTP 400); "
               + ("set epoch_unit to auto" if self.settings.epoch_unit != "auto" else "check base_url"))
        raise ConfigError("epoch_unit", msg)  # noqa: EM101 - the field name, not the message

    def close(self) -> None:
        if self._open is not None:
            self._open.close()
            self._open = None
        self.api.close()


class _StillRunning(Exception):
    def __init__(self, job: _Job) -> None:
        super().__init__(job.job_id)
        self.job = job


def _floor(value: int, unit_ms: int) -> int:
    return value - value % unit_ms


def _other(unit: str) -> str:
    return "milliseconds" if unit == "seconds" else "seconds"


def _build(context: BuildContext, max_results: int = MAX_RESULTS) -> ResolverSource:
    from ..http import HttpSettings, build_session

    settings = ResolverSettings.parse(context.params)
    policies = context.policies
    common = context.common
    # Downloads get a session of their own: nothing the API session holds (its cookies) goes to the object store.
    download = build_session(HttpSettings(timeout=policies.timeout, proxy_url=common.proxy_url,
                                          ca_bundle=common.ca_bundle, total_seconds=policies.request_deadline))
    api = ExportApi(settings.base_url, settings.api_key, context.session, download, policies.timeout,
                    policies.request_deadline, policies.poll_interval)
    return ResolverSource(settings, api, max_results)


def spec(max_results: int = MAX_RESULTS) -> InputSpec:
    """The ``resolver_audit`` modular input (argument names are a contract with admins' configs).

    ``max_results`` is the export's row cap (50,000, as documented); tests use a smaller one, as the simulator
    does.
    """
    from ..config import Setting
    from ..http import proxy_with_password, split_proxy_password, url_host
    from ..modinput import InputSpec
    from ..secrets import PartialSecret

    return InputSpec(
        scheme=SCHEME,
        title="Resolver User Audit Trail",
        description="Collects the Resolver Core User Audit Trail (users, user groups, roles, API keys and "
                    "impersonations changed) as resolver:audit events, each row exactly once.",
        arguments=(
            Setting("base_url", "Environment URL", f"Your Resolver environment, https only, e.g. {EXAMPLE_URL}",
                    required=True),
            Setting("api_key", "API key", "API key of a user with the Administrator permission; moved to "
                                          "storage/passwords on the first run", required=True),
            Setting("epoch_unit", "Epoch unit", "Unit of the export's dateStart/dateEnd: auto (found once and "
                    "remembered), seconds or milliseconds. Default auto", "auto"),
            Setting("job_timeout_seconds", "Job timeout seconds", "How long a run waits for one export job "
                    f"before the next run resumes it, 1-86400. Default {DEFAULT_JOB_TIMEOUT}",
                    str(DEFAULT_JOB_TIMEOUT), "number"),
        ),
        secret_fields=(*SECRET_FIELDS, "proxy_url"),
        partial_secrets={"proxy_url": PartialSecret(split=split_proxy_password, join=proxy_with_password)},
        defaults={"settle_seconds": str(PROCESSING_DELAY_SECONDS)},
        retry=RETRY,
        build=lambda context: _build(context, max_results),
        destination=lambda params: (url_host(params.get("base_url") or ""),),
    )
