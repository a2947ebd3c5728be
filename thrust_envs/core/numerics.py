"""Arithmetic that must round exactly as the reference environments' NumPy/Python code does."""

from __future__ import annotations

import math

from numba import njit


@njit(cache=True, inline="always")
def libm_pow(x, y):
    """``x ** y`` as NumPy and Python compute it for floats: a call to the C library's ``pow``
    (``powf`` for float32 operands).

    Why not ``x ** 2`` or ``x * x``: glibc's ``pow(x, 2.0)`` is not always ``x * x`` (it
    differs in the last bit for about 1 value in 1,200), and LLVM rewrites ``pow(x, 2.0)``
    with a constant exponent into ``x * x``. Making the exponent opaque to the optimiser
    (``y + (x - x)`` cannot be folded without fast-math, equals ``y`` for finite ``x`` and
    keeps ``x``'s precision) keeps the library call, and so the reference's rounding.
    """
    return math.pow(x, y + (x - x))


@njit(cache=True, inline="always")
def _subtract_while_above(x, bound, diff):
    """``while x > bound: x = x - diff`` (Gymnasium's loop, rounding included) in at most a
    few steps per binade of ``x``. Where that loop never ends (``x - diff`` rounds back to
    ``x``) the remainder of ``x - bound`` modulo ``diff`` stands in (a finite ``x``), or NaN
    (``x`` infinite).

    Inside one binade ``[low, 2 low)`` every result of ``x - diff`` that stays in the binade
    is rounded to the same unit, so after the first step (which may round a tie to even) the
    loop subtracts one constant amount ``step``: the run of steps that keeps ``x - diff`` in
    the binade is jumped over at once, exactly (``x + n * step`` is a multiple of the unit
    below ``2 low``, so exact). Steps that leave the binade are taken one at a time as the
    reference takes them.
    """
    while x > bound:
        if x == math.inf:
            return math.nan
        y = x - diff
        if y == x:  # diff is below half a unit of x: the reference loops forever
            return bound - diff + (x - bound) % diff  # fmod: both are positive
        mantissa, exponent = math.frexp(x)
        low = math.ldexp(1.0, exponent - 1)  # x in [low, 2 low)
        if low <= bound or x - low < 4.0 * diff:
            x = y
            continue
        step = (y - diff) - y  # exact: both are multiples of the binade's unit
        # Further steps from y that keep the exact y + k * step - diff at or above low.
        room = (y - low) - diff  # exact (Sterbenz) up to the last subtraction's rounding
        n = max(math.floor(room / -step), 0.0)
        while n > 0.0 and (y + (n - 1.0) * step) - low < diff:
            n -= 1.0
        while (y + n * step) - low >= diff:
            n += 1.0
        x = y + n * step
    return x


@njit(cache=True, inline="always")
def wrap(x, m, M):
    """Gymnasium's ``classic_control.acrobot.wrap(x, m, M)`` bit for bit, in a bounded number
    of operations: the reference subtracts (adds) ``M - m`` one at a time while ``x > M``
    (``x < m``), which takes ``|x| / (M - m)`` iterations and never ends once ``x - (M - m)``
    rounds back to ``x`` (``|x|`` past about 1e16 for ``M - m = 2 pi``). There this returns
    ``x``'s remainder in ``[m, M]`` (NaN for an infinite ``x``); everywhere the reference
    returns, the same value.
    """
    diff = M - m
    x = _subtract_while_above(x, M, diff)
    if x < m:
        # x + diff rounds as -((-x) - diff) (round-to-nearest-even is symmetric); 0.0 - y
        # rather than -y, because the reference's exact zero x + diff is +0.0.
        x = 0.0 - _subtract_while_above(-x, -m, diff)
    return x
