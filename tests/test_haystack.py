"""SpanqaExtractiveReader inside real Haystack pipelines (in-memory store, BM25 retriever, this reader).

Fast tests run the tiny random model; `quality` tests the shipped default model. Where the package
transformers-haystack (the original ExtractiveReader's home since Haystack 3) is importable, its
TransformersExtractiveReader is run beside ours on the same model folder to compare interfaces and shapes.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import logging
import os
import sys
import uuid
from collections import Counter
from pathlib import Path

# Haystack sends usage telemetry from Pipeline.run unless told not to; tests never reach the network.
os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"

import pytest
from haystack import Document, ExtractedAnswer, Pipeline
from haystack.components.retrievers.in_memory import InMemoryBM25Retriever
from haystack.document_stores.in_memory import InMemoryDocumentStore
from haystack.utils import ComponentDevice, Secret
from paths import SQUAD_V1_SMALL

import spanqa.integrations.haystack as spanqa_haystack
from spanqa.errors import ConfigError, InputError, MissingExtraError, ModelFolderError
from spanqa.integrations.haystack import SpanqaExtractiveReader
from spanqa.integrations.haystack_answers import remove_overlapping

WARSAW_FIRST_PAGE = 4
# ExtractiveReader's interface in transformers-haystack 2.0.0 (haystack_integrations.components.readers
# .transformers.TransformersExtractiveReader), read from its source; the side-by-side test checks it live.
EXTRACTIVE_READER_INIT = [
    "model",
    "device",
    "token",
    "top_k",
    "score_threshold",
    "max_seq_length",
    "stride",
    "max_batch_size",
    "answers_per_seq",
    "no_answer",
    "calibration_factor",
    "overlap_threshold",
    "model_kwargs",
]
EXTRACTIVE_READER_RUN = [
    "query",
    "documents",
    "top_k",
    "score_threshold",
    "max_seq_length",
    "stride",
    "max_batch_size",
    "answers_per_seq",
    "no_answer",
    "overlap_threshold",
]
ANSWER_FIELDS = ["query", "score", "data", "document", "context", "document_offset", "context_offset", "meta"]


def squad_paragraphs() -> dict[str, list[str]]:
    data = json.loads(SQUAD_V1_SMALL.read_text(encoding="utf-8"))
    return {article["title"]: [p["context"] for p in article["paragraphs"]] for article in data["data"]}


def fixture_documents() -> list[Document]:
    """Super Bowl paragraphs as page-less documents, Warsaw as one three-page document (pages 4 to 6, split
    by form feeds as a PDF converter writes them), Normans paragraphs as one-page documents."""
    paragraphs = squad_paragraphs()
    documents = [Document(content=text, meta={"title": "Super_Bowl_50"}) for text in paragraphs["Super_Bowl_50"]]
    documents.append(
        Document(content="\f".join(paragraphs["Warsaw"]), meta={"title": "Warsaw", "page_number": WARSAW_FIRST_PAGE})
    )
    documents += [Document(content=text, meta={"title": "Normans", "page_number": 1}) for text in paragraphs["Normans"]]
    return documents


def expected_page(document: Document, start: int) -> int:
    """The page holding character `start`, found from the pages' lengths (independently of the reader's count)."""
    end_of_page = -1
    for page_index, page in enumerate(document.content.split("\f")):
        end_of_page += len(page) + 1
        if start < end_of_page:
            return document.meta["page_number"] + page_index
    raise AssertionError(f"offset {start} is past the end of document {document.id}")


def reader_pipeline(reader: SpanqaExtractiveReader, documents: list[Document], index: str | None = None) -> Pipeline:
    store = InMemoryDocumentStore(index=index or f"spanqa-test-{uuid.uuid4()}")
    store.write_documents(documents)
    pipeline = Pipeline()
    pipeline.add_component("retriever", InMemoryBM25Retriever(document_store=store, top_k=5))
    pipeline.add_component("reader", reader)
    pipeline.connect("retriever.documents", "reader.documents")
    return pipeline


def ask(pipeline: Pipeline, query: str, **reader_inputs) -> list[ExtractedAnswer]:
    result = pipeline.run({"retriever": {"query": query}, "reader": {"query": query, **reader_inputs}})
    return result["reader"]["answers"]


def summary(answers: list[ExtractedAnswer]) -> list[tuple]:
    return [
        (
            a.data,
            a.score,
            a.document.id if a.document else None,
            (a.document_offset.start, a.document_offset.end) if a.document_offset else None,
            a.meta,
        )
        for a in answers
    ]


def overlapping_pairs(answers: list[ExtractedAnswer]) -> int:
    spans = [a for a in answers if a.document is not None]
    return sum(
        1
        for i, a in enumerate(spans)
        for b in spans[i + 1 :]
        if a.document.id == b.document.id
        and min(a.document_offset.end, b.document_offset.end) > max(a.document_offset.start, b.document_offset.start)
    )


@pytest.fixture
def tiny(tiny_model_dir: Path):
    """A fresh component on the tiny model (a component belongs to one pipeline only)."""

    def make(**parameters) -> SpanqaExtractiveReader:
        return SpanqaExtractiveReader(model=str(tiny_model_dir), **parameters)

    return make


QUERY = "How many natural reserves are in Warsaw?"


# ---------------------------------------------------------------------------- shapes (tiny model)
def test_answers_in_a_pipeline_have_extractive_readers_shape(tiny):
    documents = fixture_documents()
    answers = ask(reader_pipeline(tiny(), documents), QUERY, top_k=4)

    assert len(answers) == 5  # top_k answers and the no-answer
    assert all(isinstance(a, ExtractedAnswer) for a in answers)
    assert [a.score for a in answers] == sorted((a.score for a in answers), reverse=True)
    [no_answer] = [a for a in answers if a.data is None]
    assert (no_answer.document, no_answer.document_offset, no_answer.meta, no_answer.query) == (None, None, {}, QUERY)
    spans = [a for a in answers if a.data is not None]
    for answer in spans:
        assert answer.query == QUERY
        assert isinstance(answer.score, float) and 0.0 <= answer.score <= 1.0
        assert answer.document.id in {document.id for document in documents}  # the retriever's copy, with a score
        assert isinstance(answer.document_offset, ExtractedAnswer.Span)
        assert answer.data == answer.document.content[answer.document_offset.start : answer.document_offset.end]
        assert answer.context is None and answer.context_offset is None  # as ExtractiveReader: the document is it
    # One softmax over every span of every document and the no-answer: the scores share one unit of probability.
    assert sum(a.score for a in answers) <= 1.0 + 1e-9


def test_answer_page_number_counts_form_feeds_from_the_documents_first_page(tiny):
    documents = fixture_documents()
    answers = tiny(top_k=60).run(query=QUERY, documents=documents)["answers"]

    paged = [a for a in answers if a.document is not None and "page_number" in a.document.meta]
    page_less = [a for a in answers if a.document is not None and "page_number" not in a.document.meta]
    assert paged and page_less
    for answer in paged:
        assert answer.meta["answer_page_number"] == expected_page(answer.document, answer.document_offset.start)
    assert {a.meta["answer_page_number"] for a in paged if a.document.meta["title"] == "Warsaw"} > {WARSAW_FIRST_PAGE}
    assert all("answer_page_number" not in a.meta for a in page_less)


def test_page_number_that_is_not_an_int_gets_no_answer_page_number(tiny, caplog):
    document = Document(content="Page one.\fThe answer is on page two.", meta={"page_number": "2"})
    with caplog.at_level(logging.WARNING, logger="spanqa.integrations.haystack_answers"):
        answers = tiny(no_answer=False).run(query="Where is the answer?", documents=[document])["answers"]
    assert answers and all("answer_page_number" not in a.meta for a in answers)
    assert "page_number of type str" in caplog.text


def test_top_k_counts_answers_and_the_no_answer_comes_on_top(tiny):
    pipeline = reader_pipeline(tiny(top_k=2), fixture_documents())
    assert len(ask(pipeline, QUERY)) == 3  # the component's top_k, plus the no-answer
    one = ask(pipeline, QUERY, top_k=1)
    six = ask(pipeline, QUERY, top_k=6)
    assert len(one) == 2 and len(six) == 7
    best = next(a for a in six if a.data is not None)
    assert summary([a for a in one if a.data is not None]) == summary([best])


def test_no_answer_false_drops_the_no_answer_and_keeps_every_score(tiny):
    pipeline = reader_pipeline(tiny(), fixture_documents())
    with_no_answer = ask(pipeline, QUERY, top_k=5)
    without = ask(pipeline, QUERY, top_k=5, no_answer=False)
    assert all(a.data is not None for a in without) and len(without) == 5
    assert summary(without) == summary([a for a in with_no_answer if a.data is not None])


def test_score_threshold_drops_answers_below_it_the_no_answer_included(tiny):
    pipeline = reader_pipeline(tiny(), fixture_documents())
    answers = ask(pipeline, QUERY, top_k=8)
    threshold = answers[2].score  # answers[2] itself is kept: ExtractiveReader keeps score >= threshold
    kept = ask(pipeline, QUERY, top_k=8, score_threshold=threshold)
    assert summary(kept) == summary([a for a in answers if a.score >= threshold])
    assert 3 <= len(kept) < len(answers)
    # The component's own threshold applies when run gives none.
    assert summary(ask(reader_pipeline(tiny(score_threshold=threshold), fixture_documents()), QUERY, top_k=8)) == (
        summary(kept)
    )


def test_overlap_threshold_removes_overlapping_answers_of_one_document(tiny):
    documents = fixture_documents()
    every_span = tiny(top_k=15, overlap_threshold=None, no_answer=False).run(query=QUERY, documents=documents)
    deduplicated = tiny(top_k=15, no_answer=False).run(query=QUERY, documents=documents)
    assert overlapping_pairs(every_span["answers"]) > 0
    assert overlapping_pairs(deduplicated["answers"]) == 0
    assert len(deduplicated["answers"]) == 15
    assert summary(deduplicated["answers"][:1]) == summary(every_span["answers"][:1])


def test_answers_per_seq_spans_of_every_document_are_candidates_however_the_documents_rank(tiny):
    documents = fixture_documents()
    every_span = tiny(top_k=1000, overlap_threshold=None, no_answer=False).run(query=QUERY, documents=documents)
    scores = {document.id: [] for document in documents}
    for answer in every_span["answers"]:
        scores[answer.document.id].append(answer.score)
    weakest = min(scores, key=lambda document_id: max(scores[document_id]))
    assert len(scores[weakest]) > 2
    # The weakest document's 2 best spans are candidates even where other documents' spans outscore them.
    two_each = tiny(top_k=1000, answers_per_seq=2, overlap_threshold=None, no_answer=False)
    answers = two_each.run(query=QUERY, documents=documents)["answers"]
    assert sorted(Counter(a.document.id for a in answers).values()) == [2] * len(documents)
    assert [a.score for a in answers if a.document.id == weakest] == scores[weakest][:2]


def test_overlap_rule_is_extractive_readers_on_its_own_example():
    # ExtractiveReader's docstring: "the river" lies wholly inside "in the river in Maine" (100% overlap);
    # "the river in" and "in Maine" share "in", 25% of "in Maine", so a threshold of 0.24 drops one of them.
    document = Document(content="I want to swim in the river in Maine.")
    other = Document(content="the river in Maine")

    def answer(text: str, score: float, doc: Document = document, occurrence: int = 0) -> ExtractedAnswer:
        start = doc.content.index(text) if occurrence == 0 else doc.content.rindex(text)
        span = ExtractedAnswer.Span(start, start + len(text))
        return ExtractedAnswer(query="q", score=score, data=text, document=doc, document_offset=span)

    def texts(answers: list[ExtractedAnswer]) -> list[str]:
        return [a.data for a in answers]

    inside = [answer("in the river in Maine", 0.5), answer("the river", 0.4), answer("the river", 0.3, other)]
    assert texts(remove_overlapping(inside, 0.01)) == ["in the river in Maine", "the river"]  # other document kept
    touching = [answer("the river in", 0.5), answer("in Maine", 0.4, occurrence=1)]
    assert texts(remove_overlapping(touching, 0.24)) == ["the river in"]
    assert texts(remove_overlapping(touching, 0.25)) == ["the river in", "in Maine"]
    assert texts(remove_overlapping(inside, None)) == texts(inside)


def test_long_documents_are_cut_into_windows_with_offsets_into_the_whole_document(tiny):
    documents = fixture_documents()
    component = tiny(reader_kwargs={"max_question_len": 16})
    answers = component.run(query=QUERY, documents=documents, max_seq_length=64, stride=16, top_k=30)["answers"]
    starts = [a.document_offset.start for a in answers if a.data is not None]
    assert max(starts) > 1000  # past the first window of the longest document
    for answer in answers:
        if answer.data is not None:
            assert answer.data == answer.document.content[answer.document_offset.start : answer.document_offset.end]


def test_run_without_warm_up_loads_the_model_as_extractive_reader_does(tiny):
    documents = fixture_documents()[:3]
    cold = tiny()
    assert cold.reader is None
    answers = cold.run(query="Who won Super Bowl 50?", documents=documents)["answers"]
    loaded = cold.reader
    warm = tiny()
    warm.warm_up()
    warm.warm_up()
    cold.warm_up()
    assert cold.reader is loaded  # warm_up loads once
    assert summary(warm.run(query="Who won Super Bowl 50?", documents=documents)["answers"]) == summary(answers)


def test_documents_without_text_are_skipped_and_none_gives_no_answers(tiny, caplog):
    component = tiny()
    assert component.run(query=QUERY, documents=[]) == {"answers": []}
    with caplog.at_level(logging.WARNING, logger=spanqa_haystack.__name__):
        assert component.run(query=QUERY, documents=[Document(content=None), Document(content="  ")]) == {"answers": []}
    assert "has no text and is ignored" in caplog.text
    text = Document(content="There are 13 natural reserves in Warsaw.")
    with_empty = component.run(query=QUERY, documents=[Document(content=None), text])["answers"]
    assert summary(with_empty) == summary(component.run(query=QUERY, documents=[text])["answers"])


# ---------------------------------------------------------------------------- serialisation
def test_pipeline_dumped_to_yaml_and_loaded_back_gives_the_same_answers(tiny):
    index = f"spanqa-yaml-{uuid.uuid4()}"  # a loaded store with the same index shares the documents
    component = tiny(top_k=3, reader_kwargs={"max_answer_len": 12})
    pipeline = reader_pipeline(component, fixture_documents(), index=index)
    answers = ask(pipeline, QUERY)

    yaml_text = pipeline.dumps()
    assert "type: spanqa.integrations.haystack.SpanqaExtractiveReader" in yaml_text
    # Haystack 3 loads classes only from modules on its allowlist (its own and haystack_integrations).
    loaded = Pipeline.loads(yaml_text, allowed_modules=["spanqa.integrations.haystack"])
    reloaded_reader = loaded.get_component("reader")
    assert isinstance(reloaded_reader, SpanqaExtractiveReader) and reloaded_reader is not component
    assert reloaded_reader.to_dict() == component.to_dict()
    assert summary(ask(loaded, QUERY)) == summary(answers)


def test_to_dict_from_dict_round_trip_with_every_parameter():
    component = SpanqaExtractiveReader(
        model="path/to/model",
        device=ComponentDevice.from_str("cpu"),
        token=Secret.from_env_var("HF_TOKEN", strict=False),
        top_k=3,
        score_threshold=0.25,
        max_seq_length=256,
        stride=64,
        max_batch_size=8,
        answers_per_seq=5,
        no_answer=False,
        overlap_threshold=None,
        reader_kwargs={"backend": "torch", "max_answer_len": 20},
    )
    data = component.to_dict()
    assert data == {
        "type": "spanqa.integrations.haystack.SpanqaExtractiveReader",
        "init_parameters": {
            "model": "path/to/model",
            "device": {"type": "single", "device": "cpu"},
            "token": {"type": "env_var", "env_vars": ["HF_TOKEN"], "strict": False},
            "top_k": 3,
            "score_threshold": 0.25,
            "max_seq_length": 256,
            "stride": 64,
            "max_batch_size": 8,
            "answers_per_seq": 5,
            "no_answer": False,
            "calibration_factor": 0.1,
            "overlap_threshold": None,
            "model_kwargs": {},
            "reader_kwargs": {"backend": "torch", "max_answer_len": 20},
        },
    }
    restored = SpanqaExtractiveReader.from_dict(data)
    assert restored.to_dict() == data
    assert restored.device == ComponentDevice.from_str("cpu") and restored.token == component.token
    assert SpanqaExtractiveReader.from_dict(SpanqaExtractiveReader().to_dict()).to_dict() == (
        SpanqaExtractiveReader().to_dict()
    )


def test_has_extractive_readers_init_parameters_run_inputs_and_output():
    init = list(inspect.signature(SpanqaExtractiveReader.__init__).parameters)[1:]
    assert init[: len(EXTRACTIVE_READER_INIT)] == EXTRACTIVE_READER_INIT
    component = SpanqaExtractiveReader()
    assert list(component.__haystack_input__._sockets_dict) == EXTRACTIVE_READER_RUN
    assert list(component.__haystack_output__._sockets_dict) == ["answers"]
    assert component.__haystack_output__._sockets_dict["answers"].type == list[ExtractedAnswer]


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"top_k": 0}, "top_k must be a positive integer"),
        ({"score_threshold": 2}, "score_threshold must be a number between 0 and 1"),
        ({"answers_per_seq": -1}, "answers_per_seq must be a positive integer"),
        ({"no_answer": "yes"}, "no_answer must be True or False"),
        ({"model_kwargs": {"torch_dtype": "float16"}}, "model_kwargs 'torch_dtype'"),
        ({"model_kwargs": {"device_map": {"encoder": 0}}}, "must name one device"),
        ({"reader_kwargs": {"top_k": 3}}, "set by the component's 'top_k' parameter"),
        ({"reader_kwargs": {"doc_stride": 3}}, "set by the component's 'stride' parameter"),
        ({"reader_kwargs": {"beam_size": 3}}, "reader_kwargs['beam_size'] is not an argument of spanqa.Reader.load"),
        ({"device": "cuda:0"}, "device must be a haystack ComponentDevice"),
    ],
)
def test_bad_parameters_are_refused_when_the_component_is_built(parameters, message):
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("(", r"\(")):
        SpanqaExtractiveReader(**parameters)


def test_a_bad_reader_setting_fails_when_the_component_is_built():
    with pytest.raises(ConfigError, match="max_answer_len must be a positive integer"):
        SpanqaExtractiveReader(reader_kwargs={"max_answer_len": 0})


def test_a_missing_model_folder_fails_at_warm_up_with_the_folder_named(tmp_path):
    component = SpanqaExtractiveReader(model=str(tmp_path / "missing"))
    with pytest.raises(ModelFolderError, match="missing does not exist"):
        component.warm_up()


def test_bad_run_inputs_name_the_input(tiny):
    component = tiny()
    document = Document(content="There are 13 natural reserves in Warsaw.")
    with pytest.raises(InputError, match="query is empty"):
        component.run(query=" ", documents=[document])
    with pytest.raises(InputError, match="documents must be a list of Haystack Documents"):
        component.run(query=QUERY, documents=document)
    with pytest.raises(InputError, match=r"documents\[0\] must be a Haystack Document"):
        component.run(query=QUERY, documents=["text"])
    with pytest.raises(InputError, match="top_k must be a positive integer"):
        component.run(query=QUERY, documents=[document], top_k=0)
    with pytest.raises(ConfigError, match=r"doc_stride .* must be smaller than max_seq_len"):
        component.run(query=QUERY, documents=[document], max_seq_length=128, stride=128)


def test_calibration_factor_is_accepted_with_a_warning_that_it_is_ignored(caplog):
    with caplog.at_level(logging.WARNING, logger=spanqa_haystack.__name__):
        SpanqaExtractiveReader(calibration_factor=0.1)
    assert "calibration_factor" not in caplog.text
    with caplog.at_level(logging.WARNING, logger=spanqa_haystack.__name__):
        component = SpanqaExtractiveReader(calibration_factor=0.5)
    assert "calibration_factor=0.5 is ignored" in caplog.text
    assert component.to_dict()["init_parameters"]["calibration_factor"] == 0.5


def test_device_map_of_an_extractive_reader_yaml_is_understood(tiny_model_dir):
    component = SpanqaExtractiveReader(model=str(tiny_model_dir), model_kwargs={"device_map": "cpu"})
    component.warm_up()
    assert component.reader is not None


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(not cuda_available(), reason="needs a CUDA GPU")
def test_a_gpu_device_runs_the_torch_backend_with_the_cpus_answers(tiny):
    documents = fixture_documents()
    on_gpu = tiny(device=ComponentDevice.from_str("cuda:0")).run(query=QUERY, documents=documents)["answers"]
    on_cpu = tiny().run(query=QUERY, documents=documents)["answers"]
    assert [a.data for a in on_gpu] == [a.data for a in on_cpu]
    assert [a.score for a in on_gpu] == pytest.approx([a.score for a in on_cpu], abs=1e-4)


def test_importing_without_haystack_names_the_pip_install(monkeypatch):
    for name in [name for name in sys.modules if name == "haystack" or name.startswith("haystack.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "haystack", None)
    spec = importlib.util.spec_from_file_location("spanqa_haystack_without_haystack", spanqa_haystack.__file__)
    module = importlib.util.module_from_spec(spec)
    with pytest.raises(MissingExtraError, match=r'pip install "spanqa\[haystack\]"'):
        spec.loader.exec_module(module)


# ---------------------------------------------------------------------------- the shipped default model
@pytest.mark.quality
def test_default_model_in_a_pipeline_finds_answers_and_their_pages():
    pipeline = reader_pipeline(SpanqaExtractiveReader(model="default", top_k=3), fixture_documents())
    cases = [
        ("How many natural reserves are in Warsaw?", "13", "Warsaw", WARSAW_FIRST_PAGE + 2),
        ("Over how many species of trees can be found in the Saxon Garden?", "100", "Warsaw", WARSAW_FIRST_PAGE + 1),
        ("Who was the duke in the battle of Hastings?", "William the Conqueror", "Normans", 1),
        ("Who was the Super Bowl 50 MVP?", "Von Miller", "Super_Bowl_50", None),
    ]
    for query, text, title, page in cases:
        best = ask(pipeline, query)[0]
        assert (best.data, best.document.meta["title"], best.meta.get("answer_page_number")) == (text, title, page)
        assert best.score > 0.3  # Von Miller: 0.35; the rest share it with overlapping rivals
        assert best.document.content[best.document_offset.start : best.document_offset.end] == text


@pytest.mark.quality
def test_default_model_puts_the_no_answer_first_for_documents_without_the_answer():
    paragraphs = squad_paragraphs()
    football = [Document(content=text) for text in paragraphs["Super_Bowl_50"]]
    pipeline = Pipeline()
    pipeline.add_component("reader", SpanqaExtractiveReader(model="default", top_k=3))
    for query in ["Who was the duke in the battle of Hastings?", "What religion were the Normans"]:
        answers = pipeline.run({"reader": {"query": query, "documents": football}})["reader"]["answers"]
        assert answers[0].data is None and answers[0].score > 0.5
        # then top_k spans: every document's best spans are candidates, so overlaps never leave fewer
        assert len(answers) == 4 and all(a.data for a in answers[1:])
    answered = pipeline.run({"reader": {"query": "Who was the Super Bowl 50 MVP?", "documents": football}})
    no_answer = next(a for a in answered["reader"]["answers"] if a.data is None)
    assert no_answer.score < 0.5


# ---------------------------------------------------------------------------- beside the original
def transformers_extractive_reader():
    module = pytest.importorskip(
        "haystack_integrations.components.readers.transformers",
        reason="transformers-haystack (the original ExtractiveReader) is not installed",
    )
    return module.TransformersExtractiveReader


def test_interface_matches_the_original_extractive_reader():
    original = transformers_extractive_reader()
    assert list(inspect.signature(original.__init__).parameters)[1:] == EXTRACTIVE_READER_INIT
    assert list(original().__haystack_input__._sockets_dict) == EXTRACTIVE_READER_RUN
    assert set(original().to_dict()["init_parameters"]) <= set(SpanqaExtractiveReader().to_dict()["init_parameters"])


def answer_shape(answer: ExtractedAnswer) -> str:
    """Which fields are set, their types, the meta keys, and whether the text is what the offsets cut out."""
    return json.dumps(
        {
            "set": [name for name in ANSWER_FIELDS if getattr(answer, name) is not None],
            "types": [type(getattr(answer, name)).__name__ for name in ANSWER_FIELDS],
            "meta": sorted(answer.meta),
            "text_is_the_offsets": answer.data is None
            or answer.data == answer.document.content[answer.document_offset.start : answer.document_offset.end],
        }
    )


def test_answers_have_the_original_extractive_readers_shape(tiny_model_dir):
    original = transformers_extractive_reader()(model=str(tiny_model_dir), top_k=3)
    ours = SpanqaExtractiveReader(model=str(tiny_model_dir), top_k=3)
    # One document at a time, so that both answer from the same kind of document (with or without pages).
    for document in fixture_documents():
        theirs = original.run(query=QUERY, documents=[document])["answers"]
        mine = ours.run(query=QUERY, documents=[document])["answers"]
        # Both return at most top_k answers and the no-answer (fewer where overlapping answers were removed).
        assert 2 <= len(theirs) <= 4 and 2 <= len(mine) <= 4
        assert set(map(answer_shape, mine)) == set(map(answer_shape, theirs)), document.meta
        assert {type(a) for a in mine} == {type(a) for a in theirs} == {ExtractedAnswer}
        assert [a.data for a in mine].count(None) == [a.data for a in theirs].count(None) == 1


def test_an_extractive_reader_pipeline_yaml_loads_with_only_its_type_changed(tiny_model_dir):
    original = transformers_extractive_reader()
    index = f"spanqa-migrate-{uuid.uuid4()}"
    yaml_text = reader_pipeline(original(model=str(tiny_model_dir), top_k=3), fixture_documents(), index).dumps()
    original_type = f"{original.__module__}.{original.__name__}"
    assert f"type: {original_type}" in yaml_text and "device_map" in yaml_text and "env_var" in yaml_text

    migrated = yaml_text.replace(original_type, "spanqa.integrations.haystack.SpanqaExtractiveReader")
    pipeline = Pipeline.loads(migrated, allowed_modules=["spanqa.integrations.haystack"])
    assert isinstance(pipeline.get_component("reader"), SpanqaExtractiveReader)
    # ExtractiveReader's YAML spells out max_seq_length 384 and stride 128, the tiny model's own defaults.
    direct = reader_pipeline(SpanqaExtractiveReader(model=str(tiny_model_dir), top_k=3), fixture_documents())
    assert summary(ask(pipeline, QUERY)) == summary(ask(direct, QUERY))
