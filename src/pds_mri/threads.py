"""How many CPU threads the tool may use (`--omp-nthreads`), in every pool that would otherwise take all cores.

PyTorch's intra-op pool, the BLAS/OpenMP pools numpy and scikit-learn load (threadpoolctl) and ITK's pool in
ANTsPy each default to every core; with `pds prepare --nprocs 4` on 16 cores that is 4 × 16 threads fighting
for 16 cores. The environment variables reach the processes this one starts (spawned `prepare` workers,
which read them at start-up); the calls limit the pools already loaded here.
"""

from __future__ import annotations

import os
import sys

#: Read at start-up by OpenMP (torch, numpy's BLAS), MKL, OpenBLAS, Apple Accelerate, numexpr and ITK (ANTsPy).
THREAD_ENV = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS",
)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a SLURM allocation), not the machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS has no affinity API
        return max(1, os.cpu_count() or 1)


def threads_per_process(processes: int, omp_nthreads: int | None = None) -> int:
    """`--omp-nthreads` when given, else the available cores shared evenly by `processes` (at least 1)."""
    if omp_nthreads is not None:
        return max(1, omp_nthreads)
    return max(1, available_cores() // max(1, processes))


def limit_threads(n: int) -> None:
    """Cap every thread pool of this process, and of the processes it starts, at `n` threads."""
    if n < 1:
        raise ValueError(f"thread count must be >= 1, got {n}")
    for name in THREAD_ENV:
        os.environ[name] = str(n)
    from threadpoolctl import threadpool_limits

    threadpool_limits(n)  # BLAS and OpenMP runtimes already loaded (numpy, scipy, scikit-learn)
    torch = sys.modules.get("torch")
    if torch is not None:  # not imported yet: it reads OMP_NUM_THREADS when it is
        torch.set_num_threads(n)
