"""League self-play training: learners trained generation by generation against a growing pool.

::

    from thrust_population import League, LeagueConfig

    config = LeagueConfig(learners=4, steps_per_generation=65_536, matchmaking="pfsp")
    league = League.create("runs/pong", "Thrust/Pong-v0", config, seed=0)
    for report in league.run(10):            # kill -9 at any time, then League.open(...).run(10)
        print(report.format())

A league is a :class:`~thrust_population.population.Population` run whose store also holds the
league's configuration and progress (the ``league`` metadata key). Its members are the scripted
bots of :attr:`LeagueConfig.bots` and the learners' snapshots ``L{i}-g{g}``: learner ``i`` after
generation ``g`` (``g = 0``: its initial weights), each with its parent ``L{i}-g{g-1}``.

Each generation ``g``, for each learner ``i`` (in the local backend: in a pool of worker
processes, one per learner up to the CPU count, each with its share of the CPUs as torch threads;
``workers=1``: in this process, one after the other; see "Backends"):

1. the learner is loaded from its last snapshot ``L{i}-g{g-1}`` (the snapshot *is* its
   checkpoint, optimizer state included);
2. the matchmaker (``pfsp``, ``self-play``, ... with the learner's snapshot as its learner)
   draws :attr:`LeagueConfig.opponents_per_generation` opponents from the members of earlier
   generations (frozen snapshots and bots), with a generator seeded by the run seed, the
   generation and the learner;
3. the learner trains ``model.learn(steps_per_generation)`` on a ``thrust_envs.vs_opponent``
   VecEnv (any factory with its contract); the opponent is swapped with ``set_opponent`` at
   equal step intervals, which takes effect game by game at episode boundaries;
4. the trained model is frozen into the store as the snapshot ``L{i}-g{g}``.

Exploiters (``E{j}-g{g}``, :attr:`LeagueConfig.exploiters`) train the same way, but draw their
opponents from the main agents' latest snapshots only; the main agents meet the exploiters'
snapshots in their pool. With :attr:`LeagueConfig.exploiter_reset`, an exploiter that beats
every main agent by that margin restarts from its initial weights (its snapshot's parent is
then ``E{j}-g0``).

Then every new snapshot plays evaluation matches (many games at once through the match runner)
against every bot, its own parent, and the other new snapshots; the whole set is recorded in
one transaction, updating the ratings; and finally the generation counter in the store is
advanced (one transaction). All randomness derives from the run seed, so a league is
deterministic for a seed, whatever the torch thread count: the learners are built on one
thread (:func:`~thrust_population.seeding.one_torch_thread`: the orthogonal initialisation's
QR depends on the thread count), and their training gave the same weights on one and two
threads with 512-wide layers (checked on a CPU; torch does not promise it for every size and
library). A league killed at any moment and resumed with :meth:`League.run`
records exactly what an uninterrupted one would: the generation in flight is redone from its
start, reusing the snapshots it had already frozen.

Backends
--------

Where the work runs is the run's *backend* (:mod:`.backends`), one interface,
:class:`LeagueBackend`, with two methods: ``train`` (a generation's learners, yielded in learner
order for the league to freeze) and ``play`` (a batch of evaluation matches, returned for the
league to record). Three implementations: :class:`InProcessBackend` (``workers=1``),
:class:`ProcessPoolBackend` (the local default with two or more learners and CPUs) and
:class:`RayBackend`. The league alone writes the store, whatever the backend; the same seed
gives the same league on every backend. A new backend (Slurm, Dask, ...) is one subclass of
:class:`LeagueBackend`, passed as ``League.run(n, backend=MyBackend(...))``; its remote tasks
run :func:`~.backends.train_in_worker` and :func:`~.backends.play_in_worker`.

``League.run(n, backend="ray", ray_address=...)`` (``thrust-population train|resume
--backend ray [--ray-address ADDRESS]``) runs each learner's generation as a Ray task (with the
driver's torch thread count unless ``worker_threads`` is given) and the evaluation matches as
Ray tasks, in batches. The SQLite store stays with the driver: only the driver writes it; the
tasks open the run read-only and leave trained models in its ``league-staging`` directory. Ray
is an optional dependency, imported only when this backend is used. Without an address, a Ray
instance already initialized in the process is used, else a local one is started (dashboard
off) and shut down at the end.

On a multi-machine cluster::

    # head node
    ray start --head --port=6379
    # each worker node
    ray start --address=HEAD_HOST:6379
    # the driver (on the head node, or any node of the cluster)
    thrust-population train --env Thrust/Pong-v0 --population 8 --generations 20 \\
        --out /shared/runs/pong --backend ray --ray-address auto   # or HEAD_HOST:6379

Every node needs ``thrust-rl`` (and the game's package, and any ``--factory`` module)
installed in the same Python environment as the driver, and the run directory must be at the
same path on every node (a shared filesystem such as NFS): the tasks read the snapshots and
write the staged models there, while the driver alone writes the SQLite store. Each learner
task asks Ray for one CPU; give ``--workers N`` to set the torch threads per task to CPUs/N.

The package: :mod:`.config` (:class:`LeagueConfig`, names, the league's env factory),
:mod:`.backends`, :mod:`.loop` (:class:`League` and its generation loop), :mod:`.report`
(:class:`GenerationReport`), :mod:`.schedule` (the opponent-swapping SB3 callback) and
:mod:`.export` (:func:`export_member`).
"""

from __future__ import annotations

from thrust_population.league.backends import (
    RAY_EVAL_BATCH,
    EvaluationMatch,
    InProcessBackend,
    LeagueBackend,
    ProcessPoolBackend,
    RayBackend,
    TrainedLearner,
    auto_workers,
    available_cpus,
    play_evaluation,
    play_in_worker,
    train_in_worker,
)
from thrust_population.league.config import (
    LEAGUE_META,
    STAGING_DIR,
    TENSORBOARD_DIR,
    LeagueConfig,
    league_env_factory,
    snapshot_name,
)
from thrust_population.league.export import EXPORT_FORMATS, export_member
from thrust_population.league.loop import League
from thrust_population.league.report import GenerationReport, LearnerRow

__all__ = [
    "EXPORT_FORMATS",
    "LEAGUE_META",
    "RAY_EVAL_BATCH",
    "STAGING_DIR",
    "TENSORBOARD_DIR",
    "EvaluationMatch",
    "GenerationReport",
    "InProcessBackend",
    "League",
    "LeagueBackend",
    "LeagueConfig",
    "LearnerRow",
    "ProcessPoolBackend",
    "RayBackend",
    "TrainedLearner",
    "auto_workers",
    "available_cpus",
    "export_member",
    "league_env_factory",
    "play_evaluation",
    "play_in_worker",
    "snapshot_name",
    "train_in_worker",
]
