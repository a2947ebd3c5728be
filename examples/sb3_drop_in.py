"""A stock Stable-Baselines3 training script in which only the import line changes.

    python examples/sb3_drop_in.py                 # thrust_algos.PPO, Thrust/CartPole-v1 (fast)
    python examples/sb3_drop_in.py --gymnasium     # thrust_algos.PPO, Gymnasium's CartPole-v1
    python examples/sb3_drop_in.py --stock         # stable_baselines3.PPO, for comparison

Everything below the imports is plain SB3: hyperparameters, callbacks, evaluation, save and load.
Training stops once 20 deterministic evaluation episodes average at least 475.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch as th
from stable_baselines3.common.callbacks import EvalCallback, StopTrainingOnRewardThreshold
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from thrust_algos import PPO  # the one changed line; was: from stable_baselines3 import PPO


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stock", action="store_true", help="use stable_baselines3.PPO instead")
    parser.add_argument(
        "--gymnasium", action="store_true", help="train on Gymnasium's CartPole-v1 (DummyVecEnv)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timesteps", type=int, default=100_000)
    args = parser.parse_args(argv)

    algo = PPO
    if args.stock:
        from stable_baselines3 import PPO as algo

    th.set_num_threads(1)  # small MLPs train fastest on one thread
    if args.gymnasium or args.stock:
        env = make_vec_env("CartPole-v1", n_envs=8, seed=args.seed)
        eval_env = make_vec_env("CartPole-v1", n_envs=20, seed=10_000 + args.seed)
    else:
        # Thrust's numba CartPole (Gymnasium's physics, one kernel call a step) as an SB3 VecEnv.
        from thrust_envs.sb3 import make_vec_env as thrust_make_vec_env

        env = thrust_make_vec_env("Thrust/CartPole-v1", n_envs=8, seed=args.seed)
        eval_env = thrust_make_vec_env("Thrust/CartPole-v1", n_envs=20, seed=10_000 + args.seed)

    # RL-Zoo's PPO hyperparameters for CartPole-v1.
    model = algo(
        "MlpPolicy",
        env,
        n_steps=32,
        batch_size=256,
        gae_lambda=0.8,
        gamma=0.98,
        n_epochs=20,
        ent_coef=0.0,
        learning_rate=lambda progress: 1e-3 * progress,
        clip_range=lambda progress: 0.2 * progress,
        seed=args.seed,
        device="cpu",
    )
    stop = StopTrainingOnRewardThreshold(reward_threshold=475, verbose=0)
    eval_callback = EvalCallback(
        eval_env,
        callback_on_new_best=stop,
        n_eval_episodes=20,
        eval_freq=5_000 // env.num_envs,
        verbose=0,
    )

    start = time.perf_counter()
    model.learn(args.timesteps, callback=eval_callback)
    seconds = time.perf_counter() - start

    mean, std = evaluate_policy(model, eval_env, n_eval_episodes=20, deterministic=True)
    print(
        f"{type(model).__module__}.{type(model).__name__}: {model.num_timesteps} steps in "
        f"{seconds:.1f} s (evaluations included); 20 fresh episodes return {mean:.1f} +/- {std:.1f}"
    )
    with tempfile.TemporaryDirectory() as folder:
        model.save(Path(folder) / "ppo_cartpole")  # loads in stock SB3 as well
        reloaded = algo.load(Path(folder) / "ppo_cartpole", device="cpu")
    mean, _ = evaluate_policy(reloaded, eval_env, n_eval_episodes=20, deterministic=True)
    print(f"reloaded from disk: 20 fresh episodes return {mean:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
