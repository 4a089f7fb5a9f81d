"""`python -m apiserver`: flags, then etcd, the watch caches and the HTTP server in one TaskGroup.

With `--workers N` it supervises N such processes sharing the port (SO_REUSEPORT),
the way a Go apiserver uses every core; each has its own watch caches.
"""
from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys

import uvicorn

from common.daemon import add_logging_flags, collect_garbage_less_often, env_default, parse_duration, setup_logging

from . import servicealloc
from .app import ApiServer, Settings, create_app
from .authn import TokenFileError, User, load_token_file
from .kubelet_proxy import KubeletClientTLS
from .storage import Unavailable

log = logging.getLogger("apiserver")


def parse_args(argv: list[str] | None = None) -> tuple[Settings, int]:
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
    p.add_argument("--workers", type=int, default=int(env_default("--workers", "1") or 1),
                   help="serving processes sharing the port, e.g. one per core (env KUBELAB_WORKERS)")
    p.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)  # set for --workers' children
    p.add_argument("--tls-cert-file", default=env_default("--tls-cert-file"),
                   help="serve HTTPS with this certificate (PEM, chain after the leaf)")
    p.add_argument("--tls-private-key-file", default=env_default("--tls-private-key-file"),
                   help="the private key of --tls-cert-file")
    p.add_argument("--token-auth-file", default=env_default("--token-auth-file"),
                   help='bearer tokens, CSV lines token,user,uid[,"group1,group2"]; without it nothing is checked')
    p.add_argument("--kubelet-client-certificate", default=env_default("--kubelet-client-certificate"),
                   help="call kubelets (logs, exec) over HTTPS with this client certificate")
    p.add_argument("--kubelet-client-key", default=env_default("--kubelet-client-key"),
                   help="the private key of --kubelet-client-certificate")
    p.add_argument("--kubelet-certificate-authority", default=env_default("--kubelet-certificate-authority"),
                   help="the CA kubelets' serving certificates must chain to (unset: not checked, as upstream)")
    p.add_argument("--insecure-allow-remote", action="store_true",
                   default=env_default("--insecure-allow-remote") in ("1", "true"),
                   help="serve a non-loopback address without TLS and tokens (tests and throwaway labs only)")
    _add_service_flags(p)
    add_logging_flags(p)
    args = p.parse_args(argv)
    if args.workers < 1:
        p.error("--workers must be at least 1")
    _check_service_flags(p, args)
    setup_logging("apiserver", args.verbosity)
    tokens = _security_or_exit(p, args)
    return Settings(etcd_servers=[s.strip() for s in args.etcd_servers.split(",") if s.strip()],
                    bind_address=args.bind_address, port=args.port,
                    compaction_interval_s=_seconds(args.etcd_compaction_interval),
                    watch_cache_size=args.watch_cache_size,
                    bookmark_interval_s=_seconds(args.watch_bookmark_interval),
                    event_ttl_s=_seconds(args.event_ttl),
                    etcd_connect_timeout_s=_seconds(args.etcd_connect_timeout),
                    reuse_port=args.reuse_port, tls_cert_file=args.tls_cert_file,
                    tls_private_key_file=args.tls_private_key_file, tokens=tokens,
                    service_cluster_ip_range=args.service_cluster_ip_range,
                    service_node_port_range=args.service_node_port_range,
                    advertise_address=args.advertise_address, advertise_port=args.advertise_port,
                    kubelet_tls=_kubelet_tls_or_exit(p, args)), args.workers


def _add_service_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--service-cluster-ip-range", default=env_default("--service-cluster-ip-range", "10.96.0.0/12"),
                   help="IPv4 CIDR Services' cluster IPs come from (env KUBELAB_SERVICE_CLUSTER_IP_RANGE)")
    p.add_argument("--service-node-port-range", default=env_default("--service-node-port-range", "30000-32767"),
                   help="port range NodePort and LoadBalancer Services' node ports come from, LOW-HIGH")
    p.add_argument("--advertise-address", default=env_default("--advertise-address"),
                   help="the IP the default/kubernetes Service's Endpoints point at; without it none are written")
    p.add_argument("--advertise-port", type=int, default=int(env_default("--advertise-port", "0") or 0) or None,
                   help="the port behind the kubernetes Service (its targetPort); default --port")


def _check_service_flags(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    try:
        servicealloc.IPRange.parse(args.service_cluster_ip_range)
        servicealloc.PortRange.parse(args.service_node_port_range)
        if args.advertise_address:
            ipaddress.ip_address(args.advertise_address)
    except ValueError as exc:
        p.error(str(exc))


def _security_or_exit(p: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, User] | None:
    """The tokens, after refusing set-ups that would expose an open API beyond this machine."""
    if bool(args.tls_cert_file) != bool(args.tls_private_key_file):
        p.error("--tls-cert-file and --tls-private-key-file go together")
    for flag, path in (("--tls-cert-file", args.tls_cert_file), ("--tls-private-key-file", args.tls_private_key_file)):
        if path and not os.path.isfile(path):
            p.error(f"{flag} {path}: no such file")
    try:
        tokens = load_token_file(args.token_auth_file) if args.token_auth_file else None
    except TokenFileError as exc:
        p.error(str(exc))
    secured = bool(args.tls_cert_file and tokens)
    if not secured and not _is_loopback(args.bind_address) and not args.insecure_allow_remote:
        p.error(f"refusing to serve {args.bind_address} without TLS and tokens: give --tls-cert-file, "
                "--tls-private-key-file and --token-auth-file (`kubelab certs` makes them), or "
                "--insecure-allow-remote for a throwaway lab")
    return tokens


def _kubelet_tls_or_exit(p: argparse.ArgumentParser, args: argparse.Namespace) -> KubeletClientTLS | None:
    """HTTPS towards kubelets when any --kubelet-* TLS flag is given, with every named file checked now."""
    cert, key, ca = args.kubelet_client_certificate, args.kubelet_client_key, args.kubelet_certificate_authority
    if bool(cert) != bool(key):
        p.error("--kubelet-client-certificate and --kubelet-client-key go together")
    if not (cert or ca):
        return None
    tls = KubeletClientTLS(cert, key, ca)
    try:
        tls.context()
    except (OSError, ssl.SSLError) as exc:
        p.error(f"--kubelet-client-certificate/--kubelet-client-key/--kubelet-certificate-authority: {exc}")
    return tls


def _is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _seconds(value: float | str) -> float:
    return parse_duration(value) if isinstance(value, str) else value


class _Stopped(Exception):
    """The HTTP server has ended; leaves the TaskGroup with the process's exit code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


async def serve(settings: Settings) -> int:
    server = ApiServer(settings)
    config = uvicorn.Config(create_app(server), host=settings.bind_address, port=settings.port,
                            http="httptools", loop="none", lifespan="off", access_log=False,
                            proxy_headers=False, server_header=False,  # as upstream: X-Forwarded-* not trusted
                            log_level="warning", timeout_keep_alive=120, timeout_graceful_shutdown=5,
                            ssl_certfile=settings.tls_cert_file, ssl_keyfile=settings.tls_private_key_file)
    http = uvicorn.Server(config)
    sockets = [_shared_socket(settings)] if settings.reuse_port else None
    code = 1
    try:
        async with asyncio.TaskGroup() as tg:
            await server.run(tg)
            http_task = tg.create_task(http.serve(sockets=sockets))
            tg.create_task(_end_watches_on_shutdown(http, server))
            log.info("serving the Kubernetes API on %s://%s:%d", "https" if settings.tls_cert_file else "http",
                     settings.bind_address, settings.port)
            await http_task
            raise _Stopped(0 if http.started else 1)
    except* _Stopped as stopped:
        code = stopped.exceptions[0].code  # type: ignore[attr-defined]
    return code


def _shared_socket(settings: Settings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.bind_address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((settings.bind_address, settings.port))
    return sock


async def _end_watches_on_shutdown(http: uvicorn.Server, server: ApiServer) -> None:
    """Watch streams never finish on their own: end them so a graceful shutdown is quick."""
    while not http.should_exit:
        await asyncio.sleep(0.1)
    server.close_watches()


def run_one(settings: Settings) -> int:
    collect_garbage_less_often()
    try:
        import uvloop
        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    code = 0
    try:
        with runner:
            code = runner.run(serve(settings))
    except* Unavailable as group:
        log.error("%s", group.exceptions[0])
        code = 1
    except* KeyboardInterrupt:
        pass
    return code


def supervise(argv: list[str], workers: int) -> int:
    """Run `workers` children on one port; stop them all when told to or when one of them ends."""
    base = [sys.executable, "-m", "apiserver", *argv, "--workers", "1", "--reuse-port"]
    children = [subprocess.Popen(base if i == 0 else [*base, "--etcd-compaction-interval", "0"])
                for i in range(workers)]  # one compactor is enough

    asked_to_stop = []

    def stop(signum: int, _frame: object) -> None:
        asked_to_stop.append(signum)
        for child in children:
            if child.poll() is None:
                child.terminate()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while all(child.poll() is None for child in children):
        try:
            children[0].wait(0.5)
        except subprocess.TimeoutExpired:
            continue
    first_exit = next(child.returncode for child in children if child.returncode is not None)
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        child.wait()
    # Children end by the SIGTERM we forward (negative codes); a child ending on its own is a failure.
    return 0 if asked_to_stop else (first_exit or 1)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    settings, workers = parse_args(argv)
    sys.exit(supervise(argv, workers) if workers > 1 else run_one(settings))
