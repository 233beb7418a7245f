"""A verified model artifact as bytes, shipped to the processes that score.

A batch job's workers (local processes, Spark executors) do not fetch the artifact themselves:
the driver fetches it once, digest-checked (:func:`riskops.batch.model.fetch_bundle`), and ships
its files as a :class:`ModelBundle`. Each worker writes them to a private folder, recomputes the
digest, and loads the model only if it is still the approved one — the check serving makes, on
every process that scores. This module imports nothing of the store or MLflow, so a worker
starts light.

Example::

    scorer = bundle.scorer()            # in a worker: digest checked again, then loaded
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from riskops.errors import IntegrityError
from riskops.registry.digest import directory_digest
from riskops.registry.model_files import load_native
from riskops.scoring.features import UnknownCategory
from riskops.scoring.scorer import Scorer
from riskops.spec import ModelSpec, parse_spec


@dataclass(frozen=True)
class ModelBundle:
    """A verified artifact as bytes (``files``: relative path → content), to be shipped to
    workers and loaded there with its digest checked again."""

    model: str
    version: int
    digest: str
    flavor: str
    spec_yaml: str
    files: dict[str, bytes] = field(repr=False)

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"

    @property
    def spec(self) -> ModelSpec:
        return parse_spec(self.spec_yaml, source=self.ref).spec

    def load(self) -> Any:
        """The native model, from a private copy of the files whose digest is recomputed;
        IntegrityError if it is not the approved one."""
        with tempfile.TemporaryDirectory(prefix="riskops-batch-model-") as tmp:
            root = Path(tmp)
            for relative, content in self.files.items():
                path = (root / relative).resolve()
                if not path.is_relative_to(root.resolve()):
                    raise IntegrityError(
                        f"The artifact of {self.ref} names a file outside it: {relative}"
                    )
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
            actual = directory_digest(root)
            if actual != self.digest:
                raise IntegrityError(
                    f"The artifact of {self.ref} shipped to this worker has digest {actual}, "
                    f"not the approved {self.digest}; refusing to score with it.",
                    hint="Something altered the model between the driver and the worker; "
                    "report this as a security incident.",
                )
            return load_native(root, self.flavor)

    def scorer(
        self, *, unknown_category: UnknownCategory = "reject", num_threads: int = 1
    ) -> Scorer:
        """A :class:`Scorer` of the verified model (``num_threads`` LightGBM threads a call)."""
        return Scorer(
            self.spec,
            self.load(),
            version=self.version,
            digest=self.digest,
            unknown_category=unknown_category,
            num_threads=num_threads,
        )
