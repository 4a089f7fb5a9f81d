"""The controllers' work queue: dedup, one worker per key at a time, delayed and rate-limited adds.

Mirrors client-go's util/workqueue (rate-limiting over delaying over the plain
queue):

- A key added while it is already waiting is merged with the waiting entry.
- A key handed out by `get()` is "processing" until `done(key)`; adding it
  meanwhile marks it dirty, and it is queued again only at `done()`, so two
  workers never hold the same key.
- Otherwise keys come out in FIFO order.
- `add_rate_limited(key)` delays the key by a per-key exponential backoff
  (client-go's ItemExponentialFailureRateLimiter: 5 ms doubling to 1000 s);
  `forget(key)` resets it once the key has been handled successfully.
- After `shutdown()` adds are ignored; `get()` keeps handing out what is
  already queued and then raises `ShutDown`.

Everything runs on one event loop; the sync methods must be called from it.
"""
from __future__ import annotations

import asyncio
import collections
from collections.abc import Hashable

DEFAULT_BASE_DELAY_S = 0.005
DEFAULT_MAX_DELAY_S = 1000.0


class ShutDown(Exception):
    """Raised by `WorkQueue.get()` once the queue is shut down and drained."""


class ExponentialBackoff:
    """Per-key failure counter; each failure doubles the key's delay, capped."""

    def __init__(self, base_delay_s: float = DEFAULT_BASE_DELAY_S, max_delay_s: float = DEFAULT_MAX_DELAY_S) -> None:
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self._failures: dict[Hashable, int] = {}

    def when(self, key: Hashable) -> float:
        """Record one more failure of `key` and return how long to wait before retrying it."""
        exponent = self._failures.get(key, 0)
        self._failures[key] = exponent + 1
        if exponent > 64:  # 2**exponent would only overflow the cap anyway
            return self.max_delay_s
        return min(self.base_delay_s * 2 ** exponent, self.max_delay_s)

    def num_requeues(self, key: Hashable) -> int:
        return self._failures.get(key, 0)

    def forget(self, key: Hashable) -> None:
        self._failures.pop(key, None)


class WorkQueue:
    def __init__(self, name: str = "", *, base_delay_s: float = DEFAULT_BASE_DELAY_S,
                 max_delay_s: float = DEFAULT_MAX_DELAY_S) -> None:
        self.name = name
        self._backoff = ExponentialBackoff(base_delay_s, max_delay_s)
        self._queue: collections.deque[Hashable] = collections.deque()
        self._dirty: set[Hashable] = set()  # wants processing: queued, or re-added while processing
        self._processing: set[Hashable] = set()
        self._delayed: dict[Hashable, tuple[float, asyncio.TimerHandle]] = {}  # key -> (ready_at, timer)
        self._getters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._shutting_down = False

    # -- adding ----------------------------------------------------------------

    def add(self, key: Hashable) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # queued again by done(key)
        self._queue.append(key)
        self._wake_one_getter()

    def add_after(self, key: Hashable, delay_s: float) -> None:
        """Add `key` once `delay_s` has passed; an earlier pending add of the same key wins."""
        if self._shutting_down:
            return
        if delay_s <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        ready_at = loop.time() + delay_s
        pending = self._delayed.get(key)
        if pending is not None:
            if pending[0] <= ready_at:
                return
            pending[1].cancel()
        self._delayed[key] = (ready_at, loop.call_at(ready_at, self._delay_expired, key))

    def add_rate_limited(self, key: Hashable) -> None:
        self.add_after(key, self._backoff.when(key))

    def forget(self, key: Hashable) -> None:
        """Stop tracking `key`'s failures: its next `add_rate_limited` starts from the base delay."""
        self._backoff.forget(key)

    def num_requeues(self, key: Hashable) -> int:
        return self._backoff.num_requeues(key)

    # -- processing --------------------------------------------------------------

    async def get(self) -> Hashable:
        """Wait for the next key and mark it processing; raise `ShutDown` once shut down and drained."""
        while not self._queue:
            if self._shutting_down:
                raise ShutDown(self.name)
            await self._wait_for_key()
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: Hashable) -> None:
        """Mark `key` finished; if it was re-added meanwhile it goes to the back of the queue now."""
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wake_one_getter()

    def shutdown(self) -> None:
        """Refuse new keys, drop delayed ones, and let every waiting `get()` drain then raise `ShutDown`."""
        self._shutting_down = True
        for _, timer in self._delayed.values():
            timer.cancel()
        self._delayed.clear()
        while self._getters:
            self._wake_one_getter()

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def __len__(self) -> int:
        """Keys ready to be handed out (not those processing or delayed), like client-go's Len()."""
        return len(self._queue)

    # -- internals ---------------------------------------------------------------

    def _delay_expired(self, key: Hashable) -> None:
        self._delayed.pop(key, None)
        self.add(key)

    async def _wait_for_key(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._getters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            # Woken but cancelled before taking the key: pass the wake-up on.
            if waiter.done() and not waiter.cancelled():
                self._wake_one_getter()
            raise
        finally:
            if waiter in self._getters:
                self._getters.remove(waiter)

    def _wake_one_getter(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
