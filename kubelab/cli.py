"""`kubelab`: the one command — the local cluster (up/down/status), certificates, and the multi-host lab."""
from __future__ import annotations

import argparse
import sys

from . import certs, local


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kubelab", description="A real, small Kubernetes on this machine.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = sub.add_parser("up", help="start the local single-node cluster (idempotent); waits for the node")
    up.add_argument("--fresh", action="store_true", help="start from an empty cluster (deletes the saved objects)")
    sub.add_parser("down", help="stop the local cluster; its objects stay for the next up")
    sub.add_parser("status", help="what runs, and whether the node is Ready")
    certs.add_arguments(sub.add_parser("certs", help="a CA, the apiserver certificate, tokens and kubeconfigs"))
    lab = sub.add_parser("lab", help="the simulated multi-host lab (root): lab up|down|cut|heal|status",
                         add_help=False)
    lab.add_argument("lab_args", nargs=argparse.REMAINDER)
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.command == "certs":
        sys.exit(certs.run(args))
    if args.command == "lab":
        from . import lab  # only the lab needs root, namespaces and a dockerd per host
        lab.main(args.lab_args)
        return
    sys.exit(local.run(args))


if __name__ == "__main__":
    main()
