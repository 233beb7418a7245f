"""``riskops witness``: run a small transparency-log witness that cosigns the audit log's
checkpoints, on a host the database administrators do not control."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from riskops.cli.output import console, err_console, print_json

app = typer.Typer(
    help="A witness that cosigns audit checkpoints only after a valid consistency proof.",
    no_args_is_help=True,
)

DEFAULT_PORT = 7380


@app.command("keygen")
def keygen(
    name: Annotated[str, typer.Argument(help="The witness's name, e.g. witness.example.com/w1.")],
    out: Annotated[Path, typer.Option("--out", help="The private key file to create (mode 0600).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Make a witness key; print its verifier key, to pin as verifier_key in riskops.toml.

    Example: riskops witness keygen witness.example.com/w1 --out /etc/riskops/witness.key
    """
    from riskops.audit.cosignature import Cosigner
    from riskops.errors import InputError

    cosigner = Cosigner.generate(name)
    try:
        cosigner.write(out)
    except FileExistsError:
        raise InputError(
            f"{out} already exists; a witness key is never overwritten.",
            hint="Choose another --out path, or keep using the existing key.",
        ) from None
    except OSError as exc:
        raise InputError(f"Cannot write {out}: {exc.strerror}.") from None
    if as_json:
        print_json({"key_file": str(out), "verifier_key": cosigner.verifier_key})
    else:
        console.print(f"Wrote {out} (keep it secret). Its verifier key:")
        console.print(cosigner.verifier_key)


@app.command("serve")
def serve(
    state: Annotated[
        Path, typer.Option("--state", help="The witness's SQLite file (created if missing).")
    ],
    key: Annotated[
        Path, typer.Option("--key", help="The witness's private key (riskops witness keygen).")
    ],
    logs: Annotated[
        list[str],
        typer.Option(
            "--log",
            help="ORIGIN=VKEY: a log to witness and its pinned verifier key (repeatable).",
        ),
    ],
    port: Annotated[int, typer.Option("--port", help="The port to listen on.")] = DEFAULT_PORT,
    host: Annotated[str, typer.Option("--host", help="The address to listen on.")] = "127.0.0.1",
) -> None:
    """Serve POST /add-checkpoint (C2SP tlog-witness) until interrupted.

    Example: riskops witness serve --state witness.sqlite --key witness.key
    --log riskops.example/prod=riskops.example/prod+1a2b3c4d+AR... --port 7380
    """
    from riskops.audit.witness import load_witness, make_server

    witness = load_witness(state, key, logs)
    server = make_server(witness, host, port)
    logging.getLogger("riskops.audit.witness").setLevel(logging.INFO)
    bound_host, bound_port = server.server_address[:2]
    err_console.print(
        f"witness {witness.cosigner.name} listening on http://{bound_host!s}:{bound_port} "
        f"for {', '.join(sorted(witness.logs))}"
    )
    err_console.print(f"verifier key: {witness.cosigner.verifier_key}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        err_console.print("witness stopped")
    finally:
        server.server_close()
