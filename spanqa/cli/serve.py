"""`spanqa serve`: the HTTP API and web page (uvicorn), with dynamic batching."""

from __future__ import annotations

import socket
from typing import Annotated

import typer

from spanqa.cli import app
from spanqa.cli.common import BackendOption, ModelOption, PrecisionOption, ThreadsOption, load_reader
from spanqa.errors import InputError

GRACEFUL_SHUTDOWN_SECONDS = 30


def _listen(host: str, port: int) -> socket.socket:
    """Bind the listening socket here, so a busy port is one clear error line, not a log dump."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as error:
        raise InputError(f"--host {host!r} is not a usable address ({error.strerror})") from error
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port} ({error.strerror}): pick another --port or --host") from error
    sock.set_inheritable(True)
    return sock


@app.command(
    epilog="Example: spanqa serve --model models/minilm-squad --port 8000   "
    "(then open http://127.0.0.1:8000/ , or POST JSON to /v1/answer; the API is described at /docs)"
)
def serve(
    model: ModelOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8000,
    max_batch: Annotated[int, typer.Option(help="Most questions answered in one forward pass.")] = 32,
    batch_wait_ms: Annotated[
        float, typer.Option(help="How long the first question of a batch waits for others to join, in ms.")
    ] = 5.0,
    max_queue: Annotated[
        int, typer.Option(help="Most questions waiting at once; beyond it requests get 503 with Retry-After.")
    ] = 256,
    max_context_chars: Annotated[
        int, typer.Option(help="Longest context accepted, in characters (longer: 413).")
    ] = 100_000,
    max_body_bytes: Annotated[
        int | None,
        typer.Option(help="Largest request body, in bytes (default: room for one maximal context, at least 8 MiB)."),
    ] = None,
    backend: BackendOption = "auto",
    precision: PrecisionOption = "auto",
    threads: ThreadsOption = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level: critical, error, warning, info, debug.")] = "info",
    access_log: Annotated[bool, typer.Option(help="Log one line per request.")] = True,
) -> None:
    """Serve the model over HTTP: POST /v1/answer, /v1/answer/batch, /v1/explain; a web page at /.

    Requests from many clients are batched together; on Ctrl-C or SIGTERM the server stops
    accepting connections, finishes the requests in flight and answers what is queued.
    """
    if not 0 < port < 65536:
        raise InputError(f"--port must lie in 1..65535, got {port}")
    if log_level not in ("critical", "error", "warning", "info", "debug", "trace"):
        raise InputError(f"--log-level must be critical, error, warning, info or debug, got {log_level!r}")
    import dataclasses

    import uvicorn

    from spanqa.serve.app import SERVER_LOAD_OPTIONS, ServeConfig, create_app

    limits = ServeConfig(
        max_batch=max_batch,
        batch_wait_ms=batch_wait_ms,
        max_queue=max_queue,
        max_context_chars=max_context_chars,
        max_body_bytes=max_body_bytes,
    )
    # Load before binding: a bad --model is one error line, and the port opens only when ready.
    reader = load_reader(model, backend, precision, threads, **SERVER_LOAD_OPTIONS)
    api = create_app(reader, **dataclasses.asdict(limits))
    sock = _listen(host, port)
    config = uvicorn.Config(
        api,
        host=host,
        port=port,
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    server = uvicorn.Server(config)
    shown_host = f"[{host}]" if ":" in host else host
    typer.echo(f"serving {reader.name} on http://{shown_host}:{port}/ (API docs at /docs; Ctrl-C to stop)", err=True)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    if not server.started:
        raise typer.Exit(1)
