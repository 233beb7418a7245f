"""``riskops docs`` as users run it: the installed console script, in its own process, on a
workspace that ``riskops demo`` built."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from html import escape
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.unit.documents.browser import dom as browser_dom

RISKOPS = str(Path(sys.executable).parent / "riskops")

pytestmark = pytest.mark.slow


def run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RISKOPS_", "MLFLOW_"))}
    env["RISKOPS_HOME"] = str(home)
    return subprocess.run(
        [RISKOPS, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("docs-cli") / "ws"
    done = run("demo", "--spec", "models/credit_scoring/model.yaml", home=home)
    assert done.returncode == 0, done.stderr
    return home


def test_docs_writes_every_document_and_exits_0(demo_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    done = run("docs", "credit-scoring@2", "--out", str(out), home=demo_home)
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in out.iterdir())
    assert written == [
        "credit-scoring-v2-annex-iv.html",
        "credit-scoring-v2-annex-iv.md",
        "credit-scoring-v2-figures",
        "credit-scoring-v2-model-card.html",
        "credit-scoring-v2-model-card.md",
        "credit-scoring-v2-validation-report.html",
        "credit-scoring-v2-validation-report.md",
    ]
    for name in written:
        if name.endswith((".html", ".md")):
            assert str(out / name) in done.stdout
    report = (out / "credit-scoring-v2-validation-report.md").read_text()
    assert "Champion compared: credit-scoring@1" in report


def test_docs_json_and_a_single_format(demo_home: Path, tmp_path: Path) -> None:
    done = run(
        "docs",
        "credit-scoring@1",
        "--out",
        str(tmp_path),
        "--format",
        "html",
        "--json",
        home=demo_home,
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["model"] == "credit-scoring@1"
    assert [Path(p).suffix for p in body["documents"]] == [".html"] * 3


def test_an_unknown_version_exits_2_with_a_hint(demo_home: Path, tmp_path: Path) -> None:
    done = run("docs", "credit-scoring@9", "--out", str(tmp_path / "x"), home=demo_home)
    assert done.returncode == 2
    assert "credit-scoring@9 does not exist" in done.stderr
    assert "Hint: riskops show credit-scoring lists its versions." in done.stderr
    assert not (tmp_path / "x").exists()
    malformed = run("docs", "credit-scoring", "--out", str(tmp_path), home=demo_home)
    assert malformed.returncode == 2
    assert "is not a model version reference" in malformed.stderr


def test_pdf_without_weasyprint_exits_2_with_the_install_hint(
    demo_home: Path, tmp_path: Path
) -> None:
    done = run(
        "docs", "credit-scoring@1", "--out", str(tmp_path), "--format", "pdf", home=demo_home
    )
    try:
        import weasyprint  # noqa: F401
    except ModuleNotFoundError:
        assert done.returncode == 2
        assert "Hint: Install it with: pip install 'riskops[pdf]'" in done.stderr
        assert "Traceback" not in done.stderr
    except OSError:
        assert done.returncode == 2
        assert "libpango" in done.stderr
    else:  # the pdf extra is installed here: the same command writes the PDFs
        assert done.returncode == 0, done.stderr
        assert list(tmp_path.rglob("*.pdf"))


def test_documents_attach_and_verify(demo_home: Path, tmp_path: Path) -> None:
    doc = tmp_path / "fria.pdf"
    doc.write_bytes(b"fundamental-rights impact assessment of the deployer")
    done = run(
        "documents",
        "attach",
        "credit-scoring@2",
        str(doc),
        "--kind",
        "fria",
        "--as",
        "rita",
        "--json",
        home=demo_home,
    )
    assert done.returncode == 0, done.stderr
    filed = json.loads(done.stdout)
    assert filed["sha256"] == hashlib.sha256(doc.read_bytes()).hexdigest()
    assert filed["kind"] == "fria"
    verified = run("documents", "verify", "credit-scoring@2", "--json", home=demo_home)
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["verified"] is True
    (demo_home / filed["stored"]).write_bytes(b"replaced")
    broken = run("documents", "verify", "credit-scoring@2", home=demo_home)
    assert broken.returncode == 1
    assert "MISMATCH" in broken.stdout
    refused = run(
        "documents",
        "attach",
        "credit-scoring@2",
        str(doc),
        "--kind",
        "memo",
        "--as",
        "rita",
        home=demo_home,
    )
    assert refused.returncode == 2
    assert "it is one of: declaration_of_conformity, fria, other" in refused.stderr


def test_no_document_of_the_demo_holds_a_local_path(demo_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    assert run("docs", "credit-scoring@2", "--out", str(out), home=demo_home).returncode == 0
    for path in out.glob("*.*"):
        if path.suffix not in (".html", ".md"):
            continue
        text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", path.read_text())
        for needle in (str(demo_home), str(tmp_path), str(REPO), str(Path.home()) + "/", "/tmp/"):
            assert needle not in text, f"{path.name} holds {needle}"


def test_the_demo_documents_show_their_sections_in_chromium(
    demo_home: Path, tmp_path: Path
) -> None:
    """The documents of the demo's production version, regenerated and laid out by Chromium:
    every section the records call for is on the page, the report names each failed advisory
    fairness check and the validator's findings about them, the pack names them as risks."""
    out = tmp_path / "reports"
    assert run("docs", "credit-scoring@2", "--out", str(out), home=demo_home).returncode == 0
    shown = run("show", "credit-scoring", "--json", home=demo_home)
    [version] = [v for v in json.loads(shown.stdout)["versions"] if v["version"] == 2]
    failed = [
        g["gate"]
        for g in version["gates"]
        if g["status"] == "failed" and g["gate"].startswith("fairness.")
    ]
    assert failed, "the reference model fails advisory fairness checks the documents must name"
    assert all(g["severity"] == "advisory" for g in version["gates"] if g["gate"] in failed)
    findings = version["findings_log"]
    assert {f["gate"] for f in findings} >= set(failed)

    def laid_out(slug: str) -> tuple[set[str], str]:
        page = browser_dom(tmp_path, out / f"credit-scoring-v2-{slug}.html")
        return set(re.findall(r'\bid="([^"]+)"', page)), page

    ids, report = laid_out("validation-report")
    assert {
        "summary",
        "gates",
        "decision-bands",
        "fairness-by-group",
        "test-partition",
        "soundness",
        "benchmark-challenger",
        "dependence",
        "challenge",
        "definitions",
    } <= ids
    summary = report.split('id="summary"', 1)[1].split('id="gates"', 1)[0]
    challenge = report.split('id="challenge"', 1)[1]
    for gate in failed:
        assert gate in summary
        assert f"<td><code>{gate}</code></td>" in challenge
    for finding in findings:
        assert str(escape(finding["text"])) in challenge
    opinion = next(a["opinion"] for a in version["approvals"] if a.get("opinion"))
    assert str(escape(opinion)) in challenge

    ids, card = laid_out("model-card")
    assert {"factors", "ethics", "caveats", "rationale", "definitions"} <= ids
    ethics = card.split('id="ethics"', 1)[1]
    for gate in failed:
        assert gate in ethics
    ids, pack = laid_out("annex-iv")
    assert {"crosswalk", "risks", "changes", "attachments", "derogations"} <= ids
    risks = pack.split('id="risks"', 1)[1]
    for gate in failed:
        assert gate in risks
