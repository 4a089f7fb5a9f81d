"""`python -m controller_manager`: flags, the controllers to run, shared informers, leader election, /healthz."""
from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from apiserver.discovery import GIT_VERSION
from common.client import ApiClient
from common.controller import Controller
from common.daemon import (add_client_flags, add_logging_flags, env_default, health_server, parse_duration, run_main,
                           setup_logging)
from common.informer import SharedInformers
from common.leaderelection import LeaderElectionConfig, run_as_leader

log = logging.getLogger("controller_manager")


@dataclass
class Settings:
    server: str | None
    kubeconfig: str | None
    controllers: list[str]
    leader_elect: bool
    lease_duration_s: float
    renew_deadline_s: float
    retry_period_s: float
    node_monitor_grace_period_s: float
    node_monitor_period_s: float
    cluster_cidr: str
    node_cidr_mask_size: int
    allocate_node_cidrs: bool
    workers: int
    bind_address: str
    port: int


Factory = Callable[[ApiClient, SharedInformers, Settings], Controller]


def _registry() -> dict[str, Factory]:
    """Every controller by its upstream name (`--controllers` takes these)."""
    from .deployment import DeploymentController
    from .endpoints import EndpointsController
    from .garbagecollector import GarbageCollectorController
    from .namespace import NamespaceController
    from .nodeipam import NodeIpamController
    from .nodelifecycle import NodeLifecycleController
    from .replicaset import ReplicaSetController
    from .replicationcontroller import ReplicationControllerController
    from .serviceaccount import ServiceAccountController
    from .servicelb import ServiceLBController
    return {
        "replicaset": lambda c, i, s: ReplicaSetController(c, i),
        "replicationcontroller": lambda c, i, s: ReplicationControllerController(c, i),
        "deployment": lambda c, i, s: DeploymentController(c, i),
        "endpoints": lambda c, i, s: EndpointsController(c, i),
        "namespace": lambda c, i, s: NamespaceController(c, i),
        "serviceaccount": lambda c, i, s: ServiceAccountController(c, i),
        "nodelifecycle": lambda c, i, s: NodeLifecycleController(
            c, i, node_monitor_grace_period_s=s.node_monitor_grace_period_s,
            node_monitor_period_s=s.node_monitor_period_s),
        "nodeipam": lambda c, i, s: NodeIpamController(c, i, cluster_cidr=s.cluster_cidr,
                                                      node_cidr_mask_size=s.node_cidr_mask_size),
        "garbagecollector": lambda c, i, s: GarbageCollectorController(c, i),
        "servicelb": lambda c, i, s: ServiceLBController(c, i),
    }


def select(requested: str, known: list[str], allocate_node_cidrs: bool) -> list[str]:
    """Upstream's `--controllers`: `*` is every default one, `name` adds, `-name` removes."""
    chosen: list[str] = []
    for item in (part.strip() for part in requested.split(",") if part.strip()):
        if item == "*":
            chosen += [n for n in known if n != "nodeipam" or allocate_node_cidrs]
        elif item.startswith("-"):
            if item[1:] not in known:
                raise ValueError(f"unknown controller {item[1:]!r}; known: {', '.join(known)}")
            chosen = [n for n in chosen if n != item[1:]]
        elif item in known:
            chosen.append(item)
        else:
            raise ValueError(f"unknown controller {item!r}; known: {', '.join(known)}")
    return list(dict.fromkeys(chosen))


def parse_args(argv: list[str] | None = None) -> Settings:
    p = argparse.ArgumentParser(prog="python -m controller_manager",
                                description="kubelab kube-controller-manager: the reconcile loops.")
    add_client_flags(p)
    p.add_argument("--controllers", default=env_default("--controllers", "*"),
                   help="comma-separated: * for all, name to add, -name to leave out")
    p.add_argument("--leader-elect", choices=("true", "false"), default=env_default("--leader-elect", "true"))
    p.add_argument("--leader-elect-lease-duration", type=parse_duration, default=15.0)
    p.add_argument("--leader-elect-renew-deadline", type=parse_duration, default=10.0)
    p.add_argument("--leader-elect-retry-period", type=parse_duration, default=2.0)
    p.add_argument("--node-monitor-grace-period", type=parse_duration, default=40.0,
                   help="a node whose lease is older than this becomes Ready=Unknown and unreachable")
    p.add_argument("--node-monitor-period", type=parse_duration, default=5.0)
    p.add_argument("--cluster-cidr", default=env_default("--cluster-cidr", "10.244.0.0/16"))
    p.add_argument("--node-cidr-mask-size", type=int, default=24)
    p.add_argument("--allocate-node-cidrs", choices=("true", "false"), default="true")
    p.add_argument("--concurrent-syncs", type=int, default=5, help="workers per controller")
    p.add_argument("--bind-address", default=env_default("--bind-address", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(env_default("--port", "10257") or 10257),
                   help="port of /healthz and /metrics (plain HTTP); 0 disables")
    add_logging_flags(p)
    args = p.parse_args(argv)
    setup_logging("controller-manager", args.verbosity)
    settings = Settings(args.server, args.kubeconfig, [], args.leader_elect == "true",
                        args.leader_elect_lease_duration, args.leader_elect_renew_deadline,
                        args.leader_elect_retry_period, args.node_monitor_grace_period, args.node_monitor_period,
                        args.cluster_cidr, args.node_cidr_mask_size, args.allocate_node_cidrs == "true",
                        args.concurrent_syncs, args.bind_address, args.port)
    try:
        settings.controllers = select(args.controllers, list(_registry()), settings.allocate_node_cidrs)
    except ValueError as exc:
        p.error(f"--controllers: {exc}")
    return settings


async def run_controllers(client: ApiClient, settings: Settings) -> None:
    informers = SharedInformers(client)
    registry = _registry()
    controllers = [registry[name](client, informers, settings) for name in settings.controllers]
    log.info("starting controllers: %s", ", ".join(settings.controllers))
    async with asyncio.TaskGroup() as tg:
        for controller in controllers:
            tg.create_task(controller.run(settings.workers), name=controller.name)


async def serve(settings: Settings) -> int:
    client = ApiClient.from_flags(settings.server, settings.kubeconfig,
                                  user_agent=f"kube-controller-manager/{GIT_VERSION}")
    async with asyncio.TaskGroup() as tg:
        if settings.port:
            tg.create_task(health_server(settings.bind_address, settings.port).serve())
        lease = None if not settings.leader_elect else LeaderElectionConfig(
            "kube-controller-manager", "kube-system", lease_duration_s=settings.lease_duration_s,
            renew_deadline_s=settings.renew_deadline_s, retry_period_s=settings.retry_period_s)
        log.info("kube-controller-manager %s starting", GIT_VERSION)
        await run_as_leader(client, lease, lambda: run_controllers(client, settings))
    return 0


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    run_main("controller-manager", lambda: serve(settings))
