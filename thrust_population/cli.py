"""The ``thrust-population`` command line (also ``python -m thrust_population``).

::

    thrust-population tournament --env ENV --players P1,P2,... --games N --out DIR
    thrust-population ladder DIR            # Elo, Bradley–Terry with intervals, games, win rates
    thrust-population play DIR A B --games 100
    thrust-population plot DIR [-o FILE.png]
    thrust-population show DIR MEMBER
    thrust-population verify DIR            # integrity check, Elo replayed from the match log
    thrust-population train --env ENV --population 4 --generations 10 --out DIR
    thrust-population resume DIR            # a league continues after an interruption
    thrust-population export DIR MEMBER --format numpy|onnx|web [-o FILE]

Players are bot specs (``random``, ``tracker:0.5``), exported ``.npz`` policies or SB3 ``.zip``
models, optionally named ``NAME=SPEC``. Running ``tournament`` again on the same ``--out``
resumes it: it plays until the run holds ``--games`` games in all. ``train`` runs league
self-play training (:mod:`thrust_population.league`): learners train generation by generation
against opponents the matchmaker picks from earlier snapshots and the scripted bots, and a
table per generation shows ratings, scores against the bots and steps/s; ``resume`` continues
a league, losing at most the generation in flight; ``export`` writes a snapshot through
``thrust_export``.

Exit status: 0 on success, 1 when ``verify`` finds a problem, 2 on bad input (an unknown
environment, a game without two sides, an unknown player or member, a missing or corrupt run
directory, a locked database), reported as one line on stderr; nothing is left half-written.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from thrust_population.league import (
    GenerationReport,
    League,
    LeagueConfig,
    export_member,
    league_env_factory,
)
from thrust_population.matches import EnvFactory, GameError, load_env_factory, probe_game
from thrust_population.matchmaking import make_matchmaker, matchmaker_names
from thrust_population.players import (
    PlayerSpec,
    SpecError,
    load_numpy_policy,
    load_sb3_model,
    parse_spec,
)
from thrust_population.population import Population, file_sha256, member_report
from thrust_population.ratings import EloConfig
from thrust_population.store import Store, StoreError

PROG = "thrust-population"
#: the store metadata key of the generations ``train`` was asked for (``resume``'s default)
TARGET_META = "league_target"


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix(PROG).strip()
        raise _UsageError(f"{command}: {message}" if command else message)


def _int_parser(low: int, high: int | None, expected: str) -> Callable[[str], int]:
    """An argparse ``type``: an integer in ``[low, high)`` (no upper bound for None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if value < low or (high is not None and value >= high):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
        return value

    return parse


_positive_int = _int_parser(1, None, "a positive integer")
_non_negative_int = _int_parser(0, None, "a non-negative integer")
_seed = _int_parser(0, 2**63, "a non-negative integer")


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _seconds(text: str) -> float:
    value = _finite(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number of seconds, got {text}")
    return value


def _level(text: str) -> float:
    value = _finite(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a confidence level in (0, 1), got {text}")
    return value


def _fraction(text: str) -> float:
    value = _finite(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a score in [0, 1], got {text}")
    return value


def _seat(text: str) -> int | str:
    if text in ("0", "1"):
        return int(text)
    if text == "alternate":
        return text
    raise argparse.ArgumentTypeError(f"expected 0, 1 or alternate, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``thrust-population``."""
    parser = _Parser(
        prog=PROG,
        description="Rate populations of players of two-player games: tournaments, Elo and "
        "Bradley–Terry ladders, head-to-head matches and plots, stored in an SQLite run "
        "directory.",
    )
    parser.add_argument(
        "--lock-timeout",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="how long to wait for a database locked by another process (default 5)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser(
        "tournament",
        help="rate players in a new or resumed run",
        description="Play matches between the players until the run holds --games games, then "
        "print the ladder. Re-running on the same --out resumes (new players join).",
    )
    t.add_argument("--env", required=True, help="a two-player game, e.g. Thrust/Pong-v0")
    t.add_argument(
        "--players",
        required=True,
        help="comma-separated players: bots (random, tracker:0.5, ...), exported .npz "
        "policies, SB3 .zip models; NAME=SPEC names one",
    )
    t.add_argument("--games", type=_positive_int, required=True, help="total games of the run")
    t.add_argument("--out", required=True, metavar="DIR", help="the run directory")
    t.add_argument(
        "--games-per-match", type=_positive_int, default=32, help="games per match (default 32)"
    )
    t.add_argument(
        "--n-envs", type=_positive_int, default=32, help="games played at once (default 32)"
    )
    t.add_argument(
        "--batch",
        type=_positive_int,
        default=8,
        metavar="MATCHES",
        help="matches per database transaction (default 8)",
    )
    t.add_argument(
        "--matchmaking",
        default="round-robin",
        help=f"one of {', '.join(matchmaker_names())} (default round-robin)",
    )
    t.add_argument("--seed", type=_seed, help="the run's seed (new runs; default 0)")
    t.add_argument("--k", type=_finite, help="Elo K-factor (new runs; default 16)")
    t.add_argument("--initial", type=_finite, help="initial Elo (new runs; default 1500)")
    t.add_argument("--anchor", metavar="MEMBER", help="member whose Elo is pinned (new runs)")
    t.add_argument("--anchor-rating", type=_finite, help="the anchor's Elo (default: initial)")
    t.add_argument(
        "--factory",
        metavar="MODULE:FUNCTION",
        help="a custom env factory (env_id, opponent, n_envs, seat, seed) -> VecEnv "
        "(default: thrust_envs.vs_opponent); recorded in the run",
    )
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    lad = sub.add_parser(
        "ladder",
        help="print the ratings of a run",
        description="Print Elo, Bradley–Terry ratings with confidence intervals, Nash "
        "averages, games and score of every member, and the win-rate matrix.",
    )
    lad.add_argument("run", metavar="DIR", help="the run directory")
    lad.add_argument("--level", type=_level, default=0.95, help="interval level (default 0.95)")
    lad.add_argument(
        "--matrix",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="print the win-rate matrix (default: with at most 12 members)",
    )
    lad.add_argument("--json", action="store_true", help="print JSON instead of tables")

    play = sub.add_parser(
        "play",
        help="play a head-to-head match between two members",
        description="Play games between members A and B (A's seat alternates by default), "
        "print the result and record it in the run.",
    )
    play.add_argument("run", metavar="DIR", help="the run directory")
    play.add_argument("a", metavar="A", help="a member")
    play.add_argument("b", metavar="B", help="another member")
    play.add_argument("--games", type=_positive_int, default=100, help="games (default 100)")
    play.add_argument("--n-envs", type=_positive_int, default=32, help="games at once")
    play.add_argument("--seat", type=_seat, default="alternate", help="A's seat: 0, 1, alternate")
    play.add_argument("--seed", type=_seed, help="match seed (default: derived from the run)")
    play.add_argument("--no-record", action="store_true", help="do not record the match")

    plot = sub.add_parser(
        "plot",
        help="plot ratings over time and the win-rate matrix",
        description="Write a PNG: every member's Elo over the run, and the win-rate matrix "
        "as a heatmap.",
    )
    plot.add_argument("run", metavar="DIR", help="the run directory")
    plot.add_argument(
        "-o", "--output", metavar="FILE", help="the PNG to write (default DIR/population.png)"
    )

    show = sub.add_parser(
        "show",
        help="describe one member",
        description="Print a member's kind, lineage, ratings, record and last matches.",
    )
    show.add_argument("run", metavar="DIR", help="the run directory")
    show.add_argument("member", metavar="MEMBER", help="a member name")
    show.add_argument(
        "--matches", type=_positive_int, default=10, help="last matches to list (default 10)"
    )

    verify = sub.add_parser(
        "verify",
        help="check a run's database",
        description="Run PRAGMA integrity_check and compare the stored Elo ratings with a "
        "replay of the whole match log (exit status 1 on a mismatch).",
    )
    verify.add_argument("run", metavar="DIR", help="the run directory")

    tr = sub.add_parser(
        "train",
        help="train a league of learners by self-play",
        description="Create a league run and train it: each generation, each learner trains "
        "against opponents chosen by the matchmaker among earlier snapshots and the scripted "
        "bots, is frozen as a snapshot, and the new snapshots play evaluation matches that "
        "update the ratings. Interrupted, it continues with 'resume DIR'.",
    )
    tr.add_argument("--env", required=True, help="a two-player game, e.g. Thrust/Pong-v0")
    tr.add_argument("--population", type=_positive_int, default=4, help="main agents (default 4)")
    tr.add_argument(
        "--exploiters",
        type=_non_negative_int,
        default=0,
        help="exploiters, trained against the main agents' latest snapshots only (default 0)",
    )
    tr.add_argument(
        "--exploiter-reset",
        type=_fraction,
        metavar="SCORE",
        help="an exploiter scoring at least SCORE against every main agent restarts from its "
        "initial weights (e.g. 0.7; default: never)",
    )
    tr.add_argument("--generations", type=_positive_int, required=True, help="generations to train")
    tr.add_argument(
        "--steps-per-generation",
        type=_positive_int,
        default=50_000,
        help="environment steps per learner and generation (default 50000)",
    )
    tr.add_argument(
        "--matchmaking",
        default="pfsp",
        help=f"training opponents: one of {', '.join(matchmaker_names())} (default pfsp)",
    )
    tr.add_argument("--out", required=True, metavar="DIR", help="the run directory (new)")
    _backend_arguments(tr)
    tr.add_argument("--seed", type=_seed, default=0, help="the run's seed (default 0)")
    _workers_argument(tr)
    tr.add_argument(
        "--bots",
        help="comma-separated scripted bots in the pool (default: random and the game's bots)",
    )
    tr.add_argument(
        "--opponents-per-generation",
        type=_positive_int,
        default=4,
        help="training opponents per learner and generation (default 4)",
    )
    tr.add_argument(
        "--n-envs", type=_positive_int, default=16, help="games a learner trains on at once"
    )
    tr.add_argument(
        "--eval-games", type=_positive_int, default=32, help="games per evaluation match"
    )
    tr.add_argument(
        "--eval-n-envs", type=_positive_int, default=32, help="evaluation games at once"
    )
    tr.add_argument(
        "--algo",
        default="thrust_algos.ppo:PPO",
        metavar="MODULE:CLASS",
        help="an SB3 on-policy algorithm (default thrust_algos.ppo:PPO)",
    )
    tr.add_argument(
        "--algo-kwargs", type=_json_object, default={}, metavar="JSON", help="its arguments"
    )
    tr.add_argument(
        "--env-kwargs",
        type=_json_object,
        default={},
        metavar="JSON",
        help="game parameters, e.g. '{\"points_to_win\": 3}'",
    )
    tr.add_argument(
        "--factory",
        metavar="MODULE:FUNCTION",
        help="a custom env factory (default: thrust_envs.vs_opponent); recorded in the run",
    )
    tr.add_argument("--no-tensorboard", action="store_true", help="no TensorBoard logs")
    tr.add_argument("--no-progress", action="store_true", help="no progress bar")

    res = sub.add_parser(
        "resume",
        help="continue an interrupted league",
        description="Continue a league run from its last completed generation (the generation "
        "that was in flight is redone, reusing the snapshots it had frozen).",
    )
    res.add_argument("run", metavar="DIR", help="the run directory")
    res.add_argument(
        "--generations",
        type=_positive_int,
        help="total generations (default: the number given to train)",
    )
    _workers_argument(res)
    _backend_arguments(res)
    res.add_argument("--no-progress", action="store_true", help="no progress bar")

    ex = sub.add_parser(
        "export",
        help="export a league snapshot",
        description="Write a member (an SB3 snapshot) as a thrust_export numpy (.npz) or ONNX "
        "policy.",
    )
    ex.add_argument("run", metavar="DIR", help="the run directory")
    ex.add_argument("member", metavar="MEMBER", help="a member name, e.g. L0-g10")
    ex.add_argument(
        "--format", choices=("numpy", "onnx", "web"), default="numpy", help="the format"
    )
    ex.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="the file (default DIR/exports/MEMBER.npz|.onnx|.html)",
    )
    return parser


def _backend_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="where learners train: local (this machine; see --workers) or ray (Ray tasks; "
        "needs the ray extra)",
    )
    parser.add_argument(
        "--ray-address",
        metavar="ADDRESS",
        help="the Ray cluster to join, e.g. 'auto' or HOST:6379 (default: a new local Ray "
        "instance, no dashboard)",
    )


def _workers_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="learners trained at once, each in its own process with CPUs/N torch threads "
        "(1: in this process; default: one per learner up to the CPU count)",
    )


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r} ({exc})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


# ---------------------------------------------------------------------------------------------
# Commands


def _tournament(args: argparse.Namespace) -> int:
    out = Path(args.out)
    texts = [p.strip() for p in args.players.split(",")]
    if any(not p for p in texts):
        raise SpecError(f"empty entry in --players {args.players!r}")
    matchmaker = make_matchmaker(args.matchmaking)
    factory = load_env_factory(args.factory)
    existing = Store.exists(out)
    if existing:
        store = Store.open(out, timeout=args.lock_timeout)
        try:
            # without --factory, a resumed run uses the factory it recorded (a league's with its
            # game parameters, LeagueConfig.env_kwargs)
            given = factory if args.factory is not None else league_env_factory(store)
            population = Population(store, given)
        except BaseException:
            store.close()
            raise
    else:
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise StoreError(f"{out} exists and is not a run directory (no population.sqlite)")
        population = None
    try:
        if population is not None:
            _check_resume(population, args)
            game = population.game
        else:
            game = probe_game(args.env, factory)
        specs = [parse_spec(text, game) for text in texts]
        names = [s.name for s in specs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise SpecError(f"player name {duplicates[0]!r} given twice in --players")
        current = {} if population is None else {m.name: m for m in population.members()}
        for spec in specs:
            member = current.get(spec.name)
            if member is not None:
                same = member.kind == spec.kind and (
                    member.spec == spec.spec
                    if spec.kind == "bot"
                    else member.info.get("sha256") == file_sha256(Path(spec.spec))
                )
                if not same:
                    raise SpecError(
                        f"{out}: member {spec.name!r} is already {member.kind} {member.spec!r} "
                        "(frozen); name the new player differently (NAME=SPEC)"
                    )
            elif spec.kind == "numpy":
                load_numpy_policy(spec.spec)
            elif spec.kind == "sb3":
                load_sb3_model(spec.spec)
        if len(set(names) | set(current)) < 2:
            raise SpecError("a tournament needs at least two players")
        if args.anchor is not None and args.anchor not in set(names) | set(current):
            raise SpecError(f"--anchor {args.anchor!r} is not one of the players")
        new = [s for s in specs if s.name not in current]
        if population is None:
            population = _create(out, args, factory, new)
        else:
            population.store.check_writable()
            for spec in new:
                population.add(spec)
        total = population.store.n_games()
        if total < args.games:
            population.run_tournament(
                args.games,
                matchmaker=matchmaker,
                games_per_match=args.games_per_match,
                n_envs=args.n_envs,
                batch_matches=args.batch,
                progress=not args.no_progress,
            )
        else:
            print(f"{out}: the run already holds {total} games (--games {args.games})")
        print(population.ladder().format())
    finally:
        if population is not None:
            population.close()
    return 0


def _create(
    out: Path, args: argparse.Namespace, factory: EnvFactory, specs: list[PlayerSpec]
) -> Population:
    elo = EloConfig(
        k=16.0 if args.k is None else args.k,
        initial=1500.0 if args.initial is None else args.initial,
        anchor=args.anchor,
        anchor_rating=args.anchor_rating,
    )
    existed = out.is_dir()
    population = Population.create(
        out,
        args.env,
        env_factory=factory,
        env_factory_path=args.factory,
        elo=elo,
        seed=0 if args.seed is None else args.seed,
        timeout=args.lock_timeout,
    )
    try:
        for spec in specs:
            population.add(spec)
    except BaseException:
        population.close()
        shutil.rmtree(out, ignore_errors=True)
        if existed:
            out.mkdir()
        raise
    return population


def _check_resume(population: Population, args: argparse.Namespace) -> None:
    store = population.store
    where = store.directory
    if store.env_id != args.env:
        raise StoreError(f"{where} plays {store.env_id}, not {args.env}")
    if args.factory is not None and args.factory != store.env_factory:
        raise StoreError(f"{where} uses the env factory {store.env_factory}, not {args.factory}")
    config = store.elo_config
    for option, given, stored in (
        ("--k", args.k, config.k),
        ("--initial", args.initial, config.initial),
        ("--anchor", args.anchor, config.anchor),
        ("--anchor-rating", args.anchor_rating, config.anchor_rating),
        ("--seed", args.seed, store.seed),
    ):
        if given is not None and given != stored:
            raise StoreError(f"{where} was created with {option} {stored}, not {given}")


def _ladder(args: argparse.Namespace) -> int:
    with Population.open(args.run, timeout=args.lock_timeout, readonly=True) as population:
        ladder = population.ladder(level=args.level)
        if args.json:
            print(json.dumps(ladder.to_dict(), indent=2))
        else:
            store = population.store
            print(
                f"{store.directory}: {store.env_id}, {len(ladder.names)} members, "
                f"{store.n_matches()} matches, {store.n_games()} games"
            )
            print(ladder.format(args.matrix))
    return 0


def _play(args: argparse.Namespace) -> int:
    if args.a == args.b:
        raise SpecError(f"A and B must be different members, got {args.a!r} twice")
    store = Store.open(args.run, timeout=args.lock_timeout)
    # a league's games have the league's parameters (LeagueConfig.env_kwargs)
    with Population(store, league_env_factory(store)) as population:
        if not args.no_record:
            store.check_writable()
        result = population.play(
            args.a,
            args.b,
            args.games,
            n_envs=args.n_envs,
            seat=args.seat,
            seed=args.seed,
            record=not args.no_record,
        )
        n = result.games
        print(
            f"{args.a} vs {args.b} on {store.env_id}: {n} games, seed {result.seed}, "
            f"{result.n_envs} at once"
        )
        print(
            f"{args.a}: {result.wins} wins, {result.draws} draws, {result.losses} losses "
            f"(score {100 * result.points / n:.1f}%)"
        )
        for seat in (0, 1):
            letters = "WDL" if seat == 0 else "wdl"
            w, d, l = (result.outcomes.count(c) for c in letters)
            if w + d + l:
                print(f"  {args.a} in seat {seat}: {w}-{d}-{l} (wins-draws-losses)")
        if not args.no_record:
            print(f"recorded in {store.directory}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    from thrust_population.plotting import plot_run

    with Population.open(args.run, timeout=args.lock_timeout, readonly=True) as population:
        output = Path(args.output) if args.output else population.store.directory / "population.png"
        if output.suffix.lower() != ".png":
            raise ValueError(f"the plot is a PNG file; got {output}")
        if not output.parent.is_dir():
            raise FileNotFoundError(f"no such directory for the plot: {output.parent}")
        path = plot_run(population.store, output)
    print(f"wrote {path}")
    return 0


def _show(args: argparse.Namespace) -> int:
    with Population.open(args.run, timeout=args.lock_timeout, readonly=True) as population:
        print(member_report(population.store, args.member, last=args.matches))
    return 0


def _verify(args: argparse.Namespace) -> int:
    with Population.open(args.run, timeout=args.lock_timeout, readonly=True) as population:
        store = population.store
        problems = store.verify()
        if problems:
            for problem in problems:
                print(f"problem: {problem}")
            return 1
        print(
            f"{store.directory}: integrity ok; {store.n_matches()} matches, {store.n_games()} "
            f"games; stored Elo equals the replay of the match log"
        )
    return 0


def _print_generation(report: GenerationReport) -> None:
    print(report.format(), flush=True)


def _train(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if Store.exists(out):
        raise StoreError(f"{out} is already a run; continue it with '{PROG} resume {out}'")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise StoreError(f"{out} exists and is not an empty directory")
    bots = None
    if args.bots is not None:
        bots = tuple(b.strip() for b in args.bots.split(","))
        if any(not b for b in bots):
            raise SpecError(f"empty entry in --bots {args.bots!r}")
    config = LeagueConfig(
        learners=args.population,
        exploiters=args.exploiters,
        exploiter_reset=args.exploiter_reset,
        steps_per_generation=args.steps_per_generation,
        matchmaking=args.matchmaking,
        bots=bots,
        opponents_per_generation=args.opponents_per_generation,
        n_envs=args.n_envs,
        eval_games=args.eval_games,
        eval_n_envs=args.eval_n_envs,
        algo=args.algo,
        algo_kwargs=args.algo_kwargs,
        env_kwargs=args.env_kwargs,
        tensorboard=not args.no_tensorboard,
    )
    existed = out.is_dir()
    try:
        league = League.create(
            out,
            args.env,
            config,
            seed=args.seed,
            env_factory_path=args.factory,
            timeout=args.lock_timeout,
        )
    except BaseException:
        if Store.exists(out):  # nothing half-written: a failed creation leaves no run
            shutil.rmtree(out, ignore_errors=True)
            if existed:
                out.mkdir()
        raise
    with league:
        league.store.set_meta(TARGET_META, args.generations)
        return _run_league(league, args.generations, args)


def _run_league(league: League, generations: int, args: argparse.Namespace) -> int:
    store = league.store
    print(
        f"{store.directory}: league on {store.env_id}, {league.config.learners} main agents, "
        f"{league.config.exploiters} exploiters, "
        f"{league.config.steps_per_generation} steps per generation, matchmaking "
        f"{league.config.matchmaking}, seed {store.seed}; generation {max(league.generation, 0)} "
        f"of {generations} done",
        flush=True,
    )
    league.run(
        generations,
        progress=not args.no_progress,
        on_generation=_print_generation,
        workers=args.workers,
        backend=args.backend,
        ray_address=args.ray_address,
    )
    print(league.population.ladder().format())
    return 0


def _resume(args: argparse.Namespace) -> int:
    with League.open(args.run, timeout=args.lock_timeout) as league:
        generations = args.generations or league.store.meta(TARGET_META)
        if generations is None:
            raise StoreError(f"{args.run}: no target number of generations; give --generations")
        if args.generations is not None:
            league.store.check_writable()
            league.store.set_meta(TARGET_META, args.generations)
        return _run_league(league, int(generations), args)


def _export(args: argparse.Namespace) -> int:
    with Population.open(args.run, timeout=args.lock_timeout, readonly=True) as population:
        store = population.store
        suffix = {"numpy": ".npz", "onnx": ".onnx", "web": ".html"}[args.format]
        if args.output:
            output = Path(args.output)
        else:
            output = store.directory / "exports" / f"{args.member}{suffix}"
        store.member(args.member)  # UnknownMember before anything is written
        if not output.parent.is_dir():
            if args.output:
                raise FileNotFoundError(f"no such directory for the export: {output.parent}")
            output.parent.mkdir()
        try:
            if args.format == "web":  # the page plays the run's game (thrust_export.web)
                path = _export_web(store, args.member, output)
            else:
                path = export_member(store, args.member, output, args.format)
        except NotImplementedError as exc:  # a policy thrust_export does not support
            raise ValueError(f"cannot export {args.member!r}: {exc}") from exc
    print(f"wrote {path}")
    return 0


def _export_web(store: Store, member: str, output: Path) -> Path:
    import tempfile

    from thrust_export.web import export_web

    meta = store.meta("league")  # a league's games have its parameters
    env_kwargs = LeagueConfig.from_dict(meta["config"]).env_kwargs if meta else {}
    with tempfile.TemporaryDirectory() as tmp:
        artifact = export_member(store, member, Path(tmp) / "policy.npz", "numpy")
        return export_web(artifact, output, env_id=store.env_id, **env_kwargs)


_COMMANDS = {
    "tournament": _tournament,
    "ladder": _ladder,
    "play": _play,
    "plot": _plot,
    "show": _show,
    "verify": _verify,
    "train": _train,
    "resume": _resume,
    "export": _export,
}


def _report(message: str) -> None:
    """Print ``message`` as one line on stderr."""
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``thrust-population`` on ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        _report(str(exc))
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    try:
        return _COMMANDS[args.command](args)
    except (GameError, SpecError, StoreError, ValueError, OSError, ImportError) as exc:
        _report(str(exc))
        return 2
    except KeyboardInterrupt:
        if args.command in ("train", "resume"):
            run = args.out if args.command == "train" else args.run
            _report(
                f"interrupted; completed generations are kept, continue with: {PROG} resume {run}"
            )
        else:
            _report("interrupted; committed batches are kept, run the command again to resume")
        return 130


if __name__ == "__main__":
    sys.exit(main())
