"""The one module that runs iptables: whole tables in one `iptables-restore` transaction, and reads back.

Everything else in kube_proxy computes rule text as pure functions; this module
only hands that text to the kernel.  `--noflush` keeps chains we do not own
(Docker's, the host's) untouched: only the chains declared in the text are
replaced, atomically, as upstream's proxier does.
"""
from __future__ import annotations

import asyncio
import shutil

RESTORE_WAIT_S = 5  # -w: wait for the xtables lock rather than fail while another writer holds it


class IptablesError(RuntimeError):
    """iptables-restore or iptables-save refused; the message carries its stderr."""


def available() -> bool:
    return shutil.which("iptables-restore") is not None and shutil.which("iptables-save") is not None


async def restore(rules: str, *, noflush: bool = True) -> None:
    """Apply `rules` (iptables-save syntax, one or more `*table ... COMMIT` blocks) in one transaction."""
    argv = ["iptables-restore", "-w", str(RESTORE_WAIT_S)]
    if noflush:
        argv.append("--noflush")
    await _run(argv, rules.encode())


async def save(table: str) -> str:
    """The table as iptables-save prints it (for drift checks, cleanup and tests)."""
    return (await _run(["iptables-save", "-t", table], None)).decode()


async def _run(argv: list[str], stdin: bytes | None) -> bytes:
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate(stdin)
    if proc.returncode != 0:
        raise IptablesError(f"{argv[0]} exited {proc.returncode}: {err.decode(errors='replace').strip()}")
    return out
