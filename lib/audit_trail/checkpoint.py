"""Checkpoint state (a plain, versioned JSON dict) and where it is kept.

The state says how far collection is complete (``watermark_ms``: every record up to it has been
written) and how many copies of each record were written near and beyond that point. Re-reading an
overlap before the watermark and writing only the copies beyond those makes each poll boundary-safe
whatever the API's order, bounds and resolution, and the counts grow with every page, so a crash
between pages replays nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Protocol

from .errors import CheckpointError
from .logs import quoted

STATE_VERSION = 2
# Keys are grouped by the minute their record's time falls in: pruning drops whole groups, and a backfill's
# checkpoint stays one small list per minute instead of one entry per record.
BUCKET_MS = 60_000
# A checkpoint goes to its stores in slices of this many characters: a 50,000-key backfill's is megabytes, and
# a whole encoded (and, for the KV store, escaped) copy of it would be one more such object per store.
SLICE_CHARS = 1 << 18
# Keys that completing the window being read forgets anyway share a bucket per hour: a backfill spread over
# months would otherwise keep one list per record, in memory and in every checkpoint it saves.
COARSE_BUCKET_MS = 3_600_000


def bucket_of(time_ms: int, forgotten_before_ms: Optional[int] = None) -> int:
    """The bucket of a key whose record time is ``time_ms``: its minute, or, when its whole hour lies before
    ``forgotten_before_ms``, that hour, labelled by its last minute. Pruning compares labels, so a key is never
    forgotten earlier than its own minute would be."""
    if forgotten_before_ms is not None:
        last_minute = time_ms - time_ms % COARSE_BUCKET_MS + COARSE_BUCKET_MS - BUCKET_MS
        if last_minute + BUCKET_MS <= forgotten_before_ms:
            return last_minute
    return time_ms - time_ms % BUCKET_MS


@dataclass
class CheckpointState:
    """How far collection is complete, and how many copies of each record key were written near it.

    ``watermark_ms``: every record up to it has been written. ``counts``: key -> copies written, for records
    a later read may return again (records without ids are keyed by content, and identical rows are genuine
    repeats, so this is a multiset). ``buckets``: the minute each key's record time lies in (the window's end
    for a record without a time), which says when no later read can return it.
    ``seen_floor_ms``: keys older than this were forgotten, so no read may start earlier.
    ``high_ms``: the newest record time written, a safe restart point if the wall clock ran ahead.
    ``memory``: small JSON values a source keeps across runs (a proven setting, a pending export job).
    """

    watermark_ms: Optional[int] = None
    counts: Dict[str, int] = field(default_factory=dict)
    buckets: Dict[int, List[str]] = field(default_factory=dict)
    saved_at: float = 0.0
    seen_floor_ms: Optional[int] = None
    high_ms: Optional[int] = None
    memory: Dict[str, Any] = field(default_factory=dict)
    # Where a first run started, until a window completes: the next run resumes from the same start.
    first_start_ms: Optional[int] = None

    def to_dict(self) -> Dict[str, Any]:
        """The saved form. Buckets whose keys were each written once share the state's own lists, so serialising
        a backfill's checkpoint does not first copy every key: serialise the result, do not change it."""
        counts = self.counts
        seen = {
            str(bucket): keys if all(counts.get(key, 1) == 1 for key in keys)
            else [key if counts.get(key, 1) == 1 else [key, counts[key]] for key in keys]
            for bucket, keys in self.buckets.items()
        }
        return {"version": STATE_VERSION, "watermark_ms": self.watermark_ms, "seen": seen,
                "saved_at": self.saved_at, "seen_floor_ms": self.seen_floor_ms, "high_ms": self.high_ms,
                "memory": self.memory, "first_start_ms": self.first_start_ms}

    @classmethod
    def from_dict(cls, data: Any) -> CheckpointState:
        """Reads a saved state; version 1 (TA-audit-trail 1.0.0) is carried over unchanged in meaning."""
        if not isinstance(data, dict):
            msg = f"checkpoint is not a JSON object but {type(data).__name__}; {_RESET}"
            raise CheckpointError(msg)
        version = data.get("version")
        if version not in (1, STATE_VERSION):
            msg = f"checkpoint version {version!r} is not supported (expected 1 or {STATE_VERSION}); {_RESET}"
            raise CheckpointError(msg)
        watermark, floor, high = data.get("watermark_ms"), data.get("seen_floor_ms"), data.get("high_ms")
        first_start = data.get("first_start_ms")
        seen = data.get("seen") or {}
        memory = data.get("memory") or {}
        if (any(v is not None and (not isinstance(v, int) or isinstance(v, bool))
                for v in (watermark, floor, high, first_start))
                or not isinstance(seen, dict) or not isinstance(memory, dict)):
            msg = f"checkpoint fields have the wrong types; {_RESET}"
            raise CheckpointError(msg)
        state = cls(watermark_ms=watermark, saved_at=float(data.get("saved_at") or 0.0), seen_floor_ms=floor,
                    high_ms=high, memory=memory, first_start_ms=first_start)
        try:
            # Version 1 grouped ids by the end of the window that wrote them, which is also how long a later
            # read could return them: the same grouping, each id written once.
            for bucket, keys in seen.items():
                group = state.buckets.setdefault(int(bucket), [])
                for item in keys:
                    key, count = (item, 1) if isinstance(item, str) else (str(item[0]), int(item[1]))
                    if key not in state.counts:
                        group.append(key)
                    state.counts[key] = max(count, state.counts.get(key, 0))
        except (TypeError, ValueError, IndexError):
            msg = f"checkpoint keys have the wrong shape; {_RESET}"
            raise CheckpointError(msg) from None
        return state

    def written(self, key: str) -> int:
        """How many copies of ``key`` were written."""
        return self.counts.get(key, 0)

    def remember(self, key: str, copies: int, bucket_ms: int) -> None:
        """Records that ``copies`` copies of ``key`` (whose record time falls in ``bucket_ms``) were written."""
        if key not in self.counts:
            self.buckets.setdefault(bucket_ms, []).append(key)
        self.counts[key] = copies

    def complete_window(self, end_ms: int, overlap_ms: int) -> None:
        """Marks everything up to ``end_ms`` collected and forgets keys no later read can return."""
        if self.watermark_ms is None or end_ms > self.watermark_ms:
            self.watermark_ms = end_ms
        self.first_start_ms = None
        # Measured from the newest record written when that is older: a clock that ran ahead moves the watermark
        # into the future, and the keys of the records it did write must outlive that for the recovery.
        reference = self.watermark_ms if self.high_ms is None else min(self.watermark_ms, self.high_ms)
        floor = reference - overlap_ms
        for bucket in [b for b in self.buckets if b + BUCKET_MS <= floor]:
            for key in self.buckets.pop(bucket):
                self.counts.pop(key, None)
        self.seen_floor_ms = floor if self.seen_floor_ms is None else max(self.seen_floor_ms, floor)


_RESET = "see README 'Checkpoints' to repair or reset it"


def checkpoint_key(scheme: str, input_name: str) -> str:
    """A key safe for KV store URLs and file names, unique per input."""
    raw = f"{scheme}_{input_name}"
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", raw)
    if safe != raw:
        safe += "_" + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:8]
    return safe


class CheckpointStore(Protocol):
    def load(self, key: str) -> Optional[Dict[str, Any]]: ...

    def save(self, key: str, state_json: str) -> None:
        """Stores the state, already serialised once by the caller for every store it goes to."""
        ...

    def delete(self, key: str) -> None: ...


class FileCheckpointStore:
    """One JSON file per input in splunkd's ``checkpoint_dir``, replaced atomically.

    Written here rather than with solnlib's FileCheckpointer, which is deprecated and crashes on keys
    whose base64 form contains a slash.
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def _path(self, key: str) -> str:
        return os.path.join(self.directory, f"{key}.json")

    def load(self, key: str) -> Optional[Dict[str, Any]]:
        try:
            with open(self._path(key), encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            msg = (f"checkpoint file {self._path(key)} is unreadable ({type(exc).__name__}); see README "
                   "'Checkpoints' to reset the input")
            raise CheckpointError(msg) from exc

    def save(self, key: str, state_json: str) -> None:
        os.makedirs(self.directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                for start in range(0, len(state_json), SLICE_CHARS):
                    handle.write(state_json[start:start + SLICE_CHARS])
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self._path(key))
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(key))

    def writable(self) -> Optional[str]:
        """None if a checkpoint can be saved here now, else why not (a full disk, permissions)."""
        try:
            os.makedirs(self.directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".probe.", dir=self.directory)
            try:
                os.write(fd, b"{}")
                os.fsync(fd)
            finally:
                os.close(fd)
                os.unlink(tmp)
        except OSError as exc:
            return f"{type(exc).__name__} errno={exc.errno}"
        return None


class KVStoreCheckpointStore:
    """The KV store collection declared in collections.conf, one document per input.

    Documents have solnlib's KVStoreCheckpointer format (``_key``, and ``state`` as a JSON string), so
    either can read what the other wrote. The calls go through splunklib's REST binding rather than
    KVStoreCheckpointer itself because that opens its own TLS session (loading the CA store) and adds a
    collection lookup to every run, which dominated an idle poll; and where the KV store is disabled it
    retries for the better part of a minute, where one failed request is enough to fall back to a file.
    """

    def __init__(self, collection: str, session_key: str, app: str, scheme: str, host: str, port: int,
                 timeout: float = 30.0) -> None:
        from urllib.parse import quote

        from splunklib import binding

        from .http import splunkd_handler

        self._http_error = binding.HTTPError
        # A total deadline on every call: a splunkd that accepts and never answers must not hold the run.
        self._context = binding.Context(handler=splunkd_handler(total_seconds=timeout), scheme=scheme, host=host,
                                        port=port, token=session_key, owner="nobody", app=app)
        self._path = f"storage/collections/data/{quote(collection, safe='')}/"
        self._quote = quote

    def _document(self, key: str) -> Any:
        from splunklib.binding import UrlEncoded

        return UrlEncoded(self._path + self._quote(key, safe=""), skip_encode=True)

    def load(self, key: str) -> Optional[Dict[str, Any]]:
        try:
            response = self._context.get(self._document(key), output_mode="json")
        except self._http_error as exc:
            if exc.status == 404:
                return None
            raise
        raw = response.body.read()
        try:
            state = json.loads(json.loads(raw.decode("utf-8"))["state"])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            # The document exists but cannot be read: an error to fix, never a reason to start over.
            msg = f"the KV store checkpoint document {key!r} is unreadable; {_RESET}"
            raise CheckpointError(msg) from None
        if not isinstance(state, dict):
            msg = f"the KV store checkpoint document {key!r} holds no checkpoint object; {_RESET}"
            raise CheckpointError(msg)
        return state

    def save(self, key: str, state_json: str) -> None:
        from splunklib.binding import UrlEncoded

        # The document [{"_key": key, "state": state_json}], its state escaped slice by slice (escapes never span
        # characters, so the slices join into the one escaped string).
        body = [f'[{{"_key":{json.dumps(key)},"state":"'.encode("ascii"),
                *(json.dumps(state_json[start:start + SLICE_CHARS])[1:-1].encode("ascii")
                  for start in range(0, len(state_json), SLICE_CHARS)),
                b'"}]']
        self._context.post(UrlEncoded(self._path + "batch_save", skip_encode=True),
                           headers=[("Content-Type", "application/json")], body=body)

    def delete(self, key: str) -> None:
        try:
            self._context.delete(self._document(key))
        except self._http_error as exc:
            if exc.status != 404:
                raise


class ResilientCheckpointStore:
    """The KV store when it answers, plus a file in ``checkpoint_dir``; on load the newer copy wins.

    Heavy forwarders often run with the KV store disabled, so its absence is a warning, not an error; a save
    succeeds when either store took it, and fails loudly, naming both, when neither did. A copy that exists
    but cannot be read is never taken for "no checkpoint": that would collect everything again.
    """

    def __init__(self, primary_factory: Callable[[], CheckpointStore], fallback: FileCheckpointStore,
                 logger: Any) -> None:
        self._primary_factory = primary_factory
        self._primary: Optional[CheckpointStore] = None
        self._primary_failed = False
        self._fallback = fallback
        self._file_failed: Optional[str] = None
        self._logger = logger

    def _kv(self) -> Optional[CheckpointStore]:
        if self._primary is None and not self._primary_failed:
            try:
                self._primary = self._primary_factory()
            except Exception as exc:  # noqa: BLE001 - any KV store failure means "use the file"
                self._kv_failed("open", exc)
        return self._primary

    def _kv_failed(self, operation: str, exc: BaseException) -> None:
        if not self._primary_failed:
            self._logger.warning(
                "action=kvstore_unavailable operation=%s error=%s fallback=checkpoint_dir dir=%s",
                operation, type(exc).__name__, quoted(self._fallback.directory),
            )
        self._primary_failed = True
        self._primary = None

    def load(self, key: str) -> Optional[Dict[str, Any]]:
        candidates: List[Dict[str, Any]] = []
        unreadable: List[CheckpointError] = []
        kv = self._kv()
        if kv is not None:
            try:
                found = kv.load(key)
                if found is not None:
                    candidates.append(found)
            except CheckpointError as exc:
                unreadable.append(exc)
            except Exception as exc:  # noqa: BLE001
                self._kv_failed("load", exc)
        try:
            found = self._fallback.load(key)
            if found is not None:
                candidates.append(found)
        except CheckpointError as exc:
            unreadable.append(exc)
        if unreadable:
            if not candidates:
                raise unreadable[0]
            for problem in unreadable:
                self._logger.warning("action=checkpoint_copy_unreadable using=other_copy error=%s",
                                     quoted(str(problem)))
        if not candidates:
            return None
        return max(candidates, key=lambda c: float(c.get("saved_at") or 0.0))

    def probe(self) -> None:
        """Raises CheckpointError unless at least one store can take a save now (checked before any event)."""
        self._file_failed = self._fallback.writable()
        if self._file_failed is None or self._kv() is not None:
            if self._file_failed is not None:
                self._warn_file(self._file_failed)
            return
        msg = (f"neither checkpoint store can be written: the KV store is unavailable and checkpoint_dir "
               f"{self._fallback.directory} is not writable ({self._file_failed}); free disk space or fix its "
               "permissions, or enable the KV store")
        raise CheckpointError(msg)

    def _warn_file(self, why: str) -> None:
        self._logger.warning("action=checkpoint_dir_unwritable dir=%s error=%s using=kvstore fix=%s",
                             quoted(self._fallback.directory), quoted(why),
                             quoted("free disk space or fix the directory's permissions"))

    def save(self, key: str, state_json: str) -> None:
        file_error: Optional[str] = None
        try:
            self._fallback.save(key, state_json)
            self._file_failed = None
        except OSError as exc:
            file_error = f"{type(exc).__name__} errno={exc.errno}"
            if self._file_failed is None:
                self._warn_file(file_error)
            self._file_failed = file_error
        kv_error: Optional[str] = None
        kv = self._kv()
        if kv is None:
            kv_error = "unavailable"
        else:
            try:
                kv.save(key, state_json)
            except Exception as exc:  # noqa: BLE001
                kv_error = type(exc).__name__
                self._kv_failed("save", exc)
        if file_error is not None and kv_error is not None:
            msg = (f"the checkpoint was saved nowhere: checkpoint_dir {self._fallback.directory} failed "
                   f"({file_error}) and the KV store failed ({kv_error}); free disk space or fix the directory, "
                   "or enable the KV store")
            raise CheckpointError(msg)

    def delete(self, key: str) -> None:
        kv = self._kv()
        if kv is not None:
            try:
                kv.delete(key)
            except Exception as exc:  # noqa: BLE001
                self._kv_failed("delete", exc)
        self._fallback.delete(key)


class Checkpoint:
    """The state of one input bound to its store; ``commit`` stamps and persists it."""

    def __init__(self, store: CheckpointStore, key: str, clock: Any = time.time) -> None:
        self._store = store
        self.key = key
        self._clock = clock
        raw = store.load(key)
        self.state = CheckpointState.from_dict(raw) if raw is not None else CheckpointState()
        self.first_run = raw is None
        self.upgraded_from = raw.get("version") if raw is not None and raw.get("version") != STATE_VERSION else None

    def probe(self) -> None:
        """Raises CheckpointError if no save could succeed now; a run checks this before its first event."""
        probe = getattr(self._store, "probe", None)
        if probe is not None:
            probe()

    def commit(self) -> None:
        # The stamp must grow even if the wall clock steps back, or the resilient store's
        # newer-wins rule would resurrect an older copy.
        self.state.saved_at = max(self._clock(), self.state.saved_at + 0.001)
        # Serialised once for both copies: with a backfill's ids this text is the run's largest object.
        # (One dumps call: json.dump would stream through the pure-Python encoder, many times slower.)
        self._store.save(self.key, json.dumps(self.state.to_dict(), separators=(",", ":")))
