"""`ask --explain`: what the reader saw and why it chose what it chose."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from spanqa.inference.decode import answer_char_span, decode_example, max_answer_chars, null_logit, span_band
from spanqa.inference.features import encode_windows
from spanqa.inference.inputs import check_text
from spanqa.inference.pipeline import decode_options, pad_token_id, run_windows, window_logits
from spanqa.inference.runtime.base import Runtime
from spanqa.inference.tokenization import span_tokenizer
from spanqa.settings import ReaderSettings
from spanqa.types import Answer


@dataclass
class WindowReport:
    index: int
    char_start: int  # first context character the window covers
    char_end: int
    tokens: list[str]
    sequence_ids: list[int | None]
    offsets: list[tuple[int, int]]
    top_starts: list[tuple[int, str, float]]  # (position, token, logit)
    top_ends: list[tuple[int, str, float]]
    null_logit: float
    start_logits: list[float] = field(default_factory=list)
    end_logits: list[float] = field(default_factory=list)


@dataclass
class Candidate:
    text: str
    start: int
    end: int
    logit: float
    window: int
    start_token: int
    end_token: int


@dataclass
class Explanation:
    question: str
    context: str
    settings: ReaderSettings
    windows: list[WindowReport]
    candidates: list[Candidate]
    answers: list[Answer]
    no_answer_probability: float


def explain(
    runtime: Runtime, tokenizer, question: str, context: str, settings: ReaderSettings, top_n: int = 5
) -> Explanation:
    """Run the reader's stages on one question and keep every intermediate result."""
    check_text(question, "question")
    check_text(context, "context", settings.max_context_chars)
    tokenizer = span_tokenizer(tokenizer)
    windows = encode_windows(tokenizer, [question], [context], settings)
    logits = run_windows(runtime, windows, batch_size=32, pad_id=pad_token_id(tokenizer))
    per_window = [window_logits(window, output) for window, output in zip(windows, logits, strict=True)]
    decoded = decode_example(per_window, [context], decode_options(settings))
    reports, candidates = [], []
    for index, (window, wl) in enumerate(zip(windows, per_window, strict=True)):
        tokens = tokenizer.convert_ids_to_tokens(window.input_ids.tolist())
        sequence_ids = [
            1 if m else (None if t in tokenizer.special_tokens else 0)
            for t, m in zip(tokens, window.context_mask, strict=True)
        ]
        context_positions = np.flatnonzero(window.context_mask)
        start = np.where(window.context_mask, wl.start_logits, -np.inf)
        end_vector = wl.end_logits if wl.end_logits.ndim == 1 else wl.end_logits.max(axis=0)
        end = np.where(window.context_mask, end_vector, -np.inf)
        top_starts = [(int(i), tokens[i], float(start[i])) for i in np.argsort(-start)[:top_n] if np.isfinite(start[i])]
        top_ends = [(int(i), tokens[i], float(end[i])) for i in np.argsort(-end)[:top_n] if np.isfinite(end[i])]
        reports.append(
            WindowReport(
                index=index,
                char_start=int(window.offsets[context_positions[0], 0]) if context_positions.size else 0,
                char_end=int(window.offsets[context_positions[-1], 1]) if context_positions.size else 0,
                tokens=tokens,
                sequence_ids=sequence_ids,
                offsets=[tuple(map(int, o)) for o in window.offsets],
                top_starts=top_starts,
                top_ends=top_ends,
                null_logit=null_logit(wl),
                start_logits=[float(x) for x in wl.start_logits],
                end_logits=[float(x) for x in end_vector],
            )
        )
        band, ends = span_band(wl, settings.max_answer_len)
        longest = max_answer_chars(settings.max_answer_len)
        flat = band.ravel()
        finite = np.flatnonzero(np.isfinite(flat))
        for position in finite[np.argsort(-flat[finite])][: top_n * 2]:
            i, d = divmod(int(position), band.shape[1])
            j = int(ends[i, d])
            # The same widening and length bound as the answers, so the candidates shown are ones decoding could pick.
            char_start, char_end = answer_char_span(wl, i, j, settings.align_to_words)
            if char_end - char_start > longest:
                continue
            candidates.append(
                Candidate(context[char_start:char_end], char_start, char_end, float(flat[position]), index, i, j)
            )
    candidates.sort(key=lambda c: -c.logit)
    return Explanation(
        question=question,
        context=context,
        settings=settings,
        windows=reports,
        candidates=candidates[: top_n * 2],
        answers=decoded.answers,
        no_answer_probability=decoded.no_answer_probability,
    )


# ---------------------------------------------------------------------------- heat map
@dataclass(frozen=True)
class TokenHeat:
    start: int  # character offsets of the token in the context
    end: int
    text: str
    start_prob: float  # P(the answer starts here), softmax over the window's context tokens
    end_prob: float


@dataclass(frozen=True)
class WindowHeat:
    index: int
    char_start: int
    char_end: int
    tokens: list[TokenHeat]


@dataclass(frozen=True)
class HeatMap:
    tokens: list[TokenHeat]  # every context token once, in text order (the most confident window's values)
    windows: list[WindowHeat]


def _softmax(logits: np.ndarray) -> np.ndarray:
    return np.exp(logits - np.logaddexp.reduce(logits)) if logits.size else logits


def heat_map(explanation: Explanation) -> HeatMap:
    """P(start) and P(end) of every context token, per window and merged over overlapping windows."""
    windows, merged = [], {}
    for window in explanation.windows:
        positions = [p for p, s in enumerate(window.sequence_ids) if s == 1]
        starts = _softmax(np.asarray([window.start_logits[p] for p in positions], dtype=np.float64))
        ends = _softmax(np.asarray([window.end_logits[p] for p in positions], dtype=np.float64))
        tokens = []
        for position, start_prob, end_prob in zip(positions, starts, ends, strict=True):
            char_start, char_end = window.offsets[position]
            token = TokenHeat(
                char_start, char_end, explanation.context[char_start:char_end], float(start_prob), float(end_prob)
            )
            tokens.append(token)
            previous = merged.get((char_start, char_end))
            if previous is not None:
                token = dataclasses.replace(
                    token,
                    start_prob=max(token.start_prob, previous.start_prob),
                    end_prob=max(token.end_prob, previous.end_prob),
                )
            merged[(char_start, char_end)] = token
        windows.append(WindowHeat(window.index, window.char_start, window.char_end, tokens))
    return HeatMap(tokens=[merged[key] for key in sorted(merged)], windows=windows)
