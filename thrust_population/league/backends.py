"""Where a league's work runs: one interface, :class:`LeagueBackend`, and its three
implementations (in this process, a local process pool, Ray tasks).

A generation asks its backend for two things: train the learners whose snapshot is missing
(:meth:`LeagueBackend.train`), then play the evaluation matches (:meth:`LeagueBackend.play`).
The league loop (:mod:`.loop`) alone writes the store: it freezes each trained model in learner
order as the backend yields it, and records the evaluation in one transaction. A backend never
writes the store; one that trains outside this process opens the run read-only
(:func:`train_in_worker`) and leaves each model in the run's ``league-staging`` directory.

Adding a backend (Slurm, Dask, ...) is one subclass of :class:`LeagueBackend` with ``train``
and ``play`` (and ``close`` if it holds resources), passed as ``League.run(n, backend=...)``;
:func:`train_in_worker` and :func:`play_in_worker` are the functions its remote tasks run.
"""

from __future__ import annotations

import os
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from thrust_population.league.config import STAGING_DIR
from thrust_population.matches import positive_int

if TYPE_CHECKING:
    from thrust_population.league.loop import League

__all__ = [
    "RAY_EVAL_BATCH",
    "BackendError",
    "EvaluationMatch",
    "InProcessBackend",
    "LeagueBackend",
    "ProcessPoolBackend",
    "RayBackend",
    "TrainedLearner",
    "auto_workers",
    "available_cpus",
    "make_backend",
    "play_evaluation",
    "play_in_worker",
    "train_in_worker",
    "worker_tasks",
]

#: Evaluation matches per Ray task.
RAY_EVAL_BATCH = 4
#: Seconds between a pool worker's checks that its parent is alive (the watchdog).
WATCHDOG_INTERVAL = 1.0


class BackendError(RuntimeError):
    """A worker process or Ray task died or failed (the frozen snapshots are kept: resume)."""


class TrainedLearner(NamedTuple):
    """A learner trained through one generation, not yet frozen.

    Attributes:
        learner: the learner's index (main agents first, then exploiters)
        model: the trained SB3 model
        entry: the generation's record of it: ``learner``, ``opponents``, ``steps``,
            ``seconds`` (and ``reset_to`` for a reset exploiter)
    """

    learner: int
    model: Any
    entry: dict[str, Any]


class EvaluationMatch(NamedTuple):
    """One evaluation match to play (not recorded): members ``a`` and ``b``, the match seed."""

    a: str
    b: str
    seed: int


class LeagueBackend(ABC):
    """Runs a league generation's work: training learners and playing evaluation matches.

    The league calls :meth:`train` once per generation, then :meth:`play` once, then
    :meth:`close` when its ``run`` ends (also on an error); a backend is a context manager
    that closes itself. Both methods must give what the in-process backend gives for the same
    league (the league is deterministic for its seed whatever the backend), and neither may
    write the store: the league freezes and records.
    """

    @abstractmethod
    def train(
        self, league: League, generation: int, learners: Sequence[int]
    ) -> Iterator[TrainedLearner]:
        """Train each of ``learners`` (ascending indices) through ``generation`` from its start
        snapshot (``league._fit(learner, generation)``, or the same in a worker through
        :func:`train_in_worker`), yielding them in the order of ``learners``.

        The league freezes each yielded model before it asks for the next, so a backend that
        trains in this process must train lazily (one learner per ``next``) for a crash to keep
        the snapshots already frozen; one that trains elsewhere may start them all at once.
        """

    @abstractmethod
    def play(self, league: League, matches: Sequence[Any]) -> list[Any]:
        """Play (without recording) each of the evaluation tasks ``matches`` (two-player:
        :class:`EvaluationMatch`; N-player: batches of games) with the league's evaluation
        settings (:func:`play_evaluation` in the end), returning the results in order."""

    def close(self) -> None:
        """Release what the backend holds (worker processes, a Ray instance it started); by
        default there is nothing to release."""
        return None

    def __enter__(self) -> LeagueBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def play_evaluation(league: League, matches: Iterable[Any]) -> list[Any]:
    """Play evaluation tasks in this process, as the league's evaluation plays them, not
    recorded (:meth:`League.play_evaluation`: a two-player league's :class:`EvaluationMatch`
    of ``eval_games`` games, an N-player league's batches of placement games)."""
    return league.play_evaluation(list(matches))


class InProcessBackend(LeagueBackend):
    """Everything in this process: learners one after the other, then the matches."""

    def train(
        self, league: League, generation: int, learners: Sequence[int]
    ) -> Iterator[TrainedLearner]:
        for learner in learners:
            model, entry = league._fit(learner, generation)
            yield TrainedLearner(learner, model, entry)

    def play(self, league: League, matches: Sequence[Any]) -> list[Any]:
        return play_evaluation(league, matches)


def staging_path(league: League, learner: int, generation: int) -> Path:
    """Where a worker leaves the model of ``learner`` trained through ``generation``."""
    return league.directory / STAGING_DIR / f"{league._name(learner, generation)}.zip"


def worker_tasks(
    league: League, generation: int, learners: Sequence[int], threads: int | None
) -> list[tuple[int, tuple[str, int, int, str, int | None]]]:
    """Each learner with the arguments of its :func:`train_in_worker` task (the staging
    directory is created)."""
    (league.directory / STAGING_DIR).mkdir(exist_ok=True)
    directory = str(league.directory)
    return [
        (i, (directory, i, generation, str(staging_path(league, i, generation)), threads))
        for i in learners
    ]


def _unstage(
    league: League, generation: int, entries: Iterable[tuple[int, dict[str, Any]]]
) -> Iterator[TrainedLearner]:
    """The staged models of ``(learner, entry)`` pairs (waited for in that order), each file
    removed once loaded (a crash before its freeze trains the learner again on resume)."""
    for learner, entry in entries:
        path = staging_path(league, learner, generation)
        model = league.load_learner_file(path)
        path.unlink()
        yield TrainedLearner(learner, model, entry)


def train_in_worker(
    directory: str, learner: int, generation: int, staging: str, threads: int | None
) -> dict[str, Any]:
    """A worker's task: train one learner for one generation in the run opened read-only, save
    the model to ``staging`` (the league freezes it, in learner order) and return its entry.

    :param threads: torch threads of the worker (None: torch's default)
    """
    from thrust_population.league.loop import League

    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    with League.open(directory, readonly=True) as league:
        model, entry = league._fit(learner, generation)
        model.save(staging)
    return entry


def play_in_worker(directory: str, matches: Sequence[Any]) -> list[Any]:
    """A worker's task: play (without recording) evaluation tasks of the run opened read-only
    (:class:`EvaluationMatch` or ``(a, b, seed)`` tuples for a two-player league); the league
    records them."""
    from thrust_population.league.loop import League

    with League.open(directory, readonly=True) as league:
        tasks = [EvaluationMatch(*m) if type(m) is tuple else m for m in matches]
        return play_evaluation(league, tasks)


def _die_with_parent(parent: int) -> None:
    """A pool worker's initializer: the worker is killed when ``parent`` (the league's process)
    dies, however it dies (``kill -9`` included), so it never trains on in an orphaned run.

    On Linux the kernel sends SIGKILL at the parent's death (``prctl(PR_SET_PDEATHSIG)``);
    everywhere, a daemon thread checks every :data:`WATCHDOG_INTERVAL` seconds that the parent
    is still this process's parent and exits otherwise (``os._exit``: nothing is saved).
    """
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the watchdog alone
            pass
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while True:
            threading.Event().wait(WATCHDOG_INTERVAL)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="league-parent-watchdog", daemon=True).start()


class ProcessPoolBackend(LeagueBackend):
    """Learners trained at once in a pool of ``workers`` spawned processes, each with
    ``threads`` torch threads; the evaluation matches are played in this process.

    :param workers: processes (at most one learner each at a time)
    :param threads: torch threads per process (None: the CPUs divided among the workers)
    """

    def __init__(self, workers: int, threads: int | None = None) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.workers = positive_int("workers", workers)
        self.threads = max(1, available_cpus() // self.workers) if threads is None else threads
        self.executor = ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_die_with_parent,
            initargs=(os.getpid(),),
        )

    def train(
        self, league: League, generation: int, learners: Sequence[int]
    ) -> Iterator[TrainedLearner]:
        from concurrent.futures.process import BrokenProcessPool

        futures = [
            (learner, self.executor.submit(train_in_worker, *arguments))
            for learner, arguments in worker_tasks(league, generation, learners, self.threads)
        ]

        def results() -> Iterator[tuple[int, dict[str, Any]]]:
            for learner, future in futures:
                try:
                    yield learner, future.result()
                except BrokenProcessPool as exc:
                    raise BackendError(
                        f"a worker process training {league._name(learner, generation)} died "
                        f"({exc})"
                    ) from exc

        yield from _unstage(league, generation, results())

    def play(self, league: League, matches: Sequence[Any]) -> list[Any]:
        return play_evaluation(league, matches)

    def close(self) -> None:
        self.executor.shutdown(cancel_futures=True)


class RayBackend(LeagueBackend):
    """Each learner's generation is a Ray task (one CPU), the evaluation matches are Ray tasks
    of :data:`RAY_EVAL_BATCH` matches; the tasks open the run read-only, so the run directory
    must be at the same path on every node. Ray is imported here only.

    :param address: the Ray cluster to join (``ray.init(address=...)``); None: the Ray instance
        already initialized in this process, else a new local one (dashboard off), shut down
        by :meth:`close`
    :param threads: torch threads of each training task (None: this process's torch thread
        count, as when training in process)
    """

    def __init__(self, address: str | None = None, threads: int | None = None) -> None:
        import ray

        self.ray = ray
        self.started = False
        if not ray.is_initialized():
            if address is None:
                ray.init(include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=address, log_to_driver=False)
            self.started = True
        if threads is None:
            import torch

            threads = torch.get_num_threads()
        self.threads = threads
        self.train_task = ray.remote(num_cpus=1, max_retries=0)(train_in_worker)
        self.play_task = ray.remote(num_cpus=1, max_retries=0)(play_in_worker)

    def train(
        self, league: League, generation: int, learners: Sequence[int]
    ) -> Iterator[TrainedLearner]:
        refs = [
            (learner, self.train_task.remote(*arguments))
            for learner, arguments in worker_tasks(league, generation, learners, self.threads)
        ]
        results = ((i, self._get(r, league._name(i, generation))) for i, r in refs)
        yield from _unstage(league, generation, results)

    def _get(self, ref: Any, what: str) -> Any:
        """``ray.get(ref)``, a failed or killed task raised as a :class:`BackendError`."""
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            name = type(exc).__name__
            raise BackendError(f"the Ray task {what} failed: {name}: {first}") from exc

    def play(self, league: League, matches: Sequence[Any]) -> list[Any]:
        batches = [
            list(matches[k : k + RAY_EVAL_BATCH]) for k in range(0, len(matches), RAY_EVAL_BATCH)
        ]
        directory = str(league.directory)
        refs = [self.play_task.remote(directory, batch) for batch in batches]
        return [r for ref in refs for r in self._get(ref, "playing evaluation matches")]

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def auto_workers(learners: int, cpus: int | None = None) -> int:
    """The local backend's default number of learners trained at once: one process per learner
    up to the CPU count when there are at least two of each, else 1 (in process)."""
    cpus = available_cpus() if cpus is None else cpus
    return min(learners, cpus) if learners >= 2 and cpus >= 2 else 1


def make_backend(
    name: str,
    learners: int,
    *,
    workers: int,
    worker_threads: int | None = None,
    ray_address: str | None = None,
) -> LeagueBackend:
    """The backend ``League.run`` names: ``ray`` (:class:`RayBackend`), or ``local``: a
    :class:`ProcessPoolBackend` of ``min(workers, learners)`` processes when both exceed 1,
    else :class:`InProcessBackend`.

    :param learners: the league's learners (main agents and exploiters)
    """
    if name == "ray":
        return RayBackend(ray_address, worker_threads)
    if workers > 1 and learners > 1:
        return ProcessPoolBackend(min(workers, learners), worker_threads)
    return InProcessBackend()
