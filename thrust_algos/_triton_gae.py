"""The Triton GAE kernel. Imported lazily by ``thrust_algos.gae`` on the first ``"triton"`` call.

The kernel is launched with ``enable_fp_fusion=False``: by default Triton contracts a multiply
and an add into one ``fma`` (one rounding instead of two), which SB3's numpy loop never does.
Read off the kernel compiled ahead of time here (triton 3.9, no GPU needed): with fusion the
PTX holds 2 ``fma.rn.f32`` for sm_80 and for sm_90 (16 ``FFMA`` in sm_90's machine code),
without it none, and every multiply and add carries ``.rn``, which ptxas does not contract
(0 ``FFMA``). ``tests/test_algos_triton_aot.py`` checks both on every CI run. With fusion, about
40 % of the advantages of a 64 x 1000 rollout differed from SB3's by up to 2e-6 (issue 14).

Triton decides at decoration time, that is when this module is first imported, whether kernels run
compiled (CUDA) or under its numpy interpreter (``TRITON_INTERPRET=1``): set the variable before
the first import to test the kernel on CPU tensors.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import torch as th
import triton
import triton.language as tl

if TYPE_CHECKING:
    from thrust_algos.gae import GaeInputs

# Environments per program. 128 lanes x 4 warps = one element per thread; at 65,536 environments
# that is 512 programs, enough to keep every SM of a large GPU busy while each walks time.
BLOCK_ENVS = 128
#: Launch options, also used by the ahead-of-time compilation test. No fp fusion: SB3's
#: rounding, one per multiply and one per add (see the module docstring).
LAUNCH_OPTIONS = {"num_warps": 4, "enable_fp_fusion": False}


@triton.jit(do_not_specialize=["n_steps"])
def _gae_kernel(
    rewards_ptr,
    values_ptr,
    episode_starts_ptr,
    last_values_ptr,
    dones_ptr,
    advantages_ptr,
    returns_ptr,
    n_steps,
    n_envs,
    gamma,
    gamma_lambda,
    BLOCK: tl.constexpr,
):
    # All arrays are contiguous (n_steps, n_envs): a row of envs is one coalesced load.
    envs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = envs < n_envs

    # The last step bootstraps from last_values and dones (SB3's `step == buffer_size - 1`).
    next_values = tl.load(last_values_ptr + envs, mask=mask, other=0.0)
    next_non_terminal = 1.0 - tl.load(dones_ptr + envs, mask=mask, other=0.0)
    last_gae_lam = tl.zeros([BLOCK], dtype=tl.float32)

    t_last = n_steps - 1
    row = t_last.to(tl.int64) * n_envs
    reward = tl.load(rewards_ptr + row + envs, mask=mask, other=0.0)
    value = tl.load(values_ptr + row + envs, mask=mask, other=0.0)
    for i in range(n_steps):
        t = t_last - i
        row = t.to(tl.int64) * n_envs
        # Prefetch step t - 1 (clamped at 0, then unused) so its loads overlap this step's math.
        prev_row = tl.maximum(t - 1, 0).to(tl.int64) * n_envs
        prev_reward = tl.load(rewards_ptr + prev_row + envs, mask=mask, other=0.0)
        prev_value = tl.load(values_ptr + prev_row + envs, mask=mask, other=0.0)
        episode_start = tl.load(episode_starts_ptr + row + envs, mask=mask, other=0.0)

        delta = reward + gamma * next_values * next_non_terminal - value
        last_gae_lam = delta + gamma_lambda * next_non_terminal * last_gae_lam
        tl.store(advantages_ptr + row + envs, last_gae_lam, mask=mask)
        tl.store(returns_ptr + row + envs, last_gae_lam + value, mask=mask)

        next_non_terminal = 1.0 - episode_start
        next_values = value
        reward = prev_reward
        value = prev_value


def gae_triton(
    inputs: GaeInputs,
    gamma: float,
    gae_lambda: float,
    advantages: th.Tensor,
    returns: th.Tensor,
    block: int = BLOCK_ENVS,
    launch_options: dict[str, Any] | None = None,
) -> None:
    """Launch the kernel on contiguous float32 tensors (``inputs`` as
    :class:`~thrust_algos.gae.GaeInputs` describes them, validated by ``compute_gae``); writes
    ``advantages`` and ``returns`` ``(n_steps, n_envs)``. ``block`` (envs a program, a power of
    two) and ``launch_options`` (Triton's, merged over :data:`LAUNCH_OPTIONS`) are for tuning
    (``benchmarks/gae.py``); fp fusion stays off unless they say otherwise."""
    rewards, values, episode_starts, last_values, dones = inputs
    n_steps, n_envs = values.shape
    options = LAUNCH_OPTIONS if launch_options is None else {**LAUNCH_OPTIONS, **launch_options}
    grid = (triton.cdiv(n_envs, block),)
    # Triton launches on the *current* CUDA device: make it the tensors' (multi-GPU). CPU
    # tensors reach here only under Triton's interpreter, which needs no device.
    on_cuda = values.device.type == "cuda"
    with th.cuda.device(values.device) if on_cuda else contextlib.nullcontext():
        _gae_kernel[grid](
            rewards,
            values,
            episode_starts,
            last_values,
            dones,
            advantages,
            returns,
            n_steps,
            n_envs,
            float(gamma),
            # SB3 forms gamma * gae_lambda in Python (double) before rounding it to float32.
            float(gamma * gae_lambda),
            BLOCK=block,
            **options,
        )


def interpreter_active() -> bool:
    """Whether the kernel was decorated under Triton's interpreter (``TRITON_INTERPRET=1``)."""
    from triton.runtime.interpreter import InterpretedFunction

    return isinstance(_gae_kernel, InterpretedFunction)
