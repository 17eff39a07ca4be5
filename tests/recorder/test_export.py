from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from recorder.audit import AuditLog
from recorder.domain import SegmentRecord
from recorder.errors import ExportRefused
from recorder.export import LawfulRequests, export_footage, verify_export
from recorder.index import AuditRow, SegmentIndex
from recorder.segments import segment_relpath, sha256_file

T = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(tmp_path, sessions):
    root = tmp_path / "rec"
    index = SegmentIndex(sessions)
    for i in range(3):
        start = T + timedelta(minutes=i)
        rel = segment_relpath("C1", start)
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(f"segment {i}".encode())
        index.add(SegmentRecord(camera_id="C1", path=rel, start=start, end=start + timedelta(minutes=1),
                                frames=900, bytes=9, sha256=sha256_file(root / rel)))
    audit = AuditLog(sessions)
    return root, index, audit, LawfulRequests(sessions, audit)


def request(requests, ref="R-2026-001", requester="officer.sato"):
    return requests.record(reference=ref, agency="Kanagawa Pref. Police", legal_basis="CPC art. 197(2)",
                           requester=requester, camera_id="C1", start=T, end=T + timedelta(minutes=2), now=T)


def do_export(world, tmp_path, ref="R-2026-001", **kw):
    root, index, audit, requests = world
    args = dict(requests=requests, index=index, audit=audit, root=root, reference=ref, camera_id="C1",
                start=T + timedelta(seconds=30), end=T + timedelta(seconds=90), operator="op.tanaka",
                out_dir=tmp_path / "out", now=T + timedelta(days=1))
    return export_footage(**{**args, **kw})


def test_export_refused_without_request_or_approval(world, tmp_path):
    root, index, audit, requests = world
    with pytest.raises(ExportRefused, match="no such lawful request"):
        do_export(world, tmp_path)
    request(requests)
    with pytest.raises(ExportRefused, match="not approved"):
        do_export(world, tmp_path)
    with pytest.raises(ExportRefused, match="other than the requester"):
        requests.approve("R-2026-001", approver="officer.sato", now=T)
    with pytest.raises(ExportRefused, match="not approved"):
        do_export(world, tmp_path)
    requests.approve("R-2026-001", approver="chief.suzuki", now=T)
    with pytest.raises(ExportRefused, match="camera"):
        do_export(world, tmp_path, camera_id="C2")
    with pytest.raises(ExportRefused, match="outside"):
        do_export(world, tmp_path, end=T + timedelta(minutes=5))
    assert not (tmp_path / "out").exists()
    actions = [e.action for e in audit.entries()]
    assert actions == ["export_refused", "request", "export_refused", "approve_refused", "export_refused",
                       "approve", "export_refused", "export_refused"]
    assert audit.verify().ok


@pytest.mark.parametrize("approver", ["Officer.Sato", "OFFICER.SATO", "ｏｆｆｉｃｅｒ．ｓａｔｏ", " officer.sato ",
                                      "officer.ſato"])
def test_the_requester_cannot_approve_under_another_spelling_of_the_same_name(world, approver):
    """The four-eyes rule compares names NFKC-normalised and case-folded (ſ folds to s): the same person
    typed in capitals, in full-width letters or with spaces is still the requester."""
    *_, requests = world
    request(requests)
    with pytest.raises(ExportRefused, match="other than the requester"):
        requests.approve("R-2026-001", approver=approver, now=T)
    assert requests.approve("R-2026-001", approver="chief.suzuki", now=T).approver == "chief.suzuki"


def test_export_manifest_verifies_and_audit_tamper_is_named(world, tmp_path, sessions):
    root, index, audit, requests = world
    request(requests)
    requests.approve("R-2026-001", approver="chief.suzuki", now=T)
    result = do_export(world, tmp_path)
    assert len(result.files) == 2  # segments overlapping [T+30s, T+90s)
    manifest = json.loads(result.manifest.read_text())
    assert manifest["operator"] == "op.tanaka" and manifest["request"]["reference"] == "R-2026-001"
    assert manifest["request"]["approver"] == "chief.suzuki"
    assert verify_export(result.out_dir) == []
    for f in manifest["files"]:  # copied unchanged
        assert f["sha256"] in {s.sha256 for s in index.segments()}
    assert (result.out_dir / result.files[0]).stat().st_mode & 0o777 == 0o600

    (result.out_dir / result.files[0]).write_bytes(b"edited")
    assert verify_export(result.out_dir) == [f"{result.files[0]}: SHA-256 mismatch"]

    verdict = audit.verify()
    assert verdict.ok and verdict.entries == 3
    with sessions.begin() as s:
        s.execute(update(AuditRow).where(AuditRow.seq == 2).values(actor="someone.else"))
    verdict = audit.verify()
    assert not verdict.ok and verdict.first_bad_seq == 2 and "entry 2" in verdict.reason


def test_deleting_an_audit_entry_breaks_the_chain(world, sessions):
    _, _, audit, requests = world
    request(requests, ref="A")
    request(requests, ref="B")
    request(requests, ref="C")
    with sessions.begin() as s:
        s.query(AuditRow).filter(AuditRow.seq == 2).delete()
    assert audit.verify().first_bad_seq == 3


def test_an_export_across_nodes_reads_each_segment_from_its_nodes_folder_or_names_the_missing_nodes(
        world, tmp_path, sessions):
    """In a cluster the camera moved from node n1 to n2 inside the range: n1's segments are on its disk,
    n2's on another; the export needs both folders, says which one is missing, and writes nothing then."""
    root, index, audit, requests = world  # three segments of C1 at T, T+1, T+2 min, written before nodes
    n2_root = tmp_path / "n2-rec"
    n2 = SegmentIndex(sessions, node="n2")
    start = T + timedelta(minutes=3)
    rel = segment_relpath("C1", start)
    (n2_root / rel).parent.mkdir(parents=True)
    (n2_root / rel).write_bytes(b"segment on n2")
    n2.add(SegmentRecord(camera_id="C1", path=rel, start=start, end=start + timedelta(minutes=1), frames=900,
                         bytes=13, sha256=sha256_file(n2_root / rel)))
    assert SegmentIndex(sessions, node="n1").adopt_unowned() == 3  # the pre-cluster rows are n1's
    requests.record(reference="R-X", agency="Kanagawa Pref. Police", legal_basis="CPC art. 197(2)",
                    requester="officer.sato", camera_id="C1", start=T, end=T + timedelta(minutes=5), now=T)
    requests.approve("R-X", approver="chief.suzuki", now=T)
    span = dict(reference="R-X", start=T + timedelta(seconds=30), end=T + timedelta(minutes=3, seconds=30))
    with pytest.raises(ExportRefused, match=r"on node\(s\) n2: give their recordings folders"):
        do_export(world, tmp_path, node="n1", **span)
    assert not (tmp_path / "out").exists()
    result = do_export(world, tmp_path, node="n1", node_roots={"n2": n2_root}, **span)
    manifest = json.loads(result.manifest.read_text())
    assert [f.get("node") for f in manifest["files"]] == ["n1", "n1", "n1", "n2"]
    assert verify_export(result.out_dir) == []
    (n2_root / rel).unlink()
    with pytest.raises(ExportRefused, match="file is missing on node n2"):
        do_export(world, tmp_path, node="n1", node_roots={"n2": n2_root}, out_dir=tmp_path / "out2", **span)
