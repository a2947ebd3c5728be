"""The batch kernels, written once and specialised for each environment.

Each template below is a plain Python function over all ``N`` rows. It calls the env's row
functions (``step_row``, ``reset_row``, ``observe_row``) and an action validator as *global
names*. :func:`compile_kernels` copies a template's code object into a new function whose
globals bind those names to one env's numba functions and jit-compiles it, serial and
parallel. numba then inlines the row functions into one tight loop per env.

Why code objects with their own globals rather than closures or function arguments: numba
caches neither a closure over jitted functions (the closure's pickled key changes every
process) nor a kernel taking a jitted function as an argument (and calling through one costs
microseconds). A function with its own globals and a unique qualified name caches like any
other; the name carries a digest of the package's source, so editing an env recompiles it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import types
from pathlib import Path
from typing import Any

import numba
import numpy as np
from numba import njit, prange

# Autoreset modes understood by the step kernel.
NEXT_STEP = 0  # a finished row is reset by the *next* step, which ignores its action
SAME_STEP = 1  # a finished row is reset in the same step; the final observation is kept aside
DISABLED = 2  # a finished row must be reset explicitly; stepping it is an error
STEP_ONLY = 3  # no bookkeeping of finished rows (the single-env view, as Gymnasium's envs)

OK = -1


@njit(cache=True)
def first_invalid_discrete(actions: np.ndarray, low: int, high: int) -> int:
    """Index of the first action outside ``[low, high]``, or -1."""
    for i in range(actions.shape[0]):
        if actions[i] < low or actions[i] > high:
            return i
    return -1


@njit(cache=True)
def first_invalid_box(actions: np.ndarray, low: np.ndarray, high: np.ndarray) -> int:
    """Index of the first row holding a NaN or infinite action, or -1.

    Finite values outside the bounds are allowed: continuous reference environments clip them.
    """
    flat = actions.reshape(actions.shape[0], -1)
    for i in range(flat.shape[0]):
        for k in range(flat.shape[1]):
            if not np.isfinite(flat[i, k]):
                return i
    return -1


# ---------------------------------------------------------------------------------------------
# Templates. The names validate_actions, step_row, reset_row and observe_row are bound per env.
# ---------------------------------------------------------------------------------------------


def _step_template(
    state,
    rng,
    actions,
    params,
    mode,
    max_steps,
    action_low,
    action_high,
    episode,
    obs,
    reward,
    terminated,
    truncated,
    final_obs,
):
    """Step every row; return -1, the index of an invalid action, or ``-2 - i`` when row ``i``
    must be reset first (DISABLED mode). Nothing is modified unless -1 is returned.

    ``episode`` is float64 ``[N, 5]``: needs_reset, length, return, final length, final return.
    """
    n = state.shape[0]
    bad = validate_actions(actions, action_low, action_high)  # noqa: F821
    if bad >= 0:
        return bad
    if mode == 2:
        for i in range(n):
            if episode[i, 0] != 0.0:
                return -2 - i
    for i in prange(n):
        if mode == 0 and episode[i, 0] != 0.0:
            reset_row(state, i, rng, params)  # noqa: F821
            episode[i, 0] = 0.0
            episode[i, 1] = 0.0
            episode[i, 2] = 0.0
            observe_row(state, i, obs, params)  # noqa: F821
            reward[i] = 0.0
            terminated[i] = False
            truncated[i] = False
            continue
        r, term = step_row(state, i, actions[i], params)  # noqa: F821
        length = episode[i, 1] + 1.0
        episode[i, 1] = length
        episode[i, 2] += r
        trunc = max_steps > 0 and length >= max_steps
        reward[i] = r
        terminated[i] = term
        truncated[i] = trunc
        observe_row(state, i, obs, params)  # noqa: F821
        if mode != 3 and (term or trunc):
            episode[i, 3] = length
            episode[i, 4] = episode[i, 2]
            if mode == 1:
                final_obs[i] = obs[i]
                reset_row(state, i, rng, params)  # noqa: F821
                episode[i, 1] = 0.0
                episode[i, 2] = 0.0
                observe_row(state, i, obs, params)  # noqa: F821
            else:
                episode[i, 0] = 1.0
    return -1


def _reset_template(state, rng, rows, params, episode, obs):
    """Reset the rows flagged in ``rows`` (bool ``[N]``) and observe them."""
    for i in prange(state.shape[0]):
        if rows[i]:
            reset_row(state, i, rng, params)  # noqa: F821
            episode[i, 0] = 0.0
            episode[i, 1] = 0.0
            episode[i, 2] = 0.0
            observe_row(state, i, obs, params)  # noqa: F821


def _observe_template(state, params, obs):
    """Observe every row (after the state was written from outside a kernel)."""
    for i in prange(state.shape[0]):
        observe_row(state, i, obs, params)  # noqa: F821


@dataclasses.dataclass(frozen=True)
class Kernels:
    """One env's compiled kernels; ``*_parallel`` run rows on numba's thread pool."""

    step: Any
    step_parallel: Any
    reset: Any
    reset_parallel: Any
    observe: Any


_TEMPLATES = {"step": _step_template, "reset": _reset_template, "observe": _observe_template}
_compiled: dict[tuple[str, str], Kernels] = {}


@functools.cache
def _package_digest() -> str:
    """A digest of every source file of thrust_envs.

    numba's cache only watches the file of the cached function itself (here, this file),
    while a kernel inlines row functions and helpers from other modules. Keying kernels on
    the whole package's source is simple and safe: any edit recompiles them.
    """
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def entry_point(kernel, args: tuple):
    """The compiled overload of ``kernel`` for the types of ``args``, as a plain callable that
    skips numba's type dispatch.

    Dispatch costs about 80 ns an argument, more than the work of a small batch (1.5 µs of a
    16-CartPole step, 2 µs of a 64-game Snake step); a caller whose argument types never change
    (arrays it owns, fixed parameters) looks the overload up once with this and calls it
    directly. Calling it with other types is undefined: keep to the types it was built for."""
    signature = tuple(numba.typeof(a) for a in args)
    kernel.compile(signature)
    return kernel.overloads[signature].entry_point


class DirectCalls:
    """Calls jitted functions through :func:`entry_point`, each function's overload resolved
    from the argument types of its first call here: for a caller whose argument types never
    change (fresh arrays of fixed dtypes, shapes' ranks and layouts each step)."""

    def __init__(self) -> None:
        self._entries: dict[Any, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Entry points are process-local compiled code: a copy resolves them again on first call.
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._entries = {}

    def __call__(self, kernel, *args):
        entry = self._entries.get(kernel)
        if entry is None:
            entry = self._entries[kernel] = entry_point(kernel, args)
        return entry(*args)


def _specialise(template, qualname: str, parallel: bool, bindings: dict[str, Any]):
    env_globals = dict(template.__globals__)
    env_globals.update(bindings)
    function = types.FunctionType(template.__code__, env_globals, qualname)
    function.__qualname__ = qualname
    function.__module__ = template.__module__
    return njit(cache=True, parallel=parallel, nogil=True)(function)


def compile_kernels(definition, action_kind: str) -> Kernels:
    """The kernels of ``definition`` for actions of ``action_kind`` ("discrete" or "box").

    Compiled lazily on first call and cached on disk by numba; built once per process.
    """
    key = (definition.module, action_kind)
    kernels = _compiled.get(key)
    if kernels is not None:
        return kernels
    validator = {"discrete": first_invalid_discrete, "box": first_invalid_box}[action_kind]
    bindings = {
        "validate_actions": validator,
        "step_row": definition.step_row,
        "reset_row": definition.reset_row,
        "observe_row": definition.observe_row,
        "prange": prange,
    }
    tag = f"{definition.module.replace('.', '_')}_{action_kind}_{_package_digest()}"
    built = {}
    for name, template in _TEMPLATES.items():
        built[name] = _specialise(template, f"{name}__{tag}", False, bindings)
        if name != "observe":
            built[f"{name}_parallel"] = _specialise(
                template, f"{name}_parallel__{tag}", True, bindings
            )
    kernels = Kernels(**built)
    _compiled[key] = kernels
    return kernels
