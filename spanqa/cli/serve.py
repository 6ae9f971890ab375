"""`spanqa serve`: the HTTP API and web page (uvicorn), with dynamic batching, keys, limits and TLS."""

from __future__ import annotations

import ipaddress
import signal
import socket
import ssl
from pathlib import Path
from typing import Annotated

import typer

from spanqa.cli import app
from spanqa.cli.common import BackendOption, ModelOption, PrecisionOption, ThreadsOption, load_reader
from spanqa.errors import InputError

GRACEFUL_SHUTDOWN_SECONDS = 30
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def _check_tls(certfile: Path | None, keyfile: Path | None) -> None:
    """Both or neither; both readable and a matching pair: one clear error line, not uvicorn's traceback."""
    if (certfile is None) != (keyfile is None):
        given, missing = ("--ssl-certfile", "--ssl-keyfile") if keyfile is None else ("--ssl-keyfile", "--ssl-certfile")
        raise InputError(f"{given} needs {missing} too: give both the certificate and its private key, or neither")
    if certfile is None or keyfile is None:
        return
    for option, path in (("--ssl-certfile", certfile), ("--ssl-keyfile", keyfile)):
        if not path.is_file():
            raise InputError(f"{option} {path} does not exist or is not a file: check the path")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (ssl.SSLError, OSError) as error:
        reason = getattr(error, "reason", None) or getattr(error, "strerror", None) or str(error)
        raise InputError(
            f"cannot use --ssl-certfile {certfile} with --ssl-keyfile {keyfile} ({reason}): give a PEM "
            "certificate and the unencrypted PEM private key that belongs to it"
        ) from error


def _check_forwarded_allow_ips(value: str) -> str:
    for part in (p.strip() for p in value.split(",")):
        if part == "*":
            continue
        try:
            ipaddress.ip_network(part, strict=False)
        except ValueError as error:
            raise InputError(
                f"--forwarded-allow-ips {value!r}: {part!r} is not an IP address or network "
                "(give the proxy's addresses, comma-separated, e.g. 127.0.0.1,10.0.0.0/8)"
            ) from error
    return value


def _say(level: str, message: str) -> None:
    typer.echo(message if level == "info" else f"{level}: {message}", err=True)


def _say_as_json(level: str, message: str) -> None:
    """With --log-format json every line on stderr is a JSON object, these too (uvicorn set up the logging)."""
    import logging

    logging.getLogger("spanqa.serve").log(logging.getLevelName(level.upper()), message)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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


def _holds_classifier(model: str | None) -> bool:
    """Whether --model / --classifier names a local folder holding a text classifier (None: the default reader)."""
    from spanqa.model.folder import local_folder, model_task

    folder = None if model is None else local_folder(model)
    return folder is not None and model_task(folder) == "classify"


@app.command(
    epilog="Example: spanqa serve --model models/minilm-squad --port 8000   "
    "(then open http://127.0.0.1:8000/ , or POST JSON to /v1/answer; the API is described at /docs).   "
    "With keys, a rate limit and TLS: SPANQA_API_KEYS=$(cat keys.txt | paste -sd,) spanqa serve --host 0.0.0.0 "
    "--rate-limit 10/s --ssl-certfile cert.pem --ssl-keyfile key.pem   "
    "Over your documents: spanqa index ~/papers --index papers.index && spanqa serve --index papers.index   "
    "With a text classifier too (POST /v1/classify): spanqa serve --model READER_DIR --classifier CLASSIFIER_DIR"
)
def serve(
    model: ModelOption = None,
    index: Annotated[
        Path | None,
        typer.Option(
            "--index",
            help="An index folder made by `spanqa index`: adds POST /v1/ask (questions over those documents, "
            "answers cited by file and page) and a documents mode in the web page.",
        ),
    ] = None,
    classifier: Annotated[
        str | None,
        typer.Option(
            "--classifier",
            help="A text-classification folder (`spanqa train --task classify`): adds POST /v1/classify beside the "
            "reader. A classifier given as --model is served alone.",
        ),
    ] = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on (default: this machine only; 0.0.0.0: every interface).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on (0: any free port, printed at start).")] = 8000,
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
    api_key_file: Annotated[
        Path | None,
        typer.Option(
            help="File of API keys, one per line ('#' comments and blank lines skipped); with keys, every /v1/ "
            "request needs 'Authorization: Bearer KEY'. Keys in $SPANQA_API_KEYS (comma-separated) count too."
        ),
    ] = None,
    rate_limit: Annotated[
        str | None,
        typer.Option(help="Requests allowed per API key (per client address without keys), e.g. 10/s or 600/min."),
    ] = None,
    rate_burst: Annotated[
        int | None,
        typer.Option(help="Requests a client may send at once before --rate-limit applies (default: its count)."),
    ] = None,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            help="A web origin whose pages may call the API, e.g. https://app.example.com "
            "(repeatable; none by default)."
        ),
    ] = None,
    ssl_certfile: Annotated[
        Path | None, typer.Option(help="PEM certificate: serve HTTPS (needs --ssl-keyfile).")
    ] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(help="PEM private key of --ssl-certfile.")] = None,
    forwarded_allow_ips: Annotated[
        str,
        typer.Option(
            help="Proxies whose X-Forwarded-For/-Proto headers are believed (comma-separated addresses or networks, "
            "* for any); other clients' are ignored."
        ),
    ] = "127.0.0.1",
    log_level: Annotated[str, typer.Option(help="Log level: critical, error, warning, info, debug.")] = "info",
    log_format: Annotated[str, typer.Option(help="Log lines as text or json (one JSON object per line).")] = "text",
    access_log: Annotated[bool, typer.Option(help="Log one line per request (with its request id).")] = True,
) -> None:
    """Serve the model over HTTP: POST /v1/answer, /v1/answer/batch, /v1/explain (and /v1/ask with --index,
    /v1/classify with --classifier or a classifier as --model); a web page at /.

    Requests from many clients are batched together; on Ctrl-C or SIGTERM the server stops
    accepting connections, finishes the requests in flight, answers what is queued and exits
    (code 0 after SIGTERM).
    """
    if not 0 <= port < 65536:
        raise InputError(f"--port must lie in 0..65535, got {port}")
    if log_level not in LOG_LEVELS:
        raise InputError(f"--log-level must be critical, error, warning, info or debug, got {log_level!r}")
    if log_format not in ("text", "json"):
        raise InputError(f"--log-format must be text or json, got {log_format!r}")
    _check_tls(ssl_certfile, ssl_keyfile)
    _check_forwarded_allow_ips(forwarded_allow_ips)
    import dataclasses

    import uvicorn

    from spanqa.serve.app import SERVER_LOAD_OPTIONS, ServeConfig, create_app
    from spanqa.serve.auth import API_KEYS_ENV, ApiKeys, load_api_keys
    from spanqa.serve.logs import log_config
    from spanqa.serve.served_index import ServedIndex

    limits = ServeConfig(
        max_batch=max_batch,
        batch_wait_ms=batch_wait_ms,
        max_queue=max_queue,
        max_context_chars=max_context_chars,
        max_body_bytes=max_body_bytes,
        rate_limit=rate_limit,
        rate_burst=rate_burst,
        cors_origins=tuple(cors_origin or ()),
    )
    keys = load_api_keys(api_key_file)
    api_keys = ApiKeys(keys) if keys else None
    # Open and load before binding: a bad --index or --model is one error line, and the port opens only when ready.
    model_is_classifier = _holds_classifier(model)
    if model_is_classifier and classifier is not None:
        raise InputError(
            f"--model {model} is a text classifier, and --classifier gives another: serve a reader with "
            "--model READER_DIR --classifier CLASSIFIER_DIR, or a classifier alone with --model CLASSIFIER_DIR"
        )
    if classifier is not None and not _holds_classifier(classifier) and Path(classifier).is_dir():
        raise InputError(
            f"--classifier {classifier} is a question-answering model, not a text classifier: serve it with "
            f"--model {classifier}, and give --classifier a folder trained with `spanqa train --task classify`"
        )
    documents = None if index is None else ServedIndex.open(index)
    served_classifier = None
    if model_is_classifier or classifier is not None:
        from spanqa.classify import Classifier

        served_classifier = Classifier.load(
            model if model_is_classifier else classifier,
            backend=backend,
            precision=precision,
            threads=threads,
            **SERVER_LOAD_OPTIONS,
        )
    reader = None if model_is_classifier else load_reader(model, backend, precision, threads, **SERVER_LOAD_OPTIONS)
    api = create_app(
        served_classifier if reader is None else reader,
        **dataclasses.asdict(limits),
        api_keys=api_keys,
        access_log=access_log,
        index=documents,
        classifier=None if reader is None else served_classifier,
    )
    sock = _listen(host, port)
    config = uvicorn.Config(
        api,
        host=host,
        port=port,
        log_level=log_level,
        log_config=log_config(log_level, log_format),  # type: ignore[arg-type]
        access_log=False,  # spanqa writes its own access lines, with the request id (serve/requestlog.py)
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
    )
    server = uvicorn.Server(config)
    shown_host = f"[{host}]" if ":" in host else host
    scheme = "https" if ssl_certfile else "http"
    bound_port = sock.getsockname()[1]
    security = f"{len(api_keys)} API keys" if api_keys else "no API keys"
    documents_note = "" if documents is None else f"documents of {index} at POST /v1/ask; "
    if served_classifier is not None:
        documents_note += f"classifier {served_classifier.name} at POST /v1/classify; "
    served = (served_classifier if reader is None else reader).name  # type: ignore[union-attr]
    say = _say_as_json if log_format == "json" else _say
    say(
        "info",
        f"serving {served} on {scheme}://{shown_host}:{bound_port}/ "
        f"({security}; {documents_note}API docs at /docs; Ctrl-C to stop)",
    )
    if api_keys is None and not _is_loopback(host):
        say(
            "warning",
            f"{host} is reachable from other machines and the server has no API keys: anyone who can reach "
            f"port {bound_port} can use it (give --api-key-file or ${API_KEYS_ENV})",
        )
    # uvicorn re-raises SIGTERM after its graceful shutdown, which would end the process with the
    # signal; a shutdown that drained everything is a clean exit, so the re-raised one is ignored.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        server.run(sockets=[sock])
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
        if documents is not None:
            documents.close()
    if not server.started:
        raise typer.Exit(1)
