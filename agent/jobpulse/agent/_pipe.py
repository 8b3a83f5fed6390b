"""``jobpulse-agent pipe``: a pipe meter. Standard input is copied to standard output unchanged
and the bytes are counted as a job (one add per 1 MiB step). When either side is a pipe the bytes
move inside the kernel (splice), as pv does; otherwise through a 1 MiB buffer, as cat does.

A broken pipe on the reading side (the next command exited) fails the job and exits 141, the
status a shell gives a command killed by SIGPIPE. End of input before ``--total`` bytes fails
the job (the writer died or the total was wrong); without a total, end of input completes it.
"""

from __future__ import annotations

import errno
import os

from jobpulse.semconv import Phase

from ._job import Job

BUFFER = 1 << 20
EXIT_BROKEN_PIPE = 128 + 13


def meter(job: Job, total: int | None, *, stdin: int = 0, stdout: int = 1) -> tuple[int, str | None]:
    """Copy ``stdin`` to ``stdout`` counting bytes into disk 0 of ``job``: (exit code, error)."""
    job.set_phase(Phase.TRANSFERRING)
    done, code, error = _splice(job, stdin, stdout)
    if code is None:  # neither side is a pipe (or the kernel refuses): copy through our memory
        done, code, error = _copy(job, stdin, stdout, done)
    if code:
        return code, error
    if total is not None and done < total:
        return 1, f"input ended after {done} of {total} bytes"
    if total is not None and done > total:
        job.revise_total(0, done)  # more than announced: the total was an estimate
    return 0, None


def _splice(job: Job, stdin: int, stdout: int) -> tuple[int, int | None, str | None]:
    """Move the bytes inside the kernel (splice(2), as pv does): no copy through user space.
    Returns (bytes, None, None) when splice cannot be used at all, to fall back to _copy."""
    splice = getattr(os, "splice", None)
    done = 0
    if splice is None:
        return 0, None, None
    while True:
        try:
            n = splice(stdin, stdout, BUFFER)
        except BrokenPipeError:
            return done, EXIT_BROKEN_PIPE, f"broken pipe: the reader of standard output went away after {done} bytes"
        except OSError as exc:
            if done == 0 and exc.errno in (errno.EINVAL, errno.ENOSYS, errno.EBADF):
                return 0, None, None
            return done, 1, f"cannot copy standard input to standard output after {done} bytes: {exc.strerror or exc}"
        if not n:
            return done, 0, None
        job.advance(0, n)
        done += n


def _copy(job: Job, stdin: int, stdout: int, done: int) -> tuple[int, int, str | None]:
    buf = bytearray(BUFFER)
    view = memoryview(buf)
    source = open(stdin, "rb", buffering=0, closefd=False)
    try:
        while True:
            try:
                n = source.readinto(buf)
            except OSError as exc:
                return done, 1, f"cannot read standard input after {done} bytes: {exc.strerror or exc}"
            if not n:
                return done, 0, None
            sent = 0
            try:
                while sent < n:
                    sent += os.write(stdout, view[sent:n])
            except BrokenPipeError:
                job.advance(0, sent)
                return done + sent, EXIT_BROKEN_PIPE, (
                    f"broken pipe: the reader of standard output went away after {done + sent} bytes")
            except OSError as exc:
                job.advance(0, sent)
                return done + sent, 1, f"cannot write standard output after {done + sent} bytes: {exc.strerror or exc}"
            job.advance(0, n)
            done += n
    finally:
        source.close()
