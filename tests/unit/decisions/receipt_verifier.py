"""Verify a riskops decision receipt, or an examination bundle, with Python's standard library.

Written from docs/audit-chain.md alone ("The hash", "The Merkle log", "Decision batches",
"Checkpoints", "Decision receipts", the bundle's files) and nothing of riskops' code, as an
examiner would write it. Ed25519 (RFC 8032 §5.1) is computed here with Python integers.

    python receipt_verifier.py receipt.json --key 'NAME+KEYID+BASE64'
    python receipt_verifier.py --bundle exam-2026-12 --key 'NAME+KEYID+BASE64'

It prints ``OK: …`` and exits 0, or ``FAIL: <what is wrong>`` and exits 1. The key is the
verifier key the examiner pinned, obtained apart from the receipt or bundle.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class Broken(Exception):
    """What an examiner is shown: the first thing that does not hold."""


# --- Ed25519, RFC 8032 §5.1 -------------------------------------------------------------------

P = 2**255 - 19
D = -121665 * pow(121666, -1, P) % P
L = 2**252 + 27742317777372353535851937790883648493
SQRT_M1 = pow(2, (P - 1) // 4, P)  # a square root of -1 mod p (§5.1.3)

Point = tuple[int, int, int, int]  # extended homogeneous coordinates (X, Y, Z, T), x = X/Z, y = Y/Z


def _recover_x(y: int, sign: int) -> int | None:
    """The x with x^2 = (y^2 - 1) / (d y^2 + 1) whose low bit is ``sign`` (§5.1.3 steps 2-4)."""
    if y >= P:
        return None
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if v * x * x % P == u:
        pass
    elif v * x * x % P == (-u) % P:
        x = x * SQRT_M1 % P
    else:
        return None
    if x == 0 and sign == 1:
        return None
    if x & 1 != sign:
        x = P - x
    return x


def _decode_point(encoded: bytes) -> Point | None:
    """RFC 8032 §5.1.3: 32 bytes, little-endian y with the sign of x in the top bit."""
    if len(encoded) != 32:
        return None
    number = int.from_bytes(encoded, "little")
    y, sign = number & ((1 << 255) - 1), number >> 255
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


def _add(a: Point, b: Point) -> Point:
    """RFC 8032 §5.1.4: addition in extended coordinates (a = -1), complete for edwards25519."""
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % P
    bb = (y1 + x1) * (y2 + x2) % P
    cc = t1 * 2 * D * t2 % P
    dd = z1 * 2 * z2 % P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _multiply(scalar: int, point: Point) -> Point:
    result: Point = (0, 1, 1, 0)  # the neutral element
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _equal(a: Point, b: Point) -> bool:
    return (a[0] * b[2] - b[0] * a[2]) % P == 0 and (a[1] * b[2] - b[1] * a[2]) % P == 0


_BASE_Y = 4 * pow(5, -1, P) % P
_BASE_X = _recover_x(_BASE_Y, 0)
assert _BASE_X is not None
BASE: Point = (_BASE_X, _BASE_Y, 1, _BASE_X * _BASE_Y % P)


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """RFC 8032 §5.1.7: decode A and R, reject S >= L, and check [S]B = R + [k]A with
    k = SHA-512(R || A || M) mod L.

    >>> ed25519_verify(bytes(32), b"", bytes(64))
    False
    """
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _decode_point(public_key)
    r = _decode_point(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little")
    return _equal(_multiply(s, BASE), _add(r, _multiply(k % L, a)))


# --- The Merkle log, RFC 6962 §2.1 ----------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class MerkleRange:
    """MTH of the leaves appended so far. MTH splits at the largest power of two below n, so
    the tree of n leaves is its perfect subtrees (one per bit of n, largest first) folded
    from the right; ``root()`` can be asked at every size in one pass over the leaves."""

    def __init__(self) -> None:
        self._peaks: list[tuple[int, bytes]] = []  # (leaf count, subtree hash), largest first
        self.size = 0

    def append(self, hashed_leaf: bytes) -> None:
        count, value = 1, hashed_leaf
        while self._peaks and self._peaks[-1][0] == count:
            left = self._peaks.pop()[1]
            count, value = count * 2, node_hash(left, value)
        self._peaks.append((count, value))
        self.size += 1

    def root(self) -> bytes:
        if not self._peaks:
            return hashlib.sha256(b"").digest()
        value = self._peaks[-1][1]
        for _, left in reversed(self._peaks[:-1]):
            value = node_hash(left, value)
        return value


def merkle_root(hashed_leaves: Iterable[bytes]) -> bytes:
    tree = MerkleRange()
    for hashed in hashed_leaves:
        tree.append(hashed)
    return tree.root()


def legacy_root(digests: Sequence[bytes]) -> bytes:
    """Batches sealed before ``"tree": "rfc6962"``: raw digests paired as SHA-256(l || r),
    an odd last node promoted unchanged."""
    level = list(digests)
    if not level:
        raise Broken("a legacy batch has no digests")
    while len(level) > 1:
        paired = [
            hashlib.sha256(level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def inclusion_root(index: int, size: int, hashed_leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2 as the doc writes it; returns the root the proof reaches."""
    if type(index) is not int or type(size) is not int:
        raise Broken(f"index {index!r} and size {size!r} must be integers")
    if index >= size or index < 0:
        raise Broken(f"index {index} is outside a tree of {size} leaves")
    fn, sn, r = index, size - 1, hashed_leaf
    for p in proof:
        if sn == 0:
            raise Broken("the proof is longer than the tree allows")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Broken("the proof is shorter than the tree needs")
    return r


# --- Signed notes and checkpoints (C2SP) -------------------------------------------------------


@dataclass(frozen=True)
class VerifierKey:
    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """``<name>+<key id as 8 lower-case hex>+<base64(0x01 || public key)>``."""
        name, _, rest = text.strip().partition("+")
        hex_id, _, encoded = rest.partition("+")
        if not name or not re.fullmatch(r"[0-9a-f]{8}", hex_id):
            raise Broken(f"the verifier key {text!r} is not <name>+<8 hex>+<base64>")
        raw = _b64(encoded, f"the verifier key {text!r}")
        if len(raw) != 33 or raw[0] != 0x01:
            raise Broken(f"the verifier key {text!r} is not an Ed25519 key (0x01 || 32 bytes)")
        key_id = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
        if key_id.hex() != hex_id:
            raise Broken(
                f"the verifier key {text!r} has key id {hex_id}, its name and key give {key_id.hex()}"
            )
        return cls(name, key_id, raw[1:])


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Broken(f"{what} is not base64: {exc}") from None


def open_checkpoint(note: str, key: VerifierKey) -> Checkpoint:
    """The checkpoint of a signed note that ``key`` signed: lines of other keys are ignored,
    a line of ``key`` that fails refuses the note, and a note with none of ``key`` is refused."""
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise Broken("the checkpoint note has no blank line before its signatures")
    text, signatures = note[: split + 1], note[split + 2 :]
    signed = False
    for line in signatures.splitlines():
        match = re.fullmatch(r"\u2014 (\S+) (\S+)", line)
        if match is None:
            raise Broken(f"the checkpoint note has a malformed signature line {line!r}")
        blob = _b64(match.group(2), "a checkpoint signature")
        if len(blob) < 5:
            raise Broken(f"the checkpoint signature line {line!r} is too short")
        if match.group(1) != key.name or blob[:4] != key.key_id:
            continue
        if not ed25519_verify(key.public_key, text.encode("utf-8"), blob[4:]):
            raise Broken(f"the checkpoint's signature by {key.name} does not verify")
        signed = True
    if not signed:
        raise Broken(
            f"the checkpoint carries no signature of the pinned key {key.name}+{key.key_id.hex()}"
        )
    lines = text.split("\n")[:-1]
    if len(lines) != 3 or not re.fullmatch(r"0|[1-9][0-9]*", lines[1]):
        raise Broken(f"the checkpoint text is not origin, size, root: {text!r}")
    root = _b64(lines[2], "the checkpoint root")
    if len(root) != 32:
        raise Broken("the checkpoint root is not 32 bytes")
    return Checkpoint(lines[0], int(lines[1]), root)


# --- Events ---------------------------------------------------------------------------------------

EVENT_FIELDS = (
    "seq",
    "occurred_at",
    "actor",
    "role",
    "action",
    "object_type",
    "object_id",
    "payload",
    "prev_hash",
    "hash",
)
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_text(event: dict[str, Any]) -> str:
    """The canonical JSON of an event's record: its hash is the event's ``hash``, and its UTF-8
    bytes are the event's leaf in the Merkle log."""
    missing = [f for f in EVENT_FIELDS if f not in event]
    if missing:
        raise Broken(f"event {event.get('seq')} lacks {', '.join(missing)}")
    if not isinstance(event["seq"], int) or isinstance(event["seq"], bool):
        raise Broken(f"event seq {event['seq']!r} is not an integer")
    if not all(isinstance(event[k], str) for k in EVENT_FIELDS if k != "seq"):
        raise Broken(f"event {event['seq']}: a field other than seq is not a string")
    record = {k: event[k] for k in EVENT_FIELDS if k not in ("payload", "hash")}
    record["payload_sha256"] = _sha256_hex(event["payload"])
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if _sha256_hex(text) != event["hash"]:
        raise Broken(f"event {event['seq']}: its content does not match its hash")
    return text


def _hashes(values: Any, what: str) -> list[bytes]:
    if not isinstance(values, list) or not all(
        isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) for v in values
    ):
        raise Broken(f"{what} is not a list of 64-hex hashes")
    return [bytes.fromhex(v) for v in values]


# --- A decision receipt ---------------------------------------------------------------------


def verify_receipt(receipt: dict[str, Any], key: VerifierKey) -> str:
    """The five steps of docs/audit-chain.md, "Decision receipts"."""
    if receipt.get("format") != "riskops.decision-receipt@1":
        raise Broken(f"not a riskops.decision-receipt@1: format {receipt.get('format')!r}")
    try:
        decision_json, digest_hex = receipt["decision_json"], receipt["decision_sha256"]
        batch, event, log = receipt["batch"], receipt["event"], receipt["log"]
        note = receipt["checkpoint"]
    except KeyError as exc:
        raise Broken(f"the receipt lacks {exc}") from None

    # 1. the decision's text is the digest, and it is the decision named
    if _sha256_hex(decision_json) != digest_hex:
        raise Broken("decision_json does not hash to decision_sha256")
    decision = json.loads(decision_json)
    if not isinstance(decision, dict) or decision.get("id") != receipt.get("decision_id"):
        raise Broken("decision_json is not the decision the receipt names")

    # 2. the digest is leaf batch.index of the batch's tree
    batch_root = inclusion_root(
        batch["index"],
        batch["count"],
        leaf_hash(bytes.fromhex(digest_hex)),
        _hashes(batch["proof"], "batch.proof"),
    )
    if batch_root.hex() != batch["root"]:
        raise Broken(f"the decision is not leaf {batch['index']} of batch {batch['id']}'s root")

    # 3. the event is the one that sealed this batch with this root
    payload = json.loads(event["payload"])
    if event["action"] != "decisions.batch_sealed":
        raise Broken(f"the event is {event['action']!r}, not decisions.batch_sealed")
    expected = {
        "batch_id": batch["id"],
        "count": batch["count"],
        "merkle_root": batch["root"],
        "tree": "rfc6962",
    }
    for field, value in expected.items():
        if payload.get(field) != value:
            raise Broken(
                f"the sealing event's {field} is {payload.get(field)!r}, the receipt says {value!r}"
            )

    # 4. the event's hash recomputes, and its record is leaf seq - 1 of the log
    text = record_text(event)
    if log["index"] != event["seq"] - 1:
        raise Broken(f"log.index {log['index']} is not event {event['seq']}'s leaf")
    log_root = inclusion_root(
        log["index"],
        log["size"],
        leaf_hash(text.encode("utf-8")),
        _hashes(log["proof"], "log.proof"),
    )

    # 5. the pinned key signed a checkpoint of that origin, size and root
    checkpoint = open_checkpoint(note, key)
    if checkpoint.origin != log["origin"]:
        raise Broken(f"the checkpoint's origin is {checkpoint.origin!r}, not {log['origin']!r}")
    if checkpoint.size != log["size"]:
        raise Broken(f"the checkpoint's size is {checkpoint.size}, the receipt says {log['size']}")
    if checkpoint.root != log_root:
        raise Broken(f"the event is not leaf {log['index']} of the signed checkpoint's root")
    return (
        f"OK: decision {receipt['decision_id']} is leaf {batch['index']} of batch {batch['id']}, "
        f"sealed by event {event['seq']}, in checkpoint {checkpoint.origin} "
        f"size {checkpoint.size} signed by {key.name}+{key.key_id.hex()}"
    )


# --- An examination bundle --------------------------------------------------------------------


def _json_lines(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise Broken(f"cannot read {path}: {exc.strerror}") from None
    try:
        return [json.loads(line) for line in lines if line.strip()]
    except json.JSONDecodeError as exc:
        raise Broken(f"{path.name} line {exc.lineno} is not JSON: {exc.msg}") from None


def _entries(folder: Path) -> list[dict[str, Any]]:
    """entries.jsonl: the export header, then the events, linked and hashed."""
    lines = _json_lines(folder / "entries.jsonl")
    if not lines or lines[0].get("format") != "riskops.audit-export@1":
        raise Broken("entries.jsonl does not start with a riskops.audit-export@1 header")
    header, events = lines[0], lines[1:]
    prev, prev_time = "0" * 64, ""
    for expected_seq, event in enumerate(events, start=1):
        if event.get("seq") != expected_seq:
            raise Broken(
                f"entries.jsonl: found event {event.get('seq')} where {expected_seq} belongs"
            )
        if event.get("prev_hash") != prev:
            raise Broken(f"event {expected_seq} does not link to event {expected_seq - 1}")
        if not TIME.fullmatch(str(event.get("occurred_at"))) or event["occurred_at"] < prev_time:
            raise Broken(
                f"event {expected_seq}'s time {event.get('occurred_at')!r} is malformed or goes backwards"
            )
        event["_record"] = record_text(event)
        prev, prev_time = event["hash"], event["occurred_at"]
    head = header.get("head") or {}
    if header.get("events") != len(events) or head.get("seq") != len(events):
        raise Broken(f"entries.jsonl holds {len(events)} events, its header says {head.get('seq')}")
    if events and head.get("hash") != prev:
        raise Broken("the chain does not end at the head its header records")
    return events


def _checkpoints(folder: Path, key: VerifierKey) -> dict[int, bytes]:
    """checkpoints.jsonl: every signed note must verify under the pinned key; a line without a
    note is taken only when a signed note of its size has its root. Returns size -> root."""
    signed: dict[int, bytes] = {}
    unsigned: list[dict[str, Any]] = []
    for number, line in enumerate(_json_lines(folder / "checkpoints.jsonl"), start=1):
        if not line.get("note"):
            unsigned.append(line)
            continue
        checkpoint = open_checkpoint(line["note"], key)
        if (line.get("size"), line.get("root")) != (checkpoint.size, checkpoint.root.hex()):
            raise Broken(f"checkpoints.jsonl line {number}: its size and root are not its note's")
        if signed.get(checkpoint.size, checkpoint.root) != checkpoint.root:
            raise Broken(f"two signed checkpoints of size {checkpoint.size} differ: a fork")
        signed[checkpoint.size] = checkpoint.root
    for line in unsigned:
        root = signed.get(line.get("size", -1))
        if root is None or root.hex() != line.get("root"):
            raise Broken(
                f"the {line.get('source')} checkpoint of size {line.get('size')} has no note to "
                "check its signature, and no signed checkpoint has its size and root"
            )
    if not signed:
        raise Broken("no checkpoint signed by the pinned key: integrity only, not anchored")
    return signed


def _decision_batches(folder: Path, events: list[dict[str, Any]]) -> int:
    """decision-leaves.jsonl: each batch's root over its digests is the root its sealing event
    carries, and every sealing event has its batch here."""
    sealing = {e["seq"]: e for e in events if e["action"] == "decisions.batch_sealed"}
    seen: set[int] = set()
    for line in _json_lines(folder / "decision-leaves.jsonl"):
        batch_id, seq = line.get("batch_id"), line.get("audit_seq")
        event = sealing.get(seq)
        if event is None:
            raise Broken(f"batch {batch_id}: event {seq} is not a decisions.batch_sealed event")
        payload = json.loads(event["payload"])
        digests = _hashes(line.get("digests"), f"batch {batch_id}'s digests")
        if payload.get("batch_id") != batch_id or payload.get("count") != len(digests):
            raise Broken(
                f"batch {batch_id}: event {seq} sealed batch {payload.get('batch_id')} of {payload.get('count')} decisions, the bundle lists {len(digests)}"
            )
        if payload.get("tree") != line.get("tree"):
            raise Broken(
                f"batch {batch_id}: tree {line.get('tree')!r}, its event says {payload.get('tree')!r}"
            )
        if payload.get("tree") == "rfc6962":
            root = merkle_root(leaf_hash(d) for d in digests)
        elif payload.get("tree") is None:
            root = legacy_root(digests)
        else:
            raise Broken(f"batch {batch_id}: unknown tree {payload.get('tree')!r}")
        if root.hex() != payload.get("merkle_root") or line.get("merkle_root") != payload.get(
            "merkle_root"
        ):
            raise Broken(f"batch {batch_id}: its digests do not give the root event {seq} sealed")
        seen.add(event["seq"])
    missing = sorted(set(sealing) - seen)
    if missing:
        raise Broken(f"decision-leaves.jsonl lacks the batches sealed by events {missing}")
    return len(seen)


def verify_bundle(folder: Path, key: VerifierKey) -> str:
    """The chain, the log roots at every signed checkpoint, and every batch's root."""
    if not folder.is_dir():
        raise Broken(
            f"{folder} is not a folder; give the folder riskops audit export --bundle wrote"
        )
    events = _entries(folder)
    checkpoints = _checkpoints(folder, key)
    largest = max(checkpoints)
    if largest > len(events):
        raise Broken(
            f"a signed checkpoint covers {largest} events, the bundle holds {len(events)}: events were cut"
        )
    tree = MerkleRange()
    if 0 in checkpoints and checkpoints[0] != tree.root():
        raise Broken("the signed checkpoint of size 0 is not the empty tree")
    for event in events:
        tree.append(leaf_hash(event["_record"].encode("utf-8")))
        if tree.size in checkpoints and tree.root() != checkpoints[tree.size]:
            raise Broken(
                f"the first {tree.size} events are not the ones the signed checkpoint of size {tree.size} covers"
            )
    batches = _decision_batches(folder, events)
    return (
        f"OK: {len(events)} events, {len(checkpoints)} signed checkpoints (newest size "
        f"{largest}, {len(events) - largest} events unanchored), {batches} decision batches"
    )


# --- The command ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("receipt", nargs="?", type=Path, help="a decisions prove receipt (JSON)")
    parser.add_argument("--bundle", type=Path, help="an audit export --bundle folder")
    parser.add_argument("--key", required=True, help="the verifier key you pinned")
    args = parser.parse_args(argv)
    if (args.receipt is None) == (args.bundle is None):
        parser.error("give either a receipt file or --bundle DIR")
    try:
        key = VerifierKey.parse(args.key)
        if args.bundle is not None:
            result = verify_bundle(args.bundle, key)
        else:
            try:
                receipt = json.loads(args.receipt.read_text(encoding="utf-8"))
            except OSError as exc:
                raise Broken(f"cannot read {args.receipt}: {exc.strerror}") from None
            except json.JSONDecodeError as exc:
                raise Broken(f"{args.receipt} is not JSON: {exc.msg}") from None
            if not isinstance(receipt, dict):
                raise Broken(f"{args.receipt} is not a receipt object")
            result = verify_receipt(receipt, key)
    except Broken as exc:
        print(f"FAIL: {exc}")
        return 1
    except (KeyError, TypeError, ValueError) as exc:  # a field missing or of the wrong type
        print(f"FAIL: malformed input ({type(exc).__name__}: {exc})")
        return 1
    print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
