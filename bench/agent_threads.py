"""`jobpulse-agent` with each thread's CPU seconds counted by thread name (bench/bench_agent.py).

    python -m bench.agent_threads OUT.json copy SRC ... --dest DIR

runs the agent's CLI in this process and, when it returns, writes {thread name: CPU seconds}
to OUT.json and exits with the CLI's code. A copy's process CPU swings by several per cent from
one run to the next on a shared 2-core machine (the kernel's page cache and the rate limiter's
wake-ups dominate it), more than the 1 % it is compared against; the CPU of the threads only
telemetry starts is measured inside the run itself.

A thread that ends is counted by itself (``time.thread_time`` at the end of its ``run``); one
still alive when the CLI returns (a daemon) from ``/proc/self/task/<tid>/stat``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_ended: dict[str, float] = {}
# Threads end while others are still being counted: one update of the totals at a time.
_ended_lock = threading.Lock()
_run = threading.Thread.run


def _counted_run(self: threading.Thread) -> None:
    try:
        _run(self)
    finally:
        spent = time.thread_time()
        with _ended_lock:
            _ended[self.name] = _ended.get(self.name, 0.0) + spent


def _alive_cpu(thread: threading.Thread) -> float:
    try:
        fields = Path(f"/proc/self/task/{thread.native_id}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # it ended meanwhile, and counted itself
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14 and 15 of stat)


def threads_cpu() -> dict[str, float]:
    """CPU seconds by thread name: the ended threads, the live ones, and the main thread."""
    with _ended_lock:
        out = dict(_ended)
    for t in threading.enumerate():
        if t is not threading.main_thread():
            out[t.name] = out.get(t.name, 0.0) + _alive_cpu(t)
    out["MainThread"] = out.get("MainThread", 0.0) + time.thread_time()
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    out, cli_args = Path(argv[0]), argv[1:]
    threading.Thread.run = _counted_run
    from jobpulse.agent.cli import main as agent_main

    try:
        code = agent_main(cli_args)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code if isinstance(exc.code, int) else 2
    out.write_text(json.dumps(threads_cpu()))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
