"""Adapters: how `jobpulse-agent run` reads the progress of tools people already run (restic,
rclone, rsync); any other command runs as a generic job (phase and final status only)."""

from ._base import Adapter, Outcome, Reading
from ._feed import Feed
from ._rclone import Rclone
from ._restic import Restic
from ._rsync import Rsync

KNOWN = (Restic, Rclone, Rsync)


def adapter_for(argv: list[str]) -> Adapter:
    for kind in KNOWN:
        if kind.recognises(argv):
            return kind(argv)
    return Adapter(argv)


__all__ = ["Adapter", "Feed", "KNOWN", "Outcome", "Reading", "Rclone", "Restic", "Rsync", "adapter_for"]
