"""Stage 3: start/end logits of every window -> ranked answers (numpy only).

Scores. Every candidate span (start <= end, both in the context, at most
`max_answer_len` tokens) in every window of an example gets the logit
`start_logit[i] + end_logit[j]` (for the pointer head, `end_logit[i, j]`, the end
conditioned on the start). One softmax over *all* candidates of *all* windows
(and of all contexts asked together) turns these logits into probabilities, so a
score is "the probability the model gives this answer among everything it could
have answered here", comparable across windows and contexts. With
`handle_impossible_answer` the no-answer (the CLS span of the window that most
favours an answer) joins that softmax. The same character span found in two
overlapping windows, and the same answer text at two places, are one answer:
their probabilities add up, and the answer keeps the offsets of its best occurrence.
All logits are divided by the model's `temperature` first (1 unless it was calibrated).

Answers are widened to whole words (`align_to_words`) by at most MAX_WIDENING_CHARS characters at
each end, and never longer than `max_answer_chars(max_answer_len)`: a run of text without spaces
(a 1 MB "word") does not come back whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spanqa.types import Answer


@dataclass(frozen=True)
class WindowLogits:
    """Model output for one window, trimmed to the window's length L."""

    start_logits: np.ndarray  # [L]
    end_logits: np.ndarray  # [L] (linear head) or [L, L] (pointer head: end given start)
    context_mask: np.ndarray  # [L] bool
    offsets: np.ndarray  # [L, 2] token character spans
    word_offsets: np.ndarray  # [L, 2] character spans of the words around tokens
    cls_index: int = 0
    context_index: int = 0  # which of the contexts asked together this window comes from


@dataclass(frozen=True)
class DecodeOptions:
    top_k: int = 1
    max_answer_len: int = 30
    handle_impossible_answer: bool = False
    null_threshold: float | None = None
    align_to_words: bool = True
    candidates_per_window: int = 20
    # None: the top_k best answers of all contexts. N: each context's N best answers, however the
    # contexts' answers rank against each other, and then top_k of them (Haystack's answers_per_seq).
    answers_per_context: int | None = None
    temperature: float = 1.0  # divides all logits before the softmax (calibration); ranking unchanged


@dataclass(frozen=True)
class Decoded:
    answers: list[Answer]
    no_answer_probability: float  # P(no answer) in a softmax over the no-answer and every span


def _logsumexp(values: np.ndarray) -> float:
    # Not np.logaddexp.reduce: it folds pairwise in a loop, 22x slower on a window's ~11,000 spans
    # (281 vs 12.7 microseconds), about 5% of an int8 question's time.
    if values.size == 0:
        return -np.inf
    peak = float(np.max(values))
    if not np.isfinite(peak):
        return peak
    return peak + float(np.log(np.sum(np.exp(values - peak))))


def span_band(window: WindowLogits, max_answer_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits of the spans (i, i + d), d < max_answer_len, as an [L, D] band; -inf where invalid.

    Returns (band_logits, end_positions). Working on the band instead of the full
    L x L matrix keeps decoding linear in the window length.
    """
    start = window.start_logits.astype(np.float64)
    length = start.shape[0]
    width = min(max_answer_len, length)
    starts = np.arange(length)[:, None]
    ends = starts + np.arange(width)[None, :]  # [L, D]
    inside = ends < length
    ends_clipped = np.minimum(ends, length - 1)
    if window.end_logits.ndim == 1:
        end_scores = window.end_logits.astype(np.float64)[ends_clipped]
    else:
        end_scores = window.end_logits.astype(np.float64)[starts, ends_clipped]
    valid = inside & window.context_mask[:, None] & window.context_mask[ends_clipped]
    band = np.where(valid, start[:, None] + end_scores, -np.inf)
    return band, ends_clipped


def null_logit(window: WindowLogits) -> float:
    cls = window.cls_index
    end = window.end_logits[cls] if window.end_logits.ndim == 1 else window.end_logits[cls, cls]
    return float(window.start_logits[cls]) + float(end)


# Widening a span to whole words moves each of its ends by at most this many characters. 100 is
# the longest word a WordPiece vocabulary splits at all (`max_input_chars_per_word`; a longer one
# is a single [UNK] token), so no real word needs more. A span that starts or ends inside a longer
# run without spaces (a 1 MB "word", a base64 blob, a BPE model's long token run) keeps the token
# boundary there instead of growing to the whole run.
MAX_WIDENING_CHARS = 100
# An answer is at most `max_answer_len` tokens; no token the model read stands for more than this
# many characters (see above), plus the widening at both ends. A longer span holds a token such as
# an [UNK] covering megabytes of text without spaces: it is no answer a reader can use, so it is
# left out of the answers (its probability still counts in the softmax, the other scores keep their meaning).
MAX_CHARS_PER_TOKEN = 100


def max_answer_chars(max_answer_len: int) -> int:
    """The longest answer, in characters, of a reader whose answers have at most `max_answer_len` tokens."""
    return max_answer_len * MAX_CHARS_PER_TOKEN + 2 * MAX_WIDENING_CHARS


def answer_char_span(window: WindowLogits, start: int, end: int, align_to_words: bool) -> tuple[int, int]:
    """Character span of the tokens start..end; with `align_to_words`, widened to whole words (bounded)."""
    token_start, token_end = int(window.offsets[start, 0]), int(window.offsets[end, 1])
    if not align_to_words:
        return token_start, token_end
    word_start, word_end = int(window.word_offsets[start, 0]), int(window.word_offsets[end, 1])
    if token_start - word_start > MAX_WIDENING_CHARS:
        word_start = token_start
    if word_end - token_end > MAX_WIDENING_CHARS:
        word_end = token_end
    return word_start, word_end


@dataclass(frozen=True)
class Candidates:
    """Some candidate spans of one window: their logits and token positions."""

    window: int
    logits: np.ndarray  # [N]
    starts: np.ndarray  # [N] start token of each span
    ends: np.ndarray  # [N] end token


def _candidates(w: int, flat: np.ndarray, chosen: np.ndarray, ends: np.ndarray, width: int) -> Candidates:
    starts, offsets_in_band = np.divmod(chosen, width)
    return Candidates(w, flat[chosen], starts, ends[starts, offsets_in_band])


def _merge(
    merged: dict[str, list],
    groups: Sequence[Candidates],
    windows: Sequence[WindowLogits],
    contexts: Sequence[str],
    total: float,
    options: DecodeOptions,
    add_up: bool = True,
) -> None:
    """Merge the spans into `merged`, one entry per (context, stripped text).

    Spans longer than `max_answer_chars` characters are left out (see MAX_CHARS_PER_TOKEN).

    With `add_up` the probabilities of the spans of one text add up; without, a text keeps its
    most probable span's (a lower bound of its score, for the spans beyond the ones that are added up).
    """
    longest = max_answer_chars(options.max_answer_len)
    for group in groups:
        window = windows[group.window]
        context = contexts[window.context_index]
        probabilities = np.exp(group.logits - total)
        for probability, start, end in zip(
            probabilities.tolist(), group.starts.tolist(), group.ends.tolist(), strict=True
        ):
            char_start, char_end = answer_char_span(window, start, end, options.align_to_words)
            if char_end - char_start > longest:
                continue
            text = context[char_start:char_end]
            stripped = text.strip()
            if not stripped:
                continue
            char_start += len(text) - len(text.lstrip())
            char_end = char_start + len(stripped)
            key = f"{window.context_index}\x00{stripped}"
            entry = merged.get(key)
            if entry is None:
                merged[key] = [probability, probability, char_start, char_end, window.context_index, group.window]
            else:
                entry[0] = entry[0] + probability if add_up else max(entry[0], probability)
                if probability > entry[1]:
                    entry[1:] = [probability, char_start, char_end, window.context_index, group.window]


def _best_of_each_context(answers: list[Answer], per_context: int) -> list[Answer]:
    """The first `per_context` answers of each context, in the order given (best first)."""
    taken: dict[int, int] = {}
    kept = []
    for answer in answers:
        if taken.get(answer.context_index, 0) < per_context:
            taken[answer.context_index] = taken.get(answer.context_index, 0) + 1
            kept.append(answer)
    return kept


def decode_example(windows: Sequence[WindowLogits], contexts: Sequence[str], options: DecodeOptions) -> Decoded:
    """Rank the answers of one question over all its windows (and contexts)."""
    core: list[Candidates] = []  # each window's candidates_per_window best spans: they alone make the scores
    extra: list[Candidates] = []  # further spans when top_k asks for more answers than that
    window_totals = []
    null_logits = []
    # the most answers one window can give to the list that is returned
    wanted = options.top_k if options.answers_per_context is None else options.answers_per_context
    for w, window in enumerate(windows):
        band, ends = span_band(window, options.max_answer_len)
        flat = band.ravel() / options.temperature
        finite = np.flatnonzero(np.isfinite(flat))
        null_logits.append(null_logit(window) / options.temperature)
        if finite.size == 0:
            continue
        window_totals.append(_logsumexp(flat[finite]))
        # Merged scores depend on which spans are kept, and the best answer must not change with top_k
        # (`predict --top-k 50` writes the same predictions as --top-k 1): the same number of spans per
        # window is added up whatever top_k is. Spans beyond it only add answers with new texts, each
        # scored by its best span, which is below every added-up answer of its window.
        kept = min(options.candidates_per_window, finite.size)
        order = np.argpartition(-flat[finite], kept - 1)
        core.append(_candidates(w, flat, finite[order[:kept]], ends, band.shape[1]))
        more = min(wanted - kept, finite.size - kept)
        if more > 0:
            rest = finite[order[kept:]]
            extra.append(_candidates(w, flat, rest[np.argpartition(-flat[rest], more - 1)[:more]], ends, band.shape[1]))

    span_total = _logsumexp(np.asarray(window_totals)) if window_totals else -np.inf
    # The no-answer of a question is judged by the window most confident that it holds an answer.
    null = min(null_logits) if null_logits else 0.0
    no_answer_probability = float(np.exp(null - np.logaddexp(null, span_total)))
    total = np.logaddexp(null, span_total) if options.handle_impossible_answer else span_total

    merged: dict[str, list] = {}  # text -> [probability, best probability, start, end, context, window]
    _merge(merged, core, windows, contexts, total, options)
    if extra:
        extra_merged: dict[str, list] = {}
        _merge(extra_merged, extra, windows, contexts, total, options, add_up=False)
        merged.update({key: entry for key, entry in extra_merged.items() if key not in merged})

    answers = [
        Answer(
            text=contexts[ctx][start:end],
            start=start,
            end=end,
            score=min(float(probability), 1.0),
            context_index=ctx,
            window_index=w,
        )
        for probability, _, start, end, ctx, w in merged.values()
    ]
    answers.sort(key=lambda answer: (-answer.score, answer.context_index, answer.start, answer.end))
    if options.answers_per_context is not None:
        answers = _best_of_each_context(answers, options.answers_per_context)

    if options.handle_impossible_answer:
        no_answer = Answer(text="", start=0, end=0, score=float(np.exp(null - total)))
        if options.null_threshold is None:
            answers.append(no_answer)
            answers.sort(key=lambda answer: -answer.score)
        elif no_answer_probability > options.null_threshold:
            answers.insert(0, no_answer)
    return Decoded(answers=answers[: options.top_k], no_answer_probability=no_answer_probability)
