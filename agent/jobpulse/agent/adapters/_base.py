"""What an adapter is: how one tool is started so that it prints machine-readable progress, how
one of its lines reads as progress, and how its exit code reads as a job's end.

An adapter never raises on a line: a line it cannot read is ``None`` (passed through to the
terminal and counted by the runner), so a tool's new output format can never crash a job."""

from __future__ import annotations

import os
from dataclasses import dataclass

from jobpulse.semconv import JobType, Phase, Status

# A child ended by a signal the wrapper forwarded (SIGINT, SIGTERM) ends the job as cancelled.
CANCELLED_CODES = frozenset({130, 143, -2, -15})


@dataclass(frozen=True)
class Reading:
    """What one tool line says. None fields: not said by this line."""

    bytes_done: int | None = None
    total_bytes: int | None = None
    phase: Phase | None = None
    error: str | None = None
    # The tool's own summary: its byte count is the job's final figure.
    final: bool = False
    # What to show on the terminal in place of a machine-readable line (a tool's warning).
    show: str | None = None


@dataclass(frozen=True)
class Outcome:
    status: Status
    error: str | None = None


def signal_outcome(code: int) -> Outcome | None:
    """The outcome of a child ended by a signal (negative code, or a shell's 128+N), or None."""
    if code in CANCELLED_CODES:
        return Outcome(Status.CANCELLED)
    if code < 0:
        return Outcome(Status.FAILED, f"killed by signal {-code}")
    return None


class Adapter:
    """The adapter of a tool the wrapper does not know: the command runs unchanged, its output
    passes through, and the job reports its phase and final status only."""

    name = "generic"
    summary = "any other command: run unchanged, phase running and final status only"
    # Which of the child's streams carries the progress lines ("stdout", "stderr") or None.
    progress_stream: str | None = None
    # Bytes that end a progress line (rsync redraws its line with a carriage return).
    line_ends: bytes = b"\n"
    # Flags added to the command, for --help and the docs.
    added_flags: tuple[str, ...] = ()
    # The progress lines are for machines (JSON): the runner shows its own progress bar instead.
    machine_readable = False
    job_type = JobType.BACKUP

    def __init__(self, argv: list[str]) -> None:
        self.argv = list(argv)

    def command(self) -> list[str]:
        return self.argv

    def parse(self, line: str) -> Reading | None:
        """A line of the progress stream; None: not progress (shown and counted by the runner)."""
        return None

    def error_line(self, line: str) -> str | None:
        """A line of the other stream that reports an error (the job's error message), or None."""
        return None

    def outcome(self, code: int, *, final_seen: bool, first_error: str | None) -> Outcome:
        by_signal = signal_outcome(code)
        if by_signal is not None:
            return by_signal
        if code == 0:
            return Outcome(Status.COMPLETED)
        return Outcome(Status.FAILED, first_error or f"{self.program} exited with code {code}")

    @property
    def program(self) -> str:
        return os.path.basename(self.argv[0]) if self.argv else "command"


def find_subcommand(args: list[str], commands: set[str], valued: set[str]) -> int | None:
    """The index of the tool's subcommand in ``args`` (global options may come first; ``valued``
    are the options that take the next argument), or None."""
    skip = False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg == "--":
            return None
        if arg.startswith("-"):
            skip = arg in valued
            continue
        return i if arg in commands else None
    return None


def to_int(value) -> int | None:
    """A tool's count, or None when it is not a finite non-negative number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if value != value or value in (float("inf"), float("-inf")) or value < 0:
        return None
    return int(value)
