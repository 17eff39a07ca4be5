"""The ``[recorder]`` section's schema (the runtime adapter is monitor/service/recording.py)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class RecorderSettings(BaseModel):
    """``[recorder]`` in mimamori.toml (``MIMAMORI_RECORDER__…`` in the environment)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="record every camera that has an RTSP URL")
    root: Path | None = Field(None, description="segment directory; default DATA_DIR/recordings")
    segment_s: float = Field(60.0, gt=0, description="segment length, cut at the next keyframe")
    retention_days: float = Field(7.0, gt=0, description="footage is overwritten after this")
    free_floor_gb: float = Field(0.0, ge=0, description="the disk guard deletes oldest-first below this")
    open_timeout_s: float = Field(10.0, gt=0, description="RTSP open (connect, DESCRIBE, SETUP, PLAY)")
    read_timeout_s: float = Field(5.0, gt=0, description="a session with no data for this long ends")
    stall_timeout_s: float = Field(
        15.0, gt=0, description="a session with data (RTCP, keep-alives) but no video for this long ends"
    )
    read_batch_s: float = Field(
        0.25, ge=0, le=2.0,
        description="a camera's socket is read in batches this far apart (0: every packet as it comes); "
        "frame arrival times are then up to this late",
    )
    backoff_initial_s: float = Field(1.0, gt=0, description="first reconnect delay, doubling per failure")
    backoff_cap_s: float = Field(60.0, gt=0, description="longest reconnect delay")
    janitor_interval_s: float = Field(300.0, gt=0, description="seconds between retention passes")
    stats_window_s: float | None = Field(
        None, gt=0, description="window of the frame statistics in an observation; default the probe interval"
    )
    status_interval_s: float = Field(30.0, gt=0, description="how often the status file for the CLI is written")
    cameras_disabled: list[str] = Field([], description="camera ids not to record (they are sampled instead)")
