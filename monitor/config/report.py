"""The ``[report]`` section of mimamori.toml: who gets the Monday mail, when, and over which SMTP server.

The SMTP password comes from the environment only (``MIMAMORI_REPORT_SMTP_PASSWORD``), never the file.
"""

from __future__ import annotations

import re
from datetime import time

from pydantic import BaseModel, ConfigDict, Field, field_validator

from notify.channels.email import SmtpConfig, SmtpSecurity

PASSWORD_ENV = "MIMAMORI_REPORT_SMTP_PASSWORD"


class ReportSmtp(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("localhost", description="the mail relay for the weekly report")
    port: int = Field(587, gt=0, lt=65536, description="its port")
    security: SmtpSecurity = Field(SmtpSecurity.STARTTLS, description="starttls, tls or none")
    username: str | None = Field(None, description="login; the password comes from MIMAMORI_REPORT_SMTP_PASSWORD")
    from_addr: str = Field("mimamori@localhost", description="the sender address")
    from_name: str = Field("mimamori", description="the sender name")
    timeout_s: float = Field(30.0, gt=0, description="seconds before a relay that does not answer is given up")

    def config(self, password: str | None) -> SmtpConfig:
        return SmtpConfig(host=self.host, port=self.port, security=self.security, username=self.username,
                          password=password, from_addr=self.from_addr, from_name=self.from_name,
                          timeout_s=self.timeout_s)


class ReportSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    operators: list[str] = Field(default_factory=list, description="operator addresses for the Monday mail")
    send_at: time = Field(time(9, 0), description="local time on Monday at which last week's report is mailed")
    chronic_below_pct: float = Field(95.0, ge=0, le=100, description="chronic: uptime below this, 2 weeks running")
    worst_cameras: int = Field(20, ge=0, description="cameras listed by name in the mail (all are in the CSV)")
    resend_stale_after_min: float = Field(60.0, gt=0, description="a claim older than this without 'sent' is retried")
    smtp: ReportSmtp = ReportSmtp()

    @field_validator("operators")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        for a in v:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+", a):
                raise ValueError(f"not an e-mail address: {a!r}")
        return v
