"""`spanqa export`: write an ONNX model folder (fp32 or int8) for the fast CPU backend."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from spanqa.cli import app
from spanqa.errors import InputError


@app.command(
    name="export",
    epilog="Example: spanqa export models/minilm-squad --onnx models/minilm-squad-int8 --int8",
)
def export_command(
    model_dir: Annotated[Path, typer.Argument(help="The model folder to export (config.json, weights, tokenizer).")],
    onnx: Annotated[
        Path | None, typer.Option("--onnx", help="Write the ONNX model folder here (Reader.load and --model read it).")
    ] = None,
    int8: Annotated[bool, typer.Option("--int8", help="Quantise to dynamic int8 (smaller, faster on CPUs).")] = False,
    optimize: Annotated[
        bool, typer.Option(help="Fuse attention/LayerNorm/GELU with ONNX Runtime's transformer optimiser.")
    ] = True,
    force: Annotated[bool, typer.Option("--force", help="Replace the output folder when it is not empty.")] = False,
) -> None:
    """Export MODEL_DIR to an ONNX folder and check its logits against torch."""
    if onnx is None:
        raise InputError("give the output folder with --onnx OUT_DIR")
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
