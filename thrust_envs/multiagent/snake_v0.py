"""``Thrust/Snake-v0`` in PettingZoo's module layout: ``parallel_env``, ``env``, ``raw_env``."""

from __future__ import annotations

from thrust_envs.core.game_views import pettingzoo_constructors
from thrust_envs.multiagent.snake import DEFINITION, SnakeParams, greedy_bot, random_bot

parallel_env, env = pettingzoo_constructors(DEFINITION)
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
