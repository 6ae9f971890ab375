"""The Reader with tiny random models (linear and pointer heads), and a scripted runtime."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from paths import SQUAD_V1_SMALL

from spanqa.errors import ConfigError, InputError, ModelFolderError, SpanQAError
from spanqa.inference.features import encode_windows
from spanqa.inference.reader import Reader
from spanqa.model.folder import SETTINGS_FILE, ModelInfo
from spanqa.settings import ReaderSettings
from spanqa.types import Answer, Example, Prediction

QUESTION = "Who wrote the first program?"
CONTEXT = "The first program was written by Ada Lovelace in 1843, for the Analytical Engine of Charles Babbage."
SIMPLE_WORDS = "the cat sat on the mat with a dog and a bird near the old red house by the big green tree"
SMALL_WINDOWS = {"max_seq_len": 64, "doc_stride": 16, "max_question_len": 16}
LONG_CONTEXT = " ".join(f"Sentence {i} is about item{i} from town{i}." for i in range(50))


@pytest.fixture(scope="module")
def pointer_reader(tiny_pointer_model_dir: Path) -> Reader:
    return Reader.load(tiny_pointer_model_dir)


@pytest.fixture(params=["linear", "pointer"])
def any_reader(request, tiny_reader: Reader, pointer_reader: Reader) -> Reader:
    return tiny_reader if request.param == "linear" else pointer_reader


def spans(answers: list[Answer]) -> list[tuple[str, int, int, int]]:
    return [(a.text, a.start, a.end, a.context_index) for a in answers]


def assert_same_answers(got: list[Answer] | tuple[Answer, ...], expected: list[Answer]) -> None:
    assert spans(list(got)) == spans(expected)
    for a, b in zip(got, expected, strict=True):
        assert a.score == pytest.approx(b.score, abs=1e-4)


# ------------------------------------------------------------------ ask
def test_ask_gives_one_exact_answer_by_default(any_reader: Reader) -> None:
    (answer,) = any_reader.ask(QUESTION, CONTEXT)
    assert CONTEXT[answer.start : answer.end] == answer.text != ""
    assert 0.0 < answer.score <= 1.0
    assert answer.context_index == 0
    # the dict the CLI's --json and the server return, and what pipeline("question-answering") users index
    assert answer.to_dict() == {"answer": answer.text, "score": answer.score, "start": answer.start, "end": answer.end}


def test_top_k_answers_are_sorted_unique_and_exact(any_reader: Reader) -> None:
    answers = any_reader.ask(QUESTION, CONTEXT, top_k=10)
    assert len(answers) == 10
    scores = [a.score for a in answers]
    assert scores == sorted(scores, reverse=True)
    assert len({a.text for a in answers}) == 10
    for answer in answers:
        assert CONTEXT[answer.start : answer.end] == answer.text
        assert answer.text == answer.text.strip() != ""
    assert sum(scores) <= 1.0 + 1e-6
    assert any_reader.ask(QUESTION, CONTEXT, top_k=1)[0] == answers[0]


def test_the_best_answer_does_not_depend_on_top_k(any_reader: Reader) -> None:
    from spanqa.data import load_squad

    examples = load_squad(SQUAD_V1_SMALL)
    best = [p.answers[0] for p in any_reader.predict(examples, batch_size=64, top_k=1)]
    for top_k in (5, 20):
        for first, prediction in zip(best, any_reader.predict(examples, batch_size=64, top_k=top_k), strict=True):
            assert (prediction.answers[0].text, prediction.answers[0].start) == (first.text, first.start)
            assert prediction.answers[0].score == pytest.approx(first.score, abs=1e-9)


def test_the_best_answer_does_not_depend_on_a_top_k_above_the_candidates_kept(tiny_reader: Reader) -> None:
    from spanqa.data import load_squad

    examples = load_squad(SQUAD_V1_SMALL)
    best = [p.best_text for p in tiny_reader.predict(examples, batch_size=64)]
    assert [p.best_text for p in tiny_reader.predict(examples, batch_size=64, top_k=50)] == best


def test_the_reader_settings_top_k_is_the_default(tiny_model_dir: Path) -> None:
    reader = Reader.load(tiny_model_dir, top_k=3)
    assert len(reader.ask(QUESTION, CONTEXT)) == 3
    assert len(reader.ask(QUESTION, CONTEXT, top_k=2)) == 2


def test_scores_of_all_spans_add_up_to_one(tiny_model_dir: Path) -> None:
    reader = Reader.load(tiny_model_dir, max_answer_len=2)
    context = "Ada wrote programs"  # 3 tokens: 5 spans of at most 2 tokens, all different texts
    answers = reader.ask("Who?", context, top_k=50)
    assert len(answers) == 5
    assert sum(a.score for a in answers) == pytest.approx(1.0, abs=1e-6)


# ------------------------------------------------------------------ batching
def test_a_question_alone_or_in_any_batch_gets_the_same_answers(any_reader: Reader) -> None:
    pairs = [
        (QUESTION, CONTEXT),
        ("Which item comes from the town with the number thirty two in this long text?", LONG_CONTEXT),
        ("a", "Short."),
        ("Where is it?", "In Zürich, near the lake — “quoted” text and 東京."),
    ]
    settings = {**SMALL_WINDOWS, "top_k": 3}
    alone = [any_reader.ask(q, c, **settings) for q, c in pairs]
    assert len(encode_windows(any_reader.tokenizer, [pairs[1][0]], [pairs[1][1]], ReaderSettings(**SMALL_WINDOWS))) > 3
    mixed = pairs + pairs[::-1]
    for batch_size in (1, 3, 64):
        predictions = any_reader.predict(mixed, batch_size=batch_size, **settings)
        assert [p.example_id for p in predictions] == [str(i) for i in range(len(mixed))]
        for prediction, expected in zip(predictions, alone + alone[::-1], strict=True):
            assert_same_answers(prediction.answers, expected)


def test_predict_accepts_examples_and_keeps_their_ids(tiny_reader: Reader) -> None:
    from spanqa.data import load_squad

    examples = load_squad(SQUAD_V1_SMALL)
    predictions = tiny_reader.predict(examples, batch_size=64)
    assert all(isinstance(p, Prediction) for p in predictions)
    assert [p.example_id for p in predictions] == [e.id for e in examples]
    for prediction, example in zip(predictions, examples, strict=True):
        assert prediction.best_text and prediction.best_text in example.context
        answer = prediction.answers[0]
        assert example.context[answer.start : answer.end] == answer.text
        assert 0.0 <= prediction.no_answer_probability <= 1.0
    one = tiny_reader.ask(examples[7].question, examples[7].context)
    assert_same_answers(predictions[7].answers, one)


def test_predict_of_nothing_is_an_empty_list(tiny_reader: Reader) -> None:
    assert tiny_reader.predict([]) == []


# ------------------------------------------------------------------ windows and contexts
class ScriptedRuntime:
    """Zero logits except a high start and end on one token id; records the padded batch shapes."""

    precision = "fp32"
    batch_independent = True

    def __init__(self, token_id: int) -> None:
        self.token_id = token_id
        self.shapes: list[tuple[int, int]] = []

    def run(self, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        ids = batch["input_ids"]
        self.shapes.append(ids.shape)
        assert ids.shape[1] == batch["attention_mask"].sum(axis=1).max()  # padded to the longest only
        logits = np.where(ids == self.token_id, 10.0, 0.0).astype(np.float32)
        return logits, logits.copy()


@pytest.fixture
def scripted_reader(tiny_reader: Reader) -> Reader:
    tokenizer = tiny_reader.tokenizer
    runtime = ScriptedRuntime(tokenizer.convert_tokens_to_ids("zebra"))
    return Reader(runtime, tokenizer, ModelInfo(settings=ReaderSettings(**SMALL_WINDOWS)), name="scripted")


@pytest.mark.parametrize("position", [0, 7, 23, 41, 49])
def test_the_answer_can_come_from_any_window(scripted_reader: Reader, position: int) -> None:
    words = [f"item{i} from town{i}." for i in range(50)]
    words[position] = f"item{position} from zebra."
    context = " ".join(words)
    windows = encode_windows(scripted_reader.tokenizer, ["Which animal?"], [context], scripted_reader.settings)
    assert len(windows) > 5
    (answer,) = scripted_reader.ask("Which animal?", context)
    assert (answer.text, answer.start) == ("zebra", context.index("zebra"))
    assert answer.score > 0.5
    covered = [context[w.offsets[w.context_mask][0, 0] : w.offsets[w.context_mask][-1, 1]] for w in windows]
    holding = [i for i, text in enumerate(covered) if "zebra" in text]
    assert answer.window_index in holding
    if position > 25:
        assert answer.window_index > 0


def test_windows_are_batched_with_dynamic_padding(scripted_reader: Reader) -> None:
    runtime = scripted_reader.runtime
    contexts = [LONG_CONTEXT, "A zebra.", "No stripes here."]
    scripted_reader.predict([("Which?", context) for context in contexts], batch_size=4)
    widths = [shape[1] for shape in runtime.shapes]
    assert widths[0] == 64 and widths[-1] < 64  # the short windows are padded to their own length
    windows = encode_windows(scripted_reader.tokenizer, ["Which?"] * 3, contexts, scripted_reader.settings)
    assert sum(shape[0] for shape in runtime.shapes) == len(windows)


def test_several_contexts_are_ranked_together(scripted_reader: Reader) -> None:
    contexts = ["A horse and a cow.", "A zebra in the zoo.", "Nothing here."]
    answers = scripted_reader.ask("Which animal?", contexts, top_k=3)
    assert (answers[0].text, answers[0].context_index) == ("zebra", 1)
    assert {a.context_index for a in answers} <= {0, 1, 2}
    for answer in answers:
        assert contexts[answer.context_index][answer.start : answer.end] == answer.text


def test_several_contexts_share_one_softmax(tiny_reader: Reader) -> None:
    contexts = [CONTEXT, "Charles Babbage designed the Analytical Engine in London."]
    together = tiny_reader.ask(QUESTION, contexts, top_k=30)
    assert {a.context_index for a in together} == {0, 1}
    scores = [a.score for a in together]
    assert scores == sorted(scores, reverse=True)
    for answer in together:
        assert contexts[answer.context_index][answer.start : answer.end] == answer.text
    alone = {a.text: a.score for a in tiny_reader.ask(QUESTION, contexts[0], top_k=30)}
    shared = [a for a in together if a.context_index == 0 and a.text in alone]
    assert shared
    for answer in shared:
        assert answer.score < alone[answer.text]  # more competitors, same logits: a smaller share
    assert tiny_reader.ask(QUESTION, tuple(contexts), top_k=30) == together


def test_real_model_answers_come_from_later_windows_too(any_reader: Reader) -> None:
    answers = any_reader.ask("Which town?", LONG_CONTEXT, top_k=40, **SMALL_WINDOWS)
    assert any(a.window_index > 0 for a in answers)
    for answer in answers:
        assert LONG_CONTEXT[answer.start : answer.end] == answer.text


# ------------------------------------------------------------------ no answer
def test_handle_impossible_answer_adds_the_empty_answer(any_reader: Reader) -> None:
    answers = any_reader.ask(QUESTION, CONTEXT, top_k=500, handle_impossible_answer=True)
    (no_answer,) = [a for a in answers if a.text == ""]
    assert (no_answer.start, no_answer.end) == (0, 0) and no_answer.is_no_answer
    (prediction,) = any_reader.predict([(QUESTION, CONTEXT)], handle_impossible_answer=True)
    assert no_answer.score == pytest.approx(prediction.no_answer_probability, abs=1e-6)
    assert "" not in {a.text for a in any_reader.ask(QUESTION, CONTEXT, top_k=500)}
    forced = any_reader.ask(QUESTION, CONTEXT, handle_impossible_answer=True, null_threshold=0.0)
    assert forced[0].is_no_answer


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("question", "context", "message"),
    [
        ("", CONTEXT, "question is empty"),
        ("   \n\t", CONTEXT, "question is empty"),
        (QUESTION, "", "context is empty"),
        (QUESTION, "  \n ", "context is empty"),
        (QUESTION, [], "context"),
        (QUESTION, [CONTEXT, " "], "context is empty"),
        (123, CONTEXT, "question must be text"),
        (None, CONTEXT, "question must be text"),
        (QUESTION, 123, "context"),
        (QUESTION, None, "context"),
        (QUESTION, b"bytes are not text", "context"),
        (QUESTION, [CONTEXT, 5], "context must be text"),
    ],
)
def test_bad_questions_and_contexts_raise_input_error(tiny_reader: Reader, question, context, message: str) -> None:
    with pytest.raises(InputError, match=message):
        tiny_reader.ask(question, context)


def test_context_over_the_limit(tiny_model_dir: Path, tiny_reader: Reader) -> None:
    with pytest.raises(InputError, match="max_context_chars"):
        tiny_reader.ask(QUESTION, "word " * 20, max_context_chars=50)
    limited = Reader.load(tiny_model_dir, max_context_chars=50)
    with pytest.raises(InputError, match="over the limit of 50"):
        limited.ask(QUESTION, "x" * 51)
    assert limited.ask(QUESTION, "Ada Lovelace wrote it.")


@pytest.mark.parametrize("top_k", [0, -1])
def test_top_k_below_one(tiny_reader: Reader, top_k: int) -> None:
    with pytest.raises(ConfigError, match="top_k"):
        tiny_reader.ask(QUESTION, CONTEXT, top_k=top_k)
    with pytest.raises(SpanQAError):
        tiny_reader.predict([(QUESTION, CONTEXT)], top_k=top_k)


def test_bad_predict_arguments(tiny_reader: Reader) -> None:
    with pytest.raises(InputError, match="batch_size"):
        tiny_reader.predict([(QUESTION, CONTEXT)], batch_size=0)
    with pytest.raises(InputError, match="item 1"):
        tiny_reader.predict([(QUESTION, CONTEXT), QUESTION])
    with pytest.raises(InputError, match="question is empty"):
        tiny_reader.predict([Example(id="x", question=" ", context=CONTEXT)])
    with pytest.raises(ConfigError, match="unknown reader setting"):
        tiny_reader.ask(QUESTION, CONTEXT, max_anwser_len=3)


# ------------------------------------------------------------------ model folders
def test_missing_model_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelFolderError, match="does not exist"):
        Reader.load(tmp_path / "nowhere")


def test_folder_without_config(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelFolderError, match=r"config\.json"):
        Reader.load(tmp_path)


def test_a_file_is_not_a_model_folder(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"0")
    with pytest.raises(ModelFolderError, match="is a file"):
        Reader.load(path)


def test_folder_without_weights(tmp_path: Path, tiny_model_dir: Path) -> None:
    folder = tmp_path / "no-weights"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelFolderError, match="no weights"):
        Reader.load(folder)


def test_encoder_without_qa_head(tmp_path: Path, tiny_reader: Reader) -> None:
    from transformers import BertModel

    folder = tmp_path / "encoder-only"
    BertModel(tiny_reader.runtime.model.config).save_pretrained(folder)
    tiny_reader.tokenizer.save_pretrained(folder)
    with pytest.raises(ModelFolderError, match="without a trained question-answering head"):
        Reader.load(folder)


def test_pointer_folder_without_its_head_file(tmp_path: Path, tiny_pointer_model_dir: Path) -> None:
    folder = tmp_path / "pointer-no-head"
    shutil.copytree(tiny_pointer_model_dir, folder)
    (folder / "pointer_head.safetensors").unlink()
    with pytest.raises(ModelFolderError, match="question-answering head"):
        Reader.load(folder)


def test_slow_tokenizer_is_refused_with_a_clear_message(tmp_path: Path, tiny_model_dir: Path) -> None:
    folder = tmp_path / "slow-tokenizer"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "tokenizer.json").unlink()
    # ByT5Tokenizer is a slow-only (Python) tokenizer class that needs no vocabulary file
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "ByT5Tokenizer"}))
    with pytest.raises(ModelFolderError, match=r"slow \(Python\) tokenizer.*tokenizer\.json"):
        Reader.load(folder)


def test_folder_without_any_tokenizer_vocabulary(tmp_path: Path, tiny_model_dir: Path) -> None:
    folder = tmp_path / "no-tokenizer"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "tokenizer.json").unlink()
    with pytest.raises(ModelFolderError, match="no tokenizer vocabulary"):
        Reader.load(folder)


def test_no_default_model_tells_how_to_get_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import spanqa.model.folder

    monkeypatch.setattr(spanqa.model.folder, "DEFAULT_MODEL_DIR", tmp_path)
    with pytest.raises(ModelFolderError, match="no default model") as error:
        Reader.load()
    assert "--model" in str(error.value) and "spanqa train" in str(error.value)


def test_unknown_backend(tiny_model_dir: Path) -> None:
    with pytest.raises(InputError, match="backend"):
        Reader.load(tiny_model_dir, backend="tensorflow")


# ------------------------------------------------------------------ spanqa.json and overrides
def test_folder_settings_are_the_defaults_and_load_overrides_them(tmp_path: Path, tiny_model_dir: Path) -> None:
    folder = tmp_path / "short-answers"
    shutil.copytree(tiny_model_dir, folder)
    payload = json.loads((folder / SETTINGS_FILE).read_text())
    payload["reader"]["max_answer_len"] = 3
    (folder / SETTINGS_FILE).write_text(json.dumps(payload))

    short = Reader.load(folder)
    assert short.settings.max_answer_len == 3
    tokens = short.tokenizer  # every word of SIMPLE_WORDS is a single token
    answers = short.ask("What sat?", SIMPLE_WORDS, top_k=20)
    assert answers and all(len(tokens.tokenize(a.text)) <= 3 for a in answers)

    long = Reader.load(folder, max_answer_len=10)
    assert long.settings.max_answer_len == 10
    answers = long.ask("What sat?", SIMPLE_WORDS, top_k=40)
    assert max(len(tokens.tokenize(a.text)) for a in answers) > 3
    assert all(len(tokens.tokenize(a.text)) <= 10 for a in answers)
    # a per-call setting wins over both
    assert all(len(tokens.tokenize(a.text)) == 1 for a in short.ask("What?", SIMPLE_WORDS, top_k=5, max_answer_len=1))


def test_load_override_keeps_zero(tiny_model_dir: Path) -> None:
    reader = Reader.load(tiny_model_dir, doc_stride=0, null_threshold=0.0)
    assert reader.settings.doc_stride == 0 and reader.settings.null_threshold == 0.0


def test_bad_override_is_a_config_error(tiny_model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="doc_stride"):
        Reader.load(tiny_model_dir, doc_stride=384)


@pytest.mark.parametrize("head", ["linear", "pointer"])
def test_save_and_load_back(tmp_path: Path, tiny_reader: Reader, pointer_reader: Reader, head: str) -> None:
    reader = tiny_reader if head == "linear" else pointer_reader
    reader.save(tmp_path / "saved")
    again = Reader.load(tmp_path / "saved")
    assert again.info.head == head and again.settings == reader.settings
    assert_same_answers(again.ask(QUESTION, CONTEXT, top_k=5), reader.ask(QUESTION, CONTEXT, top_k=5))


def test_saving_new_weights_into_a_folder_drops_its_stale_onnx_copy(tmp_path: Path, tiny_model_dir: Path) -> None:
    """A training run writes into a folder that keeps its checkpoints; an old ONNX export must go."""
    from spanqa.model.torch_io import load_model, save_model

    folder = tmp_path / "run"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "model.int8.onnx").write_bytes(b"exported from the previous weights")
    (folder / "checkpoints").mkdir()
    loaded = load_model(tiny_model_dir)
    save_model(loaded.model, loaded.tokenizer, loaded.info, folder, keep_other_files=True)
    assert not (folder / "model.int8.onnx").exists()
    assert (folder / "checkpoints").is_dir() and (folder / "model.safetensors").exists()


def test_reader_equals_the_three_stages_run_by_hand(any_reader: Reader) -> None:
    """encode_windows -> the model on each window alone (no padding) -> decode_example."""
    import torch

    from spanqa.inference.decode import decode_example
    from spanqa.inference.pipeline import decode_options, window_logits

    settings = ReaderSettings(**SMALL_WINDOWS, top_k=5)
    windows = encode_windows(any_reader.tokenizer, [QUESTION], [LONG_CONTEXT], settings)
    per_window = []
    for window in windows:
        inputs = {
            "input_ids": torch.from_numpy(window.input_ids)[None],
            "attention_mask": torch.ones(1, window.length, dtype=torch.int64),
            "token_type_ids": torch.from_numpy(window.token_type_ids)[None],
        }
        with torch.inference_mode():
            start, end = any_reader.runtime.model(**inputs)  # [1, L] and [1, L] or [1, L, L]
        per_window.append(window_logits(window, (start[0].numpy(), end[0].numpy())))
    expected = decode_example(per_window, [LONG_CONTEXT], decode_options(settings)).answers
    assert_same_answers(any_reader.ask(QUESTION, LONG_CONTEXT, top_k=5, **SMALL_WINDOWS), expected)
