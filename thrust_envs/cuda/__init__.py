"""thrust_envs on a CUDA device: the same env and game definitions, stepped by CUDA kernels.

Needs the ``gpu`` extra (numba-cuda with its CUDA wheels); ``import thrust_envs`` never imports
this package.
"""

from __future__ import annotations

import numpy as np

# numba-cuda (0.30.4, the newest as of 2026-12) registers an overload of ``np.row_stack`` when
# its CUDA target first loads, at the first kernel compile (numba/cuda/np/arrayobj.py). numpy
# 2.5 removed that alias of ``np.vstack`` (deprecated since 2.0), so on numpy 2.5 every first
# compile raised ``AttributeError: module 'numpy' has no attribute 'row_stack'`` (seen on a lent
# H200: numpy 2.5.2). Restore the alias where it is missing, before numba-cuda loads.
if not hasattr(np, "row_stack"):
    np.row_stack = np.vstack  # noqa: NPY201 (the alias numba-cuda looks up)

try:
    import numba.cuda  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the installation
    raise ImportError(
        "thrust_envs.cuda needs numba-cuda: pip install 'thrust-rl[gpu]' "
        "(numba-cuda with its CUDA 13 wheels)"
    ) from error

from thrust_envs.cuda.gym_vector import DeviceGymVectorEnv
from thrust_envs.cuda.targets import SIMULATOR
from thrust_envs.cuda.vec_env import (
    DeviceGameVecEnv,
    DeviceVecEnv,
    EpisodeStatistics,
    make_vec,
)

__all__ = [
    "SIMULATOR",
    "DeviceGameVecEnv",
    "DeviceGymVectorEnv",
    "DeviceVecEnv",
    "EpisodeStatistics",
    "make_vec",
]
