"""Anchors: places outside the database where signed checkpoints of the audit log are kept.

A database administrator can rewrite every row of the store, hashes included. What they cannot
rewrite is a checkpoint (origin, size, root, signed with a key they do not hold) that was
published to a place they cannot write: ``riskops audit verify`` reads the checkpoints back
from the anchors, never from the store, and checks the store against them. Each anchor is one
port with four implementations:

=================  ==========  ==================================================================
anchor             readable    what protects it
=================  ==========  ==================================================================
FileAnchor         yes         the file system only (``chattr +a``, another host, another owner)
S3ObjectLockAnchor yes         S3 Object Lock: no one deletes or shortens a COMPLIANCE version
WebhookAnchor      no          the receiver (an auditor, a SIEM) keeps its own copy
WitnessAnchor      no          a witness cosigns only a consistent, larger tree; the cosignature
                               travels in the note the readable anchors store
=================  ==========  ==================================================================

Each anchor is made from one ``[[audit.anchors]]`` table of riskops.toml by
:func:`anchor_from_config`; ``docs/anchors.md`` describes the tables and what each anchor
protects against. Example::

    anchor = anchor_from_config({"type": "file", "path": "anchors/checkpoints.jsonl"}, base=home)
    anchor.publish(publication)
    anchor.checkpoints("riskops.example/prod")  # every note held for that origin, oldest first
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote, urlsplit

from riskops.audit.cosignature import SIGNATURE_PREFIX, CosignatureVerifier
from riskops.errors import BackendError, InputError

log = logging.getLogger(__name__)

ANCHOR_TYPES = ("file", "s3", "webhook", "witness")
LOCK_MODES = ("COMPLIANCE", "GOVERNANCE")
DEFAULT_TIMEOUT_S = 10.0
MAX_CONSISTENCY_PROOF = 63  # lines a tlog-witness accepts
_ERROR_BODY_CHARS = 300


class AnchorError(BackendError, RuntimeError):
    """Publishing to or reading from an anchor failed; the message names the anchor and why."""

    code = "anchor_failed"


@dataclass(frozen=True)
class Publication:
    """One signed checkpoint and the log entries it adds, as handed to every anchor."""

    origin: str
    size: int  # the checkpoint's tree size
    note: str  # the signed checkpoint note text
    first: int  # entries in this publication are log indexes [first, size)
    entries: bytes  # JSON Lines of those entries (opaque here), so that records can be re-created
    consistency: Callable[[int], list[bytes]] = field(repr=False, compare=False)
    # ^ the RFC 6962 consistency proof from an older tree size to ``size`` (for witnesses)

    @property
    def entries_sha256(self) -> str:
        return hashlib.sha256(self.entries).hexdigest()


@runtime_checkable
class Anchor(Protocol):
    """Where checkpoints are published (and, if ``readable``, read back by verify)."""

    name: str
    readable: bool

    def publish(self, publication: Publication) -> str | None:
        """Publish; return extra signature lines (a witness's cosignature) or None."""
        ...

    def checkpoints(self, origin: str) -> list[str]:
        """Every checkpoint note held for ``origin``, oldest first (readable anchors)."""
        ...


# --- the file anchor -------------------------------------------------------------------------


@dataclass(frozen=True)
class FileRead:
    """What a checkpoint file holds: its records (origin, size, note) in file order, and the
    lines that could not be read (a partial last line left by a crash, or damage)."""

    records: tuple[tuple[str, int, str], ...]
    problems: tuple[str, ...]


class FileAnchor:
    """An append-only JSON Lines file of checkpoints, with each publication's entries beside it.

    Every publication appends one line ``{"origin": ..., "size": ..., "note": ...}`` through a
    descriptor opened with ``O_APPEND`` and fsync'd, after writing its entries to
    ``<file>.entries/<first>-<size>.jsonl`` (created once, never replaced). A crash during the
    append can leave a partial last line: reading ignores it and reports it in
    :attr:`problems`, and the next append starts on a line of its own.

    Its protection is the file system's, nothing more: it catches a database insider who cannot
    write this file (``chattr +a`` on it and on the entries folder, another owner, another
    host), not one who can.
    """

    readable = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries_dir = path.with_name(path.name + ".entries")
        self.name = f"file:{path}"
        self.problems: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"FileAnchor({str(self.path)!r})"

    def publish(self, publication: Publication) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._write_entries(publication)
            record = {
                "origin": publication.origin,
                "size": publication.size,
                "note": publication.note,
            }
            line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
            created = not self.path.exists()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                # After a torn write the file does not end in a newline: start a line of our own.
                data = (b"\n" if self._torn_tail() else b"") + line.encode()
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                _fsync_dir(self.path.parent)
        except OSError as exc:
            raise AnchorError(
                f"{self.name}: could not append checkpoint {publication.size}: {exc}.",
                hint=f"Check that {self.path} and {self.entries_dir} are writable by this user "
                "(an append-only file needs chattr +a, not read-only).",
            ) from exc

    def _write_entries(self, publication: Publication) -> None:
        self.entries_dir.mkdir(parents=True, exist_ok=True)
        target = self.entries_dir / f"{publication.first}-{publication.size}.jsonl"
        if target.exists():
            if target.read_bytes() != publication.entries:
                raise AnchorError(
                    f"{self.name}: {target} already holds other entries for "
                    f"[{publication.first}, {publication.size}); it is never replaced.",
                    hint="Two logs (or a rewritten log) publish to one file: give each origin "
                    "its own anchor path, and run riskops audit verify.",
                )
            return
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, publication.entries)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            # link() refuses to replace a file that appeared meanwhile, where rename would not.
            os.link(temporary, target)
        except FileExistsError:
            if target.read_bytes() != publication.entries:
                raise AnchorError(
                    f"{self.name}: {target} appeared with other entries while writing.",
                    hint="Only one process may publish to a file anchor.",
                ) from None
        finally:
            temporary.unlink(missing_ok=True)
        _fsync_dir(self.entries_dir)

    def _torn_tail(self) -> bool:
        try:
            with self.path.open("rb") as handle:
                handle.seek(0, os.SEEK_END)
                if handle.tell() == 0:
                    return False
                handle.seek(-1, os.SEEK_END)
                return handle.read(1) != b"\n"
        except FileNotFoundError:
            return False

    def read(self) -> FileRead:
        """Every record of the file, and what could not be read (each line named)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return FileRead((), ())
        except OSError as exc:
            raise AnchorError(f"{self.name}: cannot read it: {exc}.") from exc
        lines = data.split(b"\n")
        tail = lines.pop()  # what follows the last newline: empty unless a write was torn
        records: list[tuple[str, int, str]] = []
        problems: list[str] = []
        for number, raw in enumerate(lines, start=1):
            parsed = _parse_record(raw)
            if parsed is None:
                problems.append(f"line {number}: not a checkpoint record; ignored")
            else:
                records.append(parsed)
        if tail:
            problems.append(
                f"line {len(lines) + 1}: a partial last line ({len(tail)} bytes, no newline), "
                "left by an interrupted write; ignored"
            )
        return FileRead(tuple(records), tuple(problems))

    def checkpoints(self, origin: str) -> list[str]:
        found = self.read()
        self.problems = found.problems
        for problem in found.problems:
            log.warning("%s: %s", self.name, problem)
        return [note for o, _, note in found.records if o == origin]

    def entries(self, origin: str, first: int, size: int) -> bytes:
        """The entries published with ``origin``'s checkpoint of ``size`` (from ``first``).
        The folder holds one log's entries: give each origin its own file anchor."""
        if not any(o == origin and s == size for o, s, _ in self.read().records):
            raise AnchorError(f"{self.name}: no checkpoint of size {size} for {origin}.")
        try:
            return (self.entries_dir / f"{first}-{size}.jsonl").read_bytes()
        except OSError as exc:
            raise AnchorError(
                f"{self.name}: the entries [{first}, {size}) are missing: {exc.strerror}."
            ) from None


def _parse_record(raw: bytes) -> tuple[str, int, str] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    origin, size, note = value.get("origin"), value.get("size"), value.get("note")
    if (
        isinstance(origin, str)
        and isinstance(size, int)
        and not isinstance(size, bool)
        and size >= 0
        and isinstance(note, str)
    ):
        return origin, size, note
    return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- the S3 Object Lock anchor ---------------------------------------------------------------


def origin_key(origin: str) -> str:
    """An origin as one S3 key segment (percent-encoded, reversible): ``a.example/log`` →
    ``a.example%2Flog``."""
    return quote(origin, safe="")


class S3ObjectLockAnchor:
    """Checkpoints and their entries as S3 objects under Object Lock (WORM).

    Each publication puts two objects, entries first::

        <prefix>/entries/<origin-key>/<first:020d>-<size:020d>.jsonl
        <prefix>/checkpoints/<origin-key>/<size:020d>.note

    with ``ObjectLockMode`` (COMPLIANCE unless configured GOVERNANCE) and a retain-until date
    ``retention_days`` from now, a SHA-256 checksum and Content-MD5. In COMPLIANCE mode no one,
    the account root included, can delete such a version or shorten its retention before that
    date. :meth:`checkpoints` reads every *version* under the checkpoints prefix, so a delete
    marker (what a plain delete adds in a versioned bucket) cannot hide a checkpoint.

    The bucket must have Object Lock enabled; construction checks it and refuses otherwise.
    """

    readable = True

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str,
        retention_days: int,
        mode: str = "COMPLIANCE",
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        page_size: int = 1000,
    ) -> None:
        from riskops._compat.s3 import s3_client

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.retention_days = retention_days
        self.mode = mode
        self.clock = clock
        self.page_size = page_size
        self.name = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.client = (
            client if client is not None else s3_client(endpoint_url=endpoint_url, region=region)
        )
        self._check_object_lock()

    def __repr__(self) -> str:
        return f"S3ObjectLockAnchor({self.name!r}, mode={self.mode!r})"

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def _failure(self, action: str, exc: Exception) -> AnchorError:
        from riskops._compat.s3 import error_code

        code = error_code(exc)
        reason = f"S3 answered {code}" if code else f"{type(exc).__name__}: {exc}"
        hint = None
        if code in {"AccessDenied", "Forbidden", "403"}:
            hint = (
                "Give the anchor's credentials s3:PutObject, s3:PutObjectRetention, "
                "s3:GetObject, s3:GetObjectVersion, s3:ListBucketVersions and "
                "s3:GetBucketObjectLockConfiguration on this bucket (never s3:DeleteObject*)."
            )
        elif code is None:
            hint = "Check the endpoint URL, the network and the AWS credentials in use."
        return AnchorError(f"{self.name}: {action}: {reason}.", hint=hint)

    def _check_object_lock(self) -> None:
        from riskops._compat.s3 import error_code, is_botocore_error

        fix = (
            f"Create the bucket with Object Lock: aws s3api create-bucket --bucket {self.bucket} "
            "--object-lock-enabled-for-bucket (or enable versioning and Object Lock on it); "
            "then configure it again."
        )
        try:
            answer = self.client.get_object_lock_configuration(Bucket=self.bucket)
        except Exception as exc:
            if not is_botocore_error(exc):
                raise
            code = error_code(exc)
            if code == "ObjectLockConfigurationNotFoundError":
                raise AnchorError(
                    f"{self.name}: the bucket does not have Object Lock enabled, so anyone "
                    "with write access could delete or overwrite a checkpoint.",
                    hint=fix,
                ) from None
            if code == "NoSuchBucket":
                raise AnchorError(f"{self.name}: no such bucket.", hint=fix) from None
            raise self._failure("cannot read its Object Lock configuration", exc) from None
        enabled = answer.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
        if enabled != "Enabled":
            raise AnchorError(
                f"{self.name}: Object Lock is {enabled or 'not enabled'} on the bucket.", hint=fix
            )

    def publish(self, publication: Publication) -> None:
        safe = origin_key(publication.origin)
        retain_until = self.clock() + timedelta(days=self.retention_days)
        entries_key = self._key(
            "entries", safe, f"{publication.first:020d}-{publication.size:020d}.jsonl"
        )
        note_key = self._key("checkpoints", safe, f"{publication.size:020d}.note")
        self._put(entries_key, publication.entries, "application/x-ndjson", retain_until)
        self._put(note_key, publication.note.encode(), "text/plain; charset=utf-8", retain_until)

    def _put(self, key: str, body: bytes, content_type: str, retain_until: datetime) -> None:
        from riskops._compat.s3 import is_botocore_error

        # Object Lock puts need an integrity checksum: Content-MD5 (what S3 asked for first)
        # and SHA-256 (what it takes instead today).
        md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
        sha256 = base64.b64encode(hashlib.sha256(body).digest()).decode()
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                ContentMD5=md5,
                ChecksumSHA256=sha256,
                ObjectLockMode=self.mode,
                ObjectLockRetainUntilDate=retain_until,
            )
        except Exception as exc:
            if not is_botocore_error(exc):
                raise
            raise self._failure(f"could not put {key}", exc) from None

    def checkpoints(self, origin: str) -> list[str]:
        from riskops._compat.s3 import is_botocore_error

        prefix = self._key("checkpoints", origin_key(origin)) + "/"
        # S3 lists the versions of one key newest first; LastModified has whole seconds only,
        # so the listing's order (reversed) is what tells two versions of one second apart.
        found: list[tuple[int, int, str]] = []
        try:
            paginator = self.client.get_paginator("list_object_versions")
            pages = paginator.paginate(
                Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": self.page_size}
            )
            for page in pages:
                # DeleteMarkers are skipped on purpose: every stored version counts.
                for version in page.get("Versions", []):
                    key = version["Key"]
                    stem = key[len(prefix) :].removesuffix(".note")
                    if not (key.endswith(".note") and stem.isdigit()):
                        continue
                    answer = self.client.get_object(
                        Bucket=self.bucket, Key=key, VersionId=version["VersionId"]
                    )
                    note = answer["Body"].read().decode("utf-8")
                    found.append((int(stem), -len(found), note))
        except Exception as exc:
            if not is_botocore_error(exc):
                raise
            raise self._failure(f"could not read the checkpoints under {prefix}", exc) from None
        found.sort(key=lambda item: (item[0], item[1]))
        notes: list[str] = []
        for _, _, note in found:
            if note not in notes:
                notes.append(note)
        return notes

    def entries(self, origin: str, first: int, size: int) -> bytes:
        """The entries published with the checkpoint of ``size`` (the oldest version)."""
        from riskops._compat.s3 import is_botocore_error

        key = self._key("entries", origin_key(origin), f"{first:020d}-{size:020d}.jsonl")
        try:
            versions = self.client.list_object_versions(Bucket=self.bucket, Prefix=key)
            stored = [v for v in versions.get("Versions", []) if v["Key"] == key]
            if not stored:
                raise AnchorError(f"{self.name}: no entries at {key}.")
            oldest = stored[-1]  # versions of a key are listed newest first
            answer = self.client.get_object(
                Bucket=self.bucket, Key=key, VersionId=oldest["VersionId"]
            )
            return bytes(answer["Body"].read())
        except Exception as exc:
            if not is_botocore_error(exc):
                raise
            raise self._failure(f"could not read {key}", exc) from None


# --- HTTP anchors: webhook and witness -------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirected POST would be replayed as a GET without its body: treat 3xx as a failure.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _post(
    anchor: str, url: str, body: bytes, headers: Mapping[str, str], timeout: float
) -> tuple[int, str, str]:
    """POST and return (status, content type, body text); non-2xx answers are returned, not
    raised; a connection failure or timeout is an AnchorError."""
    if urlsplit(url).scheme not in {"http", "https"}:
        raise AnchorError(f"{anchor}: {_display_url(url)} is not an http(s) URL.")
    # The scheme is http or https (checked above), never file: or a custom one.
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            return (
                answer.status,
                answer.headers.get("Content-Type", ""),
                answer.read().decode("utf-8", "replace"),
            )
    except urllib.error.HTTPError as exc:
        with contextlib.closing(exc):
            text = exc.read().decode("utf-8", "replace")
        return exc.code, exc.headers.get("Content-Type", ""), text
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AnchorError(
            f"{anchor}: no answer from {_display_url(url)}: {reason}.",
            hint="Check that the server is up and reachable from here, and its URL.",
        ) from None


def _display_url(url: str) -> str:
    """The URL without query or credentials (which may hold a secret)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


class WebhookAnchor:
    """POSTs each checkpoint as JSON to an auditor's or a SIEM's endpoint.

    The body is ``{"origin", "size", "note", "first", "entries_sha256"}``; any 2xx answer means
    accepted. With ``token`` set it sends ``Authorization: Bearer <token>``. Not readable: the
    receiver keeps its own copy, out of reach of whoever runs riskops.
    """

    readable = False

    def __init__(
        self, url: str, *, token: str | None = None, timeout: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout
        self.name = f"webhook:{_display_url(url)}"

    def __repr__(self) -> str:
        return f"WebhookAnchor({_display_url(self.url)!r})"

    def publish(self, publication: Publication) -> None:
        body = json.dumps(
            {
                "origin": publication.origin,
                "size": publication.size,
                "note": publication.note,
                "first": publication.first,
                "entries_sha256": publication.entries_sha256,
            },
            ensure_ascii=False,
        ).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "riskops-anchor"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        status, _, text = _post(self.name, self.url, body, headers, self.timeout)
        if not 200 <= status < 300:
            raise AnchorError(
                f"{self.name}: refused checkpoint {publication.size} with HTTP {status}: "
                f"{text[:_ERROR_BODY_CHARS].strip()}",
                hint="Check the receiver's log; a 401 or 403 means the token in the "
                "configured token_env variable is wrong.",
            )

    def checkpoints(self, origin: str) -> list[str]:
        raise AnchorError(f"{self.name}: a webhook cannot be read back.")


class WitnessAnchor:
    """A C2SP tlog-witness client: asks a witness to cosign each checkpoint.

    It POSTs ``<url>/add-checkpoint`` with ``old <size>``, the consistency proof from that size
    (base64 lines), a blank line and the note. A 409 names the size the witness last cosigned:
    the request is sent once more from that size. :meth:`publish` returns the witness's
    ``cosignature/v1`` line(s), checked against its pinned ``verifier``, to be added to the note
    that the readable anchors store. Not readable itself.
    """

    readable = False

    def __init__(
        self, url: str, verifier: CosignatureVerifier, *, timeout: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.url = url.rstrip("/")
        self.verifier = verifier
        self.timeout = timeout
        self.name = f"witness:{verifier.name}"
        self._last_size: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"WitnessAnchor({_display_url(self.url)!r}, {self.verifier.name!r})"

    def publish(self, publication: Publication) -> str:
        old = self._last_size.get(publication.origin, 0)
        status, content_type, text = self._add(publication, old)
        if status == 409 and content_type.startswith("text/x.tlog.size"):
            named = text.strip()
            if not named.isdigit():
                raise AnchorError(f"{self.name}: answered 409 with {named[:40]!r}, not a size.")
            old = int(named)
            if old > publication.size:
                raise AnchorError(
                    f"{self.name}: the witness has cosigned size {old} of {publication.origin}, "
                    f"larger than this checkpoint's {publication.size}: the log was cut back "
                    "or forked after that checkpoint.",
                    hint="Run riskops audit verify; do not publish until it is explained.",
                )
            status, content_type, text = self._add(publication, old)
        if status != 200:
            raise AnchorError(
                f"{self.name}: refused checkpoint {publication.size} from old size {old} with "
                f"HTTP {status}: {text[:_ERROR_BODY_CHARS].strip()}",
                hint=_WITNESS_HINTS.get(status, "Check the witness's log."),
            )
        lines = self._cosignatures(publication, text)
        self._last_size[publication.origin] = publication.size
        return "".join(lines)

    def _add(self, publication: Publication, old: int) -> tuple[int, str, str]:
        proof = publication.consistency(old) if 0 < old < publication.size else []
        if len(proof) > MAX_CONSISTENCY_PROOF:
            raise AnchorError(
                f"{self.name}: a consistency proof of {len(proof)} hashes is over the "
                f"{MAX_CONSISTENCY_PROOF} a witness accepts."
            )
        body = f"old {old}\n" + "".join(base64.b64encode(h).decode() + "\n" for h in proof)
        body += "\n" + publication.note
        return _post(
            self.name,
            self.url + "/add-checkpoint",
            body.encode(),
            {"Content-Type": "text/plain; charset=utf-8", "User-Agent": "riskops-anchor"},
            self.timeout,
        )

    def _cosignatures(self, publication: Publication, text: str) -> list[str]:
        checkpoint_body = publication.note.split("\n\n", 1)[0] + "\n"
        valid: list[str] = []
        for line in text.splitlines():
            if not line.startswith(SIGNATURE_PREFIX):
                continue
            try:
                timestamp = self.verifier.verify(line, checkpoint_body)
            except ValueError as exc:
                raise AnchorError(f"{self.name}: {exc}.") from None
            if timestamp is not None:
                valid.append(line + "\n")
        if not valid:
            raise AnchorError(
                f"{self.name}: the witness answered without a cosignature by its pinned key "
                f"{self.verifier.name}+{self.verifier.key_id.hex()}.",
                hint="Check verifier_key in riskops.toml against the witness's key.",
            )
        return valid

    def checkpoints(self, origin: str) -> list[str]:
        raise AnchorError(
            f"{self.name}: a witness is not read back; its cosignatures are in the notes "
            "the readable anchors keep."
        )


_WITNESS_HINTS = {
    400: "The request was malformed; report it.",
    403: "The witness does not trust this log's signing key: pin its verifier key there "
    "(riskops witness serve --log ORIGIN=VKEY).",
    404: "The witness does not know this origin: add --log ORIGIN=VKEY to the witness.",
    409: "The witness holds another checkpoint of the same size: the log forked. Run riskops "
    "audit verify.",
    422: "The consistency proof did not verify: the log is not an extension of what the "
    "witness saw. Run riskops audit verify.",
}


# --- configuration ---------------------------------------------------------------------------

_KEYS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # type: (required keys, optional keys)
    "file": (frozenset({"path"}), frozenset()),
    "s3": (
        frozenset({"bucket", "prefix", "retention_days"}),
        frozenset({"endpoint_url", "region", "mode"}),
    ),
    "webhook": (frozenset({"url"}), frozenset({"token_env", "timeout_seconds"})),
    "witness": (frozenset({"url", "verifier_key"}), frozenset({"timeout_seconds"})),
}

_EXAMPLES = {
    "file": '[[audit.anchors]]\ntype = "file"\npath = "anchors/checkpoints.jsonl"',
    "s3": '[[audit.anchors]]\ntype = "s3"\nbucket = "riskops-audit"\nprefix = "prod"\n'
    'retention_days = 2557\nmode = "COMPLIANCE"',
    "webhook": '[[audit.anchors]]\ntype = "webhook"\nurl = "https://siem.example/riskops"\n'
    'token_env = "RISKOPS_WEBHOOK_TOKEN"',
    "witness": '[[audit.anchors]]\ntype = "witness"\nurl = "https://witness.example"\n'
    'verifier_key = "witness.example/w1+0a1b2c3d+BM..."',
}


@dataclass(frozen=True)
class AnchorConfig:
    """One checked ``[[audit.anchors]]`` table: the anchor's type and its constructor's
    arguments. Checking needs no network; :meth:`build` makes the anchor (the S3 anchor then
    asks the bucket for its Object Lock configuration)."""

    type: str
    options: Mapping[str, Any] = field(repr=False)  # may hold a bearer token

    def build(self) -> Anchor:
        if self.type == "file":
            return FileAnchor(**self.options)
        if self.type == "s3":
            return S3ObjectLockAnchor(**self.options)
        if self.type == "webhook":
            return WebhookAnchor(**self.options)
        return WitnessAnchor(**self.options)


def anchor_from_config(
    table: Mapping[str, object],
    *,
    base: Path,
    environ: Mapping[str, str] | None = None,
) -> Anchor:
    """The anchor one ``[[audit.anchors]]`` table of riskops.toml describes; relative paths
    are taken from ``base`` (the workspace folder). Every wrong key or value is an InputError
    naming the key and what to write.

    Example::

        anchor_from_config({"type": "webhook", "url": "https://siem.example/in"}, base=home)
    """
    return anchor_config(table, base=base, environ=environ).build()


def anchor_config(
    table: Mapping[str, object],
    *,
    base: Path,
    environ: Mapping[str, str] | None = None,
) -> AnchorConfig:
    """Check one ``[[audit.anchors]]`` table without contacting anything (see
    :func:`anchor_from_config`)."""
    env = os.environ if environ is None else environ
    kind = table.get("type")
    if kind not in ANCHOR_TYPES:
        got = "no type" if kind is None else f"type = {kind!r}"
        raise InputError(
            f"[[audit.anchors]]: {got}; allowed types: {', '.join(ANCHOR_TYPES)}.",
            hint=f"For example:\n{_EXAMPLES['file']}",
        )
    assert isinstance(kind, str)
    where = f'[[audit.anchors]] type = "{kind}"'
    required, optional = _KEYS[kind]
    unknown = set(table) - required - optional - {"type"}
    if unknown:
        raise InputError(
            f"{where}: unknown key(s) {sorted(unknown)}; allowed: "
            f"{', '.join(sorted(required | optional))}.",
            hint=f"For example:\n{_EXAMPLES[kind]}",
        )
    missing = required - set(table)
    if missing:
        raise InputError(
            f"{where}: missing key(s) {sorted(missing)}.",
            hint=f"For example:\n{_EXAMPLES[kind]}",
        )
    if kind == "file":
        path = Path(_text(table, "path", where))
        return AnchorConfig(kind, {"path": path if path.is_absolute() else base / path})
    if kind == "s3":
        mode = table.get("mode", "COMPLIANCE")
        if mode not in LOCK_MODES:
            raise InputError(
                f"{where}: mode = {mode!r}; allowed: {', '.join(LOCK_MODES)}.",
                hint='Write mode = "COMPLIANCE" (no one can delete before the date) unless '
                "you need GOVERNANCE's bypass.",
            )
        prefix = table["prefix"]
        if not isinstance(prefix, str):
            raise InputError(
                f"{where}: prefix must be a string, got {prefix!r}.",
                hint='Write prefix = "prod" (or "" for the bucket root).',
            )
        options: dict[str, Any] = {
            "bucket": _text(table, "bucket", where),
            "prefix": prefix,
            "retention_days": _days(table, where),
            "mode": str(mode),
            "endpoint_url": _url(table, "endpoint_url", where) if "endpoint_url" in table else None,
            "region": _text(table, "region", where) if "region" in table else None,
        }
        return AnchorConfig(kind, options)
    timeout = _timeout(table, where)
    url = _url(table, "url", where)
    if kind == "webhook":
        token = None
        if "token_env" in table:
            variable = _text(table, "token_env", where)
            token = env.get(variable)
            if not token:
                raise InputError(
                    f"{where}: token_env = {variable!r} names an environment variable that is "
                    "not set.",
                    hint=f"Set it before starting riskops: export {variable}=<bearer token>",
                )
        return AnchorConfig(kind, {"url": url, "token": token, "timeout": timeout})
    verifier = CosignatureVerifier.parse(
        _text(table, "verifier_key", where), where=f"{where}: verifier_key"
    )
    return AnchorConfig(kind, {"url": url, "verifier": verifier, "timeout": timeout})


def _text(table: Mapping[str, object], key: str, where: str) -> str:
    value = table[key]
    if not isinstance(value, str) or not value.strip():
        raise InputError(
            f"{where}: {key} must be a non-empty string, got {value!r}.",
            hint=f'Write it as: {key} = "..."',
        )
    return value.strip()


def _url(table: Mapping[str, object], key: str, where: str) -> str:
    value = _text(table, key, where)
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InputError(
            f"{where}: {key} = {value!r} is not an http(s) URL.",
            hint=f'Write it as: {key} = "https://host.example/path"',
        )
    return value


def _days(table: Mapping[str, object], where: str) -> int:
    value = table["retention_days"]
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 36500:
        raise InputError(
            f"{where}: retention_days must be a whole number of days from 1 to 36500, "
            f"got {value!r}.",
            hint="Write it as: retention_days = 2557  (7 years; the EU AI Act asks for at "
            "least 6 months, SEC 17a-4 for 3 or 6 years)",
        )
    return value


def _timeout(table: Mapping[str, object], where: str) -> float:
    value = table.get("timeout_seconds", DEFAULT_TIMEOUT_S)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 600:
        raise InputError(
            f"{where}: timeout_seconds must be a number of seconds above 0 and at most 600, "
            f"got {value!r}.",
            hint="Write it as: timeout_seconds = 10",
        )
    return float(value)
