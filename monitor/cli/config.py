"""`mimamori config show | reference`: the effective configuration and the generated reference."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from monitor.cli.common import _State

config_app = typer.Typer(help="The configuration.", no_args_is_help=True)


@config_app.command("show")
def config_show() -> None:
    """The effective configuration, one key a line, with where each value came from (default, file,
    environment). Secrets show only whether they are set; a database URL's password is hidden."""
    from monitor.config.reference import show_lines
    from monitor.config.settings import load_settings, read_config_file

    s = load_settings(_State.config)
    path, data = read_config_file(_State.config, os.environ)
    typer.echo(f"# {path}{'' if path.exists() else ' (not found: defaults and environment only)'}")
    for line in show_lines(s, data, os.environ):
        typer.echo(line)


@config_app.command("reference")
def config_reference(
    out: Annotated[Path | None, typer.Option("--out", help="write here (docs/configuration.md)")] = None,
) -> None:
    """The configuration reference in Markdown, generated from the settings models."""
    from monitor.config.reference import reference_markdown

    text = reference_markdown()
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
