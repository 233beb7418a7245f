"""The least-privilege runtime role's SQL: refused names and backends; the statements on
PostgreSQL (what they allow is proven in tests/integration/test_roles.py)."""

from __future__ import annotations

import pytest

from riskops.errors import InputError
from riskops.store import open_store
from riskops.store.grants import as_script, runtime_grants


def test_sqlite_has_no_roles(tmp_path: object) -> None:
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    try:
        with pytest.raises(InputError, match="this store is sqlite, which has no roles"):
            runtime_grants(store, "riskops_runtime")
    finally:
        store.dispose()


@pytest.mark.parametrize(
    ("runtime", "owner", "message"),
    [
        ('x"; DROP TABLE decisions; --', None, "--runtime-role .* is not a role name"),
        ("riskops_runtime", "own er", "--owner-role 'own er' is not a role name"),
        ("same", "same", "The runtime role and the owner role are both 'same'"),
    ],
)
def test_bad_role_names_are_refused(
    tmp_path: object, runtime: str, owner: str | None, message: str
) -> None:
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    try:
        with pytest.raises(InputError, match=message):
            runtime_grants(store, runtime, owner_role=owner)
    finally:
        store.dispose()


@pytest.mark.integration
def test_postgresql_grants_change_rows_only_where_the_code_does(pg_schema_url: str) -> None:
    store = open_store(pg_schema_url)
    try:
        script = as_script(runtime_grants(store, "rt_role", owner_role="own_role"))
    finally:
        store.dispose()
    grants = {
        line.split(" ON TABLE ")[1].split(" TO ")[0].split(".")[1].strip('"'): line.split(" ON ")[0]
        for line in script.splitlines()
        if line.startswith("GRANT") and " ON TABLE " in line
    }
    assert grants["audit_events"] == "GRANT SELECT, INSERT"
    assert grants["decisions"] == "GRANT SELECT, INSERT"
    assert grants["audit_head"] == "GRANT SELECT, INSERT, UPDATE"
    assert grants["api_keys"] == "GRANT SELECT, INSERT, UPDATE"
    assert grants["subject_keys"] == "GRANT SELECT, INSERT, DELETE"
    assert grants["alembic_version"] == "GRANT SELECT"
    assert "GRANT USAGE ON SEQUENCE" in script
    assert 'OWNER TO "own_role"' in script
    assert 'OWNER TO "rt_role"' not in script
    assert "TRUNCATE" not in script
    assert "TRIGGER" not in script
