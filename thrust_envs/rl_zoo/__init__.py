"""RL Baselines3 Zoo hyperparameter files for the Thrust IDs (``ppo.yml``).

``python -m rl_zoo3.train --algo ppo --env Thrust/CartPole-v1 --gym-packages thrust_envs
--conf-file $(python -c "import thrust_envs.rl_zoo as z; print(z.hyperparams('ppo'))")``
"""

from __future__ import annotations

from pathlib import Path

ALGOS = ("ppo",)


def hyperparams(algo: str = "ppo") -> Path:
    """The path of the shipped RL Zoo hyperparameter file for ``algo`` (one of ``ALGOS``)."""
    if algo not in ALGOS:
        raise ValueError(f"no RL Zoo hyperparameters shipped for algo {algo!r}; shipped: {ALGOS}")
    return Path(__file__).with_name(f"{algo}.yml")
