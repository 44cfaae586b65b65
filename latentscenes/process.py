"""Process-wide settings that decide CPU speed: glibc's freed memory, OpenMP waiting
(measured in docs/log/benchmarks.md, "Process tuning").

PyTorch's CPU allocator takes every tensor from malloc. glibc serves large blocks with
mmap and hands them back with munmap on free, and trims the heap top, so every training
step page-faults its activations in afresh and the kernel zeroes them again (and with
several threads every munmap also interrupts the other cores).

`keep_freed_memory()` sets, process-wide and for the rest of the process:
M_MMAP_MAX = 0 (no mmap for large blocks), M_TRIM_THRESHOLD = 2 GiB (trim only huge
free tops), M_TOP_PAD = 64 MiB (grow the heap in large steps). It is what the
environment variables `MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=<large>` do, applied at
run time. The cost is that the process keeps its peak heap size; call it at program
start (a CLI command or a benchmark), never from library code. It does nothing off glibc.

OpenMP waiting: every parallel op waits for all of PyTorch's CPU threads. When the cores
are oversubscribed (other processes running), a thread that is not scheduled stalls its
partner; `OMP_WAIT_POLICY=PASSIVE` lets waiting threads sleep instead. The variable is read
when torch starts its thread pool, so it must be set before `import torch`: the CLI's entry
point (`latentscenes.cli.main`) sets it unless the environment already does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["keep_freed_memory", "tune_process", "is_tuned", "peak_rss_bytes"]

_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_MAX = -4
_applied = False


def keep_freed_memory() -> bool:
    """Tune glibc malloc as described above. Returns True when applied (Linux glibc only)."""
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_MAX, 0) == 1
    ok = mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1 and ok
    ok = mallopt(_M_TOP_PAD, 64 << 20) == 1 and ok
    _applied = ok
    return ok


def tune_process(threads: int | None) -> None:
    """At the start of a program (a CLI command, a training run's own process): keep freed
    memory, and use `threads` torch CPU threads (None or 0: torch's choice)."""
    import torch

    keep_freed_memory()
    if threads:
        torch.set_num_threads(threads)


def is_tuned() -> bool:
    """Whether `keep_freed_memory` has been applied in this process."""
    return _applied


def peak_rss_bytes() -> int:
    """This process's peak resident memory so far, in bytes (0 where the platform does not
    report it)."""
    try:
        import resource
    except ImportError:  # not on Unix
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS reports bytes, Linux KiB

