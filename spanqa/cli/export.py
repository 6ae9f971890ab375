"""`spanqa export`: write an ONNX or OpenVINO model folder (fp32 or int8) for the fast CPU backends."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from spanqa.cli import app
from spanqa.errors import InputError


@app.command(
    name="export",
    epilog="Examples: spanqa export models/minilm-squad --onnx models/minilm-squad-int8 --int8\n\n"
    "spanqa export models/minilm-squad --openvino models/minilm-squad-ov --int8 --calibration train.json",
)
def export_command(
    model_dir: Annotated[Path, typer.Argument(help="The model folder to export (config.json, weights, tokenizer).")],
    onnx: Annotated[
        Path | None, typer.Option("--onnx", help="Write the ONNX model folder here (Reader.load and --model read it).")
    ] = None,
    openvino: Annotated[
        Path | None,
        typer.Option("--openvino", help="Write an OpenVINO model folder here instead (needs spanqa[openvino])."),
    ] = None,
    int8: Annotated[
        bool,
        typer.Option("--int8", help="Quantise to int8: dynamic with --onnx, calibrated (NNCF) with --openvino."),
    ] = False,
    calibration: Annotated[
        list[Path] | None,
        typer.Option(
            "--calibration",
            help="SQuAD JSON of TRAINING questions to calibrate OpenVINO int8 on (repeatable; default: the "
            "training files the model's spanqa.json records). Never the set you evaluate on.",
        ),
    ] = None,
    calibration_windows: Annotated[
        int, typer.Option(help="Windows of calibration questions NNCF sees (OpenVINO int8).")
    ] = 300,
    optimize: Annotated[
        bool, typer.Option(help="Fuse attention/LayerNorm/GELU with ONNX Runtime's transformer optimiser.")
    ] = True,
    force: Annotated[bool, typer.Option("--force", help="Replace the output folder when it is not empty.")] = False,
) -> None:
    """Export MODEL_DIR to an ONNX (or OpenVINO) folder and check its logits against torch."""
    if onnx is not None and openvino is not None:
        raise InputError("give one output folder: --onnx OUT_DIR or --openvino OUT_DIR, not both")
    if onnx is None and openvino is None:
        raise InputError("give the output folder with --onnx OUT_DIR (or --openvino OUT_DIR)")
    if openvino is not None:
        _export_openvino(model_dir, openvino, int8, calibration, calibration_windows, force)
        return
    if calibration:
        raise InputError("--calibration is for --openvino --int8 (ONNX int8 is dynamic: it needs no calibration)")
    from spanqa.inference.runtime.onnx_export import export_onnx

    result = export_onnx(model_dir, onnx, int8=int8, optimize=optimize, overwrite=force)
    graph = "fused graph" if result.optimized else "plain graph"
    typer.echo(
        f"wrote {result.folder / result.onnx_file} ({result.precision}, {graph}, "
        f"{result.size_bytes / 2**20:.1f} MiB) in {result.seconds:.1f} s"
    )
    typer.echo(f"fp32 ONNX vs torch: max |logit difference| {result.max_abs_diff:.2g} on the check windows")
    if result.int8_max_abs_diff is not None:
        typer.echo(
            f"int8 ONNX vs torch: max |logit difference| {result.int8_max_abs_diff:.2g}, best span agrees on "
            f"{result.int8_argmax_agreement:.0%} of the check windows (score int8 on your data: spanqa evaluate)"
        )
    from spanqa.model.folder import model_task

    if model_task(result.folder) == "classify":  # "best span" above reads "best label" for a classifier
        folder = result.folder
        typer.echo(f'load it with: Classifier.load("{folder}")  or  spanqa classify --model {folder} TEXT')
        return
    typer.echo(
        f'load it with: Reader.load("{result.folder}")  or  spanqa ask --model {result.folder} --backend onnx '
        f"--precision {result.precision}"
    )


def _export_openvino(
    model_dir: Path, out: Path, int8: bool, calibration: list[Path] | None, windows: int, force: bool
) -> None:
    from spanqa.inference.runtime.openvino_export import export_openvino

    if calibration and not int8:
        raise InputError("--calibration is for int8: add --int8, or drop --calibration for the fp32 model")
    result = export_openvino(
        model_dir, out, int8=int8, calibration=calibration, calibration_windows=windows, overwrite=force
    )
    typer.echo(
        f"wrote {result.folder / result.model_file} + .bin ({result.precision}, "
        f"{result.size_bytes / 2**20:.1f} MiB) in {result.seconds:.1f} s"
    )
    typer.echo(f"fp32 OpenVINO vs torch: max |logit difference| {result.max_abs_diff:.2g} on the check windows")
    if result.int8_max_abs_diff is not None:
        typer.echo(
            f"int8 calibrated on {result.calibration_windows} windows of {', '.join(result.calibration_files)}; "
            f"vs torch: max |logit difference| {result.int8_max_abs_diff:.2g}, best span agrees on "
            f"{result.int8_argmax_agreement:.0%} of the check windows (score it on your data: spanqa evaluate)"
        )
    typer.echo(
        f'load it with: Reader.load("{result.folder}")  or  spanqa ask --model {result.folder} --backend openvino '
        f"--precision {result.precision}"
    )
