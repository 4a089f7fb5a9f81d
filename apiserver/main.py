"""`python -m apiserver`: flags, then etcd, the watch caches and the HTTP server in one TaskGroup."""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys

import uvicorn

from common.daemon import add_logging_flags, env_default, parse_duration, setup_logging

from .app import ApiServer, Settings, create_app
from .storage import Unavailable

log = logging.getLogger("apiserver")


def parse_args(argv: list[str] | None = None) -> Settings:
    p = argparse.ArgumentParser(prog="python -m apiserver",
                                description="kubelab kube-apiserver: the Kubernetes REST API on etcd.")
    p.add_argument("--etcd-servers", default=env_default("--etcd-servers", "http://127.0.0.1:2379"),
                   help="comma-separated etcd client URLs (env KUBELAB_ETCD_SERVERS)")
    p.add_argument("--bind-address", default=env_default("--bind-address", "127.0.0.1"),
                   help="address to serve on (env KUBELAB_BIND_ADDRESS)")
    p.add_argument("--port", type=int, default=int(env_default("--port", "8080") or 8080),
                   help="port to serve plain HTTP on (env KUBELAB_PORT)")
    p.add_argument("--etcd-compaction-interval", type=parse_duration,
                   default=env_default("--etcd-compaction-interval", "5m"),
                   help="how often to compact etcd history, e.g. 5m; 0 disables (env KUBELAB_ETCD_COMPACTION_INTERVAL)")
    p.add_argument("--watch-cache-size", type=int, default=int(env_default("--watch-cache-size", "10000") or 10000),
                   help="events kept per resource for watches resuming from a recent resourceVersion")
    p.add_argument("--watch-bookmark-interval", type=parse_duration,
                   default=env_default("--watch-bookmark-interval", "30s"),
                   help="how often watchers that allow bookmarks receive one")
    p.add_argument("--etcd-connect-timeout", type=parse_duration,
                   default=env_default("--etcd-connect-timeout", "30s"),
                   help="how long to wait for etcd at start-up before giving up")
    p.add_argument("--event-ttl", type=parse_duration, default=env_default("--event-ttl", "1h"),
                   help="how long events are kept, e.g. 1h (env KUBELAB_EVENT_TTL)")
    add_logging_flags(p)
    args = p.parse_args(argv)
    setup_logging("apiserver", args.verbosity)
    return Settings(etcd_servers=[s.strip() for s in args.etcd_servers.split(",") if s.strip()],
                    bind_address=args.bind_address, port=args.port,
                    compaction_interval_s=_seconds(args.etcd_compaction_interval),
                    watch_cache_size=args.watch_cache_size,
                    bookmark_interval_s=_seconds(args.watch_bookmark_interval),
                    event_ttl_s=_seconds(args.event_ttl),
                    etcd_connect_timeout_s=_seconds(args.etcd_connect_timeout))


def _seconds(value: float | str) -> float:
    return parse_duration(value) if isinstance(value, str) else value


async def serve(settings: Settings) -> None:
    server = ApiServer(settings)
    config = uvicorn.Config(create_app(server), host=settings.bind_address, port=settings.port,
                            http="httptools", loop="none", lifespan="off", access_log=False,
                            log_level="warning", timeout_keep_alive=120, timeout_graceful_shutdown=5)
    http = uvicorn.Server(config)
    async with asyncio.TaskGroup() as tg:
        await server.run(tg)
        http_task = tg.create_task(http.serve())
        tg.create_task(_end_watches_on_shutdown(http, server))
        log.info("serving the Kubernetes API on http://%s:%d", settings.bind_address, settings.port)
        await http_task
        raise SystemExit(0 if http.started else 1)


async def _end_watches_on_shutdown(http: uvicorn.Server, server: ApiServer) -> None:
    """Watch streams never finish on their own: end them so a graceful shutdown is quick."""
    while not http.should_exit:
        await asyncio.sleep(0.1)
    server.close_watches()


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    try:
        import uvloop
        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    try:
        with runner:
            runner.run(serve(settings))
    except* Unavailable as group:
        log.error("%s", group.exceptions[0])
        sys.exit(1)
    except* (KeyboardInterrupt, SystemExit):
        pass
