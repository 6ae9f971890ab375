"""`spanqa serve`: an HTTP API and a web page over a Reader.

    from spanqa.serve import create_app
    app = create_app(reader)            # or create_app("path/to/model"): loaded at startup

FastAPI loads when `create_app` is first used, so `import spanqa.serve` stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from spanqa.serve.app import create_app

        return create_app
    raise AttributeError(f"module 'spanqa.serve' has no attribute {name!r}")
