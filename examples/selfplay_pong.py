"""League self-play on Thrust/Pong: learners train against each other's snapshots and the
scripted bots, then the newest snapshot plays the bots.

Each generation, each learner (thrust_algos.PPO, one process per learner up to the CPU count)
trains against opponents that PFSP draws from the pool: the scripted bots and every earlier
snapshot, favouring those it loses to. The new snapshots join the pool, play batched evaluation
matches, and their ratings are updated. At the end, the newest snapshot of every learner plays
fresh games (not recorded) against every bot in the pool (the random bot, and the ball-tracking
bot at its default reaction and at reaction 1.0), and the rating curve is drawn (the CLI's
``plot``).

    python examples/selfplay_pong.py [--out runs/selfplay_pong] [--generations 16] [--seed 0]

Interrupted (even by kill -9), the same command continues the league where it stopped. The same
league from the shell::

    thrust-population train --env Thrust/Pong-v0 --population 2 --generations 16 \\
        --steps-per-generation 401408 --bots random,tracker,tracker:1.0 --n-envs 64 \\
        --eval-games 64 --eval-n-envs 64 \\
        --algo-kwargs '{"n_steps": 128, "batch_size": 2048, "n_epochs": 4, "ent_coef": 0.01}' \\
        --out runs/selfplay_pong
    thrust-population plot runs/selfplay_pong -o runs/selfplay_pong/ratings.png
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from thrust_population import League, LeagueConfig
from thrust_population.league import GenerationReport
from thrust_population.plotting import plot_run
from thrust_population.store import Store

GAME = "Thrust/Pong-v0"
#: PPO settings (the rest are SB3's defaults): large rollouts over 64 games at once.
PPO_KWARGS = {"n_steps": 128, "batch_size": 2048, "n_epochs": 4, "ent_coef": 0.01}
FINAL_GAMES = 200
#: The scripted bots in the pool: PFSP trains most against those the learner still loses to, and
#: the faster tracker keeps teaching angled shots once the default one is beaten.
BOTS = ("random", "tracker", "tracker:1.0")


def league_config(population: int, steps_per_generation: int) -> LeagueConfig:
    return LeagueConfig(
        learners=population,
        steps_per_generation=steps_per_generation,
        matchmaking="pfsp",
        bots=BOTS,
        opponents_per_generation=4,
        n_envs=64,
        eval_games=64,
        eval_n_envs=64,
        algo_kwargs=PPO_KWARGS,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/selfplay_pong"))
    parser.add_argument("--population", type=int, default=2, help="learners (default 2)")
    parser.add_argument("--generations", type=int, default=16, help="generations (default 16)")
    # 49 rollouts of n_steps 128 x 64 envs (what SB3 trained when 400,000 was asked)
    parser.add_argument("--steps-per-generation", type=int, default=401_408)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, help="learners at once (default: auto)")
    args = parser.parse_args()

    start = time.perf_counter()
    if Store.exists(args.out):
        league = League.open(args.out)
        print(f"{args.out}: continuing at generation {league.generation}")
    else:
        config = league_config(args.population, args.steps_per_generation)
        league = League.create(args.out, GAME, config, seed=args.seed)
    with league:

        def show(report: GenerationReport) -> None:
            print(report.format(), flush=True)

        league.run(args.generations, progress=True, on_generation=show, workers=args.workers)
        train_seconds = time.perf_counter() - start

        # The rating curve: Bradley–Terry ratings refitted from the whole record (online Elo
        # freezes each snapshot's rating when it stops playing).
        ladder = league.population.ladder()
        bt = {row.name: row.bt for row in ladder.rows}
        print("\nThe snapshots' Bradley–Terry ratings by generation (the rating curve):")
        print("  bots: " + "  ".join(f"{bot} {bt[bot]:.0f}" for bot in league.bots))
        for g in range(league.generation + 1):
            row = "  ".join(f"{n} {bt[n]:6.0f}" for n in league.snapshots(g))
            print(f"  generation {g:>2}: {row}")

        print(f"\nThe newest snapshots against the bots ({FINAL_GAMES} fresh games each):")
        for name in league.learners():
            scores = []
            for bot in league.bots:
                result = league.population.play(
                    name, bot, FINAL_GAMES, n_envs=100, seed=10_000 + args.seed, record=False
                )
                rate = result.points / result.games
                record = f"{result.wins}-{result.draws}-{result.losses}"
                scores.append(f"vs {bot}: {rate:.3f} ({record})")
            print(f"  {name}: " + "  ".join(scores))

        picture = plot_run(league.store, args.out / "ratings.png")
        print(f"\nladder:\n{league.population.ladder().format()}")
        print(f"rating curve: {picture}")
        total = time.perf_counter() - start
        print(f"league: {train_seconds:.0f} s; with the final games and the plot: {total:.0f} s")


if __name__ == "__main__":
    main()
