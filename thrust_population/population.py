"""Population: a run's members, their matches and ratings, over a :class:`~.store.Store`.

>>> pop = Population.create("runs/x", "Thrust/Pong-v0")
>>> pop.add_bot("random"); pop.add_bot("tracker:0.5"); pop.add_bot("tracker:1.0")
>>> pop.run_tournament(3000)           # round-robin, 32 games a match, 8 matches a transaction
>>> print(pop.ladder().format())

Members are scripted bots (by spec), exported numpy policies and SB3 models (frozen into the
run's ``artifacts/`` as files, with their SHA-256), or in-process callables. Snapshots carry
lineage: a parent and a generation.

Every match gets a seed derived from the run's seed and the match's index in the log, and each
player's seed derives from the match's seed, so :meth:`Population.replay` plays any recorded
match again, and a tournament that is killed and resumed plays exactly the matches an
uninterrupted one would have.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from thrust_population.ladder import Ladder, LadderRow, compute_ladder, member_report
from thrust_population.matches import (
    EnvFactory,
    GameInfo,
    MatchResult,
    Policy,
    Seat,
    check_seed,
    load_env_factory,
    play_match,
    positive_int,
    probe_game,
)
from thrust_population.matchmaking import Matchmaker, PoolView, RoundRobin
from thrust_population.players import (
    PlayerSpec,
    check_member_name,
    class_path_of,
    fast_policy,
    load_numpy_policy,
    load_sb3_model,
    make_bot,
    policy_from_model,
)
from thrust_population.seeding import match_seed, player_seed
from thrust_population.store import Member, Store, StoreCorrupt, StoreError

__all__ = [
    "Ladder",
    "LadderRow",
    "Population",
    "TournamentReport",
    "compute_ladder",
    "file_sha256",
    "match_seed",
    "member_report",
    "player_seed",
]


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class TournamentReport:
    """What :meth:`Population.run_tournament` did.

    Attributes:
        games: games played by this call
        matches: matches played by this call
        batches: transactions committed by this call
        total_games: games in the run after this call
        seconds: wall-clock time of this call
    """

    games: int
    matches: int
    batches: int
    total_games: int
    seconds: float

    @property
    def games_per_second(self) -> float:
        return self.games / self.seconds if self.seconds > 0 else float("nan")


class Population:
    """A run: its store, its game, and its members' policies.

    :param store: the open run store
    :param env_factory: builds the game's vs-opponent VecEnvs (default: the run's recorded
        factory, else ``thrust_envs.vs_opponent``)
    :param game: the game's :class:`GameInfo` (default: probed through the factory on first use;
        an N-player run passes its own, :func:`thrust_population.ffa_cli.ffa_game_info`)
    """

    def __init__(
        self, store: Store, env_factory: EnvFactory | None = None, game: GameInfo | None = None
    ) -> None:
        self.store = store
        self._env_factory = env_factory
        self._game: GameInfo | None = game
        self._models: dict[str, Any] = {}
        self._attached: dict[str, Policy] = {}

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        directory: str | os.PathLike[str],
        env_id: str,
        *,
        env_factory: EnvFactory | None = None,
        env_factory_path: str | None = None,
        elo: Any = None,
        seed: int = 0,
        timeout: float = 5.0,
        extra_meta: dict[str, Any] | None = None,
    ) -> Population:
        """Create a run for the two-player game ``env_id`` (checked before anything is written).

        :param env_factory: the factory object (default: loaded from ``env_factory_path``, else
            ``thrust_envs.vs_opponent``)
        :param env_factory_path: ``"module:function"`` recorded in the run, so that other
            processes (the CLI) rebuild the same factory
        :param elo: an :class:`~thrust_population.ratings.EloConfig`
        :param seed: the run's seed, an int in ``[0, 2**63)``
        :param extra_meta: more JSON metadata, written with the run (atomically)
        :raises ValueError: a bad seed (before the game is probed)
        """
        check_seed(seed)
        factory = env_factory if env_factory is not None else load_env_factory(env_factory_path)
        game = probe_game(env_id, factory)
        store = Store.create(
            directory,
            env_id,
            elo=elo,
            env_factory=env_factory_path,
            seed=seed,
            timeout=timeout,
            extra_meta=extra_meta,
        )
        population = cls(store, factory)
        population._game = game
        return population

    @classmethod
    def open(
        cls,
        directory: str | os.PathLike[str],
        *,
        env_factory: EnvFactory | None = None,
        timeout: float = 5.0,
        readonly: bool = False,
    ) -> Population:
        """Open an existing run (see :meth:`Store.open` for the errors)."""
        store = Store.open(directory, timeout=timeout, readonly=readonly)
        try:
            return cls(store, env_factory)
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Population:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def env_id(self) -> str:
        return self.store.env_id

    @property
    def env_factory(self) -> EnvFactory:
        """The factory of the game's VecEnvs: the one given, else the run's recorded
        ``module:function``, else ``thrust_envs.vs_opponent`` (loaded on first use, so that
        reading a run never needs its game)."""
        if self._env_factory is None:
            self._env_factory = load_env_factory(self.store.env_factory)
        return self._env_factory

    @property
    def game(self) -> GameInfo:
        """The game's ID and spaces (one probe env, built on first use)."""
        if self._game is None:
            self._game = probe_game(self.env_id, self.env_factory)
        return self._game

    # -- members -------------------------------------------------------------------------------

    def add_bot(self, spec: str, name: str | None = None) -> Member:
        """Add the scripted bot ``spec`` (e.g. ``"tracker:0.5"``), named ``spec`` by default."""
        make_bot(spec, self.game, 0)  # check the spec before writing anything
        return self.store.add_member(check_member_name(name or spec), "bot", spec)

    def add_file(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        *,
        parent: str | None = None,
        generation: int | None = None,
        class_path: str | None = None,
    ) -> Member:
        """Add an exported ``.npz`` policy or an SB3 ``.zip`` model, copied (frozen) into the
        run's artifacts; the copy is loaded once to check it.

        :param class_path: ``"module:QualName"`` of an SB3 model's class (detected if None)
        """
        source = Path(path)
        suffix = source.suffix.lower()
        if suffix not in (".npz", ".zip"):
            raise ValueError(f"a policy file is a .npz (exported) or .zip (SB3): {source}")
        if not source.is_file():
            raise FileNotFoundError(f"no such policy file: {source}")
        kind = "numpy" if suffix == ".npz" else "sb3"
        name = check_member_name(name or source.stem)
        info = {"source": str(source.resolve())}
        if class_path is not None:
            info["class"] = class_path

        def write(target: Path) -> None:
            shutil.copyfile(source, target)

        return self._add_artifact(name, kind, str(source), suffix, write, info, parent, generation)

    def add_model(
        self,
        model: Any,
        name: str,
        *,
        parent: str | None = None,
        generation: int | None = None,
    ) -> Member:
        """Freeze an SB3 model (``model.save``) into the run's artifacts as a new member: a
        snapshot, with lineage ``parent`` / ``generation`` (default: the parent's + 1)."""
        if not hasattr(model, "save") or not hasattr(model, "predict"):
            raise TypeError(f"expected an SB3 model (with save and predict), got {type(model)}")
        name = check_member_name(name)
        info = {"class": class_path_of(model)}

        def write(target: Path) -> None:
            model.save(str(target))

        return self._add_artifact(
            name, "sb3", f"snapshot of {info['class']}", ".zip", write, info, parent, generation
        )

    def add_callable(
        self,
        name: str,
        policy: Policy,
        *,
        parent: str | None = None,
        generation: int | None = None,
    ) -> Member:
        """Add an in-process policy callable. It is recorded (name, lineage, matches) but has no
        file: another process must :meth:`attach` it before it can play."""
        if not callable(policy):
            raise TypeError(f"policy must be callable, got {type(policy).__name__}")
        member = self.store.add_member(
            check_member_name(name),
            "callable",
            getattr(policy, "__qualname__", type(policy).__qualname__),
            parent=parent,
            generation=generation,
        )
        self._attached[member.name] = policy
        return member

    def attach(self, name: str, policy: Policy) -> None:
        """Provide the callable of a ``callable`` member in this process."""
        member = self.store.member(name)
        if member.kind != "callable":
            raise ValueError(f"member {name!r} is a {member.kind}, not an in-process callable")
        self._attached[name] = policy

    def add(self, spec: PlayerSpec) -> Member:
        """Add the member a parsed command-line spec describes."""
        if spec.kind == "bot":
            return self.add_bot(spec.spec, spec.name)
        return self.add_file(spec.spec, spec.name)

    def _add_artifact(
        self,
        name: str,
        kind: str,
        spec: str,
        suffix: str,
        write: Callable[[Path], None],
        info: dict[str, Any],
        parent: str | None,
        generation: int | None,
    ) -> Member:
        if name in self.store.member_names():
            raise StoreError(f"{self.store.directory}: a member named {name!r} already exists")
        if parent is not None:
            self.store.member(parent)
        relative = f"artifacts/{name}{suffix}"
        target = self.store.directory / relative
        staging = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}{suffix}")
        published = False

        def publish() -> None:
            # Inside add_member's transaction, which holds the write lock and has inserted the
            # name: no other writer can commit this member now, so the target is this writer's
            # to replace (an orphan from an earlier crash is overwritten). A writer that loses
            # the name never gets here and never touches the winner's file.
            nonlocal published
            os.replace(staging, target)
            published = True

        try:
            write(staging)
            if not staging.is_file():
                raise StoreError(f"writing the artifact of {name!r} produced no file")
            info = {**info, "sha256": file_sha256(staging)}
            self._load_artifact(kind, staging, info)  # check that it loads
            return self.store.add_member(
                name,
                kind,
                spec,
                artifact=relative,
                parent=parent,
                generation=generation,
                info=info,
                before_commit=publish,
            )
        except BaseException:
            staging.unlink(missing_ok=True)  # only this writer's own files
            if published:  # moved into place, but the row naming it was not committed
                target.unlink(missing_ok=True)
            raise

    def _load_artifact(self, kind: str, path: Path, info: dict[str, Any]) -> Any:
        if kind == "numpy":
            return load_numpy_policy(path)
        return fast_policy(load_sb3_model(path, info.get("class")))

    def members(self) -> list[Member]:
        return self.store.members()

    # -- policies ------------------------------------------------------------------------------

    def policy(self, name: str, seed: int = 0) -> Policy:
        """A fresh policy of member ``name`` for one match (bots are seeded with ``seed``;
        models are loaded once and act deterministically).

        :raises StoreError: a missing or altered artifact, or an unattached callable
        """
        member = self.store.member(name)
        if member.kind == "bot":
            return make_bot(member.spec, self.game, seed)
        if member.kind == "callable":
            policy = self._attached.get(name)
            if policy is None:
                raise StoreError(
                    f"member {name!r} is an in-process callable; attach it with "
                    "Population.attach before it can play"
                )
            return policy
        model = self._models.get(name)
        if model is None:
            path = self.store.artifact_path(member)
            assert path is not None
            if not path.is_file():
                raise StoreCorrupt(
                    f"{self.store.directory}: artifact of {name!r} is missing: {path}"
                )
            expected = member.info.get("sha256")
            if expected is not None and file_sha256(path) != expected:
                raise StoreCorrupt(
                    f"{self.store.directory}: artifact of {name!r} was modified: {path}"
                )
            model = self._load_artifact(member.kind, path, member.info)
            self._models[name] = model
        return policy_from_model(model)

    # -- matches -------------------------------------------------------------------------------

    def _play(self, a: str, b: str, games: int, n_envs: int, seat: Seat, seed: int) -> MatchResult:
        return play_match(
            self.env_id,
            self.policy(a, player_seed(seed, 0)),
            self.policy(b, player_seed(seed, 1)),
            games,
            n_envs=n_envs,
            seat=seat,
            seed=seed,
            env_factory=self.env_factory,
        )

    def play(
        self,
        a: str,
        b: str,
        games: int,
        *,
        n_envs: int = 32,
        seat: Seat = "alternate",
        seed: int | None = None,
        record: bool = True,
    ) -> MatchResult:
        """Play one match of ``games`` games between members ``a`` and ``b`` (and record it).

        :param seed: the match seed (default: derived from the run seed and the match index)
        :param record: record the match (one transaction) and update the ratings
        """
        if a == b:
            raise ValueError(f"a match needs two different members, got {a!r} twice")
        for name in (a, b):
            self.store.member(name)  # UnknownMember before anything is played
        if seed is None:
            seed = match_seed(self.store.seed, self.store.n_matches())
        result = self._play(a, b, games, n_envs, seat, seed)
        if record:
            self.store.record_batch([(a, b, result)])
        return result

    def replay(self, match_id: int) -> MatchResult:
        """Play recorded match ``match_id`` again (not recorded): with deterministic members its
        outcomes equal the record's."""
        row = self.store.match(match_id)
        return self._play(row.player_a, row.player_b, row.games, row.n_envs, row.seat, row.seed)

    def view(self) -> PoolView:
        """The members, Elo ratings and record, for a matchmaker."""
        names, score, games = self.store.counts()
        ratings = self.store.ratings()
        return PoolView(
            tuple(names),
            np.array([ratings[n] for n in names]),
            score,
            games,
            self.store.n_matches(),
        )

    def run_tournament(
        self,
        games: int,
        *,
        matchmaker: Matchmaker | None = None,
        games_per_match: int = 32,
        n_envs: int = 32,
        batch_matches: int = 8,
        seat: Seat = "alternate",
        progress: bool = False,
        on_batch: Callable[[list[int]], None] | None = None,
    ) -> TournamentReport:
        """Play matches until the run holds ``games`` games (a resumed run plays the rest).

        Each batch: the matchmaker picks ``batch_matches`` pairs (fewer at the end), each pair
        plays one match of ``games_per_match`` games (``n_envs`` at once), and the batch is
        recorded in one transaction. A kill loses at most the batch in flight.

        :param games: the run's total number of games to reach
        :param matchmaker: default :class:`RoundRobin`
        :param progress: show a tqdm progress bar (on stderr)
        :param on_batch: called with the new match ids after each committed batch
        """
        for label, value in (
            ("games", games),
            ("games_per_match", games_per_match),
            ("n_envs", n_envs),
            ("batch_matches", batch_matches),
        ):
            positive_int(label, value)
        matchmaker = RoundRobin() if matchmaker is None else matchmaker
        if len(self.store.member_names()) < 2:
            raise ValueError("a tournament needs at least two members")
        start = time.perf_counter()
        done = self.store.n_games()
        played = matches = batches = 0
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=games, initial=min(done, games), unit="game", desc="tournament")
        try:
            while done < games:
                remaining = games - done
                view = self.view()
                k = min(batch_matches, -(-remaining // games_per_match))
                rng = np.random.default_rng([self.store.seed, self.store.n_batches()])
                pairs = matchmaker.pairs(view, k, rng)
                results = []
                for t, (a, b) in enumerate(pairs):
                    count = min(games_per_match, remaining - t * games_per_match)
                    seed = match_seed(self.store.seed, view.n_matches + t)
                    results.append((a, b, self._play(a, b, count, n_envs, seat, seed)))
                ids = self.store.record_batch(results)
                batch_games = sum(r.games for _, _, r in results)
                done += batch_games
                played += batch_games
                matches += len(results)
                batches += 1
                if bar is not None:
                    bar.update(batch_games)
                if on_batch is not None:
                    on_batch(ids)
        finally:
            if bar is not None:
                bar.close()
        return TournamentReport(played, matches, batches, done, time.perf_counter() - start)

    # -- ratings -------------------------------------------------------------------------------

    def ladder(self, *, level: float = 0.95, prior: float = 1.0) -> Ladder:
        """Elo (stored), Bradley–Terry refit with intervals, Nash average, games and score of
        every member, and the win-rate matrix."""
        return compute_ladder(self.store, level=level, prior=prior)
