"""thrust_algos: Stable-Baselines3-compatible algorithms that keep the rollout on the device.

- :class:`PPO`: a subclass of ``stable_baselines3.PPO`` with the same constructor, ``learn``,
  ``save``/``load``, callbacks, logger, progress bar and TensorBoard output. Its rollout buffer
  lives on the model's device and its rollout loop has no Python loop over environments. An
  existing SB3 script changes one import::

      from thrust_algos import PPO  # was: from stable_baselines3 import PPO

- :class:`GpuRolloutBuffer`, :class:`GpuDictRolloutBuffer`, :class:`MaskableGpuRolloutBuffer` and
  :class:`MaskableGpuDictRolloutBuffer`: drop-in ``rollout_buffer_class`` values for stock SB3's
  ``PPO`` and ``A2C`` and sb3-contrib's ``TRPO`` and ``MaskablePPO``.
- :func:`compute_gae`: SB3's generalized advantage estimation, bit for bit, with a ``"triton"``
  (CUDA), ``"numba"`` (fast CPU) and ``"torch"`` backend.

Requires the ``algos`` extra (torch, stable-baselines3, sb3-contrib; triton on Linux x86_64, which
is imported only when the Triton backend first runs).
"""

from thrust_algos.buffers import (
    GpuDictRolloutBuffer,
    GpuRolloutBuffer,
    MaskableGpuDictRolloutBuffer,
    MaskableGpuRolloutBuffer,
)
from thrust_algos.gae import compute_gae
from thrust_algos.ppo import PPO

__all__ = [
    "PPO",
    "GpuDictRolloutBuffer",
    "GpuRolloutBuffer",
    "MaskableGpuDictRolloutBuffer",
    "MaskableGpuRolloutBuffer",
    "compute_gae",
]
