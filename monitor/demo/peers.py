"""Local delivery peers for `mimamori demo`: an aiosmtpd mailbox and Prism serving Twilio's spec.

Both run on 127.0.0.1 only and stop with the demo. Either one is used only where it can run here:
aiosmtpd comes with the test extra (``make demo`` installs it); Prism with ``make prism`` (Node and
npm), and it needs Twilio's spec in ``../shared/contracts``. Where one is missing, that channel's
messages go to the outbox folder instead, and the demo says so.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PRISM_BIN = REPO / ".prism" / "node_modules" / ".bin" / "prism"
TWILIO_SPEC = REPO.parent / "shared" / "contracts" / "twilio_api_v2010.json"
DEMO_ACCOUNT_SID = "AC" + "0" * 32
DEMO_AUTH_TOKEN = "demo-token-for-a-local-mock"  # noqa: S105 - Prism accepts any; no real account exists


def prism_requests(log: Path) -> dict[str, int]:
    """Messages and Calls created at Prism, counted from its log (it logs each request it receives)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return {w: text.count(f"/{w}.json ℹ  info      Request received") for w in ("Messages", "Calls")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(port: int, timeout: float, proc: subprocess.Popen) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
        time.sleep(0.2)
    return False


@dataclass
class Mailbox:
    """What the local SMTP server received: (recipient addresses, subject) per message."""

    received: list[tuple[list[str], str]] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook name
        msg = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        self.received.append((list(envelope.rcpt_tos), str(msg["Subject"] or "")))
        return "250 OK"


class DemoPeers:
    """Start what can run; ``smtp_port`` / ``prism_url`` are None for a peer that could not."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.mailbox = Mailbox()
        self.smtp_port: int | None = None
        self.prism_url: str | None = None
        self.missing: list[str] = []
        self._smtp = None
        self._prism: subprocess.Popen | None = None

    def __enter__(self) -> DemoPeers:
        try:
            self._start_smtp()
            self._start_prism()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start_smtp(self) -> None:
        try:
            from aiosmtpd.controller import Controller
        except ImportError:
            self.missing.append("aiosmtpd (pip install -e '.[test]')")
            return
        port = _free_port()
        self._smtp = Controller(self.mailbox, hostname="127.0.0.1", port=port, server_hostname="mimamori-demo")
        self._smtp.start()
        self.smtp_port = port

    def _start_prism(self) -> None:
        node = shutil.which("node")
        if node is None or not PRISM_BIN.exists() or not TWILIO_SPEC.exists():
            self.missing.append("Prism (make prism) with ../shared/contracts/twilio_api_v2010.json")
            return
        port = _free_port()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / "prism.log").open("w") as log:
            self._prism = subprocess.Popen(
                [node, str(PRISM_BIN), "mock", "-h", "127.0.0.1", "-p", str(port), str(TWILIO_SPEC)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if _wait(port, 60, self._prism):
            self.prism_url = f"http://127.0.0.1:{port}"
        else:
            self.missing.append("Prism (it did not start; see prism.log)")
            self._stop_prism()

    def twilio_requests(self) -> dict[str, int]:
        return prism_requests(self.log_dir / "prism.log")

    def _stop_prism(self) -> None:
        if self._prism is not None and self._prism.poll() is None:
            self._prism.terminate()
            try:
                self._prism.wait(10)
            except subprocess.TimeoutExpired:
                self._prism.kill()
                self._prism.wait(5)
        self._prism = None

    def close(self) -> None:
        if self._smtp is not None:
            self._smtp.stop()
            self._smtp = None
        self._stop_prism()
