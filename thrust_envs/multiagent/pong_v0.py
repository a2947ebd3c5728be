"""``Thrust/Pong-v0`` in PettingZoo's module layout: ``parallel_env``, ``env``, ``raw_env``."""

from __future__ import annotations

from typing import Any

from pettingzoo.utils.conversions import parallel_to_aec

from thrust_envs.core.game_views import ThrustParallelEnv
from thrust_envs.multiagent.pong import DEFINITION, PongParams, random_bot, tracker_bot


def parallel_env(**kwargs: Any) -> ThrustParallelEnv:
    """One game of Pong as a PettingZoo ``ParallelEnv``; keyword arguments are
    :class:`PongParams` fields and ``render_mode``."""
    return ThrustParallelEnv(DEFINITION, **kwargs)


def env(**kwargs: Any):
    """The AEC form, through PettingZoo's ``parallel_to_aec`` (order-enforcing)."""
    return parallel_to_aec(parallel_env(**kwargs))


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
