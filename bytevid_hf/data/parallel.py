"""Generating clips in worker processes, in order, with a progress bar."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any


def map_in_processes(worker: Callable[[Any], Any], jobs: list, num_proc: int, progress: bool = False,
                     desc: str = "", unit: str = "clip", leave: bool = True) -> Iterator[Any]:
    """``worker(job)`` for every job, yielded in the jobs' order: in this process when ``num_proc <= 1`` (or there is
    at most one job), else in ``num_proc`` forked worker processes (``worker`` must be picklable: a module-level
    function). A tqdm bar counts the results when ``progress``."""
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc=desc, unit=unit, leave=leave)
    pool = None
    try:
        if num_proc <= 1 or len(jobs) <= 1:
            results = map(worker, jobs)
        else:
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("fork" if "fork" in methods else None)
            pool = ProcessPoolExecutor(max_workers=num_proc, mp_context=context)
            results = pool.map(worker, jobs, chunksize=max(1, min(16, len(jobs) // (4 * num_proc))))
        for result in results:
            yield result
            if bar is not None:
                bar.update(1)
    finally:
        if pool is not None:
            pool.shutdown()
        if bar is not None:
            bar.close()


__all__ = ["map_in_processes"]
