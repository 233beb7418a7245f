"""Signed notes and checkpoints.

Known answers come from Go's golang.org/x/mod/sumdb/note (``note.go`` package example and
``note_test.go``: TestNewVerifier, TestNewSigner, TestGenerateKey, TestFromEd25519, TestSign,
TestVerifierList, TestOpen): the PeterNeumann and EnochRoot keys, their signatures of the
Peter Neumann quote, and every malformed-note and mangled-key case there. The checkpoint text
is the example of C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint).
"""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskops.audit.note import (
    ALG_ED25519,
    SIGNING_KEY_ENV,
    Checkpoint,
    NoteError,
    OpenedNote,
    Signer,
    Verifier,
    add_signatures,
    key_id,
    load_signer,
    open_note,
    sign_note,
    write_key_file,
)
from riskops.errors import InputError

PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_B64 = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)
ENOCH_B64 = (
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ="
)
PETER_SIG = f"— PeterNeumann {PETER_B64}\n"
ENOCH_SIG = f"— EnochRoot {ENOCH_B64}\n"

PETER = Verifier.parse(PETER_VKEY)
ENOCH = Verifier.parse(ENOCH_VKEY)


def _mangled(key: str) -> list[str]:
    """note_test.go's manglings: every proper substring, and each byte plus one."""
    raw = key.encode()
    cut = [
        raw[i:j]
        for i in range(len(raw) + 1)
        for j in range(i + 1, len(raw) + 1)
        if (i, j) != (0, len(raw))
    ]
    bumped = [raw[:i] + bytes([raw[i] + 1]) + raw[i + 1 :] for i in range(len(raw))]
    return [m.decode() for m in cut + bumped]


# --- Go's known answers -------------------------------------------------------------------


def test_go_key_pair_round_trips() -> None:
    signer = Signer.parse(PETER_SKEY)
    assert signer.name == "PeterNeumann"
    assert signer.key_id == bytes.fromhex("c74f20a3")
    assert signer.text() == PETER_SKEY
    assert signer.verifier() == PETER
    assert PETER.text() == PETER_VKEY
    assert PETER.key_id == key_id("PeterNeumann", ALG_ED25519, PETER.public_key)
    assert "AYEKF" not in repr(signer)


def test_sign_reproduces_go_signature_byte_for_byte() -> None:
    assert sign_note(TEXT, [Signer.parse(PETER_SKEY)]) == TEXT + "\n" + PETER_SIG


def test_open_verifies_go_note() -> None:
    opened = open_note(TEXT + "\n" + PETER_SIG, [PETER])
    assert opened == OpenedNote(text=TEXT, verified=(PETER,), unknown=())


def test_open_one_known_one_unknown() -> None:
    opened = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [PETER])
    assert opened.verified == (PETER,)
    assert opened.unknown == (ENOCH_SIG[:-1],)


def test_open_both_known() -> None:
    opened = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [PETER, ENOCH])
    assert opened.verified == (PETER, ENOCH)
    assert opened.unknown == ()


def test_open_refuses_note_no_known_key_signed() -> None:
    with pytest.raises(NoteError, match="no verifiable signatures"):
        open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [])


@pytest.mark.parametrize("known", [[PETER], []])
def test_open_refuses_more_than_100_signatures(known: list[Verifier]) -> None:
    with pytest.raises(NoteError, match="malformed note: more than 100 signatures"):
        open_note(TEXT + "\n" + PETER_SIG * 101, known)
    assert open_note(TEXT + "\n" + PETER_SIG * 100, [PETER]).verified == (PETER,)


def test_open_refuses_invalid_signature_of_known_key() -> None:
    raw = (TEXT + "\n" + PETER_SIG).encode()
    cut = len(TEXT.encode()) + 1 + 60  # Go slices peterSig at byte 60
    with pytest.raises(NoteError, match=r"invalid signature for key PeterNeumann\+c74f20a3"):
        open_note(raw[:cut] + b"ABCD" + raw[cut:], [PETER])


def test_open_duplicated_verified_and_unverified_signatures() -> None:
    enoch = ENOCH_SIG.encode()
    enoch_abcd = enoch[:60] + b"ABCD" + enoch[60:]
    raw = (TEXT + "\n" + PETER_SIG * 2 + ENOCH_SIG * 2).encode() + enoch_abcd
    opened = open_note(raw, [PETER])
    assert opened.verified == (PETER,)
    assert opened.unknown == (ENOCH_SIG[:-1], enoch_abcd[:-1].decode())


@pytest.mark.parametrize(
    "note",
    [
        TEXT.encode(),
        (TEXT + "\n").encode(),
        (TEXT + "\n" + PETER_SIG[:-1]).encode(),
        ("\x01" + TEXT + "\n" + PETER_SIG).encode(),
        b"\xff" + (TEXT + "\n" + PETER_SIG).encode(),
        (TEXT + "\n" + "— Bad Name " + PETER_B64).encode(),
        (TEXT + "\n" + PETER_SIG + "Unexpected line.\n").encode(),
    ],
    ids=["no-sigs", "blank-only", "no-final-newline", "control", "bad-utf8", "bad-name", "extra"],
)
def test_open_refuses_go_malformed_notes(note: bytes) -> None:
    with pytest.raises(NoteError, match="malformed note"):
        open_note(note, [PETER])
    with pytest.raises(NoteError, match="malformed note"):
        open_note(note.decode("utf-8", "surrogateescape"), [PETER])


@pytest.mark.parametrize(
    "line",
    [PETER_SIG.replace("PeterNeumann", "CarmenSandiego"), PETER_SIG.replace("x08g", "xxxx")],
    ids=["other-name", "other-key-id"],
)
def test_signature_from_other_name_or_key_id_is_not_the_known_key(line: str) -> None:
    with pytest.raises(NoteError, match="no verifiable signatures"):
        open_note(TEXT + "\n" + line, [PETER])
    assert open_note(TEXT + "\n" + line + PETER_SIG, [PETER]).unknown == (line[:-1],)


def test_verifier_refuses_every_go_mangling() -> None:
    accepted = []
    for vkey in _mangled(PETER_VKEY):
        try:
            Verifier.parse(vkey)
        except NoteError:
            continue
        accepted.append(vkey)
    assert accepted == []


@pytest.mark.parametrize(
    ("vkey", "message"),
    [
        (
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
            "not canonical base64",  # Go's vector; its last character carries stray bits
        ),
        ("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "not Ed25519"),
        ("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "lower-case hex"),
        ("Peter\u00a0Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "space"),
    ],
    ids=["wrong-length", "unknown-algorithm", "upper-case-id", "no-break-space"],
)
def test_verifier_refuses_go_bad_keys(vkey: str, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        Verifier.parse(vkey)


def test_verifier_refuses_wrong_length_key_with_matching_id() -> None:
    longer = PETER.public_key + b"\x00"
    encoded = base64.b64encode(bytes([ALG_ED25519]) + longer).decode()
    vkey = f"PeterNeumann+{key_id('PeterNeumann', ALG_ED25519, longer).hex()}+{encoded}"
    with pytest.raises(NoteError, match="does not hold a 32-byte Ed25519 key"):
        Verifier.parse(vkey)


def test_signer_refuses_every_go_mangling() -> None:
    accepted, leaked = [], []
    for skey in _mangled(PETER_SKEY):
        try:
            Signer.parse(skey)
        except NoteError as error:
            if "AYEKF" in str(error):  # the secret never reaches a message
                leaked.append(str(error))
            continue
        accepted.append(skey)
    assert accepted == []
    assert leaked == []


def test_generated_key_signs_and_verifies() -> None:
    signer = Signer.parse(Signer.generate("EnochRoot").text())
    verifier = Verifier.parse(signer.verifier().text())
    assert (signer.name, signer.key_id) == (verifier.name, verifier.key_id)
    signature = bytearray(signer.sign(b"hi"))
    assert len(signature) == 64
    assert verifier.verify(b"hi", bytes(signature))
    assert not verifier.verify(b"ii", bytes(signature))
    signature[0] ^= 1
    assert not verifier.verify(b"hi", bytes(signature))
    assert not verifier.verify(b"hi", bytes(signature[:63]))


def test_verifier_refuses_wrong_size_or_mismatched_key_id() -> None:
    with pytest.raises(NoteError, match="32 bytes, not 31"):
        Verifier("EnochRoot", bytes(4), bytes(31))
    with pytest.raises(NoteError, match="key id 00000000 is not that of key 'EnochRoot'"):
        Verifier("EnochRoot", bytes(4), PETER.public_key)


def test_add_signatures_replaces_a_key_own_old_line() -> None:
    signer = Signer.parse(PETER_SKEY)
    stale = "— PeterNeumann " + base64.b64encode(signer.key_id + bytes(64)).decode() + "\n"
    assert add_signatures(TEXT + "\n" + stale, [signer]) == TEXT + "\n" + PETER_SIG


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "must end with a newline"),
        ("", "must end with a newline"),
        ("a\x01b\n", "control character"),
        ("a\rb\n", "control character"),
        ("a\udc80\n", "not valid UTF-8"),
    ],
)
def test_sign_refuses_bad_text(text: str, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        sign_note(text, [Signer.parse(PETER_SKEY)])


@pytest.mark.parametrize("name", ["bad name", "a+b", "", "tab\there", "nul\x00"])
def test_signer_refuses_bad_name(name: str) -> None:
    with pytest.raises(NoteError, match="key name"):
        Signer(name, bytes(32))


@pytest.mark.parametrize(
    "line", ["— a+b ABCD\n", "— PeterNeumann BADHASH=\n", "— PeterNeumann QUJDRA==\n"]
)
def test_add_signatures_refuses_malformed_existing_lines(line: str) -> None:
    with pytest.raises(NoteError, match="malformed note"):
        add_signatures(TEXT + "\n" + line, [Signer.parse(PETER_SKEY)])


def test_sign_refuses_no_signer_and_too_many_lines() -> None:
    with pytest.raises(NoteError, match="at least one signer"):
        sign_note(TEXT, [])
    full = TEXT + "\n" + ENOCH_SIG * 100
    with pytest.raises(NoteError, match="at most 100 signatures"):
        add_signatures(full, [Signer.parse(PETER_SKEY)])


# Two keys with one name and one key id (a 32-bit collision found by search).
CLASH_SEEDS = (
    "4f6d0df04459e18181d0f4f0a1015c712e3d4a3ed5b3d763bf1cc3cb60c66c63",
    "5a6b83c29874a80cc39b3503892c70eb3f1f3c7f76e093b32d97e0958b8ae1e0",
)


def test_colliding_known_keys_are_refused_when_used() -> None:
    one, two = (Signer("clash.example/log", bytes.fromhex(seed)) for seed in CLASH_SEEDS)
    assert one.key_id == two.key_id == bytes.fromhex("a2f067cb")
    assert one.verifier() != two.verifier()
    note = sign_note(TEXT, [one])
    with pytest.raises(NoteError, match=r"two known keys are both clash.example/log\+a2f067cb"):
        open_note(note, [one.verifier(), two.verifier()])
    with pytest.raises(NoteError, match=r"two signers are both clash.example/log\+a2f067cb"):
        sign_note(TEXT, [one, two])
    # Unused, the clash is harmless; the same key given twice is no clash.
    assert open_note(TEXT + "\n" + PETER_SIG, [one.verifier(), two.verifier(), PETER])
    assert open_note(note, [one.verifier(), one.verifier()]).verified == (one.verifier(),)


def test_c2sp_signed_note_example_parses_and_its_unknown_key_is_ignored() -> None:
    note = (
        "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n"
        "\n— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJK"
        "ONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n"
    )
    with pytest.raises(NoteError, match="no verifiable signatures"):
        open_note(note, [PETER])
    cosigned = add_signatures(note, [Signer.parse(PETER_SKEY)])
    opened = open_note(cosigned, [PETER])
    assert opened.text.endswith("\ned è subito sera.\n")
    assert opened.unknown == (note.splitlines()[-1],)


# --- rotation ---------------------------------------------------------------------------


def test_rotation_note_signed_by_old_and_new_opens_with_either() -> None:
    old, new = Signer.generate("example.com/audit"), Signer.generate("example.com/audit")
    body = Checkpoint("example.com/audit", 7, bytes(range(32))).body()
    note = add_signatures(sign_note(body, [old]), [new])
    assert open_note(note, [old.verifier()]).verified == (old.verifier(),)
    assert open_note(note, [new.verifier()]).verified == (new.verifier(),)
    both = open_note(note, [new.verifier(), old.verifier()])
    assert both.verified == (old.verifier(), new.verifier())
    assert Checkpoint.parse(both.text).size == 7


def test_rotation_corrupt_known_signature_fails_even_if_another_verifies() -> None:
    old, new = Signer.generate("example.com/audit"), Signer.generate("example.com/audit")
    note = sign_note(TEXT, [old, new])
    lines = note.split("\n")
    blob = bytearray(base64.b64decode(lines[-2].split(" ")[2]))
    blob[10] ^= 0xFF
    lines[-2] = f"— example.com/audit {base64.b64encode(bytes(blob)).decode()}"
    corrupted = "\n".join(lines)
    assert open_note(corrupted, [old.verifier()]).verified == (old.verifier(),)
    with pytest.raises(NoteError, match=r"invalid signature for key example.com/audit\+"):
        open_note(corrupted, [old.verifier(), new.verifier()])
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(corrupted, [new.verifier()])


def test_unknown_keys_and_witness_lines_are_ignored() -> None:
    log, witness = Signer.generate("example.com/audit"), Signer.generate("witness.example")
    note = add_signatures(sign_note(TEXT, [log]), [witness])
    opened = open_note(note, [log.verifier(), PETER])
    assert opened.verified == (log.verifier(),)
    assert opened.unknown == (note.splitlines()[-1],)


# --- checkpoints ------------------------------------------------------------------------

C2SP_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)


def test_c2sp_checkpoint_example_parses() -> None:
    checkpoint = Checkpoint.parse(C2SP_CHECKPOINT)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert checkpoint.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert checkpoint.body() == C2SP_CHECKPOINT


ROOT = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"log\n01\n{ROOT}\n", "without leading zeros"),
        (f"log\n+1\n{ROOT}\n", "without leading zeros"),
        (f"log\n 1\n{ROOT}\n", "without leading zeros"),
        (f"log\n1_0\n{ROOT}\n", "without leading zeros"),
        (f"log\n\u0661\n{ROOT}\n", "without leading zeros"),
        (f"log\n\n{ROOT}\n", "without leading zeros"),
        (f"log\n9223372036854775808\n{ROOT}\n", "without leading zeros"),
        (f"log\n1\n{ROOT}", "ends with a newline"),
        (f"log\n1\n{ROOT}\nextension\n", "extension lines are not accepted"),
        ("log\n1\n", "three lines"),
        (f"\n1\n{ROOT}\n", "origin must not be empty"),
        (f"lo\x01g\n1\n{ROOT}\n", "control character"),
        ("log\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n", "not base64"),
        ("log\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n", "not canonical"),
        ("log\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jx\n", "32-byte hash, not 30"),
    ],
)
def test_checkpoint_parse_is_strict(text: str, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        Checkpoint.parse(text)


@pytest.mark.parametrize("size", [-1, 2**63, True])
def test_checkpoint_refuses_bad_size(size: int) -> None:
    with pytest.raises(NoteError, match="a tree size is an integer"):
        Checkpoint("log", size, bytes(32))


origins = st.text(
    st.characters(blacklist_categories=("Cs",), min_codepoint=0x20), min_size=1, max_size=40
)


@given(origin=origins, size=st.integers(0, 2**63 - 1), root=st.binary(min_size=32, max_size=32))
def test_checkpoint_round_trips(origin: str, size: int, root: bytes) -> None:
    checkpoint = Checkpoint(origin, size, root)
    assert Checkpoint.parse(checkpoint.body()) == checkpoint


SIGNER = Signer.parse(PETER_SKEY)
SIGNED = sign_note(C2SP_CHECKPOINT, [SIGNER]).encode()


@settings(max_examples=300)
@given(index=st.integers(0, len(SIGNED) - 1), mask=st.integers(1, 255))
def test_any_flipped_byte_is_detected(index: int, mask: int) -> None:
    tampered = bytearray(SIGNED)
    tampered[index] ^= mask
    with pytest.raises(NoteError):
        open_note(bytes(tampered), [SIGNER.verifier()])


def test_every_single_byte_flip_is_detected() -> None:
    for index in range(len(SIGNED)):
        tampered = bytearray(SIGNED)
        tampered[index] ^= 0x01
        with pytest.raises(NoteError):
            open_note(bytes(tampered), [SIGNER.verifier()])


# --- key files --------------------------------------------------------------------------


def test_write_key_file_is_0600_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "audit.key"
    signer = write_key_file(path, "example.com/audit")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == signer.text() + "\n"
    loaded = load_signer(key_file=path, environ={})
    assert loaded is not None
    assert loaded.verifier() == signer.verifier()


def test_write_key_file_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "audit.key"
    first = write_key_file(path, "example.com/audit")
    with pytest.raises(InputError, match="already exists; it is not overwritten") as caught:
        write_key_file(path, "example.com/audit")
    assert caught.value.hint is not None
    assert "mv" in caught.value.hint
    assert path.read_text() == first.text() + "\n"


def test_write_key_file_refuses_bad_name_and_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="Cannot make a signing key named 'a b'"):
        write_key_file(tmp_path / "k", "a b")
    with pytest.raises(InputError, match="Cannot create the signing key file") as caught:
        write_key_file(tmp_path / "missing" / "k", "log")
    assert caught.value.hint == f"check that {tmp_path / 'missing'} exists and is writable"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o700, 0o666])
def test_load_refuses_loose_mode_with_chmod_hint(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "audit.key"
    write_key_file(path, "example.com/audit")
    path.chmod(mode)
    with pytest.raises(InputError, match=f"has mode {mode:04o}") as caught:
        load_signer(key_file=path, environ={})
    assert caught.value.hint == f"chmod 600 {path}"
    path.chmod(0o400)
    assert load_signer(key_file=path, environ={}) is not None


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file away needs root")
def test_load_refuses_file_of_another_user(tmp_path: Path) -> None:
    path = tmp_path / "audit.key"
    write_key_file(path, "example.com/audit")
    os.chown(path, 65534, -1)
    with pytest.raises(InputError, match="belongs to user id 65534") as caught:
        load_signer(key_file=path, environ={})
    assert caught.value.hint == f"chown $(id -u) {path} && chmod 600 {path}"


def test_load_environment_wins_over_key_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.key"
    write_key_file(path, "example.com/audit")
    path.chmod(0o644)  # not even read: the variable wins
    loaded = load_signer(key_file=path, environ={SIGNING_KEY_ENV: PETER_SKEY + "\n"})
    assert loaded is not None
    assert loaded.verifier() == PETER


def test_load_without_key_is_none() -> None:
    assert load_signer(key_file=None, environ={"OTHER": "x"}) is None


@pytest.mark.parametrize("value", ["", PETER_VKEY, PETER_SKEY[:-1]])
def test_load_refuses_bad_environment_value_without_echoing_it(value: str) -> None:
    with pytest.raises(InputError, match=f"{SIGNING_KEY_ENV} does not hold a signing key") as e:
        load_signer(key_file=None, environ={SIGNING_KEY_ENV: value})
    assert "AYEKF" not in str(e.value)
    assert e.value.hint is not None


def test_load_refuses_missing_and_garbled_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_signer(key_file=tmp_path / "nope", environ={})
    garbled = tmp_path / "garbled.key"
    fd = os.open(garbled, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, b"\xffPRIVATE+KEY+x\n")
    os.close(fd)
    with pytest.raises(InputError, match="does not hold a signing key"):
        load_signer(key_file=garbled, environ={})
    with pytest.raises(InputError, match="is not a regular file"):
        load_signer(key_file=tmp_path, environ={})


def test_a_known_key_second_bad_line_is_checked_too() -> None:
    # Go skips a known key's repeated line unchecked; the spec says verify it.
    stale = "— PeterNeumann " + base64.b64encode(PETER.key_id + bytes(64)).decode() + "\n"
    with pytest.raises(NoteError, match=r"invalid signature for key PeterNeumann\+c74f20a3"):
        open_note(TEXT + "\n" + PETER_SIG + stale, [PETER])
