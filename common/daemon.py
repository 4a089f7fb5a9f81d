"""What every kubelab daemon shares at start-up: flags with environment fallbacks, logging, durations."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import re
import ssl
import sys
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

import uvicorn
from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import PlainTextResponse, Response

from . import errors

# The cyclic GC's first threshold for the busy daemons: 700 (CPython's default) ran a young collection every few
# requests, which kept promoting in-flight objects until full collections over the whole heap took 10% of the
# apiserver's CPU and 20% of the scheduler's under bench/scheduler.py.
_GC_YOUNG_THRESHOLD = 20_000

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Go-style durations as upstream flags take them: `300ms`, `10s`, `5m`, `1h30m`; a bare number is seconds."""
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (use e.g. 300ms, 10s, 5m, 1h)")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def env_default(flag: str, default: str | None = None) -> str | None:
    """`--etcd-servers` falls back to $KUBELAB_ETCD_SERVERS, and so on for every flag."""
    name = "KUBELAB_" + flag.lstrip("-").upper().replace("-", "_")
    return os.environ.get(name, default)


def add_client_flags(parser: argparse.ArgumentParser) -> None:
    """How a daemon reaches the apiserver (ApiClient.from_flags): `--server` wins over `--kubeconfig`."""
    parser.add_argument("--server", default=env_default("--server"), help="apiserver URL (env KUBELAB_SERVER)")
    parser.add_argument("--kubeconfig", default=env_default("--kubeconfig"),
                        help="kubeconfig file (env KUBELAB_KUBECONFIG)")


def add_logging_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--v", dest="verbosity", type=int, default=int(env_default("--v", "0") or 0),
                        help="log verbosity: 0 info, 1+ debug (env KUBELAB_V)")


def setup_logging(component: str, verbosity: int = 0) -> None:
    """Structured one-line logs on stderr: time, level, component, logger, message."""
    logging.basicConfig(
        level=logging.DEBUG if verbosity > 0 else logging.INFO, stream=sys.stderr,
        format=f"%(asctime)s %(levelname)s {component} %(name)s: %(message)s")
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class _SideServer(uvicorn.Server):
    """uvicorn as one task among a daemon's others: SIGTERM and SIGINT stay the daemon's to handle, instead of
    stopping just this server (uvicorn's own handlers would take them over while it runs)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass(frozen=True)
class ServingTLS:
    """HTTPS for a daemon's API; with a client CA, only callers holding a certificate it signed get through
    (upstream's x509 client authentication, with anonymous requests refused at the handshake)."""
    cert_file: str
    key_file: str
    client_ca_file: str | None = None


def http_server(app: Any, host: str, port: int, tls: ServingTLS | None = None) -> uvicorn.Server:
    """uvicorn on the running loop, quiet: for a daemon's side API (not the apiserver, which tunes its own)."""
    secure: dict[str, Any] = {}
    if tls is not None:
        secure = {"ssl_certfile": tls.cert_file, "ssl_keyfile": tls.key_file, "ssl_ca_certs": tls.client_ca_file,
                  "ssl_cert_reqs": ssl.CERT_REQUIRED if tls.client_ca_file else ssl.CERT_NONE}
    config = uvicorn.Config(app, host=host, port=port, loop="none", lifespan="off", access_log=False,
                            log_level="warning", ws_max_size=1 << 24, **secure)
    return _SideServer(config)


def health_server(host: str, port: int) -> uvicorn.Server:
    """/healthz and Prometheus /metrics, as every component serves them."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    async def healthz() -> Response:
        return PlainTextResponse("ok")

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return http_server(app, host, port)


def collect_garbage_less_often() -> None:
    """Young collections every 20,000 net allocations: objects of requests in flight die by reference counting
    before the next one, so few reach the old generation and full collections become rare."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(_GC_YOUNG_THRESHOLD, middle, old)


def run_main(component: str, serve: Callable[[], Coroutine[Any, Any, int]],
             fatal: tuple[type[BaseException], ...] = ()) -> NoReturn:
    """Run a daemon's `serve()` and exit with its code; expected failures end in one log line, not a traceback.
    Losing leadership exits 1 so a supervisor's restart campaigns again, as upstream's components do."""
    from .leaderelection import LeadershipLost  # here: leader election needs the API client, daemon.py does not
    code = 0
    try:
        code = asyncio.run(serve())
    except* KeyboardInterrupt:
        pass
    except* LeadershipLost as group:
        logging.getLogger(component).error("%s; exiting so a restart campaigns again", group.exceptions[0])
        code = 1
    except* (errors.ApiError, OSError, *fatal) as group:
        logging.getLogger(component).error("%s stopped: %s", component, group.exceptions[0])
        code = 1
    sys.exit(code)
