"""The stdlib-only verifier written from docs/audit-chain.md (receipt_verifier.py) against real
receipts and a real examination bundle made by riskops, each forgery named; and its Ed25519
against RFC 8032 §7.1 and against the `cryptography` package."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from riskops.audit.note import Signer, sign_note
from riskops.context import Context
from riskops.decisions.log import DecisionLog
from riskops.decisions.receipts import prove_decision
from tests.unit.decisions import receipt_verifier as rv
from tests.unit.decisions.test_decision_log import entry

VERIFIER = Path(rv.__file__)


@dataclass(frozen=True)
class Workspace:
    ctx: Context
    decision_ids: list[str]
    key: str


@pytest.fixture
def workspace(ctx: Context, tmp_path: Path) -> Workspace:
    """Decisions served in four rounds, so the log holds several sealed batches and checkpoints."""
    ids: list[str] = []
    for round_ in range(4):
        log = DecisionLog.open(
            store=ctx.store, wal_dir=tmp_path / "wal", settings=ctx.settings, clock=ctx.clock
        )
        entries = [entry(subject=f"CUSTOMER-{round_}-{i}") for i in range(3 + round_)]
        for e in entries:
            log.append(e)
        log.close()
        ids.extend(e.decision_id for e in entries)
    assert ctx.settings.audit is not None
    return Workspace(ctx, ids, ctx.settings.audit.verifier_keys[0])


def run(*args: str | Path) -> tuple[int, str]:
    """The verifier as an examiner runs it: a fresh interpreter in isolated mode (-I: no
    PYTHONPATH, no user site), so riskops cannot be imported by it."""
    done = subprocess.run(
        [sys.executable, "-I", str(VERIFIER), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ.get("PATH", "")},
        check=False,
    )
    assert done.stderr == "" or done.returncode == 2, done.stderr
    return done.returncode, done.stdout + done.stderr


def check_receipt(receipt: dict[str, Any], key: str, tmp_path: Path) -> tuple[int, str]:
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt, ensure_ascii=False), encoding="utf-8")
    return run(path, "--key", key)


# --- receipts ---------------------------------------------------------------------------------


def test_every_real_receipt_verifies(workspace: Workspace, tmp_path: Path) -> None:
    batches = set()
    for decision_id in workspace.decision_ids:
        receipt = prove_decision(workspace.ctx, decision_id)
        code, out = check_receipt(receipt, workspace.key, tmp_path)
        assert (code, out.split(" is leaf")[0]) == (0, f"OK: decision {decision_id}"), out
        batches.add(receipt["batch"]["id"])
    assert len(batches) >= 4  # proofs at several positions of several batches and log sizes


def test_the_receipt_the_cli_writes_verifies(workspace: Workspace, tmp_path: Path) -> None:
    from riskops.cli.app import app

    out = tmp_path / "cli-receipt.json"
    result = CliRunner().invoke(
        app,
        ["decisions", "prove", workspace.decision_ids[5], "--out", str(out)],
        env={"RISKOPS_HOME": str(workspace.ctx.settings.home)},
    )
    assert result.exit_code == 0, result.output
    code, text = run(out, "--key", workspace.key)
    assert code == 0, text
    assert text.startswith(f"OK: decision {workspace.decision_ids[5]}")


def _flip(hex_text: str) -> str:
    return ("1" if hex_text[0] == "0" else "0") + hex_text[1:]


def _edited_decision(r: dict[str, Any]) -> None:
    fields = json.loads(r["decision_json"])
    fields["decision"] = "approve" if fields["decision"] != "approve" else "decline"
    r["decision_json"] = json.dumps(fields, sort_keys=True, separators=(",", ":"))


def _edited_and_rehashed(r: dict[str, Any]) -> None:
    _edited_decision(r)
    r["decision_sha256"] = hashlib.sha256(r["decision_json"].encode()).hexdigest()


def _resigned(r: dict[str, Any]) -> None:
    """The same checkpoint text, signed by a key of the same name that nobody pinned."""
    text = r["checkpoint"].split("\n\n")[0] + "\n"
    r["checkpoint"] = sign_note(text, [Signer.generate(r["log"]["origin"])])


def _signature_byte_flipped(r: dict[str, Any]) -> None:
    """The pinned key's own line, with one byte of its Ed25519 signature changed."""
    text, line = r["checkpoint"].split("\n\n")
    dash, name, blob = line.rstrip("\n").split(" ")
    raw = bytearray(base64.b64decode(blob))
    raw[10] ^= 0x01
    r["checkpoint"] = f"{text}\n\n{dash} {name} {base64.b64encode(bytes(raw)).decode()}\n"


def _checkpoint_text_edited(r: dict[str, Any]) -> None:
    """The signed size changed after signing: the signature no longer holds."""
    origin, size, rest = r["checkpoint"].split("\n", 2)
    r["checkpoint"] = f"{origin}\n{int(size) + 1}\n{rest}"
    r["log"]["size"] += 1


def _event_edited(r: dict[str, Any]) -> None:
    r["event"]["actor"] = "mallory"


def _set(path: str, value: Callable[[Any], Any]) -> Callable[[dict[str, Any]], None]:
    def edit(r: dict[str, Any]) -> None:
        outer, inner = path.split(".")
        r[outer][inner] = value(r[outer][inner])

    return edit


def _swapped_index(r: dict[str, Any]) -> None:
    """Another leaf of the same batch: the neighbour, or the one before the last leaf when
    the decision is the last of an odd-sized batch (its neighbour would be out of range)."""
    index, count = r["batch"]["index"], r["batch"]["count"]
    r["batch"]["index"] = index ^ 1 if index ^ 1 < count else index - 1


FORGERIES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "edited decision_json": (_edited_decision, "decision_json does not hash to decision_sha256"),
    "edited and rehashed decision": (_edited_and_rehashed, "the decision is not leaf"),
    "another decision's id": (
        lambda r: r.update(decision_id="00000000-0000-0000-0000-000000000000"),
        "decision_json is not the decision the receipt names",
    ),
    "flipped batch proof byte": (
        _set("batch.proof", lambda p: [_flip(p[0]), *p[1:]]),
        "the decision is not leaf",
    ),
    "flipped log proof byte": (
        _set("log.proof", lambda p: [_flip(p[0]), *p[1:]]),
        "the event is not leaf",
    ),
    "flipped batch root": (_set("batch.root", _flip), "the decision is not leaf"),
    # The flusher decides how many decisions a batch seals; in an unbalanced tree another index
    # can need a proof of another length, which is refused before any hashing.
    "swapped batch index": (
        _swapped_index,
        "the decision is not leaf|the proof is (shorter than the tree needs|longer than the tree allows)",
    ),
    "batch index out of range": (
        _set("batch.index", lambda i: 99),
        "index 99 is outside a tree",
    ),
    "log index of another event": (_set("log.index", lambda i: i + 1), "log.index"),
    # a size the proof was not made for fails the proof's shape, or else its root or the
    # checkpoint's signed size
    "mismatched log size": (
        _set("log.size", lambda s: s + 1),
        "the proof is (shorter|longer)|the event is not leaf|the checkpoint's size is",
    ),
    "edited event": (_event_edited, "its content does not match its hash"),
    "signed by a different key": (_resigned, "carries no signature of the pinned key"),
    "signature byte flipped": (
        _signature_byte_flipped,
        r"signature by riskops\.local/\S+ does not verify",
    ),
    # A size one larger may also change the proof's expected length, which is checked first:
    # which of the two refusals comes depends on the tree's shape at that size.
    "checkpoint text edited": (
        _checkpoint_text_edited,
        r"does not verify|the proof is (shorter than the tree needs|longer than the tree allows)",
    ),
    "checkpoint of another origin": (  # the receipt claims another log
        _set("log.origin", lambda o: o + "-other"),
        "the checkpoint's origin is",
    ),
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_a_forged_receipt_fails(workspace: Workspace, tmp_path: Path, forgery: str) -> None:
    edit, reason = FORGERIES[forgery]
    receipt = prove_decision(workspace.ctx, workspace.decision_ids[4])
    assert check_receipt(receipt, workspace.key, tmp_path)[0] == 0
    edit(receipt)
    code, out = check_receipt(receipt, workspace.key, tmp_path)
    assert code == 1, out
    assert re.match(f"FAIL: .*({reason})", out), out


def test_another_batchs_event_fails_even_with_its_own_log_proof(
    workspace: Workspace, tmp_path: Path
) -> None:
    mine = prove_decision(workspace.ctx, workspace.decision_ids[0])
    other = prove_decision(workspace.ctx, workspace.decision_ids[-1])
    assert mine["batch"]["id"] != other["batch"]["id"]
    forged = dict(mine, event=other["event"], log=other["log"], checkpoint=other["checkpoint"])
    code, out = check_receipt(forged, workspace.key, tmp_path)
    assert code == 1
    assert "the sealing event's batch_id is" in out, out


def test_a_receipt_checked_against_another_pinned_key_fails(
    workspace: Workspace, tmp_path: Path
) -> None:
    receipt = prove_decision(workspace.ctx, workspace.decision_ids[0])
    stranger = Signer.generate(receipt["log"]["origin"]).verifier().text()
    code, out = check_receipt(receipt, stranger, tmp_path)
    assert code == 1
    assert "carries no signature of the pinned key" in out, out


# --- the examination bundle ---------------------------------------------------------------------


@pytest.fixture
def bundle(workspace: Workspace, tmp_path: Path) -> Path:
    from riskops.cli.app import app

    folder = tmp_path / "exam"
    env = {"RISKOPS_HOME": str(workspace.ctx.settings.home)}
    # a checkpoint at the head, so that every event is anchored (the first flush made one too)
    result = CliRunner().invoke(app, ["audit", "checkpoint"], env=env)
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["audit", "export", "--bundle", str(folder)], env=env)
    assert result.exit_code == 0, result.output
    return folder


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _write(path: Path, lines: list[dict[str, Any]]) -> None:
    path.write_text(
        "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8"
    )


def _rehash(header: dict[str, Any], events: list[dict[str, Any]]) -> None:
    """What an insider with write access does after an edit: recompute every link and hash."""
    prev = "0" * 64
    for event in events:
        event["prev_hash"] = prev
        record = {k: event[k] for k in rv.EVENT_FIELDS if k not in ("payload", "hash")}
        record["payload_sha256"] = hashlib.sha256(event["payload"].encode()).hexdigest()
        text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        event["hash"] = prev = hashlib.sha256(text.encode()).hexdigest()
    header["head"] = {"seq": len(events), "hash": prev}
    header["events"] = len(events)


def test_a_real_bundle_verifies(workspace: Workspace, bundle: Path) -> None:
    code, out = run("--bundle", bundle, "--key", workspace.key)
    assert code == 0, out
    # every event here seals a batch (how many depends on the flusher's timing)
    events, checkpoints, batches = re.fullmatch(
        r"OK: (\d+) events, (\d+) signed checkpoints \(newest size \1, 0 events unanchored\), "
        r"(\d+) decision batches\n",
        out,
    ).groups()  # type: ignore[union-attr]
    assert events == batches
    assert int(checkpoints) >= 2


def _edit_entry(bundle: Path) -> None:
    path = bundle / "entries.jsonl"
    lines = _lines(path)
    lines[2]["actor"] = "mallory"
    _write(path, lines)


def _rewrite_entries(bundle: Path) -> None:
    path = bundle / "entries.jsonl"
    lines = _lines(path)
    lines[1]["actor"] = "mallory"
    _rehash(lines[0], lines[1:])
    _write(path, lines)


def _cut_tail(bundle: Path) -> None:
    path = bundle / "entries.jsonl"
    lines = _lines(path)[:-2]
    _rehash(lines[0], lines[1:])
    _write(path, lines)


def _edit_digest(bundle: Path) -> None:
    path = bundle / "decision-leaves.jsonl"
    lines = _lines(path)
    lines[-1]["digests"][0] = _flip(lines[-1]["digests"][0])
    _write(path, lines)


def _drop_batch(bundle: Path) -> None:
    path = bundle / "decision-leaves.jsonl"
    _write(path, _lines(path)[1:])


def _resign_checkpoint(bundle: Path) -> None:
    path = bundle / "checkpoints.jsonl"
    lines = _lines(path)
    signed = next(line for line in lines if line.get("note"))
    origin = signed["note"].split("\n")[0]
    signed["note"] = sign_note(signed["note"].split("\n\n")[0] + "\n", [Signer.generate(origin)])
    _write(path, lines)


def _unsigned_fork(bundle: Path) -> None:
    path = bundle / "checkpoints.jsonl"
    lines = _lines(path)
    bare = next(line for line in lines if line.get("source") == "anchors")
    del bare["note"]
    bare["root"] = _flip(bare["root"])
    _write(path, lines)


BUNDLE_FORGERIES: dict[str, tuple[Callable[[Path], None], str]] = {
    "an edited event": (_edit_entry, "its content does not match its hash"),
    "a rewrite that recomputed every hash": (_rewrite_entries, "are not the ones the signed"),
    "a cut tail": (_cut_tail, "events were cut"),
    "an edited decision digest": (_edit_digest, "do not give the root"),
    "a batch left out": (_drop_batch, "lacks the batches sealed by events"),
    "a checkpoint signed by another key": (_resign_checkpoint, "no signature of the pinned key"),
    "an anchor line no signed note backs": (_unsigned_fork, "has no note to check"),
}


@pytest.mark.parametrize("forgery", list(BUNDLE_FORGERIES))
def test_a_tampered_bundle_fails(workspace: Workspace, bundle: Path, forgery: str) -> None:
    edit, reason = BUNDLE_FORGERIES[forgery]
    edit(bundle)
    code, out = run("--bundle", bundle, "--key", workspace.key)
    assert code == 1, out
    assert out.startswith("FAIL: ")
    assert reason in out, out


# --- the command's own errors ------------------------------------------------------------------


def test_the_command_names_bad_input(workspace: Workspace, tmp_path: Path) -> None:
    key = workspace.key
    assert run(tmp_path / "missing.json", "--key", key) == (
        1,
        f"FAIL: cannot read {tmp_path / 'missing.json'}: No such file or directory\n",
    )
    name, _, encoded = key.split("+", 2)
    wrong_id = f"{name}+{'0' * 8}+{encoded}"
    code, out = run(tmp_path / "missing.json", "--key", wrong_id)
    assert code == 1
    assert "has key id 00000000, its name and key give" in out
    code, out = run("--bundle", tmp_path / "nowhere", "--key", key)
    assert (code, out.split(";")[0]) == (1, f"FAIL: {tmp_path / 'nowhere'} is not a folder")
    code, out = run("--key", key)
    assert code == 2
    assert "give either a receipt file or --bundle DIR" in out


# --- Ed25519 --------------------------------------------------------------------------------------

# RFC 8032 §7.1, TEST 1-3 (https://www.rfc-editor.org/rfc/rfc8032#section-7.1): secret key,
# public key, message, signature.
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
        "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


@pytest.mark.parametrize("vector", RFC8032, ids=["TEST 1", "TEST 2", "TEST 3"])
def test_ed25519_rfc8032_vectors(vector: tuple[str, str, str, str]) -> None:
    secret, public, message, signature = (bytes.fromhex(v) for v in vector)
    # the transcription is right: cryptography derives the same key and signature from the seed
    private = Ed25519PrivateKey.from_private_bytes(secret)
    assert private.public_key().public_bytes_raw() == public
    assert private.sign(message) == signature

    assert rv.ed25519_verify(public, message, signature)
    assert not rv.ed25519_verify(public, message + b"\x00", signature)
    bent = bytearray(signature)
    bent[5] ^= 0x20
    assert not rv.ed25519_verify(public, message, bytes(bent))
    # S + L is the same point arithmetic but not canonical: RFC 8032 §5.1.7 rejects S >= L
    s = int.from_bytes(signature[32:], "little") + rv.L
    assert not rv.ed25519_verify(public, message, signature[:32] + s.to_bytes(32, "little"))
    other_public = bytes.fromhex(RFC8032[(RFC8032.index(vector) + 1) % 3][1])
    assert not rv.ed25519_verify(other_public, message, signature)


def test_ed25519_rejects_keys_that_are_not_points() -> None:
    public, signature = bytes.fromhex(RFC8032[0][1]), bytes.fromhex(RFC8032[0][3])
    y_too_large = (rv.P + 1).to_bytes(32, "little")  # y >= p: §5.1.3 step 1 fails
    assert not rv.ed25519_verify(y_too_large, b"", signature)
    negative_zero = (1 | 1 << 255).to_bytes(32, "little")  # y = 1 gives x = 0 with sign bit 1
    assert not rv.ed25519_verify(negative_zero, b"", signature)
    assert not rv.ed25519_verify(public[:31], b"", signature)
    assert not rv.ed25519_verify(public, b"", signature[:63])


def test_ed25519_agrees_with_cryptography_on_random_messages() -> None:
    for length in [0, 1, 31, 32, 33, 64, 100, 1000, *range(2, 26)]:
        private = Ed25519PrivateKey.generate()
        public = private.public_key().public_bytes_raw()
        message = os.urandom(length)
        signature = private.sign(message)
        assert rv.ed25519_verify(public, message, signature)
        assert not rv.ed25519_verify(public, message + b"!", signature)
        tampered = bytearray(signature)
        tampered[os.urandom(1)[0] % 64] ^= 1 << (os.urandom(1)[0] % 8)
        assert not rv.ed25519_verify(public, message, bytes(tampered))


# --- the note's key ids, against Go's golang.org/x/mod/sumdb/note known answers ---------------

PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_NOTE = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_the_go_note_example_verifies_with_the_stdlib_ed25519() -> None:
    key = rv.VerifierKey.parse(PETER_VKEY)
    text, line = PETER_NOTE.split("\n\n")
    blob = base64.b64decode(line.split(" ")[2])
    assert blob[:4] == key.key_id
    assert rv.ed25519_verify(key.public_key, (text + "\n").encode(), blob[4:])
    # not a checkpoint (two lines of prose), so opening it as one is refused after the signature
    with pytest.raises(rv.Broken, match="the checkpoint text is not origin, size, root"):
        rv.open_checkpoint(PETER_NOTE, key)


# --- the inclusion check, against the transparency-dev vectors riskops' own tests use ----------

INCLUSION = Path(__file__).parents[1] / "audit" / "vectors" / "inclusion"
INCLUSION_CASES = [
    pytest.param(case, id=f"{path.stem}/{name}")
    for path in sorted(INCLUSION.glob("*.json"))
    for name, case in json.loads(path.read_text(encoding="utf-8"))["cases"].items()
]


def _proves(case: dict[str, Any]) -> bool:
    def raw(value: str | None) -> bytes:
        return base64.b64decode(value or "")

    try:
        reached = rv.inclusion_root(
            case["leafIdx"],
            case["treeSize"],
            raw(case["leafHash"]),
            [raw(p) for p in case["proof"] or []],
        )
    except rv.Broken:
        return False
    return reached == raw(case["root"])


@pytest.mark.parametrize("case", INCLUSION_CASES)
def test_inclusion_check_matches_the_transparency_dev_vectors(case: dict[str, Any]) -> None:
    assert _proves(case) is not case["wantErr"], case["desc"]


def test_a_proof_of_the_wrong_length_is_named() -> None:
    leaves = [rv.leaf_hash(bytes([i])) for i in range(5)]
    root = rv.merkle_root(leaves)
    proof = [rv.leaf_hash(b"\x01"), rv.node_hash(leaves[2], leaves[3]), leaves[4]]
    assert rv.inclusion_root(0, 5, leaves[0], proof) == root
    with pytest.raises(rv.Broken, match="the proof is shorter than the tree needs"):
        rv.inclusion_root(0, 5, leaves[0], proof[:2])
    with pytest.raises(rv.Broken, match="the proof is longer than the tree allows"):
        rv.inclusion_root(0, 5, leaves[0], [*proof, leaves[4]])
