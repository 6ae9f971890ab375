"""The ONNX folder each onnx back-end runs: the model folder's own file, or an export of its weights."""

from __future__ import annotations

from pathlib import Path

from spanqa.errors import SpanQAError
from spanqa.model.folder import onnx_files, read_model_info, weights_fingerprint


def ships_onnx(model: Path, precision: str) -> bool:
    """Whether the model folder itself holds the ONNX file of `precision` (what its users run)."""
    return precision in onnx_files(model)


def exported_from(folder: Path, model: Path) -> bool:
    """Whether `folder` holds an ONNX export of `model`'s current weights (a retrained model is re-exported)."""
    try:
        record = read_model_info(folder).extra["onnx_export"]
        made_from, onnx_file = record["source_weights_sha256"], folder / record["file"]
    except (SpanQAError, KeyError, TypeError):
        return False
    return made_from == weights_fingerprint(model) and onnx_file.exists()


def export_for(model: Path, export_dir: Path, precision: str) -> Path:
    """The ONNX folder of `model` for `precision`: the model folder itself when it ships that ONNX file
    (what its users run: the default model's int8 file was quantised from the fp32 training weights,
    not from the fp16 copy beside it), else an export under export_dir, reused when made from the
    same weights."""
    from spanqa.inference.runtime.onnx_export import export_onnx

    if ships_onnx(model, precision):
        print(f"  {precision}: the model folder's own ONNX file", flush=True)
        return model
    folder = export_dir / precision
    if exported_from(folder, model):
        return folder
    result = export_onnx(model, folder, int8=precision == "int8", overwrite=True)
    print(
        f"  exported {precision}: {result.size_bytes / 2**20:.1f} MiB, fp32 max |diff| vs torch "
        f"{result.max_abs_diff:.2g}"
        + (f", int8 max |diff| {result.int8_max_abs_diff:.2g}" if result.int8_max_abs_diff is not None else ""),
        flush=True,
    )
    return folder
