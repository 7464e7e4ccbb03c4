"""Run independent jobs in worker processes with a progress bar (used by the benchmarks)."""

import multiprocessing
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed

from tqdm import tqdm

from surrogate.accelerator import check_int


def run_jobs(
    fn: Callable,
    jobs: Iterable,
    *,
    workers: int,
    desc: str = "runs",
    start_method: str = "spawn",
    progress: bool = True,
) -> list:
    """``[fn(job) for job in jobs]``, computed by ``workers`` processes, in the jobs' order.

    A bar on stderr counts the finished jobs as they finish (in any order). ``start_method``
    is a multiprocessing start method. Workers are spawned by default: a forked child of a
    process whose torch has started its thread pool may deadlock, and CUDA cannot be used in
    a forked child of a process that has touched it. ``fn`` must then be importable (a
    module-level function) and the calling script guarded by ``if __name__ == "__main__"``.
    """
    jobs = list(jobs)
    workers = check_int("workers", workers, 1)
    if not jobs:
        return []
    context = multiprocessing.get_context(start_method)
    results = [None] * len(jobs)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(fn, job): i for i, job in enumerate(jobs)}
        bar = tqdm(total=len(jobs), desc=desc, unit="run", file=sys.stderr, disable=not progress)
        with bar:
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update()
    return results
