"""``thrust-population tournament`` for N-player games (:mod:`thrust_population.ffa`): which
kind of tournament a command line asks for, the options each kind refuses, and the N-player
tournament command (create or resume a run, play until it holds ``--games`` games, print the
ladder). :func:`thrust_population.commands.tournament` dispatches here."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from thrust_population.ffa import (
    default_seats,
    game_definition,
    game_params,
    run_ffa_tournament,
)
from thrust_population.ffa_ladder import ffa_ladder
from thrust_population.league.config import ENV_KWARGS_META, check_recorded_env_kwargs
from thrust_population.matches import GameInfo, GameUnavailable
from thrust_population.placements import PlacementConfig, PlacementLog, is_ffa_run
from thrust_population.players import SpecError, load_numpy_policy, load_sb3_model, parse_spec
from thrust_population.population import Population
from thrust_population.rundir import RunCreation
from thrust_population.store import Store, StoreError

__all__ = [
    "TWO_PLAYER_DEFAULTS",
    "TWO_PLAYER_LEAGUE_OPTIONS",
    "check_ffa_league_args",
    "check_two_player_args",
    "check_two_player_league_args",
    "default_seats",
    "ffa_game_info",
    "is_ffa_league",
    "is_ffa_tournament",
    "plays_ffa",
    "tournament",
]

#: the tournament options only two-player runs take, with their defaults there (None: unset)
TWO_PLAYER_DEFAULTS: dict[str, Any] = {
    "k": None,
    "initial": None,
    "anchor": None,
    "anchor_rating": None,
    "factory": None,
    "matchmaking": "round-robin",
    "games_per_match": 32,
    "batch": 8,
}


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def is_ffa_tournament(args: argparse.Namespace) -> bool:
    """Whether ``tournament`` is asked for an N-player run: an existing N-player run, or a new
    run of a thrust_envs game played with other than two seats (its default, or ``--seats``;
    with ``--factory`` too, which such a run refuses, as an N-player league does)."""
    out = Path(args.out)
    if Store.exists(out):
        with Store.open(out, timeout=args.lock_timeout, readonly=True) as store:
            return is_ffa_run(store)
    return plays_ffa(args.env, args.seats)


def plays_ffa(env_id: str, seats: int | None) -> bool:
    """Whether ``env_id`` is a thrust_envs game played with other than two seats: its default
    number of agents, or ``seats`` when given (False for an unknown ID: the two-player path
    reports it)."""
    try:
        default = default_seats(env_id)
    except GameUnavailable:
        return False
    return default != 2 or (seats is not None and seats != 2)


#: the train options only two-player leagues take
TWO_PLAYER_LEAGUE_OPTIONS = ("exploiters", "exploiter_reset", "factory")


def is_ffa_league(args: argparse.Namespace) -> bool:
    """Whether ``train`` is asked for an N-player league: a thrust_envs game of other than two
    seats (its default, or ``--seats``); with ``--factory`` too, which such a league refuses."""
    return plays_ffa(args.env, args.seats)


def _refuse_two_player_options(
    args: argparse.Namespace, dests: Iterable[str], kind: str, why: str
) -> None:
    """Refuse the first of the options ``dests`` given on an N-player game."""
    given = [dest for dest in dests if getattr(args, dest) is not None]
    if given:
        raise ValueError(
            f"{_flag(given[0])} is a two-player {kind}; {args.env} is an N-player game ({why})"
        )


def check_ffa_league_args(args: argparse.Namespace) -> None:
    """Refuse two-player options in an N-player league."""
    _refuse_two_player_options(
        args,
        TWO_PLAYER_LEAGUE_OPTIONS,
        "league option",
        "learners hold several seats, rated from placements",
    )


def check_two_player_league_args(args: argparse.Namespace) -> None:
    """Refuse N-player options in a two-player league."""
    if args.seats is not None and args.seats != 2:
        raise ValueError(f"{args.env} is a two-player game (2 seats), got --seats {args.seats}")
    if args.learner_seats is not None:
        raise ValueError(
            f"--learner-seats is an N-player league option; {args.env} is a two-player game "
            "(the learner holds one seat)"
        )


def check_two_player_args(args: argparse.Namespace) -> None:
    """Refuse N-player options in a two-player tournament; fill the two-player defaults."""
    if args.seats is not None and args.seats != 2:
        raise ValueError(f"{args.env} is a two-player game (2 seats), got --seats {args.seats}")
    for dest, default in TWO_PLAYER_DEFAULTS.items():
        if getattr(args, dest) is None:
            setattr(args, dest, default)


def ffa_game_info(definition: Any, params: Any) -> GameInfo:
    """The :class:`GameInfo` players of an N-player game need (spaces, the game's bots)."""
    return GameInfo(
        definition.env_id,
        definition.observation_space(params),
        definition.action_space(params),
        bots=dict(getattr(definition, "bots", {})),
        params=params._asdict(),
    )


def tournament(args: argparse.Namespace) -> int:
    """``tournament`` on an N-player game."""
    _refuse_two_player_options(
        args, TWO_PLAYER_DEFAULTS, "option", "rated from placements, seats filled in rotation"
    )
    out = Path(args.out)
    texts = [p.strip() for p in args.players.split(",")]
    if any(not p for p in texts):
        raise SpecError(f"empty entry in --players {args.players!r}")
    definition = game_definition(args.env)
    existing = Store.exists(out)
    store = Store.open(out, timeout=args.lock_timeout, exclusive=True) if existing else None
    try:
        if store is not None:
            if store.env_id != args.env:
                raise StoreError(f"{out} plays {store.env_id}, not {args.env}")
            stored_seats = PlacementLog(store).seats
            if args.seats is not None and args.seats != stored_seats:
                raise StoreError(f"{out} was created with --seats {stored_seats}, not {args.seats}")
            if args.seed is not None and args.seed != store.seed:
                raise StoreError(f"{out} was created with --seed {store.seed}, not {args.seed}")
            seats = stored_seats
            env_kwargs = check_recorded_env_kwargs(
                out, store.meta(ENV_KWARGS_META), args.env_kwargs
            )
        else:
            if out.exists() and (not out.is_dir() or any(out.iterdir())):
                raise StoreError(f"{out} exists and is not a run directory (no population.sqlite)")
            seats = args.seats or definition.num_agents(definition.params_type())
            env_kwargs = args.env_kwargs or {}
        # checked by the game before anything is written; recorded with a new run
        params = game_params(definition, seats, env_kwargs)
        game = ffa_game_info(definition, params)
        specs = [parse_spec(text, game) for text in texts]
        names = [s.name for s in specs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise SpecError(f"player name {duplicates[0]!r} given twice in --players")
        if len(names) < seats:
            raise SpecError(
                f"--seats {seats} needs at least {seats} players (a player sits once per game), "
                f"got {len(names)}; name copies of a bot NAME=SPEC"
            )
        if store is not None:
            current = store.member_names()
            played = PlacementLog(store).n_games()
            # a prefix: a run killed while its members were added (creation is completed)
            if names[: len(current)] != current or (played and names != current):
                raise SpecError(
                    f"{out}: an N-player run's players are fixed when it is created "
                    f"({','.join(current)}); got {','.join(names)}"
                )
            store.check_writable()
            population = Population(store, game=game)
            for spec in specs[len(current) :]:
                population.add(spec)
            PlacementLog(store).add_members(names)
        else:
            for spec in specs:
                if spec.kind == "numpy":
                    load_numpy_policy(spec.spec)
                elif spec.kind == "sb3":
                    load_sb3_model(spec.spec)
            population = _create(out, args, seats, specs, game)
            store = population.store
        log = PlacementLog(store)
        total = log.n_games()
        if total < args.games:
            run_ffa_tournament(
                log,
                names,
                population.policy,
                args.games,
                seats=seats,
                params=params,
                definition=definition,
                n_envs=args.n_envs,
                progress=not args.no_progress,
            )
        else:
            print(f"{out}: the run already holds {total} games (--games {args.games})")
        print(ffa_ladder(store).format())
    finally:
        if store is not None:
            store.close()
    return 0


def _create(
    out: Path, args: argparse.Namespace, seats: int, specs: list[Any], game: GameInfo
) -> Population:
    with RunCreation(out) as creation:
        store = Store.create(
            out,
            args.env,
            seed=0 if args.seed is None else args.seed,
            timeout=args.lock_timeout,
            extra_meta={
                **PlacementLog.run_meta(PlacementConfig(), seats),
                # as a two-player tournament records them (league_env_factory reads them)
                **({ENV_KWARGS_META: args.env_kwargs} if args.env_kwargs else {}),
            },
        )
        creation.created(store.close)
        population = Population(store, game=game)
        for spec in specs:
            population.add(spec)
        PlacementLog(store).add_members([s.name for s in specs])
    return population
