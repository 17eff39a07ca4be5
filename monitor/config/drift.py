"""The ``[drift]`` section of mimamori.toml: how often each drift check runs, and what the city lets the
service correct on a camera by itself."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from monitor.core.drift import Check, Limits


class DriftSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="run the drift checks (ONVIF settings, never a frame)")
    interval_s: float = Field(3600.0, ge=10, description="seconds between two checks of one camera, spread over "
                                                         "the interval by camera")
    intervals: dict[Check, float] = Field({}, description="a check's own interval in seconds, e.g. "
                                                           "{clock = 600}; the others use interval_s")
    step_s: float = Field(60.0, ge=1, description="how often the due cameras are looked for")
    timeout_s: float = Field(5.0, gt=0, description="seconds for each ONVIF call of a check")
    concurrency: int = Field(100, ge=1, description="cameras checked at once")
    clock_limit_s: float = Field(5.0, gt=0, description="a camera clock further than this from UTC is drift")
    set_clock: bool = Field(True, description="set a drifted camera clock over ONVIF (SetSystemDateAndTime)")
    move_back: bool = Field(True, description="move a PTZ camera that left its approved view back to its preset")
    default_logins: list[str] = Field(["admin:12345", "admin:admin", "admin:"],
                                      description="the makers' factory logins (USER:PASSWORD) a reset camera "
                                                  "may accept again: a security finding")

    @field_validator("intervals")
    @classmethod
    def _intervals(cls, v: dict[Check, float]) -> dict[Check, float]:
        bad = {str(k): s for k, s in v.items() if s < 10}
        if bad:
            raise ValueError(f"drift check intervals under 10 s: {bad}")
        return v

    @field_validator("default_logins")
    @classmethod
    def _logins(cls, v: list[str]) -> list[str]:
        bad = [i for i, x in enumerate(v) if ":" not in x]
        if bad:
            raise ValueError(f"default_logins entries {bad}: write USER:PASSWORD")
        return v

    def limits(self) -> Limits:
        return Limits(clock_s=self.clock_limit_s)

    def every(self) -> dict[Check, float]:
        return {c: self.intervals.get(c, self.interval_s) for c in Check}

    def logins(self) -> tuple[tuple[str, str], ...]:
        return tuple(tuple(x.split(":", 1)) for x in self.default_logins)  # type: ignore[misc]
