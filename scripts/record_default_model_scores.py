"""Copy the default model's dev scores from reports/default-model/ into its spanqa.json.

`spanqa serve` shows them at GET /v1/model. Run by scripts/evaluate_default_model.sh after the
evaluations, so the numbers are exactly the ones `spanqa evaluate` printed (and MODEL_CARD.md quotes).
"""

from __future__ import annotations

import json
from pathlib import Path

from spanqa.model.folder import DEFAULT_MODEL_DIR, ModelInfo, read_model_info, write_model_info

REPORTS = Path(__file__).resolve().parent.parent / "reports" / "default-model"
V1_KEYS = ("exact", "f1", "total")
V2_KEYS = (*V1_KEYS, "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1", "best_exact", "best_f1")
RUNS = {
    "squad_v1.1_dev_int8": ("dev-v1.1-int8.json", V1_KEYS, "spanqa evaluate dev-v1.1.json --model default"),
    "squad_v1.1_dev_fp32": (
        "dev-v1.1-fp32.json",
        V1_KEYS,
        "spanqa evaluate dev-v1.1.json --model default --backend torch --precision fp32",
    ),
    "squad_v2.0_dev_int8": ("dev-v2.0-int8.json", V2_KEYS, "spanqa evaluate dev-v2.0.json --model default"),
}


def main() -> None:
    import onnxruntime

    scores = {}
    for name, (file, keys, command) in RUNS.items():
        report = json.loads((REPORTS / file).read_text())
        scores[name] = {key: round(report[key], 2) for key in keys} | {"command": command}
        if name.endswith("_int8"):  # which answers dynamic int8 flips moves a little between ONNX Runtime releases
            scores[name]["onnxruntime"] = onnxruntime.__version__
    info = read_model_info(DEFAULT_MODEL_DIR)
    write_model_info(DEFAULT_MODEL_DIR, ModelInfo(info.head, info.settings, {**info.extra, "scores": scores}))
    print(json.dumps(scores, indent=2))


if __name__ == "__main__":
    main()
