"""Stock Stable-Baselines3 PPO learns Thrust/Pong against the ball-tracking bot.

The learner plays one seat in each of 64 games at once (seats alternate), the scripted
opponent the other, through ``thrust_envs.vs_opponent``. It starts against the random bot and
switches to the tracker (default reaction 0.5) with ``set_opponent``, which each game adopts
at its next episode boundary. Every evaluation plays 200 fresh games against the tracker.

    python examples/sb3_pong_shared.py [--timesteps 3000000] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from stable_baselines3 import PPO

import thrust_envs
from thrust_envs.multiagent.pong import random_bot, tracker_bot

GAME = "Thrust/Pong-v0"


def win_rate(model: PPO, opponent, games: int = 200, seed: int = 10_000) -> float:
    """Fraction of ``games`` the model wins (draws count half) against ``opponent``."""
    venv = thrust_envs.vs_opponent(GAME, opponent, n_envs=100, seed=seed)
    obs = venv.reset()
    results: list[float] = []
    while len(results) < games:
        actions, _ = model.predict(obs, deterministic=True)
        obs, _, dones, infos = venv.step(actions)
        results += [np.sign(infos[i]["episode"]["r"]) for i in np.flatnonzero(dones)]
    scores = (np.array(results[:games]) + 1) / 2
    return float(scores.mean())


def train(timesteps: int = 3_000_000, seed: int = 0, target: float = 0.8, verbose: bool = True):
    """Train until the win rate against tracker(0.5) reaches ``target`` or ``timesteps``
    run out; return (win rate, steps, seconds)."""
    torch.set_num_threads(1)
    venv = thrust_envs.vs_opponent(GAME, random_bot(seed), n_envs=64, seed=seed)
    model = PPO(
        "MlpPolicy",
        venv,
        n_steps=128,
        batch_size=2048,
        n_epochs=4,
        learning_rate=3e-4,
        gamma=0.99,
        gae_lambda=0.95,
        ent_coef=0.01,
        seed=seed,
        device="cpu",
    )
    start, steps, rate = time.perf_counter(), 0, 0.0
    chunk = 250_000  # evaluated after each; the last one is what is left of timesteps
    while steps < timesteps:
        model.learn(min(chunk, timesteps - steps), reset_num_timesteps=False)
        first = steps == 0
        steps = model.num_timesteps  # whole rollouts of 64 x 128 steps
        if first:
            venv.set_opponent(tracker_bot(0.5))  # from each game's next episode on
        rate = win_rate(model, tracker_bot(0.5))
        if verbose:
            print(
                f"{steps:>9} steps  {time.perf_counter() - start:6.0f} s  "
                f"win rate vs tracker:0.5 {rate:.2f}",
                flush=True,
            )
        if rate >= target:
            break
    return rate, steps, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--timesteps", type=int, default=3_000_000, help="at most (rounded up to a rollout)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.timesteps < 1:
        parser.error(f"--timesteps must be at least 1, got {args.timesteps}")
    rate, steps, seconds = train(args.timesteps, args.seed)
    print(f"final win rate against tracker:0.5: {rate:.2f} after {steps} steps ({seconds:.0f} s)")


if __name__ == "__main__":
    main()
