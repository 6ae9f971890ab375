"""Official SQuAD scoring: hand-worked cases and equality with the official algorithms."""

from __future__ import annotations

import collections
import json
import re
import string
from pathlib import Path
from typing import Any

import pytest
from paths import SQUAD_V1_SMALL as V11
from paths import SQUAD_V2_SMALL as V20

from spanqa.data.predictions import load_na_probs_file, load_predictions_file
from spanqa.errors import DataFileError, IgnoredInputWarning, InputError
from spanqa.evaluation.metrics import (
    detect_version,
    evaluate_squad,
    exact_match,
    normalize_answer,
    score_answer,
    squad_metrics,
    token_f1,
)


def make_dataset(questions: list[tuple[str, list[str]]], version: str | None = "v2.0") -> dict[str, Any]:
    """A one-paragraph SQuAD file; a question with no answers is unanswerable (v2.0)."""
    context = "Paris Rome Milan Berlin Denver Broncos theatre"
    qas = []
    for qid, answers in questions:
        qa: dict[str, Any] = {"id": qid, "question": f"What is {qid}?", "answers": []}
        qa["answers"] = [{"text": text, "answer_start": 0} for text in answers]
        if version == "v2.0":
            qa["is_impossible"] = not answers
        qas.append(qa)
    dataset: dict[str, Any] = {"data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}]}
    if version is not None:
        dataset["version"] = version
    return dataset


# ------------------------------------------------------------------ normalisation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Cat's  hat!", "cats hat"),
        ("  A\tcat\nAN apple, THE end. ", "cat apple end"),
        ("theatre", "theatre"),  # articles only as whole words
        ("a theatre and an anthem", "theatre and anthem"),
        ("an-apple", "anapple"),  # punctuation goes first, so no word boundary is left
        ("the-end", "theend"),
        ("“Hello”", "“hello”"),  # unicode quotes are not in string.punctuation
        ("don’t", "don’t"),
        ("don't", "dont"),
        ("1990–1995", "1990–1995"),  # en dash kept
        (string.punctuation, ""),
        ("the", ""),
        ("", ""),
        ("ÉCOLE  Normale", "école normale"),
    ],
)
def test_normalize_answer(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected == official_normalize(text)


def test_guillemets_follow_the_official_regex() -> None:
    # « and » are not ASCII punctuation; \b between « and t is a word boundary, so 'the' goes.
    assert normalize_answer("«the» cat") == "« » cat" == official_normalize("«the» cat")


def test_unicode_punctuation_is_not_removed() -> None:
    assert exact_match("“Hello”", "Hello") == 0
    assert token_f1("“Hello” world", "Hello world") == pytest.approx(0.5)
    assert exact_match('"Hello"', "Hello") == 1


# ------------------------------------------------------------------ one answer, by hand


def test_f1_several_gold_answers_takes_the_maximum() -> None:
    # vs "denver broncos": p 2/3, r 1 -> 0.8; vs "broncos": p 1/3, r 1 -> 0.5
    exact, f1 = score_answer("Denver Broncos team", ["Denver Broncos", "Broncos"])
    assert exact == 0
    assert f1 == pytest.approx(0.8)
    assert score_answer("the Broncos", ["Denver Broncos", "Broncos"]) == (1, 1.0)


def test_f1_counts_repeated_tokens() -> None:
    assert token_f1("x y y", "y y z") == pytest.approx(2 / 3)  # common y,y: p 2/3, r 2/3
    assert token_f1("y y y", "y z") == pytest.approx(0.4)  # common y: p 1/3, r 1/2
    assert token_f1("Rome", "Milan") == 0


def test_duplicate_gold_answers_change_nothing() -> None:
    assert score_answer("Paris", ["Paris", "Paris", "paris."]) == score_answer("Paris", ["Paris"]) == (1, 1.0)


def test_empty_prediction_v20() -> None:
    assert score_answer("", ["Paris"], "2.0") == (0, 0)
    assert score_answer("", [], "2.0") == (1, 1)  # unanswerable: gold is [""]
    assert score_answer("the", [], "2.0") == (1, 1)  # normalises to the no-answer
    assert score_answer("Paris", [], "2.0") == (0, 0)


def test_gold_that_normalises_to_empty_v20_is_dropped() -> None:
    assert score_answer("", ["The", "Paris"], "2.0") == (0, 0)
    assert score_answer("Paris", ["The", "Paris"], "2.0") == (1, 1.0)
    # every gold answer empty after normalisation: the gold becomes [""]
    assert score_answer("", ["The", "."], "2.0") == (1, 1)


def test_empty_prediction_v11() -> None:
    # v1.1 keeps gold answers that normalise to empty: exact 1 but F1 0 (no common token)
    assert score_answer("", ["The", "Paris"], "1.1") == (1, 0)
    assert score_answer("a", ["The", "Paris"], "1.1") == (1, 0)
    assert score_answer("", ["Paris"], "1.1") == (0, 0)
    assert token_f1("", "", "1.1") == 0
    assert token_f1("", "", "2.0") == 1
    with pytest.raises(InputError):
        score_answer("x", [], "1.1")


# ------------------------------------------------------------------ whole datasets, by hand


def test_version_detection() -> None:
    assert detect_version(make_dataset([("q", ["Paris"])], version="1.1")) == "1.1"
    assert detect_version(make_dataset([("q", ["Paris"])], version=None)) == "1.1"
    assert detect_version(make_dataset([("q", ["Paris"])], version="v2.0")) == "2.0"  # is_impossible present
    v2_by_name = make_dataset([("q", ["Paris"])], version="1.1")
    v2_by_name["version"] = "v2.0"
    assert detect_version(v2_by_name) == "2.0"
    assert detect_version(make_dataset([("q", [])], version=None)) == "2.0"  # a question without gold
    assert detect_version(json.loads(V11.read_text())) == "1.1"
    assert detect_version(json.loads(V20.read_text())["data"]) == "2.0"


def test_v11_with_missing_prediction() -> None:
    dataset = make_dataset([("q1", ["Paris"]), ("q2", ["Rome"]), ("q3", ["Denver Broncos"])], version="1.1")
    metrics = squad_metrics(dataset, {"q1": "Paris", "q3": "Broncos"})
    assert metrics["version"] == "1.1"
    assert metrics["total"] == 3
    assert metrics["missing"] == 1
    assert metrics["exact"] == pytest.approx(100 / 3)
    assert metrics["f1"] == pytest.approx(100 * (1 + 2 / 3) / 3)  # "broncos": p 1, r 1/2
    assert "HasAns_total" not in metrics


def test_accepts_the_list_of_articles() -> None:
    dataset = make_dataset([("q1", ["Paris"]), ("q2", [])])
    assert squad_metrics(dataset["data"], {"q1": "Paris", "q2": ""}) == squad_metrics(
        dataset, {"q1": "Paris", "q2": ""}
    )


def four_questions() -> dict[str, Any]:
    return make_dataset([("q1", ["Paris"]), ("q2", ["Rome"]), ("q3", []), ("q4", [])])


def test_v20_breakdown_and_threshold() -> None:
    predictions = {"q1": "Paris", "q2": "Milan", "q3": "Berlin", "q4": ""}
    na_probs = {"q1": 0.2, "q2": 0.6, "q3": 0.6, "q4": 0.9}
    metrics = squad_metrics(four_questions(), predictions, na_probs)
    assert metrics["exact"] == 50.0 and metrics["f1"] == 50.0 and metrics["total"] == 4
    assert (metrics["HasAns_exact"], metrics["HasAns_total"]) == (50.0, 2)
    assert (metrics["NoAns_exact"], metrics["NoAns_total"]) == (50.0, 2)
    # walk: start 2 (both unanswerable right) -> q1 +1 = 3 (best, 0.2) -> q2 +0 -> q3 -1 -> q4 0
    assert (metrics["best_exact"], metrics["best_exact_thresh"]) == (75.0, 0.2)
    assert (metrics["best_f1"], metrics["best_f1_thresh"]) == (75.0, 0.2)

    thresholded = squad_metrics(four_questions(), predictions, na_probs, na_prob_thresh=0.5)
    # q2, q3, q4 exceed 0.5: q2 -> 0, q3 -> 1, q4 -> 1; q1 keeps 1
    assert thresholded["exact"] == 75.0
    assert thresholded["HasAns_exact"] == 50.0 and thresholded["NoAns_exact"] == 100.0
    assert thresholded["best_exact"] == 75.0  # the search uses the raw scores


def test_best_threshold_ties_follow_the_order_of_the_probabilities() -> None:
    predictions = {"q1": "Paris", "q2": "Rome", "q3": "Berlin", "q4": ""}
    # q2 before q3 at 0.6: 3 -> q2 +1 = 4 (best, 0.6) -> q3 -1 ...: 100 although no threshold gives it
    first = squad_metrics(four_questions(), predictions, {"q1": 0.2, "q2": 0.6, "q3": 0.6, "q4": 0.9})
    assert (first["best_exact"], first["best_exact_thresh"]) == (100.0, 0.6)
    # q3 before q2: 3 -> q3 -1 = 2 -> q2 +1 = 3, not better than 3
    second = squad_metrics(four_questions(), predictions, {"q1": 0.2, "q3": 0.6, "q2": 0.6, "q4": 0.9})
    assert (second["best_exact"], second["best_exact_thresh"]) == (75.0, 0.2)


def test_best_threshold_partial_f1() -> None:
    predictions = {"q1": "Paris", "q2": "Rome city", "q3": "Berlin", "q4": ""}
    na_probs = {"q1": 0.1, "q2": 0.3, "q3": 0.5, "q4": 0.7}
    metrics = squad_metrics(four_questions(), predictions, na_probs)
    # f1: 2 -> 3 (0.1) -> 3 2/3 (0.3, best) -> 2 2/3 -> 2 2/3
    assert metrics["best_f1"] == pytest.approx(100 * (3 + 2 / 3) / 4)
    assert metrics["best_f1_thresh"] == 0.3
    assert metrics["best_exact"] == 75.0 and metrics["best_exact_thresh"] == 0.1


def test_best_threshold_counts_a_blank_prediction_as_an_answer() -> None:
    # official quirk: the raw text " " is truthy, so it costs 1 in the search while it scores 1 raw
    dataset = make_dataset([("qa", ["Paris"]), ("qb", [])])
    metrics = squad_metrics(dataset, {"qa": "Paris", "qb": " "}, {"qa": 0.5, "qb": 0.1})
    assert metrics["exact"] == 100.0
    assert (metrics["best_exact"], metrics["best_exact_thresh"]) == (50.0, 0.0)


def test_v20_missing_predictions_score_zero() -> None:
    metrics = squad_metrics(four_questions(), {"q1": "Paris", "q3": ""}, {"q1": 0.1, "q3": 0.2})
    assert metrics["missing"] == 2 and metrics["answered"] == 2 and metrics["total"] == 4
    assert metrics["exact"] == 50.0
    assert metrics["HasAns_exact"] == 50.0 and metrics["NoAns_exact"] == 50.0
    # start 1 (q3 only) -> q1 +1 = 2 (0.1) -> q3 0: 2 of 4
    assert (metrics["best_exact"], metrics["best_exact_thresh"]) == (50.0, 0.1)


def test_gold_that_normalises_to_empty_still_counts_as_has_answer() -> None:
    dataset = make_dataset([("q1", ["The"])])
    metrics = squad_metrics(dataset, {"q1": ""})
    assert metrics["HasAns_total"] == 1 and metrics["HasAns_exact"] == 100.0
    assert "NoAns_total" not in metrics


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("predictions", "message"),
    [
        (["Paris"], "should be a JSON object"),
        ({}, "holds no predictions"),
        ({"q1": ["Paris"]}, "'q1' should be a string"),
        ({"q1": None}, "'q1' should be a string"),
    ],
)
def test_bad_predictions(predictions: Any, message: str) -> None:
    with pytest.raises(InputError) as error:
        squad_metrics(four_questions(), predictions)
    assert message in str(error.value)


def test_unknown_ids_are_an_error_when_strict() -> None:
    with pytest.raises(InputError, match=r"2 id\(s\) that match no question"):
        squad_metrics(four_questions(), {"q1": "Paris", "zz": "x", "yy": "y"}, strict=True)


def test_many_unknown_ids_are_previewed() -> None:
    predictions = {f"x{i}": "a" for i in range(9)}
    with pytest.raises(InputError, match=r"9 id\(s\).*'x0'.*'x4' and 4 more"):
        squad_metrics(four_questions(), predictions, strict=True)
    with pytest.warns(IgnoredInputWarning, match=r"9 id\(s\).*'x0'.*'x4' and 4 more.*ignored"):
        evaluation = evaluate_squad(four_questions(), predictions)
    assert evaluation.ignored_prediction_ids == tuple(predictions)
    assert evaluation.missing_ids == ["q1", "q2", "q3", "q4"]


def test_unknown_ids_are_ignored_as_the_official_scripts_ignore_them() -> None:
    """evaluate-v2.0.py scores only the data file's questions: stray ids change no number."""
    predictions = {"q1": "Paris", "q2": "Rome"}
    na_probs = {"q1": 0.1, "q2": 0.7}
    expected = squad_metrics(four_questions(), predictions, na_probs)
    with pytest.warns(IgnoredInputWarning) as caught:
        got = squad_metrics(four_questions(), {**predictions, "stray": "x"}, {"stray": 0.0, **na_probs, "other": 0.5})
    assert got == expected
    messages = [str(w.message) for w in caught]
    assert any("predictions has 1 id(s)" in m and "'stray'" in m for m in messages)
    assert any("na_probs has 2 id(s)" in m and "'stray', 'other'" in m for m in messages)


@pytest.mark.parametrize(
    ("na_probs", "message"),
    [
        ([0.1], "should be a JSON object"),
        ({"q1": "high"}, "'q1' should be a number"),
        ({"q1": True}, "'q1' should be a number"),
        ({"q1": 1.5}, "'q1' is 1.5"),
        ({"q1": -0.1}, "'q1' is -0.1"),
        ({"q1": float("nan")}, "'q1' is nan"),
        ({"q1": 0.1, "q2": 0.1, "nope": 0.2}, "1 id(s) that match no question"),
        ({"q1": 0.1}, "no probability for 1 question(s) that have a prediction: 'q2'"),
    ],
)
def test_bad_na_probs(na_probs: Any, message: str) -> None:
    with pytest.raises(InputError) as error:
        squad_metrics(four_questions(), {"q1": "Paris", "q2": "Rome"}, na_probs, strict=True)
    assert message in str(error.value)


def test_na_probs_on_v11_data_and_bad_threshold() -> None:
    dataset = make_dataset([("q1", ["Paris"])], version="1.1")
    with pytest.raises(InputError, match=r"SQuAD v2\.0 data only"):
        squad_metrics(dataset, {"q1": "Paris"}, {"q1": 0.5})
    with pytest.raises(InputError, match="between 0 and 1"):
        squad_metrics(four_questions(), {"q1": "Paris"}, na_prob_thresh=2.0)


def test_bad_dataset() -> None:
    with pytest.raises(DataFileError, match="'data'"):
        squad_metrics({"articles": []}, {"q1": "x"})
    with pytest.raises(InputError, match="SQuAD JSON object"):
        squad_metrics("dev.json", {"q1": "x"})  # type: ignore[arg-type]


def test_file_loaders_name_the_file(tmp_path: Path) -> None:
    dataset = four_questions()
    predictions = tmp_path / "preds.json"
    predictions.write_text(json.dumps({"q1": 3}))
    with pytest.raises(DataFileError, match=r"predictions file .*preds.json: the entry for id 'q1'"):
        load_predictions_file(predictions, dataset)
    predictions.write_text("{not json")
    with pytest.raises(DataFileError, match="not valid JSON"):
        load_predictions_file(predictions, dataset)
    probs = tmp_path / "probs.json"
    probs.write_text(json.dumps({"q1": 2}))
    with pytest.raises(DataFileError, match=r"no-answer probabilities file .*probs.json: the value for id 'q1' is 2"):
        load_na_probs_file(probs, dataset, {"q1": "x"})


# ------------------------------------------------------------------ equality with the official scripts
# The two functions below transcribe the official algorithms (evaluate-v1.1.py and
# evaluate-v2.0.py) as published, unoptimised, so the fast implementation can be checked against them.


def official_normalize(s: str) -> str:
    def remove_articles(text: str) -> str:
        return re.sub(re.compile(r"\b(a|an|the)\b", re.UNICODE), " ", text)

    def remove_punc(text: str) -> str:
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return " ".join(remove_articles(remove_punc(s.lower())).split())


def official_v11(articles: list[dict[str, Any]], predictions: dict[str, str]) -> dict[str, float]:
    def f1_score(prediction: str, ground_truth: str) -> float:
        prediction_tokens = official_normalize(prediction).split()
        ground_truth_tokens = official_normalize(ground_truth).split()
        common = collections.Counter(prediction_tokens) & collections.Counter(ground_truth_tokens)
        num_same = sum(common.values())
        if num_same == 0:
            return 0
        precision = 1.0 * num_same / len(prediction_tokens)
        recall = 1.0 * num_same / len(ground_truth_tokens)
        return (2 * precision * recall) / (precision + recall)

    def exact_match_score(prediction: str, ground_truth: str) -> bool:
        return official_normalize(prediction) == official_normalize(ground_truth)

    f1 = exact = total = 0
    for article in articles:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                total += 1
                if qa["id"] not in predictions:
                    continue
                ground_truths = [answer["text"] for answer in qa["answers"]]
                prediction = predictions[qa["id"]]
                exact += max(exact_match_score(prediction, gt) for gt in ground_truths)
                f1 += max(f1_score(prediction, gt) for gt in ground_truths)
    return {"exact_match": 100.0 * exact / total, "f1": 100.0 * f1 / total}


def official_v20(
    articles: list[dict[str, Any]],
    preds: dict[str, str],
    na_probs: dict[str, float] | None = None,
    na_prob_thresh: float = 1.0,
) -> dict[str, Any]:
    def get_tokens(s: str) -> list[str]:
        return official_normalize(s).split() if s else []

    def compute_f1(a_gold: str, a_pred: str) -> float:
        gold_toks, pred_toks = get_tokens(a_gold), get_tokens(a_pred)
        common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
        num_same = sum(common.values())
        if len(gold_toks) == 0 or len(pred_toks) == 0:
            return int(gold_toks == pred_toks)
        if num_same == 0:
            return 0
        precision = 1.0 * num_same / len(pred_toks)
        recall = 1.0 * num_same / len(gold_toks)
        return (2 * precision * recall) / (precision + recall)

    qid_to_has_ans = {qa["id"]: bool(qa["answers"]) for a in articles for p in a["paragraphs"] for qa in p["qas"]}
    has_ans_qids = [k for k, v in qid_to_has_ans.items() if v]
    no_ans_qids = [k for k, v in qid_to_has_ans.items() if not v]
    exact_raw, f1_raw = {}, {}
    for article in articles:
        for p in article["paragraphs"]:
            for qa in p["qas"]:
                gold = [a["text"] for a in qa["answers"] if official_normalize(a["text"])] or [""]
                a_pred = preds[qa["id"]]
                exact_raw[qa["id"]] = max(int(official_normalize(a) == official_normalize(a_pred)) for a in gold)
                f1_raw[qa["id"]] = max(compute_f1(a, a_pred) for a in gold)
    probs = na_probs if na_probs is not None else {k: 0.0 for k in preds}

    def apply(scores: dict[str, float]) -> dict[str, float]:
        return {q: float(not qid_to_has_ans[q]) if probs[q] > na_prob_thresh else s for q, s in scores.items()}

    exact_thresh, f1_thresh = apply(exact_raw), apply(f1_raw)

    def make_eval(qid_list: list[str] | None = None) -> dict[str, Any]:
        qids = qid_list or list(exact_thresh)
        return {
            "exact": 100.0 * sum(exact_thresh[k] for k in qids) / len(qids),
            "f1": 100.0 * sum(f1_thresh[k] for k in qids) / len(qids),
            "total": len(qids),
        }

    out = make_eval()
    if has_ans_qids:
        out.update({f"HasAns_{k}": v for k, v in make_eval(has_ans_qids).items()})
    if no_ans_qids:
        out.update({f"NoAns_{k}": v for k, v in make_eval(no_ans_qids).items()})

    def find_best_thresh(scores: dict[str, float]) -> tuple[float, float]:
        cur_score = best_score = sum(1 for k in qid_to_has_ans if not qid_to_has_ans[k])
        best_thresh = 0.0
        for qid in sorted(probs, key=lambda k: probs[k]):
            if qid not in scores:
                continue
            if qid_to_has_ans[qid]:
                diff = scores[qid]
            elif preds[qid]:
                diff = -1
            else:
                diff = 0
            cur_score += diff
            if cur_score > best_score:
                best_score = cur_score
                best_thresh = probs[qid]
        return 100.0 * best_score / len(scores), best_thresh

    if na_probs is not None:
        out["best_exact"], out["best_exact_thresh"] = find_best_thresh(exact_raw)
        out["best_f1"], out["best_f1_thresh"] = find_best_thresh(f1_raw)
    return out


def perturbed_predictions(articles: list[dict[str, Any]]) -> dict[str, str]:
    """Deterministic predictions of every kind: exact, partial, padded, empty, wrong, punctuation."""
    predictions = {}
    index = 0
    for article in articles:
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                gold = qa["answers"][0]["text"] if qa["answers"] else ""
                words = gold.split()
                variants = [
                    gold,
                    " ".join(words[1:]),
                    f"the {gold}, indeed",
                    "",
                    context[:30],
                    gold.upper() + ".",
                    f"“{gold}”",
                    " ".join(words[:1] * 3),
                    "the",
                    context[index % 50 : index % 50 + 12],
                    " ",
                ]
                predictions[qa["id"]] = variants[index % len(variants)]
                index += 1
    return predictions


def probabilities(articles: list[dict[str, Any]], decimals: int) -> dict[str, float]:
    """Pseudo-random no-answer probabilities, rounded so that many tie, in file order shuffled."""
    ids = [qa["id"] for a in articles for p in a["paragraphs"] for qa in p["qas"]]
    order = sorted(range(len(ids)), key=lambda i: (i * 31) % 17)
    return {ids[i]: round(((i * 7919) % 101) / 100, decimals) for i in order}


def test_equals_official_v11_on_the_fixture() -> None:
    dataset = json.loads(V11.read_text())
    predictions = perturbed_predictions(dataset["data"])
    expected = official_v11(dataset["data"], predictions)
    metrics = squad_metrics(dataset, predictions)
    assert metrics["version"] == "1.1"
    assert (metrics["exact"], metrics["f1"]) == (expected["exact_match"], expected["f1"])
    # gold answers as predictions: 100 / 100
    gold = {qa["id"]: qa["answers"][-1]["text"] for a in dataset["data"] for p in a["paragraphs"] for qa in p["qas"]}
    assert (squad_metrics(dataset, gold)["exact"], squad_metrics(dataset, gold)["f1"]) == (100.0, 100.0)


def test_v11_data_with_a_gold_that_normalises_to_empty_follows_v11() -> None:
    dataset = json.loads(V11.read_text())
    dataset["data"][0]["paragraphs"][0]["qas"][0]["answers"].append({"text": "The", "answer_start": 0})
    predictions = perturbed_predictions(dataset["data"])
    first = dataset["data"][0]["paragraphs"][0]["qas"][0]["id"]
    predictions[first] = ""
    expected = official_v11(dataset["data"], predictions)
    metrics = squad_metrics(dataset, predictions)
    assert (metrics["exact"], metrics["f1"]) == (expected["exact_match"], expected["f1"])
    assert official_v20(dataset["data"], predictions)["exact"] != expected["exact_match"]


@pytest.mark.parametrize(("decimals", "thresh"), [(1, 1.0), (1, 0.5), (2, 0.3), (0, 0.0)])
def test_equals_official_v20_on_the_fixture(decimals: int, thresh: float) -> None:
    dataset = json.loads(V20.read_text())
    predictions = perturbed_predictions(dataset["data"])
    na_probs = probabilities(dataset["data"], decimals)
    expected = official_v20(dataset["data"], predictions, na_probs, thresh)
    metrics = squad_metrics(dataset, predictions, na_probs, thresh)
    assert {key: metrics[key] for key in expected} == expected


def test_equals_official_v20_without_probabilities() -> None:
    dataset = json.loads(V20.read_text())
    predictions = perturbed_predictions(dataset["data"])
    expected = official_v20(dataset["data"], predictions)
    metrics = squad_metrics(dataset, predictions)
    assert {key: metrics[key] for key in expected} == expected
    assert "best_f1" not in metrics


def test_per_question_scores_are_kept_in_file_order() -> None:
    dataset = json.loads(V20.read_text())
    predictions = perturbed_predictions(dataset["data"])
    evaluation = evaluate_squad(dataset, predictions)
    ids = [qa["id"] for a in dataset["data"] for p in a["paragraphs"] for qa in p["qas"]]
    assert [q.id for q in evaluation.questions] == ids
    assert all(q.prediction == predictions[q.id] for q in evaluation.questions)
