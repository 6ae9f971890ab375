"""`spanqa serve` at its boundary: API keys, rate limits, CORS, request ids and logs, bodies that
must get their 413 under real uvicorn, TLS, and a graceful SIGTERM of the real command."""

from __future__ import annotations

import contextlib
import hmac
import http.client
import json
import logging
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from cli_helpers import assert_one_error_line, flat, run_main
from fastapi.testclient import TestClient
from paths import REPO
from test_serve import CONTEXT, REQUESTS, assert_error

from spanqa.errors import ConfigError, InputError
from spanqa.serve import auth
from spanqa.serve.app import create_app
from spanqa.serve.auth import API_KEYS_ENV, ApiKeys, load_api_keys
from spanqa.serve.drain import DrainUnreadBody
from spanqa.serve.logs import JsonFormatter, RequestIdFilter
from spanqa.serve.ratelimit import RateLimit, TokenBuckets

KEY = "test-key-0123456789abcdef"
OTHER_KEY = "other-key-fedcba9876543210"
WRONG_KEY = "wrong-key-AAAAAAAAAAAAAAAA"
TIMEOUT_S = 60.0


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def keyed(tiny_reader):
    with TestClient(create_app(tiny_reader, api_keys=[KEY, OTHER_KEY], batch_wait_ms=1)) as client:
        yield client


# ---------------------------------------------------------------------- API keys
def test_the_api_wants_a_bearer_key_and_says_how_to_send_it(keyed):
    missing = keyed.post("/v1/answer", json=REQUESTS[0])
    error = assert_error(missing, 401, kind="unauthorized")
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in error["message"]
    wrong = keyed.post("/v1/answer", json=REQUESTS[0], headers=bearer(WRONG_KEY))
    assert_error(wrong, 401, kind="unauthorized")
    assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
    for header in (f"Basic {KEY}", "Bearer", "Bearer   ", KEY):
        assert_error(keyed.post("/v1/answer", json=REQUESTS[0], headers={"Authorization": header}), 401)
    assert_error(keyed.get("/v1/model"), 401, kind="unauthorized")
    assert_error(keyed.get("/v1/no-such-endpoint"), 401)  # which paths exist is not told before the key
    for key in (KEY, OTHER_KEY):
        assert keyed.post("/v1/answer", json=REQUESTS[0], headers=bearer(key)).status_code == 200
        assert keyed.get("/v1/model", headers={"authorization": f"bearer {key}"}).status_code == 200


def test_health_ready_the_page_and_the_schema_stay_open(keyed):
    for path in ("/health", "/ready", "/", "/static/app.js", "/openapi.json", "/docs"):
        assert keyed.get(path).status_code == 200, path
    schema = keyed.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    assert schema["paths"]["/v1/answer"]["post"]["security"] == [{"apiKey": []}]
    assert "security" not in schema["paths"]["/health"]["get"]
    assert {"401", "429"} <= set(schema["paths"]["/v1/answer"]["post"]["responses"])


def test_keys_never_appear_in_logs_or_error_messages(tiny_reader, caplog):
    with caplog.at_level(logging.DEBUG), TestClient(create_app(tiny_reader, api_keys=[KEY])) as client:
        texts = [
            client.post("/v1/answer", json=REQUESTS[0], headers=bearer(WRONG_KEY)).text,
            client.post("/v1/answer", json=REQUESTS[0], headers={"Authorization": f"Basic {WRONG_KEY}"}).text,
            client.post("/v1/answer", json=REQUESTS[0], headers=bearer(KEY)).text,
            client.post("/v1/answer", json={"question": KEY}, headers=bearer(KEY)).text,
        ]
    access_lines = [r.getMessage() for r in caplog.records if r.name == "spanqa.serve.access"]
    assert len(access_lines) == 4 and any("caller=key:" in line for line in access_lines)
    for text in [*texts, caplog.text]:
        assert KEY not in text.replace(f'"question":"{KEY}"', "") and WRONG_KEY not in text
    assert repr(ApiKeys([KEY])) == "ApiKeys(1 keys)"


def test_a_key_is_compared_with_every_key_in_constant_time(monkeypatch):
    keys = ApiKeys([KEY, OTHER_KEY, "third-key-0123456789abcdef"])
    compared: list[tuple[bytes, bytes]] = []
    real_compare = hmac.compare_digest

    def counting_compare(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting_compare)
    for token in (KEY, "third-key-0123456789abcdef", WRONG_KEY, "x"):
        compared.clear()
        name = keys.identify(token)
        assert len(compared) == 3  # no early exit on a match, whichever key it is
        assert {len(a) for a, b in compared} == {len(b) for a, b in compared} == {32}  # digests: one length
        assert (name is not None) == (token in (KEY, "third-key-0123456789abcdef"))
    assert keys.identify(KEY) == keys.identify(KEY) != keys.identify(OTHER_KEY)
    assert re.fullmatch(r"key:[0-9a-f]{8}", keys.identify(KEY) or "")


def test_key_file_and_environment(tmp_path):
    key_file = tmp_path / "keys.txt"
    key_file.write_text(f"# team A\n\n  {KEY}  \n# {WRONG_KEY} (revoked)\n{OTHER_KEY}\n", encoding="utf-8")
    assert load_api_keys(key_file, {}) == [KEY, OTHER_KEY]
    assert load_api_keys(None, {API_KEYS_ENV: f" {KEY} , {OTHER_KEY},"}) == [KEY, OTHER_KEY]
    assert load_api_keys(key_file, {API_KEYS_ENV: WRONG_KEY}) == [KEY, OTHER_KEY, WRONG_KEY]
    assert load_api_keys(None, {API_KEYS_ENV: "  "}) == []
    short = tmp_path / "short.txt"
    short.write_text(f"{KEY}\nhunter2\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 2 of --api-key-file .* shorter than 16") as raised:
        load_api_keys(short, {})
    assert "hunter2" not in str(raised.value)
    with pytest.raises(InputError, match=f"key #2 of \\${API_KEYS_ENV} holds a space"):
        load_api_keys(None, {API_KEYS_ENV: f"{KEY},with space 0123456789"})
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n\n", encoding="utf-8")
    with pytest.raises(InputError, match="holds no keys"):
        load_api_keys(empty, {})
    with pytest.raises(InputError, match="does not exist"):
        load_api_keys(tmp_path / "missing.txt", {})
    with pytest.raises(ConfigError, match="no API keys"):
        ApiKeys([])


@pytest.mark.parametrize(
    ("contents", "words"),
    [
        (None, "does not exist"),
        ("# only a comment\n", "holds no keys"),
        ("short\n", "line 1 of --api-key-file"),
        (b"\xff\xfe not utf-8 0123456789\n", "not UTF-8"),
    ],
)
def test_cli_bad_key_file_is_one_error_line(monkeypatch, capsys, tmp_path, tiny_model_dir, contents, words):
    key_file = tmp_path / "keys.txt"
    if isinstance(contents, bytes):
        key_file.write_bytes(contents)
    elif contents is not None:
        key_file.write_text(contents, encoding="utf-8")
    monkeypatch.delenv(API_KEYS_ENV, raising=False)
    code, _, err = run_main(
        monkeypatch, capsys, "serve", "--model", str(tiny_model_dir), "--api-key-file", str(key_file), "--port", "0"
    )
    line = assert_one_error_line(code, err, words)
    assert "short" not in line.replace("shorter", "")


# ---------------------------------------------------------------------- rate limits
def test_token_bucket_bursts_refills_and_says_when_to_come_back():
    now = [1000.0]
    buckets = TokenBuckets(RateLimit.parse("2/s", burst=3), clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(4)] == [0, 0, 0, 1]  # a burst of 3, then wait
    assert buckets.take("b") == 0  # every client has its own bucket
    now[0] += 0.5  # one token back
    assert buckets.take("a") == 0 and buckets.take("a") == 1
    slow = TokenBuckets(RateLimit.parse("6/min"), clock=lambda: now[0])
    assert [slow.take("a") for _ in range(6)] == [0] * 6
    assert slow.take("a") == 10  # whole seconds until the next token: 60 / 6
    assert RateLimit.parse("600/min") == RateLimit(per_second=10.0, burst=600)
    assert RateLimit.parse("5000 / h").burst == 5000


def test_token_buckets_stay_bounded_whatever_the_number_of_clients():
    now = [0.0]
    buckets = TokenBuckets(RateLimit.parse("1/s", burst=1), clock=lambda: now[0], max_buckets=100)
    for address in range(1000):
        buckets.take(f"addr:10.0.{address // 256}.{address % 256}")
        now[0] += 0.01
    assert len(buckets) <= 100
    assert buckets.take("addr:10.0.3.231") == 1  # the most recent clients are remembered


@pytest.mark.parametrize("text", ["10", "ten/s", "10/fortnight", "0/s", "-1/s", "10/s/s", ""])
def test_bad_rate_limits_are_refused(text):
    with pytest.raises(ConfigError, match="rate_limit"):
        RateLimit.parse(text)


def test_over_the_rate_limit_is_429_with_retry_after_per_key(tiny_reader):
    app = create_app(tiny_reader, api_keys=[KEY, OTHER_KEY], rate_limit="2/min", batch_wait_ms=1)
    with TestClient(app) as client:
        for _ in range(2):
            assert client.post("/v1/answer", json=REQUESTS[0], headers=bearer(KEY)).status_code == 200
        limited = client.post("/v1/answer", json=REQUESTS[0], headers=bearer(KEY))
        error = assert_error(limited, 429, kind="rate_limited")
        assert limited.headers["Retry-After"].isdigit() and 1 <= int(limited.headers["Retry-After"]) <= 30
        assert "retry after" in error["message"]
        assert client.get("/v1/model", headers=bearer(OTHER_KEY)).status_code == 200  # its own bucket
        assert client.get("/health").status_code == 200  # never limited
        assert client.get("/ready").status_code == 200


def test_without_keys_the_limit_is_per_client_address(tiny_reader):
    with TestClient(create_app(tiny_reader, rate_limit="1/min")) as client:
        assert client.get("/v1/model").status_code == 200
        assert_error(client.get("/v1/model"), 429, kind="rate_limited")


# ---------------------------------------------------------------------- CORS
def test_no_cross_origin_access_by_default(keyed):
    response = keyed.get("/v1/model", headers={"Origin": "https://evil.example", **bearer(KEY)})
    assert response.status_code == 200 and "access-control-allow-origin" not in response.headers


def test_allowed_origins_get_cors_headers_and_preflights_need_no_key(tiny_reader):
    app = create_app(tiny_reader, api_keys=[KEY], cors_origins=["https://app.example", "http://localhost:3000"])
    with TestClient(app) as client:
        preflight = client.options(
            "/v1/answer",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        origin = {"Origin": "http://localhost:3000"}
        answered = client.post("/v1/answer", json=REQUESTS[0], headers={**origin, **bearer(KEY)})
        assert answered.headers["access-control-allow-origin"] == "http://localhost:3000"
        assert "x-request-id" in answered.headers["access-control-expose-headers"].lower()
        refused = client.post("/v1/answer", json=REQUESTS[0], headers={"Origin": "https://app.example"})
        assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == "https://app.example"
        other = client.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize("origin", ["app.example", "https://app.example/", "https://app.example/page", "ftp://x"])
def test_bad_cors_origins_are_refused(tiny_reader, origin):
    with pytest.raises(ConfigError, match="is not an origin"):
        create_app(tiny_reader, cors_origins=[origin])


# ---------------------------------------------------------------------- request ids and logs
def test_request_ids_are_echoed_or_made_and_logged(tiny_reader, caplog):
    with caplog.at_level(logging.INFO, logger="spanqa.serve.access"), TestClient(create_app(tiny_reader)) as client:
        chosen = client.get("/health", headers={"X-Request-ID": "trace-42.a:b/c"})
        assert chosen.headers["X-Request-ID"] == "trace-42.a:b/c"
        made = [client.get("/health").headers["X-Request-ID"] for _ in range(2)]
        assert made[0] != made[1] and all(re.fullmatch(r"[0-9a-f]{32}", m) for m in made)
        for insane in ("has space", "x" * 129, 'quote"d', "new\\nline"):
            replaced = client.get("/health", headers={"X-Request-ID": insane}).headers["X-Request-ID"]
            assert re.fullmatch(r"[0-9a-f]{32}", replaced)
        error = client.post("/v1/answer", json={"question": "?"}, headers={"X-Request-ID": "mine-1"})
        assert error.headers["X-Request-ID"] == "mine-1" and error.json()["error"]["request_id"] == "mine-1"
        client.post("/v1/nothing%0A/injected", json={})
    records = [r for r in caplog.records if r.name == "spanqa.serve.access"]
    assert any("id=trace-42.a:b/c" in r.getMessage() and '"GET /health" 200' in r.getMessage() for r in records)
    assert any(r.request_id == "mine-1" and r.status == 422 for r in records)
    assert all("\n" not in r.getMessage() for r in records)  # a crafted path cannot forge a log line


def test_json_log_lines(tiny_reader):
    stream = __import__("io").StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("spanqa.serve.access")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        with TestClient(create_app(tiny_reader)) as client:
            client.post("/v1/answer", json=REQUESTS[0], headers={"X-Request-ID": "json-1"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["request_id"] == "json-1" and line["status"] == 200 and line["path"] == "/v1/answer"
    assert line["method"] == "POST" and line["level"] == "info" and line["duration_ms"] >= 0


def test_an_unexpected_failure_is_a_json_500_with_the_request_id(tiny_reader):
    app = create_app(tiny_reader)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"X-Request-ID": "boom-1"})
    error = assert_error(response, 500, kind="internal_error")
    assert error["request_id"] == "boom-1" and "secret" not in response.text


# ---------------------------------------------------------------------- bodies under real uvicorn
@contextlib.contextmanager
def uvicorn_serving(app: Any) -> Iterator[int]:
    """`app` under real uvicorn in a thread, on a free loopback port (yielded)."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + TIMEOUT_S
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def raw_exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send all of `request` before reading anything, then read the answer to its end."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as conn:
        conn.sendall(request)
        conn.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


@pytest.fixture(scope="module")
def real_server(tiny_reader):
    app = create_app(tiny_reader, api_keys=[KEY], batch_wait_ms=1)
    with uvicorn_serving(app) as port:
        yield port


TEN_MB_BODY = b'{"question": "Who?", "context": "' + b"x" * 10_000_000 + b'"}'


def test_urllib_sending_10_mb_reads_the_413(real_server):
    request = urllib.request.Request(
        f"http://127.0.0.1:{real_server}/v1/answer",
        data=TEN_MB_BODY,
        headers={"Content-Type": "application/json", **bearer(KEY)},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=TIMEOUT_S)
    assert refused.value.code == 413
    error = json.loads(refused.value.read())["error"]
    assert error["type"] == "body_too_large" and "8,388,608 bytes" in error["message"]


def test_urllib_without_a_key_reads_the_401_even_with_a_big_body(real_server):
    request = urllib.request.Request(
        f"http://127.0.0.1:{real_server}/v1/answer", data=TEN_MB_BODY, headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=TIMEOUT_S)
    assert refused.value.code == 401 and json.loads(refused.value.read())["error"]["type"] == "unauthorized"


def test_a_client_that_sends_everything_first_reads_the_413(real_server):
    head = (
        f"POST /v1/answer HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {KEY}\r\nContent-Length: {len(TEN_MB_BODY)}\r\n\r\n"
    ).encode()
    status, headers, body = raw_exchange(real_server, head + TEN_MB_BODY)
    assert status == 413 and json.loads(body)["error"]["type"] == "body_too_large"
    assert headers["connection"] == "close" and headers["x-request-id"]
    # chunked: no Content-Length, caught while it streams in, and still answered
    chunk = b"y" * 1_000_000
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(10)) + b"0\r\n\r\n"
    head = (
        f"POST /v1/answer HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {KEY}\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    status, _, body = raw_exchange(real_server, head + chunks)
    assert status == 413 and json.loads(body)["error"]["type"] == "body_too_large"
    # and the server still answers well-behaved requests
    answered = httpx.post(f"http://127.0.0.1:{real_server}/v1/answer", json=REQUESTS[0], headers=bearer(KEY))
    assert answered.status_code == 200


def test_a_refused_small_body_keeps_the_connection_alive(real_server):
    connection = http.client.HTTPConnection("127.0.0.1", real_server, timeout=TIMEOUT_S)
    try:
        body = json.dumps(REQUESTS[0])
        connection.request("POST", "/v1/answer", body=body, headers={"Content-Type": "application/json"})
        first = connection.getresponse()
        assert first.status == 401 and first.getheader("connection") != "close"
        first.read()
        connection.request("POST", "/v1/answer", body=body, headers={"Content-Type": "application/json", **bearer(KEY)})
        assert connection.getresponse().status == 200  # the same connection: the 401's body was read in full
    finally:
        connection.close()


def test_drain_stops_at_its_bounds():
    """A body declared over the drain bound is not read at all: the answer says Connection: close."""
    sent: list[dict[str, Any]] = []
    received: list[int] = []

    async def early_answer(scope, receive, send):
        await send({"type": "http.response.start", "status": 413, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive():
        received.append(1)
        return {"type": "http.request", "body": b"x" * 100, "more_body": True}

    async def send(message):
        sent.append(message)

    async def run(content_length: str) -> None:
        sent.clear()
        received.clear()
        scope = {"type": "http", "method": "POST", "headers": [(b"content-length", content_length.encode())]}
        await DrainUnreadBody(early_answer, max_bytes=1000, max_seconds=5)(scope, receive, send)

    anyio.run(run, "1000000")
    assert received == [] and (b"connection", b"close") in sent[0]["headers"]
    anyio.run(run, "900")  # within the bound, but the client never stops: read up to the bound, then close
    assert len(received) == 11 and (b"connection", b"close") in sent[0]["headers"]


# ---------------------------------------------------------------------- the real command: TLS, SIGTERM
class ServeProcess:
    """`python -m spanqa serve ... --port 0` in a subprocess; its stderr collected by a thread."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(env or {})}
        environment["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), environment.get("PYTHONPATH", "")) if p)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "spanqa", "serve", "--port", "0", *args],
            cwd=REPO,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.url: str | None = None
        self._found = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            match = re.search(r"serving \S+ on (https?://[\d.]+:\d+)/", line)
            if match and self.url is None:
                self.url = match.group(1)
                self._found.set()
        self._found.set()

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def wait_started(self, verify: Any = True) -> str:
        assert self._found.wait(TIMEOUT_S * 2) and self.url, f"the server did not start:\n{self.stderr}"
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            try:
                if httpx.get(self.url + "/ready", verify=verify, timeout=5).status_code == 200:
                    return self.url
            except httpx.TransportError:
                pass
            assert self.process.poll() is None, f"the server exited:\n{self.stderr}"
            assert time.monotonic() < deadline, f"the server was never ready:\n{self.stderr}"
            time.sleep(0.1)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(10)
        self._reader.join(10)
        return code


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a self-signed certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
            *("-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.slow
def test_https_with_keys_and_json_logs(tiny_model_dir, certificate):
    cert, key = certificate
    server = ServeProcess(
        "--model", str(tiny_model_dir), "--ssl-certfile", str(cert), "--ssl-keyfile", str(key),
        "--log-format", "json", env={API_KEYS_ENV: f"{KEY},{OTHER_KEY}"},
    )  # fmt: skip
    try:
        trust = ssl.create_default_context(cafile=str(cert))
        url = server.wait_started(verify=trust)
        assert url.startswith("https://127.0.0.1:")
        answered = httpx.post(url + "/v1/answer", json=REQUESTS[0], headers=bearer(KEY), verify=trust, timeout=30)
        assert answered.status_code == 200 and answered.json()["answers"]
        refused = httpx.post(url + "/v1/answer", json=REQUESTS[0], headers=bearer(WRONG_KEY), verify=trust)
        assert refused.status_code == 401
        with pytest.raises(httpx.ConnectError):  # a client that does not trust the certificate
            httpx.get(url + "/health", timeout=10)
        with pytest.raises(httpx.RemoteProtocolError):  # plain HTTP on the TLS port
            httpx.get(url.replace("https://", "http://") + "/health", timeout=10)
    finally:
        code = server.stop()
    assert code == 0, server.stderr
    lines = [json.loads(line) for line in server.lines]  # every line a JSON object
    assert any("on https://127.0.0.1:" in line["message"] and "2 API keys" in line["message"] for line in lines)
    access = [line for line in lines if line["logger"] == "spanqa.serve.access"]
    assert {(a["path"], a["status"]) for a in access} >= {("/v1/answer", 200), ("/v1/answer", 401)}
    assert all(a["request_id"] for a in access)
    assert KEY not in server.stderr and WRONG_KEY not in server.stderr


@pytest.mark.parametrize(
    ("which", "words"),
    [
        ("cert only", "--ssl-certfile needs --ssl-keyfile"),
        ("key only", "--ssl-keyfile needs --ssl-certfile"),
        ("missing", "does not exist"),
        ("swapped", "cannot use --ssl-certfile"),
    ],
)
def test_cli_bad_tls_options_are_one_error_line(
    monkeypatch, capsys, tmp_path, tiny_model_dir, certificate, which, words
):
    cert, key = certificate
    options = {
        "cert only": ["--ssl-certfile", str(cert)],
        "key only": ["--ssl-keyfile", str(key)],
        "missing": ["--ssl-certfile", str(tmp_path / "nope.pem"), "--ssl-keyfile", str(key)],
        "swapped": ["--ssl-certfile", str(key), "--ssl-keyfile", str(cert)],
    }[which]
    code, _, err = run_main(monkeypatch, capsys, "serve", "--model", str(tiny_model_dir), "--port", "0", *options)
    assert_one_error_line(code, err, words)


@pytest.mark.slow
def test_sigterm_finishes_the_request_in_flight_refuses_new_connections_and_exits_0(tiny_model_dir):
    server = ServeProcess("--model", str(tiny_model_dir))
    try:
        url = server.wait_started()
        port = int(url.rsplit(":", 1)[1])
        body = json.dumps(REQUESTS[0]).encode()
        conn = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
        # Expect: 100-continue: the server's "100 Continue" proves the request is in the app, waiting for its body.
        conn.sendall(
            f"POST /v1/answer HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode()
        )
        assert conn.recv(1024).startswith(b"HTTP/1.1 100 Continue")
        server.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + TIMEOUT_S
        while True:  # the listening socket closes while the request is still in flight
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
            except ConnectionRefusedError:
                break
            assert time.monotonic() < deadline, "new connections were still accepted after SIGTERM"
            time.sleep(0.05)
        assert server.process.poll() is None  # still draining: it waits for our body
        conn.sendall(body)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
        conn.close()
        head, _, payload = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), received[:500]
        assert json.loads(payload)["answers"][0]["answer"] in CONTEXT
    finally:
        code = server.stop()
    assert code == 0, server.stderr
    assert "Traceback" not in server.stderr


# ---------------------------------------------------------------------- CLI
def test_cli_help_lists_the_security_options(monkeypatch, capsys):
    code, out, _ = run_main(monkeypatch, capsys, "serve", "--help")
    assert code == 0
    for option in (
        "--api-key-file", "SPANQA_API_KEYS", "--rate-limit", "--rate-burst", "--cors-origin", "--ssl-certfile",
        "--ssl-keyfile", "--forwarded-allow-ips", "--log-format",
    ):  # fmt: skip
        assert option in flat(out), option


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--rate-limit", "lots"], "rate_limit 'lots' is not a rate"),
        (["--rate-burst", "5"], "rate_burst needs a rate_limit"),
        (["--cors-origin", "example.com"], "is not an origin"),
        (["--log-format", "xml"], "--log-format must be text or json"),
        (["--forwarded-allow-ips", "my-proxy"], "is not an IP address"),
        (["--port", "-1"], "--port must lie in 0..65535"),
    ],
)
def test_cli_bad_security_options_are_one_error_line(monkeypatch, capsys, tiny_model_dir, args, words):
    code, _, err = run_main(monkeypatch, capsys, "serve", "--model", str(tiny_model_dir), *args)
    assert_one_error_line(code, err, words)


def test_cli_key_in_the_environment_must_be_long(monkeypatch, capsys, tiny_model_dir):
    monkeypatch.setenv(API_KEYS_ENV, "tooshort")
    code, _, err = run_main(monkeypatch, capsys, "serve", "--model", str(tiny_model_dir), "--port", "0")
    line = assert_one_error_line(code, err, f"key #1 of ${API_KEYS_ENV}", "shorter than 16")
    assert "tooshort" not in line
