"""``BatchEnv``: ``N`` copies of one environment in preallocated arrays, stepped by one kernel.

Every view (the single :class:`gymnasium.Env`, the Gymnasium vector env and the SB3 VecEnv)
is a thin adapter over a ``BatchEnv``. Validation, autoreset, time limits, episode statistics,
seeding and threading live here, once, not in the environments.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from itertools import repeat
from typing import Any

# numba's OpenMP threading layer busy-waits between parallel regions by default. On a loaded
# machine (other processes, or torch's own thread pool) the spinning threads steal the cores
# the working ones need: measured here with another process on one of 2 cores, a 4096-env
# CartPole step ran 8x *slower* on 2 threads than on 1. Passive waiting removes that cliff.
# Only a default: an OMP_WAIT_POLICY the user set wins, and it must be set before the
# OpenMP runtime starts (numba starts it at the first parallel kernel).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba
import numpy as np
from gymnasium import spaces

from thrust_envs.core import kernels as K
from thrust_envs.core.definition import INT64_MAX, EnvDefinition, reset_params
from thrust_envs.core.rng import entropy_seeds, seed_rows
from thrust_envs.core.threads import launch_numba_threads, numba_threads

# Below this many rows a step runs on the calling thread. With passive waiting (above) waking
# the pool costs tens of microseconds on the machines measured, so two threads only pay off
# from about 16k CartPole rows (benchmarks/envs.py, BENCHMARKS.md); with OMP_WAIT_POLICY=ACTIVE
# on a machine with idle cores the crossover is lower (about 4k rows, 1.5x at 4k-16k).
PARALLEL_MIN_ROWS = 16384


class InvalidAction(ValueError):
    """An action outside the action space, or of the wrong shape or dtype."""


def check_reset_mask_rows(label: str, any_row: bool, every_row: bool, has_reset: bool) -> None:
    """Refuse a ``reset_mask`` that resets no row (as Gymnasium's ``SyncVectorEnv`` does), or
    a first reset that leaves some rows without a state.

    :param any_row: whether the mask selects some row
    :param every_row: whether it selects every row
    :param has_reset: whether the env was reset before
    """
    if not any_row:
        raise ValueError(
            f"{label}: options['reset_mask'] must select at least one environment (one True)"
        )
    if not has_reset and not every_row:
        raise ValueError(
            f"{label}: the first reset must reset every environment (the others have no "
            "state yet): call reset() without reset_mask first"
        )


def action_array(label: str, actions: Any, expected: Callable[[], str]) -> np.ndarray:
    """``actions`` as an array (itself if one), or :class:`InvalidAction` naming what was
    ``expected()`` (called only then: steps call this) where numpy cannot make one array of
    them (a ragged list: numpy's own ValueError named neither the env nor the shape)."""
    if type(actions) is np.ndarray:
        return actions
    try:
        return np.asarray(actions)
    except (TypeError, ValueError) as error:
        message = f"{label}: expected {expected()}, got {actions!r:.80} ({error})"
        raise InvalidAction(message) from None


def clip_overflowed(buffer: np.ndarray, source: np.ndarray) -> bool:
    """Where ``buffer`` (float32 actions) holds inf cast from a finite ``source`` value (a
    wider float beyond float32's range), put float32's largest value of that sign: as far
    outside the bounds, which the kernels clip to as the references clip. Whether any was.
    Called only after the kernel refused a non-finite action (the step's hot path stays one
    assignment; numpy warns of the overflow in the cast)."""
    source = np.broadcast_to(source, buffer.shape)  # the single env's action: [1, n] rows
    overflowed = np.isinf(buffer) & np.isfinite(source)
    if not overflowed.any():
        return False
    buffer[overflowed] = np.copysign(np.finfo(buffer.dtype).max, source[overflowed])
    return True


def refuse_wrapping_integers(label: str, actions: np.ndarray, space: Any) -> None:
    """Raise :class:`InvalidAction` for unsigned 64-bit actions beyond int64's range: copied
    into the kernels' int64 buffers they would wrap to negative numbers, and the error would
    report a value never given. Named here as given (and cheap: only uint64 arrays look)."""
    if actions.dtype.kind == "u" and actions.dtype.itemsize == 8 and actions.size:
        flat = actions.reshape(-1)
        beyond = np.flatnonzero(flat > INT64_MAX)
        if beyond.size:
            raise InvalidAction(
                f"{label}: action {int(flat[beyond[0]])} (element {int(beyond[0])} of the "
                f"actions) is outside {space}"
            )


def _action_kind(space: spaces.Space) -> str:
    if isinstance(space, spaces.Discrete):
        return "discrete"
    if isinstance(space, spaces.Box):
        return "box"
    raise TypeError(f"unsupported action space {space}")


_NOT_TRUNCATED: dict[str, Any] = {"TimeLimit.truncated": False}


def step_infos(n: int) -> list[dict[str, Any]]:
    """The ``n`` fresh info dicts of an SB3 ``VecEnv`` step, each ``{"TimeLimit.truncated":
    False}`` until a finished row fills its own (copying one dict is about twice as fast as a
    dict display in a list comprehension: ~13 µs against ~25 µs for 256 rows here)."""
    return list(map(dict.copy, repeat(_NOT_TRUNCATED, n)))


_UINT64_END = 2**64


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_seed(env_id: str, seed: Any) -> int | None:
    """``seed`` as a Python int in ``[0, 2**64)``, or None; anything else (a float, a
    string, a bool, a negative int) is a ``ValueError`` naming what was expected."""
    if seed is None:
        return None
    if not _is_int(seed) or not 0 <= seed < _UINT64_END:
        raise ValueError(
            f"{env_id}: seed must be None or an int in [0, 2**64), got {seed!r} "
            f"({type(seed).__name__})"
        )
    return int(seed)


def normalize_seeds(env_id: str, seed: Any, num_envs: int) -> np.ndarray | None:
    """Per-row seeds as ``uint64 [num_envs]``, from None, an int (row ``i`` gets
    ``seed + i``, as Gymnasium's and SB3's vector envs do) or a sequence of ints."""
    if seed is None:
        return None
    if _is_int(seed):
        seed = check_seed(env_id, seed)
        if seed + num_envs > _UINT64_END:
            raise ValueError(
                f"{env_id}: seed + num_envs must be <= 2**64 (row i gets seed + i), got {seed}"
            )
        return np.arange(num_envs, dtype=np.uint64) + np.uint64(seed)
    if isinstance(seed, (str, bytes)) or not hasattr(seed, "__iter__"):
        raise ValueError(
            f"{env_id}: seed must be None, an int in [0, 2**64) or a sequence of {num_envs} "
            f"such ints (or None), got {seed!r} ({type(seed).__name__})"
        )
    seeds = list(seed)
    if len(seeds) != num_envs:
        raise ValueError(
            f"{env_id}: expected {num_envs} seeds (one per environment), got {len(seeds)}"
        )
    out = np.empty(num_envs, dtype=np.uint64)
    for k, s in enumerate(seeds):
        if s is None:
            out[k] = entropy_seeds(1)[0]
        elif _is_int(s) and 0 <= s < _UINT64_END:
            out[k] = s
        else:
            raise ValueError(f"{env_id}: seeds must be ints in [0, 2**64) or None, got {s!r}")
    return out


class BatchEnv:
    """``num_envs`` rows of one environment.

    Arrays (row ``i`` is environment ``i``):
        state: float64 ``[N, state_size]``; rng: uint64 ``[N]`` (one random stream per row);
        episode: float64 ``[N, 5]`` (needs_reset, length, return, final length, final return);
        obs: ``[N, *obs_shape]`` in the observation space's dtype;
        reward: ``reward_dtype [N]`` (float64 for the single view's exact rewards, float32
        for the vector views);
        terminated, truncated: bool ``[N]``; final_obs: like obs (SAME_STEP only).
    """

    def __init__(
        self,
        definition: EnvDefinition,
        env_id: str,
        num_envs: int,
        params: Any,
        max_episode_steps: int | None,
        autoreset_mode: int,
        num_threads: int | None = None,
        reward_dtype: type = np.float64,
    ) -> None:
        if (
            not isinstance(num_envs, (int, np.integer))
            or isinstance(num_envs, bool)
            or num_envs < 1
        ):
            raise ValueError(f"{env_id}: num_envs must be a positive int, got {num_envs!r}")
        if max_episode_steps is not None and (
            not _is_int(max_episode_steps) or not 1 <= max_episode_steps <= INT64_MAX
        ):
            raise ValueError(
                f"{env_id}: max_episode_steps must be None or an int in [1, 2**63 - 1], "
                f"got {max_episode_steps!r}"
            )
        self.definition = definition
        self.env_id = env_id
        self.num_envs = n = int(num_envs)
        self.max_episode_steps = max_episode_steps
        self.autoreset_mode = autoreset_mode
        self.num_threads = self._check_threads(num_threads)
        self.base_params = params
        self.observation_space = definition.observation_space(params)
        self.action_space = definition.action_space(params)
        kind = _action_kind(self.action_space)
        self.kernels = K.compile_kernels(definition, kind)
        self._parallel = self.num_threads > 1 and n >= PARALLEL_MIN_ROWS
        if kind == "discrete":
            self._action_dtype = np.dtype(np.int64)
            self._action_shape: tuple[int, ...] = (n,)
            self._action_low: Any = int(self.action_space.start)
            self._action_high: Any = int(self.action_space.start + self.action_space.n - 1)
        else:
            # The space's dtype (float32): reference envs do their arithmetic on the float32
            # actions they are given, and so do the kernels.
            self._action_dtype = np.dtype(self.action_space.dtype)
            self._action_shape = (n, *self.action_space.shape)
            self._action_low = self.action_space.low.astype(np.float64)
            self._action_high = self.action_space.high.astype(np.float64)
        self._action_kind = kind
        self._action_kinds = "iu" if kind == "discrete" else "fiu"
        self.actions = np.zeros(self._action_shape, dtype=self._action_dtype)
        # (the actions' buffer, the wider floats copied into it) since the last step, if any
        self.narrowed: tuple[np.ndarray, np.ndarray] | None = None
        self._step_entry = None

        obs_space = self.observation_space
        self.state = np.zeros((n, definition.state_size), dtype=np.float64)
        self.rng = np.zeros(n, dtype=np.uint64)
        self.episode = np.zeros((n, 5), dtype=np.float64)
        self.obs = np.zeros((n, *obs_space.shape), dtype=obs_space.dtype)
        self.final_obs = np.zeros_like(self.obs)
        self.reward = np.zeros(n, dtype=reward_dtype)
        self.terminated = np.zeros(n, dtype=np.bool_)
        self.truncated = np.zeros(n, dtype=np.bool_)
        self._max_steps = 0 if max_episode_steps is None else int(max_episode_steps)
        self._all_rows = np.ones(n, dtype=np.bool_)
        self._row_index = np.arange(n, dtype=np.int64)
        self.has_reset = False
        self.params = params

    # -- pickling: the compiled entry points do not pickle; they are rebuilt on unpickling ----

    _UNPICKLED = ("kernels", "_step_entry", "_step_args", "rows")

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in self._UNPICKLED}
        # The definition pickles by reference (its module's DEFINITION), the arrays by value:
        # state, random streams, episode statistics, autoreset flags and buffers exactly.
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        params = state.pop("_params")
        self.__dict__.update(state)
        self.kernels = K.compile_kernels(self.definition, self._action_kind)
        self._step_entry = None
        self.params = params  # rebuilds the step kernel's arguments over the new arrays

    def _check_threads(self, num_threads: int | None) -> int:
        available = numba.config.NUMBA_NUM_THREADS
        if num_threads is None:
            return available
        if not isinstance(num_threads, (int, np.integer)) or not 1 <= num_threads <= available:
            raise ValueError(
                f"{self.env_id}: num_threads must be an int in [1, {available}] "
                f"(numba's thread pool size), got {num_threads!r}"
            )
        return int(num_threads)

    def _pick(self, serial, parallel):
        if self._parallel:
            # numba's thread count for this call only (the user's setting is put back after).
            return self._with_threads(parallel)
        return serial

    def _with_threads(self, kernel):
        threads = self.num_threads

        def run_on_threads(*args):
            with numba_threads(threads):
                return kernel(*args)

        return run_on_threads

    # -- seeding and reset -------------------------------------------------------------------

    def seed(self, seeds: np.ndarray | None, rows: np.ndarray | None = None) -> None:
        """Seed the random streams of ``rows`` (default all) from ``seeds`` (uint64), or from
        the operating system's entropy when ``seeds`` is None."""
        index = self._row_index if rows is None else np.flatnonzero(rows)
        if seeds is None:
            seeds = entropy_seeds(index.shape[0])
        elif rows is not None:
            seeds = seeds[index]
        seed_rows(self.rng, index, seeds)

    def reset(
        self,
        rows: np.ndarray | None = None,
        options: dict | None = None,
        seeds: np.ndarray | None = None,
        reseed: bool = False,
        options_persist: bool = True,
    ) -> None:
        """Reset ``rows`` (bool ``[N]``, default all) with the kernels' random streams,
        reseeded first from ``seeds`` (uint64 ``[N]``, see :meth:`seed`) when ``reseed``.

        ``options`` go through the env's ``apply_reset_options``. With ``options_persist``
        they stay in force for later autoresets until the next ``reset`` (as Gymnasium's
        vector CartPole does); without, they are this reset's only and autoresets draw from
        the env's own parameters (as SB3's ``DummyVecEnv`` and Gymnasium's ``SyncVectorEnv``
        reset a finished env without options). They are checked before anything changes: a
        rejected reset leaves streams and state intact."""
        try:
            params = reset_params(self.definition, self.base_params, options)
        except ValueError as error:
            raise type(error)(f"{self.env_id}: reset(options={options!r}): {error}") from None
        if reseed:
            self.seed(seeds, rows)
        self.params = params
        mask = self._all_rows if rows is None else rows
        reset = self._pick(self.kernels.reset, self.kernels.reset_parallel)
        reset(self.rows, mask, self.params)
        if not options_persist:
            self.params = self.base_params
        self.has_reset = True

    def write_state(self, state: np.ndarray, rows: np.ndarray | None = None) -> None:
        """Overwrite the state of ``rows`` (default all), start new episodes there and
        observe. ``state`` is float64 ``[len(rows), state_size]``."""
        index = self._row_index if rows is None else np.flatnonzero(rows)
        self.state[index] = state
        self.episode[index, :3] = 0.0
        self.kernels.observe(self.rows, self.params)
        self.has_reset = True

    # -- stepping ----------------------------------------------------------------------------

    def load_actions(self, actions: Any, rows: tuple[int, int] | None = None) -> np.ndarray:
        """Check ``actions`` and copy them into the kernel's own action buffer, which is
        returned. Raises :class:`InvalidAction` saying what was expected. (Owning the buffer
        keeps the compiled kernel's argument types fixed, see :meth:`step`.)

        :param actions: ``[num_envs, *action_shape]``, or ``[stop - start, *action_shape]``
            for ``rows``
        :param rows: ``(start, stop)``: load only the actions of these rows (the others keep
            theirs)
        """
        if rows is None:
            buffer, shape, which = self.actions, self._action_shape, ""
        else:
            start, stop = rows
            buffer = self.actions[start:stop]
            shape, which = (stop - start, *self._action_shape[1:]), f" for rows {start}:{stop}"
        a = (
            actions
            if type(actions) is np.ndarray
            else action_array(self.env_id, actions, lambda: f"actions of shape {shape}{which}")
        )
        if a.dtype is not buffer.dtype and a.dtype.kind not in self._action_kinds:
            expected = "integers" if self._action_kind == "discrete" else "real numbers"
            raise InvalidAction(
                f"{self.env_id}: actions for {self.action_space} must be {expected}, "
                f"got dtype {a.dtype}"
            )
        if a.shape != shape:
            raise InvalidAction(
                f"{self.env_id}: expected actions of shape {shape}{which} "
                f"({self.num_envs} environments, action space {self.action_space}), "
                f"got shape {a.shape}"
            )
        self.narrowed = None
        if a.dtype is not buffer.dtype:
            if self._action_kind == "discrete":
                refuse_wrapping_integers(self.env_id, a, self.action_space)
            elif a.dtype.kind == "f" and a.dtype.itemsize > buffer.itemsize:
                self.narrowed = (buffer, a)  # for a refused step's clip_overflowed
        buffer[...] = a
        return buffer

    def step(self, actions: np.ndarray) -> None:
        """Step every row with ``self.actions`` (see :meth:`load_actions`), filling the output
        buffers. On error nothing changes."""
        if self._step_entry is None:
            self._step_entry = self._resolve_step()
        status = self._step_entry(*self._step_args)
        if status >= 0 and self.narrowed is not None:  # refused: maybe float64 beyond float32
            status = self.retry_narrowed(status, lambda: self._step_entry(*self._step_args))
        if status != K.OK:
            self._raise_step_error(status, actions)

    def retry_narrowed(self, status: int, step_again: Callable[[], int]) -> int:
        """The status of a refused step (``status`` >= 0) whose actions came from wider floats
        (:attr:`narrowed`, set by each load of actions): where the refused non-finite action
        was a finite float64 beyond float32 (cast to inf), that action clipped
        (:func:`clip_overflowed`) and ``step_again()``'s status (a refused step changed
        nothing); else ``status``."""
        narrowed, self.narrowed = self.narrowed, None
        if narrowed is not None and clip_overflowed(*narrowed):
            return step_again()
        return status

    def _resolve_step(self):
        """The compiled step for our exact argument types, called without numba's dispatch
        (:func:`~thrust_envs.core.kernels.entry_point`): every argument is an array this object
        owns or its parameters, so the types never change."""
        kernel = self.kernels.step_parallel if self._parallel else self.kernels.step
        if self._parallel:
            launch_numba_threads()  # compiling a parallel kernel would start numba's threads
        entry = K.entry_point(kernel, self._step_args)
        return self._with_threads(entry) if self._parallel else entry

    @property
    def params(self) -> Any:
        """The parameters in force (the constructor's, updated by reset options)."""
        return self._params

    @params.setter
    def params(self, params: Any) -> None:
        self._params = params
        # The step kernel's arguments, built once per parameter change (and the arrays' struct
        # with them, after unpickling too): on the hot path rebuilding them would cost as much
        # as stepping 16 CartPoles.
        self.rows = K.RowArrays(
            self.state, self.rng, self.episode, self.obs, self.reward, self.terminated,
            self.truncated, self.final_obs,
        )  # fmt: skip
        self._step_args = (
            self.rows,
            self.actions,
            params,
            self.autoreset_mode,
            self._max_steps,
            self._action_low,
            self._action_high,
        )

    def _raise_step_error(self, status: int, actions: np.ndarray) -> None:
        if status >= 0:
            problem = "is outside" if self._action_kind == "discrete" else "is not finite in"
            raise InvalidAction(
                f"{self.env_id}: action {actions[status].tolist()!r} of environment {status} "
                f"{problem} the action space {self.action_space}"
            )
        row = -2 - status
        raise RuntimeError(
            f"{self.env_id}: environment {row} finished its episode and autoreset is disabled; "
            "reset it with reset(options={'reset_mask': mask}) before stepping it again"
        )
