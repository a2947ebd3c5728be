"""Read-only access to a batch environment's parts, for compiled code outside this package
that fuses its own loop around the env's row functions (``thrust_algos``' fused rollout).

:func:`row_parts` hands out the env's row functions and the very arrays its step kernel
works on (not copies), so that a fused kernel stepping them leaves the env exactly where its
own ``step`` would: state, random streams, episode statistics, observations, last rewards
and flags, final observations. It changes nothing itself.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from thrust_envs.core import kernels as K
from thrust_envs.core.batch import BatchEnv


@dataclasses.dataclass(frozen=True)
class RowParts:
    """One batch env's row functions, parameters and arrays (``N`` rows).

    ``step_one``: the env's row body, the step of one row that thrust_envs' own step kernels
    inline (``kernels._step_one`` bound to the env's row functions; its ``mode`` argument is
    an autoreset mode such as ``kernels.SAME_STEP``); ``module`` names the env module and
    ``source_digest`` changes with any source of ``thrust_envs`` (a cache key for kernels that
    inline the row functions). Arrays, shared with the env: ``state`` float64 ``[N, S]``,
    ``rng`` uint64 ``[N]``, ``episode`` float64 ``[N, 5]`` (needs-reset, length, return, final
    length, final return), ``obs``/``final_obs`` ``[N, *obs_shape]``, ``reward`` ``[N]``,
    ``terminated``/``truncated`` bool ``[N]``, ``actions`` (int64 ``[N]`` for Discrete, the
    space's float dtype ``[N, *shape]`` for Box). ``max_steps``: the time limit (0: none).
    """

    step_one: Any
    module: str
    source_digest: str
    action_kind: str
    params: Any
    max_steps: int
    state: np.ndarray
    rng: np.ndarray
    episode: np.ndarray
    obs: np.ndarray
    final_obs: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    actions: np.ndarray


def row_parts(batch: Any) -> RowParts | str:
    """The :class:`RowParts` of ``batch``, a :class:`~thrust_envs.core.batch.BatchEnv` that
    autoresets in the same step (what the SB3 view runs), or a sentence saying why not."""
    if not isinstance(batch, BatchEnv):
        return f"not a Thrust BatchEnv ({type(batch).__name__})"
    if batch.autoreset_mode != K.SAME_STEP:
        return "the env does not autoreset in the same step (SB3's VecEnv contract)"
    if not batch.has_reset:
        return "the env has not been reset"
    definition = batch.definition
    return RowParts(
        # Element loops for the final-observation copy: the fused rollout takes flat
        # observations, and a row-slice assignment would compile numba's shape-mismatch error
        # path (about 1.5 s of a cold start, its string formatting included).
        step_one=K.row_bodies(definition, K.kernel_tag(definition, "fusion"), K.copy_obs_elements)[
            "step_one"
        ],
        module=definition.module,
        source_digest=K._package_digest(),
        action_kind=batch._action_kind,
        params=batch.params,
        max_steps=batch._max_steps,
        state=batch.state,
        rng=batch.rng,
        episode=batch.episode,
        obs=batch.obs,
        final_obs=batch.final_obs,
        reward=batch.reward,
        terminated=batch.terminated,
        truncated=batch.truncated,
        actions=batch.actions,
    )
