"""The output folder of a batch job and its manifest, which makes the job resumable.

Layout of ``--output DIR``::

    part-00000.parquet …          the decisions of input partition 0, 1, … (see batch.core)
    rejects/part-00003.parquet    a partition's rejected rows, when it has any
    rejects.parquet               every rejected row, with its reason (written at the end)
    manifest.json                 what was scored, with what, and every file's sha256

The manifest (kind ``riskops.batch-manifest@1``) records the model version and its digest,
the input file and the options (the job's *key*), and for each partition its row range, the
digest of its input feature values, its output file with the file's sha256, and its counts.
It is rewritten atomically (a temporary file, renamed) after every partition, and every
partition file is written under a temporary name and renamed, so a job stopped at any point
leaves whole files only.

A rerun with the same key skips each partition whose input digest is unchanged and whose file
still has the recorded sha256, and writes the others; a folder holding another job's output
is refused unless ``overwrite``. The output's sha256 (:meth:`Manifest.content_sha256`) is that
of the manifest's content without the run record, which lists every file's sha256; the run
record sealed in the audit chain carries it.

Example::

    manifest = Manifest.open(out, key, overwrite=False)
    manifest.done(3, input_digest)            # the partition entry, if it can be skipped
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from riskops.audit.chain import canonical_json
from riskops.batch.parts import (
    MANIFEST,
    REJECT_PARTS,
    REJECTS,
    file_digest,
    reusable,
    write_atomic,
)
from riskops.errors import ConflictError, InputError

KIND = "riskops.batch-manifest@1"
SPARK_STAGING = "_spark"  # where the Spark engine's writers put their files first


@dataclass
class Manifest:
    """The manifest of one output folder (see the module docstring)."""

    folder: Path
    key: dict[str, Any]
    partitions: dict[int, dict[str, Any]] = field(default_factory=dict)
    rejects: dict[str, Any] | None = None
    run: dict[str, Any] | None = None

    @classmethod
    def open(cls, folder: Path, key: dict[str, Any], *, overwrite: bool = False) -> Manifest:
        """The manifest of ``folder`` for a job with ``key``: the recorded one when its key is
        the same (a resumed job), else a new one. ConflictError when the folder holds another
        job's output (or other files) and not ``overwrite``; with it, that output is removed."""
        folder = Path(folder).expanduser()
        if folder.exists() and not folder.is_dir():
            raise InputError(
                f"The output {folder} is a file, not a folder.",
                hint="Pass a folder (it is created) for the partitions and the manifest.",
            )
        folder.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(folder)
        path = folder / MANIFEST
        if path.is_file():
            try:
                recorded = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                recorded = None
            if isinstance(recorded, dict) and recorded.get("kind") == KIND:
                if recorded.get("key") == key:
                    return cls._of(folder, recorded)
                if not overwrite:
                    raise ConflictError(
                        f"{folder} holds the output of another batch job "
                        f"({_describe(recorded.get('key'))}); this one is {_describe(key)}.",
                        hint="Write to another --output folder, or pass --overwrite to replace it.",
                    )
            elif not overwrite:
                raise ConflictError(
                    f"{folder / MANIFEST} is not a batch manifest.",
                    hint="Write to another --output folder, or pass --overwrite to replace it.",
                )
            _clear(folder)
        elif any(folder.iterdir()):
            if not overwrite:
                raise ConflictError(
                    f"The output folder {folder} is not empty and holds no batch manifest.",
                    hint="Write to a new or empty --output folder, or pass --overwrite.",
                )
            _clear(folder)
        return cls(folder, key)

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        """The manifest recorded in ``folder``, whatever its key; InputError if there is none."""
        path = Path(folder).expanduser() / MANIFEST
        try:
            recorded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise InputError(
                f"No readable batch manifest at {path}: {error}",
                hint="Pass the --output folder of a batch job.",
            ) from None
        if not isinstance(recorded, dict) or recorded.get("kind") != KIND:
            raise InputError(f"{path} is not a batch manifest ({KIND}).")
        return cls._of(path.parent, recorded)

    @classmethod
    def _of(cls, folder: Path, recorded: dict[str, Any]) -> Manifest:
        parts = {int(p["index"]): p for p in recorded.get("partitions", [])}
        return cls(folder, recorded["key"], parts, recorded.get("rejects"), recorded.get("run"))

    def verify(self) -> list[str]:
        """What does not match the manifest: each listed file that is missing or whose
        sha256 differs, and a run record whose output sha256 is not this content's."""
        problems = []
        listed = [(str(e["output"]), str(e["sha256"])) for e in self.partitions.values()]
        listed += [
            (str(e["rejects_file"]), str(e["rejects_sha256"]))
            for e in self.partitions.values()
            if e.get("rejects_file")
        ]
        if self.rejects:
            listed.append((str(self.rejects["file"]), str(self.rejects["sha256"])))
        for name, digest in sorted(listed):
            path = self.folder / name
            if not path.is_file():
                problems.append(f"{name}: missing")
            elif file_digest(path) != digest:
                problems.append(f"{name}: sha256 {file_digest(path)}, manifest {digest}")
        if self.run is not None and self.run.get("output_sha256") != self.content_sha256():
            problems.append("the run record's output_sha256 is not the manifest's content")
        return problems

    def done(self, index: int, input_digest: str) -> dict[str, Any] | None:
        """The recorded entry of partition ``index`` when it can be skipped (see
        :func:`reusable`)."""
        entry = self.partitions.get(index)
        return entry if entry is not None and reusable(self.folder, entry, input_digest) else None

    def reset(self) -> None:
        """Remove every file of this folder's job and forget its partitions (a job that
        scores everything again)."""
        _clear(self.folder)
        self.partitions.clear()
        self.rejects = None
        self.run = None

    def record(self, entry: dict[str, Any]) -> None:
        """Add (or replace) a partition's entry and rewrite the manifest."""
        self.partitions[int(entry["index"])] = entry
        self.save()

    def content(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "key": self.key,
            "partitions": [self.partitions[i] for i in sorted(self.partitions)],
            "rejects": self.rejects,
        }

    def content_sha256(self) -> str:
        """The output's digest: sha256 of the canonical JSON of the manifest without its run
        record (so it lists every file's sha256)."""
        return "sha256:" + hashlib.sha256(canonical_json(self.content()).encode()).hexdigest()

    def save(self) -> None:
        body = {**self.content(), "run": self.run}
        write_atomic(self.folder / MANIFEST, json.dumps(body, indent=2).encode("utf-8"))


def _remove_leftovers(folder: Path) -> None:
    """Remove the temporary files of a job that was killed mid-write (never renamed into
    place, so never part of any output)."""
    for place in (folder, folder / REJECT_PARTS):
        if not place.is_dir():
            continue
        for path in place.iterdir():
            if path.is_file() and (
                (path.name.startswith(".part-") and path.name.endswith(".incoming"))
                or (path.name.startswith(".rejects.parquet.") and path.name.endswith(".incoming"))
                or path.name.startswith(f".{MANIFEST}.")
            ):
                path.unlink(missing_ok=True)


def _describe(key: Any) -> str:
    if not isinstance(key, dict):
        return "unknown"
    return f"{key.get('model')}@{key.get('version')} ({str(key.get('digest'))[:19]}…), options {key.get('options')}"


def _clear(folder: Path) -> None:
    """Remove a previous job's files from ``folder`` (only the names a job writes)."""
    for path in folder.iterdir():
        if path.name in (REJECT_PARTS, SPARK_STAGING) and path.is_dir():
            shutil.rmtree(path)
        elif path.is_file() and (
            path.name in (MANIFEST, REJECTS)
            or (path.name.startswith("part-") and path.name.endswith(".parquet"))
            or path.name.startswith(".")
        ):
            path.unlink()
        else:
            raise ConflictError(
                f"{folder} holds {path.name}, which is not a batch job's file; not removing it.",
                hint="Write to a new or empty --output folder.",
            )
