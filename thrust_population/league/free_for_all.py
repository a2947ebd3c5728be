"""N-player (free-for-all) leagues: :class:`FreeForAllLeague`, the league loop of :mod:`.loop`
for games of more than two seats (Snake's snakes).

What changes against a two-player league, and nothing else does (the generation loop, the
backends, freezing, resuming and the determinism are :class:`~.loop.League`'s):

- **Training.** A learner trains with parameter sharing over ``learner_seats`` seats of each
  of its ``n_envs`` games (``thrust_envs.sb3.free_for_all.FreeForAllVecEnv``) while the other
  seats are filled, game by game and episode by episode, from the generation's
  ``opponents_per_generation`` draws of the matchmaker (``pfsp`` by default: frozen snapshots
  and bots weighted by the learner's chance of placing above each).
- **Ratings.** The run is an N-player run (:mod:`thrust_population.placements`): players are
  rated from each game's placement with openskill's Plackett–Luce model. Matchmakers see
  every game decomposed into its pairs of seats (who placed above whom) and the model's
  pairwise win probabilities (:meth:`PlacementLog.pairwise`,
  :meth:`PlacementLog.win_probabilities`); their ratings are the ordinals ``mu - 3 sigma``.
- **Evaluation.** After each generation, ``eval_games`` games (rounded up to whole blocks of
  ``P`` games, ``P`` the players) seat the bots, the new snapshots and their parents in
  rotation (:func:`thrust_population.ffa.seating`: over a block every player sits once in each
  seat), ``eval_n_envs`` games at once; they are recorded in one transaction, tagged with the
  generation.
- Exploiters are a two-player league's; an N-player league has none.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from thrust_population.ffa import (
    FFA_GAME_KEY,
    FFA_PLAYER_KEY,
    game_definition,
    game_params,
    play_games,
    seating,
)
from thrust_population.league.config import (
    LEAGUE_META,
    LeagueConfig,
    algorithm_class,
    check_algo,
)
from thrust_population.league.loop import CreateOptions, League, with_bots
from thrust_population.league.report import FfaGenerationReport, FfaPlayerRow
from thrust_population.matches import GameInfo, Policy
from thrust_population.matchmaking import PoolView
from thrust_population.placements import FfaGame, PlacementConfig, PlacementLog, is_ffa_run
from thrust_population.players import make_bot
from thrust_population.population import Population
from thrust_population.seeding import derive_seed
from thrust_population.store import Store, StoreError

__all__ = ["FfaEvaluationGames", "FreeForAllLeague"]

#: keys the evaluation's seeds apart from a tournament's
FFA_LEAGUE_KEY = 0x4C454147  # "LEAG"
#: the ordinal a matchmaker ranks by: mu minus this many sigmas (openskill's default)
ORDINAL_Z = 3.0


class FfaEvaluationGames(NamedTuple):
    """A batch of evaluation games to play (not recorded): the players (member names), each
    game's seating (player indices, seat by seat), each game's seed, and the seed the players'
    seeds derive from."""

    players: tuple[str, ...]
    seating: tuple[tuple[int, ...], ...]
    seeds: tuple[int, ...]
    player_seed: int


class FreeForAllLeague(League):
    """A league on an N-player game (see the module docstring; :meth:`League.create` and
    :meth:`League.open` return one for an N-player game or run)."""

    free_for_all = True

    def __init__(self, population: Population) -> None:
        super().__init__(population)
        if not self.config.free_for_all or not is_ffa_run(self.store):
            raise StoreError(f"{self.store.directory} is not an N-player league run")
        self.log = PlacementLog(self.store)
        self.definition = game_definition(self.store.env_id)
        self.params = _params(self.definition, self.config)

    # -- opening -------------------------------------------------------------------------------

    @staticmethod
    def population_of(store: Store) -> Population:
        """The :class:`Population` of an N-player league run (its game from the store)."""
        config = LeagueConfig.from_dict(store.meta(LEAGUE_META)["config"])
        definition = game_definition(store.env_id)
        return Population(store, game=_game_info(definition, _params(definition, config)))

    @classmethod
    def _create_population(
        cls, directory: Any, env_id: str, config: LeagueConfig, options: CreateOptions
    ) -> tuple[Population, type]:
        """An N-player league run (see :meth:`League._create_population`; :meth:`League.create`
        calls this): ``config.seats`` defaults to the game's number of agents.

        :raises GameUnavailable: ``env_id`` is not a thrust_envs game
        :raises ValueError: a bad configuration, a two-player option (a factory, an Elo
            configuration), or seats outside the game's range (before anything is written)
        """
        definition = game_definition(env_id)
        if options.env_factory_path is not None:
            raise ValueError(
                f"an env factory is a two-player league's option; {env_id} is an N-player game "
                "(its games are stepped by thrust_envs directly)"
            )
        if options.elo is not None:
            raise ValueError(
                "an Elo configuration is a two-player league's option (N-player "
                "runs are rated from placements)"
            )
        if not config.free_for_all:
            seats = definition.num_agents(definition.params_type())
            config = LeagueConfig.from_dict({**config.to_dict(), "seats": seats})
        params = _params(definition, config)
        game = _game_info(definition, params)
        algo = algorithm_class(config.algo)
        config = with_bots(config, game)
        check_algo(
            algo,
            config,
            lambda: _free_for_all_env(definition, config, [make_bot("random", game, 0)], 0),
        )
        league_meta = {"config": config.to_dict(), "generation": None, "history": []}
        meta = {
            **(options.extra_meta or {}),
            **PlacementLog.run_meta(PlacementConfig(), config.seats),
            LEAGUE_META: league_meta,
        }
        store = Store.create(
            directory, env_id, seed=options.seed, timeout=options.timeout, extra_meta=meta
        )
        return Population(store, game=game), algo

    def _setup(self) -> None:
        super()._setup()
        self.log.add_members(self.store.member_names())  # initial ratings (idempotent)

    # -- training ------------------------------------------------------------------------------

    def _training_env(self, policies: Sequence[Policy], seed: int) -> tuple[Any, Any]:
        """The free-for-all VecEnv: the learner in ``learner_seats`` seats of every game, the
        ``policies`` (the generation's draws) filling the others; no callback."""
        return _free_for_all_env(self.definition, self.config, policies, seed), None

    def _pool(self, generation: int) -> PoolView:
        """The members of generations before ``generation`` with their placement record
        (pairwise), ordinals and the model's pairwise win probabilities, as they stood when
        generation ``generation - 1``'s evaluation was recorded (see :meth:`League._pool`)."""
        generations = {m.name: m.generation for m in self.store.members()}
        # A name frozen since that read (see League._pool) is of this generation: left out.
        names = tuple(
            n for n in self.store.member_names() if generations.get(n, generation) < generation
        )
        through = generation - 1
        stored = self.log.ratings(through=through)
        default = (self.log.config.mu, self.log.config.sigma)
        ordinals = [
            stored.get(n, default)[0] - ORDINAL_Z * stored.get(n, default)[1] for n in names
        ]
        score, games = self.log.pairwise(names, through=through)
        return PoolView(
            names,
            np.array(ordinals, dtype=np.float64),
            score,
            games,
            self.log.n_games(through=through),
            self.log.win_probabilities(names, through=through),
        )

    # -- evaluation ----------------------------------------------------------------------------

    def evaluation_players(self, generation: int) -> list[str]:
        """Who plays ``generation``'s evaluation: the bots, the new snapshots and their parents
        (each once, in that order)."""
        players = list(self.bots)
        for i in range(self._count):
            for name in (self._name(i, generation), self.start_snapshot(i, generation)):
                if name not in players:
                    players.append(name)
        return players

    def _evaluated(self, generation: int) -> bool:
        return self.log.n_games(generation) > 0

    def _evaluation_tasks(self, generation: int) -> list[FfaEvaluationGames]:
        players = tuple(self.evaluation_players(generation))
        seats = int(self.config.seats)
        if len(players) < seats:
            raise ValueError(
                f"the evaluation of generation {generation} has {len(players)} players for "
                f"{seats} seats: add bots (LeagueConfig.bots) or learners"
            )
        base = derive_seed(self.store.seed, FFA_LEAGUE_KEY, generation)
        # whole blocks of len(players) games: every player sits equally often in every seat
        total = -(-self.config.eval_games // len(players)) * len(players)
        tasks = []
        for first in range(0, total, self.config.eval_n_envs):
            numbers = range(first, min(first + self.config.eval_n_envs, total))
            tasks.append(
                FfaEvaluationGames(
                    players,
                    tuple(tuple(seating(base, len(players), seats, k)) for k in numbers),
                    tuple(derive_seed(base, FFA_GAME_KEY, k) for k in numbers),
                    derive_seed(base, FFA_PLAYER_KEY, first),
                )
            )
        return tasks

    def play_evaluation(self, tasks: Sequence[Any]) -> list[Any]:
        """Play batches of evaluation games (:class:`FfaEvaluationGames`) in this process: per
        batch, each game's ``(places, returns, steps)``."""
        results = []
        for task in tasks:
            policies = [
                self.population.policy(name, derive_seed(task.player_seed, index))
                for index, name in enumerate(task.players)
            ]
            results.append(
                play_games(
                    self.definition, self.params, np.array(task.seating), policies, task.seeds
                )
            )
        return results

    def _record_evaluation(
        self, generation: int, tasks: Sequence[Any], results: Sequence[Any]
    ) -> None:
        self.log.add_members(self.store.member_names())
        games = [
            FfaGame(
                members=tuple(task.players[p] for p in row),
                places=tuple(places),
                scores=tuple(returns),
                seed=seed,
                steps=steps,
            )
            for task, outcomes in zip(tasks, results, strict=True)
            for row, seed, (places, returns, steps) in zip(
                task.seating, task.seeds, outcomes, strict=True
            )
        ]
        self.log.record_games(games, generation=generation)

    # -- reading -------------------------------------------------------------------------------

    def report(self, generation: int, *, seconds: float = math.nan) -> FfaGenerationReport:
        """The table of completed generation ``generation``: every player of its evaluation
        with its rating as it stood after it and its placements in it (from the store)."""
        if not 1 <= generation <= self.generation:
            raise ValueError(
                f"generation {generation} is not a completed training generation "
                f"(completed: {self.generation})"
            )
        entry = next(h for h in self.history if h["generation"] == generation)
        trained = {self._name(item["learner"], generation): item for item in entry["learners"]}
        ratings = self.log.ratings(through=generation)
        places: dict[str, list[int]] = {}
        wins: dict[str, float] = {}
        for game in self.log.games(generation=generation):
            first = sum(1 for p in game.places if p == 1)
            for name, place in zip(game.members, game.places, strict=True):
                places.setdefault(name, []).append(place)
                wins[name] = wins.get(name, 0.0) + (1.0 / first if place == 1 else 0.0)
        rows = []
        for name in self.evaluation_players(generation):
            mu, sigma = ratings[name]
            item = trained.get(name, {})
            played = places.get(name, [])
            rows.append(
                FfaPlayerRow(
                    player=name,
                    mu=mu,
                    sigma=sigma,
                    games=len(played),
                    mean_place=float(np.mean(played)) if played else math.nan,
                    win_share=wins.get(name, 0.0) / len(played) if played else math.nan,
                    opponents=tuple(item.get("opponents", ())),
                    steps=item.get("steps"),
                    seconds=item.get("seconds"),
                    learner=name in trained,
                )
            )
        return FfaGenerationReport(generation, rows, seconds, int(self.config.seats))


def _params(definition: Any, config: LeagueConfig) -> Any:
    """The game's parameters of an N-player league: ``env_kwargs`` with ``seats`` agents.

    :raises ValueError: ``seats`` outside the game's range, or ``env_kwargs`` naming another
        number of agents
    """
    return game_params(definition, int(config.seats), config.env_kwargs)


def _game_info(definition: Any, params: Any) -> GameInfo:
    from thrust_population.ffa_cli import ffa_game_info

    return ffa_game_info(definition, params)


def _free_for_all_env(
    definition: Any, config: LeagueConfig, policies: Sequence[Policy], seed: int
) -> Any:
    """A learner's training VecEnv (imports SB3)."""
    from thrust_envs.sb3.free_for_all import FreeForAllVecEnv

    params = _params(definition, config)
    return FreeForAllVecEnv(
        definition,
        list(policies),
        config.n_envs,
        int(config.learner_seats),
        seed=seed,
        num_threads=1,
        **params._asdict(),
    )
