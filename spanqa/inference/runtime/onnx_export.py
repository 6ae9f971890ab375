"""Export a model folder to an ONNX model folder (fp32, or dynamic int8), checked against torch.

    export_onnx("models/minilm-squad", "models/minilm-squad-onnx", int8=True)

The ONNX folder holds `model.onnx` (fp32) or `model.int8.onnx`, the tokenizer files, config.json
and spanqa.json (with `backend: "onnx"` and `precision`), so `Reader.load(folder)` runs it on
ONNX Runtime without being told. Steps, each checked:

1. torch.onnx.export (TorchScript exporter, opset 17) with dynamic batch and sequence axes;
   the pointer head's end logits are [B, L, L].
2. ONNX Runtime's transformer optimiser fuses attention (exported in its eager form, which the
   optimiser recognises), embeddings + LayerNorm, bias + GELU and skip + LayerNorm for BERT-like
   encoders; the fused graph is kept only when its logits still match torch's.
3. With int8: dynamic quantisation (QInt8 weights, one scale per output channel; activations
   quantised per batch at run time); the span head stays fp32 (a tiny share of the work, and the
   most sensitive to rounding). Per-channel scales cost nothing in speed and kept answers closer to
   fp32 (88% identical answers vs 73% per-tensor, on a partly trained MiniLM, 300 dev questions).
4. The fp32 ONNX logits are compared with torch's on real windows (max |difference| over the
   positions of real tokens); a model that differs by more than `tolerance` is not written.

The folder is built under a temporary name beside OUT_DIR and renamed when complete (fileio.staged_folder).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spanqa.errors import InputError, ModelFolderError
from spanqa.fileio import staged_folder
from spanqa.model.folder import ONNX_FILES, SETTINGS_FILE, model_info_payload, model_task, weights_fingerprint

OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
# config.model_type values the ONNX Runtime transformer optimiser fuses as "bert".
BERT_LIKE = ("bert", "roberta", "xlm-roberta", "electra", "camembert", "mpnet")
# Node-name fragments kept in fp32 by the int8 quantisation: the span heads.
KEEP_FP32 = ("qa_outputs", "pointer")
# ... and the classification heads (BERT's classifier, RoBERTa's classifier.dense/out_proj, DistilBERT's
# pre_classifier + classifier) when the folder is a sequence classifier (one output: logits [B, C]).
CLASSIFIER_KEEP_FP32 = ("classifier",)
CHECK_PAIRS = (
    ("Who wrote the report?", "The report was written by Ada Lovelace in 1843, after months of work."),
    (
        "When did the river flood the old town?",
        "Records kept by the parish show that the river flooded the old town in the spring of 1786, "
        "when snow melted early in the hills. The water rose above the market square and stayed for "
        "nine days; the bridge built in 1602 was the only crossing left standing.",
    ),
    ("What?", "Short."),
)


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    onnx_file: str  # the file name inside `folder`
    precision: str  # fp32 or int8
    optimized: bool  # the transformer optimiser's fused graph was kept
    max_abs_diff: float  # fp32 ONNX vs torch logits, on real tokens
    int8_max_abs_diff: float | None  # int8 ONNX vs torch logits (int8 only)
    int8_argmax_agreement: float | None  # share of windows whose best start and end agree with torch's
    size_bytes: int
    seconds: float


def export_onnx(
    model_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    int8: bool = False,
    optimize: bool = True,
    overwrite: bool = False,
    tolerance: float = 1e-3,
    keep_fp32: tuple[str, ...] = KEEP_FP32,
    per_channel: bool = True,
) -> ExportResult:
    """Write an ONNX model folder for `model_dir` to `out_dir` (see the module docstring)."""
    from spanqa.model.torch_io import load_model

    began = time.perf_counter()
    destination = check_destination(Path(model_dir), Path(out_dir).expanduser(), overwrite)
    if model_task(model_dir) == "classify":
        from spanqa.model.classifier_io import load_classifier_model

        loaded = load_classifier_model(model_dir)
        keep_fp32 = CLASSIFIER_KEEP_FP32 if keep_fp32 == KEEP_FP32 else keep_fp32
    else:
        loaded = load_model(model_dir)
    with staged_folder(destination) as staging:
        batch = check_batch(loaded.tokenizer)
        with quiet():
            expected = torch_logits(loaded.model, batch)
        fp32_path = staging / ONNX_FILES["fp32"]
        plain_path = staging / "model.plain.onnx"
        use_eager_attention(loaded.model)
        torch_export(loaded.model, batch, plain_path)
        max_abs_diff = logits_max_abs_diff(_onnx_logits(plain_path, batch), expected, batch)
        if not max_abs_diff <= tolerance:
            raise ModelFolderError(
                f"the ONNX export of {model_dir} differs from torch by {max_abs_diff:.3g} (over {tolerance:g}): "
                "the model uses an operation the exporter does not translate faithfully; use --backend torch"
            )
        optimized = False
        if optimize and _optimize(plain_path, fp32_path, loaded.model.config):
            fused_diff = logits_max_abs_diff(_onnx_logits(fp32_path, batch), expected, batch)
            optimized = fused_diff <= tolerance
            if optimized:
                max_abs_diff = fused_diff
        if optimized:
            plain_path.unlink()
        else:
            os.replace(plain_path, fp32_path)
        int8_diff = agreement = None
        onnx_file = ONNX_FILES["fp32"]
        if int8:
            int8_path = staging / ONNX_FILES["int8"]
            quantize_int8(fp32_path, int8_path, keep_fp32=keep_fp32, per_channel=per_channel)
            quantized = _onnx_logits(int8_path, batch)
            int8_diff = logits_max_abs_diff(quantized, expected, batch)
            agreement = argmax_agreement(quantized, expected, batch)
            fp32_path.unlink()
            onnx_file = ONNX_FILES["int8"]
        quantization = {"weights": "QInt8", "per_channel": per_channel, "kept_fp32": list(keep_fp32)} if int8 else None
        _write_folder_files(loaded, staging, onnx_file, optimized, max_abs_diff, Path(model_dir), quantization)
        size = (staging / onnx_file).stat().st_size
    return ExportResult(
        folder=destination,
        onnx_file=onnx_file,
        precision="int8" if int8 else "fp32",
        optimized=optimized,
        max_abs_diff=max_abs_diff,
        int8_max_abs_diff=int8_diff,
        int8_argmax_agreement=agreement,
        size_bytes=size,
        seconds=time.perf_counter() - began,
    )


def check_destination(model_dir: Path, destination: Path, overwrite: bool, flag: str = "--onnx") -> Path:
    """`destination` checked as an export's output folder: not a file, not the source, empty unless `overwrite`."""
    if not model_dir.expanduser().exists():
        raise ModelFolderError(f"model folder {model_dir} does not exist: check the MODEL_DIR argument")
    if destination.exists() and not destination.is_dir():
        raise InputError(f"output {destination} is a file: give a folder path for {flag}")
    source = model_dir.expanduser().resolve()
    target = destination.resolve()
    if target == source or target in source.parents:
        raise InputError(f"output folder {destination} holds the source model {model_dir}: choose another folder")
    if destination.exists() and any(destination.iterdir()) and not overwrite:
        raise InputError(
            f"output folder {destination} exists and is not empty: pass --force to replace it, or choose another folder"
        )
    return destination


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence the exporter's and the optimiser's warnings (TracerWarnings are expected here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def _without_log_message(fragment: str) -> Iterator[None]:
    """Drop one advice message the quantiser logs on the root logger every time."""

    def keep(record: logging.LogRecord) -> bool:
        return fragment not in record.getMessage()

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


def check_batch(tokenizer) -> dict[str, np.ndarray]:
    """A padded batch of real windows of different lengths (padding exercises the attention mask)."""
    questions, contexts = zip(*CHECK_PAIRS, strict=True)
    encoded = tokenizer(list(questions), list(contexts), padding=True, return_tensors="np")
    return {name: encoded[name].astype(np.int64) for name in INPUT_NAMES if name in encoded}


def torch_logits(model, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    import torch

    with torch.inference_mode():
        outputs = model(**{name: torch.from_numpy(array) for name, array in batch.items()})
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)  # a classifier's logits [B, C] alone
    return tuple(output.float().numpy() for output in outputs)


def _onnx_logits(path: Path, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    from spanqa.inference.runtime.onnx import OnnxRuntime

    return tuple(OnnxRuntime(path, threads=1).outputs(batch))


def _valid(end: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Boolean mask of the logits at real tokens: [B, L] or, for [B, L, L] end logits, pairs of them."""
    real = mask.astype(bool)
    return real[:, :, None] & real[:, None, :] if end.ndim == 3 else real


def logits_max_abs_diff(got: tuple[np.ndarray, np.ndarray], expected: tuple[np.ndarray, np.ndarray], batch) -> float:
    mask = batch["attention_mask"]
    if len(expected) == 1:  # a classifier: logits [B, C], no positions
        return float(np.abs(got[0] - expected[0]).max())
    start_diff = np.abs(got[0] - expected[0])[mask.astype(bool)].max()
    end_diff = np.abs(got[1] - expected[1])[_valid(expected[1], mask)].max()
    return float(max(start_diff, end_diff))


def argmax_agreement(got, expected, batch) -> float:
    """Share of windows whose best start token and best end token (over real tokens) agree."""
    mask = batch["attention_mask"].astype(bool)
    if len(expected) == 1:  # a classifier: the best label of each text
        return float(np.mean(got[0].argmax(axis=1) == expected[0].argmax(axis=1)))
    agree = []
    for row in range(mask.shape[0]):
        length = int(mask[row].sum())
        same_start = got[0][row, :length].argmax() == expected[0][row, :length].argmax()
        got_end, expected_end = got[1][row, :length], expected[1][row, :length]
        if got_end.ndim == 2:
            got_end, expected_end = got_end[:, :length].ravel(), expected_end[:, :length].ravel()
        agree.append(bool(same_start and got_end.argmax() == expected_end.argmax()))
    return float(np.mean(agree))


def _positional(model, input_names: tuple[str, ...]):
    """`model` taking positional inputs, so the exporter names them; returns (start, end)."""
    import torch

    class PositionalSpanModel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.model(**dict(zip(input_names, inputs, strict=True)))

    return PositionalSpanModel().eval()


def use_eager_attention(model) -> None:
    """Export the plain softmax(QK^T)V attention: the optimiser fuses it into one Attention node
    (QAttention in int8), which it cannot do with the SDPA graph transformers uses by default."""
    if model.head_type == "classifier":
        backbone = model.classifier_model
    else:
        backbone = model.qa if model.head_type == "linear" else model.encoder
    setter = getattr(backbone, "set_attn_implementation", None)
    if setter is None:
        return
    # A model without eager attention keeps its own: the export still works, only unfused.
    with contextlib.suppress(ValueError, ImportError, NotImplementedError):
        setter("eager")


def torch_export(model, batch: dict[str, np.ndarray], path: Path) -> None:
    import torch

    names = tuple(name for name in INPUT_NAMES if name in batch)
    token_axes = {0: "batch", 1: "sequence"}
    dynamic_axes = {name: token_axes for name in names}
    if model.head_type == "classifier":
        output_names = ["logits"]
        dynamic_axes["logits"] = {0: "batch"}
    else:
        output_names = ["start_logits", "end_logits"]
        dynamic_axes["start_logits"] = token_axes
        dynamic_axes["end_logits"] = (
            {0: "batch", 1: "sequence", 2: "sequence"} if model.head_type == "pointer" else token_axes
        )
    inputs = tuple(torch.from_numpy(batch[name]) for name in names)
    with quiet(), torch.inference_mode():
        torch.onnx.export(
            _positional(model, names),
            inputs,
            str(path),
            input_names=list(names),
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,  # the dynamo exporter needs onnxscript; the TorchScript one handles these models
        )


def _optimize(source: Path, target: Path, config) -> bool:
    """Fuse attention / LayerNorm / GELU with ONNX Runtime's transformer optimiser (BERT-like encoders)."""
    if getattr(config, "model_type", None) not in BERT_LIKE:
        return False
    from onnxruntime.transformers.optimizer import optimize_model

    with quiet():
        optimized = optimize_model(
            str(source),
            model_type="bert",
            num_heads=config.num_attention_heads,
            hidden_size=config.hidden_size,
            opt_level=0,
        )
        optimized.save_model_to_file(str(target))
    return True


def quantize_int8(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    keep_fp32: tuple[str, ...] = KEEP_FP32,
    per_channel: bool = True,
    weight_type: str = "QInt8",
    reduce_range: bool = False,
) -> list[str]:
    """Dynamic int8 quantisation; nodes whose name holds a `keep_fp32` fragment stay fp32.

    QInt8 weights with uint8 activations (U8S8) and full-range weights is what spanqa ships;
    `weight_type="QUInt8"` (U8U8) and `reduce_range` (7-bit weights, which AVX2's u8 x s8
    multiply-add cannot saturate) are there for bench/ort_options.py, which measured them.
    Returns the names of the nodes kept in fp32.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    excluded = fp32_node_names(onnx.load(str(source), load_external_data=False).graph, keep_fp32)
    with quiet(), _without_log_message("pre-processing before quantization"):
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType[weight_type],
            per_channel=per_channel,
            reduce_range=reduce_range,
            nodes_to_exclude=excluded,
            # Shape inference cannot see through the optimiser's fused (com.microsoft) nodes.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    return excluded


def fp32_node_names(graph, keep_fp32: tuple[str, ...] = KEEP_FP32) -> list[str]:
    """The names of the graph's nodes that quantisation leaves in fp32: those holding a `keep_fp32` fragment."""
    return [node.name for node in graph.node if any(fragment in node.name for fragment in keep_fp32)]


def _write_folder_files(
    loaded, staging: Path, onnx_file: str, optimized: bool, max_abs_diff: float, source: Path, quantization
) -> None:
    loaded.tokenizer.save_pretrained(staging)
    loaded.model.config.to_json_file(str(staging / "config.json"))
    precision = "int8" if onnx_file == ONNX_FILES["int8"] else "fp32"
    export_record = {
        "source": str(source),
        "source_weights_sha256": weights_fingerprint(source),
        "file": onnx_file,
        "opset": OPSET,
        "optimized": optimized,
        "fp32_max_abs_diff_vs_torch": max_abs_diff,
        "int8_quantization": quantization,
    }
    extra = {**loaded.info.extra, "backend": "onnx", "precision": precision, "onnx_export": export_record}
    payload = model_info_payload(loaded.info.replace(extra=extra))
    # Plain writes: the whole staging folder is renamed into place at the end.
    (staging / SETTINGS_FILE).write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
