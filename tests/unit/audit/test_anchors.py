"""The file and webhook anchors against the real file system and a real local HTTP server, and
every refusal of the ``[[audit.anchors]]`` configuration."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from riskops.audit.anchors import (
    ANCHOR_TYPES,
    Anchor,
    AnchorError,
    FileAnchor,
    Publication,
    WebhookAnchor,
    WitnessAnchor,
    anchor_config,
    anchor_from_config,
)
from riskops.audit.cosignature import Cosigner
from riskops.errors import BackendError, InputError
from tests.conftest import REPO

ORIGIN = "riskops.test/log"


def publication(size: int, first: int = 0, origin: str = ORIGIN) -> Publication:
    entries = b"".join(json.dumps({"seq": i}).encode() + b"\n" for i in range(first, size))
    note = f"{origin}\n{size}\nroot{size}=\n\n— {origin} c2lnbmF0dXJl{size}\n"
    return Publication(
        origin=origin, size=size, note=note, first=first, entries=entries, consistency=lambda _: []
    )


# --- file ----------------------------------------------------------------------------------


def test_file_anchor_appends_and_reads_back_per_origin(tmp_path: Path) -> None:
    anchor = FileAnchor(tmp_path / "anchors" / "checkpoints.jsonl")
    assert isinstance(anchor, Anchor)
    assert anchor.checkpoints(ORIGIN) == []
    anchor.publish(publication(3))
    anchor.publish(publication(2, origin="other.test/log"))
    anchor.publish(publication(7, first=3))
    assert anchor.checkpoints(ORIGIN) == [publication(3).note, publication(7, 3).note]
    assert anchor.checkpoints("other.test/log") == [publication(2, origin="other.test/log").note]
    assert anchor.problems == ()
    lines = anchor.path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["size"] for line in lines] == [3, 2, 7]
    assert set(json.loads(lines[0])) == {"origin", "size", "note"}


def test_file_anchor_only_appends(tmp_path: Path) -> None:
    anchor = FileAnchor(tmp_path / "checkpoints.jsonl")
    anchor.publish(publication(3))
    before = anchor.path.read_bytes()
    anchor.publish(publication(5, first=3))
    after = anchor.path.read_bytes()
    assert after.startswith(before)
    assert after[len(before) :].count(b"\n") == 1


def test_file_anchor_writes_entries_beside_it_once(tmp_path: Path) -> None:
    anchor = FileAnchor(tmp_path / "checkpoints.jsonl")
    anchor.publish(publication(4, first=1))
    written = tmp_path / "checkpoints.jsonl.entries" / "1-4.jsonl"
    assert written.read_bytes() == publication(4, first=1).entries
    assert anchor.entries(ORIGIN, 1, 4) == written.read_bytes()
    with pytest.raises(AnchorError, match=r"no checkpoint of size 5 for riskops\.test/log"):
        anchor.entries(ORIGIN, 1, 5)
    anchor.publish(publication(4, first=1))  # the same entries again: accepted, nothing changes
    other = Publication(
        origin=ORIGIN, size=4, note="x", first=1, entries=b'{"seq": 99}\n', consistency=list
    )
    with pytest.raises(AnchorError, match=r"already holds other entries for \[1, 4\)"):
        anchor.publish(other)
    assert written.read_bytes() == publication(4, first=1).entries
    assert [p.name for p in written.parent.iterdir()] == ["1-4.jsonl"]


def test_a_torn_last_line_is_ignored_and_reported(tmp_path: Path) -> None:
    anchor = FileAnchor(tmp_path / "checkpoints.jsonl")
    anchor.publish(publication(3))
    with anchor.path.open("ab") as handle:  # a crash in the middle of the next append
        handle.write(b'{"origin": "riskops.test/log", "size": 9, "no')
    assert anchor.checkpoints(ORIGIN) == [publication(3).note]
    [problem] = anchor.problems
    assert problem.startswith("line 2: a partial last line (")
    assert "interrupted write; ignored" in problem
    # The next publication starts a line of its own and reads back.
    anchor.publish(publication(5, first=3))
    assert anchor.checkpoints(ORIGIN) == [publication(3).note, publication(5, 3).note]
    assert anchor.problems == ("line 2: not a checkpoint record; ignored",)


def test_a_damaged_line_is_reported_with_its_number(tmp_path: Path) -> None:
    anchor = FileAnchor(tmp_path / "checkpoints.jsonl")
    anchor.publish(publication(3))
    with anchor.path.open("ab") as handle:
        handle.write(b'{"origin": "riskops.test/log", "size": "four", "note": "x"}\n')
    anchor.publish(publication(5, first=3))
    assert anchor.checkpoints(ORIGIN) == [publication(3).note, publication(5, 3).note]
    assert anchor.problems == ("line 2: not a checkpoint record; ignored",)


def test_file_anchor_that_cannot_be_written_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    anchor = FileAnchor(blocker / "checkpoints.jsonl")
    with pytest.raises(AnchorError, match=r"file:.*could not append checkpoint 3") as caught:
        anchor.publish(publication(3))
    assert isinstance(caught.value, BackendError)
    assert isinstance(caught.value, RuntimeError)
    assert "writable" in (caught.value.hint or "")


# --- webhook -------------------------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    """Records each POST on its server and answers with the server's ``status``."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, dict(self.headers), body))  # type: ignore[attr-defined]
        if self.server.delay:  # type: ignore[attr-defined]
            threading.Event().wait(self.server.delay)  # type: ignore[attr-defined]
        status = self.server.status  # type: ignore[attr-defined]
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/elsewhere")
        text = b"" if status == 204 else b"token expired"
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.received = []  # type: ignore[attr-defined]
    server.status = 204  # type: ignore[attr-defined]
    server.delay = 0.0  # type: ignore[attr-defined]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def _url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/riskops/in"


def test_webhook_posts_the_checkpoint_with_the_bearer_token(
    receiver: ThreadingHTTPServer, tmp_path: Path
) -> None:
    anchor = anchor_from_config(
        {"type": "webhook", "url": _url(receiver), "token_env": "SIEM_TOKEN"},
        base=tmp_path,
        environ={"SIEM_TOKEN": "s3cret"},
    )
    assert isinstance(anchor, WebhookAnchor)
    assert anchor.readable is False
    assert anchor.publish(publication(5, first=2)) is None
    [(path, headers, body)] = receiver.received  # type: ignore[attr-defined]
    assert path == "/riskops/in"
    assert headers["Authorization"] == "Bearer s3cret"
    assert headers["Content-Type"] == "application/json"
    sent = json.loads(body)
    assert sent == {
        "origin": ORIGIN,
        "size": 5,
        "note": publication(5, 2).note,
        "first": 2,
        "entries_sha256": hashlib.sha256(publication(5, 2).entries).hexdigest(),
    }


def test_webhook_without_token_sends_no_authorization(receiver: ThreadingHTTPServer) -> None:
    receiver.status = 200  # type: ignore[attr-defined]
    WebhookAnchor(_url(receiver)).publish(publication(1))
    [(_, headers, _)] = receiver.received  # type: ignore[attr-defined]
    assert "Authorization" not in headers


@pytest.mark.parametrize("status", [401, 500, 302])
def test_webhook_refusal_names_the_status(receiver: ThreadingHTTPServer, status: int) -> None:
    receiver.status = status  # type: ignore[attr-defined]
    anchor = WebhookAnchor(_url(receiver) + "?key=hidden")
    with pytest.raises(AnchorError, match=rf"refused checkpoint 5 with HTTP {status}") as caught:
        anchor.publish(publication(5))
    assert "hidden" not in str(caught.value)
    assert caught.value.message.startswith(f"webhook:{_url(receiver)}:")


def test_webhook_times_out(receiver: ThreadingHTTPServer) -> None:
    receiver.delay = 2.0  # type: ignore[attr-defined]
    with pytest.raises(AnchorError, match=r"no answer from http://127\.0\.0\.1:\d+/riskops/in"):
        WebhookAnchor(_url(receiver), timeout=0.3).publish(publication(5))


def test_webhook_with_nothing_listening() -> None:
    with pytest.raises(AnchorError, match=r"no answer from http://127\.0\.0\.1:9/") as caught:
        WebhookAnchor("http://127.0.0.1:9/", timeout=2).publish(publication(5))
    assert "reachable" in (caught.value.hint or "")


def test_webhook_is_not_read_back() -> None:
    with pytest.raises(AnchorError, match="cannot be read back"):
        WebhookAnchor("https://siem.example/in").checkpoints(ORIGIN)


# --- configuration -------------------------------------------------------------------------


def test_file_path_is_taken_from_the_workspace(tmp_path: Path) -> None:
    anchor = anchor_from_config({"type": "file", "path": "anchors/c.jsonl"}, base=tmp_path)
    assert isinstance(anchor, FileAnchor)
    assert anchor.path == tmp_path / "anchors" / "c.jsonl"
    assert anchor.name == f"file:{tmp_path / 'anchors' / 'c.jsonl'}"
    absolute = anchor_from_config({"type": "file", "path": "/var/log/c.jsonl"}, base=tmp_path)
    assert isinstance(absolute, FileAnchor)
    assert absolute.path == Path("/var/log/c.jsonl")


def test_witness_from_config(tmp_path: Path) -> None:
    cosigner = Cosigner.generate("witness.test/w1")
    anchor = anchor_from_config(
        {
            "type": "witness",
            "url": "https://witness.test/",
            "verifier_key": cosigner.verifier_key,
            "timeout_seconds": 3,
        },
        base=tmp_path,
    )
    assert isinstance(anchor, WitnessAnchor)
    assert (anchor.url, anchor.timeout, anchor.readable) == ("https://witness.test", 3.0, False)
    assert anchor.name == "witness:witness.test/w1"


S3 = {"type": "s3", "bucket": "b", "prefix": "p", "retention_days": 30}
WITNESS_KEY = Cosigner.generate("witness.test/w1").verifier_key


@pytest.mark.parametrize(
    ("table", "message", "hint"),
    [
        ({}, r"no type; allowed types: file, s3, webhook, witness", 'type = "file"'),
        ({"type": "ftp"}, r"type = 'ftp'; allowed types: file, s3", "path = "),
        (
            {"type": "file", "path": "a", "mode": "x"},
            r'type = "file": unknown key\(s\) \[\'mode\'\]; allowed: path',
            'path = "anchors/',
        ),
        ({"type": "file"}, r"missing key\(s\) \['path'\]", 'path = "anchors/'),
        ({"type": "file", "path": ""}, "path must be a non-empty string, got ''", 'path = "'),
        ({"type": "file", "path": 3}, "path must be a non-empty string, got 3", 'path = "'),
        (
            {"type": "s3", "bucket": "b"},
            r"missing key\(s\) \['prefix', 'retention_days'\]",
            "retention_days = 2557",
        ),
        ({**S3, "retention_days": "30"}, "retention_days must be a whole number", "2557"),
        ({**S3, "retention_days": 0}, "from 1 to 36500, got 0", "6 months"),
        ({**S3, "retention_days": True}, "got True", "retention_days = "),
        ({**S3, "mode": "compliance"}, "mode = 'compliance'; allowed: COMPLIANCE, GOVERNANCE", ""),
        ({**S3, "prefix": 5}, "prefix must be a string, got 5", 'prefix = "prod"'),
        ({**S3, "endpoint_url": "127.0.0.1:8333"}, "is not an http\\(s\\) URL", "https://"),
        ({"type": "webhook", "url": "file:///etc/passwd"}, "is not an http\\(s\\) URL", ""),
        (
            {"type": "webhook", "url": "https://a.test", "timeout_seconds": 0},
            "timeout_seconds must be a number of seconds above 0",
            "timeout_seconds = 10",
        ),
        (
            {"type": "webhook", "url": "https://a.test", "token_env": "NOT_SET_ANYWHERE"},
            "token_env = 'NOT_SET_ANYWHERE' names an environment variable that is not set",
            "export NOT_SET_ANYWHERE=",
        ),
        (
            {"type": "witness", "url": "https://w.test", "verifier_key": "w+zz+AA"},
            "verifier_key is not a cosigner key string",
            "riskops witness keygen",
        ),
        (
            {
                "type": "witness",
                "url": "https://w.test",
                "verifier_key": WITNESS_KEY.replace("witness.test/w1", "witness.test/w2"),
            },
            "verifier_key: the key id [0-9a-f]{8} does not match",
            "exactly",
        ),
    ],
)
def test_config_errors_name_the_key_and_what_to_write(
    tmp_path: Path, table: dict[str, object], message: str, hint: str
) -> None:
    with pytest.raises(InputError, match=message) as caught:
        anchor_from_config(table, base=tmp_path, environ={})
    assert hint in (caught.value.hint or "")


def test_every_table_in_the_anchors_doc_is_accepted(tmp_path: Path) -> None:
    doc = (REPO / "docs" / "anchors.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", doc, flags=re.DOTALL)
    tables = [t for block in blocks for t in tomllib.loads(block)["audit"]["anchors"]]
    assert sorted(t["type"] for t in tables) == sorted(ANCHOR_TYPES)
    for table in tables:
        config = anchor_config(
            table, base=tmp_path, environ={"RISKOPS_ANCHOR_WEBHOOK_TOKEN": "t0ken"}
        )
        assert config.type == table["type"]
        assert "t0ken" not in repr(config)
        if config.type != "s3":  # building the S3 anchor asks the bucket (integration tests)
            assert config.build().readable is (config.type == "file")
