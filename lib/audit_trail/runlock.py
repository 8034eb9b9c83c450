"""One run per input at a time: an exclusive, non-blocking lock on a file in splunkd's checkpoint_dir.

A run that overlaps the next interval, or a restart while a run is still going, would otherwise collect the
same records twice. The lock is the operating system's (``flock`` on POSIX, ``msvcrt.locking`` on Windows),
so it goes away with the process that held it, however that process ended: no stale lock to clean up.
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import Optional

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt


def lock_path(directory: str, key: str) -> str:
    """The lock file of ``key`` in ``directory``: readable, and distinct for keys that read alike."""
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", key)[:80]
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return os.path.join(directory, f"{readable}.{digest}.lock")


class RunLock:
    """An exclusive lock for one input's runs.

    ``try_acquire()`` returns True when this process now holds the lock, False when another process (or
    another RunLock object) holds it; it never waits. As a context manager::

        with RunLock(checkpoint_dir, key) as acquired:
            if not acquired:
                ...  # another run of this input is in progress: log and skip

    The file is left in place when released: removing it would let two processes lock two different files.
    Errors creating it (a missing or read-only directory) are raised as ``OSError``, not taken for "busy".
    """

    def __init__(self, directory: str, key: str) -> None:
        self.path = lock_path(directory, key)
        self._fd: Optional[int] = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        # O_CREAT without O_TRUNC: truncating would disturb the holder's diagnostics; the descriptor is not
        # inherited by child processes (Python's default), so no child can keep the lock alive.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            locked = _lock(fd)
        except BaseException:
            os.close(fd)
            raise
        if not locked:
            os.close(fd)
            return False
        self._fd = fd
        _note_holder(fd)
        return True

    def release(self) -> None:
        """Releases the lock if held; safe to call more than once."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            _unlock(fd)
        finally:
            os.close(fd)

    def holder(self) -> Optional[int]:
        """The process id the current holder wrote into the file, if it can be read (best effort)."""
        try:
            with open(self.path, encoding="ascii") as file:
                text = file.read(32).strip()
        except (OSError, ValueError):
            return None
        return int(text) if text.isdigit() else None

    def __enter__(self) -> bool:
        return self.try_acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def _lock(fd: int) -> bool:
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    # Windows: lock the file's first byte (the region may lie beyond the end of the file).
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except PermissionError:
        return False
    except OSError as exc:
        if exc.errno in (13, 36):  # EACCES, EDEADLOCK: locked by another process
            return False
        raise
    return True


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return
    os.lseek(fd, 0, os.SEEK_SET)
    msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


def _note_holder(fd: int) -> None:
    # For the log line of a run that finds the lock taken; the lock itself does not depend on it.
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, str(os.getpid()).encode("ascii"))
    except OSError:
        pass
