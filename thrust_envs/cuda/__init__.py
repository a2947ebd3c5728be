"""thrust_envs on a CUDA device: the same env and game definitions, stepped by CUDA kernels.

Needs the ``gpu`` extra (numba-cuda with its CUDA wheels); ``import thrust_envs`` never imports
this package.
"""

from __future__ import annotations

try:
    import numba.cuda  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the installation
    raise ImportError(
        "thrust_envs.cuda needs numba-cuda: pip install 'thrust-rl[gpu]' "
        "(numba-cuda with its CUDA 13 wheels)"
    ) from error

from thrust_envs.cuda.targets import SIMULATOR
from thrust_envs.cuda.vec_env import (
    DeviceGameVecEnv,
    DeviceVecEnv,
    EpisodeStatistics,
    make_vec,
)

__all__ = ["SIMULATOR", "DeviceGameVecEnv", "DeviceVecEnv", "EpisodeStatistics", "make_vec"]
