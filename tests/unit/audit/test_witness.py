"""The witness over real HTTP: a server in a thread on a free port, the witness anchor as its
client, and raw requests for every refusal of the C2SP tlog-witness protocol."""

from __future__ import annotations

import base64
import hashlib
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from riskops.audit.anchors import AnchorError, Publication, WitnessAnchor
from riskops.audit.cosignature import Cosigner
from riskops.audit.merkle import ListSource, consistency_proof, leaf_hash, root
from riskops.audit.note import Checkpoint, Signer, sign_note
from riskops.audit.witness import Witness, WitnessState, load_witness, make_server
from riskops.errors import InputError

ORIGIN = "riskops.test/audit"
NOW = 1_790_000_000


@dataclass
class Log:
    """A log's leaves and signing key, publishing checkpoints of any prefix."""

    signer: Signer
    leaves: list[bytes]

    def publication(self, size: int) -> Publication:
        tree = self.leaves[:size]
        note = sign_note(Checkpoint(ORIGIN, size, root(tree)).body(), [self.signer])
        return Publication(
            origin=ORIGIN,
            size=size,
            note=note,
            first=0,
            entries=b"",
            consistency=lambda old: consistency_proof(old, size, ListSource(tree)),
        )


def _leaves(count: int, tag: bytes = b"event") -> list[bytes]:
    return [leaf_hash(tag + str(i).encode()) for i in range(count)]


@pytest.fixture
def log() -> Log:
    return Log(Signer.generate(ORIGIN), _leaves(40))


@dataclass
class Running:
    url: str
    witness: Witness
    cosigner: Cosigner


@pytest.fixture
def running(log: Log, tmp_path: Path) -> Iterator[Running]:
    cosigner = Cosigner.generate("witness.test/w1")
    witness = Witness(
        cosigner,
        {ORIGIN: [log.signer.verifier()]},
        WitnessState(tmp_path / "witness.sqlite"),
        clock=lambda: NOW,
    )
    server = make_server(witness, "127.0.0.1", 0)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield Running(f"http://127.0.0.1:{server.server_address[1]}", witness, cosigner)
    server.shutdown()
    server.server_close()
    thread.join()


def _anchor(running: Running) -> WitnessAnchor:
    return WitnessAnchor(running.url, running.cosigner.verifier, timeout=5)


def _post(url: str, old: int, proof: list[bytes], note: str) -> tuple[int, str, str]:
    body = f"old {old}\n" + "".join(base64.b64encode(h).decode() + "\n" for h in proof)
    request = urllib.request.Request(  # noqa: S310 - the witness under test, on http://127.0.0.1
        url + "/add-checkpoint", data=(body + "\n" + note).encode(), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - local http
            return answer.status, answer.headers["Content-Type"], answer.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers["Content-Type"], exc.read().decode()


def _body(publication: Publication) -> str:
    return publication.note.split("\n\n", 1)[0] + "\n"


def test_cosigns_a_first_then_a_consistent_later_checkpoint(
    running: Running, log: Log, tmp_path: Path
) -> None:
    anchor = _anchor(running)
    first = log.publication(3)
    line = anchor.publish(first)
    assert line.startswith("— witness.test/w1 ")
    assert line.endswith("\n")
    assert line.count("\n") == 1
    assert running.cosigner.verifier.verify(line, _body(first)) == NOW
    assert running.witness.state.latest(ORIGIN) == (3, root(log.leaves[:3]))

    later = log.publication(21)
    line = anchor.publish(later)
    assert running.cosigner.verifier.verify(line, _body(later)) == NOW
    assert running.witness.state.latest(ORIGIN) == (21, root(log.leaves[:21]))
    # The cosignature does not verify over another checkpoint body.
    with pytest.raises(ValueError, match="does not verify"):
        running.cosigner.verifier.verify(line, _body(first))

    # The state survives a restart of the witness.
    assert WitnessState(tmp_path / "witness.sqlite").latest(ORIGIN) == (21, root(log.leaves[:21]))


def test_refuses_an_inconsistent_checkpoint_with_422(running: Running, log: Log) -> None:
    anchor = _anchor(running)
    anchor.publish(log.publication(8))
    # A rewritten history: leaf 2 replaced, then grown to 13 leaves.
    forged = Log(log.signer, [*log.leaves[:2], leaf_hash(b"forged"), *log.leaves[3:]])
    with pytest.raises(AnchorError, match="refused checkpoint 13 from old size 8 with HTTP 422"):
        anchor.publish(forged.publication(13))
    assert running.witness.state.latest(ORIGIN) == (8, root(log.leaves[:8]))
    # The raw answer names why.
    status, _, text = _post(
        running.url, 8, forged.publication(13).consistency(8), forged.publication(13).note
    )
    assert status == 422
    assert text.startswith("the consistency proof does not verify: consistency proof 8 -> 13")
    # A proof of the right length with one hash flipped is refused too.
    proof = log.publication(13).consistency(8)
    proof[-1] = hashlib.sha256(proof[-1]).digest()
    assert _post(running.url, 8, proof, log.publication(13).note)[0] == 422
    assert running.witness.state.latest(ORIGIN) == (8, root(log.leaves[:8]))


def test_a_first_checkpoint_comes_without_a_proof(running: Running, log: Log) -> None:
    proof = log.publication(8).consistency(4)
    status, _, text = _post(running.url, 0, proof, log.publication(8).note)
    assert status == 422
    assert "consistency proof from the empty tree has 1 hashes" in text
    assert running.witness.state.latest(ORIGIN) is None


def test_refuses_a_wrong_old_size_with_409_and_its_own_size(running: Running, log: Log) -> None:
    _anchor(running).publish(log.publication(8))
    status, content_type, text = _post(
        running.url, 5, log.publication(12).consistency(5), log.publication(12).note
    )
    assert (status, content_type, text) == (409, "text/x.tlog.size", "8\n")
    status, content_type, text = _post(running.url, 0, [], log.publication(12).note)
    assert (status, text) == (409, "8\n")
    # A client that does not know the witness's size (a fresh anchor) retries from the size
    # the 409 names, once, and gets its cosignature.
    line = _anchor(running).publish(log.publication(12))
    assert running.cosigner.verifier.verify(line, _body(log.publication(12))) == NOW
    assert running.witness.state.latest(ORIGIN) == (12, root(log.leaves[:12]))


def test_a_witness_ahead_of_the_log_is_reported_as_a_cut_back(running: Running, log: Log) -> None:
    _anchor(running).publish(log.publication(12))
    with pytest.raises(AnchorError, match=r"cosigned size 12 .* larger than this checkpoint's 7"):
        _anchor(running).publish(log.publication(7))


def test_the_same_size_with_another_root_is_a_fork(running: Running, log: Log) -> None:
    anchor = _anchor(running)
    anchor.publish(log.publication(6))
    assert anchor.publish(log.publication(6))  # the same checkpoint again: cosigned again
    forged = Log(log.signer, _leaves(6, b"other"))
    with pytest.raises(AnchorError, match="HTTP 409: size 6 was cosigned with another root"):
        anchor.publish(forged.publication(6))


def test_refuses_a_checkpoint_signed_by_an_unknown_key(running: Running, log: Log) -> None:
    impostor = Log(Signer.generate(ORIGIN), log.leaves)
    with pytest.raises(AnchorError, match="with HTTP 403: the checkpoint is not signed") as caught:
        _anchor(running).publish(impostor.publication(3))
    assert "pin its verifier key" in (caught.value.hint or "")
    assert running.witness.state.latest(ORIGIN) is None


def test_refuses_an_unknown_origin_with_404(running: Running) -> None:
    stranger = Signer.generate("elsewhere.test/log")
    note = sign_note(Checkpoint("elsewhere.test/log", 1, leaf_hash(b"x")).body(), [stranger])
    status, _, text = _post(running.url, 0, [], note)
    assert (status, text) == (404, "unknown log origin 'elsewhere.test/log'\n")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"new 0\n\nx\n", "the first line must be 'old <size>'"),
        (b"old 01\n\nx\n", "the first line must be 'old <size>'"),
        (b"old 0\nnot-base64\n\nx\n", "proof line 'not-base64' is not a base64 SHA-256 hash"),
        (b"old 0\n", "no blank line before the checkpoint"),
        (b"\xff\xfe", "the request body is not UTF-8"),
    ],
)
def test_malformed_requests_get_400(running: Running, body: bytes, message: str) -> None:
    answer = running.witness.add_checkpoint(body)
    assert answer.status == 400
    assert answer.body.startswith(message)


def test_old_above_the_checkpoint_size_gets_400(running: Running, log: Log) -> None:
    status, _, text = _post(running.url, 9, [], log.publication(4).note)
    assert (status, text) == (400, "old size 9 is above the checkpoint size 4\n")


def test_only_add_checkpoint_is_served(running: Running) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(running.url + "/", timeout=5)  # noqa: S310 - local http
    with caught.value:
        assert caught.value.code == 405


def test_load_witness_refusals(tmp_path: Path, log: Log) -> None:
    key = tmp_path / "witness.key"
    Cosigner.generate("witness.test/w1").write(key)
    vkey = log.signer.verifier().text()
    with pytest.raises(InputError, match="at least one log"):
        load_witness(tmp_path / "s.sqlite", key, [])
    with pytest.raises(InputError, match="--log 'nothing' is not ORIGIN=VKEY"):
        load_witness(tmp_path / "s.sqlite", key, ["nothing"])
    with pytest.raises(InputError, match=rf"--log {ORIGIN}=\.\.\.: verifier key"):
        load_witness(tmp_path / "s.sqlite", key, [f"{ORIGIN}={vkey[:-4]}"])
    with pytest.raises(InputError, match="Cannot read the witness key"):
        load_witness(tmp_path / "s.sqlite", tmp_path / "missing.key", [f"{ORIGIN}={vkey}"])
    key.chmod(0o644)
    with pytest.raises(InputError, match="is readable by others") as caught:
        load_witness(tmp_path / "s.sqlite", key, [f"{ORIGIN}={vkey}"])
    assert caught.value.hint == f"chmod 600 {key}"
    key.chmod(0o600)
    with pytest.raises(InputError, match="Cannot open the witness state"):
        load_witness(tmp_path / "no" / "such" / "s.sqlite", key, [f"{ORIGIN}={vkey}"])
    witness = load_witness(tmp_path / "s.sqlite", key, [f"{ORIGIN}={vkey}"])
    assert witness.logs == {ORIGIN: (log.signer.verifier(),)}


def test_concurrent_requests_from_one_old_size_cosign_only_one(running: Running, log: Log) -> None:
    _anchor(running).publish(log.publication(4))
    sizes = [9, 17, 25, 33]
    start = threading.Barrier(len(sizes))
    statuses: dict[int, int] = {}

    def submit(size: int) -> None:
        pub = log.publication(size)
        start.wait()
        statuses[size] = _post(running.url, 4, pub.consistency(4), pub.note)[0]

    threads = [threading.Thread(target=submit, args=(size,)) for size in sizes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [winner] = [size for size, status in statuses.items() if status == 200]
    assert sorted(statuses.values()) == [200, 409, 409, 409]
    assert running.witness.state.latest(ORIGIN) == (winner, root(log.leaves[:winner]))
