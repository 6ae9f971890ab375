"""Batch question answering on a Ray cluster (Ray Data), over the same table function as local predict.

    import ray
    from spanqa.distributed import predict_dataset

    answers = predict_dataset(ray.data.read_parquet("s3://bucket/questions/"), model="default", workers=8)
    answers.write_parquet("s3://bucket/answers/")

ray is imported when one of these is first used, so `import spanqa` never needs it; without it
they raise MissingExtraError naming `pip install "spanqa[ray]"`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spanqa.distributed.actor import ReaderActor
    from spanqa.distributed.dataset import predict_dataset
    from spanqa.distributed.job import run_ray

__all__ = ["ReaderActor", "predict_dataset", "run_ray"]
_LAZY = {
    "ReaderActor": "spanqa.distributed.actor",
    "predict_dataset": "spanqa.distributed.dataset",
    "run_ray": "spanqa.distributed.job",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'spanqa.distributed' has no attribute {name!r}")
