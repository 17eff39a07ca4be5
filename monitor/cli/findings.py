"""``mimamori cameras findings``: the registry rows the observations contradict, for an operator to check.

Registered on the ``cameras`` sub-app in main.py.
"""

from __future__ import annotations

import typer

from monitor.cli.common import settings


def cameras_findings() -> None:
    """One line per registry row to check: camera, field, registry and observed value, since when, why."""
    from monitor.service.app import open_store
    from monitor.store.findings import current_findings, evidence_summary, value_text

    s = settings()
    store = open_store(s)
    try:
        with store.sessions() as session:
            findings = current_findings(session)
    finally:
        store.engine.dispose()
    if not findings:
        typer.echo("no registry rows to check")
    for f in findings:
        since = f.since.astimezone(s.tz).isoformat(timespec="minutes")
        typer.echo(f"{f.camera}\t{f.field}\tregistry {value_text(f.registry)}\tobserved {value_text(f.observed)}\t"
                   f"since {since}\t{evidence_summary(f.evidence)}")
