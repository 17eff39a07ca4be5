"""The whole system on the namespaced city of `netns.py`: cameras in households, the service and its
delivery peers in the monitor's namespace, and what they all recorded, read back afterwards.

* each household runs one simulated camera (GStreamer RTSP on :8554 and an ONVIF responder on :8000,
  both bound to 0.0.0.0 inside the household);
* the core runs a plain TCP listener that the monitor uses as its reference check;
* the monitor's namespace runs `mimamori run` (SQLite, recorder on), an aiosmtpd mailbox and Prism
  serving Twilio's spec, all on its own loopback (the city's internal network, which stays up when
  the uplink fails).

Time is compressed through settings only: a probe interval of a few seconds, and every duration of
the policy scaled down with it. Nothing fakes a clock.
"""

from __future__ import annotations

import json
import mailbox
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.header import decode_header, make_header
from pathlib import Path

from monitor.core.domain import Camera, Contact
from monitor.demo.peers import prism_requests
from monitor.demo.simulate.fleet import GI_PYTHON, RTSP_SCRIPT, ControlChild, make_registry, write_registry_csv
from notify.channels.email import message_id_for

from ..notify_peers import PRISM_BIN, TWILIO_SPEC
from .netns import City

REPO = Path(__file__).resolve().parents[2]
MIMAMORI = str(Path(sys.executable).with_name("mimamori"))
RTSP_PORT, ONVIF_PORT, REF_PORT, SMTP_PORT, PRISM_PORT, WEB_PORT = 8554, 8000, 8081, 2525, 4010, 8080
FPS = 8.0
INTERVAL_S = 3.0
TWILIO_SID = "AC" + "b" * 32
FROM_ADDR = "mimamori@city.example.jp"
OPERATOR = "anzen@city.example.jp"
VENDOR = "dispatch@vendor.example.jp"


def scaled(minutes: float) -> float:
    """Seconds of test for minutes of policy: one probe interval of 3 s stands for 60 s."""
    return round(minutes * 60 * INTERVAL_S / 60.0, 1)


def classifier_toml(m) -> str:
    """The ``[classifier]`` windows in test seconds, ``m`` turning policy minutes into them."""
    return f"""[classifier]
sync_window = {m(10)}
absorb_window = {m(5)}
straggler_grace = {m(5)}
congestion_sync_window = {m(40)}
flap_window = {m(60)}
membership_sync_window = {m(2)}
co_congestion_end_window = {m(30)}
"""


OWNER_DELAY_S = scaled(15)  # [escalation] owner_delay below
DRIFT_S = 20.0  # [drift] interval_s: each camera's settings are read every 20 s


def service_config(data: Path) -> str:
    """`mimamori run` with one probe interval of 3 s standing for 60 s: every policy duration / 20."""
    m = scaled
    return f"""
data_dir = "{data}"
timezone = "Asia/Tokyo"

[probes]
interval_s = {INTERVAL_S}
tcp_timeout_s = 2.0
onvif_timeout_s = 2.0
sample_s = 2.0
spread = 0.3

[[references]]
name = "core"
host = "{City.CORE_IP}"
port = {REF_PORT}

[notify]
dispatch_every_s = 1.0
operators = [{{ name = "市民安全課", email = "{OPERATOR}" }}]
vendors = {{ "vendor-1" = {{ name = "保守センター", email = "{VENDOR}" }} }}

[notify.smtp]
host = "127.0.0.1"
port = {SMTP_PORT}
security = "none"
from_addr = "{FROM_ADDR}"

[notify.twilio]
account_sid = "{TWILIO_SID}"
from_number = "+815012345678"
api_base_url = "http://127.0.0.1:{PRISM_PORT}"

[web]
port = {WEB_PORT}

[drift]
interval_s = {DRIFT_S}
step_s = 1.0
timeout_s = 3.0

[recorder]
segment_s = 4.0
open_timeout_s = 3.0
read_timeout_s = 3.0
stall_timeout_s = 6.0
backoff_initial_s = 0.5
backoff_cap_s = 2.0
status_interval_s = 2.0

{classifier_toml(scaled)}
[escalation]
quiet_start = "00:00"   # equal ends: no quiet hours, whatever the hour this test runs at
quiet_end = "00:00"
owner_delay = {OWNER_DELAY_S}
reminder_after = {m(12 * 60)}
vendor_after = {m(20)}
"""


def registry(city: City, isps: dict[tuple[int, int], str], contacts: dict[tuple[int, int], Contact]) -> list[Camera]:
    """One camera per household, addressed by the household's IP inside its namespace."""
    base = make_registry(len(city.households), FPS, random.Random(7))
    out = []
    for cam, ((k, j), h) in zip(base, sorted(city.households.items()), strict=True):
        out.append(replace(
            cam, camera_id=f"C{k}{j:02d}", area=f"A{k}", isp=isps[(k, j)], line_id=f"A{k}-L{j:02d}",
            contact=contacts.get((k, j), Contact.EMAIL), email=f"owner-{k}{j:02d}@example.jp", vendor="vendor-1",
            rtsp_url=f"rtsp://{h.ip}:{RTSP_PORT}/stream1", onvif_url=f"http://{h.ip}:{ONVIF_PORT}/onvif/device_service",
        ))
    return out


def wait_in(city: City, ns: str, port: int, timeout: float = 60.0) -> None:
    """Wait until something listens on 127.0.0.1:port inside a namespace."""
    probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), 1).close()"
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", probe],
                          capture_output=True).returncode == 0:
            return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listens on {ns} 127.0.0.1:{port} after {timeout}s")


def start_cameras(city: City, cameras: list[Camera]) -> list[ControlChild]:
    children = []
    by_id = {c.camera_id: c for c in cameras}
    for (k, j), h in sorted(city.households.items()):
        cam = by_id[f"C{k}{j:02d}"]
        rtsp = ControlChild(["ip", "netns", "exec", h.ns, GI_PYTHON, str(RTSP_SCRIPT), "--host", "0.0.0.0",
                             "--clip-seconds", "2", "--cams", f"{cam.camera_id}:{RTSP_PORT}:{FPS:g}"],
                            f"rtsp-{cam.camera_id}")
        config = {"host": "0.0.0.0", "advertise": h.ip, "cameras": [{
            "id": cam.camera_id, "port": ONVIF_PORT, "user": cam.onvif_user,
            "password": cam.onvif_password.reveal() if cam.onvif_password else "", "rtsp_url": cam.rtsp_url}]}
        onvif = ControlChild(["ip", "netns", "exec", h.ns, sys.executable, "-m",
                              "monitor.demo.simulate.onvif_responder"],
                             f"onvif-{cam.camera_id}", first_line=json.dumps(config))
        city.procs += [rtsp.proc, onvif.proc]
        children += [rtsp, onvif]
    for child in children:
        child.read(90.0)  # {"event": "ready"}
    return children


@dataclass
class Service:
    city: City
    work: Path
    cameras: list[Camera]
    proc: subprocess.Popen | None = None

    @property
    def db(self) -> Path:
        return self.work / "data" / "mimamori.db"

    @property
    def config(self) -> Path:
        return self.work / "mimamori.toml"

    @property
    def maildir(self) -> Path:
        return self.work / "maildir"

    @property
    def prism_log(self) -> Path:
        return self.work / "prism.log"

    @property
    def log(self) -> Path:
        return self.work / "service.log"

    def env(self) -> dict[str, str]:
        # PYTHONPATH: the checkout under test, whatever checkout the virtualenv's editable install names
        return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(self.work), "LANG": "C.UTF-8",
                "PYTHONPATH": str(REPO), "MIMAMORI_TWILIO_AUTH_TOKEN": "test-token-not-a-secret"}

    def start_peers(self) -> None:
        c = self.city
        c.popen(c.core, [sys.executable, "-m", "http.server", str(REF_PORT), "--bind", "0.0.0.0"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        c.popen(c.mon, [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{SMTP_PORT}",
                        "-c", "aiosmtpd.handlers.Mailbox", str(self.maildir)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        log = self.prism_log.open("w")
        c.popen(c.mon, ["node", str(PRISM_BIN), "mock", "-h", "127.0.0.1", "-p", str(PRISM_PORT), str(TWILIO_SPEC)],
                stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_in(c, c.mon, SMTP_PORT)
        wait_in(c, c.mon, PRISM_PORT, timeout=90)

    def start(self) -> None:
        self.config.write_text(service_config(self.work / "data"), encoding="utf-8")
        csv_path = write_registry_csv(self.cameras, self.work / "cameras.csv")
        subprocess.run([MIMAMORI, "--config", str(self.config), "cameras", "import", str(csv_path)],
                       check=True, capture_output=True, env=self.env(), cwd=self.work)
        log = self.log.open("w")
        self.proc = self.city.popen(self.city.mon, [MIMAMORI, "--config", str(self.config), "run"],
                                    stdout=log, stderr=subprocess.STDOUT, env=self.env(), cwd=self.work)
        log.close()

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        """A `mimamori` command on the service's config (and so its database), as an operator runs it."""
        return subprocess.run([MIMAMORI, "--config", str(self.config), *args], capture_output=True, text=True,
                              encoding="utf-8", errors="replace", env=self.env(), cwd=self.work, timeout=60)

    def cli_in_monitor(self, *args: str) -> subprocess.CompletedProcess:
        """A `mimamori` command run inside the monitor's namespace (it reaches the cameras)."""
        return subprocess.run(["ip", "netns", "exec", self.city.mon, MIMAMORI, "--config", str(self.config), *args],
                              capture_output=True, text=True, encoding="utf-8", errors="replace", env=self.env(),
                              cwd=self.work, timeout=60)

    def board(self) -> tuple[int, str]:
        """GET / of the status board, from inside the monitor's namespace: (HTTP status, body)."""
        return self.get("/")

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        """GET ``path`` of the service's web server from inside the monitor's namespace: (status, body)."""
        get = ("import json, sys, urllib.request, urllib.error\n"
               f"req = urllib.request.Request('http://127.0.0.1:{WEB_PORT}' + sys.argv[1], "
               "headers=json.loads(sys.argv[2]))\n"
               "try:\n"
               "    r = urllib.request.urlopen(req, timeout=20)\n"
               "except urllib.error.HTTPError as e:\n"
               "    r = e\n"
               "sys.stdout.buffer.write(b'%d\\n' % r.status + r.read())\n")
        r = subprocess.run(["ip", "netns", "exec", self.city.mon, sys.executable, "-c", get, path,
                            json.dumps(headers or {})],
                           capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=60)
        if r.returncode != 0:
            return 0, r.stderr
        status, _, body = r.stdout.partition("\n")
        return int(status), body

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.terminate()  # SIGTERM: the service closes and indexes its open segments
        return self.proc.wait(60)

    # reading back ------------------------------------------------------------------------------
    def query(self, sql: str, *args) -> list[tuple]:
        if not self.db.exists():
            return []
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        try:
            return con.execute(sql, args).fetchall()
        except sqlite3.OperationalError:
            return []  # tables not created yet
        finally:
            con.close()

    def wait(self, what: str, cond: Callable[[], bool], timeout: float) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"the service exited ({self.proc.returncode}) waiting for {what}:\n"
                                     + self.log.read_text()[-3000:])
            if cond():
                return time.monotonic() - start
            time.sleep(0.5)
        raise AssertionError(f"{what}: not within {timeout:.0f}s\n{self.debug()}")

    def debug(self) -> str:
        inc = self.query("SELECT id, cause, state, cameras FROM incidents ORDER BY opened_at")
        box = self.query("SELECT kind, audience, channel, status FROM ntf_outbox ORDER BY id")
        return f"incidents: {inc}\noutbox: {box}\nlog tail:\n" + self.log.read_text()[-2500:]

    def all_up(self) -> bool:
        """The last full round saw every camera reachable with frames."""
        rows = self.query("SELECT t, COUNT(*), SUM(reachable AND fps > 0) FROM observations "
                          "GROUP BY t ORDER BY t DESC LIMIT 2")
        return len(rows) == 2 and rows[1][1] == len(self.cameras) and rows[1][2] == len(self.cameras)

    def incidents(self, state: str | None = None) -> list[dict]:
        rows = self.query("SELECT id, cause, state, cameras, scope, opened_at, closed_at FROM incidents")
        out = [{"id": r[0], "cause": r[1], "state": r[2], "cameras": json.loads(r[3]), "scope": json.loads(r[4]),
                "opened_at": r[5], "closed_at": r[6]} for r in rows]
        return [i for i in out if state is None or i["state"] == state]

    def outbox(self) -> list[dict]:
        rows = self.query("SELECT idempotency_key, kind, audience, channel, status, recipient FROM ntf_outbox")
        return [{"key": r[0], "kind": r[1], "audience": r[2], "channel": r[3], "status": r[4],
                 "recipient": json.loads(r[5])} for r in rows]

    def segments(self) -> list[tuple[str, datetime, datetime]]:
        rows = self.query("SELECT camera_id, start, \"end\" FROM rec_segments ORDER BY camera_id, start")
        return [(c, _utc(a), _utc(b)) for c, a, b in rows]


def _utc(raw: str) -> datetime:
    t = datetime.fromisoformat(raw)
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    kind: str | None  # the outbox kind, found through the Message-ID the e-mail channel derives from its key
    key: str | None


def received_mail(svc: Service) -> list[Mail]:
    domain = FROM_ADDR.rpartition("@")[2]
    by_id = {message_id_for(o["key"], domain): o for o in svc.outbox()}
    out = []
    for msg in mailbox.Maildir(svc.maildir, create=False):
        row = by_id.get(msg["Message-ID"], {})
        out.append(Mail(to=str(msg["To"]).rpartition("<")[2].rstrip(">"),
                        subject=str(make_header(decode_header(msg["Subject"] or ""))),
                        kind=row.get("kind"), key=row.get("key")))
    return out


def twilio_requests(svc: Service) -> dict[str, int]:
    """Messages and Calls created at Prism."""
    return prism_requests(svc.prism_log)
