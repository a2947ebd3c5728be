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

import ast
import copy
import dataclasses
import functools
import hashlib
import inspect
import math
import textwrap
import types
from pathlib import Path
from typing import Any, NamedTuple

import numba
import numpy as np
from numba import njit, prange

# Autoreset modes understood by the step kernel.
NEXT_STEP = 0  # a finished row is reset by the *next* step, which ignores its action
SAME_STEP = 1  # a finished row is reset in the same step; the final observation is kept aside
DISABLED = 2  # a finished row must be reset explicitly; stepping it is an error
STEP_ONLY = 3  # no bookkeeping of finished rows (the single-env view, as Gymnasium's envs)

OK = -1


@njit(cache=True, inline="always")
def invalid_discrete_row(actions: np.ndarray, i: int, low: int, high: int) -> bool:
    """Whether row ``i``'s action lies outside ``[low, high]``."""
    return actions[i] < low or actions[i] > high


@njit(cache=True, inline="always")
def invalid_box_row(actions: np.ndarray, i: int, low: np.ndarray, high: np.ndarray) -> bool:
    """Whether row ``i`` of ``actions [N, K]`` holds a NaN or infinite action.

    Finite values outside the bounds are allowed: continuous reference environments clip them.
    """
    for k in range(actions.shape[1]):  # noqa: SIM110 (numba compiles no generators)
        if not math.isfinite(actions[i, k]):
            return True
    return False


@njit(cache=True)
def first_invalid_discrete(actions: np.ndarray, low: int, high: int) -> int:
    """Index of the first action outside ``[low, high]``, or -1."""
    # invalid_discrete_row's test written out: the CUDA validation calls it per row, but on the
    # CPU numba's IR inlining of the call makes this loop slower (as for the row bodies).
    for i in range(actions.shape[0]):
        if actions[i] < low or actions[i] > high:
            return i
    return -1


@njit(cache=True)
def first_invalid_box(actions: np.ndarray, low: np.ndarray, high: np.ndarray) -> int:
    """Index of the first row holding a NaN or infinite action, or -1."""
    flat = actions.reshape(actions.shape[0], -1)
    for i in range(flat.shape[0]):
        if invalid_box_row(flat, i, low, high):
            return i
    return -1


@njit(cache=True, inline="always")
def copy_obs_row(obs: np.ndarray, final_obs: np.ndarray, i: int) -> None:
    """``final_obs[i] = obs[i]`` for ``[N, F]`` observations, element by element, on every
    target: a row-slice assignment compiles numba's shape-mismatch error path into the kernel
    (its string formatting took 1.7 s of a first step's 2.7 s compile), and the CUDA target
    compiles no array-slice assignment."""
    for k in range(obs.shape[1]):
        final_obs[i, k] = obs[i, k]


# ---------------------------------------------------------------------------------------------
# Row bodies and templates. The names validate_actions, step_row, reset_row, observe_row,
# copy_obs_row, step_one and reset_one are bound per env. A body is the work of one row; a CPU
# template runs it for every row in a (p)range loop, a CUDA template (thrust_envs.cuda) in one
# thread per row: the same code on both targets.
# ---------------------------------------------------------------------------------------------


class RowArrays(NamedTuple):
    """The arrays ``N`` rows are stepped in: one struct for every body, template and view
    (numba passes a named tuple of arrays as it passes the arrays, without a copy).

    ``state`` float64 ``[N, S]``; ``rng`` uint64 ``[N]``, each row's SplitMix64 stream;
    ``episode`` float64 ``[N, 5]``: needs-reset, length, return, final length, final return;
    ``obs`` and ``final_obs`` ``[N, *obs_shape]``; ``reward`` ``[N]``; ``terminated`` and
    ``truncated`` bool ``[N]``."""

    state: np.ndarray
    rng: np.ndarray
    episode: np.ndarray
    obs: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    final_obs: np.ndarray


def _step_one(rows, actions, params, mode, max_steps, i):
    """Step row ``i`` of ``rows`` (its action already validated); see :func:`_step_template`."""
    if mode == 0 and rows.episode[i, 0] != 0.0:  # NEXT_STEP: reset now, the action ignored
        reset_row(rows.state, i, rows.rng, params)  # noqa: F821
        rows.episode[i, 0] = 0.0
        rows.episode[i, 1] = 0.0
        rows.episode[i, 2] = 0.0
        observe_row(rows.state, i, rows.obs, params)  # noqa: F821
        rows.reward[i] = 0.0
        rows.terminated[i] = False
        rows.truncated[i] = False
    else:
        r, term = step_row(rows.state, i, actions[i], params)  # noqa: F821
        length = rows.episode[i, 1] + 1.0
        rows.episode[i, 1] = length
        rows.episode[i, 2] += r
        trunc = max_steps > 0 and length >= max_steps
        rows.reward[i] = r
        rows.terminated[i] = term
        rows.truncated[i] = trunc
        observe_row(rows.state, i, rows.obs, params)  # noqa: F821
        if mode != 3 and (term or trunc):
            rows.episode[i, 3] = length
            rows.episode[i, 4] = rows.episode[i, 2]
            if mode == 1:
                copy_obs_row(rows.obs, rows.final_obs, i)
                reset_row(rows.state, i, rows.rng, params)  # noqa: F821
                rows.episode[i, 1] = 0.0
                rows.episode[i, 2] = 0.0
                observe_row(rows.state, i, rows.obs, params)  # noqa: F821
            else:
                rows.episode[i, 0] = 1.0


def _reset_one(rows, params, i):
    """Start a new episode in row ``i`` and observe it."""
    reset_row(rows.state, i, rows.rng, params)  # noqa: F821
    rows.episode[i, 0] = 0.0
    rows.episode[i, 1] = 0.0
    rows.episode[i, 2] = 0.0
    observe_row(rows.state, i, rows.obs, params)  # noqa: F821


def _step_template(rows, actions, params, mode, max_steps, action_low, action_high):
    """Step every row of ``rows`` (:class:`RowArrays`) with ``actions``; return -1, the index
    of an invalid action, or ``-2 - i`` when row ``i`` must be reset first (DISABLED mode).
    Nothing is modified unless -1 is returned."""
    n = rows.state.shape[0]
    bad = validate_actions(actions, action_low, action_high)  # noqa: F821
    if bad >= 0:
        return bad
    if mode == 2:
        for i in range(n):
            if rows.episode[i, 0] != 0.0:
                return -2 - i
    # _step_one is written into this loop by inline_calls (compile_kernels), not called; the
    # CUDA template calls it and the fused rollout writes it in too: one body for all three.
    for i in prange(n):
        step_one(rows, actions, params, mode, max_steps, i)  # noqa: F821
    return -1


def _reset_template(rows, mask, params):
    """Reset the rows flagged in ``mask`` (bool ``[N]``) and observe them."""
    for i in prange(rows.state.shape[0]):
        if mask[i]:
            reset_one(rows, params, i)  # noqa: F821


def _observe_template(rows, params):
    """Observe every row (after the state was written from outside a kernel)."""
    for i in prange(rows.state.shape[0]):
        observe_row(rows.state, i, rows.obs, params)  # noqa: F821


# CUDA templates: one thread per row. ``cuda`` (numba.cuda), ``invalid_row`` and
# ``copy_action`` are bound by thrust_envs.cuda, which compiles them; this module never imports
# numba.cuda. A step is two launches on one stream: validation marks the first bad row in
# ``status`` (int64 [3]: first invalid action, first row needing a reset in DISABLED mode,
# whether the bad action was recorded; N means none), and the step then changes nothing while
# ``status`` holds an error, so that, as on the CPU, an invalid action modifies no row. The
# host reads ``status`` when it chooses to (thrust_envs.cuda), not every step. A kernel takes
# the arrays one by one (what a launch passes) and makes the bodies' RowArrays of them.


def _cuda_validate_template(actions, action_low, action_high, mode, episode, status):
    """Mark in ``status`` the first row with an invalid action or needing a reset."""
    i = cuda.grid(1)  # noqa: F821
    if i < episode.shape[0]:
        if invalid_row(actions, i, action_low, action_high):  # noqa: F821
            cuda.atomic.min(status, 0, i)  # noqa: F821
        if mode == 2 and episode[i, 0] != 0.0:
            cuda.atomic.min(status, 1, i)  # noqa: F821


def _cuda_step_template(
    state, rng, episode, obs, reward, terminated, truncated, final_obs, actions, params, mode,
    max_steps, status, error_action, totals,
):  # fmt: skip
    """Step row ``cuda.grid(1)`` unless ``status`` holds an error; then the bad row copies its
    action into ``error_action`` (once). The first eight arrays are :class:`RowArrays`' fields
    in order. ``totals`` float64 ``[N, 3]`` accumulates each row's finished episodes, their
    lengths and returns until the host reads and clears it."""
    i = cuda.grid(1)  # noqa: F821
    n = state.shape[0]
    if i >= n:
        return
    if status[0] < n or status[1] < n:
        if i == status[0] and status[2] == 0:
            copy_action(actions, i, error_action)  # noqa: F821
            status[2] = 1
        return
    rows = RowArrays(state, rng, episode, obs, reward, terminated, truncated, final_obs)
    step_one(rows, actions, params, mode, max_steps, i)  # noqa: F821
    if mode != 3 and (terminated[i] or truncated[i]):
        totals[i, 0] += 1.0
        totals[i, 1] += episode[i, 3]
        totals[i, 2] += episode[i, 4]


def _cuda_reset_template(
    state, rng, episode, obs, reward, terminated, truncated, final_obs, mask, params
):
    """Reset row ``cuda.grid(1)`` if ``mask`` flags it (the arrays as for the step)."""
    i = cuda.grid(1)  # noqa: F821
    if i < state.shape[0] and mask[i]:
        rows = RowArrays(state, rng, episode, obs, reward, terminated, truncated, final_obs)
        reset_one(rows, params, i)  # noqa: F821


CUDA_TEMPLATES = {
    "validate": _cuda_validate_template,
    "step": _cuda_step_template,
    "reset": _cuda_reset_template,
}


@njit(cache=True, inline="always")
def copy_discrete_action(actions: np.ndarray, i: int, out: np.ndarray) -> None:
    """``out[0] = actions[i]`` (an invalid action, kept for the error message)."""
    out[0] = actions[i]


@njit(cache=True, inline="always")
def copy_box_action(actions: np.ndarray, i: int, out: np.ndarray) -> None:
    """``out[:] = actions[i, :]`` of ``[N, K]`` actions, element by element."""
    for k in range(actions.shape[1]):
        out[k] = actions[i, k]


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
    """A digest of every source file of thrust_envs, read once per process.

    numba's cache only watches the file of the cached function itself (here, this file),
    while a kernel inlines row functions and helpers from other modules. Keying kernels on
    the whole package's source is simple and safe: any edit recompiles them (in the next
    process: reading the files costs about 0.1 ms, which the fused rollout paid twice a
    rollout before this was cached).
    """
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


# Read at import, with the functions it describes (see _package_digest).
_package_digest()


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


def rebind(
    template,
    qualname: str,
    bindings: dict[str, Any],
    inline: dict[str, Any] | None = None,
    structs: tuple[str, ...] = (),
) -> types.FunctionType:
    """A copy of the plain function ``template`` whose globals also hold ``bindings``, named
    ``qualname`` (unique per env, so numba caches each copy apart). ``inline`` maps names the
    template calls to plain row bodies written into it, and ``structs`` names parameters whose
    fields are read once at its top (both by :func:`inline_calls`)."""
    env_globals = dict(template.__globals__)
    env_globals.update(bindings)
    code = inline_calls(template, inline or {}, structs) if inline or structs else template.__code__
    function = types.FunctionType(code, env_globals, qualname)
    function.__qualname__ = qualname
    function.__module__ = template.__module__
    return function


def _specialise(
    template,
    qualname: str,
    parallel: bool,
    bindings: dict[str, Any],
    inline: dict[str, Any],
    structs: tuple[str, ...],
):
    """``template`` rebound (:func:`rebind`) and jit-compiled for the CPU, serial or with its
    ``prange`` loops on numba's threads, cached on disk."""
    function = rebind(template, qualname, bindings, inline, structs)
    return njit(cache=True, parallel=parallel, nogil=True)(function)


def inline_calls(template, bodies: dict[str, Any], structs: tuple[str, ...] = ()) -> types.CodeType:
    """The code of ``template`` with each statement ``name(arg, ...)`` (``name`` a key of
    ``bodies``, every argument a plain name) replaced by the statements of ``bodies[name]``,
    its parameters renamed to the arguments and a bare ``return`` made ``continue``; then
    each read ``s.field`` of a parameter ``s`` named in ``structs`` (a named tuple of arrays),
    in the template or a body written into it, made a read of a local ``s__field`` assigned
    once at the template's top.

    Why the fields are read at the top: numba counts a reference each time an array is read
    out of a tuple, so a field read inside a row loop costs two atomic operations per read
    (CartPole's step kernel ran 30% slower), and a ``prange`` loop loses the writes made
    through a named tuple's fields (numba issues #5872 and #7135). A local read before the
    loop has neither problem.

    Why at the source level: the CPU templates run a row body inside a (p)range loop, and
    numba's IR inlining of that body (``inline="always"``) makes the loop 2.5x slower than
    the body written into it (CartPole, 64 and 1024 rows: 6.5 against 3.2 us, 94 against
    38 us; ``benchmarks/vecenv_revisions.py``). Writing it in here keeps one copy of each body
    for the CPU templates, the CUDA templates (which call it) and the fused rollout.

    A body may ``return`` (nothing) only where the call is the last statement of a loop's
    body, so that ``continue`` means what ``return`` meant; it must not assign its parameters
    (that would assign the template's variables), its own local names must not already name
    something in the template, and a global it reads must not be a template local (which
    would shadow it). Anything else raises ``ValueError``: a template this cannot inline
    faithfully is not compiled.
    """
    tree = ast.parse(textwrap.dedent(inspect.getsource(template)))
    ast.increment_lineno(tree, template.__code__.co_firstlineno - 1)
    function = tree.body[0]
    taken = {node.id for node in ast.walk(function) if isinstance(node, ast.Name)}
    taken |= {arg.arg for arg in function.args.args}
    template_locals = {arg.arg for arg in function.args.args} | {
        node.id
        for node in ast.walk(function)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
    }
    parsed = {name: _body_statements(body) for name, body in bodies.items()}

    def expand(statements: list[ast.stmt], continues_loop: bool) -> list[ast.stmt]:
        # continues_loop: falling off the end of this block goes on to the loop's next turn.
        out: list[ast.stmt] = []
        for position, statement in enumerate(statements):
            last = continues_loop and position == len(statements) - 1
            call = statement.value if isinstance(statement, ast.Expr) else None
            name = getattr(getattr(call, "func", None), "id", None)
            if isinstance(call, ast.Call) and name in parsed:
                out.extend(_substitute(name, call, *parsed[name], last, taken, template_locals))
                continue
            loop = isinstance(statement, (ast.For, ast.While))
            for field in ("body", "orelse"):
                block = getattr(statement, field, None)
                if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                    setattr(statement, field, expand(block, (loop and field == "body") or last))
            out.append(statement)
        return out

    function.body = expand(function.body, False)
    if structs:
        _hoist_fields(function, structs, taken)
    module = compile(ast.fix_missing_locations(tree), template.__code__.co_filename, "exec")
    return next(
        const
        for const in module.co_consts
        if isinstance(const, types.CodeType) and const.co_name == template.__name__
    )


class _FieldsToLocals(ast.NodeTransformer):
    """``s.field`` (``s`` in ``structs``, read) to the name ``s__field``, recording each."""

    def __init__(self, structs: tuple[str, ...]) -> None:
        self.structs = structs
        self.fields: dict[str, tuple[str, str]] = {}

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.value, ast.Name) and node.value.id in self.structs:
            if not isinstance(node.ctx, ast.Load):
                raise ValueError(f"struct {node.value.id!r}: its field {node.attr!r} is assigned")
            local = f"{node.value.id}__{node.attr}"
            self.fields[local] = (node.value.id, node.attr)
            return ast.copy_location(ast.Name(id=local, ctx=ast.Load()), node)
        return node


def _hoist_fields(function: ast.FunctionDef, structs: tuple[str, ...], taken: set[str]) -> None:
    """Read the fields ``function`` uses of its parameters ``structs`` once, at its top."""
    parameters = {arg.arg for arg in function.args.args}
    for name in structs:
        if name not in parameters:
            raise ValueError(f"struct {name!r} is not a parameter of {function.name}")
        stored = any(
            isinstance(node, ast.Name) and node.id == name and not isinstance(node.ctx, ast.Load)
            for node in ast.walk(function)
        )
        if stored:
            raise ValueError(f"struct {name!r} is assigned in {function.name}")
    rewrite = _FieldsToLocals(structs)
    function.body = [rewrite.visit(statement) for statement in function.body]
    clashes = sorted(set(rewrite.fields) & taken)
    if clashes:
        raise ValueError(f"{function.name}: the names {clashes} are taken")
    prologue = [
        ast.copy_location(
            ast.Assign(
                targets=[ast.Name(id=local, ctx=ast.Store())],
                value=ast.Attribute(value=ast.Name(id=s, ctx=ast.Load()), attr=f, ctx=ast.Load()),
            ),
            function.body[0],
        )
        for local, (s, f) in sorted(rewrite.fields.items())
    ]
    docstring = function.body[:1] if _is_docstring(function.body[0]) else []
    function.body = docstring + prologue + function.body[len(docstring) :]


def _is_docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)


class _ReturnToContinue(ast.NodeTransformer):
    def visit_Return(self, node: ast.Return) -> ast.Continue:
        return ast.copy_location(ast.Continue(), node)


def _body_statements(body) -> tuple[list[str], list[ast.stmt]]:
    """A row body's parameter names and statements (its docstring dropped)."""
    function = ast.parse(textwrap.dedent(inspect.getsource(body))).body[0]
    statements = function.body
    if (
        statements
        and isinstance(statements[0], ast.Expr)
        and isinstance(statements[0].value, ast.Constant)
    ):
        statements = statements[1:]
    return [arg.arg for arg in function.args.args], statements


def _substitute(
    name: str,
    call: ast.Call,
    params: list[str],
    statements: list[ast.stmt],
    last_in_loop: bool,
    taken: set[str],
    template_locals: set[str],
) -> list[ast.stmt]:
    """``statements`` with ``params`` renamed to ``call``'s arguments (see inline_calls)."""
    if call.keywords or len(call.args) != len(params):
        raise ValueError(f"inline {name}: expected {len(params)} positional arguments")
    if not all(isinstance(arg, ast.Name) for arg in call.args):
        raise ValueError(f"inline {name}: every argument must be a plain name")
    renames = {param: arg.id for param, arg in zip(params, call.args, strict=True)}
    block = [copy.deepcopy(statement) for statement in statements]
    names = [node for s in block for node in ast.walk(s) if isinstance(node, ast.Name)]
    locals_ = {node.id for node in names if isinstance(node.ctx, ast.Store)}
    for node in names:
        if node.id in renames:
            if isinstance(node.ctx, ast.Store):  # it would assign the template's variable
                raise ValueError(f"inline {name}: it assigns its parameter {node.id!r}")
            node.id = renames[node.id]
        elif node.id in locals_ and node.id in taken:  # a body local the template names
            raise ValueError(f"inline {name}: its local {node.id!r} is a template name")
        elif node.id not in locals_ and node.id in template_locals:  # a global it would shadow
            raise ValueError(f"inline {name}: the global {node.id!r} it reads is a template local")
    for statement in block:
        for node in ast.walk(statement):
            if isinstance(node, (ast.For, ast.While)) and any(
                isinstance(inner, ast.Return) for inner in ast.walk(node)
            ):
                raise ValueError(f"inline {name}: a return inside one of its loops")
    returns = [node for s in block for node in ast.walk(s) if isinstance(node, ast.Return)]
    if returns and not last_in_loop:
        raise ValueError(f"inline {name}: it returns, and the call is not a loop's last statement")
    for node in returns:
        if node.value is not None:
            raise ValueError(f"inline {name}: it returns a value")

    block = [_ReturnToContinue().visit(statement) for statement in block]
    for statement in block:  # every written-in node stands where the call stood
        for node in ast.walk(statement):
            if hasattr(node, "lineno"):
                ast.copy_location(node, call)
    return block


def row_bindings(definition) -> dict[str, Any]:
    """The names the env's row bodies (``_step_one``, ``_reset_one``) call, bound to its row
    functions and to the final-observation copy every target uses."""
    return {
        "step_row": definition.step_row,
        "reset_row": definition.reset_row,
        "observe_row": definition.observe_row,
        "copy_obs_row": copy_obs_row,
    }


def row_bodies(definition, tag: str) -> dict[str, Any]:
    """The env's row bodies (``step_one``, ``reset_one``), inlined into the templates of either
    target."""
    bindings = row_bindings(definition)
    return {
        name: njit(cache=True, inline="always")(rebind(body, f"{name}__{tag}", bindings))
        for name, body in (("step_one", _step_one), ("reset_one", _reset_one))
    }


def kernel_tag(definition, *parts: str) -> str:
    """The unique part of an env's kernel names: its module path (two envs called alike stay
    apart in the cache), ``parts`` and the package digest."""
    return "_".join((definition.module.replace(".", "_"), *parts, _package_digest()))


def compile_kernels(definition, action_kind: str) -> Kernels:
    """The kernels of ``definition`` for actions of ``action_kind`` ("discrete" or "box").

    Compiled lazily on first call and cached on disk by numba; built once per process.
    """
    key = (definition.module, action_kind)
    kernels = _compiled.get(key)
    if kernels is not None:
        return kernels
    validator = {"discrete": first_invalid_discrete, "box": first_invalid_box}[action_kind]
    tag = kernel_tag(definition, action_kind)
    bindings = {**row_bindings(definition), "validate_actions": validator, "prange": prange}
    inline = {"step_one": _step_one, "reset_one": _reset_one}
    built = {}
    for name, template in _TEMPLATES.items():
        specialised = functools.partial(_specialise, template, bindings=bindings, inline=inline,
                                        structs=("rows",))  # fmt: skip
        built[name] = specialised(f"{name}__{tag}", False)
        if name != "observe":
            built[f"{name}_parallel"] = specialised(f"{name}_parallel__{tag}", True)
    kernels = Kernels(**built)
    _compiled[key] = kernels
    return kernels
