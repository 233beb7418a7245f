"""Property tests: any edit, deletion, insertion, reordering or truncation of the chain is
detected, at the first event it breaks."""

from __future__ import annotations

import hashlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from riskops.audit.chain import GENESIS_HASH, ChainEvent, canonical_json, seal, verify_events

texts = st.text(min_size=1, max_size=12)
payloads = st.dictionaries(
    st.text(min_size=1, max_size=6),
    st.one_of(
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=8),
        st.booleans(),
        st.none(),
    ),
    max_size=4,
)
event_fields = st.fixed_dictionaries(
    {"actor": texts, "role": texts, "action": texts, "object_id": texts, "payload": payloads}
)


def build(
    fields: list[dict[str, object]], start: int = 1, prev: str = GENESIS_HASH
) -> list[ChainEvent]:
    chain = []
    for offset, f in enumerate(fields):
        event = seal(
            seq=start + offset,
            occurred_at=f"2026-11-29T10:00:{offset % 60:02d}.000000Z",
            actor=str(f["actor"]),
            role=str(f["role"]),
            action=str(f["action"]),
            object_type="model_version",
            object_id=str(f["object_id"]),
            payload=canonical_json(f["payload"]),
            prev_hash=prev,
        )
        chain.append(event)
        prev = event.hash
    return chain


chains = st.lists(event_fields, min_size=1, max_size=25).map(build)


@given(chains)
def test_an_untouched_chain_verifies(chain: list[ChainEvent]) -> None:
    report = verify_events(chain, head_seq=chain[-1].seq, head_hash=chain[-1].hash)
    assert report.ok
    assert report.events == len(chain)
    assert report.first_broken_seq is None


@given(chains, st.data())
def test_an_edited_event_is_named(chain: list[ChainEvent], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(chain) - 1))
    field = data.draw(
        st.sampled_from(
            [
                "occurred_at",
                "actor",
                "role",
                "action",
                "object_type",
                "object_id",
                "payload",
                "prev_hash",
                "hash",
            ]
        )
    )
    original = getattr(chain[index], field)
    replacement = data.draw(st.text(min_size=1, max_size=70).filter(lambda t: t != original))
    tampered = list(chain)
    tampered[index] = chain[index]._replace(**{field: replacement})
    report = verify_events(tampered, head_seq=chain[-1].seq, head_hash=chain[-1].hash)
    assert not report.ok
    assert report.first_broken_seq == chain[index].seq
    assert report.events == index


@given(chains, st.data())
def test_a_deleted_event_is_named(chain: list[ChainEvent], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(chain) - 1))
    tampered = chain[:index] + chain[index + 1 :]
    report = verify_events(tampered, head_seq=chain[-1].seq, head_hash=chain[-1].hash)
    assert not report.ok
    assert report.first_broken_seq == chain[index].seq


@given(chains, st.data(), event_fields)
def test_an_inserted_event_is_named(
    chain: list[ChainEvent], data: st.DataObject, forged_fields: dict[str, object]
) -> None:
    index = data.draw(st.integers(0, len(chain)))
    prev = chain[index - 1].hash if index > 0 else GENESIS_HASH
    # A forger who knows the format seals a well-formed event at that position.
    forged = build([forged_fields], start=index + 1, prev=prev)[0]
    tampered = [*chain[:index], forged, *chain[index:]]
    report = verify_events(tampered, head_seq=chain[-1].seq, head_hash=chain[-1].hash)
    assert not report.ok
    # The forged event links to its predecessor, so the break shows at the original event
    # after it; appended at the end, it runs past the recorded head.
    expected = index + 2 if index < len(chain) else index + 1
    assert report.first_broken_seq == expected


@given(st.lists(event_fields, min_size=2, max_size=25).map(build), st.data())
def test_reordered_events_are_named(chain: list[ChainEvent], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(chain) - 2))
    j = data.draw(st.integers(i + 1, len(chain) - 1))
    tampered = list(chain)
    tampered[i], tampered[j] = tampered[j], tampered[i]
    report = verify_events(tampered, head_seq=chain[-1].seq, head_hash=chain[-1].hash)
    assert not report.ok
    assert report.first_broken_seq == chain[i].seq


@given(
    st.lists(event_fields, min_size=2, max_size=25),
    st.data(),
    st.lists(event_fields, min_size=0, max_size=5),
)
def test_a_truncated_then_extended_chain_is_caught(
    fields: list[dict[str, object]], data: st.DataObject, extra: list[dict[str, object]]
) -> None:
    chain = build(fields)
    keep = data.draw(st.integers(1, len(chain) - 1))
    head_seq, head_hash = chain[-1].seq, chain[-1].hash
    # Rows after `keep` are deleted; later appends continue from the recorded head, as the
    # store does, so the gap shows at the first removed event.
    appended = build(extra, start=head_seq + 1, prev=head_hash)
    tampered = chain[:keep] + appended
    new_head = appended[-1] if appended else chain[-1]
    report = verify_events(tampered, head_seq=new_head.seq, head_hash=new_head.hash)
    assert not report.ok
    assert report.first_broken_seq == keep + 1


@given(
    st.lists(event_fields, min_size=2, max_size=25),
    st.data(),
    st.lists(event_fields, min_size=1, max_size=5),
)
def test_a_chain_rewritten_after_truncation_fails_against_its_head(
    fields: list[dict[str, object]], data: st.DataObject, extra: list[dict[str, object]]
) -> None:
    chain = build(fields)
    keep = data.draw(st.integers(1, len(chain) - 1))
    # A forger truncates and re-extends from the truncated tail, consistent in itself; the
    # recorded head (or an externally anchored one) no longer matches.
    appended = build(extra, start=keep + 1, prev=chain[keep - 1].hash)
    tampered = chain[:keep] + appended
    report = verify_events(tampered, head_seq=chain[-1].seq, head_hash=chain[-1].hash)
    assert not report.ok


@settings(max_examples=50)
@given(chains)
def test_the_hash_is_sha256_of_the_documented_record(chain: list[ChainEvent]) -> None:
    """An independent verifier only needs sha256 and sorted-key JSON (docs/audit-chain.md)."""
    for event in chain:
        record = {
            "action": event.action,
            "actor": event.actor,
            "object_id": event.object_id,
            "object_type": event.object_type,
            "occurred_at": event.occurred_at,
            "payload_sha256": hashlib.sha256(event.payload.encode()).hexdigest(),
            "prev_hash": event.prev_hash,
            "role": event.role,
            "seq": event.seq,
        }
        text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert hashlib.sha256(text.encode()).hexdigest() == event.hash


def test_an_empty_chain_verifies_against_the_genesis_head() -> None:
    report = verify_events([], head_seq=0, head_hash=GENESIS_HASH)
    assert report.ok
    assert report.events == 0


TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=300, deadline=None)
@given(
    seq=st.integers(min_value=1, max_value=2**62),
    fields=st.lists(TEXT, min_size=8, max_size=8),
)
def test_the_fast_record_text_is_the_canonical_json(seq: int, fields: list[str]) -> None:
    """record_text (orjson) equals canonical_json (the standard library) of the documented
    record for any Unicode text, control characters, quotes and backslashes included."""
    from riskops.audit.chain import canonical_json, record_text, sha256_hex

    occurred_at, actor, role, action, object_type, object_id, payload, prev = fields
    record = {
        "seq": seq,
        "occurred_at": occurred_at,
        "actor": actor,
        "role": role,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "payload_sha256": sha256_hex(payload),
        "prev_hash": prev,
    }
    assert record_text(
        seq=seq,
        occurred_at=occurred_at,
        actor=actor,
        role=role,
        action=action,
        object_type=object_type,
        object_id=object_id,
        payload=payload,
        prev_hash=prev,
    ) == canonical_json(record)
