"""`SpanqaExtractiveReader`: a drop-in for Haystack's `ExtractiveReader`, answering with a spanqa Reader.

Install with `pip install "spanqa[haystack]"` (haystack-ai 2 or 3). Replace

    from haystack.components.readers import ExtractiveReader                                  # haystack-ai 2.x
    from haystack_integrations.components.readers.transformers import TransformersExtractiveReader  # its new home

with `from spanqa.integrations.haystack import SpanqaExtractiveReader`. It takes the same init parameters and
run inputs and returns the same `{"answers": [ExtractedAnswer, ...]}`: each answer has `query`, `score`, `data`
(the text), `document`, `document_offset` (`document.content[start:end] == data`) and, when the document's
`meta["page_number"]` is an int, `meta["answer_page_number"]` (that page number plus the page breaks, "\\f",
before the answer, as ExtractiveReader counts them). `context` and `context_offset` stay None, as in
ExtractiveReader: the document is the context. With `no_answer=True` one more answer, `data=None` and
`document=None`, carries the no-answer score. Answers are sorted by score (best first), at most `top_k` of
them plus the no-answer, then those under `score_threshold` are dropped, the no-answer included: the same
order of operations as ExtractiveReader. Overlapping answers of one document are removed as ExtractiveReader
does (`overlap_threshold`).

Scores: what changes.
ExtractiveReader scores every span of every window on its own: `sigmoid(calibration_factor * (start_logit
+ end_logit))`, with calibration_factor 0.1. Scores of different spans are not normalised against each other
(ten answers can all score 0.9), and its no-answer score is `prod(1 - score)` over the top_k answers it
returns: "all of these answers are wrong" if they were independent, which falls as top_k grows and never
looks at the model's own no-answer logit. spanqa puts every candidate span of every window of every
document, and the no-answer (the CLS span of the window most confident that it holds an answer), into one
softmax, with the model's temperature (`spanqa calibrate`). A score is the probability that this span is the
answer; one text found at two places in a document is one answer whose probabilities add up; the scores of
all answers and the no-answer sum to at most 1, so they compare across documents, and the no-answer score is
P(no document holds the answer), the same whatever top_k, score_threshold or overlap_threshold are. Both
rank spans by start_logit + end_logit, but ExtractiveReader sets no limit on an answer's length (spanqa:
max_answer_len, 30 tokens) and does not add up repeated texts, so their best answers can differ. A
score_threshold tuned for ExtractiveReader must be tuned again: probability mass is shared between rival
spans, so scores are lower where the model hesitates, and for a calibrated model a score of 0.8 means
"right 8 times in 10".

YAML: a pipeline file written with ExtractiveReader loads once its `type:` line names
`spanqa.integrations.haystack.SpanqaExtractiveReader` (every parameter it writes is accepted). Haystack 3
builds classes only from modules on its allowlist: pass `allowed_modules=["spanqa.integrations.haystack"]`
to `Pipeline.load`/`Pipeline.loads` (or set HAYSTACK_DESERIALIZATION_ALLOWLIST).

Parameters that keep their meaning: model (a spanqa or Hugging Face question-answering folder, or "default",
the model shipped with spanqa), device (one device; not a device map), top_k, score_threshold,
max_seq_length and stride (None: the model folder's own, 384 and 128 for the default model), max_batch_size
(None: 32 windows a batch; batching never changes an answer), no_answer, overlap_threshold.
Parameters that change meaning or are ignored, and why:
- answers_per_seq: candidates kept per document (ExtractiveReader: per window) before overlap removal and
  top_k; None: 20. The scores themselves always add up the 20 best spans of each window.
- calibration_factor: ignored (a warning when it is not ExtractiveReader's 0.1): it scales a sigmoid spanqa
  does not use. The softmax's temperature is the model folder's; override it with
  `reader_kwargs={"temperature": T}`.
- token: ignored: spanqa loads local folders; for a Hub id transformers reads HF_TOKEN itself.
- model_kwargs: spanqa does not call `from_pretrained` with them; only `device_map` (one device, as
  ExtractiveReader's own YAML files hold it) is understood, any other key is an error.
- device=None means the CPU (ExtractiveReader picks a GPU when there is one): spanqa's default model runs
  int8 on the CPU. A GPU device loads the torch back-end.
spanqa-only: `reader_kwargs`, keyword arguments of `spanqa.Reader.load` (backend, precision, threads,
spin_wait, and reader settings such as max_answer_len, max_question_len, align_to_words, temperature).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

from spanqa.errors import InputError, MissingExtraError

try:
    from haystack import Document, ExtractedAnswer, component, default_from_dict, default_to_dict
    from haystack.utils import ComponentDevice, Secret, deserialize_secrets_inplace
except ImportError as error:  # pragma: no cover - exercised by a test that hides haystack
    raise MissingExtraError(
        'spanqa.integrations.haystack needs Haystack (haystack-ai): pip install "spanqa[haystack]"'
    ) from error

from spanqa.inference.inputs import check_text
from spanqa.inference.reader import Reader
from spanqa.integrations.haystack_answers import extracted_answers
from spanqa.model.folder import DEFAULT_MODEL_NAME, shipped_if_default
from spanqa.settings import ReaderSettings
from spanqa.types import Query

__all__ = ["SpanqaExtractiveReader"]

logger = logging.getLogger(__name__)

DEFAULT_CANDIDATES_PER_DOCUMENT = 20  # ExtractiveReader's answers_per_seq default
DEFAULT_BATCH_SIZE = 32
EXTRACTIVE_READER_CALIBRATION_FACTOR = 0.1
LOAD_ARGUMENTS = frozenset({"backend", "precision", "threads", "spin_wait"})
# Reader settings the component sets from its own parameters: naming them in reader_kwargs would be ambiguous.
SETTINGS_OF_PARAMETERS = {
    "max_seq_len": "max_seq_length",
    "doc_stride": "stride",
    "top_k": "top_k",
    "handle_impossible_answer": "no_answer",
    "null_threshold": "no_answer",
}


@component
class SpanqaExtractiveReader:
    """Extracts answers to a query from Documents with a spanqa reader (a drop-in for ExtractiveReader).

    ```python
    from haystack import Document
    from spanqa.integrations.haystack import SpanqaExtractiveReader

    reader = SpanqaExtractiveReader()                 # the model shipped with spanqa
    docs = [Document(content="Python is a popular programming language")]
    answers = reader.run(query="What is a popular programming language?", documents=docs)["answers"]
    answers[0].data, answers[0].score, answers[-1].data   # 'Python', 0.9..., None (the no-answer)
    ```
    See the module's docstring for how the scores compare with ExtractiveReader's.
    """

    def __init__(
        self,
        model: Path | str = DEFAULT_MODEL_NAME,
        device: ComponentDevice | None = None,
        token: Secret | None = None,
        top_k: int = 20,
        score_threshold: float | None = None,
        max_seq_length: int | None = None,
        stride: int | None = None,
        max_batch_size: int | None = None,
        answers_per_seq: int | None = None,
        no_answer: bool = True,
        calibration_factor: float = EXTRACTIVE_READER_CALIBRATION_FACTOR,
        overlap_threshold: float | None = 0.01,
        model_kwargs: dict[str, Any] | None = None,
        reader_kwargs: dict[str, Any] | None = None,
    ) -> None:
        """Parameters as ExtractiveReader's (see the module docstring for the few that differ).

        :param model: a question-answering model folder, or "default" (the model shipped with spanqa).
        :param reader_kwargs: keyword arguments of `spanqa.Reader.load` (backend, precision, threads,
            spin_wait, max_answer_len, max_question_len, align_to_words, temperature, max_context_chars).
        """
        self.model_name_or_path = str(model)
        self.device = device
        self.token = token
        self.top_k = _positive_int(top_k, "top_k")
        self.score_threshold = _optional_probability(score_threshold, "score_threshold")
        self.max_seq_length = _optional_positive_int(max_seq_length, "max_seq_length")
        self.stride = _optional_int_at_least_zero(stride, "stride")
        self.max_batch_size = _optional_positive_int(max_batch_size, "max_batch_size")
        self.answers_per_seq = _optional_positive_int(answers_per_seq, "answers_per_seq")
        self.no_answer = _bool(no_answer, "no_answer")
        self.calibration_factor = calibration_factor
        self.overlap_threshold = _optional_probability(overlap_threshold, "overlap_threshold")
        self.model_kwargs = dict(model_kwargs or {})
        self.reader_kwargs = dict(reader_kwargs or {})
        self._load_device = _load_device(device, self.model_kwargs)
        _check_reader_kwargs(self.reader_kwargs)
        if calibration_factor != EXTRACTIVE_READER_CALIBRATION_FACTOR:
            logger.warning(
                "calibration_factor=%r is ignored: spanqa's scores are softmax probabilities scaled by the model's "
                "temperature; pass reader_kwargs={'temperature': ...} to change it",
                calibration_factor,
            )
        self.reader: Reader | None = None

    def to_dict(self) -> dict[str, Any]:
        """The component as a dictionary (what `Pipeline.dumps` writes)."""
        return default_to_dict(
            self,
            model=self.model_name_or_path,
            # Serialised by hand: Haystack 2's default_to_dict, unlike 3's, does not call to_dict on values.
            device=None if self.device is None else self.device.to_dict(),
            token=None if self.token is None else self.token.to_dict(),
            top_k=self.top_k,
            score_threshold=self.score_threshold,
            max_seq_length=self.max_seq_length,
            stride=self.stride,
            max_batch_size=self.max_batch_size,
            answers_per_seq=self.answers_per_seq,
            no_answer=self.no_answer,
            calibration_factor=self.calibration_factor,
            overlap_threshold=self.overlap_threshold,
            model_kwargs=self.model_kwargs,
            reader_kwargs=self.reader_kwargs,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpanqaExtractiveReader:
        """The component `to_dict` wrote."""
        init_parameters = dict(data.get("init_parameters", {}))
        deserialize_secrets_inplace(init_parameters, keys=["token"])
        if isinstance(init_parameters.get("device"), dict):
            init_parameters["device"] = ComponentDevice.from_dict(init_parameters["device"])
        return default_from_dict(cls, {**data, "init_parameters": init_parameters})

    def warm_up(self) -> None:
        """Load the model (once; `run` calls it too, as ExtractiveReader's run does)."""
        if self.reader is not None:
            return
        backend_default = "auto" if self._load_device == "cpu" else "torch"  # ONNX Runtime runs on the CPU only
        load_arguments = {"backend": backend_default, **self.reader_kwargs}
        settings = {"max_seq_len": self.max_seq_length, "doc_stride": self.stride}
        self.reader = Reader.load(
            _model_path(self.model_name_or_path),
            device=self._load_device,
            **load_arguments,
            **{name: value for name, value in settings.items() if value is not None},
        )

    @component.output_types(answers=list[ExtractedAnswer])
    def run(
        self,
        query: str,
        documents: list[Document],
        top_k: int | None = None,
        score_threshold: float | None = None,
        max_seq_length: int | None = None,
        stride: int | None = None,
        max_batch_size: int | None = None,
        answers_per_seq: int | None = None,
        no_answer: bool | None = None,
        overlap_threshold: float | None = None,
    ) -> dict[str, Any]:
        """Answers to `query` from `documents`, best first (None arguments: the component's own values)."""
        check_text(query, "query")
        top_k = self.top_k if top_k is None else _positive_int(top_k, "top_k")
        score_threshold = _first_set(_optional_probability(score_threshold, "score_threshold"), self.score_threshold)
        batch_size = _first_set(_optional_positive_int(max_batch_size, "max_batch_size"), self.max_batch_size)
        per_document = _first_set(
            _optional_positive_int(answers_per_seq, "answers_per_seq"),
            _first_set(self.answers_per_seq, DEFAULT_CANDIDATES_PER_DOCUMENT),
        )
        no_answer = self.no_answer if no_answer is None else _bool(no_answer, "no_answer")
        overlap = _first_set(_optional_probability(overlap_threshold, "overlap_threshold"), self.overlap_threshold)

        usable = _usable_documents(documents)
        if not usable:
            return {"answers": []}
        self.warm_up()
        assert self.reader is not None  # warm_up sets it
        # Every document's per_document best spans (ranked together, one document's can outscore all the
        # others'), and one more place: the no-answer takes one in spanqa's ranking, not in ExtractiveReader's top_k.
        settings = self.reader.settings.replace(
            top_k=per_document * len(usable) + 1,
            handle_impossible_answer=True,  # span scores are the same whether or not the no-answer is returned
            max_seq_len=_optional_positive_int(max_seq_length, "max_seq_length"),
            doc_stride=_optional_int_at_least_zero(stride, "stride"),
        )
        query_ = Query(id="0", question=query, contexts=tuple(document.content for document in usable))
        batch = _first_set(batch_size, DEFAULT_BATCH_SIZE)
        [prediction] = self.reader.predict_queries([query_], settings, batch, answers_per_context=per_document)
        answers = extracted_answers(query, usable, prediction, top_k, score_threshold, no_answer, overlap)
        return {"answers": answers}


# ---------------------------------------------------------------------------- arguments
def _usable_documents(documents: Any) -> list[Document]:
    """The documents with text; like ExtractiveReader, those without content are skipped with a warning."""
    if not isinstance(documents, list | tuple):
        raise InputError(f"documents must be a list of Haystack Documents, got {type(documents).__name__}")
    usable = []
    for index, document in enumerate(documents):
        if not isinstance(document, Document):
            raise InputError(f"documents[{index}] must be a Haystack Document, got {type(document).__name__}")
        if document.content is None or not document.content.strip():
            logger.warning("document %s has no text and is ignored", document.id)
            continue
        usable.append(document)
    return usable


def _model_path(model: str) -> str | None:
    """None (the model shipped with spanqa) for "default", unless a folder of that name exists."""
    chosen = shipped_if_default(model)
    return None if chosen is None else os.path.expanduser(chosen)


def _load_device(device: ComponentDevice | None, model_kwargs: dict[str, Any]) -> str:
    """The one torch device string to load the model on ("cpu" when nothing says otherwise)."""
    unknown = sorted(set(model_kwargs) - {"device_map"})
    if unknown:
        raise InputError(
            f"model_kwargs {', '.join(map(repr, unknown))}: spanqa does not pass model_kwargs to transformers' "
            "from_pretrained (only 'device_map' is understood); use reader_kwargs for spanqa's loading options "
            "(backend, precision, threads) and reader settings"
        )
    if device is not None and not isinstance(device, ComponentDevice):
        raise InputError(f"device must be a haystack ComponentDevice or None, got {type(device).__name__}")
    device_map = model_kwargs.get("device_map")
    if device_map is not None and device is not None:
        logger.warning("device and model_kwargs['device_map'] are both given: device_map wins, as in ExtractiveReader")
    if device_map is None and device is not None:
        if device.has_multiple_devices:
            raise InputError("device is a device map: spanqa runs a model on one device, e.g. ComponentDevice.from_str")
        return device.to_torch_str()
    if device_map is None or device_map == "auto":
        return "cpu"
    if isinstance(device_map, int) and not isinstance(device_map, bool):
        return f"cuda:{device_map}"
    if isinstance(device_map, str):
        return device_map
    raise InputError(
        f"model_kwargs['device_map'] must name one device (such as 'cpu' or 'cuda:0'), got {device_map!r}: "
        "spanqa runs a model on one device"
    )


def _check_reader_kwargs(reader_kwargs: dict[str, Any]) -> None:
    settings_names = set(ReaderSettings.__dataclass_fields__)
    for name in reader_kwargs:
        if name in SETTINGS_OF_PARAMETERS:
            raise InputError(
                f"reader_kwargs[{name!r}] is set by the component's {SETTINGS_OF_PARAMETERS[name]!r} parameter: "
                "pass it there"
            )
        if name == "device":
            raise InputError("reader_kwargs['device'] is set by the component's 'device' parameter: pass it there")
        if name not in LOAD_ARGUMENTS and name not in settings_names:
            allowed = sorted(LOAD_ARGUMENTS | (settings_names - set(SETTINGS_OF_PARAMETERS)))
            raise InputError(f"reader_kwargs[{name!r}] is not an argument of spanqa.Reader.load; use one of {allowed}")
    # Checked now rather than at warm-up: a bad value should fail where the pipeline is built.
    ReaderSettings().replace(**{name: value for name, value in reader_kwargs.items() if name in settings_names})


def _first_set(value: Any, fallback: Any) -> Any:
    return fallback if value is None else value


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return value


def _optional_positive_int(value: Any, name: str) -> int | None:
    return None if value is None else _positive_int(value, name)


def _optional_int_at_least_zero(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"{name} must be an integer >= 0, got {value!r}")
    return value


def _optional_probability(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or not 0 <= value <= 1:
        raise InputError(f"{name} must be a number between 0 and 1 (or None), got {value!r}")
    return float(value)


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{name} must be True or False, got {value!r}")
    return value
