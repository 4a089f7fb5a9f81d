"""`python -m scheduler`: flags, the configuration file, leader election, /healthz and /metrics."""
from __future__ import annotations

import argparse
import asyncio
import logging
from dataclasses import dataclass

from apiserver.discovery import GIT_VERSION
from common.client import ApiClient
from common.daemon import (add_client_flags, add_logging_flags, collect_garbage_less_often, env_default, health_server,
                           run_main, setup_logging)
from common.events import EventRecorder
from common.leaderelection import LeaderElectionConfig, run_as_leader

from .config import SchedulerConfig, default_config, load_config
from .framework import Framework
from .scheduler import Scheduler

log = logging.getLogger("scheduler")


@dataclass
class Settings:
    server: str | None
    kubeconfig: str | None
    config: SchedulerConfig
    bind_address: str
    port: int


def parse_args(argv: list[str] | None = None) -> Settings:
    p = argparse.ArgumentParser(prog="python -m scheduler",
                                description="kubelab kube-scheduler: binds pending pods to nodes.")
    add_client_flags(p)
    p.add_argument("--config", default=env_default("--config"),
                   help="a KubeSchedulerConfiguration file (kubescheduler.config.k8s.io/v1); default: upstream's")
    p.add_argument("--leader-elect", choices=("true", "false"), default=env_default("--leader-elect"),
                   help="overrides the configuration's leaderElection.leaderElect (default true)")
    p.add_argument("--bind-address", default=env_default("--bind-address", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(env_default("--port", "10259") or 10259),
                   help="port of /healthz and /metrics (plain HTTP); 0 disables")
    add_logging_flags(p)
    args = p.parse_args(argv)
    setup_logging("scheduler", args.verbosity)
    try:
        config = load_config(args.config) if args.config else default_config()
    except (OSError, ValueError) as exc:
        p.error(f"--config {args.config}: {exc}")
    if args.leader_elect is not None:
        config.leader_election.leader_elect = args.leader_elect == "true"
    return Settings(args.server, args.kubeconfig, config, args.bind_address, args.port)


async def serve(settings: Settings) -> int:
    client = ApiClient.from_flags(settings.server, settings.kubeconfig, user_agent=f"kube-scheduler/{GIT_VERSION}")
    config = settings.config
    profiles = {p.scheduler_name: Framework(p, config.percentage_of_nodes_to_score) for p in config.profiles}
    recorder = EventRecorder(client, config.profiles[0].scheduler_name)
    scheduler = Scheduler(client, profiles, recorder)
    election = config.leader_election
    lease = None if not election.leader_elect else LeaderElectionConfig(
        election.resource_name, election.resource_namespace, lease_duration_s=election.lease_duration_s,
        renew_deadline_s=election.renew_deadline_s, retry_period_s=election.retry_period_s)
    async with asyncio.TaskGroup() as tg:
        if settings.port:
            tg.create_task(health_server(settings.bind_address, settings.port).serve())
        log.info("kube-scheduler %s starting", GIT_VERSION)
        await run_as_leader(client, lease, scheduler.run)
    return 0


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    collect_garbage_less_often()
    run_main("scheduler", lambda: serve(settings))
