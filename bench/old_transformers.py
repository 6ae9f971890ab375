"""Set-up shared by the scripts that run inside the transformers 4.57.6 baseline venv.

Those scripts (pipeline_baseline.py, classify_pipeline_baseline.py) import nothing from spanqa, which
is not installed there; this module sits beside them, so `import old_transformers` finds it.
"""

from __future__ import annotations

import os
import warnings


def quiet_pipeline_factory(threads: int | None):
    """transformers' `pipeline`, offline, its warnings and logs silenced, torch on `threads` threads."""
    warnings.simplefilter("ignore")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    import transformers
    from transformers import pipeline

    transformers.logging.set_verbosity_error()
    if threads is not None:
        torch.set_num_threads(threads)
    return pipeline
