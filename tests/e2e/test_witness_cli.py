"""``riskops witness`` as an operator runs it: make a key, serve in its own process on a free
port, and cosign a log's checkpoints through the witness anchor; and its refusals."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from riskops.audit.anchors import AnchorError, Publication, WitnessAnchor
from riskops.audit.cosignature import CosignatureVerifier
from riskops.audit.merkle import ListSource, consistency_proof, leaf_hash, root
from riskops.audit.note import Checkpoint, Signer, sign_note

RISKOPS = str(Path(sys.executable).parent / "riskops")
ORIGIN = "riskops.test/audit"

pytestmark = pytest.mark.slow


def run(*args: str, check: int | None = 0) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKOPS_")}
    done = subprocess.run(
        [RISKOPS, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if check is not None:
        assert done.returncode == check, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def publication(signer: Signer, leaves: list[bytes], size: int) -> Publication:
    tree = leaves[:size]
    note = sign_note(Checkpoint(ORIGIN, size, root(tree)).body(), [signer])
    return Publication(
        origin=ORIGIN,
        size=size,
        note=note,
        first=0,
        entries=b"",
        consistency=lambda old: consistency_proof(old, size, ListSource(tree)),
    )


@pytest.fixture
def key(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "witness.key"
    done = run("witness", "keygen", "witness.test/w1", "--out", str(path))
    vkey = done.stdout.strip().splitlines()[-1]
    assert vkey.startswith("witness.test/w1+")
    assert path.stat().st_mode & 0o777 == 0o600
    return path, vkey


@pytest.fixture
def signer() -> Signer:
    return Signer.generate(ORIGIN)


@pytest.fixture
def served(tmp_path: Path, key: tuple[Path, str], signer: Signer) -> Iterator[str]:
    port = _free_port()
    command = [
        RISKOPS,
        "witness",
        "serve",
        "--state",
        str(tmp_path / "witness.sqlite"),
        "--key",
        str(key[0]),
        "--log",
        f"{ORIGIN}={signer.verifier().text()}",
        "--port",
        str(port),
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"witness did not start: {process.communicate()[1]}")
            time.sleep(0.1)
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def test_the_served_witness_cosigns_consistent_checkpoints(
    served: str, key: tuple[Path, str], signer: Signer
) -> None:
    leaves = [leaf_hash(str(i).encode()) for i in range(30)]
    verifier = CosignatureVerifier.parse(key[1])
    anchor = WitnessAnchor(served, verifier, timeout=10)
    for size in (2, 17, 30):
        pub = publication(signer, leaves, size)
        line = anchor.publish(pub)
        assert verifier.verify(line, pub.note.split("\n\n")[0] + "\n") is not None
    rewritten = [*leaves[:5], leaf_hash(b"rewritten"), *leaves[6:]]
    with pytest.raises(AnchorError, match="HTTP 422"):
        WitnessAnchor(served, verifier).publish(publication(signer, rewritten + leaves, 40))


def test_keygen_never_overwrites_a_key(key: tuple[Path, str]) -> None:
    before = key[0].read_text()
    done = run("witness", "keygen", "witness.test/w1", "--out", str(key[0]), check=2)
    assert "already exists; a witness key is never overwritten" in done.stderr
    assert key[0].read_text() == before


def test_serve_refusals(tmp_path: Path, key: tuple[Path, str], signer: Signer) -> None:
    state = str(tmp_path / "w.sqlite")
    done = run("witness", "serve", "--state", state, "--key", str(key[0]), "--log", "x", check=2)
    assert "--log 'x' is not ORIGIN=VKEY" in done.stderr
    assert "Hint: Write it as --log" in done.stderr
    log = f"{ORIGIN}={signer.verifier().text()}"
    key[0].chmod(0o640)
    done = run("witness", "serve", "--state", state, "--key", str(key[0]), "--log", log, check=2)
    assert "is readable by others" in done.stderr
    assert f"chmod 600 {key[0]}" in done.stderr
