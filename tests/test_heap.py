"""The server's heap release: freed memory that malloc kept goes back to the OS."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

import pytest

from spanqa.heap import release_free_heap

MIB = 1024 * 1024


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc_trim is Linux-only")
def test_release_free_heap_returns_freed_blocks_to_the_os() -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    # 200 MiB in 4 KiB blocks (under the mmap threshold, so they live on the heap), all touched.
    blocks = [libc.malloc(4096) for _ in range(200 * MIB // 4096)]
    for block in blocks:
        ctypes.memset(block, 1, 4096)
    pin = libc.malloc(4096)  # a live block above the others stops free() from shrinking the heap itself
    for block in blocks:
        libc.free(block)
    kept = _rss_mib()
    assert release_free_heap() is True
    released = _rss_mib()
    libc.free(pin)
    assert kept - released > 150, f"RSS {kept:.0f} MiB -> {released:.0f} MiB after the trim"

