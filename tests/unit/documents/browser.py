"""Headless Chromium for the document tests: a page's DOM once laid out, or a screenshot."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import unavailable

CHROMIUM = Path("/usr/bin/chromium")


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium with a profile under ``tmp_path``; skips (fails under CI=true)
    where Chromium is not installed."""
    if not CHROMIUM.exists():
        unavailable("chromium not installed (Debian package chromium)")
    return subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
            f"--user-data-dir={tmp_path / 'profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def dom(tmp_path: Path, page: Path, *, width: int = 1280) -> str:
    """The DOM of ``page`` as Chromium lays it out at ``width`` pixels."""
    return chromium(
        tmp_path, f"--window-size={width},1000", "--dump-dom", page.resolve().as_uri()
    ).stdout
