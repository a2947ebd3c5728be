"""The commands of ``thrust-population`` (:mod:`thrust_population.cli` parses the arguments):
one function per command, from the parsed arguments to the exit status. User errors are raised
(``SpecError``, ``StoreError``, ``ValueError``, ...) for the command line to report as one line."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from thrust_population import ffa_cli
from thrust_population.ffa_ladder import ffa_ladder, ffa_member_report, plot_ffa_run
from thrust_population.league import (
    EXPORT_FORMATS,
    GenerationReport,
    League,
    LeagueConfig,
    export_member,
    league_env_factory,
)
from thrust_population.league.config import (
    ENV_KWARGS_META,
    ConfiguredFactory,
    check_recorded_env_kwargs,
    tensorboard_available,
)
from thrust_population.matches import EnvFactory, load_env_factory, probe_game
from thrust_population.matchmaking import make_matchmaker
from thrust_population.placements import PlacementLog, is_ffa_run
from thrust_population.players import (
    PlayerSpec,
    SpecError,
    check_fits,
    load_numpy_policy,
    load_sb3_model,
    parse_spec,
)
from thrust_population.population import Population, file_sha256, member_report
from thrust_population.ratings import EloConfig
from thrust_population.rundir import RunCreation, leftovers
from thrust_population.store import Store, StoreError

__all__ = [
    "PROG",
    "TARGET_META",
    "export",
    "ladder",
    "play",
    "plot",
    "resume",
    "show",
    "tournament",
    "train",
    "verify",
]

PROG = "thrust-population"
#: the store metadata key of the generations ``train`` was asked for (``resume``'s default)
TARGET_META = "league_target"


def _read_only(args: argparse.Namespace) -> Population:
    """The run ``args.run`` opened read-only (waiting ``--lock-timeout`` for a lock)."""
    return Population.open(args.run, timeout=args.lock_timeout, readonly=True)


def tournament(args: argparse.Namespace) -> int:
    """``tournament``: create or resume a run, play until it holds ``--games`` games, print
    the ladder (an N-player game: :func:`thrust_population.ffa_cli.tournament`)."""
    if ffa_cli.is_ffa_tournament(args):
        return ffa_cli.tournament(args)
    ffa_cli.check_two_player_args(args)
    out = Path(args.out)
    texts = [p.strip() for p in args.players.split(",")]
    if any(not p for p in texts):
        raise SpecError(f"empty entry in --players {args.players!r}")
    matchmaker = make_matchmaker(args.matchmaking)
    if args.anchor_rating is not None and args.anchor is None:
        raise SpecError("--anchor-rating is given without --anchor")
    if args.env_kwargs:
        factory: EnvFactory = ConfiguredFactory(args.factory, args.env_kwargs)
    else:
        factory = load_env_factory(args.factory)
    existing = Store.exists(out)
    if existing:
        store = Store.open(out, timeout=args.lock_timeout, exclusive=True)
        try:
            recorded = league_env_factory(store)  # with the game parameters the run recorded
            kwargs = check_recorded_env_kwargs(
                out, None if recorded is None else recorded.kwargs, args.env_kwargs
            )
            # without --factory, a resumed run uses the factory it recorded
            if args.factory is None:
                given = recorded
            elif recorded is None:
                given = factory
            else:
                given = ConfiguredFactory(args.factory, kwargs)
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
                check_fits(load_numpy_policy(spec.spec), game, f"player {spec.name!r}")
            elif spec.kind == "sb3":
                check_fits(load_sb3_model(spec.spec), game, f"player {spec.name!r}")
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
    with RunCreation(out) as creation:
        population = Population.create(
            out,
            args.env,
            env_factory=factory,
            env_factory_path=args.factory,
            elo=elo,
            seed=0 if args.seed is None else args.seed,
            timeout=args.lock_timeout,
            extra_meta={ENV_KWARGS_META: args.env_kwargs} if args.env_kwargs else None,
        )
        creation.created(population.close)
        for spec in specs:
            population.add(spec)
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


def ladder(args: argparse.Namespace) -> int:
    """``ladder``: print a run's ratings (tables, or ``--json``)."""
    with _read_only(args) as population:
        store = population.store
        ffa = is_ffa_run(store)
        ladder = ffa_ladder(store) if ffa else population.ladder(level=args.level)
        if args.json:
            print(json.dumps(ladder.to_dict(), indent=2))
        else:
            played = (
                f"{PlacementLog(store).n_games()} games of {ladder.seats} seats"
                if ffa
                else f"{store.n_matches()} matches, {store.n_games()} games"
            )
            print(f"{store.directory}: {store.env_id}, {len(ladder.names)} members, {played}")
            print(ladder.format(args.matrix))
    return 0


def play(args: argparse.Namespace) -> int:
    """``play``: one head-to-head match between two members, recorded unless ``--no-record``."""
    if args.a == args.b:
        raise SpecError(f"A and B must be different members, got {args.a!r} twice")
    store = Store.open(args.run, timeout=args.lock_timeout, exclusive=not args.no_record)
    # a league's games have the league's parameters (LeagueConfig.env_kwargs)
    with Population(store, league_env_factory(store)) as population:
        if is_ffa_run(store):
            raise ValueError(f"{args.run} is an N-player run; play plays two-player matches")
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


def plot(args: argparse.Namespace) -> int:
    """``plot``: write the run's rating history and win-rate matrix (an N-player run: its
    Plackett–Luce history and placement shares) as a PNG."""
    from thrust_population.plotting import plot_run

    with _read_only(args) as population:
        output = Path(args.output) if args.output else population.store.directory / "population.png"
        if output.suffix.lower() != ".png":
            raise ValueError(f"the plot is a PNG file; got {output}")
        if not output.parent.is_dir():
            raise FileNotFoundError(f"no such directory for the plot: {output.parent}")
        plotter = plot_ffa_run if is_ffa_run(population.store) else plot_run
        path = plotter(population.store, output)
    print(f"wrote {path}")
    return 0


def show(args: argparse.Namespace) -> int:
    """``show``: describe one member."""
    with _read_only(args) as population:
        report = ffa_member_report if is_ffa_run(population.store) else member_report
        print(report(population.store, args.member, last=args.matches))
    return 0


def verify(args: argparse.Namespace) -> int:
    """``verify``: integrity check and Elo replay (exit status 1 on a problem)."""
    with _read_only(args) as population:
        store = population.store
        ffa = is_ffa_run(store)
        problems = store.verify()
        if ffa:
            # the N-player log can be read only with intact N-player metadata
            problems += PlacementLog.metadata_problems(store) or PlacementLog(store).verify()
        for member in store.members():
            path = store.artifact_path(member)
            if path is not None and not path.is_file():
                problems.append(f"artifact of {member.name} is missing: {path}")
        problems += [
            f"leftover of a killed writer: {path} (removed by the next writing command)"
            for path in leftovers(store.directory)
            if not _being_written(store.directory)
        ]
        if problems:
            for problem in problems:
                print(f"problem: {problem}")
            return 1
        if ffa:
            print(
                f"{store.directory}: integrity ok; {PlacementLog(store).n_games()} games; stored "
                "ratings equal the refit of the placement log"
            )
        else:
            print(
                f"{store.directory}: integrity ok; {store.n_matches()} matches, "
                f"{store.n_games()} games; stored Elo equals the replay of the match log"
            )
    return 0


def _being_written(directory: Path) -> bool:
    """Whether a writer holds the run's lock now (its temporary files are not leftovers)."""
    from thrust_population.rundir import RunBusy, RunLock

    try:
        RunLock(directory).acquire().release()
    except RunBusy:
        return True
    except OSError:  # a read-only run: nobody writes it
        return False
    return False


def _print_generation(report: GenerationReport) -> None:
    print(report.format(), flush=True)


def train(args: argparse.Namespace) -> int:
    """``train``: create a league run and train it."""
    out = Path(args.out)
    if Store.exists(out):
        raise StoreError(f"{out} is already a run; continue it with '{PROG} resume {out}'")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise StoreError(f"{out} exists and is not an empty directory")
    _check_backend_options(args)
    free_for_all = ffa_cli.is_ffa_league(args)
    if free_for_all:
        ffa_cli.check_ffa_league_args(args)
    else:
        ffa_cli.check_two_player_league_args(args)
    bots = None
    if args.bots is not None:
        bots = tuple(b.strip() for b in args.bots.split(","))
        if any(not b for b in bots):
            raise SpecError(f"empty entry in --bots {args.bots!r}")
    config = LeagueConfig(
        learners=args.population,
        exploiters=args.exploiters or 0,
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
        seats=(args.seats or ffa_cli.default_seats(args.env)) if free_for_all else None,
        learner_seats=args.learner_seats,
        tensorboard=not args.no_tensorboard,
    )
    existed = out.is_dir()
    try:
        # the target is stored with the run, so that 'resume DIR' alone continues a league
        # killed at any point
        league = League.create(
            out,
            args.env,
            config,
            seed=args.seed,
            env_factory_path=args.factory,
            timeout=args.lock_timeout,
            extra_meta={TARGET_META: args.generations},
        )
    except BaseException:
        if Store.exists(out):  # nothing half-written: a failed creation leaves no run
            shutil.rmtree(out, ignore_errors=True)
            if existed:
                out.mkdir()
        raise
    with league:
        return _run_league(league, args.generations, args)


def _check_backend_options(args: argparse.Namespace) -> None:
    """Refuse the backend options that contradict each other (before anything is written)."""
    if args.backend != "ray" and args.ray_address is not None:
        raise ValueError("--ray-address is given without --backend ray")
    if args.backend == "ray" and args.workers is not None:
        raise ValueError("--workers applies to the local backend; Ray runs every learner at once")


def _run_league(league: League, generations: int, args: argparse.Namespace) -> int:
    store = league.store
    if league.config.tensorboard and not tensorboard_available():
        print(
            f"{store.directory}: TensorBoard logging is off: tensorboard is not installed "
            "(pip install tensorboard to enable it; --no-tensorboard silences this)",
            flush=True,
        )
    config = league.config
    if config.free_for_all:
        who = (
            f"{config.learners} learners in {config.learner_seats} of {config.seats} seats "
            "(N-player)"
        )
    else:
        who = f"{config.learners} main agents, {config.exploiters} exploiters"
    print(
        f"{store.directory}: league on {store.env_id}, {who}, "
        f"{config.steps_per_generation} steps per generation, matchmaking "
        f"{config.matchmaking}, seed {store.seed}; generation {max(league.generation, 0)} "
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
    print(
        ffa_ladder(store).format() if config.free_for_all else league.population.ladder().format()
    )
    return 0


def resume(args: argparse.Namespace) -> int:
    """``resume``: continue a league run up to ``--generations`` (or its recorded target)."""
    _check_backend_options(args)
    with League.open(args.run, timeout=args.lock_timeout, exclusive=True) as league:
        generations = args.generations or league.store.meta(TARGET_META)
        if generations is None:
            raise StoreError(f"{args.run}: no target number of generations; give --generations")
        league.store.check_writable()
        if args.generations is not None:
            league.store.set_meta(TARGET_META, args.generations)
        if args.tensorboard is not None:
            league.reconfigure(tensorboard=args.tensorboard)
        return _run_league(league, int(generations), args)


def export(args: argparse.Namespace) -> int:
    """``export``: write a league snapshot through ``thrust_export``."""
    with _read_only(args) as population:
        store = population.store
        suffix = EXPORT_FORMATS[args.format]
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
            path = export_member(store, args.member, output, args.format)
        except NotImplementedError as exc:  # a policy thrust_export does not support
            raise ValueError(f"cannot export {args.member!r}: {exc}") from exc
    print(f"wrote {path}")
    return 0
