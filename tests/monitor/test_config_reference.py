"""The configuration reference is generated from the settings models and committed; `config show`
prints the effective configuration with where each value came from, secrets hidden."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from monitor.config.reference import reference_markdown, settings_keys, show_lines

REPO = Path(__file__).resolve().parents[2]
MIMAMORI = [sys.executable, "-c", "from monitor.cli.main import run_cli; run_cli()"]


def test_the_committed_reference_is_what_the_models_generate():
    """When a setting is added or changed, regenerate: `mimamori config reference --out docs/configuration.md`."""
    assert (REPO / "docs" / "configuration.md").read_text(encoding="utf-8") == reference_markdown()


def test_every_row_of_the_reference_has_as_many_cells_as_its_header():
    """A "|" inside a cell (an enum's values, once) ends the cell early in rendered Markdown."""
    rows = [x for x in reference_markdown().splitlines() if x.startswith("|") and not x.startswith("|--")]
    widths = {}
    for row in rows:
        cells = re.split(r"(?<!\\)\|", row.strip("|"))  # an escaped "\|" stays in its cell
        if "key" in cells[0]:
            header = len(cells)
        widths.setdefault(len(cells) == header, []).append(row)
    assert widths.get(False) is None, widths.get(False)


def test_every_key_is_explained_and_every_policy_threshold_is_listed():
    keys = list(settings_keys())
    assert all(k.meaning for k in keys), [k.path for k in keys if not k.meaning]
    paths = {k.path for k in keys}
    assert {"probes.registry_reload_s", "classifier.overlay_par_share", "escalation.quiet_start",
            "notify.twilio.status_callback_url", "recorder.retention_days"} <= paths


def test_the_example_file_is_the_readmes_and_loads(tmp_path):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```toml\n(.*?)```", readme, re.S) if "[probes]" in b]
    assert (REPO / "mimamori.example.toml").read_text(encoding="utf-8") == block
    assert "docs/configuration.md" in readme


def run_show(env_extra: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMAMORI_")} | env_extra
    return subprocess.run([*MIMAMORI, "--config", str(REPO / "mimamori.example.toml"), "config", "show", *args],
                          env=env, capture_output=True, text=True, timeout=60, cwd=REPO)


def test_config_show_names_each_values_source_and_hides_secrets():
    p = run_show({"MIMAMORI_PROBES__INTERVAL_S": "30", "MIMAMORI_TWILIO_AUTH_TOKEN": "tok-must-not-show",
                  "MIMAMORI_DATABASE_URL": "postgresql+psycopg://mimamori:pw-must-not-show@db.example/mimamori"})
    assert p.returncode == 0, p.stderr
    lines = {line.split("=")[0].strip(): line for line in p.stdout.splitlines() if "=" in line}
    assert lines["probes.interval_s"].endswith("= 30.0    # environment")
    assert lines["probes.tcp_timeout_s"].endswith("# file")
    assert lines["probes.registry_reload_s"].endswith("= 300.0    # default")
    assert lines["twilio_auth_token"].endswith("= (set, hidden)    # environment")
    assert "postgresql+psycopg://mimamori:***@db.example/mimamori" in lines["database_url"]
    assert lines["classifier.open_after_bad_intervals"].endswith("= 3    # file")
    assert "tok-must-not-show" not in p.stdout + p.stderr and "pw-must-not-show" not in p.stdout + p.stderr


def test_config_show_refuses_a_configuration_that_cannot_work_in_one_line_per_problem():
    p = run_show({"MIMAMORI_NOTIFY__DISPATCH_EVERY_S": "-1"})
    assert p.returncode != 0
    assert "notify.dispatch_every_s" in p.stderr and "Traceback" not in p.stderr


def test_config_show_works_on_the_demos_configuration(tmp_path):
    from monitor.demo.run import demo_settings

    peers = SimpleNamespace(smtp_port=2525, prism_url="http://127.0.0.1:4010")
    lines = show_lines(demo_settings(tmp_path, peers), {}, {})  # the demo's settings are built in code
    text = "\n".join(lines)
    assert 'notify.twilio.api_base_url' in text and '"http://127.0.0.1:4010"' in text
    assert "twilio_auth_token" in text and "(set, hidden)" in text
    from monitor.demo.peers import DEMO_AUTH_TOKEN
    assert DEMO_AUTH_TOKEN not in text
    assert re.search(r'escalation\.vendor_after\s+= "PT20M"', text), text
