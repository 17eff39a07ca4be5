"""What the console's browser tests share: Debian's Chromium under Playwright, axe-core, screenshots, and
`mimamori run` started as an operator starts it, waited for until /readyz answers.

Chromium and axe-core are installed by `make test`; without them these tests fail, they never skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.cli import MIMAMORI

REPO = Path(__file__).resolve().parents[1]
AXE = REPO / ".axe" / "node_modules" / "axe-core" / "axe.min.js"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def require_browser_tools() -> None:
    if shutil.which("chromium") is None:
        pytest.fail("Debian's Chromium is required: `apt-get install -y chromium` (make test installs it)")
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make axe` (npm install axe-core; make test does it)")


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
        try:
            yield b
        finally:
            b.close()


@contextlib.contextmanager
def mimamori_run(env: dict[str, str], base: str, log_path: Path) -> Iterator[subprocess.Popen]:
    """`mimamori run` with ``env``, ready (``/readyz`` answers 200) before it is handed out; stopped after."""
    log = log_path.open("w")
    proc = subprocess.Popen([*MIMAMORI, "run"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(base + "/readyz", timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise AssertionError("the service never became ready:\n" + log_path.read_text()[-3000:])
        yield proc
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def axe_problems(page: Page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def shot(page: Page, folder: Path, name: str) -> None:
    """A full-page screenshot in the test's folder, and in `docs/` with ``MIMAMORI_UPDATE_DOCS=1``."""
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("MIMAMORI_UPDATE_DOCS") == "1":
        shutil.copy(path, REPO / "docs" / f"{name}.png")


def log_in(page: Page, base: str, name: str, password: str) -> None:
    page.goto(base + "/login")
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("button[type=submit]")


def add_user(env: dict[str, str], name: str, role: str, vendor: str | None, password: str) -> None:
    """`mimamori users add`, the password on standard input."""
    p = subprocess.run([*MIMAMORI, "users", "add", name, "--role", role, *(["--vendor", vendor] if vendor else [])],
                       env=env, input=password + "\n", capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
