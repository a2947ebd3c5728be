"""The league loop: :class:`League`, a league run's state, and its generation loop
:meth:`League.run` (see :mod:`thrust_population.league` for what a generation does)."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from thrust_population.league.backends import (
    EvaluationMatch,
    LeagueBackend,
    auto_workers,
    make_backend,
)
from thrust_population.league.config import (
    LEAGUE_META,
    RUNTIME_FIELDS,
    TENSORBOARD_DIR,
    ConfiguredFactory,
    LeagueConfig,
    algo_arguments,
    algorithm_class,
    check_algo,
    league_env_factory,
    snapshot_name,
    tensorboard_available,
)
from thrust_population.league.report import GenerationReport, LearnerRow
from thrust_population.matches import Policy, positive_int, probe_game
from thrust_population.matchmaking import PoolView, make_matchmaker
from thrust_population.players import make_bot
from thrust_population.population import Population
from thrust_population.seeding import derive_seed, match_seed, one_torch_thread
from thrust_population.store import Store, StoreError

__all__ = ["League"]

#: The names ``League.run(backend=...)`` accepts besides a :class:`LeagueBackend`.
BACKEND_NAMES = ("local", "ray")


def _restrict(pool: PoolView, names: Sequence[str]) -> PoolView:
    """The view of ``pool`` limited to ``names`` (in the pool's order)."""
    keep = np.array([k for k, n in enumerate(pool.names) if n in set(names)], dtype=np.int64)
    return PoolView(
        tuple(pool.names[k] for k in keep),
        pool.ratings[keep],
        pool.score[np.ix_(keep, keep)],
        pool.games[np.ix_(keep, keep)],
        pool.n_matches,
        None if pool.expected is None else pool.expected[np.ix_(keep, keep)],
    )


def _with_game_seats(env_id: str, config: LeagueConfig) -> LeagueConfig:
    """``config`` with ``seats`` set to the game's number of agents when ``env_id`` is a
    thrust_envs game of other than two (an N-player game); else ``config``."""
    from thrust_population.ffa import default_seats
    from thrust_population.matches import GameUnavailable

    try:
        seats = default_seats(env_id)
    except GameUnavailable:
        return config  # the two-player path reports it
    if seats == 2:
        return config
    return LeagueConfig.from_dict({**config.to_dict(), "seats": seats})


def with_bots(config: LeagueConfig, game: Any) -> LeagueConfig:
    """``config`` with its bots: the given ones, checked (a SpecError on an unknown one, before
    anything is written), or by default ``random`` and every bot the game ships."""
    if config.bots is None:
        bots = ("random", *sorted(set(game.bots) - {"random"}))
        config = LeagueConfig.from_dict({**config.to_dict(), "bots": list(bots)})
    for spec in config.bots:
        make_bot(spec, game, 0)
    return config


class CreateOptions(NamedTuple):
    """:meth:`League.create`'s keyword arguments, handed as one value to the hook that
    depends on the kind of league (:meth:`League._create_population`)."""

    seed: int
    env_factory_path: str | None
    elo: Any
    timeout: float
    extra_meta: dict[str, Any] | None


class League:
    """A league run: its population, configuration and progress (see the package docstring).

    Open one with :meth:`create` or :meth:`open`; :meth:`run` trains generations.
    """

    #: Whether this kind of league plays N-player free-for-all games (FreeForAllLeague).
    free_for_all = False

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
        extra_meta: dict[str, Any] | None = None,
    ) -> League:
        """Create a league run: the store, the bots and each learner's initial snapshot
        ``L{i}-g0`` (generation 0). The run is created with its whole configuration (and
        ``extra_meta``) at once, so a league killed at any point after is resumed by
        :meth:`open` and :meth:`run` alone.

        :raises GameUnavailable: ``env_id`` is not a two-player game of the factory
        :raises ValueError: a bad configuration (checked before anything is written)
        """
        config = LeagueConfig() if config is None else config
        if not config.free_for_all and env_factory_path is None:
            config = _with_game_seats(env_id, config)  # an N-player game: a free-for-all run
        kind = cls
        if config.free_for_all and not cls.free_for_all:
            from thrust_population.league.free_for_all import FreeForAllLeague

            kind = FreeForAllLeague
        options = CreateOptions(seed, env_factory_path, elo, timeout, extra_meta)
        population, algo = kind._create_population(directory, env_id, config, options)
        try:
            league = kind(population)
            league._algo = algo
            league._setup()
        except BaseException:
            population.close()
            raise
        return league

    @classmethod
    def _create_population(
        cls,
        directory: str | os.PathLike[str],
        env_id: str,
        config: LeagueConfig,
        options: CreateOptions,
    ) -> tuple[Population, type]:
        """What :meth:`create` does that depends on the kind of league: check the options and
        the configuration against the game, then write the run (the store, with the league's
        configuration, its bots included, in its metadata). Returns the run's population and
        the algorithm class."""
        algo = algorithm_class(config.algo)
        factory = ConfiguredFactory(options.env_factory_path, config.env_kwargs)
        game = probe_game(env_id, factory)
        config = with_bots(config, game)
        check_algo(
            algo,
            config,
            lambda: factory(env_id, make_bot("random", game, 0), config.n_envs, "alternate", 0),
        )
        league_meta = {"config": config.to_dict(), "generation": None, "history": []}
        population = Population.create(
            directory,
            env_id,
            env_factory=factory,
            env_factory_path=options.env_factory_path,
            elo=options.elo,
            seed=options.seed,
            timeout=options.timeout,
            extra_meta={**(options.extra_meta or {}), LEAGUE_META: league_meta},
        )
        return population, algo

    @classmethod
    def open(
        cls,
        directory: str | os.PathLike[str],
        *,
        timeout: float = 5.0,
        readonly: bool = False,
        exclusive: bool = False,
    ) -> League:
        """Open an existing league run (to resume it, read it or export its members).

        :param exclusive: hold the run's writer lock until :meth:`close` (see
            :meth:`Store.open`); what ``resume`` does
        """
        store = Store.open(directory, timeout=timeout, readonly=readonly, exclusive=exclusive)
        try:  # StoreError from the constructor for a run that is not a league
            meta = store.meta(LEAGUE_META)
            if meta is not None and LeagueConfig.from_dict(meta["config"]).free_for_all:
                from thrust_population.league.free_for_all import FreeForAllLeague

                return FreeForAllLeague(FreeForAllLeague.population_of(store))
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

    def reconfigure(self, **changes: Any) -> None:
        """Change (and store) configuration fields that do not change what the league trains,
        :data:`~thrust_population.league.config.RUNTIME_FIELDS` (e.g. ``tensorboard`` on
        resume).

        :raises ValueError: another field, or a bad value
        """
        fixed = sorted(set(changes) - set(RUNTIME_FIELDS))
        if fixed:
            allowed = ", ".join(RUNTIME_FIELDS)
            raise ValueError(f"{', '.join(fixed)} cannot change in a league run (only {allowed})")
        config = LeagueConfig.from_dict({**self.config.to_dict(), **changes})
        if config != self.config:
            self.store.set_meta(LEAGUE_META, {**self._meta(), "config": config.to_dict()})
            self.config = config

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
            self._algo = algorithm_class(self.config.algo)
        return self._algo

    def _learner_seed(self, learner: int, generation: int) -> int:
        return derive_seed(self.store.seed, generation, learner, 0x1EA9)

    def _training_env(self, policies: Sequence[Policy], seed: int) -> tuple[Any, Any]:
        """A learner's training VecEnv against ``policies`` and the SB3 callback that goes with
        it (None: none): a vs-opponent VecEnv playing ``policies[0]``, and the callback that
        swaps in the next ones at equal step intervals."""
        from thrust_population.league.schedule import OpponentSchedule  # imports SB3

        venv = self.population.env_factory(
            self.store.env_id, policies[0], self.config.n_envs, "alternate", seed
        )
        return venv, OpponentSchedule(venv, policies, self.config.steps_per_generation)

    # -- setup ---------------------------------------------------------------------------------

    def _setup(self) -> None:
        """Add the bots and the initial snapshots that are missing, then mark generation 0
        (idempotent: a league killed during its creation finishes it on :meth:`run`)."""
        names = set(self.store.member_names())
        for spec in self.bots:
            if spec not in names:
                self.population.add_bot(spec)
        algo = self._algo_class()
        policy, kwargs = algo_arguments(self.config)
        game = self.population.game
        for i in range(self._count):
            name = self._name(i, 0)
            if name in names:
                continue
            seed = self._learner_seed(i, 0)
            venv, _ = self._training_env([make_bot("random", game, seed)], seed)
            try:
                with one_torch_thread():  # initial weights independent of the thread count
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
        their ratings and record as they stood when generation ``generation - 1``'s evaluation
        was recorded: what the matchmaker sees during ``generation`` (also when a resumed
        generation recomputes its opponents after its own evaluation was recorded)."""
        members = self.store.members()
        names, score, games = self.store.counts(through=generation - 1)
        ratings = self.store.ratings(through=generation - 1)
        generations = {m.name: m.generation for m in members}
        # A name the members' read lacks was frozen since (a Ray worker reads while the driver
        # freezes this generation's first learners): of this generation, so not in the pool.
        keep = [k for k, n in enumerate(names) if generations.get(n, generation) < generation]
        index = np.array(keep, dtype=np.int64)
        return PoolView(
            tuple(names[k] for k in keep),
            np.array([ratings[names[k]] for k in keep]),
            score[np.ix_(index, index)],
            games[np.ix_(index, index)],
            self.store.n_matches(through=generation - 1),
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
        cls = algorithm_class(member.info.get("class", self.config.algo))
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
            self.population.policy(name, derive_seed(seed, k)) for k, name in enumerate(opponents)
        ]
        origin = self.start_snapshot(learner, generation)
        model = self.load_learner(origin)
        venv, callback = self._training_env(policies, seed)
        steps = self.config.steps_per_generation
        try:
            model.set_env(venv)  # force_reset: the rollout starts from a reset of this VecEnv
            model.set_random_seed(seed)
            if self.config.tensorboard and tensorboard_available():
                model.tensorboard_log = str(self.directory / TENSORBOARD_DIR)
            else:
                model.tensorboard_log = None
            start_steps = model.num_timesteps
            start = time.perf_counter()
            model.learn(
                steps,
                callback=callback,
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

    def _evaluate(self, generation: int, backend: LeagueBackend) -> None:
        """Play (on ``backend``) and record in one transaction the evaluation of
        ``generation``, unless an interrupted earlier attempt recorded it already."""
        if self._evaluated(generation):
            return
        tasks = self._evaluation_tasks(generation)
        self._record_evaluation(generation, tasks, backend.play(self, tasks))

    def _evaluated(self, generation: int) -> bool:
        first = self._name(0, generation)
        return any(m.generation == generation for m in self.store.matches(first))

    def _evaluation_tasks(self, generation: int) -> list[Any]:
        """The evaluation's units of work, what :meth:`play_evaluation` plays (here one
        :class:`EvaluationMatch` per pair of :meth:`_evaluation_pairs`)."""
        n_matches = self.store.n_matches()
        return [
            EvaluationMatch(a, b, match_seed(self.store.seed, n_matches + t))
            for t, (a, b) in enumerate(self._evaluation_pairs(generation))
        ]

    def play_evaluation(self, tasks: Sequence[Any]) -> list[Any]:
        """Play (without recording) evaluation tasks in this process, as every backend does in
        the end: here the matches, ``eval_games`` games each, ``eval_n_envs`` at once."""
        config = self.config
        return [
            self.population.play(
                a, b, config.eval_games, n_envs=config.eval_n_envs, seed=seed, record=False
            )
            for a, b, seed in tasks
        ]

    def _record_evaluation(
        self, generation: int, tasks: Sequence[Any], results: Sequence[Any]
    ) -> None:
        self.store.record_batch(
            [(m.a, m.b, r) for m, r in zip(tasks, results, strict=True)], generation=generation
        )

    def _recorded_entry(self, learner: int, generation: int) -> dict[str, Any]:
        """The generation's entry of a learner frozen by an interrupted earlier attempt."""
        unknown = {"learner": learner, "steps": None, "seconds": None}
        item = self.store.meta(f"{LEAGUE_META}/{self._name(learner, generation)}", unknown)
        return {**item, "opponents": self.opponents(learner, generation)}

    def _train(self, generation: int, backend: LeagueBackend, bar: Any) -> list[dict[str, Any]]:
        """Train (on ``backend``) and freeze, in learner order, the learners of ``generation``
        whose snapshot is missing; return every learner's entry of the generation."""
        frozen = set(self.store.member_names())
        pending = [i for i in range(self._count) if self._name(i, generation) not in frozen]
        trained = iter(backend.train(self, generation, pending))
        entries = []
        for i in range(self._count):
            if bar is not None:
                bar.set_postfix_str(f"generation {generation}, {self._name(i, generation)}")
            if i in pending:
                learner, model, entry = next(trained)
                assert learner == i, f"the backend trained learner {learner}, expected {i}"
                self._freeze(model, i, generation, entry)
            else:
                entry = self._recorded_entry(i, generation)
            entries.append(entry)
            if bar is not None:
                bar.update(1)
        return entries

    def _run_generation(
        self, generation: int, backend: LeagueBackend, bar: Any
    ) -> GenerationReport:
        """Train, freeze, evaluate and mark ``generation``; its report."""
        start = time.perf_counter()
        entries = self._train(generation, backend, bar)
        self._evaluate(generation, backend)
        self._mark(generation, entries)
        return self.report(generation, seconds=time.perf_counter() - start)

    def run(
        self,
        generations: int,
        *,
        progress: bool = False,
        on_generation: Callable[[GenerationReport], None] | None = None,
        stop_after: int | None = None,
        workers: int | None = None,
        worker_threads: int | None = None,
        backend: str | LeagueBackend = "local",
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
            package docstring, "Backends"); or a :class:`LeagueBackend` of one's own (used as
            given, ``workers`` ignored; closed at the end)
        :param ray_address: the Ray cluster to join (``ray.init(address=...)``); None: the
            Ray instance already initialized in this process, else a new local one
        :return: the reports of the generations completed by this call
        """
        positive_int("generations", generations)
        if workers is None:
            workers = auto_workers(self._count)
        positive_int("workers", workers)
        if not isinstance(backend, LeagueBackend) and backend not in BACKEND_NAMES:
            raise ValueError(f"backend must be local or ray, got {backend!r}")
        if ray_address is not None and backend != "ray":
            raise ValueError("a Ray address is given only with the ray backend")
        self.store.check_writable()
        if self.generation < 0:
            self._setup()
        todo = max(0, generations - self.generation)
        if stop_after is not None:
            todo = min(todo, stop_after)
        if not todo:
            return []
        reports = []
        with _progress_bar(progress, todo * self._count) as bar:
            if not isinstance(backend, LeagueBackend):
                backend = make_backend(
                    backend,
                    self._count,
                    workers=workers,
                    worker_threads=worker_threads,
                    ray_address=ray_address,
                )
            with backend:
                for _ in range(todo):
                    report = self._run_generation(self.generation + 1, backend, bar)
                    reports.append(report)
                    if on_generation is not None:
                        on_generation(report)
        return reports

    # -- reading -------------------------------------------------------------------------------

    def report(self, generation: int, *, seconds: float = math.nan) -> GenerationReport:
        """The table of completed generation ``generation`` (from the store; the ratings as they
        stood after its evaluation)."""
        if not 1 <= generation <= self.generation:
            raise ValueError(
                f"generation {generation} is not a completed training generation "
                f"(completed: {self.generation})"
            )
        entry = next(h for h in self.history if h["generation"] == generation)
        ratings = self.store.ratings(through=generation)
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


@contextmanager
def _progress_bar(show: bool, total: int) -> Iterator[Any]:
    """A tqdm bar of ``total`` learners' generations (on stderr) if ``show``, else None."""
    if not show:
        yield None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, unit="learner", desc="league")
    try:
        yield bar
    finally:
        bar.close()
