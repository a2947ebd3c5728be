"""The Stable-Baselines3 views: ``make_vec_env(env_id, n_envs)`` returns an SB3 ``VecEnv``.

This package is the only part of thrust_envs that imports stable_baselines3 (install the
``algos`` extra); ``import thrust_envs`` does not import it.

- :class:`ThrustVecEnv` (``single.py``): ``N`` rows of a single-agent environment.
- :class:`SharedGameVecEnv` (``shared.py``): parameter sharing, one row per (game, agent).
- :class:`VsOpponentVecEnv` (``vs_opponent.py``): one row per game for the learner's seat,
  an opponent policy in the others (by ID: :func:`thrust_envs.vs_opponent`).
- :class:`FreeForAllVecEnv` (``free_for_all.py``): the learner in several seats of every game
  (one row each, a shared policy), opponents drawn per episode into the others (by ID:
  :func:`thrust_envs.free_for_all`).
- :class:`~thrust_envs.sb3.device.DeviceSB3VecEnv` (``device.py``): the SB3 view of a
  ``thrust_envs.cuda`` device env, and ``DeviceVsOpponentVecEnv``, the vs-opponent view on
  the device (imported from there, not here: they need numba-cuda).
- ``base.py``: what they share, :class:`ThrustVecEnvBase` (SB3's attribute, index,
  seeding and rendering plumbing) and :func:`fill_episode_infos` (SB3's finished-episode
  infos, as ``DummyVecEnv`` over ``Monitor`` writes them).
"""

from thrust_envs.sb3.base import ThrustVecEnvBase, fill_episode_infos
from thrust_envs.sb3.free_for_all import FreeForAllVecEnv
from thrust_envs.sb3.make import make_shared_vec_env, make_vec_env, make_vs_opponent
from thrust_envs.sb3.shared import SharedGameVecEnv
from thrust_envs.sb3.single import ThrustVecEnv
from thrust_envs.sb3.vs_opponent import VsOpponentVecEnv

__all__ = [
    "FreeForAllVecEnv",
    "SharedGameVecEnv",
    "ThrustVecEnv",
    "ThrustVecEnvBase",
    "VsOpponentVecEnv",
    "fill_episode_infos",
    "make_shared_vec_env",
    "make_vec_env",
    "make_vs_opponent",
]
