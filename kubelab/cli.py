"""`kubelab`: the one command — the local cluster (up/down/status), certificates, and the multi-host lab."""
from __future__ import annotations

import argparse
import subprocess
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
    image = sub.add_parser("image", help="image load IMAGE...: copy local images into every lab host's engine")
    image.add_argument("action", choices=["load"])
    image.add_argument("images", nargs="+", metavar="IMAGE")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.command == "certs":
        sys.exit(certs.run(args))
    if args.command == "lab":
        from . import lab  # only the lab needs root, namespaces and a dockerd per host
        sys.exit(lab.main(args.lab_args))
    if args.command == "image":
        sys.exit(load_images(args.images))
    sys.exit(local.run(args))


def load_images(images: list[str]) -> int:
    """`docker save` from this machine's engine, `docker load` into each lab host's: no registry involved
    (kind's `kind load docker-image`).  Pods use them with imagePullPolicy IfNotPresent or Never."""
    from . import lab
    hosts = lab.Lab.load(lab.default_state_dir()).hosts
    try:
        archive = subprocess.run(["docker", "save", *images], capture_output=True, check=True, timeout=600).stdout
        for host in hosts:
            subprocess.run(["docker", "-H", host.docker_host, "load"], input=archive, capture_output=True,
                           check=True, timeout=600)
            print(f"  {host.name:<6} loaded {', '.join(images)}")
    except subprocess.CalledProcessError as err:
        reason = err.stderr.decode(errors="replace").strip().splitlines()
        print(f"error: {' '.join(err.cmd[:4])}: {reason[-1] if reason else f'exit {err.returncode}'}", file=sys.stderr)
        return 1
    except FileNotFoundError:
        print("error: no docker command on PATH", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    main()
