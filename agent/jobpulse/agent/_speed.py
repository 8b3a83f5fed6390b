"""Smoothed transfer speed and a steady ETA.

The speed is an exponentially weighted moving average whose weight depends on
the time between samples (time constant ``time_constant`` seconds), so the
figure does not depend on how often it is sampled and a single slow chunk does
not make the ETA jump. The ETA is absent until the job has moved bytes for
``warmup`` seconds, and frozen (the last value is kept) in phases that move no
bytes: counting it down during a snapshot would be a lie.
"""

from __future__ import annotations

import math


class SpeedEstimator:
    """Fed by one thread (the watcher); read under the owning job's lock."""

    def __init__(self, time_constant: float = 5.0, warmup: float = 2.0) -> None:
        self.time_constant = time_constant
        self.warmup = warmup
        self._last_t: float | None = None
        self._last_bytes = 0
        self._smoothed: float | None = None
        self._moving_time = 0.0
        self._frozen_eta: float | None = None

    def update(self, now: float, transferred: int, moving: bool) -> None:
        if self._last_t is None:
            self._last_t, self._last_bytes = now, transferred
            return
        dt = now - self._last_t
        if dt <= 0:
            return
        delta = transferred - self._last_bytes
        self._last_t, self._last_bytes = now, transferred
        if not moving:
            return  # bytes trickling in a quiet phase must not move the estimate
        instant = max(delta, 0) / dt
        if self._smoothed is None:
            self._smoothed = instant  # seeding with 0 would make the first ETAs far too long
        else:
            alpha = 1.0 - math.exp(-dt / self.time_constant)
            self._smoothed += alpha * (instant - self._smoothed)
        self._moving_time += dt

    def speed(self, moving: bool) -> float:
        """Bytes per second; 0 in phases that move no bytes."""
        if not moving or self._smoothed is None:
            return 0.0
        return self._smoothed

    def eta(self, remaining: int, moving: bool) -> float | None:
        """Seconds left, or None while unknown; the last value while not moving."""
        if not moving:
            return self._frozen_eta
        if remaining <= 0:
            self._frozen_eta = 0.0
            return 0.0
        if self._smoothed is None or self._smoothed <= 0 or self._moving_time < self.warmup:
            return self._frozen_eta
        self._frozen_eta = remaining / self._smoothed
        return self._frozen_eta
