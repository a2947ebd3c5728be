"""The ``thrust-population`` command line (also ``python -m thrust_population``).

::

    thrust-population tournament --env ENV --players P1,P2,... --games N --out DIR
    thrust-population tournament --env Thrust/Snake-v0 --seats 4 --players ... --games N --out DIR
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

Exit status: 0 on success, 1 when ``verify`` finds a problem (damaged rows or metadata of a
database that opens: each reported as a ``problem:`` line), 2 on bad input (an unknown
environment, a game without two sides, an unknown player or member, a missing run directory or
one whose database cannot be read as a run, a run whose damage the command runs into, a locked
database), reported as one line on stderr; nothing is left half-written.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, NoReturn

from thrust_population import commands
from thrust_population.commands import PROG, TARGET_META
from thrust_population.league.backends import BackendError
from thrust_population.league.config import check_env_kwargs
from thrust_population.matches import GameUnavailable
from thrust_population.matchmaking import matchmaker_names
from thrust_population.players import SpecError
from thrust_population.store import StoreError

__all__ = ["COMMANDS", "PROG", "TARGET_META", "build_parser", "main"]


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix(PROG).strip()
        raise _UsageError(f"{command}: {message}" if command else message)


#: every integer option ends up in SQLite (an INTEGER is signed 64-bit) or in a count of
#: games, envs or steps: larger values are refused here, not as an OverflowError later
INT_LIMIT = 2**63


def _int_parser(low: int, expected: str) -> Callable[[str], int]:
    """An argparse ``type``: an integer in ``[low, 2**63)``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not low <= value < INT_LIMIT:
            raise argparse.ArgumentTypeError(f"expected {expected} below 2**63, got {value}")
        return value

    return parse


_positive_int = _int_parser(1, "a positive integer")
_non_negative_int = _int_parser(0, "a non-negative integer")
_seed = _non_negative_int


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


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r} ({exc})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def _game_kwargs(text: str) -> dict:
    """Game parameters: a JSON object whose integers fit the kernels' int64."""
    value = _json_object(text)
    try:
        return check_env_kwargs(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# ---------------------------------------------------------------------------------------------
# Arguments: the shared ones written once (a command varies one with Argument.but)


class Argument(NamedTuple):
    """One ``add_argument`` call: its flags (or positional name) and keyword arguments."""

    flags: tuple[str, ...]
    options: dict[str, Any]

    def but(self, **changes: Any) -> Argument:
        """This argument with some keyword arguments changed (a command's default or help)."""
        return Argument(self.flags, {**self.options, **changes})


def _arg(*flags: str, **options: Any) -> Argument:
    return Argument(flags, options)


def _matchmaking(default: str, purpose: str = "") -> Argument:
    """``--matchmaking`` with its default (the help lists the matchmakers)."""
    names = ", ".join(matchmaker_names())
    text = f"{purpose}one of {names} (default {default})"
    return _arg("--matchmaking", default=default, help=text)


RUN_DIR = _arg("run", metavar="DIR", help="the run directory")
MEMBER = _arg("member", metavar="MEMBER", help="a member name")
ENV = _arg(
    "--env", required=True, help="a game, e.g. Thrust/Pong-v0 (two players) or Thrust/Snake-v0"
)
OUT = _arg("--out", required=True, metavar="DIR", help="the run directory")
N_ENVS = _arg("--n-envs", type=_positive_int, default=32, help="games played at once")
SEED = _arg("--seed", type=_seed, help="the run's seed")
FACTORY = _arg(
    "--factory",
    metavar="MODULE:FUNCTION",
    help="a custom env factory (default: thrust_envs.vs_opponent); recorded in the run",
)
OUTPUT = _arg("-o", "--output", metavar="FILE", help="the file to write")
ENV_KWARGS = _arg(
    "--env-kwargs",
    type=_game_kwargs,
    default={},
    metavar="JSON",
    help="game parameters, e.g. '{\"points_to_win\": 3}'",
)
NO_PROGRESS = _arg("--no-progress", action="store_true", help="no progress bar")
WORKERS = _arg(
    "--workers",
    type=_positive_int,
    default=None,
    help="learners trained at once, each in its own process with CPUs/N torch threads "
    "(1: in this process; default: one per learner up to the CPU count)",
)
BACKEND = (
    _arg(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="where learners train: local (this machine; see --workers) or ray (Ray tasks; "
        "needs the ray extra)",
    ),
    _arg(
        "--ray-address",
        metavar="ADDRESS",
        help="the Ray cluster to join, e.g. 'auto' or HOST:6379 (default: a new local Ray "
        "instance, no dashboard)",
    ),
)

TOURNAMENT = (
    ENV,
    _arg(
        "--players",
        required=True,
        help="comma-separated players: bots (random, tracker:0.5, ...), exported .npz "
        "policies, SB3 .zip models; NAME=SPEC names one",
    ),
    _arg("--games", type=_positive_int, required=True, help="total games of the run"),
    OUT,
    # two-player options default to None so that an N-player game can refuse them (ffa_cli)
    _arg(
        "--games-per-match",
        type=_positive_int,
        default=None,
        help="games per match (two-player games; default 32)",
    ),
    N_ENVS.but(help="games played at once (default 32); an N-player batch per transaction"),
    _arg(
        "--batch",
        type=_positive_int,
        default=None,
        metavar="MATCHES",
        help="matches per database transaction (two-player games; default 8)",
    ),
    _matchmaking("round-robin", "two-player games: ").but(default=None),
    _arg(
        "--seats",
        type=_positive_int,
        help="seats per game of an N-player game (e.g. Snake's snakes; default: the game's); "
        "every player sits equally often in each seat when --games is a multiple of the players",
    ),
    SEED.but(help="the run's seed (new runs; default 0)"),
    _arg("--k", type=_finite, help="Elo K-factor (new runs; default 16)"),
    _arg("--initial", type=_finite, help="initial Elo (new runs; default 1500)"),
    _arg("--anchor", metavar="MEMBER", help="member whose Elo is pinned (new runs)"),
    _arg("--anchor-rating", type=_finite, help="the anchor's Elo (default: initial)"),
    FACTORY.but(
        help="a custom env factory (env_id, opponent, n_envs, seat, seed) -> VecEnv "
        "(default: thrust_envs.vs_opponent); recorded in the run"
    ),
    ENV_KWARGS.but(
        default=None,
        help="game parameters given to the env factory, e.g. '{\"points_to_win\": 3}' "
        "(new runs: recorded; a resumed run must give the recorded ones or none)",
    ),
    NO_PROGRESS,
)
LADDER = (
    RUN_DIR,
    _arg("--level", type=_level, default=0.95, help="interval level (default 0.95)"),
    _arg(
        "--matrix",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="print the win-rate matrix (default: with at most 12 members)",
    ),
    _arg("--json", action="store_true", help="print JSON instead of tables"),
)
PLAY = (
    RUN_DIR,
    _arg("a", metavar="A", help="a member"),
    _arg("b", metavar="B", help="another member"),
    _arg("--games", type=_positive_int, default=100, help="games (default 100)"),
    N_ENVS.but(help="games at once"),
    _arg("--seat", type=_seat, default="alternate", help="A's seat: 0, 1, alternate"),
    SEED.but(help="match seed (default: derived from the run)"),
    _arg("--no-record", action="store_true", help="do not record the match"),
)
PLOT = (RUN_DIR, OUTPUT.but(help="the PNG to write (default DIR/population.png)"))
SHOW = (
    RUN_DIR,
    MEMBER,
    _arg("--matches", type=_positive_int, default=10, help="last matches to list (default 10)"),
)
VERIFY = (RUN_DIR,)
TRAIN = (
    ENV,
    _arg("--population", type=_positive_int, default=4, help="main agents (default 4)"),
    _arg(
        "--seats",
        type=_positive_int,
        help="N-player games: seats per game (e.g. Snake's snakes; default: the game's)",
    ),
    _arg(
        "--learner-seats",
        type=_positive_int,
        help="N-player games: the seats a learner holds in each training game, one policy "
        "shared by them (default: half the seats); snapshots and bots fill the others",
    ),
    _arg(
        "--exploiters",
        type=_non_negative_int,
        help="two-player games: exploiters, trained against the main agents' latest snapshots "
        "only (default 0)",
    ),
    _arg(
        "--exploiter-reset",
        type=_fraction,
        metavar="SCORE",
        help="an exploiter scoring at least SCORE against every main agent restarts from its "
        "initial weights (e.g. 0.7; default: never)",
    ),
    _arg("--generations", type=_positive_int, required=True, help="generations to train"),
    _arg(
        "--steps-per-generation",
        type=_positive_int,
        default=65_536,
        help="environment steps per learner and generation: whole rollouts of n_steps x "
        "--n-envs steps (default 65536: two of PPO's 2048 x 16)",
    ),
    _matchmaking("pfsp", "training opponents: "),
    OUT.but(help="the run directory (new)"),
    *BACKEND,
    SEED.but(default=0, help="the run's seed (default 0)"),
    WORKERS,
    _arg(
        "--bots",
        help="comma-separated scripted bots in the pool (default: random and the game's bots)",
    ),
    _arg(
        "--opponents-per-generation",
        type=_positive_int,
        default=4,
        help="training opponents per learner and generation (default 4)",
    ),
    N_ENVS.but(default=16, help="games a learner trains on at once"),
    _arg("--eval-games", type=_positive_int, default=32, help="games per evaluation match"),
    _arg("--eval-n-envs", type=_positive_int, default=32, help="evaluation games at once"),
    _arg(
        "--algo",
        default="thrust_algos.ppo:PPO",
        metavar="MODULE:CLASS",
        help="an SB3 on-policy algorithm (default thrust_algos.ppo:PPO)",
    ),
    _arg("--algo-kwargs", type=_json_object, default={}, metavar="JSON", help="its arguments"),
    ENV_KWARGS,
    FACTORY,
    _arg("--no-tensorboard", action="store_true", help="no TensorBoard logs"),
    NO_PROGRESS,
)
RESUME = (
    RUN_DIR,
    _arg(
        "--generations",
        type=_positive_int,
        help="total generations (default: the number given to train)",
    ),
    WORKERS,
    *BACKEND,
    _arg(
        "--tensorboard",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write TensorBoard logs from now on (default: as the run was trained)",
    ),
    NO_PROGRESS,
)
EXPORT = (
    RUN_DIR,
    MEMBER.but(help="a member name, e.g. L0-g10"),
    _arg("--format", choices=("numpy", "onnx", "web"), default="numpy", help="the format"),
    OUTPUT.but(help="the file (default DIR/exports/MEMBER.npz|.onnx|.html)"),
)


# ---------------------------------------------------------------------------------------------
# Commands


class Command(NamedTuple):
    """A sub-command: what runs it (parsed arguments -> exit status), its help line, its
    description and its arguments (in the order ``--help`` lists them)."""

    run: Callable[[argparse.Namespace], int]
    help: str
    description: str
    arguments: tuple[Argument, ...]


COMMANDS: dict[str, Command] = {
    "tournament": Command(
        commands.tournament,
        "rate players in a new or resumed run",
        "Play matches between the players until the run holds --games games, then print the "
        "ladder. Re-running on the same --out resumes (new players join). On an N-player game "
        "(e.g. Thrust/Snake-v0 with --seats 4) each game seats --seats players in rotation and "
        "rates them from the game's placement.",
        TOURNAMENT,
    ),
    "ladder": Command(
        commands.ladder,
        "print the ratings of a run",
        "Print Elo, Bradley–Terry ratings with confidence intervals, Nash averages, games and "
        "score of every member, and the win-rate matrix.",
        LADDER,
    ),
    "play": Command(
        commands.play,
        "play a head-to-head match between two members",
        "Play games between members A and B (A's seat alternates by default), print the result "
        "and record it in the run.",
        PLAY,
    ),
    "plot": Command(
        commands.plot,
        "plot ratings over time, and win rates or placements",
        "Write a PNG. Two-player run: every member's Elo over the run and the win-rate matrix "
        "as a heatmap (with a league's snapshot lineages, their Bradley–Terry ratings by "
        "generation as well). N-player run: every member's Plackett–Luce mu (a ± sigma band) "
        "over the run and each member's share of games at each place as a heatmap.",
        PLOT,
    ),
    "show": Command(
        commands.show,
        "describe one member",
        "Print a member's kind, lineage, ratings, record and last matches.",
        SHOW,
    ),
    "verify": Command(
        commands.verify,
        "check a run's database",
        "Run PRAGMA integrity_check and compare the stored Elo ratings with a replay of the "
        "whole match log (exit status 1 on a mismatch).",
        VERIFY,
    ),
    "train": Command(
        commands.train,
        "train a league of learners by self-play",
        "Create a league run and train it: each generation, each learner trains against "
        "opponents chosen by the matchmaker among earlier snapshots and the scripted bots, is "
        "frozen as a snapshot, and the new snapshots play evaluation matches that update the "
        "ratings. Interrupted, it continues with 'resume DIR'. On an N-player game (e.g. "
        "Thrust/Snake-v0) a learner holds --learner-seats seats of every training game (one "
        "shared policy), the matchmaker's draws fill the others, and the evaluation games seat "
        "the new snapshots, their parents and the bots in rotation, rated from placements.",
        TRAIN,
    ),
    "resume": Command(
        commands.resume,
        "continue an interrupted league",
        "Continue a league run from its last completed generation (the generation that was in "
        "flight is redone, reusing the snapshots it had frozen).",
        RESUME,
    ),
    "export": Command(
        commands.export,
        "export a league snapshot",
        "Write a member (an SB3 snapshot) as a thrust_export numpy (.npz) or ONNX policy, or "
        "as a web page (.html) where it plays the run's game.",
        EXPORT,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``thrust-population``: the global options, then a sub-parser per
    entry of :data:`COMMANDS`."""
    parser = _Parser(
        prog=PROG,
        description="Rate populations of players of two-player games (tournaments, Elo and "
        "Bradley–Terry ladders, head-to-head matches and plots) and of N-player games "
        "(placements rated with openskill's Plackett–Luce), stored in an SQLite run directory.",
    )
    parser.add_argument(
        "--lock-timeout",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="how long to wait for a database locked by another process (default 5)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        command_parser = sub.add_parser(name, help=command.help, description=command.description)
        for argument in command.arguments:
            command_parser.add_argument(*argument.flags, **argument.options)
    return parser


def _report(message: str) -> None:
    """Print ``message`` as one line on stderr."""
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)


def _run(args: argparse.Namespace) -> str:
    """The run directory a command works on."""
    return str(args.out if hasattr(args, "out") else args.run)


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
        return COMMANDS[args.command].run(args)
    except BrokenPipeError:
        # the reader of stdout went away (``ladder --json | head``): stop quietly, and keep
        # Python's flush at exit from reporting the same
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 1
    except BackendError as exc:  # a runtime failure, not the user's input
        _report(f"{exc}; completed generations are kept, continue with: {PROG} resume {_run(args)}")
        return 1
    except (GameUnavailable, SpecError, StoreError, ValueError, OSError, ImportError) as exc:
        _report(str(exc))
        return 2
    except sqlite3.Error as exc:  # e.g. a full disk while SQLite writes
        _report(f"database error: {exc}")
        return 2
    except KeyboardInterrupt:
        if args.command in ("train", "resume"):
            _report(
                f"interrupted; completed generations are kept, continue with: {PROG} resume "
                f"{_run(args)}"
            )
        else:
            _report("interrupted; committed batches are kept, run the command again to resume")
        return 130


if __name__ == "__main__":
    sys.exit(main())
