"""The HTML documents as a person sees them in a headless Chromium (optional): a screenshot of
the validation report, and the layout of every document at a desktop and a tablet width."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from riskops.context import open_context
from riskops.documents.figures import PNG_SIGNATURE
from riskops.documents.render import render_documents
from riskops.training.pipeline import train
from riskops.workspace import init_workspace
from tests.conftest import _WORKSPACE_VARS, PEOPLE, SPEC, approve_and_deploy, unavailable
from tests.unit.documents.browser import CHROMIUM, chromium

pytestmark = pytest.mark.slow

# Appended to a copy of a page: reads the layout once the page is laid out at the window's
# width, and writes it into the DOM that --dump-dom prints.
PROBE = """<script>
const nav = document.querySelector('nav.toc');
const root = document.documentElement;
const ids = [...document.querySelectorAll('[id]')].map(e => e.id).join(' ');
document.body.insertAdjacentHTML('beforeend', '<pre id="probe">' + nav.scrollWidth + ' ' +
  nav.clientWidth + ' ' + root.scrollWidth + ' ' + root.clientWidth + ' | ' + ids + '</pre>');
</script>"""
PROBED = re.compile(r'<pre id="probe">(\d+) (\d+) (\d+) (\d+) \| ([^<]*)</pre>')


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three HTML documents of a deployed version, by slug."""
    if not CHROMIUM.exists():
        unavailable("chromium not installed (Debian package chromium)")
    root = tmp_path_factory.mktemp("browser")
    with pytest.MonkeyPatch.context() as env:
        for name in _WORKSPACE_VARS:
            env.delenv(name, raising=False)
        ctx = open_context(init_workspace(root / "ws", people=PEOPLE))
        try:
            ref = train(ctx, SPEC, actor="alice").ref
            approve_and_deploy(ctx, ref)
            written = render_documents(ctx, ref, root / "docs", formats=("html",))
        finally:
            ctx.close()
    return {p.stem.split(f"-v{ref.version}-", 1)[1]: p for p in written}


def test_the_validation_report_renders_in_a_browser(pages: dict[str, Path], tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    chromium(
        tmp_path,
        f"--screenshot={shot}",
        "--window-size=1200,2000",
        pages["validation-report"].resolve().as_uri(),
    )
    assert shot.is_file(), "chromium wrote no screenshot"
    data = shot.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 50_000  # a blank 1200x2000 page compresses to a few kB


@pytest.mark.parametrize("width", [1280, 768])
@pytest.mark.parametrize("slug", ["model-card", "validation-report", "annex-iv"])
def test_the_navigation_bar_and_the_page_fit_the_window(
    pages: dict[str, Path], tmp_path: Path, slug: str, width: int
) -> None:
    probed = tmp_path / f"{slug}.html"
    probed.write_text(
        pages[slug].read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
        encoding="utf-8",
    )
    done = chromium(tmp_path, f"--window-size={width},1000", "--dump-dom", probed.as_uri())
    found = PROBED.search(done.stdout)
    assert found is not None, f"no layout read back from chromium: {done.stderr[-500:]}"
    nav_scroll, nav_client, page_scroll, page_client = map(int, found.groups()[:4])
    assert 0 < nav_client <= width
    assert nav_scroll <= nav_client, f"the navigation bar overflows at {width}px"
    assert page_scroll <= page_client, f"the page scrolls sideways at {width}px"
    ids = set(found.group(5).split())
    expected = {
        "model-card": {
            "factors",
            "metrics",
            "evaluation-data",
            "training-data",
            "ethics",
            "caveats",
            "rationale",
            "definitions",
        },
        "validation-report": {"definitions", "summary", "gates"},
        "annex-iv": {
            "crosswalk",
            "design-choices",
            "risks",
            "changes",
            "attachments",
            "derogations",
            "definitions",
        },
    }[slug]
    assert expected <= ids
