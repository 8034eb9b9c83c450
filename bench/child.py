"""Runs one child process and measures it: wall time, CPU time and peak RSS of that child alone.

CPU time comes from ``os.wait4`` (the child's own usage; ``RUSAGE_CHILDREN`` would add up every child).
Its ``ru_maxrss`` is useless here: Linux folds in the address space the child had before ``exec``, which is
this (large) benchmark process. Peak RSS is therefore the kernel's high-water mark of the child's own
address space (``VmHWM`` in ``/proc/<pid>/status``), read every few milliseconds until the child exits;
being a high-water mark, a read at any time after the peak sees it.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import IO, Dict, List, Optional, Sequence


@dataclass(frozen=True)
class ChildRun:
    returncode: int
    wall_seconds: float
    cpu_seconds: float  # user + system, of the child only
    peak_rss_mib: float
    stdout: bytes
    stderr: bytes


def _high_water_kib(pid: int) -> Optional[int]:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None  # gone, or a zombie whose memory is already released


def _exec_done(pid: int, argv: Sequence[str]) -> bool:
    # Until exec, the child is a copy of this process and reports this process's memory.
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().split(b"\0")[:-1] == [os.fsencode(arg) for arg in argv]
    except OSError:
        return False


def _watch_rss(pid: int, argv: Sequence[str], done: threading.Event, peak: List[int],
               interval: float) -> None:
    while not done.is_set() and not _exec_done(pid, argv):
        done.wait(interval / 4)
    while not done.is_set():
        kib = _high_water_kib(pid)
        if kib is not None:
            peak[0] = max(peak[0], kib)
        done.wait(interval)


def _drain(stream: IO[bytes], chunks: List[bytes]) -> None:
    # Read as splunkd does, continuously, so a full pipe never stalls the child.
    for chunk in iter(lambda: stream.read(65536), b""):
        chunks.append(chunk)


def run_child(argv: Sequence[str], stdin: bytes = b"", env: Optional[Dict[str, str]] = None,
              cwd: Optional[str] = None, timeout: float = 300.0, rss_interval: float = 0.002) -> ChildRun:
    """Runs ``argv`` with ``stdin``, collects its output and returns its measurements.

    Raises:
        subprocess.TimeoutExpired: the child ran longer than ``timeout`` seconds (it is killed).
    """
    started = time.perf_counter()
    proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=cwd)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    out: List[bytes] = []
    err: List[bytes] = []
    readers = [threading.Thread(target=_drain, args=(proc.stdout, out), daemon=True),
               threading.Thread(target=_drain, args=(proc.stderr, err), daemon=True)]
    done = threading.Event()
    peak = [0]
    watcher = threading.Thread(target=_watch_rss, args=(proc.pid, argv, done, peak, rss_interval),
                               daemon=True)
    readers.append(watcher)
    for reader in readers:
        reader.start()
    timed_out = threading.Event()

    def _kill() -> None:
        timed_out.set()
        proc.kill()

    killer = threading.Timer(timeout, _kill)
    killer.start()
    try:
        try:
            proc.stdin.write(stdin)
            proc.stdin.close()
        except BrokenPipeError:
            pass  # the child exited without reading everything; its status tells why
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        killer.cancel()
        done.set()
    wall = time.perf_counter() - started
    # Popen must not wait for a process that wait4 has already reaped.
    proc.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join()
    proc.stdout.close()
    proc.stderr.close()
    if timed_out.is_set():
        raise subprocess.TimeoutExpired(list(argv), timeout)
    return ChildRun(
        returncode=proc.returncode,
        wall_seconds=wall,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_mib=peak[0] / 1024.0,
        stdout=b"".join(out),
        stderr=b"".join(err),
    )
