"""``Thrust/Pong-v0`` in PettingZoo's module layout: ``parallel_env``, ``env``, ``raw_env``."""

from __future__ import annotations

from thrust_envs.core.game_views import pettingzoo_constructors
from thrust_envs.multiagent.pong import DEFINITION, PongParams, random_bot, tracker_bot

parallel_env, env = pettingzoo_constructors(DEFINITION)
raw_env = env

__all__ = [
    "DEFINITION",
    "PongParams",
    "env",
    "parallel_env",
    "random_bot",
    "raw_env",
    "tracker_bot",
]
