from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from riskops.registry.digest import directory_digest
from tests.conftest import unavailable


def make_model(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "MLmodel").write_text("flavors: {}\n", encoding="utf-8")
    (root / "model.lgb").write_bytes(b"tree\x00\x01")
    (root / "sub" / "ä.json").write_text("{}", encoding="utf-8")
    return root


def test_the_digest_ignores_what_mlflow_adds_on_download(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m")
    before = directory_digest(model)
    (model / "registered_model_meta").write_text("model_name: x\n", encoding="utf-8")
    assert directory_digest(model) == before


def test_any_changed_renamed_or_added_file_changes_the_digest(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m")
    before = directory_digest(model)
    (model / "model.lgb").write_bytes(b"tree\x00\x02")
    changed = directory_digest(model)
    assert changed != before
    (model / "model.lgb").rename(model / "model2.lgb")
    assert directory_digest(model) != changed
    (model / "extra").write_text("x", encoding="utf-8")
    assert directory_digest(model) not in {before, changed}


def test_the_digest_can_be_recomputed_with_coreutils(tmp_path: Path) -> None:
    """The recipe in docs/audit-chain.md for an examiner without riskops."""
    if shutil.which("sha256sum") is None:
        unavailable("coreutils sha256sum not installed")
    model = make_model(tmp_path / "m")
    recipe = (
        "cd \"$1\" && find . -type f ! -name registered_model_meta | sed 's|^./||' "
        "| LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum | cut -d' ' -f1"
    )
    out = subprocess.run(
        ["bash", "-c", recipe, "bash", str(model)], capture_output=True, text=True, check=True
    )
    assert directory_digest(model) == "sha256:" + out.stdout.strip()
