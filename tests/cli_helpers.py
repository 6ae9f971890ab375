"""Running the `spanqa` command line in tests, and what its error output must look like.

A plain module (not a fixture), so any test module can `from cli_helpers import ...`.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from paths import REPO


def run_main(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *args: str,
    stdin: io.StringIO | None = None,
) -> tuple[int, str, str]:
    """Run the `spanqa` command line in this process: (exit code, stdout, stderr).

    This is the real entry point (`spanqa.cli.main`, what `python -m spanqa` runs). Output
    printed before the call is discarded; `stdin`, when given, stands in for sys.stdin.
    """
    from spanqa.cli import main

    monkeypatch.setattr(sys, "argv", ["spanqa", *args])
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", stdin)
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_process(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run `python -m spanqa ARGS` in a new process, from the repository root; `env` adds to os.environ."""
    return subprocess.run(
        [sys.executable, "-m", "spanqa", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def flat(text: str) -> str:
    """Help and tables are wrapped to the terminal's width: compare with whitespace runs folded to one space."""
    return " ".join(text.split())


def assert_one_error_line(code: int, err: str, *fragments: str) -> str:
    """The command exited 2 after printing exactly one line on stderr, `error: ...`, holding every fragment.

    Returns that line.
    """
    assert code == 2, f"exit code {code}, stderr: {err!r}"
    assert "Traceback" not in err, err
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, f"not one error line: {err!r}"
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    return err.rstrip("\n")
