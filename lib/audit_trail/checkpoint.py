"""Checkpoint state (a plain, versioned JSON dict) and where it is kept.

The state says how far collection is complete (``watermark_ms``: every record up to it has been
written) and which records were already written near and beyond that point (``seen``: the ids written
in each recent window, by the window's end). Re-reading an overlap before the watermark and dropping
seen ids makes each poll boundary-safe whatever the API's sort order and bound inclusivity, and
``seen`` grows during a window so that a crash between pages replays nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Protocol, Set

from .errors import CheckpointError

STATE_VERSION = 1


@dataclass
class CheckpointState:
    watermark_ms: Optional[int] = None
    # Window end -> ids written in that window: kept while a later read can still reach the window.
    # Grouped because every id of a window shares its end: a backfill holds ten thousand of them.
    seen: Dict[int, Set[str]] = field(default_factory=dict)
    saved_at: float = 0.0
    # Ids of windows ending before this were forgotten: no read may start earlier, or it would repeat them.
    seen_floor_ms: Optional[int] = None
    # The newest record time written: a safe restart point if the wall clock was ahead in an earlier run.
    high_ms: Optional[int] = None

    def to_dict(self) -> Dict[str, Any]:
        seen = {str(end): list(ids) for end, ids in self.seen.items()}
        return {"version": STATE_VERSION, "watermark_ms": self.watermark_ms, "seen": seen,
                "saved_at": self.saved_at, "seen_floor_ms": self.seen_floor_ms, "high_ms": self.high_ms}

    @classmethod
    def from_dict(cls, data: Any) -> CheckpointState:
        if not isinstance(data, dict):
            msg = f"checkpoint is not a JSON object: {type(data).__name__}"
            raise CheckpointError(msg)
        version = data.get("version")
        if version != STATE_VERSION:
            msg = f"checkpoint version {version!r} is not supported (expected {STATE_VERSION}); reset the checkpoint"
            raise CheckpointError(msg)
        watermark = data.get("watermark_ms")
        seen = data.get("seen") or {}
        if (watermark is not None and not isinstance(watermark, int)) or not isinstance(seen, dict):
            msg = "checkpoint fields have the wrong types; reset the checkpoint"
            raise CheckpointError(msg)
        floor, high = data.get("seen_floor_ms"), data.get("high_ms")
        if any(v is not None and not isinstance(v, int) for v in (floor, high)):
            msg = "checkpoint fields have the wrong types; reset the checkpoint"
            raise CheckpointError(msg)
        try:
            groups = {int(end): set(map(str, ids)) for end, ids in seen.items()}
        except (TypeError, ValueError):
            msg = "checkpoint ids have the wrong shape; reset the checkpoint"
            raise CheckpointError(msg) from None
        return cls(watermark_ms=watermark, seen=groups,
                   saved_at=float(data.get("saved_at") or 0.0), seen_floor_ms=floor, high_ms=high)

    def has_seen(self, record_id: str) -> bool:
        return any(record_id in ids for ids in self.seen.values())

    def remember(self, record_id: str, window_end_ms: int) -> None:
        self.seen.setdefault(window_end_ms, set()).add(record_id)

    def seen_count(self) -> int:
        return sum(len(ids) for ids in self.seen.values())

    def complete_window(self, end_ms: int, overlap_ms: int) -> None:
        """Marks everything up to ``end_ms`` collected and forgets ids the next overlap cannot return."""
        if self.watermark_ms is None or end_ms > self.watermark_ms:
            self.watermark_ms = end_ms
        floor = self.watermark_ms - overlap_ms
        self.seen = {end: ids for end, ids in self.seen.items() if end >= floor}
        self.seen_floor_ms = floor if self.seen_floor_ms is None else max(self.seen_floor_ms, floor)


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
                handle.write(state_json)
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


class KVStoreCheckpointStore:
    """The KV store collection declared in collections.conf, one document per input.

    Documents have solnlib's KVStoreCheckpointer format (``_key``, and ``state`` as a JSON string), so
    either can read what the other wrote. The calls go through splunklib's REST binding rather than
    KVStoreCheckpointer itself because that opens its own TLS session (loading the CA store) and adds a
    collection lookup to every run, which dominated an idle poll; and where the KV store is disabled it
    retries for the better part of a minute, where one failed request is enough to fall back to a file.
    """

    def __init__(self, collection: str, session_key: str, app: str, scheme: str, host: str, port: int) -> None:
        from urllib.parse import quote

        from splunklib import binding

        self._http_error = binding.HTTPError
        self._context = binding.Context(scheme=scheme, host=host, port=port, token=session_key, owner="nobody",
                                        app=app)
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
        document = json.loads(response.body.read().decode("utf-8"))
        return json.loads(document["state"])

    def save(self, key: str, state_json: str) -> None:
        from splunklib.binding import UrlEncoded

        body = json.dumps([{"_key": key, "state": state_json}], separators=(",", ":"))
        self._context.post(UrlEncoded(self._path + "batch_save", skip_encode=True),
                           headers=[("Content-Type", "application/json")], body=body)

    def delete(self, key: str) -> None:
        try:
            self._context.delete(self._document(key))
        except self._http_error as exc:
            if exc.status != 404:
                raise


class ResilientCheckpointStore:
    """The KV store when it answers, plus ``checkpoint_dir`` always; on load the newer copy wins.

    Heavy forwarders often run with the KV store disabled, so its failure is a warning, not an error.
    Writing the file on every save (it is cheap) means an input whose KV store comes and goes never
    rewinds to an older copy, which would repeat records.
    """

    def __init__(self, primary_factory: Any, fallback: FileCheckpointStore, logger: logging.Logger) -> None:
        self._primary_factory = primary_factory
        self._primary: Optional[CheckpointStore] = None
        self._primary_failed = False
        self._fallback = fallback
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
                operation, type(exc).__name__, self._fallback.directory,
            )
        self._primary_failed = True
        self._primary = None

    def load(self, key: str) -> Optional[Dict[str, Any]]:
        candidates = []
        kv = self._kv()
        if kv is not None:
            try:
                candidates.append(kv.load(key))
            except Exception as exc:  # noqa: BLE001
                self._kv_failed("load", exc)
        try:
            candidates.append(self._fallback.load(key))
        except CheckpointError as exc:
            if not any(isinstance(c, dict) for c in candidates):
                raise
            self._logger.warning("action=checkpoint_file_unreadable error=%s using=kvstore", type(exc).__name__)
        found = [c for c in candidates if isinstance(c, dict)]
        if not found:
            return None
        return max(found, key=lambda c: float(c.get("saved_at") or 0.0))

    def save(self, key: str, state_json: str) -> None:
        self._fallback.save(key, state_json)
        kv = self._kv()
        if kv is not None:
            try:
                kv.save(key, state_json)
            except Exception as exc:  # noqa: BLE001
                self._kv_failed("save", exc)

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

    def commit(self) -> None:
        # The stamp must grow even if the wall clock steps back, or the resilient store's
        # newer-wins rule would resurrect an older copy.
        self.state.saved_at = max(self._clock(), self.state.saved_at + 0.001)
        # Serialised once for both copies: with a backfill's ids this text is the run's largest object.
        # (One dumps call: json.dump would stream through the pure-Python encoder, many times slower.)
        self._store.save(self.key, json.dumps(self.state.to_dict(), separators=(",", ":")))
