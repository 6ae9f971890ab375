"""The `spanqa` command line: thin Typer commands over the Python API.

Each command lives in its own module and registers itself on `app`. Errors the
library raises on purpose (SpanQAError) become one line on stderr and exit
code 2; nothing the user can cause ends in a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer

from spanqa.errors import SpanQAError

app = typer.Typer(
    name="spanqa",
    help=(
        "Extractive question answering: ask (a text or your documents), index, predict, evaluate, calibrate, "
        "train, serve, export, classify."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)

# Modules whose import registers their command on `app`.
COMMAND_MODULES = ["ask", "index", "predict", "evaluate", "calibrate", "train", "serve", "export", "classify"]


@app.callback()
def _root() -> None:
    """Extractive question answering: ask, predict, evaluate, train, serve, export."""


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            importlib.import_module(f"spanqa.cli.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"spanqa.cli.{name}":
                raise


def fail(message: str, exit_code: int = 2) -> typer.Exit:
    """Print one line on stderr and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(exit_code)


def main() -> None:
    _register_commands()
    try:
        # Without standalone mode click returns a command's typer.Exit code instead of exiting.
        exit_code = app(standalone_mode=False)
        if isinstance(exit_code, int) and exit_code != 0:
            sys.exit(exit_code)
    except SpanQAError as error:
        typer.echo(f"error: {error}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except typer.Exit as exit_:
        sys.exit(exit_.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except Exception as error:
        # Usage errors (unknown option, missing argument, bad value): typer ships its own copy of
        # click's exception classes, so recognise them by what they can do rather than by class.
        if callable(getattr(error, "show", None)) and isinstance(getattr(error, "exit_code", None), int):
            error.show()
            sys.exit(error.exit_code)
        raise
