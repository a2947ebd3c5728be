"""Benchmark: batched matches against one game at a time, and rating refits at scale.

    python benchmarks/population.py                     # Pong, then 100 members x 100k matches
    python benchmarks/population.py --quick             # smoke run, numbers meaningless
    PYTHONPATH=tests python benchmarks/population.py --env Toy/LongDuel-v0 \\
        --factory population_helpers:vs_opponent --players level:2,level:3

Part 1, games per second, one run, side by side. The same two players (default Pong's
``tracker:0.5`` against ``random``) play ``--games`` games through
``thrust_population.play_match`` with the env factory (default ``thrust_envs.vs_opponent``):

- one game at a time: one 1-env VecEnv that plays the games one after the other (the same
  machinery, no set-up per game, so the ratio is not flattered);
- batched: ``n_envs`` games at once in one VecEnv, for each ``--n-envs`` value (at least four
  games a row, so that waiting for the last games of a match stays a small part of it).

Each figure is the median of ``--repeats`` runs (the fastest is printed too); games and env
steps per second are printed with the speed-up over one game at a time.

Part 2, rating refit time for ``--members`` members (default 100) and ``--matches`` matches
(default 100k) of ``--games-per-match`` games between random pairs with known Bradley–Terry
strengths, stored in a real run database (one transaction per 1,000 matches):

- aggregating the record in SQL (``Store.counts``), then the Bradley–Terry refit with its
  intervals (``bradley_terry``), then both as ``compute_ladder`` does with Nash averaging too;
- replaying the whole log through online Elo (``Store.recompute_elo``, what the crash check
  does), and writing the record (``record_batch``).

Part 3 (``--snapshots``, Thrust games only), SB3 snapshots as players: two PPO ``MlpPolicy``
models (fresh, seeds 0 and 1; speed does not depend on training) play a match of ``--games``
games at 64 envs, once through SB3's ``predict`` and once through the in-memory numpy forward
the population uses (``thrust_export.to_numpy_policy``), same run, one torch thread; the two
must give the same games.

OpenBLAS gets ``--threads`` threads (default 1, set before numpy is imported): on a small,
shared machine its spinning worker threads make a 100x100 solve hundreds of times slower.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from common import blas_threads_from_argv, header, make_parser

# numpy's OpenBLAS reads its thread count when numpy is first imported: set it before that.
if __name__ == "__main__":
    blas_threads_from_argv(sys.argv[1:])

import numpy as np

from thrust_population.matches import (
    MatchResult,
    load_env_factory,
    play_match,
    probe_game,
)
from thrust_population.players import make_bot

Timing = tuple[float, float]  # (median, min) seconds


def _timed(fn: Callable[[], object], repeats: int) -> tuple[Timing, object]:
    fn()  # warm-up (numba compilation, caches)
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return (statistics.median(times), min(times)), out


def bench_games(
    env_id: str,
    factory_path: str | None,
    players: tuple[str, str],
    games: int,
    n_envs_list: list[int],
    repeats: int,
) -> list[str]:
    """Games per second: batched matches against one game at a time, one table."""
    factory = load_env_factory(factory_path)
    game = probe_game(env_id, factory)

    def match(n_envs: int, n_games: int) -> MatchResult:
        return play_match(
            env_id,
            make_bot(players[0], game, 1),
            make_bot(players[1], game, 2),
            n_games,
            n_envs=n_envs,
            seed=0,
            env_factory=factory,
        )

    rows = []
    baseline = None
    for n_envs in [1, *n_envs_list]:
        n_games = max(games, 4 * n_envs)  # >= 4 games a row: the last games' tail stays small
        (median, best), result = _timed(lambda n=n_envs, g=n_games: match(n, g), repeats)
        assert isinstance(result, MatchResult) and result.games == n_games
        rate = n_games / median
        if baseline is None:
            baseline = rate
        label = "one game at a time (1 env)" if n_envs == 1 else f"batched, {n_envs} envs"
        rows.append(
            f"| {label} | {n_games} | {rate:,.1f} ({n_games / best:,.1f}) | "
            f"{result.steps * n_envs / median:,.0f} | {rate / baseline:.1f}x | "
            f"{result.wins}-{result.draws}-{result.losses} |"
        )
    return [
        f"Games: {env_id}, {players[0]} (A) vs {players[1]}, seats alternating, factory "
        f"{factory_path or 'thrust_envs.vs_opponent'}; median (fastest) of {repeats} runs. "
        "Row-steps count every env row stepped, including rows past their quota of games.",
        "",
        "| Path | games a match | games/s | row-steps/s | speed-up | A's W-D-L |",
        "|---|---:|---:|---:|---:|---:|",
        *rows,
    ]


def bench_ratings(members: int, matches: int, games_per_match: int, repeats: int) -> list[str]:
    """Refit times on a run database of ``matches`` matches between ``members`` members."""
    from thrust_population.gametheory import nash_averaging, payoff_matrix
    from thrust_population.population import compute_ladder
    from thrust_population.ratings import bradley_terry, spearman
    from thrust_population.store import Store

    rng = np.random.default_rng(0)
    truth = rng.normal(0.0, 300.0, members)
    a = rng.integers(members, size=matches)
    b = (a + 1 + rng.integers(members - 1, size=matches)) % members
    p = 1.0 / (1.0 + 10.0 ** ((truth[b] - truth[a]) / 400.0))
    wins = rng.binomial(games_per_match, p)
    names = [f"m{i:03d}" for i in range(members)]
    outcomes = ["W" * w + "L" * (games_per_match - w) for w in wins]
    results = [
        (names[x], names[y], MatchResult("Bench-v0", "alternate", i, 8, text, 0.0, 1))
        for i, (x, y, text) in enumerate(zip(a.tolist(), b.tolist(), outcomes, strict=True))
    ]
    scratch = tempfile.TemporaryDirectory(prefix="thrust-population-bench-")
    store = Store.create(Path(scratch.name) / "run", "Bench-v0")
    for name in names:
        store.add_member(name, "bot", "random")
    start = time.perf_counter()
    for k in range(0, matches, 1000):
        store.record_batch(results[k : k + 1000])
    write_seconds = time.perf_counter() - start

    timings: dict[str, Timing] = {}
    timings["SQL aggregation (Store.counts)"], (_, score, games) = _timed(store.counts, repeats)
    timings["Bradley–Terry refit + 95% intervals"], fit = _timed(
        lambda: bradley_terry(score, games), repeats
    )
    timings["Nash averaging (max-entropy Nash)"], _ = _timed(
        lambda: nash_averaging(payoff_matrix(score, games)), repeats
    )
    timings["whole ladder (compute_ladder: SQL + BT + Nash)"], _ = _timed(
        lambda: compute_ladder(store), repeats
    )
    timings["Elo replay of the log (Store.recompute_elo)"], replayed = _timed(
        store.recompute_elo, max(1, repeats // 3)
    )
    assert replayed == store.ratings()
    rho = spearman(fit.ratings, truth)  # type: ignore[union-attr]
    mae = float(np.abs(fit.ratings - fit.ratings.mean() - (truth - truth.mean())).mean())  # type: ignore[union-attr]
    store.close()
    scratch.cleanup()
    lines = [
        f"Ratings: {members} members, {matches:,} matches of {games_per_match} games "
        f"({matches * games_per_match:,} games) in a run database; median (fastest) of "
        f"{repeats} runs.",
        "",
        "| Step | time |",
        "|---|---:|",
    ]
    for label, (median, best) in timings.items():
        lines.append(f"| {label} | {_seconds(median)} ({_seconds(best)}) |")
    lines.append(
        f"| writing the record: {matches // 1000} transactions of 1,000 matches | "
        f"{_seconds(write_seconds)} |"
    )
    lines += [
        "",
        f"Bradley–Terry against the true strengths: Spearman {rho:.4f}, mean absolute error "
        f"{mae:.1f} Elo ({fit.iterations} Newton iterations).",  # type: ignore[union-attr]
    ]
    return lines


def bench_snapshots(env_id: str, games: int, repeats: int, n_envs: int = 64) -> list[str]:
    """A match between two SB3 snapshots: SB3's predict against the numpy forward."""
    import torch
    from stable_baselines3 import PPO

    import thrust_envs
    import thrust_export
    from thrust_population.players import policy_from_model

    torch.set_num_threads(1)
    models = []
    for seed in (0, 1):
        venv = thrust_envs.vs_opponent(env_id, make_bot("random", probe_game(env_id), 0), 4)
        models.append(PPO("MlpPolicy", venv, seed=seed, device="cpu"))
        venv.close()
    sides = {
        "SB3 predict": [policy_from_model(m) for m in models],
        "numpy forward (to_numpy_policy)": [
            policy_from_model(thrust_export.to_numpy_policy(m)) for m in models
        ],
    }
    rows, baseline, outcomes = [], None, set()
    for label, (a, b) in sides.items():
        (median, best), result = _timed(
            lambda a=a, b=b: play_match(env_id, a, b, games, n_envs=n_envs, seed=0), repeats
        )
        assert isinstance(result, MatchResult)
        outcomes.add(result.outcomes)
        steps = result.steps / median
        baseline = baseline or steps
        rows.append(
            f"| {label} | {games} | {games / median:,.1f} ({games / best:,.1f}) | "
            f"{steps:,.0f} | {steps / baseline:.1f}x |"
        )
    same = "same games on both paths" if len(outcomes) == 1 else "THE GAMES DIFFER"
    return [
        f"Snapshots: {env_id}, two fresh PPO MlpPolicy models, {n_envs} games at once, one "
        f"torch thread; median (fastest) of {repeats} runs; {same}.",
        "",
        "| Players | games | games/s | VecEnv steps/s | speed-up |",
        "|---|---:|---:|---:|---:|",
        *rows,
    ]


def _seconds(value: float) -> str:
    return f"{value * 1e3:,.1f} ms" if value < 1 else f"{value:,.2f} s"


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser(__doc__)
    parser.add_argument("--env", default="Thrust/Pong-v0")
    parser.add_argument("--factory", default=None, metavar="MODULE:FUNCTION")
    parser.add_argument("--players", default="tracker:0.5,random", help="A,B (bot specs)")
    parser.add_argument("--games", type=int, default=256, help="games per timed match")
    parser.add_argument("--n-envs", default="16,64,256", help="batched sizes to time")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--matches", type=int, default=100_000)
    parser.add_argument("--games-per-match", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="OpenBLAS threads (default 1)")
    parser.add_argument("--skip-games", action="store_true", help="only the rating refit")
    parser.add_argument("--skip-ratings", action="store_true", help="only the games")
    parser.add_argument("--snapshots", action="store_true", help="also SB3 snapshots as players")
    args = parser.parse_args(argv)
    if args.quick:
        args.games, args.repeats, args.n_envs = 16, 1, "16"
        args.members, args.matches = 20, 2000
    players = tuple(p.strip() for p in args.players.split(","))
    if len(players) != 2:
        parser.error("--players takes two specs, A,B")
    blas = f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"
    print(header("Population: batched matches and rating refits", __file__, argv, blas))
    print()
    if not args.skip_games:
        n_envs = [int(x) for x in args.n_envs.split(",") if x.strip()]
        lines = bench_games(args.env, args.factory, players, args.games, n_envs, args.repeats)
        print("\n".join(lines))
        print()
    if args.snapshots:
        print("\n".join(bench_snapshots(args.env, args.games, args.repeats)))
        print()
    if not args.skip_ratings:
        lines = bench_ratings(args.members, args.matches, args.games_per_match, args.repeats)
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
