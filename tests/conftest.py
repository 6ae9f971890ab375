"""Shared fixtures: tiny random models built once per test session, the SQuAD fixtures."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from cli_helpers import run_main
from paths import FIXTURES, SQUAD_V1_SMALL, SQUAD_V2_SMALL
from tiny_model import MINILM_DIR, build_tiny_model

# Re-exported for modules that still import them from conftest (test_train.py, test_serve.py); the
# plain modules paths and cli_helpers are their home.
__all__ = ["FIXTURES", "SQUAD_V1_SMALL", "SQUAD_V2_SMALL", "run_main"]

# One thread per test process: the suite runs on 2 cores, often beside other work, where
# torch's spinning worker threads slow everything down; results do not depend on it.
torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def fp32_when_auto():
    """precision "auto" means fp32 in tests, whatever the CPU: on CPUs with native bf16 it would pick
    bf16, and tests compare answers and logits of two readers exactly. Tests of bf16 ask for it."""
    import spanqa.model.folder

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(spanqa.model.folder, "cpu_has_fast_bf16", lambda: False)
        yield


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer random BERT with a linear span head, saved as a spanqa model folder."""
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-linear", head="linear")


@pytest.fixture(scope="session")
def tiny_pointer_model_dir(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-pointer", head="pointer")


@pytest.fixture(scope="session")
def tiny_reader(tiny_model_dir):
    from spanqa.inference.reader import Reader

    return Reader.load(tiny_model_dir, precision="fp32")


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    return MINILM_DIR
