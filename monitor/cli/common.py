"""Small helpers shared by the `mimamori` subcommand modules (no imports of theirs, so no cycles)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from monitor.config.settings import Settings, load_settings


class _State:
    """The global ``--config`` option, set by the main app's callback."""

    config: Path | None = None


def settings() -> Settings:
    return load_settings(_State.config)


def fail(msg: str, code: int = 1) -> typer.Exit:
    """Print `msg` on stderr and return the exit to raise."""
    typer.echo(msg, err=True)
    return typer.Exit(code)


def parse_time(raw: str, s: Settings) -> datetime:
    """An ISO 8601 time from the command line; without an offset, in the fleet's time zone."""
    try:
        t = datetime.fromisoformat(raw)
    except ValueError:
        raise fail(f"not an ISO 8601 time: {raw!r}") from None
    return t if t.tzinfo else t.replace(tzinfo=s.tz)
