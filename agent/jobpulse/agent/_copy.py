"""The copy engine behind ``jobpulse-agent copy``: one thread per disk, chunked, throttled.

Each chunk is read with ``pread`` and written with ``pwrite`` at its own
offset, so retrying a failed write rewrites the same bytes in the same place;
``advance`` is called once per chunk, after the write succeeded: a retried
chunk is never counted twice.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ._job import Job
from jobpulse.semconv import DiskStatus

_TRANSIENT = (errno.EINTR, errno.EAGAIN)
_WRITE_RETRIES = 3
_STAT_EVERY = 0.5  # seconds between checks that the source is still there and the same file


class CopyError(Exception):
    """A copy failed; ``str()`` is the one line shown to the user."""


@dataclass(frozen=True)
class Disk:
    index: int
    source: Path
    dest: Path
    size: int


class TokenBucket:
    """Shared rate limit over all workers, in bytes per second."""

    def __init__(self, rate: float, clock=time.monotonic) -> None:
        self.rate = float(rate)
        self._clock = clock
        self._burst = max(self.rate / 10, 1.0)
        self._tokens = self._burst
        self._last = clock()
        self._lock = threading.Lock()  # workers take tokens concurrently

    def take(self, n: int, stop: threading.Event) -> None:
        with self._lock:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= n  # may go negative: the debt is what this worker sleeps off
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            stop.wait(wait)


def source_size(path: Path) -> int:
    """Size of a file or block device; CopyError with a plain reason otherwise."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise CopyError(f"source {path} does not exist") from None
    except OSError as exc:
        raise CopyError(f"cannot read source {path}: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise CopyError(f"source {path} is a directory, not a disk image")
    if stat.S_ISBLK(st.st_mode):
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise CopyError(f"cannot read source {path}: {exc.strerror}") from None
        try:
            return os.lseek(fd, 0, os.SEEK_END)
        finally:
            os.close(fd)
    if not os.access(path, os.R_OK):
        raise CopyError(f"cannot read source {path}: permission denied")
    return st.st_size


def _why(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "destination is full (no space left on device)"
    if exc.errno == errno.EDQUOT:
        return "destination quota exceeded"
    return exc.strerror or str(exc)


def copy_disk(job: Job, disk: Disk, chunk_size: int, stop: threading.Event, bucket: TokenBucket | None) -> bool:
    """Copy one disk; False if stopped early. Raises CopyError with a one-line reason."""
    label = f"disk {disk.index} ({disk.source})"
    try:
        src = os.open(disk.source, os.O_RDONLY)
    except FileNotFoundError:
        raise CopyError(f"{label}: source vanished before the copy") from None
    except OSError as exc:
        raise CopyError(f"{label}: cannot open source: {exc.strerror}") from None
    try:
        try:
            dst = os.open(disk.dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as exc:
            raise CopyError(f"{label}: cannot write {disk.dest}: {exc.strerror}") from None
        try:
            first = os.fstat(src)
            job.set_disk_status(disk.index, DiskStatus.TRANSFERRING)
            offset, next_check = 0, time.monotonic() + _STAT_EVERY
            while offset < disk.size:
                if stop.is_set():
                    return False
                want = min(chunk_size, disk.size - offset)
                if bucket is not None:
                    bucket.take(want, stop)
                try:
                    data = os.pread(src, want, offset)
                except OSError as exc:
                    raise CopyError(f"{label}: read failed at byte {offset}: {exc.strerror}") from None
                if len(data) < want:
                    now = _current_size(src, offset + len(data))
                    raise CopyError(f"{label}: source shrank from {disk.size} to {now} bytes during the copy")
                _write_all(dst, data, offset, label)
                offset += want
                job.advance(disk.index, want)  # after the write: a retried write is counted once
                if time.monotonic() >= next_check:
                    next_check = time.monotonic() + _STAT_EVERY
                    _check_same_file(disk, first, label)
            _check_same_file(disk, first, label)
            return True
        finally:
            os.close(dst)
    finally:
        os.close(src)


def _current_size(fd: int, fallback: int) -> int:
    try:
        st = os.fstat(fd)
        return st.st_size if stat.S_ISREG(st.st_mode) else fallback
    except OSError:
        return fallback


def _check_same_file(disk: Disk, first: os.stat_result, label: str) -> None:
    try:
        now = os.stat(disk.source)
    except FileNotFoundError:
        raise CopyError(f"{label}: source vanished during the copy") from None
    except OSError:
        return
    if (now.st_dev, now.st_ino) != (first.st_dev, first.st_ino):
        raise CopyError(f"{label}: source was replaced by another file during the copy")
    if stat.S_ISREG(now.st_mode) and now.st_size < disk.size:
        raise CopyError(f"{label}: source shrank from {disk.size} to {now.st_size} bytes during the copy")


def _write_all(fd: int, data: bytes, offset: int, label: str) -> None:
    view, attempts = memoryview(data), 0
    while view:
        try:
            n = os.pwrite(fd, view, offset)
        except OSError as exc:
            attempts += 1
            if exc.errno in _TRANSIENT and attempts <= _WRITE_RETRIES:
                continue  # same bytes, same offset: the retry cannot duplicate anything
            raise CopyError(f"{label}: write failed at byte {offset}: {_why(exc)}") from None
        view, offset = view[n:], offset + n


def finalize(disks: list[Disk]) -> None:
    """fsync every copy so 'completed' means on disk."""
    for disk in disks:
        try:
            fd = os.open(disk.dest, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise CopyError(f"disk {disk.index} ({disk.source}): cannot flush {disk.dest}: {_why(exc)}") from None


def make_demo_sources(directory: Path, count: int, size: int) -> list[Path]:
    """Cheap demo disk images: one random block repeated, each copy stamped with its position."""
    directory.mkdir(parents=True, exist_ok=True)
    block = bytearray(os.urandom(1 << 20))
    paths = []
    for i in range(count):
        path = directory / f"disk{i}.img"
        paths.append(path)
        if path.exists() and path.stat().st_size == size:
            continue  # reuse: rerunning the demo should not rewrite gigabytes
        with open(path, "wb") as f:
            written = 0
            while written < size:
                block[:16] = f"{i:4d}:{written:011d}".encode()[:16].ljust(16)
                n = min(len(block), size - written)
                f.write(block[:n])
                written += n
    return paths
