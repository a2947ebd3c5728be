"""thrust_algos: Stable-Baselines3-compatible algorithms with the rollout on the training device.

What this package is for (filled in by its own issue):

- ``thrust_algos.PPO``: a subclass of ``stable_baselines3.PPO`` with the same constructor,
  ``learn``, ``save``/``load`` and callbacks, whose rollout buffer lives on the model's device
  and whose rollout loop has no Python loop over environments. An existing SB3 script changes
  one import.
- ``GpuRolloutBuffer`` (and its Dict-observation and sb3-contrib ``MaskablePPO`` variants):
  drop-in ``rollout_buffer_class`` values for stock SB3 on-policy algorithms.
- ``compute_gae``: SB3's generalized advantage estimation with ``"triton"``, ``"torch"`` and a
  fast CPU backend.

Requires the ``algos`` extra (torch, stable-baselines3, sb3-contrib, triton on Linux x86_64).
Nothing is exported yet: this package holds no public API until its issue lands.
"""

__all__: list[str] = []
