"""Source "disks" for real copies: files of exact sizes filled with random bytes.

Random content makes a byte-for-byte comparison of source and copy meaningful, and odd
sizes (chosen by each caller) make every byte count in the totals.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Disks:
    """The source files of one copy job, in disk-index order."""

    paths: tuple[Path, ...]

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(p.stat().st_size for p in self.paths)

    @property
    def total(self) -> int:
        return sum(self.sizes)


def make_disk(path: Path, size: int) -> Path:
    """Write ``size`` random bytes to ``path`` (1 MiB at a time, so GiB-sized disks stay cheap in memory)."""
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(_CHUNK, left)
            f.write(os.urandom(n))
            left -= n
    return path


def make_disks(folder: Path, sizes: Iterable[int]) -> Disks:
    """One ``disk<index>.img`` per size in ``folder`` (created if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    return Disks(tuple(make_disk(folder / f"disk{i}.img", size) for i, size in enumerate(sizes)))
