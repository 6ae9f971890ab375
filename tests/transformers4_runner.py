"""Runs a table of call forms through a question-answering pipeline, for tests/test_pipeline_vs_transformers4.py.

Both sides use `run_cases`: the test calls it with spanqa.pipeline, and runs this file as a script in
a virtual environment with transformers 4.57.6 (the last release with the pipeline), where it
imports nothing from spanqa:

    python tests/transformers4_runner.py --model MODEL_DIR --cases cases.json --out results.json

A case is JSON: {"name", "pipeline": {factory keyword arguments}, "args": [...], "kwargs": {...}}.
Inputs that JSON cannot hold are written as {"__squad__": [question, context]} (a SquadExample) and
{"__generator__": [item, ...]} (a generator of the items). Each result is {"result": ..., "lazy":
bool} (lazy: the pipeline returned an iterator, listed here) or {"error": exception type name}.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable
from typing import Any


def decode_input(value: Any, squad_example: Callable[[str, str], Any]) -> Any:
    if isinstance(value, dict) and "__squad__" in value:
        return squad_example(*value["__squad__"])
    if isinstance(value, dict) and "__generator__" in value:
        items = [decode_input(item, squad_example) for item in value["__generator__"]]
        return (item for item in items)
    if isinstance(value, list):
        return [decode_input(item, squad_example) for item in value]
    if isinstance(value, dict):
        return {key: decode_input(item, squad_example) for key, item in value.items()}
    return value


def run_case(qa: Callable[..., Any], case: dict[str, Any], squad_example: Callable[[str, str], Any]) -> dict:
    args = [decode_input(arg, squad_example) for arg in case.get("args", [])]
    kwargs = {name: decode_input(value, squad_example) for name, value in case.get("kwargs", {}).items()}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the old pipeline's deprecation warnings for positional inputs, topk
            result = qa(*args, **kwargs)
            lazy = not isinstance(result, dict | list)
            if lazy:
                result = list(result)
    except Exception as error:  # the table compares which cases fail, not how
        return {"error": type(error).__name__, "message": str(error)[:300]}
    return {"result": result, "lazy": lazy}


def run_cases(
    make_pipeline: Callable[..., Callable[..., Any]],
    cases: list[dict[str, Any]],
    squad_example: Callable[[str, str], Any],
) -> dict[str, dict]:
    """{case name: its result}; one pipeline per distinct set of factory arguments."""
    pipelines: dict[str, Callable[..., Any]] = {}
    results = {}
    for case in cases:
        key = json.dumps(case.get("pipeline", {}), sort_keys=True)
        if key not in pipelines:
            pipelines[key] = make_pipeline(**case.get("pipeline", {}))
        results[case["name"]] = run_case(pipelines[key], case, squad_example)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--cases", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import torch
    import transformers
    from transformers import pipeline
    from transformers.data import SquadExample

    transformers.logging.set_verbosity_error()
    torch.set_num_threads(1)
    with open(args.cases, encoding="utf-8") as handle:
        cases = json.load(handle)
    tokenizers = []

    def make_pipeline(**factory: Any):
        qa = pipeline("question-answering", model=args.model, tokenizer=args.model, **factory)
        tokenizers.append(type(qa.tokenizer).__name__)
        return qa

    results = run_cases(make_pipeline, cases, lambda q, c: SquadExample(None, q, c, None, None, None))
    report = {"transformers": transformers.__version__, "tokenizers": sorted(set(tokenizers)), "results": results}
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(report, handle, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
