"""The local engine end to end on a workspace: what it writes, what it seals, how it resumes,
and what it refuses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from riskops.batch.local import Options, Progress, score_file
from riskops.batch.manifest import Manifest
from riskops.batch.runs import ACTION
from riskops.context import Context
from riskops.errors import (
    ConflictError,
    DataSchemaError,
    InputError,
    IntegrityError,
    NotFoundError,
    PermissionDeniedError,
)
from riskops.registry.artifacts import local_folder
from riskops.registry.versions import ModelRef, get_version
from riskops.scoring.scorer import Scorer
from riskops.spec import ModelSpec, parse_spec
from riskops.store.tables import AuditEventRecord
from tests.conftest import DATA
from tests.unit.batch.conftest import Workspace
from tests.unit.conftest import as_requests

SMALL = Options(partition_rows=300, workers=1)


def _scorer(ws: Workspace) -> Scorer:
    from riskops.batch.model import fetch_bundle, resolve_version

    return fetch_bundle(ws.ctx, resolve_version(ws.ctx, "credit-scoring@1")).scorer()


def _events(ctx: Context) -> list[AuditEventRecord]:
    with ctx.store.reading() as session:
        return list(
            session.execute(
                select(AuditEventRecord).where(AuditEventRecord.action == ACTION)
            ).scalars()
        )


def test_a_file_is_scored_to_parquet_partitions_sealed_in_the_audit_chain(
    ws: Workspace, tmp_path: Path
) -> None:
    seen: list[Progress] = []
    run = score_file(
        ws.ctx,
        "credit-scoring",
        ws.parquet,
        tmp_path / "out",
        environment="production",
        actor="oscar",
        options=SMALL,
        progress=seen.append,
    )
    assert (run.model_ref, run.engine, run.rows, run.decisions, run.rejects) == (
        "credit-scoring@1",
        "local",
        1000,
        1000,
        0,
    )
    assert (run.partitions, run.written, run.skipped) == (4, 4, 0)
    assert sum(run.outcomes.values()) == 1000
    assert run.rows_per_second > 0
    assert run.cpu_seconds > 0
    assert run.peak_rss_mb > 0
    assert [(p.partitions, p.rows, p.total_partitions, p.total_rows) for p in seen] == [
        (1, 300, 4, 1000),
        (2, 600, 4, 1000),
        (3, 900, 4, 1000),
        (4, 1000, 4, 1000),
    ]
    out = tmp_path / "out"
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "manifest.json",
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
        "part-00003.parquet",
        "rejects",
        "rejects.parquet",
    ]
    table = _decisions(out)
    decisions = _scorer(ws).decide_batch(
        as_requests(pacsv.read_csv(DATA).to_pandas(), run_spec(ws))
    )
    rows = table.to_pylist()
    assert [r["score"] for r in rows] == [d.score for d in decisions]
    assert [r["outcome"] for r in rows] == [d.decision for d in decisions]
    assert [r["reasons"] for r in rows] == [[x.code for x in d.reasons] for d in decisions]
    assert {(r["version"], r["digest"]) for r in rows} == {(1, run.digest)}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["run"]["audit_seq"] == run.audit_seq
    assert [p["first_row"] for p in manifest["partitions"]] == [0, 300, 600, 900]
    recorded = Manifest.load(out)
    assert run.output_sha256 == recorded.content_sha256()
    assert recorded.verify() == []
    pq.write_table(pq.read_table(out / "part-00002.parquet").slice(1), out / "part-00002.parquet")
    assert [p.split(":")[0] for p in Manifest.load(out).verify()] == ["part-00002.parquet"]
    event = next(e for e in _events(ws.ctx) if e.seq == run.audit_seq)
    payload = json.loads(event.payload)
    assert (event.actor, event.object_type, event.object_id) == (
        "oscar",
        "model_version",
        "credit-scoring@1",
    )
    assert payload["output_sha256"] == run.output_sha256
    assert payload["input_sha256"] == run.input_sha256
    assert payload["rows"] == 1000
    assert payload["engine"] == "local"


def run_spec(ws: Workspace) -> ModelSpec:
    with ws.ctx.store.reading() as session:
        return parse_spec(get_version(session, ModelRef("credit-scoring", 1)).spec_yaml).spec


def _decisions(folder: Path) -> pa.Table:
    parts = sorted(folder.glob("part-*.parquet"))
    return pa.concat_tables(pq.read_table(p) for p in parts).sort_by("row")


def test_csv_and_parquet_of_the_same_rows_give_the_same_output(
    ws: Workspace, tmp_path: Path
) -> None:
    a = score_file(
        ws.ctx, "credit-scoring@1", ws.parquet, tmp_path / "a", actor="oscar", options=SMALL
    )
    b = score_file(ws.ctx, "credit-scoring@1", ws.csv, tmp_path / "b", actor="oscar", options=SMALL)
    assert a.output_sha256 == b.output_sha256
    assert a.input_sha256 != b.input_sha256


def test_malformed_rows_go_to_the_rejects_file_with_their_reason(
    ws: Workspace, tmp_path: Path
) -> None:
    lines = DATA.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    duration = header.index("duration_in_month")
    bad = lines[5].split(",")
    bad[duration] = "forty"
    lines[5] = ",".join(bad)  # input row 4
    lines[700] = lines[700].replace("radio/television", "radio/TV", 1)  # row 699, if it has one
    path = tmp_path / "spoiled.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = score_file(
        ws.ctx, "credit-scoring@1", path, tmp_path / "out", actor="oscar", options=SMALL
    )
    rejects = pq.read_table(tmp_path / "out" / "rejects.parquet").to_pylist()
    assert rejects[0] == {
        "row": 4,
        "reason": "duration_in_month: expected a number, got a string ('forty')",
        "codes": ["wrong_type"],
    }
    assert run.rejects == len(rejects)
    assert run.decisions + run.rejects == 1000
    assert 4 not in _decisions(tmp_path / "out").column("row").to_pylist()


class Stop(Exception):
    """Raised from the progress callback: an interrupted job."""


@pytest.mark.parametrize("workers", [1, 2])
def test_an_interrupted_job_resumes_and_ends_as_an_uninterrupted_one(
    ws: Workspace, tmp_path: Path, workers: int
) -> None:
    options = Options(partition_rows=150, workers=workers)  # 7 partitions
    alone = Options(partition_rows=150, workers=1)  # the output does not depend on workers
    whole = score_file(
        ws.ctx, "credit-scoring@1", ws.parquet, tmp_path / "whole", actor="oscar", options=alone
    )

    def stop_after_two(progress: Progress) -> None:
        if progress.partitions == 2:
            raise Stop

    out = tmp_path / "out"
    with pytest.raises(Stop):
        score_file(
            ws.ctx,
            "credit-scoring@1",
            ws.parquet,
            out,
            actor="oscar",
            options=options,
            progress=stop_after_two,
        )
    kept = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    assert len(kept) >= 2
    assert not list(out.glob(".*"))  # no half-written file
    resumed = score_file(
        ws.ctx, "credit-scoring@1", ws.parquet, out, actor="oscar", options=options
    )
    assert (resumed.skipped, resumed.written) == (len(kept), 7 - len(kept))
    for name, mtime in kept.items():
        assert (out / name).stat().st_mtime_ns == mtime
    assert resumed.output_sha256 == whole.output_sha256
    assert _decisions(out).equals(_decisions(tmp_path / "whole"))
    again = score_file(ws.ctx, "credit-scoring@1", ws.parquet, out, actor="oscar", options=alone)
    assert (again.skipped, again.written) == (7, 0)


def test_a_partition_whose_file_changed_is_written_again(ws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = score_file(ws.ctx, "credit-scoring@1", ws.parquet, out, actor="oscar", options=SMALL)
    pq.write_table(
        pq.read_table(out / "part-00001.parquet").slice(0, 10), out / "part-00001.parquet"
    )
    second = score_file(ws.ctx, "credit-scoring@1", ws.parquet, out, actor="oscar", options=SMALL)
    assert (second.skipped, second.written) == (3, 1)
    assert second.output_sha256 == first.output_sha256


def test_scores_only_has_no_reasons(ws: Workspace, tmp_path: Path) -> None:
    options = Options(partition_rows=500, workers=1, reasons=False)
    score_file(
        ws.ctx, "credit-scoring@1", ws.parquet, tmp_path / "out", actor="oscar", options=options
    )
    table = _decisions(tmp_path / "out")
    assert {len(r) for r in table.column("reasons").to_pylist()} == {0}
    assert table.num_rows == 1000


def test_a_version_that_may_not_serve_is_refused_with_governances_reason(
    ws: Workspace, tmp_path: Path
) -> None:
    with pytest.raises(
        ConflictError,
        match=r"Cannot batch-score with credit-scoring@2: it is 'candidate', not 'approved'",
    ):
        score_file(ws.ctx, "credit-scoring@2", ws.parquet, tmp_path / "out", actor="oscar")
    assert not (tmp_path / "out").exists()


def test_an_artifact_whose_digest_differs_is_refused(ws: Workspace, tmp_path: Path) -> None:
    with ws.ctx.store.reading() as session:
        source = get_version(session, ModelRef("credit-scoring", 1)).artifact_uri
    folder = local_folder(source)
    assert folder is not None
    model_file = next(folder.rglob("model.lgb"))
    original = model_file.read_bytes()
    model_file.write_bytes(original.replace(b"tree_sizes", b"tree_sizez", 1))
    try:
        with pytest.raises(IntegrityError, match="refusing to load it"):
            score_file(ws.ctx, "credit-scoring@1", ws.parquet, tmp_path / "out", actor="oscar")
    finally:
        model_file.write_bytes(original)


def test_a_bundle_altered_on_its_way_to_a_worker_is_refused(ws: Workspace) -> None:
    import dataclasses

    from riskops.batch.model import fetch_bundle, resolve_version

    bundle = fetch_bundle(ws.ctx, resolve_version(ws.ctx, "credit-scoring@1"))
    name = next(n for n in bundle.files if n.endswith("model.lgb"))
    altered = dataclasses.replace(bundle, files={**bundle.files, name: bundle.files[name] + b"\n"})
    with pytest.raises(IntegrityError, match="not the approved"):
        altered.scorer()


@pytest.mark.parametrize(
    ("target", "environment", "error", "message"),
    [
        ("credit-scoring", None, InputError, "names no version"),
        ("credit-scoring@1", "production", InputError, "either a version"),
        (
            "credit-scoring",
            "staging",
            NotFoundError,
            "No version of credit-scoring is deployed in staging",
        ),
        ("credit-scoring", "moon", InputError, "Unknown environment 'moon'"),
        ("fraud", "production", NotFoundError, "No model named 'fraud'"),
        ("credit-scoring@9", None, NotFoundError, "credit-scoring@9 does not exist"),
        ("credit scoring@1", None, InputError, "is not a model version reference"),
    ],
)
def test_a_bad_target_says_what_to_do(
    ws: Workspace,
    tmp_path: Path,
    target: str,
    environment: str | None,
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        score_file(
            ws.ctx, target, ws.parquet, tmp_path / "out", environment=environment, actor="oscar"
        )


def test_only_an_operator_may_score(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(PermissionDeniedError, match="needs the role operator"):
        score_file(ws.ctx, "credit-scoring@1", ws.parquet, tmp_path / "out", actor="alice")
    with pytest.raises(InputError, match="needs the name of who does it"):
        score_file(ws.ctx, "credit-scoring@1", ws.parquet, tmp_path / "out", actor=" ")


def test_bad_input_files_are_refused_up_front(ws: Workspace, tmp_path: Path) -> None:
    def score(path: Path) -> None:
        score_file(ws.ctx, "credit-scoring@1", path, tmp_path / "out", actor="oscar", options=SMALL)

    with pytest.raises(InputError, match="No input file at"):
        score(tmp_path / "nowhere.parquet")
    json_file = tmp_path / "rows.json"
    json_file.write_text("[]")
    with pytest.raises(InputError, match="neither a Parquet nor a CSV file"):
        score(json_file)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="is empty"):
        score(empty)
    header = tmp_path / "header.csv"
    header.write_text(DATA.read_text(encoding="utf-8").splitlines()[0] + "\n")
    with pytest.raises(InputError, match="has no rows"):
        score(header)
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match=r"Cannot read .* as PARQUET"):
        score(garbage)
    renamed = tmp_path / "renamed.parquet"
    table = pq.read_table(ws.parquet)
    pq.write_table(
        table.rename_columns([n.replace("purpose", "purpos") for n in table.column_names]), renamed
    )
    with pytest.raises(DataSchemaError, match="does not have the features") as caught:
        score(renamed)
    assert [str(p) for p in caught.value.problems] == [
        "purpose: column is missing; did you mean 'purpos'?"
    ]
    with pytest.raises(InputError, match="--workers must be at least 1"):
        score_file(
            ws.ctx,
            "credit-scoring@1",
            ws.parquet,
            tmp_path / "out",
            actor="oscar",
            options=Options(workers=0),
        )
    with pytest.raises(InputError, match="Unknown engine 'dask'"):
        score_file(
            ws.ctx, "credit-scoring@1", ws.parquet, tmp_path / "out", actor="oscar", engine="dask"
        )  # type: ignore[arg-type]


def test_an_output_folder_of_something_else_is_not_overwritten_unless_asked(
    ws: Workspace, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ConflictError, match="is not empty and holds no batch manifest"):
        score_file(ws.ctx, "credit-scoring@1", ws.parquet, out, actor="oscar", options=SMALL)
    (out / "notes.txt").unlink()
    score_file(ws.ctx, "credit-scoring@1", ws.parquet, out, actor="oscar", options=SMALL)
    other = Options(partition_rows=500, workers=1)
    with pytest.raises(ConflictError, match="holds the output of another batch job"):
        score_file(ws.ctx, "credit-scoring@1", ws.parquet, out, actor="oscar", options=other)
    replaced = score_file(
        ws.ctx,
        "credit-scoring@1",
        ws.parquet,
        out,
        actor="oscar",
        options=Options(partition_rows=500, workers=1, overwrite=True),
    )
    assert replaced.partitions == 2
    assert sorted(p.name for p in out.glob("part-*")) == [
        "part-00000.parquet",
        "part-00001.parquet",
    ]
    file = tmp_path / "file"
    file.write_text("")
    with pytest.raises(InputError, match="is a file, not a folder"):
        score_file(ws.ctx, "credit-scoring@1", ws.parquet, file, actor="oscar", options=SMALL)
    assert os.path.getsize(file) == 0


KILLED = """
import os, signal, sys
from pathlib import Path
from riskops.batch.local import Options, score_file
from riskops.config import load_settings
from riskops.context import open_context

def stop(progress):
    if progress.partitions == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # no finally block, no cleanup

if __name__ == "__main__":
    ctx = open_context(load_settings(home=Path(sys.argv[1])))
    score_file(ctx, "credit-scoring@1", sys.argv[2], sys.argv[3], actor="oscar",
               options=Options(partition_rows=150, workers=1), progress=stop)
"""


def test_a_killed_job_leaves_whole_files_and_resumes(ws: Workspace, tmp_path: Path) -> None:
    options = Options(partition_rows=150, workers=1)
    whole = score_file(
        ws.ctx, "credit-scoring@1", ws.parquet, tmp_path / "whole", actor="oscar", options=options
    )
    out = tmp_path / "out"
    script = tmp_path / "killed.py"
    script.write_text(KILLED, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script), str(ws.ctx.settings.home), str(ws.parquet), str(out)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    assert sorted(p.name for p in out.glob("part-*")) == [
        "part-00000.parquet",
        "part-00001.parquet",
    ]
    (out / ".part-00002.parquet.999.incoming").write_bytes(b"half a partition")
    resumed = score_file(
        ws.ctx, "credit-scoring@1", ws.parquet, out, actor="oscar", options=options
    )
    assert (resumed.skipped, resumed.written) == (2, 5)
    assert resumed.output_sha256 == whole.output_sha256
    assert not list(out.glob(".*"))
