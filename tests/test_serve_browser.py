"""The web page in a real headless Chromium: type a question, click Ask, read the highlighted answer.

Chromium is driven with the DevTools protocol over --remote-debugging-pipe (JSON messages ended
by NUL on file descriptors 3 and 4), so the test needs no Python package beyond the standard
library, and no browser download: it uses Debian's /usr/bin/chromium and skips without it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-pipe",
]
CONTEXT = "The Eiffel Tower was built by Gustave Eiffel in Paris. It opened in 1889 for the World's Fair."
QUESTION = "Who built the Eiffel Tower?"
TIMEOUT_S = 60.0
# Chromium reads the protocol from fd 3 and writes to fd 4: move the pipe ends there, then exec.
TRAMPOLINE = (
    "import os, sys; r, w = int(sys.argv[1]), int(sys.argv[2]); os.dup2(r, 3); os.dup2(w, 4); "
    "os.close(r); os.close(w); os.execv(sys.argv[3], sys.argv[3:])"
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium)"
    ),
]


class DevTools:
    """A minimal Chrome DevTools Protocol client over Chromium's debugging pipe."""

    def __init__(self, user_data_dir: Path) -> None:
        to_browser_read, to_browser_write = os.pipe()
        from_browser_read, from_browser_write = os.pipe()
        # Copies above 9, so that moving them onto 3 and 4 in the child never clobbers one another.
        child_read = fcntl.fcntl(to_browser_read, fcntl.F_DUPFD, 10)
        child_write = fcntl.fcntl(from_browser_write, fcntl.F_DUPFD, 10)
        os.close(to_browser_read)
        os.close(from_browser_write)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                TRAMPOLINE,
                str(child_read),
                str(child_write),
                str(CHROMIUM),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={user_data_dir}",
                "about:blank",
            ],
            pass_fds=(child_read, child_write),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(child_read)
        os.close(child_write)
        self.write_fd, self.read_fd = to_browser_write, from_browser_read
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self.read_fd], [], [], remaining)
            if ready:
                chunk = os.read(self.read_fd, 1 << 16)
                if not chunk:
                    raise RuntimeError(f"Chromium closed the pipe (exit code {self.process.poll()})")
                self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method} failed: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError, TimeoutError):
            self.call("Browser.close")
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        os.close(self.write_fd)
        os.close(self.read_fd)


class Page:
    def __init__(self, devtools: DevTools, url: str) -> None:
        self.devtools = devtools
        target = devtools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = devtools.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Runtime.enable")
        self.call("Page.enable")
        self.call("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete' && document.getElementById('ask') !== null")

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.devtools.call(method, params, self.session)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while not self.evaluate(f"Boolean({expression})"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the page never satisfied {expression!r}")
            time.sleep(0.05)

    def type_into(self, element_id: str, text: str) -> None:
        self.evaluate(f"document.getElementById({element_id!r}).focus()")
        self.evaluate(f"document.getElementById({element_id!r}).select()")
        self.call("Input.insertText", {"text": text})

    def click(self, element_id: str) -> None:
        box = self.evaluate(
            f"(() => {{ const e = document.getElementById({element_id!r}); e.scrollIntoView({{block: 'center'}});"
            " const r = e.getBoundingClientRect();"
            " return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()"
        )
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": box["x"], "y": box["y"], "button": "left", "clickCount": 1},
            )

    def exceptions(self) -> list[dict[str, Any]]:
        return [e for e in self.devtools.events if e.get("method") == "Runtime.exceptionThrown"]


@contextlib.contextmanager
def serving(app):
    """`app` under a real uvicorn on a free port, in a thread: yields its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + TIMEOUT_S
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@contextlib.contextmanager
def browsing(url: str, profile: Path):
    devtools = DevTools(profile)
    try:
        yield Page(devtools, url)
    finally:
        devtools.close()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def server_url(tiny_reader):
    from spanqa.serve.app import create_app

    with serving(create_app(tiny_reader)) as url:
        yield url


@pytest.fixture(scope="module")
def page(server_url, tmp_path_factory):
    with browsing(server_url, tmp_path_factory.mktemp("chromium-profile")) as opened:
        yield opened


@pytest.fixture(scope="module")
def documents_server_url(tiny_reader, tmp_path_factory):
    from served_documents import build_library_index

    from spanqa.serve.app import create_app

    index = build_library_index(tmp_path_factory.mktemp("browser-documents"))
    with serving(create_app(tiny_reader, index=index)) as url:
        yield url


@pytest.fixture(scope="module")
def documents_page(documents_server_url, tmp_path_factory):
    with browsing(documents_server_url, tmp_path_factory.mktemp("chromium-profile-documents")) as opened:
        yield opened


def test_ask_in_the_page_highlights_the_api_answer(page, server_url):
    page.type_into("context", CONTEXT)
    page.type_into("question", QUESTION)
    top_k = int(page.evaluate("document.getElementById('top-k').value"))
    page.click("ask")
    page.wait_for(
        "!document.getElementById('results').hidden || document.getElementById('status').classList.contains('error')"
    )
    assert page.evaluate("document.getElementById('results').hidden") is False, page.evaluate(
        "document.getElementById('status').textContent"
    )

    expected = httpx.post(
        server_url + "v1/answer", json={"question": QUESTION, "context": CONTEXT, "top_k": top_k}, timeout=30
    ).json()["answers"]
    best = page.evaluate("document.querySelector('#highlighted mark.rank-1').textContent")
    assert best == expected[0]["answer"] == CONTEXT[expected[0]["start"] : expected[0]["end"]]
    listed = page.evaluate("[...document.querySelectorAll('#answers .answer-text')].map(e => e.textContent)")
    assert listed == [a["answer"] for a in expected]
    assert page.evaluate("document.getElementById('highlighted').textContent") == CONTEXT
    assert page.evaluate("document.getElementById('heat-start').textContent") == CONTEXT
    explained = httpx.post(server_url + "v1/explain", json={"question": QUESTION, "context": CONTEXT}, timeout=30)
    shaded = page.evaluate("[...document.querySelectorAll('#heat-end .tok')].map(e => e.textContent)")
    assert shaded == [t["text"] for t in explained.json()["tokens"]]
    assert page.exceptions() == []


def test_page_shows_the_api_error_message(page):
    page.type_into("question", "   ")
    page.click("ask")
    page.wait_for("document.getElementById('status').classList.contains('error')")
    assert "question is empty" in page.evaluate("document.getElementById('status').textContent")
    assert page.exceptions() == []


def test_page_without_an_index_has_no_documents_mode(page):
    assert page.evaluate("document.getElementById('mode-row').hidden") is True
    assert page.evaluate("document.getElementById('context-row').hidden") is False


DOCUMENTS_QUESTION = "In what year was Nikola Tesla born in the Austrian Empire?"


def test_documents_mode_shows_file_page_and_the_answer_marked_in_its_passage(documents_page, documents_server_url):
    page = documents_page
    page.wait_for("!document.getElementById('mode-row').hidden")
    assert page.evaluate("document.getElementById('mode-documents').checked") is True
    assert page.evaluate("document.getElementById('context-row').hidden") is True
    assert "3 files" in page.evaluate("document.getElementById('index-summary').textContent")
    page.type_into("question", DOCUMENTS_QUESTION)
    page.type_into("passages", "1")  # only the best passage is read: the Tesla page of the PDF
    top_k = int(page.evaluate("document.getElementById('top-k').value"))
    passages = int(page.evaluate("document.getElementById('passages').value"))
    page.click("ask")
    page.wait_for(
        "!document.getElementById('doc-results').hidden"
        " || document.getElementById('status').classList.contains('error')"
    )
    assert page.evaluate("document.getElementById('doc-results').hidden") is False, page.evaluate(
        "document.getElementById('status').textContent"
    )
    assert page.evaluate("document.getElementById('results').hidden") is True

    expected = httpx.post(
        documents_server_url + "v1/ask",
        json={"question": DOCUMENTS_QUESTION, "top_k": top_k, "passages": passages},
        timeout=30,
    ).json()["answers"]
    shown = page.evaluate(
        "[...document.querySelectorAll('#doc-answers li.doc-answer')].map(li => ({"
        " text: li.querySelector('.answer-text').textContent,"
        " where: li.querySelector('.where') && li.querySelector('.where').textContent,"
        " passage: li.querySelector('.passage') && li.querySelector('.passage').textContent,"
        " marked: li.querySelector('.passage mark') && li.querySelector('.passage mark').textContent }))"
    )
    assert len(shown) == len(expected) > 0
    for item, answer in zip(shown, expected, strict=True):
        if answer["no_answer"]:
            assert item["where"] is None
            continue
        file = Path(answer["path"]).name
        assert item["where"] == (f"{file}:{answer['page']}" if answer["page"] is not None else file)
        assert item["text"] == item["marked"] == answer["answer"]
        assert item["passage"] == answer["passage"]
    assert {item["where"] for item in shown} - {None} == {"report.pdf:2"}
    assert page.exceptions() == []


def test_documents_mode_can_switch_back_to_a_pasted_text(documents_page):
    page = documents_page
    page.click("mode-text")
    page.wait_for("!document.getElementById('context-row').hidden")
    assert page.evaluate("document.getElementById('passages-row').hidden") is True
    page.click("mode-documents")
    page.wait_for("document.getElementById('context-row').hidden")
    assert page.exceptions() == []
