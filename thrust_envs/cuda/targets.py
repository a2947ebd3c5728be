"""The CUDA templates of ``core/kernels.py`` and ``core/games.py``, specialised per env or game.

Binding works as for the CPU kernels (:func:`thrust_envs.core.kernels.rebind`): a template's
code object gets globals naming the env's row bodies, and ``numba.cuda.jit`` compiles it with
every numba function it reaches written in (:func:`rebuild` makes each an ``inline="always"``
copy, whatever the env's own decorator says).

Under numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, read when numba is imported) kernels
run as Python, so every numba function they reach must be its Python twin: :func:`rebuild`
replaces each dispatcher by its ``py_func`` whose own globals are rebound the same way (and,
for the GPU, by an inlined copy).
"""

from __future__ import annotations

import dataclasses
import types
import warnings
from typing import Any

import numba
from numba import cuda
from numba.core.dispatcher import Dispatcher

from thrust_envs.core import games as G
from thrust_envs.core import kernels as K

SIMULATOR = bool(numba.config.ENABLE_CUDASIM)
THREADS_PER_BLOCK = 128

if SIMULATOR:
    # The simulator runs the SplitMix64 streams on numpy uint64 scalars, which warn on the
    # wrap-around that the generator relies on (compiled code wraps silently).
    warnings.filterwarnings(
        "ignore", message="overflow encountered in scalar", category=RuntimeWarning
    )


_rebuilt: dict[tuple[int, bool], tuple[Any, Any]] = {}  # (id, simulator) -> (function, rebuilt)


def rebuild(function: Any, simulator: bool = SIMULATOR) -> Any:
    """``function`` rebuilt for the CUDA target, recursively through every numba dispatcher it
    reaches by a global name.

    For the simulator each dispatcher becomes its plain Python function (what the simulator
    can run). For the GPU each becomes an ``inline="always"`` copy: numba-cuda compiles a
    non-inlined ``@njit`` helper (Snake keeps some, for CPU compile time) as a separate device
    function through a path that asks the driver for the current device, which ahead-of-time
    compilation (no GPU) does not have."""
    if not isinstance(function, (Dispatcher, types.FunctionType)):
        return function
    key = (id(function), simulator)
    entry = _rebuilt.get(key)
    if entry is not None:
        return entry[1]
    source = function.py_func if isinstance(function, Dispatcher) else function
    env_globals = dict(source.__globals__)
    copy = types.FunctionType(source.__code__, env_globals, source.__name__, source.__defaults__)
    copy.__qualname__ = source.__qualname__
    copy.__module__ = source.__module__
    done = copy if simulator else numba.njit(inline="always")(copy)
    # Before recursing (a function may reach itself). The entry keeps ``function`` alive:
    # an id is unique only while its object lives, and row bodies built per env are
    # temporaries, so a freed one's id could name another env's function.
    _rebuilt[key] = (function, done)
    for name in source.__code__.co_names:
        value = env_globals.get(name)
        if isinstance(value, Dispatcher):
            env_globals[name] = rebuild(value, simulator)
    return done


def _bind(templates: dict[str, Any], tag: str, bindings: dict[str, Any]) -> dict[str, Any]:
    """``templates`` rebound to ``bindings``, as CUDA kernels (or simulator twins)."""
    bindings = {name: rebuild(value) for name, value in bindings.items()}
    bindings["cuda"] = cuda
    kernels = {}
    for name, template in templates.items():
        function = K.rebind(template, f"cuda_{name}__{tag}", bindings)
        kernels[name] = cuda.jit(function) if SIMULATOR else cuda.jit(cache=True)(function)
    return kernels


@dataclasses.dataclass(frozen=True)
class CudaKernels:
    """One env's or game's CUDA kernels and the plain functions they were built from (the
    latter are what :func:`compile_ptx` compiles ahead of time)."""

    validate: Any
    step: Any
    reset: Any
    functions: dict[str, types.FunctionType]


_compiled: dict[tuple[str, str], CudaKernels] = {}


def _build(key: tuple[str, str], templates: dict[str, Any], tag: str, bindings: dict[str, Any]):
    kernels = _compiled.get(key)
    if kernels is None:
        bound = _bind(templates, tag, bindings)
        functions = {name: k.fn if SIMULATOR else k.py_func for name, k in bound.items()}
        kernels = _compiled[key] = CudaKernels(**bound, functions=functions)
    return kernels


def env_kernels(definition, action_kind: str) -> CudaKernels:
    """The CUDA kernels of env ``definition`` for ``"discrete"`` or ``"box"`` actions (box
    actions as ``[N, K]``)."""
    tag = K.kernel_tag(definition, action_kind)
    discrete = action_kind == "discrete"
    bindings = {
        "invalid_row": K.invalid_discrete_row if discrete else K.invalid_box_row,
        "copy_action": K.copy_discrete_action if discrete else K.copy_box_action,
        **K.row_bodies(definition, f"cuda_{tag}"),
    }
    return _build(("env", definition.module + action_kind), K.CUDA_TEMPLATES, tag, bindings)


def game_kernels(definition) -> CudaKernels:
    """The CUDA kernels of game ``definition``."""
    tag = K.kernel_tag(definition)
    bindings = {
        "invalid_game_agent": G.invalid_game_agent,
        **G.game_row_bodies(definition, f"cuda_{tag}"),
    }
    return _build(("game", definition.module), G.CUDA_GAME_TEMPLATES, tag, bindings)


def launch(kernel: Any, rows: int, stream: Any, *args: Any) -> None:
    """Launch ``kernel`` with one thread per row on ``stream``."""
    # No wider than needed: the simulator runs every thread of a block as a Python thread.
    threads = min(rows, THREADS_PER_BLOCK)
    kernel[(rows + threads - 1) // threads, threads, stream](*args)


def compile_ptx(
    kernels: CudaKernels, signatures: dict[str, tuple], ccs: tuple[tuple[int, int], ...]
) -> dict[tuple[str, tuple[int, int]], str]:
    """PTX of each kernel for each compute capability in ``ccs``, ahead of time (no driver, no
    GPU): ``{(name, cc): ptx}``; ``signatures`` gives each kernel's argument types.

    Each kernel is typed and lowered once and its LLVM IR handed to NVVM once per ``cc``
    (numba-cuda's ``compile_ptx`` would redo the whole pipeline for each)."""
    from numba.cuda import compiler

    out = {}
    for name, signature in signatures.items():
        function = kernels.functions[name]
        lower_once = getattr(compiler, "_compile_pyfunc_with_fixup", None)
        if lower_once is None:  # another numba-cuda: its public entry point, once per cc
            for cc in ccs:
                out[name, cc] = cuda.compile_ptx(function, signature, cc=cc)[0]
            continue
        library, _ = lower_once(function, signature, device=False, cc=ccs[0], abi="numba")
        for cc in ccs:
            (out[name, cc],) = library.get_asm_strs(cc=cc)
    return out


def env_signatures(definition, params: Any) -> tuple[str, dict[str, tuple]]:
    """The action kind and each env kernel's argument types, as the device env passes them."""
    import numpy as np

    action_space = definition.action_space(params)
    obs_space = definition.observation_space(params)
    discrete = hasattr(action_space, "n")
    actions = np.zeros(
        1 if discrete else (1, action_space.shape[0]), np.int64 if discrete else action_space.dtype
    )
    bounds = 0 if discrete else np.zeros(action_space.shape[0])
    matrix, flags = np.zeros((1, 1)), np.zeros(1, np.bool_)
    obs = np.zeros((1, *obs_space.shape), obs_space.dtype)
    status, rng = np.zeros(3, np.int64), np.zeros(1, np.uint64)
    state = np.zeros((1, definition.state_size))
    t = numba.typeof
    mode = max_steps = t(0)
    reward = t(np.zeros(1, np.float32))
    rows = (t(state), t(rng), t(matrix), t(obs), reward, t(flags), t(flags), t(obs))  # RowArrays
    signatures = {
        "validate": (t(actions), t(bounds), t(bounds), mode, t(matrix), t(status)),
        "step": (
            *rows,
            t(actions),
            t(params),
            mode,
            max_steps,
            t(status),
            t(actions[:1].ravel()),
            t(matrix),
        ),
        "reset": (*rows, t(flags), t(params)),
    }
    return ("discrete" if discrete else "box"), signatures


def game_signatures(definition, params: Any) -> dict[str, tuple]:
    """Each game kernel's argument types, as the device game env passes them."""
    import numpy as np

    from thrust_envs.core.games import BatchGame

    game = BatchGame(definition, 1, params, autoreset=True, num_threads=1)
    t = numba.typeof
    status = np.zeros(3, np.int64)
    totals = np.zeros((1, 2 + game.num_agents))
    games = tuple(t(array) for array in game.arrays)  # GameArrays' order
    settings = (t(game.actions), t(params), t(True), t(0))  # actions, params, autoreset, limit
    return {
        "validate": (t(game.actions), t(game.alive), t(game.nvec), t(status)),
        "step": (*games, *settings, t(status), t(game.nvec), t(totals)),
        "reset": (*games, t(game.game_over), t(params)),
    }
