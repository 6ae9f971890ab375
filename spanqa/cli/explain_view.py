"""Render an Explanation in the terminal (rich tables)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def print_explanation(explanation) -> None:
    console = Console(highlight=False)
    settings = explanation.settings
    console.print(
        f"question: {explanation.question!r}\ncontext: {len(explanation.context):,} characters, "
        f"{len(explanation.windows)} window(s) of at most {settings.max_seq_len} tokens, overlap {settings.doc_stride}"
    )
    for window in explanation.windows:
        console.rule(f"window {window.index}: context characters {window.char_start}-{window.char_end}")
        tokens = Table("pos", "token", "seq", "offsets", "start logit", "end logit", box=None)
        for position, token in enumerate(window.tokens):
            tokens.add_row(
                str(position),
                token,
                "-" if window.sequence_ids[position] is None else str(window.sequence_ids[position]),
                f"{window.offsets[position][0]}-{window.offsets[position][1]}",
                f"{window.start_logits[position]:.2f}",
                f"{window.end_logits[position]:.2f}",
            )
        console.print(tokens)
        console.print(
            "top starts: "
            + ", ".join(f"{t}@{p} ({v:.2f})" for p, t, v in window.top_starts)
            + "\ntop ends:   "
            + ", ".join(f"{t}@{p} ({v:.2f})" for p, t, v in window.top_ends)
            + f"\nno-answer logit (CLS): {window.null_logit:.2f}"
        )
    console.rule("best candidate spans (logit = start + end)")
    candidates = Table("answer", "chars", "tokens", "logit", "window")
    for c in explanation.candidates:
        candidates.add_row(
            c.text, f"{c.start}-{c.end}", f"{c.start_token}-{c.end_token}", f"{c.logit:.2f}", str(c.window)
        )
    console.print(candidates)
    console.rule("answers (probability over every span of every window)")
    for answer in explanation.answers:
        label = "(no answer)" if answer.is_no_answer else repr(answer.text)
        console.print(f"{label}  score {answer.score:.4f}  [{answer.start}:{answer.end}]")
    console.print(f"P(no answer) = {explanation.no_answer_probability:.4f}")
