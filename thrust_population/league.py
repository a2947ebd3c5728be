"""League self-play training: learners trained generation by generation against a growing pool.

::

    from thrust_population import League, LeagueConfig

    config = LeagueConfig(learners=4, steps_per_generation=50_000, matchmaking="pfsp")
    league = League.create("runs/pong", "Thrust/Pong-v0", config, seed=0)
    for report in league.run(10):            # kill -9 at any time, then League.open(...).run(10)
        print(report.format())

A league is a :class:`~thrust_population.population.Population` run whose store also holds the
league's configuration and progress (the ``league`` metadata key). Its members are the scripted
bots of :attr:`LeagueConfig.bots` and the learners' snapshots ``L{i}-g{g}``: learner ``i`` after
generation ``g`` (``g = 0``: its initial weights), each with its parent ``L{i}-g{g-1}``.

Each generation ``g``, for each learner ``i`` (in the local backend: in a pool of worker
processes, one per learner up to the CPU count, each with its share of the CPUs as torch threads;
``workers=1``: in this process, one after the other):

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
deterministic for a seed, and a league killed at any moment and resumed with :meth:`League.run`
records exactly what an uninterrupted one would: the generation in flight is redone from its
start, reusing the snapshots it had already frozen.

Ray
---

``League.run(n, backend="ray", ray_address=...)`` (``thrust-population train|resume
--backend ray [--ray-address ADDRESS]``) runs each learner's generation as a Ray task (the
function the ``workers`` process pool runs, with the driver's torch thread count unless
``worker_threads`` is given) and the evaluation matches as Ray tasks, in batches. The league is
the same as with the local backend for the same seed. The SQLite store stays with the driver:
only the driver writes it; the tasks open the run read-only and leave trained models in its
``league-staging`` directory. Ray is an optional dependency, imported only when this backend is
used. Without an address, a Ray instance already initialized in the process is used, else a
local one is started (dashboard off) and shut down at the end.

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
"""

from __future__ import annotations

import importlib
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from thrust_population.matches import (
    MatchResult,
    Policy,
    Seat,
    load_env_factory,
    positive_int,
    probe_game,
)
from thrust_population.matchmaking import PoolView, make_matchmaker
from thrust_population.players import make_bot
from thrust_population.population import Population, _table, match_seed
from thrust_population.store import Store, StoreError

__all__ = [
    "GenerationReport",
    "League",
    "LeagueConfig",
    "LearnerRow",
    "export_member",
    "league_env_factory",
    "snapshot_name",
]

#: The store metadata key holding the league's configuration and progress.
LEAGUE_META = "league"
#: The run's TensorBoard directory (one sub-directory per learner).
TENSORBOARD_DIR = "tensorboard"
#: Where worker processes leave trained models for the parent to freeze.
STAGING_DIR = "league-staging"


def snapshot_name(learner: int, generation: int) -> str:
    """The member name of learner ``learner`` after generation ``generation``: ``L{i}-g{g}``."""
    return f"L{int(learner)}-g{int(generation)}"


def _derived_seed(*keys: int) -> int:
    state = np.random.SeedSequence([int(k) for k in keys]).generate_state(1)
    return int(state[0] & 0x7FFFFFFF)


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


def _import_class(path: str) -> Any:
    module_name, sep, qualname = path.partition(":")
    if not sep or not module_name or not qualname:
        raise ValueError(f"an algorithm is named 'module:Class', got {path!r}")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import algorithm module {module_name!r}: {exc}") from exc
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise ValueError(f"no algorithm {qualname!r} in module {module_name!r}")
    return obj


@dataclass(frozen=True)
class LeagueConfig:
    """How a league trains (stored in the run; a resumed league uses the stored one).

    :param learners: number of main agents (``L{i}``): they train against opponents the
        matchmaker draws from every earlier snapshot and bot
    :param exploiters: number of exploiters (``E{j}``): they train against the main agents'
        latest snapshots only (drawn by the same matchmaker), as in league training
    :param exploiter_reset: an exploiter whose new snapshot scored at least this (draws half)
        against every main agent's new snapshot in a generation's evaluation restarts from its
        initial weights ``E{j}-g0`` in the next generation, to look for new weaknesses rather
        than refine a found one (AlphaStar's main exploiters reset at 0.7); None: never
    :param steps_per_generation: environment steps each learner trains per generation (SB3
        rounds up to whole rollouts)
    :param matchmaking: the matchmaker spec choosing training opponents (``pfsp``,
        ``pfsp:variance``, ``self-play:5:0.5``, ``random``, ...); the learner is its last
        snapshot
    :param bots: scripted bots that join the pool (and are evaluated against); None: ``random``
        and every bot the game ships, with its default settings
    :param opponents_per_generation: training opponents per generation (the opponent changes
        at equal step intervals, at episode boundaries)
    :param n_envs: games each learner trains on at once
    :param eval_games: games per evaluation match
    :param eval_n_envs: games of an evaluation match played at once
    :param algo: ``"module:Class"`` of an SB3 on-policy algorithm
    :param algo_kwargs: keyword arguments of its constructor (``policy`` defaults to
        ``"MlpPolicy"``); ``device`` defaults to ``"cpu"``
    :param env_kwargs: game parameters given to the env factory (e.g. ``points_to_win``)
    :param tensorboard: write TensorBoard logs, one directory per learner
    """

    learners: int = 4
    exploiters: int = 0
    exploiter_reset: float | None = None
    steps_per_generation: int = 50_000
    matchmaking: str = "pfsp"
    bots: tuple[str, ...] | None = None
    opponents_per_generation: int = 4
    n_envs: int = 16
    eval_games: int = 32
    eval_n_envs: int = 32
    algo: str = "thrust_algos.ppo:PPO"
    algo_kwargs: dict[str, Any] = field(default_factory=dict)
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    tensorboard: bool = True

    def __post_init__(self) -> None:
        for label in (
            "learners",
            "steps_per_generation",
            "opponents_per_generation",
            "n_envs",
            "eval_games",
            "eval_n_envs",
        ):
            positive_int(label, getattr(self, label))
        if isinstance(self.exploiters, bool) or not isinstance(self.exploiters, int):
            raise ValueError(f"exploiters must be a non-negative int, got {self.exploiters!r}")
        if self.exploiters < 0:
            raise ValueError(f"exploiters must be a non-negative int, got {self.exploiters!r}")
        reset = self.exploiter_reset
        if reset is not None and (
            isinstance(reset, bool)
            or not isinstance(reset, (int, float))
            or not 0.0 <= reset <= 1.0
        ):
            raise ValueError(f"exploiter_reset must be None or in [0, 1], got {reset!r}")
        make_matchmaker(self.matchmaking)  # ValueError on a bad spec
        if self.bots is not None:
            object.__setattr__(self, "bots", tuple(self.bots))
        if not isinstance(self.algo_kwargs, dict) or not isinstance(self.env_kwargs, dict):
            raise ValueError("algo_kwargs and env_kwargs must be dicts")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["bots"] = None if self.bots is None else list(self.bots)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LeagueConfig:
        data = dict(data)
        if data.get("bots") is not None:
            data["bots"] = tuple(data["bots"])
        return cls(**data)


def _restrict(pool: PoolView, names: Sequence[str]) -> PoolView:
    """The view of ``pool`` limited to ``names`` (in the pool's order)."""
    keep = np.array([k for k, n in enumerate(pool.names) if n in set(names)], dtype=np.int64)
    return PoolView(
        tuple(pool.names[k] for k in keep),
        pool.ratings[keep],
        pool.score[np.ix_(keep, keep)],
        pool.games[np.ix_(keep, keep)],
        pool.n_matches,
    )


def _algo_arguments(config: LeagueConfig) -> tuple[Any, dict[str, Any]]:
    """The policy and the other constructor arguments of the learners' algorithm."""
    kwargs = {"device": "cpu", **config.algo_kwargs}
    return kwargs.pop("policy", "MlpPolicy"), kwargs


def _check_algo(algo: Any, config: LeagueConfig, factory: Any, game: Any, env_id: str) -> None:
    """Build one learner (not trained, not kept), so that bad algorithm arguments are reported
    as a ValueError before a run is written."""
    from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

    if not (isinstance(algo, type) and issubclass(algo, OnPolicyAlgorithm)):
        raise ValueError(f"{config.algo} is not an SB3 on-policy algorithm class")
    policy, kwargs = _algo_arguments(config)
    venv = factory(env_id, make_bot("random", game, 0), config.n_envs, "alternate", 0)
    try:
        algo(policy, venv, seed=0, **kwargs)
    except (TypeError, ValueError, KeyError, AssertionError) as exc:
        raise ValueError(f"cannot build {config.algo} with {config.algo_kwargs}: {exc}") from exc
    finally:
        venv.close()


class _ConfiguredFactory:
    """An env factory with fixed game parameters (``env_kwargs``); ``check_game`` and
    ``game_bots`` are the base factory's."""

    def __init__(self, path: str | None, kwargs: dict[str, Any]) -> None:
        self.base = load_env_factory(path)
        self.default = path is None
        self.kwargs = dict(kwargs)
        for attribute in ("check_game", "game_bots"):
            if hasattr(self.base, attribute):
                setattr(self, attribute, getattr(self.base, attribute))

    def __call__(
        self, env_id: str, opponent: Policy, n_envs: int, seat: Seat = 0, seed: int | None = None
    ) -> Any:
        if not self.kwargs:
            return self.base(env_id, opponent, n_envs, seat, seed)
        if self.default:
            import thrust_envs

            return thrust_envs.vs_opponent(
                env_id, opponent, n_envs, seat=seat, seed=seed, **self.kwargs
            )
        return self.base(env_id, opponent, n_envs, seat, seed, **self.kwargs)


def league_env_factory(store: Store) -> Any:
    """The env factory of a run's games: a league's, with its game parameters
    (``LeagueConfig.env_kwargs``); None for a run that is not a league (its recorded factory
    applies)."""
    meta = store.meta(LEAGUE_META)
    if meta is None:
        return None
    return _ConfiguredFactory(store.env_factory, LeagueConfig.from_dict(meta["config"]).env_kwargs)


@dataclass(frozen=True)
class LearnerRow:
    """One learner's line of a generation's table.

    Attributes:
        learner: the learner's index
        snapshot: its snapshot after the generation
        elo: the snapshot's Elo after the generation's evaluation
        bot_scores: the snapshot's score (draws half) against each bot in its evaluation match
        opponents: the training opponents of the generation, in order
        steps: environment steps trained (None if trained by an interrupted earlier attempt)
        seconds: wall-clock seconds of its training (None likewise)
    """

    learner: int
    snapshot: str
    elo: float
    bot_scores: dict[str, float]
    opponents: tuple[str, ...]
    steps: int | None
    seconds: float | None

    @property
    def steps_per_second(self) -> float | None:
        if self.steps is None or not self.seconds:
            return None
        return self.steps / self.seconds


@dataclass(frozen=True)
class GenerationReport:
    """What one generation did: a row per learner."""

    generation: int
    rows: list[LearnerRow]
    seconds: float

    def format(self) -> str:
        bots = sorted({b for row in self.rows for b in row.bot_scores})
        header = ("gen", "learner", "snapshot", "elo", *(f"vs {b}" for b in bots), "steps/s")
        lines = []
        for row in self.rows:
            sps = row.steps_per_second
            lines.append(
                (
                    str(self.generation),
                    row.snapshot.split("-g")[0],
                    row.snapshot,
                    f"{row.elo:.0f}",
                    *(
                        f"{100 * row.bot_scores[b]:.0f}%" if b in row.bot_scores else "-"
                        for b in bots
                    ),
                    "-" if sps is None else f"{sps:.0f}",
                )
            )
        right = tuple(range(3, len(header)))
        return _table(header, lines, right=right)


def _opponent_schedule(venv: Any, policies: Sequence[Policy], steps: int) -> Any:
    """An SB3 callback giving the VecEnv ``policies[k]`` once ``k / len(policies)`` of
    ``steps`` are done (``set_opponent``: each game switches at its next episode boundary)."""
    from stable_baselines3.common.callbacks import BaseCallback

    class OpponentSchedule(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.current = 0
            self.start = 0

        def _on_training_start(self) -> None:
            self.start = self.model.num_timesteps

        def _on_step(self) -> bool:
            done = self.model.num_timesteps - self.start
            k = min(len(policies) - 1, done * len(policies) // steps)
            while self.current < k:
                self.current += 1
                venv.set_opponent(policies[self.current])
            return True

    return OpponentSchedule()


def _train_in_worker(
    directory: str, learner: int, generation: int, staging: str, threads: int | None
) -> dict[str, Any]:
    """A process-pool worker: train one learner for one generation and save the model to
    ``staging`` (the parent process freezes it into the store, in learner order)."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    with League.open(directory, readonly=True) as league:
        model, entry = league._fit(learner, generation)
        model.save(staging)
    return entry


def _play_in_worker(
    directory: str, pairs: list[tuple[str, str, int]], games: int, n_envs: int
) -> list[MatchResult]:
    """A Ray task: play (without recording) the evaluation matches ``(a, b, seed)`` of a run
    opened read-only; the driver records them."""
    with League.open(directory, readonly=True) as league:
        return [
            league.population.play(a, b, games, n_envs=n_envs, seed=seed, record=False)
            for a, b, seed in pairs
        ]


#: Evaluation matches per Ray task.
RAY_EVAL_BATCH = 4


class _RayBackend:
    """Learners' generations as Ray tasks (the process pool's worker function, unchanged) and
    evaluation matches as Ray tasks in batches. Ray is imported here only."""

    def __init__(self, address: str | None, threads: int | None) -> None:
        import ray

        self.ray = ray
        self.started = False
        if not ray.is_initialized():
            if address is None:
                ray.init(include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=address, log_to_driver=False)
            self.started = True
        if threads is None:  # the local path's: this process's torch thread count
            import torch

            threads = torch.get_num_threads()
        self.threads = threads
        self.train = ray.remote(num_cpus=1, max_retries=0)(_train_in_worker)
        self.play = ray.remote(num_cpus=1, max_retries=0)(_play_in_worker)

    def submit(self, function: Any, *args: Any) -> Any:
        """``ProcessPoolExecutor.submit`` of ``_train_in_worker`` (its thread count replaced)."""
        assert function is _train_in_worker
        return _RayFuture(self.ray, self.train.remote(*args[:-1], self.threads))

    def play_all(
        self, directory: str, pairs: list[tuple[str, str, int]], games: int, n_envs: int
    ) -> list[MatchResult]:
        batches = [pairs[k : k + RAY_EVAL_BATCH] for k in range(0, len(pairs), RAY_EVAL_BATCH)]
        refs = [self.play.remote(directory, batch, games, n_envs) for batch in batches]
        return [result for batch in self.ray.get(refs) for result in batch]

    def shutdown(self, cancel_futures: bool = True) -> None:
        if self.started:
            self.ray.shutdown()


class _RayFuture:
    def __init__(self, ray: Any, ref: Any) -> None:
        self.ray = ray
        self.ref = ref

    def result(self) -> Any:
        return self.ray.get(self.ref)


class League:
    """A league run: its population, configuration and progress (see the module docstring).

    Open one with :meth:`create` or :meth:`open`; :meth:`run` trains generations.
    """

    def __init__(self, population: Population) -> None:
        meta = population.store.meta(LEAGUE_META)
        if meta is None:
            raise StoreError(f"{population.store.directory} is not a league run (no league data)")
        self.population = population
        self.config = LeagueConfig.from_dict(meta["config"])
        self._algo: Any = None
        #: main agents (``L{i}``), then exploiters (``E{j}``), indexed together
        self._count = self.config.learners + self.config.exploiters

    def _name(self, index: int, generation: int) -> str:
        """The snapshot of learner ``index`` (main agents first, then exploiters) after
        ``generation``: ``L{i}-g{g}`` or ``E{j}-g{g}``."""
        if index < self.config.learners:
            return snapshot_name(index, generation)
        return f"E{int(index) - self.config.learners}-g{int(generation)}"

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        directory: str | os.PathLike[str],
        env_id: str,
        config: LeagueConfig | None = None,
        *,
        seed: int = 0,
        env_factory_path: str | None = None,
        elo: Any = None,
        timeout: float = 5.0,
    ) -> League:
        """Create a league run: the store, the bots and each learner's initial snapshot
        ``L{i}-g0`` (generation 0).

        :raises GameError: ``env_id`` is not a two-player game of the factory
        :raises ValueError: a bad configuration (checked before anything is written)
        """
        config = LeagueConfig() if config is None else config
        algo = _import_class(config.algo)
        factory = _ConfiguredFactory(env_factory_path, config.env_kwargs)
        game = probe_game(env_id, factory)
        bots = config.bots
        if bots is None:
            bots = ("random", *sorted(set(game.bots) - {"random"}))
            config = LeagueConfig.from_dict({**config.to_dict(), "bots": list(bots)})
        for spec in bots:
            make_bot(spec, game, 0)  # SpecError on an unknown bot, before anything is written
        _check_algo(algo, config, factory, game, env_id)
        population = Population.create(
            directory,
            env_id,
            env_factory=factory,
            env_factory_path=env_factory_path,
            elo=elo,
            seed=seed,
            timeout=timeout,
        )
        try:
            population.store.set_meta(
                LEAGUE_META, {"config": config.to_dict(), "generation": None, "history": []}
            )
            league = cls(population)
            league._algo = algo
            league._setup()
        except BaseException:
            population.close()
            raise
        return league

    @classmethod
    def open(
        cls, directory: str | os.PathLike[str], *, timeout: float = 5.0, readonly: bool = False
    ) -> League:
        """Open an existing league run (to resume it, read it or export its members)."""
        store = Store.open(directory, timeout=timeout, readonly=readonly)
        try:
            meta = store.meta(LEAGUE_META)
            if meta is None:
                raise StoreError(f"{store.directory} is not a league run (no league data)")
            return cls(Population(store, league_env_factory(store)))
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        self.population.close()

    def __enter__(self) -> League:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- state ---------------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        return self.population.store

    @property
    def directory(self) -> Path:
        return self.store.directory

    @property
    def generation(self) -> int:
        """The last completed generation (0: only the initial snapshots; -1: setup unfinished)."""
        value = self._meta()["generation"]
        return -1 if value is None else int(value)

    @property
    def history(self) -> list[dict[str, Any]]:
        """Per completed generation: its training opponents, steps and seconds per learner."""
        return list(self._meta()["history"])

    def _meta(self) -> dict[str, Any]:
        return self.store.meta(LEAGUE_META)

    @property
    def bots(self) -> tuple[str, ...]:
        assert self.config.bots is not None
        return self.config.bots

    def learners(self) -> list[str]:
        """Each learner's latest snapshot (after the last completed generation), main agents
        first, then exploiters."""
        return self.snapshots(max(self.generation, 0))

    def snapshots(self, generation: int) -> list[str]:
        """The learners' snapshots after ``generation`` (0: the initial weights), main agents
        first, then exploiters.

        :raises ValueError: ``generation`` is not a completed generation (or 0)
        """
        done = max(self.generation, 0)
        if isinstance(generation, bool) or not isinstance(generation, int):
            raise ValueError(f"generation must be an int, got {generation!r}")
        if not 0 <= generation <= done:
            raise ValueError(f"generation must be in [0, {done}] (completed), got {generation}")
        return [self._name(i, generation) for i in range(self._count)]

    def _algo_class(self) -> Any:
        if self._algo is None:
            self._algo = _import_class(self.config.algo)
        return self._algo

    def _learner_seed(self, learner: int, generation: int) -> int:
        return _derived_seed(self.store.seed, generation, learner, 0x1EA9)

    def _venv(self, opponent: Policy, seed: int) -> Any:
        return self.population.env_factory(
            self.store.env_id, opponent, self.config.n_envs, "alternate", seed
        )

    # -- setup ---------------------------------------------------------------------------------

    def _setup(self) -> None:
        """Add the bots and the initial snapshots that are missing, then mark generation 0
        (idempotent: a league killed during its creation finishes it on :meth:`run`)."""
        names = set(self.store.member_names())
        for spec in self.bots:
            if spec not in names:
                self.population.add_bot(spec)
        algo = self._algo_class()
        policy, kwargs = _algo_arguments(self.config)
        game = self.population.game
        for i in range(self._count):
            name = self._name(i, 0)
            if name in names:
                continue
            seed = self._learner_seed(i, 0)
            venv = self._venv(make_bot("random", game, seed), seed)
            try:
                model = algo(policy, venv, seed=seed, **kwargs)
                self.population.add_model(model, name, generation=0)
            finally:
                venv.close()
        self._mark(0, [])

    def _mark(self, generation: int, entry: list[dict[str, Any]]) -> None:
        meta = self._meta()
        history = list(meta["history"])
        if entry:
            history.append({"generation": generation, "learners": entry})
        self.store.set_meta(LEAGUE_META, {**meta, "generation": generation, "history": history})

    # -- training ------------------------------------------------------------------------------

    def _pool(self, generation: int) -> PoolView:
        """The members of generations before ``generation`` (bots and frozen snapshots), with
        their ratings and record: what the matchmaker sees during ``generation``."""
        members = self.store.members()
        names, score, games = self.store.counts()
        ratings = self.store.ratings()
        generations = {m.name: m.generation for m in members}
        keep = [k for k, n in enumerate(names) if generations[n] < generation]
        index = np.array(keep, dtype=np.int64)
        return PoolView(
            tuple(names[k] for k in keep),
            np.array([ratings[names[k]] for k in keep]),
            score[np.ix_(index, index)],
            games[np.ix_(index, index)],
            self.store.n_matches(),
        )

    def opponents(self, learner: int, generation: int) -> list[str]:
        """The training opponents of ``learner`` in ``generation`` (deterministic)."""
        pool = self._pool(generation)
        me = self._name(learner, generation - 1)
        if learner >= self.config.learners:  # an exploiter: the main agents' latest snapshots
            targets = {self._name(i, generation - 1) for i in range(self.config.learners)}
            pool = _restrict(pool, [n for n in pool.names if n in targets or n == me])
        matchmaker = make_matchmaker(self.config.matchmaking, learner=me)
        rng = np.random.default_rng([self.store.seed, generation, learner, 0x0BB0])
        pairs = matchmaker.pairs(pool, self.config.opponents_per_generation, rng)
        return [b for _, b in pairs]

    def load_learner(self, name: str) -> Any:
        """The SB3 model of snapshot ``name`` (loaded from its artifact, on the CPU unless the
        configuration names a device)."""
        member = self.store.member(name)
        if member.kind != "sb3":
            raise StoreError(f"member {name!r} is a {member.kind}, not a learner snapshot")
        path = self.store.artifact_path(member)
        assert path is not None
        cls = _import_class(member.info.get("class", self.config.algo))
        device = self.config.algo_kwargs.get("device", "cpu")
        return cls.load(str(path), device=device)

    def load_learner_file(self, path: Path) -> Any:
        """An SB3 model saved by a learner of this league (the configured algorithm)."""
        device = self.config.algo_kwargs.get("device", "cpu")
        return self._algo_class().load(str(path), device=device)

    def start_snapshot(self, learner: int, generation: int) -> str:
        """The snapshot ``learner`` starts ``generation`` from: its last one, or for an exploiter
        reset by :attr:`LeagueConfig.exploiter_reset` its initial one (decided from the recorded
        evaluation of generation ``generation - 1``, so a resumed league decides the same).

        :raises ValueError: no such learner, or a generation that is not trained yet or next
        """
        if not 0 <= learner < self._count:
            raise ValueError(f"learner must be in [0, {self._count}), got {learner}")
        if not 1 <= generation <= max(self.generation, 0) + 1:
            raise ValueError(
                f"generation must be in [1, {max(self.generation, 0) + 1}], got {generation}"
            )
        previous = self._name(learner, generation - 1)
        threshold = self.config.exploiter_reset
        if learner < self.config.learners or threshold is None or generation < 2:
            return previous
        mains = {self._name(i, generation - 1) for i in range(self.config.learners)}
        scores = self._scores(previous, generation - 1, mains)
        if len(scores) == len(mains) and min(scores.values()) >= threshold:
            return self._name(learner, 0)
        return previous

    def _scores(self, name: str, generation: int, opponents: set[str]) -> dict[str, float]:
        """``name``'s score (points per game, draws half) against each of ``opponents`` it met
        in the evaluation matches of ``generation``."""
        points: dict[str, list[float]] = {}
        for m in self.store.matches(name):
            if m.generation != generation:
                continue
            if m.player_a == name and m.player_b in opponents:
                points.setdefault(m.player_b, []).extend([m.points, m.games])
            elif m.player_b == name and m.player_a in opponents:
                points.setdefault(m.player_a, []).extend([m.games - m.points, m.games])
        return {other: sum(v[0::2]) / sum(v[1::2]) for other, v in points.items() if sum(v[1::2])}

    def _fit(self, learner: int, generation: int) -> tuple[Any, dict[str, Any]]:
        """Train ``learner`` through ``generation`` from its last snapshot; return the model and
        the generation's entry (opponents, steps, seconds). Writes nothing to the store."""
        opponents = self.opponents(learner, generation)
        seed = self._learner_seed(learner, generation)
        policies = [
            self.population.policy(name, _derived_seed(seed, k)) for k, name in enumerate(opponents)
        ]
        origin = self.start_snapshot(learner, generation)
        model = self.load_learner(origin)
        venv = self._venv(policies[0], seed)
        steps = self.config.steps_per_generation
        try:
            model.set_env(venv)  # force_reset: the rollout starts from a reset of this VecEnv
            model.set_random_seed(seed)
            if self.config.tensorboard:
                model.tensorboard_log = str(self.directory / TENSORBOARD_DIR)
            else:
                model.tensorboard_log = None
            start_steps = model.num_timesteps
            start = time.perf_counter()
            model.learn(
                steps,
                callback=_opponent_schedule(venv, policies, steps),
                reset_num_timesteps=False,
                tb_log_name=self._name(learner, 0).split("-g")[0],
            )
            seconds = time.perf_counter() - start
            trained = int(model.num_timesteps - start_steps)
        finally:
            venv.close()
        entry = {"learner": learner, "opponents": opponents, "steps": trained, "seconds": seconds}
        if origin != self._name(learner, generation - 1):
            entry["reset_to"] = origin
        return model, entry

    def _freeze(self, model: Any, learner: int, generation: int, entry: dict[str, Any]) -> None:
        """Add the trained ``model`` as the snapshot of ``learner`` after ``generation``."""
        name = self._name(learner, generation)
        parent = self.start_snapshot(learner, generation)
        self.population.add_model(model, name, parent=parent, generation=generation)
        # kept for a resumed generation's table (a kill just before this loses only the speed)
        self.store.set_meta(f"{LEAGUE_META}/{name}", entry)

    def _evaluation_pairs(self, generation: int) -> list[tuple[str, str]]:
        new = [self._name(i, generation) for i in range(self._count)]
        pairs = []
        for i, name in enumerate(new):
            pairs += [(name, bot) for bot in self.bots]
            pairs.append((name, self._name(i, generation - 1)))
            pairs += [(name, other) for other in new[i + 1 :]]
        return pairs

    def _evaluate(self, generation: int, backend: Any = None) -> None:
        """Play and record (one transaction) the evaluation matches of ``generation``, unless an
        interrupted earlier attempt recorded them already."""
        first = self._name(0, generation)
        if any(m.generation == generation for m in self.store.matches(first)):
            return
        n_matches = self.store.n_matches()
        results: list[tuple[str, str, MatchResult]] = []
        pairs = self._evaluation_pairs(generation)
        if isinstance(backend, _RayBackend):
            seeded = [
                (a, b, match_seed(self.store.seed, n_matches + t)) for t, (a, b) in enumerate(pairs)
            ]
            played = backend.play_all(
                str(self.directory), seeded, self.config.eval_games, self.config.eval_n_envs
            )
            results = [(a, b, r) for (a, b), r in zip(pairs, played, strict=True)]
            self.store.record_batch(results, generation=generation)
            return
        for t, (a, b) in enumerate(pairs):
            result = self.population.play(
                a,
                b,
                self.config.eval_games,
                n_envs=self.config.eval_n_envs,
                seed=match_seed(self.store.seed, n_matches + t),
                record=False,
            )
            results.append((a, b, result))
        self.store.record_batch(results, generation=generation)

    def run(
        self,
        generations: int,
        *,
        progress: bool = False,
        on_generation: Callable[[GenerationReport], None] | None = None,
        stop_after: int | None = None,
        workers: int | None = None,
        worker_threads: int | None = None,
        backend: str = "local",
        ray_address: str | None = None,
    ) -> list[GenerationReport]:
        """Train until the league has completed ``generations`` generations (a resumed league
        does the rest).

        :param progress: a tqdm progress bar over learners' generations (on stderr)
        :param on_generation: called with each completed generation's report
        :param stop_after: complete at most this many generations in this call
        :param workers: learners trained at once, each in its own process (1: in this process;
            None: :func:`auto_workers`, one process per learner up to the CPU count); the
            snapshots are frozen in learner order, so the league is the same either way (given
            the same torch thread count)
        :param worker_threads: torch threads of each worker process (None: the CPUs divided
            among the workers; with Ray: this process's torch thread count, as when training in
            process)
        :param backend: ``local`` (in process, or the ``workers`` process pool) or ``ray``: each
            learner's generation is a Ray task (all learners at once, ``workers`` ignored) and
            the evaluation matches are Ray tasks; the store stays in this process (see the
            module docstring, "Ray")
        :param ray_address: the Ray cluster to join (``ray.init(address=...)``); None: the
            Ray instance already initialized in this process, else a new local one
        :return: the reports of the generations completed by this call
        """
        positive_int("generations", generations)
        if workers is None:
            workers = auto_workers(self._count)
        positive_int("workers", workers)
        if backend not in ("local", "ray"):
            raise ValueError(f"backend must be local or ray, got {backend!r}")
        if ray_address is not None and backend != "ray":
            raise ValueError("a Ray address is given only with the ray backend")
        self.store.check_writable()
        if self.generation < 0:
            self._setup()
        reports = []
        todo = max(0, generations - self.generation)
        if stop_after is not None:
            todo = min(todo, stop_after)
        bar = None
        if progress and todo:
            from tqdm.auto import tqdm

            bar = tqdm(total=todo * self._count, unit="learner", desc="league")
        pool: Any = None
        if backend == "ray" and todo:
            pool = _RayBackend(ray_address, worker_threads)
        elif workers > 1 and todo and self._count > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            workers = min(workers, self._count)
            if worker_threads is None:
                worker_threads = max(1, available_cpus() // workers)
            pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        try:
            for _ in range(todo):
                g = self.generation + 1
                start = time.perf_counter()
                existing = set(self.store.member_names())
                staging = self.directory / STAGING_DIR
                futures = {}
                if pool is not None:
                    staging.mkdir(exist_ok=True)
                    for i in range(self._count):
                        if self._name(i, g) not in existing:
                            path = str(staging / f"{self._name(i, g)}.zip")
                            futures[i] = pool.submit(
                                _train_in_worker, str(self.directory), i, g, path, worker_threads
                            )
                entry = []
                for i in range(self._count):
                    if bar is not None:
                        bar.set_postfix_str(f"generation {g}, {self._name(i, g)}")
                    name = self._name(i, g)
                    if name in existing:  # frozen by an interrupted attempt
                        unknown = {"learner": i, "steps": None, "seconds": None}
                        item = self.store.meta(f"{LEAGUE_META}/{name}", unknown)
                        entry.append({**item, "opponents": self.opponents(i, g)})
                    elif i in futures:
                        item = futures[i].result()
                        path = staging / f"{name}.zip"
                        model = self.load_learner_file(path)
                        self._freeze(model, i, g, item)
                        path.unlink()
                        entry.append(item)
                    else:
                        model, item = self._fit(i, g)
                        self._freeze(model, i, g, item)
                        entry.append(item)
                    if bar is not None:
                        bar.update(1)
                self._evaluate(g, pool)
                self._mark(g, entry)
                report = self.report(g, seconds=time.perf_counter() - start)
                reports.append(report)
                if on_generation is not None:
                    on_generation(report)
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
            if bar is not None:
                bar.close()
        return reports

    # -- reading -------------------------------------------------------------------------------

    def report(self, generation: int, *, seconds: float = math.nan) -> GenerationReport:
        """The table of completed generation ``generation`` (from the store)."""
        if not 1 <= generation <= self.generation:
            raise ValueError(
                f"generation {generation} is not a completed training generation "
                f"(completed: {self.generation})"
            )
        entry = next(h for h in self.history if h["generation"] == generation)
        ratings = self.store.ratings()
        bots = set(self.bots)
        rows = []
        for item in entry["learners"]:
            name = self._name(item["learner"], generation)
            bot_scores = self._scores(name, generation, bots)
            rows.append(
                LearnerRow(
                    learner=int(item["learner"]),
                    snapshot=name,
                    elo=ratings[name],
                    bot_scores=bot_scores,
                    opponents=tuple(item["opponents"]),
                    steps=item["steps"],
                    seconds=item["seconds"],
                )
            )
        return GenerationReport(generation, rows, seconds)


def export_member(
    store: Store, name: str, output: str | os.PathLike[str], fmt: str = "numpy"
) -> Path:
    """Export member ``name`` (an SB3 snapshot) through ``thrust_export`` (``numpy``: a
    ``.npz``; ``onnx``: an ``.onnx``) and return the written path.

    A model of a subclass of a supported SB3 algorithm (such as ``thrust_algos.PPO``) is
    reloaded as that algorithm: the policy is the same network.
    """
    if fmt not in ("numpy", "onnx"):
        raise ValueError(f"export format must be numpy or onnx, got {fmt!r}")
    member = store.member(name)
    if member.kind != "sb3":
        raise StoreError(f"member {name!r} is a {member.kind}; only SB3 snapshots can be exported")
    path = store.artifact_path(member)
    assert path is not None
    if not path.is_file():
        raise StoreError(f"{store.directory}: artifact of {name!r} is missing: {path}")
    import thrust_export
    from thrust_export.sb3 import SUPPORTED_ALGORITHMS

    cls = _import_class(member.info["class"]) if "class" in member.info else None
    supported = set(SUPPORTED_ALGORITHMS.values())
    base = next((c for c in getattr(cls, "__mro__", ()) if c in supported), None)
    model = base.load(str(path), device="cpu") if base is not None else str(path)
    if fmt == "numpy":
        return Path(thrust_export.export_numpy(model, output))
    return Path(thrust_export.export_onnx(model, output))
