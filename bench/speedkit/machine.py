"""Facts about this machine that a speed report needs beside its numbers."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    """CPU, cores, its vector extensions, torch's threads and CPU kernels, library versions, load average."""
    import onnxruntime
    import torch

    from spanqa.model.folder import cpu_has_fast_bf16

    flags, model_name = set(), platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            if line.startswith("model name"):
                model_name = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "cpu": model_name,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "avx512f": "avx512f" in flags,
        "avx512_bf16": "avx512_bf16" in flags or "amx_bf16" in flags,
        "avx512_vnni": "avx512_vnni" in flags or "avx_vnni" in flags,
        "native_bf16": cpu_has_fast_bf16(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
    }
