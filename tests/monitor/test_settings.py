from __future__ import annotations

import os

import pytest

from monitor.config.settings import load_settings
from monitor.core.errors import ConfigError


def test_defaults(tmp_path):
    s = load_settings(None, env={})
    assert s.probes.interval_s == 60 and s.probes.tcp_timeout_s == 5
    assert s.timezone == "Asia/Tokyo"
    assert s.effective_database_url.startswith("sqlite:///") and s.effective_database_url.endswith("mimamori.db")


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[probes]\nintervl_s = 3\n", "probes.intervl_s: unknown key"),
        ("colour = 'red'\n", "colour: unknown key"),
        ("[probes]\ninterval_s = -1\n", "probes.interval_s: Input should be greater than 0"),
        ("timezone = 'Mars/Olympus'\n", "unknown time zone"),
        ("secret_key = 'abc'\n", "secrets come from the environment only"),
        ("probes = [", "not valid TOML"),
        ("[web]\nsso_header = 'X-Remote-User'\n", "sso_header is set but sso_proxies is empty"),
        ("[web]\nsso_header = 'X-Remote-User'\nsso_proxies = ['proxy.city']\n", "'proxy.city' is not an address"),
    ],
)
def test_bad_config_names_the_key(tmp_path, toml, message):
    p = tmp_path / "mimamori.toml"
    p.write_text(toml)
    with pytest.raises(ConfigError) as e:
        load_settings(p, env={})
    assert message in str(e.value)
    assert str(p) in str(e.value)


def test_environment_overrides_file(tmp_path):
    p = tmp_path / "mimamori.toml"
    p.write_text("[probes]\ninterval_s = 30\ntcp_timeout_s = 2\n")
    s = load_settings(
        p, env={"MIMAMORI_DATABASE_URL": "postgresql+psycopg://u@h/db", "MIMAMORI_PROBES__INTERVAL_S": "15"}
    )
    assert s.effective_database_url == "postgresql+psycopg://u@h/db"
    assert s.probes.interval_s == 15 and s.probes.tcp_timeout_s == 2


def test_config_path_from_environment(tmp_path):
    p = tmp_path / "x.toml"
    p.write_text("timezone = 'UTC'\n")
    assert load_settings(None, env={"MIMAMORI_CONFIG": str(p)}).timezone == "UTC"


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", env={})


def test_secret_key_not_in_repr():
    s = load_settings(None, env={"MIMAMORI_SECRET_KEY": "topsecretvalue"})
    assert "topsecretvalue" not in repr(s)


def test_policy_sections_validated_at_start(tmp_path):
    from datetime import time, timedelta

    from monitor.config.settings import classifier_policy, escalation_policy

    p = tmp_path / "mimamori.toml"
    p.write_text("timezone = 'Asia/Tokyo'\n[escalation]\nquiet_start = '22:00'\nowner_delay = 'PT20M'\n"
                 "[classifier]\nopen_after_bad_intervals = 4\n")
    s = load_settings(p, env={})
    assert escalation_policy(s).quiet_start == time(22, 0)
    assert escalation_policy(s).owner_delay == timedelta(minutes=20)
    assert escalation_policy(s).tz == "Asia/Tokyo"
    assert classifier_policy(s).open_after_bad_intervals == 4
    p.write_text("[classifier]\nopen_after_bad_intervalz = 4\n")
    with pytest.raises(ConfigError, match="classifier.open_after_bad_intervalz: unknown key"):
        load_settings(p, env={})


@pytest.mark.parametrize(("section", "line", "said"), [
    ("classifier", "open_after_bad_intervals = 0", "classifier.open_after_bad_intervals: must be at least 1"),
    ("classifier", "local_congestion_hold_intervals = -3",
     "classifier.local_congestion_hold_intervals: must be at least 1"),
    ("classifier", "straggler_grace = '-PT5M'", "classifier.straggler_grace: must not be negative"),
    ("classifier", "outage_fraction = 1.5", "classifier.outage_fraction: must be more than 0 and at most 1"),
    ("classifier", "congestion_gap_s = 0.0", "classifier.congestion_gap_s: must be more than 0"),
    ("classifier", "congestion_on_count = 7", "classifier.congestion_on_count: congestion_off_count < "),
    ("escalation", "owner_delay = '-PT1M'", "escalation.owner_delay: must not be negative"),
])
def test_a_policy_number_that_cannot_mean_anything_is_refused_naming_the_key(tmp_path, section, line, said):
    p = tmp_path / "mimamori.toml"
    p.write_text(f"[{section}]\n{line}\n")
    with pytest.raises(ConfigError) as e:
        load_settings(p, env={})
    assert f"{p}: {said}" in str(e.value)


def test_every_policy_mistake_is_reported_at_once(tmp_path):
    p = tmp_path / "mimamori.toml"
    p.write_text("[classifier]\nsync_window = '-PT1M'\noutage_fraction = 0\n[escalation]\nvendor_after = '-PT1H'\n")
    with pytest.raises(ConfigError) as e:
        load_settings(p, env={})
    assert str(e.value).splitlines() == [f"{p}: classifier.sync_window: must not be negative",
                                         f"{p}: classifier.outage_fraction: must be more than 0 and at most 1",
                                         f"{p}: escalation.vendor_after: must not be negative"]


def test_settings_and_policy_mistakes_come_together_each_blamed_where_it_was_made(tmp_path):
    """All at once (a policy mistake is not held back until the settings are fixed); a value from the
    environment names its variable, not the file; a duration written "15m" says how to write one."""
    p = tmp_path / "mimamori.toml"
    p.write_text("[probes]\ninterval_s = -1\n[escalation]\nowner_delay = '15m'\nquiet_start = '9pm'\n"
                 "[classifier]\nopen_after_bad_intervals = 0\n")
    with pytest.raises(ConfigError) as e:
        load_settings(p, env={"MIMAMORI_WEB__PORT": "abc"})
    lines = str(e.value).splitlines()
    assert lines[0] == f"{p}: probes.interval_s: Input should be greater than 0"
    assert lines[1].startswith("environment MIMAMORI_WEB__PORT: web.port: ") and str(p) not in lines[1]
    assert lines[2] == f"{p}: classifier.open_after_bad_intervals: must be at least 1"
    assert lines[3] == f'{p}: escalation.quiet_start: not a time of day: write it as "HH:MM", e.g. "21:00"'
    assert lines[4].startswith(f'{p}: escalation.owner_delay: not a duration: write it in ISO 8601, e.g. "PT15M"')
    assert len(lines) == 5 and "identifier" not in str(e.value)


def test_the_readme_example_configuration_is_valid(tmp_path):
    """The README's mimamori.toml is what operators copy: it must load as it stands."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    (example,) = [b for b in re.findall(r"```toml\n(.*?)```", readme, re.S) if "[probes]" in b]
    p = tmp_path / "mimamori.toml"
    p.write_text(example, encoding="utf-8")
    s = load_settings(p, env={})
    assert s.notify.vendors["vendor-1"].email == "desk@vendor.example.jp"
    assert s.report.operators == ["anzen@city.example.jp"]


def test_an_explicit_environment_never_touches_the_process_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MIMAMORI_PROBES__INTERVAL_S", "45")
    monkeypatch.delenv("MIMAMORI_WEB__PORT", raising=False)
    before = dict(os.environ)
    monkeypatch.chdir(tmp_path)  # no mimamori.toml here
    s = load_settings(None, env={"MIMAMORI_WEB__PORT": "9999"})
    assert s.web.port == 9999
    assert s.probes.interval_s == 60  # the process's MIMAMORI_PROBES__INTERVAL_S is not read
    assert dict(os.environ) == before
    assert load_settings(None).probes.interval_s == 45  # and the default still reads os.environ


TWILIO = ('[notify.twilio]\naccount_sid = "AC0123456789abcdef0123456789abcdef"\nfrom_number = "+815012345678"\n'
          'status_callback_url = "https://mimamori.city.example.jp/twilio/status"\n'
          '[web]\npublic_base_url = "https://mimamori.city.example.jp"\n')


@pytest.mark.parametrize(("toml", "env", "said"), [
    (TWILIO, {}, "notify.twilio: MIMAMORI_TWILIO_AUTH_TOKEN is not set"),
    (TWILIO.replace("https://mimamori.city.example.jp/twilio", "https://elsewhere.example.jp/twilio"),
     {"MIMAMORI_TWILIO_AUTH_TOKEN": "t"}, "notify.twilio.status_callback_url: must lie under web.public_base_url"),
    (TWILIO.replace("https://mimamori.city.example.jp/twilio/status", "javascript:alert(1)"),
     {"MIMAMORI_TWILIO_AUTH_TOKEN": "t"}, "notify.twilio.status_callback_url: String should match pattern"),
    ('[notify.smtp]\nhost = "smtp.example.jp"\nusername = "m"\nfrom_addr = "m@example.jp"\n', {},
     "notify.smtp: username is set but MIMAMORI_SMTP_PASSWORD is not"),
    ('[notify.smtp]\nhost = "smtp.example.jp"\nfrom_addr = "also bad"\n', {}, "notify.smtp.from_addr:"),
    ('[notify]\noperators = [{ name = "安全課", email = "also bad" }]\n', {}, "notify.operators.0.email:"),
    ('[notify]\nvendors = { v = { name = "保守", email = "a@b.jp, c@d.jp" } }\n', {}, "notify.vendors.v.email:"),
    ('[notify]\noperators = [{ name = "安全課\\n課長", email = "a@b.jp" }]\n', {}, "notify.operators.0.name:"),
    ('[notify]\noperators = [{ name = "安全課", phone = "03-1234-5678" }]\n', {}, "notify.operators.0.phone:"),
])
def test_a_configuration_that_cannot_work_is_refused_at_load_naming_the_key(tmp_path, toml, env, said):
    """A channel without its secret would file owners' messages in a folder as if sent; a callback outside
    the public base URL would be refused by our own server; a bad address fails at the first message."""
    p = tmp_path / "mimamori.toml"
    p.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_settings(p, env=env)
    assert f"{p}: {said}" in str(e.value)
    assert "MIMAMORI_TWILIO_AUTH_TOKEN" not in env or env["MIMAMORI_TWILIO_AUTH_TOKEN"] + "\n" not in str(e.value)


def test_a_complete_twilio_configuration_loads(tmp_path):
    p = tmp_path / "mimamori.toml"
    p.write_text(TWILIO, encoding="utf-8")
    s = load_settings(p, env={"MIMAMORI_TWILIO_AUTH_TOKEN": "t"})
    assert s.notify.twilio is not None and s.twilio_auth_token is not None
