"""Restart and image-pull back-off per container, with upstream's rules (10 s doubling to 300 s).

Mirrors client-go's flowcontrol.Backoff as the kubelet uses it: a container that
exits is in back-off while less than the current delay has passed since it
finished; each restart doubles the delay; an entry whose last restart is more
than twice the maximum old (i.e. the container ran cleanly for 10 minutes) starts
over at the initial delay.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Entry:
    delay_s: float
    last_update: float  # when the event that set the delay happened (a container's finish time)


class Backoff:
    def __init__(self, initial_s: float = 10.0, max_s: float = 300.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.initial_s, self.max_s, self.clock = initial_s, max_s, clock
        self._entries: dict[str, _Entry] = {}

    def in_backoff_since(self, key: str, event_time: float) -> bool:
        """Still waiting: less than the current delay has passed since event_time (e.g. the last exit)."""
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, event_time):
            return False
        return self.clock() - event_time < entry.delay_s

    def next(self, key: str, event_time: float) -> float:
        """Record a restart after event_time; returns the delay the next exit will have to wait."""
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, event_time):
            entry = _Entry(self.initial_s, event_time)
        else:
            entry = _Entry(min(entry.delay_s * 2, self.max_s), event_time)
        self._entries[key] = entry
        return entry.delay_s

    def last_update(self, key: str) -> float | None:
        entry = self._entries.get(key)
        return entry.last_update if entry else None

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)

    def delay(self, key: str) -> float:
        entry = self._entries.get(key)
        return entry.delay_s if entry else 0.0

    def remaining(self, key: str, event_time: float) -> float:
        """Seconds until a container that exited at event_time may restart (0 when it may now)."""
        entry = self._entries.get(key)
        if entry is None:
            return 0.0
        return max(entry.delay_s - (self.clock() - event_time), 0.0)

    def forget_prefix(self, prefix: str) -> None:
        """Drop every entry of one pod (keys start with its UID)."""
        for key in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[key]

    def _expired(self, entry: _Entry, event_time: float) -> bool:
        return event_time - entry.last_update > 2 * self.max_s
