"""``Thrust/BucketBrigade-v0`` in PettingZoo's module layout: ``parallel_env``, ``env``,
``raw_env``, each taking a ``preset`` name (``"default"``, ``"easy"``, ``"hard"``, see
:data:`PRESETS`) and any :class:`BucketBrigadeParams` field as an override:

>>> from thrust_envs.multiagent import bucket_brigade_v0
>>> env = bucket_brigade_v0.parallel_env(preset="easy", num_agents=6)
"""

from __future__ import annotations

from typing import Any

from thrust_envs.core.game_views import ThrustParallelEnv, to_aec
from thrust_envs.multiagent.bucket_brigade import (
    DEFINITION,
    PRESETS,
    BucketBrigadeParams,
    agent_infos,
    coordinator_bot,
    decode_observation,
    free_rider_bot,
    hero_bot,
    lies,
    observations,
    owner_bot,
    preset_kwargs,
    random_bot,
    state_layout,
)


def parallel_env(
    preset: str = "default", render_mode: str | None = None, **overrides: Any
) -> ThrustParallelEnv:
    """One game of Bucket Brigade as a PettingZoo ``ParallelEnv``: the parameters of
    ``preset`` with ``overrides`` (fields of :class:`BucketBrigadeParams`) applied (as
    ``preset=`` does in every view of the game; here it may also come first, by position)."""
    return ThrustParallelEnv(DEFINITION, render_mode=render_mode, preset=preset, **overrides)


def env(preset: str = "default", render_mode: str | None = None, **overrides: Any):
    """The AEC form, as PettingZoo's ``parallel_to_aec`` (order-enforcing), with each action
    checked at its agent's turn."""
    return to_aec(parallel_env(preset, render_mode=render_mode, **overrides))


raw_env = env

__all__ = [
    "DEFINITION",
    "PRESETS",
    "BucketBrigadeParams",
    "agent_infos",
    "coordinator_bot",
    "decode_observation",
    "env",
    "free_rider_bot",
    "hero_bot",
    "lies",
    "observations",
    "owner_bot",
    "parallel_env",
    "preset_kwargs",
    "random_bot",
    "raw_env",
    "state_layout",
]
