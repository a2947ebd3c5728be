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
