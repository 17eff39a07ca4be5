"""Command-line edges that used to be tracebacks or misleading: one line naming the problem, exit
non-zero, nothing written."""

from __future__ import annotations

import os

import pytest

from tests.cli import mimamori


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("MIMAMORI_")}
    e.update(MIMAMORI_DATA_DIR=str(tmp_path / "data"), MIMAMORI_CONFIG=str(tmp_path / "absent.toml"))
    (tmp_path / "absent.toml").write_text("")
    return e


def _one_error(p, *needles: str) -> None:
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and all(n in lines[0] for n in needles), p.stderr
    assert "Traceback" not in p.stderr and "Aborted" not in p.stderr


def test_replay_of_a_gzip_file_cut_short_says_so_and_writes_nothing(env, tmp_path, fleet11):
    data = (fleet11 / "observations.jsonl.gz").read_bytes()
    cut = tmp_path / "observations.jsonl.gz"
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "decisions.jsonl"
    p = mimamori(["replay", "--registry", str(fleet11 / "cameras.csv"), "--observations", str(cut),
                  "--out", str(out)], env, check=False)
    _one_error(p, str(cut), "the compressed file is cut short")
    assert not out.exists() and not (tmp_path / "decisions.jsonl.part").exists()
    cut.write_bytes(b"not gzip at all\n")
    p = mimamori(["replay", "--registry", str(fleet11 / "cameras.csv"), "--observations", str(cut),
                  "--out", str(out)], env, check=False)
    _one_error(p, str(cut), "not a readable gzip file")
    p = mimamori(["replay", "--registry", str(fleet11 / "cameras.csv"), "--observations",
                  str(tmp_path / "missing.jsonl.gz"), "--out", str(out)], env, check=False)
    _one_error(p, "missing.jsonl.gz", "No such file or directory")
    assert not out.exists()


@pytest.mark.parametrize("week", ["9999-W52", "0001-W01", "2026-W54"])
def test_report_of_a_week_out_of_range_is_one_line(env, tmp_path, week):
    p = mimamori(["report", "weekly", "--week", week, "--out", str(tmp_path / "r")], env, check=False)
    _one_error(p, week)
    assert not (tmp_path / "r").exists()


def test_report_out_that_is_a_file_is_one_line_and_the_file_is_kept(env, tmp_path):
    f = tmp_path / "report.pdf"
    f.write_bytes(b"keep me")
    p = mimamori(["report", "weekly", "--week", "2026-W45", "--out", str(f)], env, check=False)
    _one_error(p, f"--out {f}: is a file")
    assert f.read_bytes() == b"keep me"


@pytest.mark.parametrize("url, why", [
    ("postgresql+psycopg://postgres:s3cret-pw@127.0.0.1:1/mimamori", "Connection refused"),  # nothing listens
    ("postgresql+psycopg://nobody:s3cret-pw@127.0.0.1:5432/mimamori", 'role "nobody" does not exist'),
], ids=["refused", "no-such-role"])
@pytest.mark.parametrize("command", [["cameras", "list"], ["run"]], ids=["cameras-list", "run"])
def test_a_database_that_cannot_be_reached_is_one_line_without_its_password(env, url, why, command):
    """At start-up (and for every command): one line naming the database, its password hidden, exit 2."""
    env = {**env, "MIMAMORI_DATABASE_URL": url, "MIMAMORI_NOTIFY__FOLDER_DELIVERY": "true"}
    p = mimamori(command, env, check=False)
    _one_error(p, "error: database postgresql+psycopg://", ":***@127.0.0.1", why)
    assert p.returncode == 2 and "s3cret-pw" not in p.stderr + p.stdout
