"""`python -m kube_proxy`: Services as iptables rules on this node — informers, rate-limited syncs, resync, cleanup.

Upstream's iptables-mode kube-proxy loop: Service and Endpoints informers mark
the state dirty; a sync runs at most once per --min-sync-period (a burst of
changes coalesces into one), and every --sync-period a full sync re-applies
everything, re-inserts missing jumps from built-in chains and so repairs any
drift.  Each sync is ONE `iptables-restore --noflush` transaction built by the
pure `proxier.build_ruleset`.
"""
from __future__ import annotations

import argparse
import asyncio
import calendar
import ipaddress
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import PlainTextResponse, Response

from common.api import kinds
from common.client import ApiClient
from common.daemon import (add_client_flags, add_logging_flags, env_default, http_server, parse_duration, run_main,
                           setup_logging)
from common.informer import Informer, Obj, SharedInformers, key_of

from . import iptables, metrics
from .proxier import (SERVICE_CHAIN_PREFIXES, ProxyConfig, RuleCache, Ruleset, build_ruleset, cleanup_rules,
                      missing_jumps, saved_chains)

log = logging.getLogger("kube-proxy")

TABLES = ("filter", "nat")
TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
# Objects labelled for another proxy, and headless Endpoints, are not ours (as upstream's informer selector).
LABEL_SELECTOR = "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless"
SYSCTLS = {"net/ipv4/conf/all/route_localnet": "1",  # NodePorts on 127.0.0.1 (DNAT of loopback traffic)
           "net/ipv4/ip_forward": "1"}                # forward DNATed traffic to pods


@dataclass
class Settings:
    server: str | None
    kubeconfig: str | None
    node_name: str
    config: ProxyConfig
    min_sync_period_s: float
    sync_period_s: float
    healthz_bind_address: str
    healthz_port: int
    metrics_bind_address: str
    metrics_port: int
    cleanup: bool
    iptables_backend: str = "auto"


def parse_args(argv: list[str] | None = None) -> Settings:
    p = argparse.ArgumentParser(prog="python -m kube_proxy",
                                description="kubelab kube-proxy (iptables mode): Services as iptables rules.")
    add_client_flags(p)
    p.add_argument("--node-name", "--hostname-override", dest="node_name", default=env_default("--node-name"),
                   help="this node's name (env KUBELAB_NODE_NAME)")
    p.add_argument("--cluster-cidr", default=env_default("--cluster-cidr", "10.244.0.0/16"),
                   help="pod CIDR: ClusterIP traffic from outside it is masqueraded; empty disables")
    p.add_argument("--masquerade-all", action="store_true", help="SNAT all traffic sent via Service cluster IPs")
    p.add_argument("--masquerade-bit", type=int, default=int(env_default("--masquerade-bit", "14") or 14),
                   help="the fwmark bit (0-31) marking packets for SNAT")
    p.add_argument("--min-sync-period", type=parse_duration, default=env_default("--min-sync-period", "1s"),
                   help="at most one sync per this period; changes in between coalesce (e.g. 1s, 300ms)")
    p.add_argument("--sync-period", type=parse_duration, default=env_default("--sync-period", "30s"),
                   help="full resync period, repairing drift (e.g. 30s)")
    p.add_argument("--healthz-bind-address", default=env_default("--healthz-bind-address", "0.0.0.0"))
    p.add_argument("--healthz-port", type=int, default=int(env_default("--healthz-port", "10256") or 10256),
                   help="port of /healthz; 0 disables")
    p.add_argument("--metrics-bind-address", default=env_default("--metrics-bind-address", "127.0.0.1"))
    p.add_argument("--metrics-port", type=int, default=int(env_default("--metrics-port", "10249") or 10249),
                   help="port of /metrics (and /healthz); 0 disables")
    p.add_argument("--cleanup", action="store_true", help="remove every rule and chain kube-proxy wrote, then exit")
    p.add_argument("--iptables-backend", choices=("auto", "system", "nft", "legacy"),
                   default=env_default("--iptables-backend", "auto"),
                   help="auto: the backend already holding more rules, else the system's `iptables` (as upstream's "
                        "iptables-wrapper); legacy restores large rulesets far faster than iptables-nft")
    add_logging_flags(p)
    args = p.parse_args(argv)
    setup_logging("kube-proxy", args.verbosity)
    if not 0 <= args.masquerade_bit <= 31:
        p.error("--masquerade-bit must be within 0..31")
    if args.cluster_cidr:
        try:
            args.cluster_cidr = str(ipaddress.IPv4Network(args.cluster_cidr, strict=False))
        except ValueError as exc:
            p.error(f"--cluster-cidr: {exc}")
    if not args.cleanup and not (args.server or args.kubeconfig):
        p.error("give --server or --kubeconfig")
    config = ProxyConfig(args.cluster_cidr or None, args.masquerade_bit, args.masquerade_all, args.node_name or "")
    return Settings(args.server, args.kubeconfig, args.node_name or "", config, _seconds(args.min_sync_period),
                    _seconds(args.sync_period), args.healthz_bind_address, args.healthz_port,
                    args.metrics_bind_address, args.metrics_port, args.cleanup, args.iptables_backend)


def _seconds(value: float | str) -> float:
    return parse_duration(value) if isinstance(value, str) else value


def set_sysctls(root: Path = Path("/proc/sys")) -> None:
    """The kernel switches kube-proxy needs; net.* ones are per network namespace."""
    for name, value in SYSCTLS.items():
        path = root / name
        try:
            if path.read_text().strip() != value:
                path.write_text(value)
        except OSError as exc:
            log.warning("cannot set sysctl %s=%s: %s", name.replace("/", "."), value, exc)


def trigger_time(endpoints: Obj, seen_at: float) -> float:
    """When the change behind an Endpoints update happened: the controller's annotation, else when we saw it."""
    stamp = ((endpoints.get("metadata") or {}).get("annotations") or {}).get(TRIGGER_TIME_ANNOTATION)
    if isinstance(stamp, str):
        try:
            base, _, frac = stamp.rstrip("Z").partition(".")
            parsed = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
            return parsed + (float("0." + frac) if frac.isdigit() else 0.0)
        except ValueError:
            pass
    return seen_at


class ServiceProxy:
    """The informers' state kept in the kernel: dirty-marking handlers plus the rate-limited sync loop."""

    def __init__(self, informers: SharedInformers, config: ProxyConfig, *, min_sync_period_s: float = 1.0,
                 sync_period_s: float = 30.0) -> None:
        self.config = config
        self.min_sync_period_s = min_sync_period_s
        self.sync_period_s = sync_period_s
        self.services: Informer = informers.get(kinds.SERVICES, label_selector=LABEL_SELECTOR)
        self.endpoints: Informer = informers.get(kinds.ENDPOINTS, label_selector=LABEL_SELECTOR)
        self.services.add_handler(self._service_changed, lambda old, new: self._service_changed(new),
                                  self._service_changed)
        self.endpoints.add_handler(self._endpoints_changed, lambda old, new: self._endpoints_changed(new),
                                   lambda gone: self._endpoints_changed(gone, deleted=True))
        self._dirty = asyncio.Event()
        self._full_needed = True
        self._read_kernel = True  # the next full sync first reads the kernel (stale chains, missing jumps)
        self._known_chains: dict[str, frozenset[str]] = {}
        self._pending_triggers: dict[str, float] = {}  # Endpoints key -> earliest unsynced change
        self._changed: set[str] = set()                 # Service keys whose chains a partial sync rewrites
        self._synced_once = False
        self.last_queued: float | None = None    # wall clock of the oldest change not yet in the kernel
        self.last_synced: float | None = None
        self.last_ruleset: Ruleset | None = None
        self.phase_ms: dict[str, float] = {}     # the last sync's save / compute / restore times
        self._rule_cache = RuleCache()
        self._verifier: asyncio.Task[None] | None = None

    # -- event handlers (sync, from the informers) --------------------------------------------------------

    def _service_changed(self, service: Obj) -> None:
        metrics.SERVICE_CHANGES.inc()
        self._changed.add(key_of(service))
        self._queue()

    def _endpoints_changed(self, endpoints: Obj, deleted: bool = False) -> None:
        metrics.ENDPOINT_CHANGES.inc()
        self._changed.add(key_of(endpoints))
        if self._synced_once:  # the initial list is not a change to time
            key = key_of(endpoints)
            # A deleted object's annotation dates its last update, not its deletion.
            when = time.time() if deleted else trigger_time(endpoints, time.time())
            self._pending_triggers[key] = min(when, self._pending_triggers.get(key, math.inf))
        self._queue()

    def _queue(self) -> None:
        if self.last_queued is None:
            self.last_queued = time.time()
            metrics.LAST_QUEUED_TIMESTAMP.set(self.last_queued)
        self._dirty.set()

    # -- syncing ------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Sync whenever dirty (at most once per min-sync-period) and fully every sync-period, until cancelled."""
        await self.services.wait_for_sync()
        await self.endpoints.wait_for_sync()
        next_full, last_start, failures = 0.0, -math.inf, 0
        while True:
            timeout = next_full - time.monotonic()
            if not self._dirty.is_set() and timeout > 0:
                try:
                    await asyncio.wait_for(self._dirty.wait(), timeout)
                except TimeoutError:
                    pass
            # Changes arriving during this wait are picked up by the same sync: bursts coalesce.
            await asyncio.sleep(max(0.0, last_start + self.min_sync_period_s - time.monotonic()))
            full = self._full_needed or time.monotonic() >= next_full
            last_start = time.monotonic()
            if await self.sync_once(full):
                failures = 0
                next_full = last_start + self.sync_period_s if full else next_full
            else:
                failures += 1
                await asyncio.sleep(min(0.5 * 2 ** failures, self.sync_period_s))

    async def sync_once(self, full: bool = True) -> bool:
        """One transaction making the kernel match the caches; False (and retried later as full) on failure."""
        self._dirty.clear()
        queued, triggers, changed = self.last_queued, self._pending_triggers, self._changed
        self.last_queued, self._pending_triggers, self._changed = None, {}, set()
        started = time.monotonic()
        try:
            ruleset = await self._apply(None if full else changed)
        except (iptables.IptablesError, OSError) as exc:
            log.error("sync failed, retrying with a full sync: %s", exc)
            metrics.RESTORE_FAILURES.inc()
            self._requeue(queued, triggers)
            return False
        elapsed = time.monotonic() - started
        self._record_success(ruleset, full, elapsed, triggers)
        log.debug("%s sync: %d nat / %d filter rules in %.1f ms (%s)", "full" if full else "partial",
                  ruleset.rule_counts["nat"], ruleset.rule_counts["filter"], elapsed * 1000,
                  ", ".join(f"{phase} {ms:.1f} ms" for phase, ms in self.phase_ms.items()))
        if full and "save" not in self.phase_ms and (self._verifier is None or self._verifier.done()):
            # In the background: a change arriving meanwhile must not wait for this read.
            self._verifier = asyncio.create_task(self._verify_kernel())
        return True

    async def _verify_kernel(self) -> None:
        """After a periodic full sync: read the kernel back, off the sync's path; on drift the next sync repairs.

        Rewriting every chain already restores flushed or deleted KUBE-* chains;
        what it cannot see is a jump removed from a built-in chain or a chain
        of ours it does not know about.
        """
        try:
            saved = await iptables.save_tables(TABLES)
        except (iptables.IptablesError, OSError) as exc:
            log.warning("cannot read iptables back: %s", exc)
            return
        unknown = {c for t, text in saved.items() for c in saved_chains(text)
                   if c.startswith(SERVICE_CHAIN_PREFIXES) and c not in self._known_chains.get(t, ())}
        missing = missing_jumps(saved)
        if unknown or missing:
            log.info("iptables drifted (%d missing jumps, %d unknown chains); repairing",
                     len(missing), len(unknown))
            self._read_kernel = self._full_needed = True
            self._dirty.set()

    async def _apply(self, changed: set[str] | None) -> Ruleset:
        """Full sync when `changed` is None, else a partial one rewriting only those services' own chains."""
        existing: dict[str, set[str]] = {t: set(self._known_chains.get(t, ())) for t in TABLES}
        jumps = []
        clock = time.monotonic()
        self.phase_ms = {}
        if changed is None and self._read_kernel:  # stale chains of an earlier run, removed jumps
            saved = await iptables.save_tables(TABLES)
            for table, text in saved.items():
                existing[table] |= saved_chains(text)
            jumps = missing_jumps(saved)
            clock = self._lap("save", clock)
        endpoints = {key_of(obj): obj for obj in self.endpoints.list()}
        ruleset = build_ruleset(self.services.list(), endpoints, self.config, existing_chains=existing,
                                missing_jumps=jumps, changed=changed, cache=self._rule_cache)
        clock = self._lap("compute", clock)
        await iptables.restore(ruleset.text, noflush=True)
        self._lap("restore", clock)
        return ruleset

    def _lap(self, phase: str, since: float) -> float:
        now = time.monotonic()
        self.phase_ms[phase] = (now - since) * 1000
        return now

    def _requeue(self, queued: float | None, triggers: dict[str, float]) -> None:
        for key, when in triggers.items():
            self._pending_triggers[key] = min(when, self._pending_triggers.get(key, math.inf))
        if queued is not None:
            self.last_queued = min(queued, self.last_queued or math.inf)
        self._full_needed = self._read_kernel = True
        self._dirty.set()

    def _record_success(self, ruleset: Ruleset, full: bool, elapsed: float, triggers: dict[str, float]) -> None:
        now = time.time()
        self._known_chains = dict(ruleset.chains)
        self._full_needed = self._full_needed and not full
        self._read_kernel = self._read_kernel and not ("save" in self.phase_ms)
        self._synced_once = True
        self.last_ruleset, self.last_synced = ruleset, now
        metrics.SYNC_DURATION.observe(elapsed)
        if full:
            metrics.FULL_SYNC_DURATION.observe(elapsed)
        metrics.LAST_SYNC_TIMESTAMP.set(now)
        if full:  # a partial sync writes only part of the rules
            for table, count in ruleset.rule_counts.items():
                metrics.RULES_TOTAL.labels(table).set(count)
        for key, when in sorted(triggers.items()):
            metrics.NETWORK_PROGRAMMING.observe(max(0.0, now - when))
            log.debug("network programming latency %s: %.1f ms", key, max(0.0, now - when) * 1000)

    def healthy(self, now: float | None = None) -> bool:
        """Upstream's rule: unhealthy when a queued change has waited longer than 2 × sync-period."""
        now = time.time() if now is None else now
        return self.last_queued is None or now - self.last_queued < 2 * self.sync_period_s


# -- the daemon --------------------------------------------------------------------------------------------

def health_app(proxy: ServiceProxy | None, with_metrics: bool) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    async def healthz() -> Response:
        now = time.time()
        ok = proxy is not None and proxy.healthy(now)
        body = {"lastUpdated": proxy.last_synced if proxy else None, "currentTime": now}
        return Response(json.dumps(body), status_code=200 if ok else 503, media_type="application/json")

    @app.get("/livez")
    async def livez() -> Response:
        return PlainTextResponse("ok")

    if with_metrics:
        @app.get("/metrics")
        async def prometheus() -> Response:
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


async def cleanup(backends: list[str]) -> int:
    """Delete our chains and the jumps into them, one transaction per backend (upstream's --cleanup)."""
    for name in backends:
        await iptables.use_backend(name)
        if not iptables.available():
            continue
        text = cleanup_rules(await iptables.save_tables(TABLES))
        if text:
            await iptables.restore(text, noflush=True)
        log.info("%s: %s", name, "removed kube-proxy's iptables rules" if text else "no kube-proxy rules to remove")
    return 0


async def serve(settings: Settings) -> int:
    if settings.cleanup:  # auto: whatever either backend holds
        auto = settings.iptables_backend == "auto"
        return await cleanup(["nft", "legacy"] if auto else [settings.iptables_backend])
    chosen = await iptables.use_backend(settings.iptables_backend)
    log.info("iptables backend: %s (%s)", chosen, iptables.BACKENDS[chosen][0])
    set_sysctls()
    client = ApiClient.from_flags(settings.server, settings.kubeconfig, user_agent="kube-proxy/kubelab")
    informers = SharedInformers(client)
    proxy = ServiceProxy(informers, settings.config, min_sync_period_s=settings.min_sync_period_s,
                         sync_period_s=settings.sync_period_s)
    log.info("kube-proxy (iptables) starting on node %r, cluster CIDR %s", settings.node_name,
             settings.config.cluster_cidr)
    async with asyncio.TaskGroup() as tg:
        if settings.healthz_port:
            server = http_server(health_app(proxy, False), settings.healthz_bind_address, settings.healthz_port)
            tg.create_task(server.serve())
        if settings.metrics_port:
            server = http_server(health_app(proxy, True), settings.metrics_bind_address, settings.metrics_port)
            tg.create_task(server.serve())
        tg.create_task(proxy.services.run())
        tg.create_task(proxy.endpoints.run())
        await proxy.run()
    return 0


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    run_main("kube-proxy", lambda: serve(settings), fatal=(iptables.IptablesError,))
