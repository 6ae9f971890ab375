"""`--explain` for classification: the real run, stage by stage, as plain data and as text.

Every number comes from the run that produced the labels (Classifier.run with a `record`), not
from a second computation: the tokens of each text, each padded batch and its attention mask as
the runtime got it, the logits it returned, the softmax (or sigmoid) and id2label.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spanqa.classify.inputs import Item
from spanqa.classify.stages import RunBatch


def explain(classifier, texts: Item | Sequence[Item], top_k: int | None = None, **options: Any) -> dict[str, Any]:
    """Classify `texts` and return what happened at each stage (JSON-ready)."""
    record: list[RunBatch] = []
    run = classifier.run(texts, top_k=top_k, record=record, **options)
    function = "sigmoid per label" if classifier.multi_label else "softmax over labels"
    return {
        "model": classifier.name,
        "problem_type": classifier.problem_type,
        "id2label": {str(i): label for i, label in classifier.id2label.items()},
        "settings": run.settings.to_dict(),
        "probability": function,
        "texts": [
            {
                "item": list(item) if isinstance(item, tuple) else item,
                "windows": [
                    {"window": w, "tokens": list(run.windows[w].tokens), "length": run.windows[w].length}
                    for w in range(len(run.windows))
                    if run.windows[w].item_index == index
                ],
            }
            for index, item in enumerate(run.items)
        ],
        "batches": [
            {
                "windows": list(batch.window_indices),
                **{name: array.tolist() for name, array in batch.inputs.items()},
                "logits": batch.logits.tolist(),
            }
            for batch in record
        ],
        "logits": run.logits.tolist(),
        "probabilities": run.probabilities.tolist(),
        "labels": [[label.to_dict() for label in labels] for labels in run.labels],
    }


def explanation_text(explanation: dict[str, Any]) -> str:
    """The walk-through as a person reads it, every number from `explanation`."""
    lines = [
        f"model: {explanation['model']} ({explanation['problem_type']})",
        "id2label: " + ", ".join(f"{i} -> {label}" for i, label in explanation["id2label"].items()),
        "",
        "1. tokens",
    ]
    for index, text in enumerate(explanation["texts"]):
        for window in text["windows"]:
            lines.append(
                f"  text {index}, window {window['window']} ({window['length']} tokens): " + " ".join(window["tokens"])
            )
    lines.append("")
    lines.append("2. padded batches (length-sorted, padded on the right to the longest; mask 0 = padding)")
    for number, batch in enumerate(explanation["batches"]):
        lines.append(f"  batch {number}: windows {batch['windows']}")
        for row, window in enumerate(batch["windows"]):
            lines.append(f"    window {window} input_ids      {batch['input_ids'][row]}")
            lines.append(f"    window {window} attention_mask {batch['attention_mask'][row]}")
        for row, window in enumerate(batch["windows"]):
            lines.append(f"    window {window} logits {_numbers(batch['logits'][row])}")
    lines.append("")
    names = list(explanation["id2label"].values())
    lines.append(
        f"3. logits per text (mean over windows when there are several), then the {explanation['probability']}"
    )
    for index, (logits, probs) in enumerate(zip(explanation["logits"], explanation["probabilities"], strict=True)):
        lines.append(f"  text {index} logits        {_numbers(logits)}  ({', '.join(names)})")
        lines.append(f"  text {index} probabilities {_numbers(probs)}")
    lines.append("")
    lines.append("4. labels, best first")
    for index, labels in enumerate(explanation["labels"]):
        shown = ", ".join(f"{label['label']} {label['score']:.6f}" for label in labels) or "(none over the threshold)"
        lines.append(f"  text {index}: {shown}")
    return "\n".join(lines)


def _numbers(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{value:.6f}" for value in values) + "]"
