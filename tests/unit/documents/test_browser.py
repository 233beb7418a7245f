"""The HTML documents as a person sees them: a headless Chromium screenshot (optional)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from riskops.context import Context
from riskops.documents.figures import PNG_SIGNATURE
from riskops.documents.render import render_documents
from riskops.training.pipeline import train
from tests.conftest import SPEC, approve_and_deploy, unavailable

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.slow


def test_the_validation_report_renders_in_a_browser(ctx: Context, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        unavailable("chromium not installed (Debian package chromium)")
    ref = train(ctx, SPEC, actor="alice").ref
    approve_and_deploy(ctx, ref)
    [report] = render_documents(ctx, ref, tmp_path / "docs", formats=("html",))[:1]
    shot = tmp_path / "report.png"
    subprocess.run(
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
            f"--screenshot={shot}",
            "--window-size=1200,2000",
            report.resolve().as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.is_file(), "chromium wrote no screenshot"
    data = shot.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 50_000  # a blank 1200x2000 page compresses to a few kB
