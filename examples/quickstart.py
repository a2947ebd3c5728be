"""Thrust quickstart: Thrust/CartPole as a Gymnasium env and a vector env and its speed, a
policy trained with SB3 and exported to pure numpy and ONNX (run without torch), and SB3's
PPO with one import changed to thrust_algos.

Run with ``./dev.sh quickstart`` (sets everything up), or ``python examples/quickstart.py``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

import thrust_envs  # noqa: F401  (registers the Thrust IDs)

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the other examples


def steps_per_second(env, num_envs: int, seconds: float = 1.0) -> float:
    rng = np.random.default_rng(0)
    actions = [rng.integers(0, 2, num_envs) for _ in range(32)]
    env.reset(seed=0)
    for k in range(10):
        env.step(actions[k])
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for k in range(64):
            env.step(actions[k & 31])
        count += 64
    return count * num_envs / (time.perf_counter() - start)


def main() -> None:
    # 1. A single environment, exactly Gymnasium's CartPole-v1.
    env = gym.make("Thrust/CartPole-v1")
    obs, info = env.reset(seed=42)
    episode_return, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        episode_return += reward
        done = terminated or truncated
    reference = gym.make("CartPole-v1")
    same = np.array_equal(env.reset(seed=7)[0], reference.reset(seed=7)[0])
    print(
        f"single env: one random episode returned {episode_return:.0f}; "
        f"same reset as Gymnasium's CartPole-v1 for seed 7: {same}"
    )

    # 2. Thousands of environments, one numba kernel call per step.
    print("\nenv-steps per second, Thrust against Gymnasium's own vectorised CartPole:")
    print(f"{'num_envs':>9} {'Thrust':>12} {'Gymnasium':>12} {'ratio':>7}")
    for n in (16, 4096):
        ours = steps_per_second(gym.make_vec("Thrust/CartPole-v1", num_envs=n), n)
        theirs = steps_per_second(
            gym.make_vec("CartPole-v1", num_envs=n, vectorization_mode="vector_entry_point"), n
        )
        print(f"{n:>9} {ours / 1e6:>11.2f}M {theirs / 1e6:>11.2f}M {ours / theirs:>6.1f}x")

    ours = steps_per_second(_SingleAsBatch(gym.make("Thrust/CartPole-v1")), 1)
    theirs = steps_per_second(_SingleAsBatch(gym.make("CartPole-v1")), 1)
    print(f"{'single':>9} {ours / 1e6:>11.3f}M {theirs / 1e6:>11.3f}M {ours / theirs:>6.1f}x")

    # 3. Train PPO on it, export to numpy and ONNX, and play with both in a torch-free process.
    print("\nexport: PPO on Thrust/CartPole-v1 -> numpy and ONNX, run without torch")
    import export_cartpole

    exported = Path(tempfile.mkdtemp(prefix="thrust-quickstart-"))
    if export_cartpole.main(["--out-dir", str(exported)]) != 0:
        raise SystemExit("export step failed")
    # The same policy as one web page: it plays CartPole in a browser, no Python, no server.
    import thrust_export

    page = thrust_export.export_web(
        exported / "ppo_cartpole.npz", exported / "cartpole.html", env_id="Thrust/CartPole-v1"
    )
    print(f"web page: {page}  (open {page.as_uri()} in a browser)")

    # 4. thrust_algos: an SB3 PPO script with one import changed, on Thrust/CartPole-v1.
    print("\nthrust_algos: SB3's PPO, one import changed, on Thrust/CartPole-v1")
    import sb3_drop_in

    if sb3_drop_in.main([]) != 0:
        raise SystemExit("thrust_algos step failed")

    # 5. thrust_population: a short self-play league on Pong; `train` ends with its ladder.
    print("\nthrust_population: a short Pong league (2 learners, 2 generations), then the ladder")
    import subprocess

    run = Path(tempfile.mkdtemp(prefix="thrust-league-")) / "pong"
    cli = [sys.executable, "-m", "thrust_population"]
    train = [
        "train",
        "--env",
        "Thrust/Pong-v0",
        "--population",
        "2",
        "--generations",
        "2",
        "--steps-per-generation",
        "32768",  # one rollout: PPO's n_steps 2048 x 16 envs
        "--n-envs",
        "16",
        "--eval-games",
        "32",
        "--out",
        str(run),
        "--seed",
        "0",
        "--no-progress",
        "--no-tensorboard",
    ]
    subprocess.run(cli + train, check=True)  # ends with the run's ladder
    print(f"\nthe run stays in {run} (see `thrust-population ladder|plot|show|verify RUN`)")


class _SingleAsBatch:
    """Steps a single env with the first action of a batch, resetting finished episodes."""

    def __init__(self, env: gym.Env) -> None:
        self.env = env

    def reset(self, seed: int | None = None):
        return self.env.reset(seed=seed)

    def step(self, actions: np.ndarray):
        result = self.env.step(int(actions[0]))
        if result[2] or result[3]:
            self.env.reset()
        return result


if __name__ == "__main__":
    main()
