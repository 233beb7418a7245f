from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from riskops.audit import list_events
from riskops.context import Context
from riskops.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from riskops.serving.auth import (
    ApiKeyMissing,
    Caller,
    KeyRing,
    create_key,
    list_keys,
    revoke_key,
)
from riskops.store.tables import ApiKeyRecord


def test_a_key_is_shown_once_stored_hashed_and_audited(ctx: Context) -> None:
    made = create_key(
        ctx, "loan-portal", client="acme", scopes=["score", "read_decisions"], actor="oscar"
    )
    mark, prefix, secret = made.token.split("_", 2)
    assert mark == "rk"
    assert prefix == made.key.prefix
    assert len(secret) >= 40
    with ctx.store.reading() as session:
        row = session.execute(select(ApiKeyRecord)).scalar_one()
    assert row.key_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(row.__dict__)
    assert row.client == "acme"
    listed = list_keys(ctx)
    assert [k.prefix for k in listed] == [prefix]
    assert [k.as_dict()["client"] for k in listed] == ["acme"]
    assert secret not in str([k.as_dict() for k in listed])
    events = [e for e in list_events(ctx.store) if e.action == "api_key.created"]
    assert [e.object_id for e in events] == [prefix]
    assert events[0].payload["client"] == "acme"


def test_the_ring_checks_key_and_scope(ctx: Context) -> None:
    scorer = create_key(ctx, "portal", client="acme", scopes=["score"], actor="oscar").token
    admin = create_key(ctx, "ops", client="acme", scopes=["admin"], actor="oscar").token
    ring = KeyRing.load(ctx.store)
    caller = ring.authorise(scorer, scope="score")
    assert caller == Caller("portal", scorer.split("_")[1], "acme", frozenset({"score"}))
    assert not caller.auditor
    assert ring.authorise(admin, scope="read_decisions").name == "ops"
    with pytest.raises(PermissionDeniedError, match="lacks the scope 'read_decisions'"):
        ring.authorise(scorer, scope="read_decisions")
    with pytest.raises(ApiKeyMissing, match="needs an API key"):
        ring.authorise(None, scope="score")
    tampered = scorer[:-1] + ("A" if scorer[-1] != "A" else "B")
    for bad in (tampered, "rk_00000000_secret", "not-a-key", "rk__"):
        with pytest.raises(ApiKeyMissing, match="not valid"):
            ring.authorise(bad, scope="score")


def test_a_revoked_key_is_refused_after_refresh(ctx: Context) -> None:
    made = create_key(ctx, "portal", client="acme", scopes=["score"], actor="oscar")
    ring = KeyRing.load(ctx.store)
    revoked = revoke_key(ctx, made.key.prefix, actor="oscar")
    assert not revoked.active
    ring.refresh()
    with pytest.raises(ApiKeyMissing, match="not valid"):
        ring.authorise(made.token, scope="score")
    with pytest.raises(ConflictError, match="already revoked"):
        revoke_key(ctx, made.key.prefix, actor="oscar")
    actions = [e.action for e in list_events(ctx.store) if e.object_type == "api_key"]
    assert actions == ["api_key.created", "api_key.revoked"]


def test_bad_requests_for_keys_are_refused(ctx: Context) -> None:
    with pytest.raises(InputError, match="Unknown scope"):
        create_key(ctx, "portal", client="acme", scopes=["everything"], actor="oscar")
    with pytest.raises(InputError, match="at least one scope"):
        create_key(ctx, "portal", client="acme", scopes=[], actor="oscar")
    with pytest.raises(PermissionDeniedError, match="operator"):
        create_key(ctx, "portal", client="acme", scopes=["score"], actor="alice")
    with pytest.raises(NotFoundError, match="No API key with prefix"):
        revoke_key(ctx, "deadbeef", actor="oscar")


def test_a_key_belongs_to_the_client_it_names(ctx: Context) -> None:
    for missing in (None, "", "   "):
        with pytest.raises(InputError, match="An API key needs a client") as refused:
            create_key(ctx, "portal", client=missing, scopes=["score"], actor="oscar")
        assert refused.value.hint is not None
        assert "--client" in refused.value.hint
    with pytest.raises(InputError, match="A client name has 1 to 100 characters, got 101"):
        create_key(ctx, "portal", client="x" * 101, scopes=["score"], actor="oscar")
    assert list_keys(ctx) == []
    a = create_key(ctx, "portal", client=" bank-a ", scopes=["score"], actor="oscar")
    b = create_key(ctx, "portal", client="bank-b", scopes=["score"], actor="oscar")
    ring = KeyRing.load(ctx.store)
    assert ring.authorise(a.token, scope="score").client == "bank-a"
    assert ring.authorise(b.token, scope="score").client == "bank-b"


def test_audit_is_given_only_by_name_not_by_admin(ctx: Context) -> None:
    admin = create_key(ctx, "ops", client="acme", scopes=["admin"], actor="oscar").token
    auditor = create_key(ctx, "exam", client="examiner", scopes=["audit"], actor="oscar").token
    ring = KeyRing.load(ctx.store)
    with pytest.raises(PermissionDeniedError, match="lacks the scope 'audit'; it has admin"):
        ring.authorise(admin, scope="audit")
    either = ("read_decisions", "audit")
    assert not ring.authorise(admin, scope=either).auditor  # admin reads as its own client
    assert ring.authorise(auditor, scope=either).auditor
    with pytest.raises(PermissionDeniedError, match="lacks the scope 'score'; it has audit"):
        ring.authorise(auditor, scope="score")
