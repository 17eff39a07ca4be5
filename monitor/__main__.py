"""`python -m monitor`: the same as the `mimamori` command."""

from monitor.cli.main import run_cli

run_cli()
