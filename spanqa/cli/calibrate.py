"""`spanqa calibrate`: fit the temperature that makes a model's scores match how often it is right,
and, on data with unanswerable questions, the no-answer threshold."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from spanqa.cli import app
from spanqa.cli.common import (
    BackendOption,
    ModelOption,
    PrecisionOption,
    ThreadsOption,
    load_reader,
)

EXAMPLE = "Example: spanqa calibrate heldout-v1.1.json --model models/my-reader --write"


@app.command(epilog=EXAMPLE)
def calibrate(
    data: Annotated[
        Path,
        typer.Argument(help="SQuAD JSON with held-out questions: not trained on, and not the file you evaluate on."),
    ],
    model: ModelOption = None,
    write: Annotated[
        bool,
        typer.Option("--write", help="Store the fitted temperature (and threshold) in the model folder's spanqa.json."),
    ] = False,
    out: Annotated[Path | None, typer.Option(help="Also write the fit as JSON here.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Windows per forward pass.")] = 32,
    backend: BackendOption = "auto",
    precision: PrecisionOption = "auto",
    threads: ThreadsOption = None,
    min_has_answer_f1: Annotated[
        float | None,
        typer.Option(
            "--min-has-answer-f1",
            min=0.0,
            max=100.0,
            help="Fit the no-answer threshold of best F1 among those that keep the answerable questions' F1 "
            "(percent) at least this high: for readers that should rarely refuse a question they can answer.",
        ),
    ] = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="Hide the progress bar.")] = False,
) -> None:
    """Fit the reader's temperature on DATA's answerable questions (temperature scaling).

    Scores become probabilities that match how often the best answer is exactly right; the
    order of the answers does not change, so EM and F1 stay the same. When DATA also holds
    unanswerable questions (SQuAD 2.0), the no-answer threshold that maximises F1 on DATA is
    fitted too, at the new temperature.
    """
    from spanqa.data import load_squad
    from spanqa.errors import InputError
    from spanqa.evaluation.calibration import calibrate as fit_calibration
    from spanqa.fileio import write_json_atomic
    from spanqa.model.folder import DEFAULT_MODEL_DIR, ModelInfo, read_model_info, shipped_if_default, write_model_info

    examples = load_squad(data)
    source = shipped_if_default(model)
    reader = load_reader(source, backend, precision, threads)  # torch, ONNX and OpenVINO folders alike
    folder = Path(source) if source is not None else DEFAULT_MODEL_DIR
    calibration = fit_calibration(
        reader, examples, batch_size=batch_size, progress=not no_progress, min_has_answer_f1=min_has_answer_f1
    )
    fit, threshold = calibration.temperature, calibration.threshold
    typer.echo(
        f"temperature {fit.temperature:g} fitted on {fit.questions:,} questions "
        f"(best answer exactly right: {100 * fit.exact_rate:.1f}%)\n"
        f"  expected calibration error {fit.before.expected_calibration_error:.3f} -> "
        f"{fit.after.expected_calibration_error:.3f}, log loss {fit.before.log_loss:.3f} -> {fit.after.log_loss:.3f}, "
        f"mean score {fit.before.mean_score:.3f} -> {fit.after.mean_score:.3f}"
    )
    settings = reader.settings.replace(temperature=fit.temperature)
    if threshold is not None:
        settings = settings.replace(null_threshold=threshold.null_threshold)
        typer.echo(
            f"no-answer threshold {threshold.null_threshold:.4g} fitted on {threshold.questions:,} questions "
            f"({threshold.unanswerable:,} unanswerable): F1 {threshold.f1:.2f} there "
            f"(has answer {threshold.has_answer_f1:.2f}, no answer {threshold.no_answer_f1:.2f})"
            + (f", the best that keeps has answer >= {min_has_answer_f1:g}" if min_has_answer_f1 is not None else "")
        )
    if out is not None:
        write_json_atomic(out, {"model": str(folder), "data": str(data), **calibration.to_dict()})
    if write:
        if not folder.is_dir():
            raise InputError(f"--write needs a local model folder, and {folder} is not one: download it first")
        info = read_model_info(folder)
        try:
            fitted = {"temperature": settings.temperature, "null_threshold": settings.null_threshold}
            write_model_info(folder, ModelInfo(info.head, info.settings.replace(**fitted), info.extra))
        except OSError as error:
            message = f"cannot write {folder / 'spanqa.json'} ({error.strerror}): copy the folder somewhere writable"
            raise InputError(message) from error
        what = "temperature and no-answer threshold" if threshold is not None else "temperature"
        typer.echo(f"{what} written to {folder / 'spanqa.json'}")
    elif settings != reader.settings:
        typer.echo("add --write to store it in the model folder")
