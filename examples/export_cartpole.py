"""Train PPO on Thrust/CartPole-v1, export it to numpy and ONNX, and run both exports without torch.

    python examples/export_cartpole.py                 # 6k steps, well under a minute
    python examples/export_cartpole.py --timesteps 2048 --out-dir exported

Steps:

1. train a PPO ``MlpPolicy`` with Stable-Baselines3 (needs torch);
2. export it with ``thrust_export.export_numpy`` (one ``.npz``) and ``thrust_export.export_onnx``,
   and check both against SB3's ``predict`` on random observations;
3. in a fresh Python process where importing torch is *blocked*, load the ``.npz`` with
   ``thrust_export.load`` and the ``.onnx`` with onnxruntime, and play CartPole episodes with each.

The exported policies are deterministic, so with the same episode seeds they play exactly the
episodes SB3's ``model.predict(obs, deterministic=True)`` plays: the script checks that the
returns are identical.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import gymnasium as gym
import numpy as np

import thrust_envs  # noqa: F401  (registers Thrust/CartPole-v1)
import thrust_export

# Runs in the torch-free child process: only numpy, gymnasium, onnxruntime and thrust_export.
RUN_WITHOUT_TORCH = textwrap.dedent(
    """
    import json, sys

    class BlockTorch:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "stable_baselines3"):
                raise ImportError(f"{name} is blocked: this process runs the exports without torch")
            return None

    sys.meta_path.insert(0, BlockTorch())

    import gymnasium as gym
    import thrust_envs  # torch-free: registers Thrust/CartPole-v1
    import thrust_export

    npz_path, onnx_path, seeds = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    policies = {
        "numpy": thrust_export.load(npz_path),       # pure numpy
        "onnx": thrust_export.OnnxPolicy(onnx_path),  # onnxruntime
    }
    returns = {}
    env = gym.make("Thrust/CartPole-v1")
    for name, policy in policies.items():
        returns[name] = []
        for seed in seeds:
            obs, _ = env.reset(seed=seed)
            total, done = 0.0, False
            while not done:
                action, _ = policy.predict(obs)
                obs, reward, terminated, truncated, _ = env.step(int(action))
                total += float(reward)
                done = terminated or truncated
            returns[name].append(total)
    assert "torch" not in sys.modules
    print(json.dumps(returns))
    """
)


def play_sb3(model: object, seeds: list[int]) -> list[float]:
    """Episode returns of SB3's deterministic predict, one episode per seed."""
    env = gym.make("Thrust/CartPole-v1")
    returns = []
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            action, _ = model.predict(obs, deterministic=True)  # type: ignore[attr-defined]
            obs, reward, terminated, truncated, _ = env.step(int(action))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return returns


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Train, export and run a CartPole policy without torch."
    )
    parser.add_argument("--timesteps", type=int, default=6_000, help="PPO training steps")
    parser.add_argument("--episodes", type=int, default=3, help="evaluation episodes per runner")
    parser.add_argument(
        "--out-dir", type=Path, default=None, help="where to write (default: a temp dir)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch
    from stable_baselines3 import PPO  # only the training/export side needs torch

    # A 64-64 MLP gains nothing from intra-op threads, and on a small shared machine torch's
    # thread pool can make training an order of magnitude slower.
    torch.set_num_threads(1)

    out_dir = args.out_dir or Path(tempfile.mkdtemp(prefix="thrust-export-cartpole-"))
    out_dir.mkdir(parents=True, exist_ok=True)

    # 1. Train.
    from thrust_envs.sb3 import make_vec_env

    env = make_vec_env("Thrust/CartPole-v1", n_envs=4, seed=args.seed)
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=64, seed=args.seed, device="cpu")
    model.learn(total_timesteps=args.timesteps)
    model.save(out_dir / "ppo_cartpole.zip")

    # 2. Export to both formats and check them against SB3 on random observations.
    npz_path = thrust_export.export_numpy(model, out_dir / "ppo_cartpole.npz")
    onnx_path = thrust_export.export_onnx(model, out_dir / "ppo_cartpole.onnx")
    for path in (npz_path, onnx_path):
        report = thrust_export.check_parity(model, path, n=2000)
        print(f"{path.name} ({path.stat().st_size / 1024:.1f} KiB): {report.summary()}")
        if not report.passed:
            return 1

    # 3. Run both exports in a process where torch cannot be imported.
    seeds = list(range(100, 100 + args.episodes))
    package_root = str(Path(thrust_export.__file__).resolve().parents[1])
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
    )
    child = subprocess.run(
        [sys.executable, "-c", RUN_WITHOUT_TORCH, str(npz_path), str(onnx_path), json.dumps(seeds)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if child.returncode != 0:
        print(child.stderr, file=sys.stderr)
        return 1
    returns = json.loads(child.stdout)
    returns["sb3"] = play_sb3(model, seeds)
    for name in ("sb3", "numpy", "onnx"):
        print(
            f"{name:>5} returns over {args.episodes} episodes: {returns[name]} "
            f"(mean {np.mean(returns[name]):.1f})"
        )
    same = returns["numpy"] == returns["sb3"] == returns["onnx"]
    print("torch-free runs reproduce SB3's episodes exactly:", same)
    print(f"artifacts in {out_dir}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
