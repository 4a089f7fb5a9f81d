"""Leader election on a coordination.k8s.io Lease, as client-go's leaderelection does it.

Candidates race to write their identity into the Lease with a compare-and-swap
on resourceVersion.  The holder renews `renewTime` every `retry_period_s`; the
others take over once the record has not changed for `lease_duration_s`, timed
on their own clock from when they last saw it change (so clock skew between
hosts does not matter).  A leader that cannot renew within `renew_deadline_s`
stops leading; on a clean stop it releases the Lease so a successor need not
wait out the duration.
"""
from __future__ import annotations

import asyncio
import math
import logging
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from . import errors
from .api import kinds

log = logging.getLogger(__name__)

Obj = dict[str, Any]


@dataclass
class LeaderElectionConfig:
    name: str  # the Lease's name, e.g. kube-scheduler
    namespace: str = "kube-system"
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}_{uuid.uuid4()}")
    lease_duration_s: float = 15.0  # upstream defaults: 15 s / 10 s / 2 s
    renew_deadline_s: float = 10.0
    retry_period_s: float = 2.0


class LeadershipLost(Exception):
    """Raised by run() when this process could not renew in time; upstream's components exit then."""


class LeaderElector:
    def __init__(self, client: Any, config: LeaderElectionConfig) -> None:
        self.client, self.config = client, config
        self._observed: tuple[str, str] | None = None  # (holder, renewTime) last seen
        self._observed_at = 0.0  # monotonic time it was first seen
        self.leading = False

    async def run(self, lead: Callable[[], Awaitable[None]]) -> None:
        """Wait to become leader, then run `lead()` while renewing; LeadershipLost if renewal fails."""
        while not await self.try_acquire_or_renew():
            await asyncio.sleep(self.config.retry_period_s)
        log.info("%s became leader of lease %s/%s", self.config.identity, self.config.namespace, self.config.name)
        self.leading = True
        leading = asyncio.create_task(lead())
        renewing = asyncio.create_task(self._renew_until_lost())
        lost = False
        try:
            done, _ = await asyncio.wait({leading, renewing}, return_when=asyncio.FIRST_COMPLETED)
            if renewing in done:
                lost = True
                raise LeadershipLost(f"{self.config.identity} lost lease {self.config.name}")
            await leading  # lead() ended on its own (or raised): pass that on
        finally:
            self.leading = False
            for task in (leading, renewing):
                task.cancel()
            await asyncio.gather(leading, renewing, return_exceptions=True)
            if not lost:
                await self.release()

    async def _renew_until_lost(self) -> None:
        last_renewed = time.monotonic()
        while True:
            await asyncio.sleep(self.config.retry_period_s)
            if await self.try_acquire_or_renew():
                last_renewed = time.monotonic()
            elif time.monotonic() - last_renewed > self.config.renew_deadline_s:
                log.error("%s failed to renew lease %s within %.0fs", self.config.identity, self.config.name,
                          self.config.renew_deadline_s)
                return

    async def try_acquire_or_renew(self) -> bool:
        """One attempt: create the Lease, renew ours, or take over an expired one.  Never raises API errors."""
        try:
            lease = await self.client.get(kinds.LEASES, self.config.name, self.config.namespace)
        except errors.NotFound:
            return await self._write(None)
        except (errors.ApiError, OSError) as exc:
            log.warning("could not read lease %s: %s", self.config.name, exc)
            return False
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        self._observe(holder, spec.get("renewTime") or "")
        if holder and holder != self.config.identity and not self._expired(spec):
            return False
        return await self._write(lease)

    async def release(self) -> None:
        """Give the Lease up (holder cleared, 1 s duration) so another candidate takes over at once."""
        try:
            lease = await self.client.get(kinds.LEASES, self.config.name, self.config.namespace)
            if (lease.get("spec") or {}).get("holderIdentity") != self.config.identity:
                return
            lease["spec"].update({"holderIdentity": "", "leaseDurationSeconds": 1, "renewTime": _now()})
            await self.client.update(kinds.LEASES, lease)
        except (errors.ApiError, OSError) as exc:
            log.info("could not release lease %s: %s", self.config.name, exc)

    def _observe(self, holder: str, renew_time: str) -> None:
        if (holder, renew_time) != self._observed:
            self._observed, self._observed_at = (holder, renew_time), time.monotonic()

    def _expired(self, spec: Obj) -> bool:
        duration = float(spec.get("leaseDurationSeconds") or self.config.lease_duration_s)
        return time.monotonic() - self._observed_at > duration

    async def _write(self, lease: Obj | None) -> bool:
        now = _now()
        mine = lease is not None and (lease.get("spec") or {}).get("holderIdentity") == self.config.identity
        spec = dict((lease or {}).get("spec") or {})
        if not mine:
            spec["acquireTime"] = now
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if lease is not None else 0)
        spec.update({"holderIdentity": self.config.identity, "renewTime": now,
                     "leaseDurationSeconds": math.ceil(self.config.lease_duration_s)})
        try:
            if lease is None:
                await self.client.create(kinds.LEASES, {"metadata": {"name": self.config.name,
                                                                     "namespace": self.config.namespace},
                                                        "spec": spec}, self.config.namespace)
            else:
                await self.client.update(kinds.LEASES, {**lease, "spec": spec})  # CAS on resourceVersion
        except (errors.Conflict, errors.AlreadyExists):
            return False  # someone else wrote first
        except (errors.ApiError, OSError) as exc:
            log.warning("could not write lease %s: %s", self.config.name, exc)
            return False
        self._observe(self.config.identity, now)
        return True


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def run_as_leader(client: Any, config: LeaderElectionConfig | None,
                        work: Callable[[], Awaitable[None]]) -> None:
    """Run `work` now (config None: leader election off) or only while holding the Lease."""
    if config is None:
        await work()
        return
    log.info("%s waiting to lead lease %s/%s", config.identity, config.namespace, config.name)
    await LeaderElector(client, config).run(work)
