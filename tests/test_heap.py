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


HALF_FREED = """
import ctypes, ctypes.util, sys
from spanqa.heap import allocate_large_blocks_with_mmap
def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "mmap":
    allocate_large_blocks_with_mmap()
libc.free(libc.malloc(8 << 20))  # a large free raises glibc's own (dynamic) mmap threshold to 8 MiB
before = rss_mib()
blocks = [libc.malloc(2 << 20) for _ in range(100)]
for block in blocks:
    ctypes.memset(block, 1, 2 << 20)
for block in blocks[::2]:  # every other block freed: holes in the heap, which glibc keeps
    libc.free(block)
print(rss_mib() - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_large_blocks_from_mmap_go_back_to_the_os_when_freed() -> None:
    import subprocess

    def held_mib(mode: str) -> float:
        result = subprocess.run([sys.executable, "-c", HALF_FREED, mode], capture_output=True, text=True, check=True)
        return float(result.stdout)

    # 50 blocks of 2 MiB stay allocated (100 MiB); the 50 freed ones stay resident only on the heap
    assert held_mib("heap") > 180
    assert 90 < held_mib("mmap") < 130
