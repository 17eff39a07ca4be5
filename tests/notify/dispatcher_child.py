"""A dispatcher process for the crash test: delivers what the outbox holds until nothing is due.

    python -m tests.notify.dispatcher_child DB_URL SMTP_PORT CA_FILE PRISM_URL
"""

from __future__ import annotations

import ssl
import sys
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import sessionmaker
from twilio.rest import Client

from monitor.store.db import make_engine
from notify.channels import EmailChannel, SmsChannel, SmtpConfig
from notify.channels._twilio import BaseUrlHttpClient
from notify.dispatch import Dispatcher, RetryPolicy
from notify.message import ChannelKind
from notify.render import Renderer
from tests.notify_peers import SMTP_PASSWORD, SMTP_USER, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN

LEASE = timedelta(seconds=2)  # a claim older than this belonged to a killed worker


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def main(db_url: str, smtp_port: str, ca_file: str, prism_url: str) -> None:
    sessions = sessionmaker(make_engine(db_url), expire_on_commit=False)  # the service's own pragmas
    email = EmailChannel(SmtpConfig(host="127.0.0.1", port=int(smtp_port), username=SMTP_USER, password=SMTP_PASSWORD,
                                    from_addr="noreply@city.example.jp", timeout_s=5),
                         ssl_context=ssl.create_default_context(cafile=ca_file))
    client = Client(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, http_client=BaseUrlHttpClient(prism_url, timeout=10))
    channels = {ChannelKind.EMAIL: email, ChannelKind.SMS: SmsChannel(client, from_number="+815012345678")}
    d = Dispatcher(sessions, channels, RetryPolicy(lease=LEASE, base_delay=timedelta(seconds=1)), SystemClock(),
                   renderer=Renderer())
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < LEASE.total_seconds() + 2:
        report = d.dispatch_due(limit=5)
        if report.sent or report.retried or report.lost_claims:
            idle_since = time.monotonic()
        else:
            time.sleep(0.1)


if __name__ == "__main__":
    main(*sys.argv[1:])
