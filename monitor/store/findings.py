"""Registry findings in the store: the registry rows the observations contradict, for operators to check.

`save_finding` applies one `FindingDecision` in the round's transaction (`decisions.save_step` calls it):
one row per (camera, field), the last finding counts, and a finding whose observed value equals the
registry's withdraws the earlier one (the row stays, marked withdrawn). `current_findings` is what to
check now (the CLI, the status board); `findings_during` what was current at some time in a week (the
weekly report). `evidence_summary` puts the evidence in a few words, in Japanese or English.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from monitor.core.decisions import FindingDecision
from monitor.store.models import CameraRow, RegistryFindingRow


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredFinding:
    """A registry finding as kept: what the registry says, what the evidence showed, since when."""

    camera: str
    field: str  # isp, area or expected_fps
    registry: Any
    observed: Any
    evidence: Mapping[str, Any] = field(default_factory=dict)
    since: datetime  # aware UTC: when the evidence first showed ``observed``
    found_at: datetime  # aware UTC: the last finding (its evidence is the one kept)
    withdrawn_at: datetime | None = None


def is_withdrawal(d: FindingDecision) -> bool:
    return d.observed == d.registry


def save_finding(session: Session, d: FindingDecision) -> None:
    """Apply one finding, in the caller's transaction."""
    row = session.get(RegistryFindingRow, (d.camera, d.field))
    if is_withdrawal(d):
        if row is not None and row.withdrawn_at is None:
            row.withdrawn_at = d.t
        return
    if row is None:
        row = RegistryFindingRow(camera_id=d.camera, field=d.field, first_found_at=d.t)
        session.add(row)
    elif row.withdrawn_at is not None or row.observed_value != d.observed:
        row.first_found_at = d.t  # found again, or another value: a new finding
    row.registry_value, row.observed_value, row.evidence = d.registry, d.observed, dict(d.evidence)
    row.found_at, row.withdrawn_at = d.t, None
    session.flush()


def current_findings(session: Session) -> list[StoredFinding]:
    """The findings not withdrawn, by camera and field, less those the registry has since been corrected to."""
    rows = session.scalars(select(RegistryFindingRow).where(RegistryFindingRow.withdrawn_at.is_(None))
                           .order_by(RegistryFindingRow.camera_id, RegistryFindingRow.field))
    return _unresolved(session, [_value(r) for r in rows])


def findings_during(session: Session, lo: datetime, hi: datetime) -> list[StoredFinding]:
    """The findings current at some time in [lo, hi): found before ``hi`` and not withdrawn before ``lo``
    (withdrawn ones carry ``withdrawn_at``), less those the registry has since been corrected to."""
    r = RegistryFindingRow
    rows = session.scalars(select(r).where(r.first_found_at < hi, or_(r.withdrawn_at.is_(None), r.withdrawn_at >= lo))
                           .order_by(r.camera_id, r.field))
    return _unresolved(session, [_value(x) for x in rows])


def _value(r: RegistryFindingRow) -> StoredFinding:
    return StoredFinding(camera=r.camera_id, field=r.field, registry=r.registry_value, observed=r.observed_value,
                         evidence=dict(r.evidence or {}), since=r.first_found_at, found_at=r.found_at,
                         withdrawn_at=r.withdrawn_at)


def _unresolved(session: Session, findings: list[StoredFinding]) -> list[StoredFinding]:
    """Drop the findings whose camera's registry row now says what the evidence showed (the row was fixed)."""
    ids = {f.camera for f in findings}
    if not ids:
        return []
    rows = {c.camera_id: c for c in session.scalars(select(CameraRow).where(CameraRow.camera_id.in_(ids)))}
    return [f for f in findings if not (f.camera in rows and getattr(rows[f.camera], f.field, None) == f.observed)]


# -- words for operators ---------------------------------------------------------------------------

def value_text(v: Any) -> str:
    """A registry or observed value as an operator reads it: 10.0 fps is "10"."""
    return f"{v:g}" if isinstance(v, float) else str(v)


def _scope_text(scope: Any) -> str:
    items: Iterable[tuple[Any, Any]] = scope.items() if isinstance(scope, Mapping) else ()
    return ", ".join(f"{k} {value_text(v)}" for k, v in items)


def evidence_summary(evidence: Mapping[str, Any], lang: str = "en") -> str:
    """The evidence of a finding in a few words (``lang``: "ja" or "en"); unknown shapes as key=value."""
    e, ja = evidence, lang == "ja"
    inc = e.get("incident", "?")
    if "went_down_and_came_back_with" in e:
        scope, cause = _scope_text(e["went_down_and_came_back_with"]), e.get("cause", "?")
        return (f"障害 {inc}（{cause}: {scope}）と同時に停止し、同時に復旧" if ja
                else f"went down and came back with incident {inc} ({cause}: {scope})")
    if "congested_intervals" in e:
        k, n, fit = e["congested_intervals"], e.get("incident_intervals", "?"), e.get("mean_misfit", "?")
        return (f"混雑 {inc} の {n} 区間中 {k} 区間で共に混雑（平均のずれ {fit}）" if ja
                else f"congested with incident {inc} in {k} of {n} intervals (mean misfit {fit})")
    if "learned_fps" in e:
        fps, n = value_text(e["learned_fps"]), e.get("clean_intervals", "?")
        return f"正常な {n} 区間の実測 {fps} fps" if ja else f"{fps} fps measured over {n} clean intervals"
    return ", ".join(f"{k}={value_text(v)}" for k, v in sorted(e.items()))
