"""spanqa: extractive question answering you can trust.

`import spanqa` stays light: torch and transformers load when a model is first loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spanqa.errors import ConfigError, DataFileError, InputError, ModelFolderError, SpanQAError
from spanqa.settings import ReaderSettings
from spanqa.types import Answer, Example, Prediction

if TYPE_CHECKING:
    from spanqa.classify import Classifier
    from spanqa.data import load_squad
    from spanqa.evaluation.metrics import squad_metrics
    from spanqa.inference.reader import Reader
    from spanqa.integrations.transformers_pipeline import pipeline

__all__ = [
    "Answer",
    "Classifier",
    "ConfigError",
    "DataFileError",
    "Example",
    "InputError",
    "ModelFolderError",
    "Prediction",
    "Reader",
    "ReaderSettings",
    "SpanQAError",
    "load_squad",
    "pipeline",
    "squad_metrics",
]
__version__ = "0.1.0"

_LAZY = {
    "Classifier": "spanqa.classify",
    "Reader": "spanqa.inference.reader",
    "load_squad": "spanqa.data",
    "pipeline": "spanqa.integrations.transformers_pipeline",
    "squad_metrics": "spanqa.evaluation.metrics",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'spanqa' has no attribute {name!r}")
