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
        ("riskops_runtime", "riskops_owner", "--auditor-role 'a b' is not a role name"),
    ],
)
def test_bad_role_names_are_refused(
    tmp_path: object, runtime: str, owner: str | None, message: str
) -> None:
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    try:
        auditor = "a b" if "auditor" in message else None
        with pytest.raises(InputError, match=message):
            runtime_grants(store, runtime, owner_role=owner, auditor_role=auditor)
    finally:
        store.dispose()


def test_one_role_for_two_jobs_is_refused(tmp_path: object) -> None:
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    try:
        with pytest.raises(InputError, match="The role 'reader' is named for two jobs"):
            runtime_grants(store, "rt", auditor_role="reader", anchor_role="reader")
    finally:
        store.dispose()


@pytest.mark.integration
def test_postgresql_grants_change_rows_only_where_the_code_does(pg_schema_url: str) -> None:
    store = open_store(pg_schema_url)
    try:
        script = as_script(
            runtime_grants(
                store, "rt_role", owner_role="own_role", auditor_role="aud", anchor_role="anc"
            )
        )
    finally:
        store.dispose()
    grants: dict[tuple[str, str], str] = {}
    for line in script.splitlines():
        if (
            line.startswith("GRANT")
            and " ON TABLE " in line
            and "," not in line.split(" TO ")[0].split(" ON TABLE ")[1]
        ):
            table = line.split(" ON TABLE ")[1].split(" TO ")[0].split(".")[1].strip('"')
            grants[(table, line.split(" TO ")[1].strip('";'))] = line.split(" ON ")[0]
    # The runtime role appends audit events through the function only.
    assert grants[("audit_events", "rt_role")] == "GRANT SELECT"
    assert grants[("audit_head", "rt_role")] == "GRANT SELECT"
    assert 'append_events(text[], text[], text[], text[], text[], text[]) TO "rt_role"' in script
    assert grants[("decisions", "rt_role")] == "GRANT SELECT, INSERT"
    assert grants[("decision_batches", "rt_role")] == "GRANT SELECT, INSERT, UPDATE"
    assert grants[("api_keys", "rt_role")] == "GRANT SELECT, INSERT, UPDATE"
    assert grants[("subject_keys", "rt_role")] == "GRANT SELECT, INSERT, DELETE"
    assert grants[("alembic_version", "rt_role")] == "GRANT SELECT"
    # A finding's status and a condition's closure move; a finding's history is only added to.
    assert grants[("findings", "rt_role")] == "GRANT SELECT, INSERT, UPDATE"
    assert grants[("approval_conditions", "rt_role")] == "GRANT SELECT, INSERT, UPDATE"
    assert grants[("finding_updates", "rt_role")] == "GRANT SELECT, INSERT"
    assert "GRANT USAGE ON SEQUENCE" in script
    # The owner never logs in and owns the append function; the readers only read.
    assert 'CREATE ROLE "own_role" NOLOGIN' in script
    assert (
        'append_events(text[], text[], text[], text[], text[], text[]) OWNER TO "own_role"'
        in script
    )
    assert 'OWNER TO "rt_role"' not in script
    for reader in ("aud", "anc"):
        assert any(
            line.startswith("GRANT SELECT ON TABLE ") and line.endswith(f'"{reader}";')
            for line in script.splitlines()
        )
        assert not any(
            line.startswith(("GRANT INSERT", "GRANT UPDATE", "GRANT EXECUTE", "GRANT DELETE"))
            and line.endswith(f'"{reader}";')
            for line in script.splitlines()
        )
    assert "TRUNCATE" not in script
    # The event trigger, for the superuser who runs the script.
    assert "ON ddl_command_end EXECUTE FUNCTION" in script
    assert "ON sql_drop EXECUTE FUNCTION" in script
    assert script.splitlines()[-1] == "RESET riskops.migrating;"
