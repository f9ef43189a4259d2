"""Every subject of a `pds prepare` run, one after the other or in spawned worker processes (`--n-jobs`),
with each failure collected as that subject's problem instead of stopping the others."""

from __future__ import annotations

import functools
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from pds_mri.config import Config
from pds_mri.errors import InputError, PdsError
from pds_mri.io.inputs import SubjectInputs
from pds_mri.preprocess.subject import prepare_subject_safely
from pds_mri.progress import progress_bar
from pds_mri.threads import limit_threads, threads_per_process


def prepare_all(
    subjects: list[SubjectInputs],
    config: Config,
    out_dir: Path,
    n_jobs: int,
    registration: str = "none",
    omp_nthreads: int | None = None,
    links: dict[str, str] | None = None,
    previous: Path | None = None,
) -> tuple[list[dict], dict[str, list[InputError]]]:
    """Rows of the subjects that were prepared, and the problems of those that failed (collected, not fatal).

    Workers are spawned, not forked: a forked worker would inherit the output lock's descriptor and hold the
    lock after its parent was killed, refusing every later prepare. Each worker's thread pools are capped
    (`threads.threads_per_process`): n_jobs workers that each took every core would oversubscribe the machine.
    `previous`: the prepared dir of an earlier run, whose registrations of unchanged images are re-used."""
    rows: list[dict] = []
    failed: dict[str, list[InputError]] = {}
    with progress_bar() as bar:
        task = bar.add_task("preparing subjects", total=len(subjects))
        if n_jobs <= 1:
            if omp_nthreads is not None:
                limit_threads(omp_nthreads)
            for subject in subjects:
                job = functools.partial(prepare_subject_safely, subject, config, out_dir, registration, links, previous)
                _collect(subject, job, rows, failed)
                bar.advance(task)
        else:
            context = multiprocessing.get_context("spawn")
            threads = threads_per_process(n_jobs, omp_nthreads)
            with ProcessPoolExecutor(n_jobs, context, initializer=limit_threads, initargs=(threads,)) as pool:
                futures = {
                    pool.submit(prepare_subject_safely, s, config, out_dir, registration, links, previous): s
                    for s in subjects
                }
                for future in as_completed(futures):
                    _collect(futures[future], future.result, rows, failed)
                    bar.advance(task)
    return rows, failed


def _collect(subject: SubjectInputs, result: Callable[[], dict], rows: list[dict], failed: dict) -> None:
    try:
        rows.append(result())
    except InputError as exc:
        failed[subject.row_id] = [exc]
    except BrokenProcessPool:
        raise PdsError("a `pds prepare` worker died (out of memory?); run again with fewer --n-jobs") from None
