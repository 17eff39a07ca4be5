"""Real peers for the notify tests: Twilio's OpenAPI spec under Prism, aiosmtpd with STARTTLS
and AUTH, and a small HTTP server for webhooks.

Prism must be installed once under ``.prism/`` (not committed)::

    npm install --no-save --prefix .prism @stoplight/prism-cli@5.14.2
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from twilio.rest import Client

from monitor.demo.peers import PRISM_BIN, TWILIO_SPEC
from notify.channels._twilio import BaseUrlHttpClient

REPO = Path(__file__).resolve().parents[1]
TWILIO_ACCOUNT_SID = "AC" + "a" * 32
TWILIO_AUTH_TOKEN = "test-token-not-a-secret"
SMTP_USER = "mimamori"
SMTP_PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"peer exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing answers on 127.0.0.1:{port} after {timeout}s")


# -- Twilio under Prism ------------------------------------------------------------------------


class RedirectingHttpClient(BaseUrlHttpClient):
    """notify's base-URL client (``https://api.twilio.com`` sent to Prism), recording each request."""

    def __init__(self, base_url: str, **kwargs) -> None:
        super().__init__(base_url, **kwargs)
        self.requests: list[tuple[str, str, dict]] = []

    def request(self, method, url, params=None, data=None, headers=None, auth=None, timeout=None,
                allow_redirects=False):
        self.requests.append((method, url.replace("https://api.twilio.com", self.base_url, 1), dict(data or {})))
        return super().request(method, url, params, data, headers, auth, timeout, allow_redirects)


@dataclass
class PrismPeer:
    base_url: str
    port: int

    def client(self, account_sid: str = TWILIO_ACCOUNT_SID) -> Client:
        return Client(
            account_sid, TWILIO_AUTH_TOKEN, http_client=RedirectingHttpClient(self.base_url, timeout=10)
        )


@pytest.fixture(scope="session")
def prism() -> Iterator[PrismPeer]:
    """Prism serving Twilio's API 2010 spec as a validating mock, for the whole session."""
    node = shutil.which("node")
    if node is None or not PRISM_BIN.exists():
        pytest.fail(
            "Prism is not installed: run `npm install --no-save --prefix .prism @stoplight/prism-cli@5.14.2`"
        )
    port = free_port()
    proc = subprocess.Popen(
        [node, str(PRISM_BIN), "mock", "-h", "127.0.0.1", "-p", str(port), str(TWILIO_SPEC)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(port, 60, proc)
        yield PrismPeer(base_url=f"http://127.0.0.1:{port}", port=port)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# -- SMTP: aiosmtpd with STARTTLS and AUTH required ----------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(self.cert), str(self.key))
        return ctx


@pytest.fixture(scope="session")
def smtp_tls(tmp_path_factory) -> TlsFiles:
    """A self-signed certificate for 127.0.0.1 / localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    d = tmp_path_factory.mktemp("smtp-tls")
    (d / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    os.chmod(d / "key.pem", 0o600)
    return TlsFiles(cert=d / "cert.pem", key=d / "key.pem")


class _Collect:
    def __init__(self, sink: list[bytes]) -> None:
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook name
        self.sink.append(envelope.original_content or envelope.content)
        return "250 Message accepted"


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd then answers 535


@dataclass
class SmtpPeer:
    tls: TlsFiles
    port: int = field(default_factory=free_port)
    messages: list[bytes] = field(default_factory=list)
    _controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(
            _Collect(self.messages),
            hostname="127.0.0.1",
            port=self.port,
            tls_context=self.tls.server_context(),
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            authenticator=_authenticator,
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp_peer(smtp_tls) -> Iterator[SmtpPeer]:
    """aiosmtpd on loopback: STARTTLS and AUTH (PLAIN/LOGIN) required. ``stop()``/``start()``
    take it down and bring it back on the same port."""
    peer = SmtpPeer(tls=smtp_tls)
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()


# -- Webhook receiver ----------------------------------------------------------------------------


@dataclass
class WebhookPeer:
    base_url: str
    received: list[tuple[str, dict, dict]] = field(default_factory=list)


@pytest.fixture
def webhook_peer() -> Iterator[WebhookPeer]:
    """An HTTP server answering ``/ok`` 200, ``/bad`` 400, ``/down`` 503 and ``/slow`` late."""
    received: list[tuple[str, dict, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server hook name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            path = self.path.split("?", 1)[0]
            received.append((path, dict(self.headers), json.loads(body or b"{}")))
            if path == "/slow":
                time.sleep(1.5)
            code = {"/ok": 200, "/bad": 400, "/down": 503, "/slow": 200}.get(path, 404)
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield WebhookPeer(base_url=f"http://127.0.0.1:{server.server_address[1]}", received=received)
    finally:
        server.shutdown()
        server.server_close()
