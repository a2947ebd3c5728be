"""Generalized advantage estimation with Stable-Baselines3's exact semantics.

``compute_gae`` reproduces ``stable_baselines3.common.buffers.RolloutBuffer.compute_returns_and_
advantage``: the same recursion, the same float32 arithmetic, the same treatment of the last time
step (its advantage is computed from ``last_values`` and ``dones``, not left at zero) and of
episode starts. Three backends compute it:

- ``"triton"``: one Triton kernel on CUDA tensors (each program owns a block of environments and
  walks time backwards, so every element is read and written exactly once). Under Triton's
  interpreter (``TRITON_INTERPRET=1`` set before Triton is imported) it also runs on CPU tensors.
- ``"numba"``: the fast CPU path, a compiled loop over time with the environments innermost;
  large buffers are split into blocks of environments on numba's threads.
- ``"torch"``: the reference loop over time, vectorised over environments, on any device.

``"auto"`` picks ``"triton"`` for CUDA tensors (``"torch"`` where Triton is missing, where its
first launch fails, which is warned once, or where the dtype is not float32) and ``"numba"`` for
CPU tensors. Every backend rounds each multiply and add on its own, as SB3's numpy loop does: the
Triton kernel is compiled without fp fusion (no FMA in its sm_80/sm_90 code, tested ahead of
time in CI), and the numba loop without fast-math.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Literal, NamedTuple

import numba
import numpy as np
import torch as th
from numba import njit, prange

# thrust_algos' imports from thrust_envs at import time, both numba-only modules of the core
# package: rebind (the GAE kernel's serial and parallel copies) and the one home of the helper
# that starts numba's threads without resetting OpenMP's thread count, which torch shares (see
# thrust_envs/core/threads.py).
from thrust_envs.core.kernels import rebind
from thrust_envs.core.threads import launch_numba_threads

GaeBackend = Literal["auto", "triton", "torch", "numba"]
GAE_BACKENDS = ("auto", "triton", "torch", "numba")
_FLOAT_DTYPES = (th.float32, th.float64)


class GaeInputs(NamedTuple):
    """:func:`compute_gae`'s five inputs. As every backend takes them: contiguous, in the dtype
    of ``values`` (the flags too), on one device, torch tensors (or for the numba backend their
    numpy views); ``rewards``, ``values``, ``episode_starts`` ``(n_steps, n_envs)``,
    ``last_values``, ``dones`` ``(n_envs,)``. (``compute_gae`` also checks them in this tuple
    as given: tensors of any layout and dtype, flags ``(n_envs,)`` or ``(n_envs, 1)``.)"""

    rewards: Any
    values: Any
    episode_starts: Any
    last_values: Any
    dones: Any


def compute_gae(
    rewards: th.Tensor,
    values: th.Tensor,
    episode_starts: th.Tensor,
    last_values: th.Tensor,
    dones: th.Tensor,
    gamma: float,
    gae_lambda: float,
    backend: GaeBackend = "auto",
    *,
    out: tuple[th.Tensor, th.Tensor] | None = None,
) -> tuple[th.Tensor, th.Tensor]:
    """
    Compute GAE(lambda) advantages and TD(lambda) returns exactly as SB3's ``RolloutBuffer`` does.

    For ``t = n_steps - 1, ..., 0``::

        next_non_terminal = 1 - dones            if t == n_steps - 1 else 1 - episode_starts[t + 1]
        next_values       = last_values          if t == n_steps - 1 else values[t + 1]
        delta             = rewards[t] + gamma * next_values * next_non_terminal - values[t]
        advantages[t]     = delta + gamma * gae_lambda * next_non_terminal * advantages[t + 1]
        returns           = advantages + values

    Array-likes (numpy arrays) are converted with ``torch.as_tensor`` (no copy on the CPU).

    :param rewards: rewards, shape ``(n_steps, n_envs)``, float32 or float64
    :param values: value estimates of the observed states, shape ``(n_steps, n_envs)``,
        same dtype as ``rewards``
    :param episode_starts: 1 where the observation at ``t`` starts an episode, shape
        ``(n_steps, n_envs)``, bool or numeric
    :param last_values: value estimates of the observations after the last step, shape
        ``(n_envs,)`` or ``(n_envs, 1)``
    :param dones: whether the last step ended an episode, shape ``(n_envs,)`` or ``(n_envs, 1)``
    :param gamma: discount factor (usually in ``[0, 1]``; finite and >= 0)
    :param gae_lambda: GAE bias/variance trade-off (usually in ``[0, 1]``; finite and >= 0)
    :param backend: ``"auto"``, ``"triton"``, ``"torch"`` or ``"numba"``
    :param out: optional preallocated ``(advantages, returns)`` tensors of shape
        ``(n_steps, n_envs)`` with the dtype and device of ``values``, written in place
    :return: ``(advantages, returns)``, each of shape ``(n_steps, n_envs)``, dtype of ``values``
    """
    given = GaeInputs(
        *(th.as_tensor(x) for x in (rewards, values, episode_starts, last_values, dones))
    )
    _check_inputs(given, gamma, gae_lambda, backend)
    rewards, values, episode_starts, last_values, dones = given
    dtype, device = values.dtype, values.device
    n_steps, n_envs = values.shape
    # Flags become the compute dtype; everything is made contiguous for the compiled backends.
    inputs = GaeInputs(
        rewards.contiguous(),
        values.contiguous(),
        episode_starts.to(dtype).contiguous(),
        last_values.reshape(n_envs).to(dtype).contiguous(),
        dones.reshape(n_envs).to(dtype).contiguous(),
    )
    if out is None:
        advantages = th.empty((n_steps, n_envs), dtype=dtype, device=device)
        returns = th.empty((n_steps, n_envs), dtype=dtype, device=device)
    else:
        advantages, returns = _check_out(out, values)

    requested = backend
    backend = _resolve_backend(backend, values)
    if backend == "triton" and not _run_triton(
        inputs, gamma, gae_lambda, advantages, returns, requested
    ):
        backend = "torch"  # "auto", and Triton could not launch: the reference loop
    if backend == "numba":
        scalar = np.float32 if dtype == th.float32 else np.float64
        # SB3 multiplies gamma * gae_lambda in Python (double) first, then in float32.
        scalars = (scalar(gamma), scalar(gamma * gae_lambda), scalar(1.0))
        arrays = GaeInputs(*(x.numpy() for x in inputs))
        _gae_numba(arrays, *scalars, advantages.numpy(), returns.numpy())
    elif backend == "torch":
        _gae_torch(inputs, gamma, gae_lambda, advantages, returns)
    return advantages, returns


#: Why the first Triton launch of this process failed (then ``"auto"`` uses the torch loop);
#: None while it has not failed.
_triton_failure: str | None = None
_triton_launched = False


def _run_triton(
    inputs: GaeInputs,
    gamma: float,
    gae_lambda: float,
    advantages: th.Tensor,
    returns: th.Tensor,
    requested: str,
) -> bool:
    """Launch the Triton kernel; False if it cannot run and ``"auto"`` should fall back.

    ``import triton`` succeeding does not mean a launch can: the first one compiles the kernel
    and builds Triton's C launcher, which needs a C compiler and Python's headers. If that first
    launch fails, ``"auto"`` warns once and uses the torch loop from then on (same results);
    an explicit ``backend="triton"`` raises. Errors after a successful first launch propagate.
    """
    global _triton_failure, _triton_launched
    if _triton_failure is not None and requested == "auto":
        return False
    from thrust_algos._triton_gae import gae_triton

    try:
        gae_triton(inputs, gamma, gae_lambda, advantages, returns)
    except Exception as error:  # the launcher's build raises RuntimeError, CalledProcessError...
        if _triton_launched:  # it has run in this process: a real error, not a missing launcher
            raise
        _triton_failure = f"{type(error).__name__}: {error}"
        if requested == "triton":
            raise RuntimeError(
                f"backend='triton' could not launch the Triton kernel ({_triton_failure}); "
                "use backend='torch' or 'auto' (which falls back to the torch loop)"
            ) from error
        warnings.warn(
            f"compute_gae: the Triton kernel could not launch ({_triton_failure}); using the "
            "torch loop instead (same results, slower) for the rest of this process",
            RuntimeWarning,
            stacklevel=3,
        )
        return False
    _triton_launched = True
    return True


def _gae_torch(
    inputs: GaeInputs, gamma: float, gae_lambda: float, advantages: th.Tensor, returns: th.Tensor
) -> None:
    """The reference recursion: a Python loop over time, vectorised over environments."""
    rewards, values, episode_starts, last_values, dones = inputs
    n_steps = values.shape[0]
    next_non_terminal = 1.0 - dones
    next_values = last_values
    last_gae_lam = th.zeros_like(last_values)
    for step in reversed(range(n_steps)):
        delta = rewards[step] + gamma * next_values * next_non_terminal - values[step]
        last_gae_lam = delta + gamma * gae_lambda * next_non_terminal * last_gae_lam
        advantages[step] = last_gae_lam
        next_non_terminal = 1.0 - episode_starts[step]
        next_values = values[step]
    th.add(advantages, values, out=returns)


@njit(cache=True, nogil=True)
def _gae_numba_row(
    rewards_t: np.ndarray,
    values_t: np.ndarray,
    next_values: np.ndarray,
    next_episode_starts: np.ndarray,
    next_advantages: np.ndarray,
    gamma: float,
    gamma_lambda: float,
    one: float,
    advantages_t: np.ndarray,
    returns_t: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """One time step for every environment. A flat loop over contiguous rows, which LLVM
    vectorises; the recursion's state is read back from the row written one step later."""
    for env in range(rewards_t.shape[0]):
        next_non_terminal = one - next_episode_starts[env]
        value = values_t[env]
        delta = rewards_t[env] + gamma * next_values[env] * next_non_terminal - value
        gae = delta + gamma_lambda * next_non_terminal * next_advantages[env]
        advantages_t[env] = gae
        returns_t[env] = gae + value


def _gae_blocks_template(
    rewards: np.ndarray,
    values: np.ndarray,
    episode_starts: np.ndarray,
    last_values: np.ndarray,
    dones: np.ndarray,
    gamma: float,
    gamma_lambda: float,
    one: float,
    advantages: np.ndarray,
    returns: np.ndarray,
    chunk: int,
) -> None:  # pragma: no cover - compiled
    """The recursion for blocks of ``chunk`` environments (the serial kernel: one block of all
    of them; the parallel one: the blocks on numba's threads). Within a block, time outermost
    (backwards) and environments innermost and contiguous: every environment is computed the
    same way whatever the blocks and threads.

    ``gamma``, ``gamma_lambda`` and ``one`` arrive in the arrays' dtype so that float32 inputs
    are computed in float32, exactly like SB3's numpy loop (a bare ``1.0`` would promote to
    float64). The last step bootstraps from ``last_values`` and ``dones`` with a zero "next
    advantage", as SB3's ``last_gae_lam = 0`` does.
    """
    n_steps, n_envs = rewards.shape
    for block in prange((n_envs + chunk - 1) // chunk):
        lo = block * chunk
        hi = min(n_envs, lo + chunk)
        last = n_steps - 1
        zeros = np.zeros(hi - lo, dtype=values.dtype)
        _gae_numba_row(
            rewards[last, lo:hi], values[last, lo:hi], last_values[lo:hi], dones[lo:hi], zeros,
            gamma, gamma_lambda, one, advantages[last, lo:hi], returns[last, lo:hi],
        )  # fmt: skip
        for t in range(n_steps - 2, -1, -1):
            _gae_numba_row(
                rewards[t, lo:hi], values[t, lo:hi], values[t + 1, lo:hi],
                episode_starts[t + 1, lo:hi], advantages[t + 1, lo:hi], gamma, gamma_lambda, one,
                advantages[t, lo:hi], returns[t, lo:hi],
            )  # fmt: skip


def _blocks_kernel(parallel: bool):
    name = "gae_blocks_parallel" if parallel else "gae_blocks_serial"
    function = rebind(_gae_blocks_template, name, {"prange": prange if parallel else range})
    return njit(cache=True, nogil=True, parallel=parallel)(function)


_gae_numba_serial = _blocks_kernel(parallel=False)
_gae_numba_parallel = _blocks_kernel(parallel=True)


#: The fewest environments in a block of the parallel CPU path.
PARALLEL_CHUNK = 512
#: Elements (n_steps * n_envs) from which the CPU path uses several threads.
PARALLEL_MIN_ELEMENTS = 1 << 17


def _gae_numba(
    inputs: GaeInputs,
    gamma: float,
    gamma_lambda: float,
    one: float,
    advantages: np.ndarray,
    returns: np.ndarray,
) -> None:
    """The CPU path: serial for small buffers, blocks of environments on numba's threads for
    large ones (the same arithmetic for every environment either way)."""
    n_steps, n_envs = inputs.rewards.shape
    arguments = (*inputs, gamma, gamma_lambda, one)
    # numba.get_num_threads() starts numba's threading layer, whose OpenMP layer would reset
    # the OpenMP thread count torch reads (undoing a user's torch.set_num_threads): start it
    # through the helper that puts that setting back.
    launch_numba_threads()
    threads = numba.get_num_threads()
    if n_steps * n_envs >= PARALLEL_MIN_ELEMENTS and n_envs >= 2 * PARALLEL_CHUNK and threads > 1:
        # One block per thread (in multiples of 16 environments): each block costs a pass of
        # row slices, so fewer, longer blocks are faster (measured: 2 blocks of 2048 environments
        # in 0.12 ms, 8 of 512 in 0.26 ms at 128 x 4096 on 2 threads).
        per_thread = -(-n_envs // threads)  # ceil
        chunk = max(PARALLEL_CHUNK, -(-per_thread // 16) * 16)
        _gae_numba_parallel(*arguments, advantages, returns, chunk)
    else:
        _gae_numba_serial(*arguments, advantages, returns, max(n_envs, 1))


def _check_inputs(given: GaeInputs, gamma: float, gae_lambda: float, backend: str) -> None:
    """``compute_gae``'s checks, on its inputs as given (tensors of any layout and dtype)."""
    rewards, values, episode_starts, last_values, dones = given
    if backend not in GAE_BACKENDS:
        raise ValueError(f"backend must be one of {GAE_BACKENDS}, got {backend!r}")
    if values.ndim != 2 or values.shape[0] == 0 or values.shape[1] == 0:
        raise ValueError(
            f"values must have shape (n_steps, n_envs) with n_steps, n_envs >= 1, "
            f"got {tuple(values.shape)}"
        )
    n_steps, n_envs = values.shape
    for name, x in (("rewards", rewards), ("episode_starts", episode_starts)):
        if x.shape != values.shape:
            raise ValueError(
                f"{name} must have the shape of values (n_steps, n_envs) = {(n_steps, n_envs)}, "
                f"got {tuple(x.shape)}"
            )
    for name, x in (("last_values", last_values), ("dones", dones)):
        if tuple(x.shape) not in ((n_envs,), (n_envs, 1)):
            raise ValueError(
                f"{name} must have shape (n_envs,) or (n_envs, 1) with n_envs = {n_envs}, "
                f"got {tuple(x.shape)}"
            )
    for name, x in (
        ("rewards", rewards),
        ("episode_starts", episode_starts),
        ("last_values", last_values),
        ("dones", dones),
    ):
        if x.device != values.device:
            raise ValueError(
                f"all inputs must be on one device: values is on {values.device}, "
                f"{name} is on {x.device}"
            )
    if values.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"values must be float32 or float64, got {values.dtype}")
    if rewards.dtype != values.dtype:
        raise TypeError(
            f"rewards and values must share a dtype, got {rewards.dtype} and {values.dtype}"
        )
    if not last_values.is_floating_point():
        raise TypeError(f"last_values must be floating point, got {last_values.dtype}")
    check_discounts(gamma, gae_lambda)


def check_discounts(gamma: float, gae_lambda: float) -> None:
    """``gamma`` and ``gae_lambda`` as SB3 takes them: real numbers, finite and not negative
    (above 1 too: SB3 does not refuse them, and the recursion is defined), or a ValueError."""
    for name, value in (("gamma", gamma), ("gae_lambda", gae_lambda)):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float, np.integer, np.floating))
            or not math.isfinite(value)
            or value < 0
        ):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def _check_out(out: tuple[th.Tensor, th.Tensor], values: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
    if not (isinstance(out, tuple | list) and len(out) == 2):
        raise TypeError("out must be a pair (advantages, returns) of tensors")
    for name, x in zip(("advantages", "returns"), out, strict=True):
        if not isinstance(x, th.Tensor):
            raise TypeError(f"out {name} must be a torch.Tensor, got {type(x).__name__}")
        if x.shape != values.shape or x.dtype != values.dtype or x.device != values.device:
            raise ValueError(
                f"out {name} must match values: shape {tuple(values.shape)}, {values.dtype} on "
                f"{values.device}; got shape {tuple(x.shape)}, {x.dtype} on {x.device}"
            )
        if not x.is_contiguous():
            raise ValueError(f"out {name} must be contiguous")
    return out[0], out[1]


def _resolve_backend(backend: str, values: th.Tensor) -> str:
    """Pick the backend for ``"auto"`` and check that an explicit choice can run here."""
    on_cuda = values.device.type == "cuda"
    if backend == "auto":
        if not on_cuda:
            return "numba" if values.device.type == "cpu" else "torch"
        return "triton" if values.dtype == th.float32 and triton_available() else "torch"
    if backend == "numba" and values.device.type != "cpu":
        raise ValueError(
            f"backend='numba' runs on the CPU, got tensors on {values.device}; "
            "use backend='triton' or 'torch' (or 'auto')"
        )
    if backend == "triton":
        if not triton_available():
            raise RuntimeError(
                "backend='triton' needs the triton package (Linux x86_64, installed with the "
                "'algos' extra); use backend='torch' or 'auto'"
            )
        if values.dtype != th.float32:
            raise TypeError(f"backend='triton' computes in float32, got {values.dtype}")
        if not on_cuda:
            from thrust_algos._triton_gae import interpreter_active

            if not (values.device.type == "cpu" and interpreter_active()):
                raise RuntimeError(
                    f"backend='triton' needs CUDA tensors, got tensors on {values.device}. "
                    "On the CPU, either use backend='numba' (or 'auto'), or run the kernel under "
                    "Triton's interpreter by setting TRITON_INTERPRET=1 before triton and "
                    "thrust_algos' kernel are first imported."
                )
    return backend


def triton_available() -> bool:
    """Whether the ``triton`` package can be imported (it is only installed on Linux x86_64)."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True
