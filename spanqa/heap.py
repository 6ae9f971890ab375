"""Keep glibc's heap from growing with batches of changing shapes (the server, training).

glibc's malloc keeps memory that a batch's tensors freed, in every arena a thread touched, to
reuse it later; with batches of changing shapes it keeps finding no block of the right size and
grows instead.

- A server climbs from ~0.5 GiB to well over 1 GiB under load although it holds nothing between
  requests. `release_free_heap` (`malloc_trim(0)`) returns the free pages of all arenas (a few
  milliseconds, next to batches that take hundreds), so the server's memory tracks what it uses.
- Training with length-grouped batches grew by about 0.1 GiB per step (MiniLM-L6, batch 32, bf16,
  lengths 100-384) until the kernel killed it at 16 GiB. The training loop calls
  `release_free_heap` after every optimiser step: the same steps then held at 0.8 GiB, for about 7%
  more time per step. (Serving every block of 1 MiB or more by mmap, MALLOC_MMAP_THRESHOLD_, held
  memory as well but cost about 25%: every activation's pages were faulted in afresh.) At 384
  tokens glibc serves most activations by mmap anyway, and the run spent a third of its CPU time
  faulting pages in; jemalloc told never to purge (what scripts/train_default_model.sh preloads
  when it is installed) ran 1.49x the steps per second with the same peak memory and the same
  losses (bench/train_allocator.py, reports/train_allocator.md).

Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Callable
from functools import cache


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)  # absent from musl
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_heap() -> bool:
    """Return freed heap pages to the OS; True when the C library could do it."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
