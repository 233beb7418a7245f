"""``--expect-head``: every form riskops prints a head in is read back, anything else is refused
saying which forms work, and a rewritten or cut chain no longer contains the recorded head."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from riskops.audit.chain import GENESIS_HASH, seal
from riskops.audit.heads import (
    ExpectedHead,
    expected_head_problem,
    hash_at,
    hashes_starting,
    parse_expected_head,
)
from riskops.audit.trail import stored_events
from riskops.cli.app import app
from riskops.context import Context
from riskops.errors import InputError
from riskops.serving.auth import create_key

runner = CliRunner()


@pytest.fixture
def audited(ctx: Context) -> Context:
    """A workspace with three audit events (three API keys made)."""
    for name in ("portal", "batch", "branch"):
        create_key(ctx, name, client="acme-bank", scopes=["score"], actor="oscar")
    return ctx


def cli(ctx: Context, *args: str) -> str:
    shown = runner.invoke(app, ["--home", str(ctx.settings.home), "audit", *args])
    assert shown.exit_code == 0, shown.output
    return shown.output


def problem(ctx: Context, head: str) -> str | None:
    expected = parse_expected_head(head)
    with ctx.store.reading() as session:
        return expected_head_problem(
            expected, lambda seq: hash_at(session, seq), lambda p: hashes_starting(session, p)
        )


def printed_forms(ctx: Context) -> dict[str, str]:
    """The head as ``riskops audit head`` and ``riskops audit verify`` print it, and the
    variants a person makes of them when copying."""
    head_line = cli(ctx, "head").strip()
    seq, full = head_line.split()
    verified = re.search(r"\(head ([0-9a-f]{16})\)", cli(ctx, "verify"))
    assert verified is not None
    short = verified.group(1)
    assert full.startswith(short)
    return {
        "audit head line": head_line,
        "full hash": full,
        "verify's 16 characters": short,
        "SEQ HASH16": f"{seq} {short}",
        "upper case": head_line.upper(),
        "surrounding whitespace": f"  \t{full}\n",
        "tab between": f"{seq}\t{full}",
    }


def test_every_printed_form_is_accepted_and_found(audited: Context) -> None:
    forms = printed_forms(audited)
    full = forms["full hash"]
    for label, form in forms.items():
        head = parse_expected_head(form)
        assert full.startswith(head.hash_prefix), label
        assert head.seq in (None, 3), label
        assert problem(audited, form) is None, label
    assert parse_expected_head(forms["audit head line"]) == ExpectedHead(3, full)
    assert parse_expected_head(forms["verify's 16 characters"]) == ExpectedHead(None, full[:16])


def test_an_earlier_head_is_still_in_a_longer_chain(audited: Context) -> None:
    earlier = cli(audited, "head").strip()
    create_key(audited, "later", client="acme-bank", scopes=["score"], actor="oscar")
    assert problem(audited, earlier) is None
    assert problem(audited, earlier.split()[1][:16]) is None


def test_the_empty_chain_head_is_accepted(ctx: Context) -> None:
    head = cli(ctx, "head").strip()
    assert head == f"0 {GENESIS_HASH}"
    assert problem(ctx, head) is None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "is not an audit head: expected the full 64-character hash"),
        ("9c1e5f0a7b3d", "has 12 characters; at least 16 are needed"),
        ("41 9c1e5f0a7b3d", "has 12 characters; at least 16 are needed"),
        ("0" * 65, "has 65 characters; a SHA-256 hash has 64"),
        ("head 9c1e5f0a7b3d2e41", "is not an audit head"),
        ("-1 9c1e5f0a7b3d2e41", "is not an audit head"),
        ("41 9c1e5f0a7b3d2e4g", "is not an audit head"),
        ("41 9c1e 5f0a7b3d2e41aa", "is not an audit head"),
        ("9c1e5f0a7b3d2e41%", "is not an audit head"),
        ("41, 9c1e5f0a7b3d2e41", "is not an audit head"),
    ],
)
def test_other_forms_are_refused_naming_the_accepted_ones(text: str, words: str) -> None:
    with pytest.raises(InputError, match=re.escape(words)) as info:
        parse_expected_head(text)
    assert "riskops audit head" in (info.value.hint or "")


def test_an_expected_head_holds_only_hex_of_a_usable_length() -> None:
    with pytest.raises(InputError, match="16 to 64 lower-case hex characters"):
        ExpectedHead(None, "9C1E5F0A7B3D2E41")
    with pytest.raises(InputError, match="16 to 64 lower-case hex characters"):
        ExpectedHead(3, "abc")


def _rewrite_from(ctx: Context, first: int) -> None:
    """What an insider with the SQLite file does: drop the append-only triggers, change event
    ``first``'s actor and recompute every hash from there, and move the head along."""
    with ctx.store.transaction() as session:
        events = list(stored_events(session))
        session.execute(text("DROP TRIGGER audit_events_no_update"))
        prev = events[first - 2].hash if first > 1 else GENESIS_HASH
        for event in events[first - 1 :]:
            forged = seal(
                seq=event.seq,
                occurred_at=event.occurred_at,
                actor="mallory" if event.seq == first else event.actor,
                role=event.role,
                action=event.action,
                object_type=event.object_type,
                object_id=event.object_id,
                payload=event.payload,
                prev_hash=prev,
            )
            session.execute(
                text(
                    "UPDATE audit_events SET actor = :actor, prev_hash = :prev, hash = :hash "
                    "WHERE seq = :seq"
                ),
                {"actor": forged.actor, "prev": prev, "hash": forged.hash, "seq": forged.seq},
            )
            prev = forged.hash
        session.execute(text("UPDATE audit_head SET hash = :hash WHERE id = 1"), {"hash": prev})


def test_a_rewritten_chain_no_longer_contains_the_recorded_head(audited: Context) -> None:
    forms = printed_forms(audited)
    before_rewrite = cli(audited, "head", "--json")
    _rewrite_from(audited, 2)
    # The chain's own links verify after the rewrite (the head moved); the signed checkpoint
    # and the api_keys row catch it too, and so does the recorded head, by hand.
    verify = runner.invoke(app, ["--home", str(audited.settings.home), "audit", "verify"])
    assert verify.exit_code == 1
    assert "api_keys row" in verify.output
    assert cli(audited, "head", "--json") != before_rewrite
    for label in ("audit head line", "SEQ HASH16", "upper case"):
        found = problem(audited, forms[label])
        assert found is not None, label
        assert found.startswith(f"the anchored head 3 {forms['full hash'][:16]}")
        assert found.endswith(
            "is no longer in the chain: the chain was rewritten at or before event 3"
        )
    for label in ("full hash", "verify's 16 characters"):
        found = problem(audited, forms[label])
        assert found is not None, label
        assert "no event's hash starts with it" in found


def test_a_cut_chain_no_longer_contains_the_recorded_head(audited: Context) -> None:
    head = cli(audited, "head").strip()
    with audited.store.transaction() as session:
        session.execute(text("DROP TRIGGER audit_events_no_delete"))
        session.execute(text("DELETE FROM audit_events WHERE seq = 3"))
    found = problem(audited, head)
    assert found is not None
    assert "there is no event 3 any more" in found


def test_a_head_that_moved_position_is_named(audited: Context) -> None:
    """A recorded hash found at another position than its recorded one: the chain was
    reordered, and the sentence says where the hash is now."""
    with audited.store.reading() as session:
        second = hash_at(session, 2)
    assert second is not None
    found = problem(audited, f"3 {second}")
    assert found is not None
    assert "rewritten at or before event 3 (a hash starting so is now at event 2)" in found
