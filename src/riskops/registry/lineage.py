"""Where a version came from: the code (git commit, or the hash of an uncommitted diff) and the
package versions it was trained with."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

TRACKED_PACKAGES = ("riskops", "lightgbm", "scikit-learn", "numpy", "pandas", "mlflow")


@dataclass(frozen=True)
class CodeLineage:
    """The git commit of the repository holding the trainer, whether the work tree differed
    from it, and the SHA-256 of that difference (``git diff HEAD`` plus untracked files)."""

    commit: str | None
    dirty: bool
    diff_sha256: str | None
    trainer_sha256: str


def code_lineage(trainer_file: Path | None) -> CodeLineage:
    """Lineage of the trainer's code; outside a git repository ``commit`` is None."""
    trainer_sha = (
        "sha256:" + hashlib.sha256(trainer_file.read_bytes()).hexdigest()
        if trainer_file is not None and trainer_file.is_file()
        else "sha256:" + hashlib.sha256(b"").hexdigest()
    )
    folder = trainer_file.parent if trainer_file is not None else Path.cwd()
    commit = _git(folder, "rev-parse", "HEAD")
    if commit is None:
        return CodeLineage(commit=None, dirty=True, diff_sha256=None, trainer_sha256=trainer_sha)
    top = Path(_git(folder, "rev-parse", "--show-toplevel") or folder)
    diff = _git(top, "diff", "HEAD", "--binary") or ""
    untracked = _git(top, "ls-files", "--others", "--exclude-standard") or ""
    digest = hashlib.sha256(diff.encode())
    for name in sorted(untracked.splitlines()):
        path = top / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes())
    dirty = bool(diff.strip() or untracked.strip())
    return CodeLineage(
        commit=commit,
        dirty=dirty,
        diff_sha256=f"sha256:{digest.hexdigest()}" if dirty else None,
        trainer_sha256=trainer_sha,
    )


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that decide a model's behaviour, and Python's."""
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() if args[0] != "diff" else done.stdout
