"""``kernels.inline_calls``: the CPU templates' row bodies written in at the source level.

The step kernels' equality with the CUDA templates (which call the bodies) is tested in
test_cuda_simulator and with the fused rollout in test_algos_fused; here, the transformation
itself: it computes what calling the body computes, and refuses what it cannot write in
faithfully.
"""

from __future__ import annotations

import dis
import types

import numpy as np
import pytest

from thrust_envs.core import games as G
from thrust_envs.core import kernels as K


def _clamp_row(values, out, limit, i):
    """Row ``i``: negative values are skipped (the early return), others clamped to ``limit``."""
    if values[i] < 0:
        out[i] = -1.0
        return
    scaled = values[i] * 2.0
    if scaled > limit:
        scaled = limit
    out[i] = scaled


def _clamp_template(values, out, limit):
    for i in range(values.shape[0]):
        clamp_row(values, out, limit, i)  # noqa: F821
    return out


def _nested_template(values, out, limit):
    for i in range(values.shape[0]):
        if values[i] > 100:
            clamp_row(values, out, limit, i)  # noqa: F821
        else:
            out[i] = 7.0


def _not_last_template(values, out, limit):
    for i in range(values.shape[0]):
        clamp_row(values, out, limit, i)  # noqa: F821
        out[i] += 1.0


def _expression_argument_template(values, out, limit):
    for i in range(values.shape[0]):
        clamp_row(values, out, limit * 2, i)  # noqa: F821


def _keyword_template(values, out, limit):
    for i in range(values.shape[0]):
        clamp_row(values, out, limit, i=i)  # noqa: F821


def _arity_template(values, out, limit):
    for i in range(values.shape[0]):
        clamp_row(values, out, i)  # noqa: F821


def _clashing_template(values, out, limit):
    scaled = 0.0
    for i in range(values.shape[0]):
        clamp_row(values, out, limit, i)  # noqa: F821
    return scaled


def _assigns_parameter(values, out, limit, i):
    i = i + 1
    out[i] = values[i]


SCALE = 2.0


def _reads_global(values, out, limit, i):
    out[i] = values[i] * SCALE


def _shadowing_template(values, out, limit):
    SCALE = 5.0
    for i in range(values.shape[0]):
        clamp_row(values, out, limit, i)  # noqa: F821
    return SCALE


def _wrapped_lines(values, out, limit, i):
    out[i] = min(
        values[i],
        limit,
    )


def _returns_value(values, i):
    return values[i]


def _returns_in_loop(values, i):
    for k in range(3):
        if k == i:
            return


def _value_template(values):
    for i in range(values.shape[0]):
        body(values, i)  # noqa: F821


def _function(template, bodies, bindings=None) -> types.FunctionType:
    return K.rebind(template, f"inlined_{template.__name__}", bindings or {}, bodies)


def test_inlined_template_computes_what_calling_the_body_computes() -> None:
    values = np.array([3.0, -1.0, 10.0, 0.5, -4.0, 120.0])
    called = _function(_clamp_template, {}, {"clamp_row": _clamp_row})
    inlined = _function(_clamp_template, {"clamp_row": _clamp_row})
    assert "clamp_row" not in inlined.__code__.co_names  # written in, not called
    expected = called(values, np.zeros(6), 5.0)
    np.testing.assert_array_equal(inlined(values, np.zeros(6), 5.0), expected)
    np.testing.assert_array_equal(expected, [5.0, -1.0, 5.0, 1.0, -1.0, 5.0])
    # Inside an if that is the loop's last statement, `return` still means the loop's next turn.
    out_called, out_inlined = np.zeros(6), np.zeros(6)
    _function(_nested_template, {}, {"clamp_row": _clamp_row})(values, out_called, 500.0)
    _function(_nested_template, {"clamp_row": _clamp_row})(values, out_inlined, 500.0)
    np.testing.assert_array_equal(out_inlined, out_called)
    assert out_inlined[-1] == 240.0 and out_inlined[0] == 7.0


@pytest.mark.parametrize(
    ("template", "bodies", "message"),
    [
        (_not_last_template, {"clamp_row": _clamp_row}, "not a loop's last statement"),
        (_expression_argument_template, {"clamp_row": _clamp_row}, "plain name"),
        (_keyword_template, {"clamp_row": _clamp_row}, "4 positional arguments"),
        (_arity_template, {"clamp_row": _clamp_row}, "4 positional arguments"),
        (_clashing_template, {"clamp_row": _clamp_row}, "'scaled' is a template name"),
        (_value_template, {"body": _returns_value}, "returns a value"),
        (_value_template, {"body": _returns_in_loop}, "a return inside one of its loops"),
        (_clamp_template, {"clamp_row": _assigns_parameter}, "assigns its parameter 'i'"),
        (_shadowing_template, {"clamp_row": _reads_global}, "global 'SCALE' it reads"),
    ],
)
def test_inline_refuses_what_it_cannot_write_in_faithfully(template, bodies, message) -> None:
    with pytest.raises(ValueError, match=message):
        K.inline_calls(template, bodies)


def test_cpu_step_templates_hold_no_call_to_their_bodies_and_read_no_field_in_a_loop() -> None:
    step = K.inline_calls(K._step_template, {"step_one": K._step_one}, ("rows",))
    reset = K.inline_calls(K._reset_template, {"reset_one": K._reset_one}, ("rows",))
    game_step = K.inline_calls(
        G._game_step_template, {"game_step_one": G._game_step_one}, ("games",)
    )
    game_reset = K.inline_calls(
        G._game_reset_template, {"game_reset_one": G._game_reset_one}, ("games",)
    )
    assert "step_one" not in step.co_names and "step_row" in step.co_names
    assert "reset_one" not in reset.co_names and "reset_row" in reset.co_names
    assert "game_step_one" not in game_step.co_names and "step_row" in game_step.co_names
    assert "game_reset_one" not in game_reset.co_names and "reset_row" in game_reset.co_names
    for code in (step, game_step):
        _assert_fields_read_once(code)
    # Line numbers and file stay the template's: numba's disk cache keys on them.
    assert step.co_filename == K._step_template.__code__.co_filename
    assert step.co_firstlineno == K._step_template.__code__.co_firstlineno


def _assert_fields_read_once(code: types.CodeType) -> None:
    """Every struct field the kernel uses is read once, at its top, into a local ``s__field``
    (a read in a loop would count a reference each time, see kernels.inline_calls)."""
    hoisted = [name for name in code.co_varnames if "__" in name]
    assert hoisted
    fields = {name.split("__")[1] for name in hoisted}
    reads = [i.argval for i in dis.get_instructions(code) if i.opname == "LOAD_ATTR"]
    assert sorted(r for r in reads if r in fields) == sorted(n.split("__")[1] for n in hoisted)


def test_fused_rollout_templates_read_each_field_once() -> None:
    from thrust_algos import _fused_kernels as FK

    structs = ("policy", "storage")
    for template, body, struct in (
        (FK._rollout_template, K._step_one, "rows"),
        (FK._game_rollout_template, G._game_step_one, "games"),
    ):
        _assert_fields_read_once(K.inline_calls(template, {"step_one": body}, (struct, *structs)))
    _assert_fields_read_once(K.inline_calls(FK._act_template, {}, structs))


def _sum_fields_template(pair, out):
    for i in range(out.shape[0]):
        out[i] = pair.x[i] + pair.y[i]


def _assigns_struct_template(pair, out):
    pair = out
    out[0] = pair[0]


def test_struct_fields_become_locals_read_once() -> None:
    from typing import NamedTuple

    class Pair(NamedTuple):
        x: np.ndarray
        y: np.ndarray

    function = K.rebind(_sum_fields_template, "hoisted_sum", {}, None, ("pair",))
    names = function.__code__.co_varnames
    assert "pair__x" in names and "pair__y" in names
    out = np.zeros(3)
    function(Pair(np.arange(3.0), np.ones(3)), out)
    np.testing.assert_array_equal(out, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="'pair' is assigned"):
        K.inline_calls(_assigns_struct_template, {}, ("pair",))
    with pytest.raises(ValueError, match="not a parameter"):
        K.inline_calls(_sum_fields_template, {}, ("other",))


def test_a_body_of_wrapped_lines_and_a_global_it_reads_inline() -> None:
    """Statements over several lines keep a valid location; a global read by the body (not
    shadowed by the template) means what it meant."""
    values = np.array([3.0, 0.5, 9.0])
    wrapped = _function(_clamp_template, {"clamp_row": _wrapped_lines})
    np.testing.assert_array_equal(wrapped(values, np.zeros(3), 4.0), [3.0, 0.5, 4.0])
    scaled = _function(_clamp_template, {"clamp_row": _reads_global})
    np.testing.assert_array_equal(scaled(values, np.zeros(3), 4.0), values * 2.0)
