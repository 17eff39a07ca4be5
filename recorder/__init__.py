"""mimamori recorder: PyAV ingest, segments, retention, audited export. Imports nothing of ours."""

from recorder.audit import AuditLog, AuditVerdict
from recorder.domain import AuditEntry, LawfulRequest, Segment, SegmentRecord
from recorder.errors import ConfigError, ExportRefused, RecorderError, StreamError
from recorder.export import ExportResult, LawfulRequests, export_footage, verify_export
from recorder.index import RecorderBase, SegmentIndex
from recorder.ingest import Backoff
from recorder.retention import Plan, RetentionPolicy, plan_deletions
from recorder.service import CameraStatus, Recorder, RecorderConfig
from recorder.stats import FrameStats, RecorderFrameSource

__all__ = [
    "AuditEntry", "AuditLog", "AuditVerdict", "Backoff", "CameraStatus", "ConfigError", "ExportRefused",
    "ExportResult", "FrameStats", "LawfulRequest", "LawfulRequests", "Plan", "Recorder", "RecorderBase",
    "RecorderConfig", "RecorderError", "RecorderFrameSource", "RetentionPolicy", "Segment", "SegmentIndex",
    "SegmentRecord", "StreamError", "export_footage", "plan_deletions", "verify_export",
]
