"""The `mimamori` command as a user runs it (a real subprocess), on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from monitor.replay.obsformat import parse_line
from tests.cli import mimamori

JST = timezone(timedelta(hours=9))


run = mimamori


@pytest.fixture
def env(cli_env):
    return cli_env


def dump(db_url: str) -> list:
    eng = create_engine(db_url)
    with eng.connect() as c:
        rows = c.execute(text("SELECT * FROM cameras ORDER BY camera_id")).all()
    eng.dispose()
    return [tuple(r) for r in rows]


def test_import_fleet_then_bad_file_changes_nothing(env, db_url, fleet11, tmp_path):
    p = run(["cameras", "import", str(fleet11 / "cameras.csv")], env)
    assert "imported 132 cameras" in p.stdout
    before = dump(db_url)
    assert len(before) == 132

    lines = (fleet11 / "cameras.csv").read_text(encoding="utf-8").splitlines()
    cols = lines[0].split(",")
    row5 = lines[4].split(",")
    row5[cols.index("phone")] = "+81-12"
    lines[4] = ",".join(row5)
    row9 = lines[8].split(",")
    row9[0] = lines[2].split(",")[0]  # same id as row 3
    lines[8] = ",".join(row9)
    lines[1] = lines[1].replace("設置者0001", "変更された名前")  # a good change that must not land either
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")

    p = run(["cameras", "import", str(bad)], env, check=False)
    assert p.returncode != 0
    assert "row 5, field phone:" in p.stderr
    assert "row 9, field camera_id: duplicate id" in p.stderr
    assert "nothing was imported" in p.stderr
    assert dump(db_url) == before


def test_dry_run_shows_changes_and_changes_nothing(env, db_url, fleet11, tmp_path):
    run(["cameras", "import", str(fleet11 / "cameras.csv")], env)
    before = dump(db_url)
    text_ = (fleet11 / "cameras.csv").read_text(encoding="utf-8").replace("設置者0007", "新しい設置者")
    edited = tmp_path / "edited.csv"
    edited.write_text(text_, encoding="utf-8")
    p = run(["cameras", "import", "--dry-run", str(edited)], env)
    assert "changed: 1" in p.stdout and "C0007: owner_name" in p.stdout
    assert dump(db_url) == before
    p = run(["cameras", "import", str(edited)], env)
    assert "changed: 1" in p.stdout
    assert run(["cameras", "show", "C0007"], env).stdout.count("新しい設置者") == 1


def test_prune_is_previewed_exactly_and_a_large_one_needs_yes(env, db_url, fleet11, tmp_path):
    """A subset file with --prune: --dry-run lists exactly the cameras it would remove; removing more
    than 10 % of the fleet is refused without --yes, and nothing changes; with --yes they go."""
    run(["cameras", "import", str(fleet11 / "cameras.csv")], env)
    before = dump(db_url)
    lines = (fleet11 / "cameras.csv").read_text(encoding="utf-8").splitlines()
    subset = tmp_path / "subset.csv"
    subset.write_text("\n".join(lines[:11]) + "\n", encoding="utf-8")  # the first 10 of 132 cameras
    gone = sorted(r.split(",")[0] for r in lines[11:])

    p = run(["cameras", "import", "--dry-run", "--prune", str(subset)], env)
    assert "to remove: 122" in p.stdout
    assert sorted(x.split()[1] for x in p.stdout.splitlines() if x.startswith("  - ")) == gone
    assert "kept" not in p.stdout
    p = run(["cameras", "import", "--prune", str(subset)], env, check=False)
    assert p.returncode != 0
    assert "--prune would remove 122 of 132 cameras (more than 10%)" in p.stderr and "--yes" in p.stderr
    assert dump(db_url) == before
    p = run(["cameras", "import", "--prune", "--yes", str(subset)], env)
    assert "removed: 122" in p.stdout
    assert len(dump(db_url)) == 10


def test_a_small_prune_needs_no_yes(env, db_url, fleet11, tmp_path):
    run(["cameras", "import", str(fleet11 / "cameras.csv")], env)
    lines = (fleet11 / "cameras.csv").read_text(encoding="utf-8").splitlines()
    most = tmp_path / "most.csv"
    most.write_text("\n".join(lines[:-3]) + "\n", encoding="utf-8")  # three of 132 gone
    p = run(["cameras", "import", "--prune", str(most)], env)
    assert "removed: 3" in p.stdout and len(dump(db_url)) == 129


def test_show_and_list(env, fleet11):
    run(["cameras", "import", str(fleet11 / "cameras.csv")], env)
    assert len(run(["cameras", "list"], env).stdout.strip().splitlines()) == 132
    p = run(["cameras", "show", "NOPE"], env, check=False)
    assert p.returncode != 0 and "unknown camera" in p.stderr


def test_password_never_printed_and_key_file_private(env, tmp_path):
    csv = tmp_path / "c.csv"
    csv.write_text(
        "camera_id,area,isp,line_id,expected_fps,address,owner_name,contact,phone,email,lang,vendor,"
        "rtsp_url,onvif_url,onvif_user,onvif_password\n"
        "C1,A1,nuro,L1,15,addr,name,sms,090-1111-2222,,ja,v,rtsp://127.0.0.1:8554/s,"
        "http://127.0.0.1:8080/onvif/device_service,admin,Pa55-very-secret\n",
        encoding="utf-8",
    )
    outs = [run(["cameras", "import", str(csv)], env), run(["cameras", "show", "C1"], env),
            run(["cameras", "list"], env)]
    for p in outs:
        assert "Pa55-very-secret" not in p.stdout + p.stderr
    assert "onvif_password: (set)" in outs[1].stdout
    key = Path(env["MIMAMORI_DATA_DIR"]) / "secret.key"
    assert key.stat().st_mode & 0o777 == 0o600


def test_observations_export_is_scenario_format(env, db_url, fleet11, tmp_path):
    """Store a slice of a shared scenario, export it, and read it back line for line."""
    from monitor.config.registry import load_cameras
    from monitor.store.db import make_engine, session_factory, upgrade
    from monitor.store.observations import record_round

    run(["cameras", "import", str(fleet11 / "cameras.csv")], env)
    cams = {c.camera_id: c for c in load_cameras(fleet11 / "cameras.csv")}
    src = []
    with gzip.open(fleet11 / "observations.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            src.append(line)
            if len(src) >= 3 * 134:
                break
    recs = [parse_line(x) for x in src]
    eng = make_engine(db_url)
    upgrade(eng)
    with session_factory(eng).begin() as s:
        record_round(s, [r for r in recs if hasattr(r, "camera")], [r for r in recs if hasattr(r, "reference")],
                     cams, 60)
    eng.dispose()
    out = tmp_path / "export.jsonl.gz"
    start = recs[0].t
    run(["observations", "export", "--since", start.isoformat(), "--until",
         (start + timedelta(minutes=3)).isoformat(), "--out", str(out)], env)
    with gzip.open(out, "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert len(lines) == len(recs)
    for n, line in enumerate(lines, 1):
        d = json.loads(line)
        assert datetime.fromisoformat(d["t"]).utcoffset() == timedelta(hours=9)
        if "camera" in d:
            assert set(d) >= {"t", "camera", "reachable", "rtt_ms", "onvif_ok", "fps", "max_gap_s"}
        parse_line(line, n)
    # same content as the source, record for record (order within one instant may differ)
    key = lambda r: (r.t, getattr(r, "camera", ""), getattr(r, "reference", ""))  # noqa: E731
    assert sorted(map(parse_line, lines), key=key) == sorted(recs, key=key)


@pytest.mark.parametrize(("kind", "lang", "channel", "expect"), [
    ("reboot_request", "ja", "sms", "segments: 1"),
    ("reboot_request", "en", "sms", "segments: 1"),
    ("reminder", "ja", "sms", "segments: 1"),
    ("reboot_request", "ja", "voice", "ルーター"),
    ("incident_opened", "ja", "email", "subject: 【障害発生】"),
])
def test_messages_preview(env, kind, lang, channel, expect):
    p = run(["messages", "preview", "--kind", kind, "--lang", lang, "--channel", channel], env)
    assert expect in p.stdout
    if channel == "sms":
        assert ("encoding: UCS-2" if lang == "ja" else "encoding: GSM-7") in p.stdout


def test_messages_preview_of_a_camera_fault_asks_for_the_camera_alone(env):
    p = run(["messages", "preview", "--kind", "reboot_request", "--channel", "sms", "--cause", "camera_fault"], env)
    assert "カメラの電源を入れ直して" in p.stdout and "ルーター" not in p.stdout and "segments: 1" in p.stdout
    p = run(["messages", "preview", "--kind", "reboot_request", "--cause", "fire"], env, check=False)
    assert p.returncode != 0 and "'fire'" in p.stderr and "camera_fault" in p.stderr


def test_messages_preview_unknown_kind_fails(env):
    p = run(["messages", "preview", "--kind", "fax", "--lang", "ja", "--channel", "sms"], env, check=False)
    assert p.returncode != 0 and "unknown kind 'fax'" in p.stderr


def test_cameras_findings_lists_the_registry_rows_to_check(env, db_url):
    from monitor.core.decisions import FindingDecision
    from monitor.store.db import make_engine, session_factory, upgrade
    from monitor.store.decisions import save_step

    assert run(["cameras", "findings"], env).stdout == "no registry rows to check\n"
    t = datetime(2026, 11, 2, 9, 30, tzinfo=JST)
    engine = make_engine(db_url)
    upgrade(engine)
    with session_factory(engine).begin() as s:
        save_step(s, t, {}, [
            FindingDecision(t=t, camera="C0088", field="isp", registry="flets-sonet", observed="flets-biglobe",
                            evidence={"incident": "I6", "cause": "isp_outage",
                                      "went_down_and_came_back_with": {"isp": "flets-biglobe"}}),
            FindingDecision(t=t, camera="C0023", field="expected_fps", registry=20.0, observed=10.0,
                            evidence={"clean_intervals": 60, "learned_fps": 9.99}),
            FindingDecision(t=t, camera="C0042", field="area", registry="A01", observed="A01", evidence={}),
        ])
    engine.dispose()
    p = run(["cameras", "findings"], env)
    assert p.returncode == 0
    assert p.stdout.splitlines() == [
        "C0023\texpected_fps\tregistry 20\tobserved 10\tsince 2026-11-02T09:30+09:00\t"
        "9.99 fps measured over 60 clean intervals",
        "C0088\tisp\tregistry flets-sonet\tobserved flets-biglobe\tsince 2026-11-02T09:30+09:00\t"
        "went down and came back with incident I6 (isp_outage: isp flets-biglobe)",
    ]
