"""A small transparency-log witness (C2SP tlog-witness): it cosigns a log's checkpoint only when
the checkpoint is signed by the log's pinned key and extends, by a valid RFC 6962 consistency
proof, the last checkpoint it cosigned for that origin.

Run it on a host the database administrators do not control (``riskops witness serve``); point
a ``type = "witness"`` anchor at it. Its one endpoint, ``POST /add-checkpoint``, takes::

    old <size the client believes the witness last cosigned>\\n
    <consistency proof from that size, one base64 hash per line>\\n ...
    \\n
    <the signed checkpoint note>

and answers, in this order of checks (https://c2sp.org/tlog-witness):

=====  =================================================================================
400    a malformed request or checkpoint, or ``old`` above the checkpoint's size
404    an origin it was not started with (``--log ORIGIN=VKEY``)
403    no signature by the origin's pinned key verifies (or one by that key fails)
409    ``old`` is not its last cosigned size: the body is that size (``text/x.tlog.size``);
       or the same size with another root (a fork)
422    the consistency proof does not verify
200    one ``cosignature/v1`` line (:mod:`riskops.audit.cosignature`)
=====  =================================================================================

Its state, per origin the last cosigned size and root, lives in its own SQLite file; checking
``old`` and recording the new size happen in one ``BEGIN IMMEDIATE`` transaction, so two
concurrent requests can never roll the recorded size back.

Example::

    witness = Witness(Cosigner.parse(key_text), {origin: [Verifier.parse(vkey)]},
                      WitnessState(Path("witness.sqlite")))
    server = make_server(witness, "127.0.0.1", 7380)
    server.serve_forever()
"""

from __future__ import annotations

import base64
import binascii
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from riskops.audit.cosignature import Cosigner
from riskops.audit.merkle import EMPTY_ROOT, ProofError, verify_consistency
from riskops.audit.note import Checkpoint, NoteError, Verifier, open_note
from riskops.errors import InputError

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024  # 63 proof lines and a note with many signatures fit many times over
MAX_PROOF_LINES = 63
SIZE_CONTENT_TYPE = "text/x.tlog.size"
_TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class WitnessAnswer:
    """An HTTP answer of the witness: status, body text and its content type."""

    status: int
    body: str
    content_type: str = _TEXT


class WitnessState:
    """Per origin, the size and root of the last checkpoint cosigned, in a SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            with self._connect() as db:
                db.execute(
                    "CREATE TABLE IF NOT EXISTS cosigned ("
                    " origin TEXT PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL,"
                    " cosigned_at INTEGER NOT NULL)"
                )
        except sqlite3.Error as exc:
            raise InputError(
                f"Cannot open the witness state {path}: {exc}.",
                hint="Give a writable path for --state (it is created if missing).",
            ) from None

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, isolation_level=None, timeout=30)) as db:
            db.execute("PRAGMA synchronous = FULL")
            yield db

    def latest(self, origin: str) -> tuple[int, bytes] | None:
        """The last cosigned (size, root) of ``origin``, or None if it never cosigned one."""
        with self._connect() as db:
            row = db.execute(
                "SELECT size, root FROM cosigned WHERE origin = ?", (origin,)
            ).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    @contextmanager
    def update(self, origin: str) -> Iterator[tuple[tuple[int, bytes] | None, _Recorder]]:
        """Read ``origin``'s last (size, root) and record a new one atomically: the check and
        the write happen in one write transaction, committed when the block ends without an
        exception."""
        with self._lock, self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(
                    "SELECT size, root FROM cosigned WHERE origin = ?", (origin,)
                ).fetchone()
                current = None if row is None else (int(row[0]), bytes(row[1]))
                recorder = _Recorder(db, origin)
                yield current, recorder
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")


class _Recorder:
    def __init__(self, db: sqlite3.Connection, origin: str) -> None:
        self._db = db
        self._origin = origin

    def __call__(self, size: int, root: bytes, at: int) -> None:
        self._db.execute(
            "INSERT INTO cosigned (origin, size, root, cosigned_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, "
            "cosigned_at = excluded.cosigned_at",
            (self._origin, size, root, at),
        )


class _Refused(Exception):
    def __init__(self, answer: WitnessAnswer) -> None:
        super().__init__(answer.body)
        self.answer = answer


def _refuse(status: int, message: str) -> _Refused:
    return _Refused(WitnessAnswer(status, message.rstrip("\n") + "\n"))


class Witness:
    """Checks and cosigns checkpoints of the logs it knows (origin → pinned verifier keys)."""

    def __init__(
        self,
        cosigner: Cosigner,
        logs: Mapping[str, Sequence[Verifier]],
        state: WitnessState,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cosigner = cosigner
        self.logs = {origin: tuple(keys) for origin, keys in logs.items()}
        self.state = state
        self.clock = clock

    def add_checkpoint(self, body: bytes) -> WitnessAnswer:
        """Answer one ``add-checkpoint`` request body."""
        try:
            return self._add(body)
        except _Refused as refused:
            return refused.answer

    def _add(self, body: bytes) -> WitnessAnswer:
        old, proof, note = _parse_request(body)
        origin = note.split("\n", 1)[0]
        verifiers = self.logs.get(origin)
        if verifiers is None:
            raise _refuse(404, f"unknown log origin {origin!r}")
        try:
            opened = open_note(note, verifiers)
        except NoteError as exc:
            raise _refuse(
                403, f"the checkpoint is not signed by a key pinned for {origin}: {exc}"
            ) from None
        try:
            checkpoint = Checkpoint.parse(opened.text)
        except NoteError as exc:
            raise _refuse(400, f"malformed checkpoint: {exc}") from None
        if old > checkpoint.size:
            raise _refuse(400, f"old size {old} is above the checkpoint size {checkpoint.size}")
        with self.state.update(origin) as (current, record):
            last_size, last_root = current if current is not None else (0, EMPTY_ROOT)
            if old != last_size:
                raise _Refused(WitnessAnswer(409, f"{last_size}\n", SIZE_CONTENT_TYPE))
            same_size = current is not None and checkpoint.size == last_size
            if same_size and checkpoint.root != last_root:
                raise _refuse(
                    409, f"size {last_size} was cosigned with another root: the log forked"
                )
            try:
                verify_consistency(old, checkpoint.size, last_root, checkpoint.root, proof)
            except ProofError as exc:
                log.warning("refused %s %d -> %d: %s", origin, old, checkpoint.size, exc)
                raise _refuse(422, f"the consistency proof does not verify: {exc}") from None
            now = int(self.clock())
            record(checkpoint.size, checkpoint.root, now)
        log.info("cosigned %s at size %d", origin, checkpoint.size)
        return WitnessAnswer(200, self.cosigner.cosign(opened.text, timestamp=now))


def _parse_request(body: bytes) -> tuple[int, list[bytes], str]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse(400, "the request body is not UTF-8") from None
    head, separator, note = text.partition("\n\n")
    if not separator:
        raise _refuse(400, "no blank line before the checkpoint")
    lines = head.split("\n")
    first = lines[0]
    number = first.removeprefix("old ")
    if first == number or not number.isdigit() or (number != "0" and number.startswith("0")):
        raise _refuse(400, f"the first line must be 'old <size>', got {first[:40]!r}")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise _refuse(400, f"{len(lines) - 1} proof lines; at most {MAX_PROOF_LINES}")
    proof: list[bytes] = []
    for line in lines[1:]:
        try:
            value = base64.b64decode(line, validate=True)
        except binascii.Error:
            value = b""
        if len(value) != 32:
            raise _refuse(400, f"proof line {line[:50]!r} is not a base64 SHA-256 hash")
        proof.append(value)
    return int(number), proof, note


class _Handler(BaseHTTPRequestHandler):
    server: _WitnessServer
    protocol_version = "HTTP/1.1"  # keep-alive, as the protocol asks clients to use
    server_version = "riskops-witness"

    def do_POST(self) -> None:
        if self.path.rstrip("/") != "/add-checkpoint":
            self._answer(WitnessAnswer(404, "only POST /add-checkpoint is served\n"))
            return
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._answer(WitnessAnswer(411, "Content-Length is required\n"))
            return
        if int(length) > MAX_BODY_BYTES:
            self.close_connection = True
            self._answer(WitnessAnswer(413, f"the body is over {MAX_BODY_BYTES} bytes\n"))
            return
        body = self.rfile.read(int(length))
        self._answer(self.server.witness.add_checkpoint(body))

    def do_GET(self) -> None:
        self._answer(WitnessAnswer(405, "only POST /add-checkpoint is served\n"))

    def _answer(self, answer: WitnessAnswer) -> None:
        data = answer.body.encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        log.info("%s %s", self.address_string(), format % args)


class _WitnessServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], witness: Witness) -> None:
        self.witness = witness
        super().__init__(address, _Handler)


def make_server(witness: Witness, host: str, port: int) -> ThreadingHTTPServer:
    """An HTTP server for ``witness`` bound to ``host:port`` (port 0 picks a free one); call
    ``serve_forever()`` on it, and ``shutdown()`` from another thread to stop it."""
    try:
        return _WitnessServer((host, port), witness)
    except OSError as exc:
        raise InputError(
            f"Cannot listen on {host}:{port}: {exc.strerror}.",
            hint="Pick another --port, or stop what is listening there.",
        ) from None


def parse_log(option: str) -> tuple[str, Verifier]:
    """Read one ``--log ORIGIN=VKEY`` option: the origin and its pinned verifier key."""
    origin, separator, vkey = option.partition("=")
    hint = "Write it as --log example.com/riskops/audit=example.com/riskops/audit+1a2b3c4d+AR..."
    if not separator or not origin or not vkey:
        raise InputError(f"--log {option!r} is not ORIGIN=VKEY.", hint=hint)
    try:
        return origin, Verifier.parse(vkey)
    except NoteError as exc:
        raise InputError(f"--log {origin}=...: {exc}.", hint=hint) from None


def load_witness(state: Path, key: Path, logs: Sequence[str]) -> Witness:
    """A witness from the CLI's options: its state file, its key file and ``ORIGIN=VKEY``s."""
    if not logs:
        raise InputError(
            "A witness needs at least one log to witness.",
            hint="Add --log ORIGIN=VKEY (the log's verifier key, as riskops audit prints it).",
        )
    pinned: dict[str, list[Verifier]] = {}
    for option in logs:
        origin, verifier = parse_log(option)
        pinned.setdefault(origin, []).append(verifier)
    return Witness(Cosigner.from_file(key), pinned, WitnessState(state))
