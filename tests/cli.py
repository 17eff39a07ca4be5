"""Run the `mimamori` command as a user does: a real subprocess."""

from __future__ import annotations

import subprocess
import sys

MIMAMORI = [sys.executable, "-c", "from monitor.cli.main import run_cli; run_cli()"]


def mimamori(args: list[str], env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([*MIMAMORI, *args], env=env, capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p
