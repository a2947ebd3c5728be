"""A stock Stable-Baselines3 script: SAC on Thrust/Pendulum-v1 through thrust_envs.sb3.

Only the env line is Thrust's; everything else is plain SB3. Reaches a mean return above
-200 over 20 evaluation episodes (Gymnasium's Pendulum-v1 is "solved" around -150 to -200).

    python examples/sb3_pendulum.py [--timesteps 12000] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import torch
from stable_baselines3 import SAC
from stable_baselines3.common.evaluation import evaluate_policy

from thrust_envs.sb3 import make_vec_env


def train(timesteps: int = 12_000, seed: int = 0) -> tuple[float, float, float]:
    """Train SAC and return (mean return, std, seconds of training)."""
    torch.set_num_threads(1)  # a 256-256 MLP gains nothing from intra-op threads
    env = make_vec_env("Thrust/Pendulum-v1", n_envs=1, seed=seed)
    model = SAC("MlpPolicy", env, learning_rate=1e-3, seed=seed, device="cpu", verbose=0)
    start = time.perf_counter()
    model.learn(total_timesteps=timesteps)
    seconds = time.perf_counter() - start
    eval_env = make_vec_env("Thrust/Pendulum-v1", n_envs=4, seed=seed + 1000)
    mean, std = evaluate_policy(model, eval_env, n_eval_episodes=20, deterministic=True)
    return float(mean), float(std), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=12_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    mean, std, seconds = train(args.timesteps, args.seed)
    print(
        f"SAC on Thrust/Pendulum-v1: mean return {mean:.1f} +/- {std:.1f} over 20 episodes "
        f"after {args.timesteps} steps ({seconds:.0f} s of training)"
    )


if __name__ == "__main__":
    main()
