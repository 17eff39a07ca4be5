"""``mimamori cluster …``: the `mimamori run` processes on this database, which one decides, and the
cameras each records."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from monitor.cli.common import settings

cluster_app = typer.Typer(help="The nodes sharing this database.", no_args_is_help=True)


@cluster_app.command("status")
def cluster_status(
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document: leader, nodes, their cameras")] = False,
) -> None:
    """The nodes that beat on this database: alive (a heartbeat within one lease), which one holds the
    decider lease, the age of each heartbeat, and the cameras each records."""
    from monitor.service.app import open_store
    from monitor.service.cluster import read_status

    s = settings()
    store = open_store(s)
    cameras = [c.camera_id for c in store.cameras()]
    st = read_status(store.sessions, cameras, datetime.now(UTC), timedelta(seconds=s.cluster.lease_s))
    if as_json:
        typer.echo(json.dumps(st.to_json(), ensure_ascii=False, indent=1))
        return
    doc = st.to_json()
    typer.echo(f"leader: {doc['leader'] or 'none (no node holds the decider lease: nothing is decided)'}"
               + (f" (epoch {doc['epoch']})" if doc["leader"] else ""))
    if not doc["nodes"]:
        typer.echo("no node has beaten on this database yet (start `mimamori run`)")
        return
    typer.echo(f"{'node':<24} {'alive':<6} {'role':<8} {'heartbeat':>10} {'cameras':>8}")
    for n in doc["nodes"]:
        role = "leader" if n["leader"] else ("standby" if n["alive"] else "-")
        typer.echo(f"{n['id']:<24} {'yes' if n['alive'] else 'NO':<6} {role:<8} {n['heartbeat_age_s']:>9.0f}s "
                   f"{len(n['cameras']):>8}")
    if cameras and not st.alive:
        typer.echo(f"{len(cameras)} cameras and no live node: nothing is recorded")
