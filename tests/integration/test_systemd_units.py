"""deploy/systemd/: every unit's command line, with its environment file's ARGS and the placeholders LAB.md tells the
reader to replace, is accepted by that daemon's own flag parser (against the files `kubelab certs` writes), so a typo
in a unit or env file shows here rather than on a VM."""
from __future__ import annotations

import configparser
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import REPO
from kubelab import certs

SYSTEMD = REPO / "deploy" / "systemd"
PLACEHOLDERS = {"CP_IP": "10.0.0.10", "NODE_IP": "10.0.0.11", "NODE": "w1", "IFACE": "eth0"}
UNITS = sorted(p.name for p in SYSTEMD.glob("kubelab-*.service") if p.name != "kubelab-etcd.service")


def console_scripts() -> dict[str, str]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]


def unit_command(unit: str, pki: Path) -> tuple[str, list[str]]:
    """(the module:function ExecStart runs, its arguments) with $ARGS expanded as systemd would."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read(SYSTEMD / unit)
    program, *rest = shlex.split(parser["Service"]["ExecStart"])
    env_name = Path(parser["Service"]["EnvironmentFile"]).name
    env = {}
    for line in (SYSTEMD / env_name).read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = shlex.split(value)[0]
    args = env["ARGS"].replace("/etc/kubelab/pki", str(pki))
    for placeholder, value in PLACEHOLDERS.items():  # NODE_IP before NODE: the dict keeps that order
        args = args.replace(placeholder, value)
    assert rest == ["$ARGS"], f"{unit}: ExecStart should pass $ARGS"
    return console_scripts()[Path(program).name], shlex.split(args)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return certs.create(tmp_path_factory.mktemp("pki"), "https://10.0.0.10:6443", ["10.0.0.10"], [],
                        ["w1=10.0.0.11"]).directory


@pytest.mark.parametrize("unit", UNITS)
def test_unit_flags_parse(unit: str, pki: Path) -> None:
    entry, args = unit_command(unit, pki)
    module = entry.split(":")[0]
    probe = f"import sys, {module} as m; m.parse_args(sys.argv[1:]); print('parsed')"
    done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0 and "parsed" in done.stdout, f"{unit}: {' '.join(args)}\n{done.stderr}"
