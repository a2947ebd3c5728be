"""``Thrust/Snake-v0`` in PettingZoo's module layout: ``parallel_env``, ``env``, ``raw_env``."""

from __future__ import annotations

from typing import Any

from pettingzoo.utils.conversions import parallel_to_aec

from thrust_envs.core.game_views import ThrustParallelEnv
from thrust_envs.multiagent.snake import DEFINITION, SnakeParams, greedy_bot, random_bot


def parallel_env(**kwargs: Any) -> ThrustParallelEnv:
    """One game of Snake as a PettingZoo ``ParallelEnv``; keyword arguments are
    :class:`SnakeParams` fields and ``render_mode``."""
    return ThrustParallelEnv(DEFINITION, **kwargs)


def env(**kwargs: Any):
    """The AEC form, through PettingZoo's ``parallel_to_aec`` (order-enforcing)."""
    return parallel_to_aec(parallel_env(**kwargs))


raw_env = env

__all__ = [
    "DEFINITION",
    "SnakeParams",
    "env",
    "greedy_bot",
    "parallel_env",
    "random_bot",
    "raw_env",
]
