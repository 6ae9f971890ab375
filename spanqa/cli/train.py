"""`spanqa train`: fine-tune an encoder on SQuAD-format data.

The command's options are generated from TrainConfig's fields: `--max-seq-len` for max_seq_len,
with the field's default and the help text in its metadata, so a new training setting needs no
change here. Where the command line differs from the field: `--train` and `--exclude`
(repeatable) and `--eval` name train_files, exclude_files and eval_file, path fields take
paths, `--no-progress` turns `progress` off, and `--resume` belongs to this invocation rather
than to the run's settings.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from spanqa.cli import app
from spanqa.training.config import TrainConfig

EPILOG = (
    "Example: spanqa train --base ./minilm --train train-v1.1.json --out ./my-reader --epochs 2 "
    "--precision bf16 --lr 2e-4 --max-seq-len 256"
)
OPTION_NAMES = {"train_files": "--train", "eval_file": "--eval", "exclude_files": "--exclude"}
NOT_GENERATED = ("progress",)  # the command's own --no-progress
PATH_TYPES = {str: Path, str | None: Path | None, tuple[str, ...]: list[Path]}


def with_config_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give `command` TrainConfig's options, in field order, in place of its `**settings`."""
    own = inspect.signature(command, eval_str=True).parameters.values()
    own_options = [p.replace(kind=p.KEYWORD_ONLY) for p in own if p.kind is not p.VAR_KEYWORD]
    command.__signature__ = inspect.Signature([*config_options(), *own_options])  # type: ignore[attr-defined]
    return command


def config_options() -> list[inspect.Parameter]:
    hints = typing.get_type_hints(TrainConfig)
    fields = [field for field in dataclasses.fields(TrainConfig) if field.name not in NOT_GENERATED]
    return [config_option(field, hints[field.name]) for field in fields]


def config_option(field: dataclasses.Field, hint: Any) -> inspect.Parameter:
    name = OPTION_NAMES.get(field.name, "--" + field.name.replace("_", "-"))
    annotation = Annotated[option_type(field, hint), typer.Option(name, help=field.metadata["help"])]
    default = inspect.Parameter.empty if field.default is dataclasses.MISSING else field.default
    return inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def option_type(field: dataclasses.Field, hint: Any) -> Any:
    if field.metadata["path"]:
        return PATH_TYPES[hint]
    if typing.get_origin(hint) is Literal:
        return str  # TrainConfig rejects other values in one line naming the choices; click would take several
    return hint


def config_value(value: Any) -> Any:
    """A command-line value as TrainConfig holds it: paths as text, a repeated option as a tuple."""
    if isinstance(value, list):
        return tuple(config_value(item) for item in value)
    return str(value) if isinstance(value, Path) else value


@app.command(epilog=EPILOG)
@with_config_options
def train(
    resume: Annotated[bool, typer.Option(help="Continue from the latest checkpoint.")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="Hide the progress bar.")] = False,
    **settings: Any,
) -> None:
    """Fine-tune any Hugging Face encoder as an extractive reader; resumable, logged to TensorBoard."""
    from spanqa.training.loop import train as run_training

    values = {name: config_value(value) for name, value in settings.items()}
    config = TrainConfig(**values, progress=not no_progress)
    result = run_training(config, resume=resume, echo=typer.echo)
    if result["stopped"]:
        raise typer.Exit(130)
