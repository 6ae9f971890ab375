"""The `spanqa` package itself: importing it stays light."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "onnxruntime", "fastapi")


@pytest.mark.slow
def test_import_spanqa_loads_no_heavy_library() -> None:
    """`import spanqa` (and touching Reader and ReaderSettings) loads no model runtime and no web server;
    they load when a model is loaded or a server is started."""
    code = (
        "import json, sys; import spanqa; "
        "reader_class = spanqa.Reader; reader_class.load; reader_class.ask; "
        "settings = spanqa.ReaderSettings(top_k=3).replace(max_answer_len=5); "
        f"print(json.dumps([reader_class.__name__, settings.top_k, settings.max_answer_len, "
        f"[name for name in {HEAVY!r} if name in sys.modules]]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    name, top_k, max_answer_len, loaded = json.loads(result.stdout)
    assert (name, top_k, max_answer_len) == ("Reader", 3, 5)
    assert loaded == [], f"import spanqa loaded {loaded}"
