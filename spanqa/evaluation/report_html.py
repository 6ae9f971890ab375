"""The evaluation report as one self-contained HTML page (plots inlined as base64 PNG).

matplotlib is imported here, inside the functions, so `spanqa evaluate` without `--html`
never loads it. Figures are drawn with the Agg canvas directly, leaving pyplot and the
global backend alone.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Mapping, Sequence
from typing import Any

from spanqa.evaluation.metrics import SquadEvaluation, precision_recall_curve
from spanqa.evaluation.report import threshold_curve
from spanqa.fileio import write_text_atomic

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; }
.note { color: #555; font-size: 0.9em; }
"""


def _figure(width: float = 7.0, height: float = 3.6) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="plot" src="data:image/png;base64,{encoded}">'


def _number(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return html.escape(str(value))


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[bool] | None = None) -> str:
    numeric = numeric or [False] * len(header)
    head = "".join(f"<th>{html.escape(name)}</th>" for name in header)
    body = []
    for row in rows:
        cells = []
        for value, is_number in zip(row, numeric, strict=True):
            if is_number:
                cells.append(f'<td class="num">{_number(value)}</td>')
            else:
                cells.append(f"<td>{value}</td>")  # already escaped by the caller
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _breakdown_section(title: str, anchor: str, rows: Sequence[Mapping[str, Any]]) -> str:
    figure = _figure()
    axes = figure.add_subplot()
    names = [row["group"] for row in rows]
    positions = list(range(len(rows)))
    axes.bar([p - 0.2 for p in positions], [row["exact"] for row in rows], width=0.4, label="EM")
    axes.bar([p + 0.2 for p in positions], [row["f1"] for row in rows], width=0.4, label="F1")
    axes.set_xticks(positions, [f"{name}\n(n={row['count']})" for name, row in zip(names, rows, strict=True)])
    axes.set_ylim(0, 100)
    axes.set_ylabel("score (%)")
    axes.legend(loc="lower right")
    table = _table(
        ["group", "questions", "EM", "F1"],
        [[html.escape(row["group"]), row["count"], row["exact"], row["f1"]] for row in rows],
        [False, True, True, True],
    )
    return f'<section id="{anchor}"><h2>{html.escape(title)}</h2>{_png(figure)}{table}</section>'


def _threshold_section(evaluation: SquadEvaluation) -> str:
    assert evaluation.na_probs is not None
    questions, na_probs = evaluation.questions, evaluation.na_probs
    metrics = evaluation.metrics
    parts = ['<section id="no-answer"><h2>No-answer decision</h2>']
    if any(q.has_answer for q in questions):
        figure = _figure(5.5, 4.5)
        axes = figure.add_subplot()
        for name, label in (("exact", "EM"), ("f1", "F1"), ("oracle", "oracle (has answer?)")):
            precisions, recalls, average_precision = precision_recall_curve(questions, na_probs, name)
            axes.step(recalls, precisions, where="post", label=f"{label}: AP {average_precision:.1f}")
        axes.set_xlabel("recall (answerable questions answered, weighted by score)")
        axes.set_ylabel("precision")
        axes.set_xlim(0.0, 1.05)
        axes.set_ylim(0.0, 1.05)
        axes.set_title("answering in order of increasing no-answer probability")
        axes.legend(loc="lower left")
        parts.append(_png(figure))
    curve = threshold_curve(questions, na_probs)
    if curve["thresholds"]:
        figure = _figure()
        axes = figure.add_subplot()
        # repeat the last value past the last threshold so the final step shows
        xs = [*curve["thresholds"], max(1.0, curve["thresholds"][-1]) + 0.02]
        axes.step(xs, [*curve["exact"], curve["exact"][-1]], where="post", label="EM")
        axes.step(xs, [*curve["f1"], curve["f1"][-1]], where="post", label="F1")
        axes.axvline(evaluation.na_prob_thresh, color="grey", linestyle=":", label="threshold used")
        axes.axvline(metrics["best_f1_thresh"], color="red", linestyle="--", label="best F1 threshold")
        axes.set_xlabel('no-answer threshold (answer "" above it)')
        axes.set_ylabel("score (%)")
        axes.set_xlim(-0.02, 1.02)
        axes.legend(loc="best")
        parts.append(_png(figure))
    rows = [[name, metrics.get(name)] for name in ("best_exact", "best_exact_thresh", "best_f1", "best_f1_thresh")]
    rows += [[name, metrics[name]] for name in ("pr_exact_ap", "pr_f1_ap", "pr_oracle_ap") if name in metrics]
    parts.append(_table(["metric", "value"], [[html.escape(n), v] for n, v in rows], [False, True]))
    parts.append(
        '<p class="note">best_* follow the official threshold search, which may stop inside a run of tied '
        "probabilities: the curve above shows what each threshold really gives.</p>"
    )
    parts.append("</section>")
    return "".join(parts)


def _calibration_section(calibration: Mapping[str, Any], first_reference: Mapping[str, Any] | None = None) -> str:
    bins = [row for row in calibration["bins"] if row["count"]]
    ece = calibration["expected_calibration_error"]
    figure = _figure(5.5, 5.0)
    axes, counts_axes = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    axes.plot([row["mean_score"] for row in bins], [row["exact_rate"] for row in bins], marker="o", label="reader")
    axes.set_ylabel("fraction exactly correct")
    axes.set_ylim(0, 1)
    axes.set_title(f"reliability of the best answer's score (ECE {_number(ece, 3)})")
    axes.legend(loc="upper left")
    width = 1.0 / max(len(calibration["bins"]), 1)
    counts_axes.bar([row["lower"] for row in bins], [row["count"] for row in bins], width=width, align="edge")
    counts_axes.set_xlabel("score of the best answer")
    counts_axes.set_ylabel("questions")
    counts_axes.set_xlim(0, 1)
    table = _table(
        ["score bin", "questions", "mean score", "exactly correct"],
        [
            [f"{row['lower']:.1f}–{row['upper']:.1f}", row["count"], row["mean_score"], row["exact_rate"]]
            for row in calibration["bins"]
        ],
        [False, True, True, True],
    )
    note = f'<p class="note">Expected calibration error: {_number(ece, 4)} over {calibration["count"]} questions.'
    if first_reference and first_reference.get("count"):
        note += (
            " Judged against the first reference answer only (one annotator, like the training data the "
            f"scores are fitted on): {_number(first_reference['expected_calibration_error'], 4)}."
        )
    note += "</p>"
    return (
        f'<section id="calibration"><h2>Calibration of the reader\'s scores</h2>{_png(figure)}{note}{table}</section>'
    )


def _answer_cell(prediction: str | None) -> str:
    if prediction is None:
        return "<em>(missing)</em>"
    if prediction == "":
        return "<em>(no answer)</em>"
    return html.escape(prediction)


def _worst_section(misses: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for miss in misses:
        gold = "<br>".join(html.escape(text) for text in miss["gold_answers"]) or "<em>(no answer)</em>"
        rows.append(
            [
                html.escape(miss["question"]) + f'<br><span class="note">{html.escape(miss["id"])}</span>',
                gold,
                _answer_cell(miss["prediction"]),
                miss["f1"],
            ]
        )
    table = _table(["question", "gold answers", "prediction", "F1"], rows, [False, False, False, True])
    note = '<p class="note">Lowest F1 first; among equal F1 the most confident prediction first.</p>'
    return f'<section id="worst-misses"><h2>Worst misses</h2>{note}{table}</section>'


_SUMMARY_KEYS = [
    "exact", "f1", "total", "HasAns_exact", "HasAns_f1", "HasAns_total", "NoAns_exact", "NoAns_f1", "NoAns_total",
    "best_exact", "best_exact_thresh", "best_f1", "best_f1_thresh", "missing", "version",
]  # fmt: skip


def render_html(evaluation: SquadEvaluation, report: Mapping[str, Any], title: str = "spanqa evaluation") -> str:
    """The report page as a string: summary, breakdowns, no-answer analysis, calibration, worst misses."""
    summary = _table(
        ["metric", "value"],
        [[html.escape(key), report[key]] for key in _SUMMARY_KEYS if key in report],
        [False, True],
    )
    sources = report.get("sources") or {}
    source_lines = "".join(
        f"<li>{html.escape(name)}: <code>{html.escape(str(value))}</code></li>" for name, value in sources.items()
    )
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f"<ul>{source_lines}</ul>" if source_lines else "",
        f'<section id="summary"><h2>Summary (SQuAD v{html.escape(evaluation.version)} rules)</h2>{summary}',
        f'<p class="note">{report["missing"]} question(s) without a prediction, scored 0.</p></section>',
        _breakdown_section("By question word", "by-question-word", report["by_question_word"]),
        _breakdown_section("By gold answer length (words)", "by-answer-length", report["by_answer_length"]),
        _breakdown_section("By context length (words)", "by-context-length", report["by_context_length"]),
    ]
    if evaluation.na_probs is not None and "best_f1_thresh" in report:
        sections.append(_threshold_section(evaluation))
    if report.get("calibration") and report["calibration"]["count"]:
        sections.append(_calibration_section(report["calibration"], report.get("calibration_first_reference")))
    sections.append(_worst_section(report["worst_misses"]))
    body = "\n".join(part for part in sections if part)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def write_report_html(
    path: str | os.PathLike[str],
    evaluation: SquadEvaluation,
    report: Mapping[str, Any],
    title: str = "spanqa evaluation",
) -> None:
    """Write the self-contained report page atomically."""
    write_text_atomic(path, render_html(evaluation, report, title))


# ------------------------------------------------------------- classification (spanqa evaluate --task classify)
def _confusion_plot(labels: Sequence[str], matrix: Sequence[Sequence[int]]) -> str:
    size = max(3.0, 0.7 * len(labels) + 2.0)
    figure = _figure(size + 1.0, size)
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted label")
    axes.set_ylabel("gold label")
    top = max((max(row) for row in matrix), default=0)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            axes.text(j, i, str(count), ha="center", va="center", color="white" if count > top / 2 else "black")
    figure.colorbar(image, ax=axes)
    return _png(figure)


def render_classification_html(report: Mapping[str, Any], title: str = "spanqa classification evaluation") -> str:
    """The classification report page: summary, per-class precision/recall/F1, the confusion matrix (table and plot)."""
    metrics = report["metrics"]
    summary = _table(
        ["metric", "value"],
        [[name, metrics[name]] for name in ("total", "accuracy", "macro_f1", "micro_f1")],
        [False, True],
    )
    per_class = _table(
        ["label", "precision", "recall", "F1", "support"],
        [
            [html.escape(label), row["precision"], row["recall"], row["f1"], row["support"]]
            for label, row in metrics["per_class"].items()
        ],
        [False, True, True, True, True],
    )
    sources = "".join(
        f"<li>{html.escape(name)}: <code>{html.escape(str(value))}</code></li>"
        for name, value in (report.get("sources") or {}).items()
    )
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f"<ul>{sources}</ul>" if sources else "",
        f'<section id="summary"><h2>Summary</h2>{summary}</section>',
        f'<section id="per-class"><h2>Per class</h2>{per_class}</section>',
    ]
    matrix = metrics.get("confusion_matrix")
    if matrix is not None:
        labels = metrics["labels"]
        table = _table(
            ["gold \\ predicted", *labels],
            [[html.escape(label), *row] for label, row in zip(labels, matrix, strict=True)],
            [False, *([True] * len(labels))],
        )
        plot = _confusion_plot(labels, matrix)
        sections.append(f'<section id="confusion-matrix"><h2>Confusion matrix</h2>{table}{plot}</section>')
    body = "\n".join(part for part in sections if part)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def write_classification_html(
    path: str | os.PathLike[str], report: Mapping[str, Any], title: str = "spanqa classification evaluation"
) -> None:
    write_text_atomic(path, render_classification_html(report, title))
