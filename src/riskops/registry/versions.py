"""Looking up model versions in the store, and the ``MODEL@VERSION`` reference syntax."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from riskops.errors import InputError, NotFoundError
from riskops.store.tables import ModelRecord, ModelVersionRecord

_REF = re.compile(r"^(?P<name>[a-z][a-z0-9-]{1,62}[a-z0-9])@(?P<version>[1-9][0-9]*)$")


@dataclass(frozen=True, order=True)
class ModelRef:
    """A model version reference such as ``credit-scoring@3``."""

    name: str
    version: int

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"


def parse_ref(text: str) -> ModelRef:
    """Parse ``NAME@VERSION``; anything else is an InputError that shows the syntax."""
    match = _REF.match(text.strip())
    if match is None:
        raise InputError(
            f"{text!r} is not a model version reference.",
            hint="Write it as NAME@VERSION, e.g. credit-scoring@1; riskops models lists them.",
        )
    return ModelRef(match["name"], int(match["version"]))


def get_model(session: Session, name: str) -> ModelRecord:
    model = session.get(ModelRecord, name)
    if model is None:
        known = session.execute(select(ModelRecord.name).order_by(ModelRecord.name)).scalars()
        names = ", ".join(known) or "none yet"
        raise NotFoundError(
            f"No model named {name!r} (known models: {names}).",
            hint="Train one first: riskops train models/credit_scoring/model.yaml --as <developer>",
        )
    return model


def get_version(session: Session, ref: ModelRef, *, for_update: bool = False) -> ModelVersionRecord:
    query = select(ModelVersionRecord).where(
        ModelVersionRecord.model_name == ref.name, ModelVersionRecord.version == ref.version
    )
    if for_update:
        query = query.with_for_update()
    record = session.execute(query).scalar_one_or_none()
    if record is None:
        get_model(session, ref.name)
        latest = latest_version(session, ref.name)
        raise NotFoundError(
            f"{ref} does not exist; the latest version of {ref.name} is {latest}.",
            hint=f"riskops show {ref.name} lists its versions.",
        )
    return record


def latest_version(session: Session, name: str) -> int:
    value = session.execute(
        select(func.max(ModelVersionRecord.version)).where(ModelVersionRecord.model_name == name)
    ).scalar_one()
    return int(value or 0)


def list_versions(session: Session, name: str | None = None) -> list[ModelVersionRecord]:
    query = select(ModelVersionRecord).order_by(
        ModelVersionRecord.model_name, ModelVersionRecord.version
    )
    if name is not None:
        query = query.where(ModelVersionRecord.model_name == name)
    return list(session.execute(query).scalars())
