"""The matmul peaks of this machine: what share of them the model's FLOPs reach says how well a back-end runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np


def peak_of(peaks: dict[str, dict[str, Any]], precision: str) -> float | None:
    """The best GFLOP/s measured for `precision` by any of its kernels (int8: ORT's or torch's), None if unmeasured.

    A back-end's share of it says how close it runs to what this CPU can do in that precision, not
    only to what its own library's kernel does.
    """
    rates = [peak["gflops"] for name, peak in peaks.items() if name == precision or name.startswith(f"{precision}_")]
    return max(rates, default=None)


def matmul_peaks(budget_s: float = 2.0) -> dict[str, dict[str, Any]]:
    """Best GFLOP/s (GOP/s for int8) of square matrix products, 2048 x 2048 where that fits the budget."""
    import torch

    peaks: dict[str, dict[str, Any]] = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):

        def work_at(n: int, dtype=dtype):
            a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
            return lambda: a @ b

        n = size_within(work_at, budget_s)
        peaks[name] = {"gflops": best_rate(work_at(n), 2 * n**3, budget_s), "n": n, "how": f"torch {name} matmul"}
    n = size_within(ort_fp32_work, budget_s)
    peaks["fp32_ort"] = {"gflops": best_rate(ort_fp32_work(n), 2 * n**3, budget_s), "n": n, "how": "ORT MatMul"}
    n = size_within(ort_int8_work, budget_s)
    peaks["int8"] = {"gflops": best_rate(ort_int8_work(n), 2 * n**3, budget_s), "n": n, "how": "ORT MatMulInteger"}
    if hasattr(torch, "_int_mm"):

        def int_mm_at(n: int):
            a = torch.randint(-128, 127, (n, n), dtype=torch.int8)
            b = torch.randint(-128, 127, (n, n), dtype=torch.int8)
            return lambda: torch._int_mm(a, b)

        n = size_within(int_mm_at, budget_s)
        peaks["int8_torch"] = {"gflops": best_rate(int_mm_at(n), 2 * n**3, budget_s), "n": n, "how": "torch._int_mm"}
    return peaks


def best_rate(work: Callable[[], Any], flop: float, budget_s: float) -> float:
    """The best GFLOP/s of `work` (`flop` FLOPs a call) over at least 2 and at most 20 calls within the budget."""
    work()  # warm-up
    rates, spent = [], 0.0
    while spent < budget_s or len(rates) < 2:
        began = time.perf_counter()
        work()
        elapsed = time.perf_counter() - began
        spent += elapsed
        rates.append(flop / elapsed / 1e9)
        if len(rates) >= 20:
            break
    return max(rates)


def size_within(work_at: Callable[[int], Callable[[], Any]], budget_s: float, largest: int = 2048) -> int:
    """The largest n (256 .. `largest`, doubling) whose n x n product takes under budget_s / 4 here."""
    n = 256
    while n < largest:
        work = work_at(n)
        work()
        began = time.perf_counter()
        work()
        if (time.perf_counter() - began) * 8 > budget_s / 4:  # the next size costs ~8x
            break
        n *= 2
    return n


def ort_int8_work(n: int) -> Callable[[], Any]:
    """uint8 activations x int8 weights -> int32 with ONNX Runtime's MatMulInteger (as dynamic int8 runs)."""
    rng = np.random.default_rng(0)
    weights = rng.integers(-128, 127, (n, n), dtype=np.int8)
    return ort_matmul_work("MatMulInteger", weights, rng.integers(0, 255, (n, n), dtype=np.uint8))


def ort_fp32_work(n: int) -> Callable[[], Any]:
    """fp32 x fp32 with ONNX Runtime's MatMul (MLAS): the kernel the ONNX fp32 back-end runs."""
    rng = np.random.default_rng(0)
    weights, activations = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    return ort_matmul_work("MatMul", weights, activations)


def ort_matmul_work(op: str, weights: np.ndarray, activations: np.ndarray) -> Callable[[], Any]:
    """One ONNX Runtime node `op`(A, B) with B a constant, run on `activations`."""
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper

    element = {np.dtype(np.uint8): onnx.TensorProto.UINT8, np.dtype(np.float32): onnx.TensorProto.FLOAT}
    output = onnx.TensorProto.INT32 if op == "MatMulInteger" else onnx.TensorProto.FLOAT
    n = activations.shape[0]
    graph = helper.make_graph(
        [helper.make_node(op, ["A", "B"], ["C"])],
        f"{op}_peak",
        [helper.make_tensor_value_info("A", element[activations.dtype], [n, n])],
        [helper.make_tensor_value_info("C", output, [n, n])],
        initializer=[numpy_helper.from_array(weights, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return lambda: session.run(None, {"A": activations})
