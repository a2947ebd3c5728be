"""Numpy versions of the torch activation modules an exported MLP may contain.

Each activation is described in the artifact metadata by a layer entry such as
``{"op": "leaky_relu", "negative_slope": 0.01}`` and turned, once at load time, into a function
``f(x) -> y`` on a ``float32`` array of shape ``(batch, features)``. ``f`` may overwrite ``x``
(the forward pass owns its intermediate arrays), which keeps the single-observation path lean.

The formulas follow ATen's CPU kernels (e.g. ``expm1`` for ELU, the ``threshold`` of Softplus), so
that results agree with torch to float32 rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

Activation = Callable[[np.ndarray], np.ndarray]

# nn.SELU constants (torch.nn.functional.selu).
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946

_erf = np.frompyfunc(math.erf, 1, 1)


def _tanh(x: np.ndarray) -> np.ndarray:
    return np.tanh(x, out=x)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, np.float32(0.0), out=x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.float32(1.0) / (np.float32(1.0) + np.exp(-x))


def _silu(x: np.ndarray) -> np.ndarray:
    return x / (np.float32(1.0) + np.exp(-x))


def _softsign(x: np.ndarray) -> np.ndarray:
    return x / (np.float32(1.0) + np.abs(x))


def _hardswish(x: np.ndarray) -> np.ndarray:
    return x * np.clip(x + np.float32(3.0), np.float32(0.0), np.float32(6.0)) / np.float32(6.0)


def _hardsigmoid(x: np.ndarray) -> np.ndarray:
    return np.clip(x + np.float32(3.0), np.float32(0.0), np.float32(6.0)) / np.float32(6.0)


def _softplus_fn(beta: float, threshold: float) -> Activation:
    b = np.float32(beta)
    t = np.float32(threshold)

    def softplus(x: np.ndarray) -> np.ndarray:
        bx = x * b
        with np.errstate(over="ignore"):
            soft = np.log1p(np.exp(bx)) / b
        return np.where(bx > t, x, soft).astype(np.float32, copy=False)

    return softplus


def _elu_fn(alpha: float, scale: float, input_scale: float) -> Activation:
    # ATen: x <= 0 ? expm1(x * input_scale) * alpha * scale : x * scale
    neg = np.float32(alpha * scale)
    pos = np.float32(scale)
    ins = np.float32(input_scale)

    def elu(x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            negative = np.expm1(x * ins) * neg
        return np.where(x <= 0, negative, x * pos).astype(np.float32, copy=False)

    return elu


def _leaky_relu_fn(negative_slope: float) -> Activation:
    slope = np.float32(negative_slope)

    def leaky_relu(x: np.ndarray) -> np.ndarray:
        return np.where(x > 0, x, x * slope).astype(np.float32, copy=False)

    return leaky_relu


def _clip_fn(low: float, high: float) -> Activation:
    lo = np.float32(low)
    hi = np.float32(high)

    def clip(x: np.ndarray) -> np.ndarray:
        return np.clip(x, lo, hi, out=x)

    return clip


def _gelu_fn(approximate: str) -> Activation:
    if approximate == "tanh":
        k = np.float32(math.sqrt(2.0 / math.pi))
        c = np.float32(0.044715)

        def gelu_tanh(x: np.ndarray) -> np.ndarray:
            inner = k * (x + c * x * x * x)
            return np.float32(0.5) * x * (np.float32(1.0) + np.tanh(inner))

        return gelu_tanh

    def gelu(x: np.ndarray) -> np.ndarray:
        # Exact GELU needs erf, which numpy lacks: math.erf element-wise in float64 (slow, exact).
        x64 = x.astype(np.float64)
        erf = _erf(x64 * (1.0 / math.sqrt(2.0))).astype(np.float64)
        return (0.5 * x64 * (1.0 + erf)).astype(np.float32)

    return gelu


def _mish(x: np.ndarray) -> np.ndarray:
    # torch: x * tanh(softplus(x)) with softplus threshold 20
    with np.errstate(over="ignore"):
        soft = np.log1p(np.exp(x))
    soft = np.where(x > np.float32(20.0), x, soft)
    return (x * np.tanh(soft)).astype(np.float32, copy=False)


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _number(spec: Mapping[str, Any], key: str) -> float:
    value = spec.get(key)
    # Every activation computes in float32: a float64 beyond its range would become inf there.
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or abs(value) > _FLOAT32_MAX
    ):
        raise ValueError(
            f"activation {spec.get('op')!r} needs a finite number {key!r} within float32's "
            f"range, got {value!r}"
        )
    return float(value)


_SIMPLE: dict[str, Activation] = {
    "tanh": _tanh,
    "relu": _relu,
    "sigmoid": _sigmoid,
    "silu": _silu,
    "softsign": _softsign,
    "hardswish": _hardswish,
    "hardsigmoid": _hardsigmoid,
    "mish": _mish,
}

#: Every activation ``op`` understood by :func:`make_activation`.
ACTIVATION_OPS = frozenset(
    {*_SIMPLE, "leaky_relu", "elu", "selu", "celu", "softplus", "gelu", "hardtanh", "clip"}
)


def make_activation(spec: Mapping[str, Any]) -> Activation:
    """Build the numpy function for one activation layer entry of the metadata.

    :param spec: a layer entry, e.g. ``{"op": "elu", "alpha": 1.0}``
    :return: ``f(x)`` on a ``float32`` array of shape ``(batch, features)``
    :raises ValueError: if the op is unknown or its parameters are missing or invalid
    """
    op = spec.get("op")
    if op in _SIMPLE:
        return _SIMPLE[op]
    if op == "leaky_relu":
        return _leaky_relu_fn(_number(spec, "negative_slope"))
    if op == "elu":
        return _elu_fn(_number(spec, "alpha"), 1.0, 1.0)
    if op == "selu":
        return _elu_fn(_SELU_ALPHA, _SELU_SCALE, 1.0)
    if op == "celu":
        alpha = _number(spec, "alpha")
        if alpha == 0.0:
            raise ValueError("activation 'celu' needs a non-zero 'alpha'")
        return _elu_fn(alpha, 1.0, 1.0 / alpha)
    if op == "softplus":
        beta = _number(spec, "beta")
        if beta == 0.0:
            raise ValueError("activation 'softplus' needs a non-zero 'beta'")
        return _softplus_fn(beta, _number(spec, "threshold"))
    if op == "gelu":
        approximate = spec.get("approximate")
        if approximate not in ("none", "tanh"):
            raise ValueError(
                f"activation 'gelu' needs approximate 'none' or 'tanh', got {approximate!r}"
            )
        return _gelu_fn(approximate)
    if op in ("hardtanh", "clip"):
        low, high = _number(spec, "min"), _number(spec, "max")
        if not low <= high:
            raise ValueError(f"activation {op!r} needs min <= max, got {low} > {high}")
        return _clip_fn(low, high)
    raise ValueError(f"unknown activation op {op!r}; known: {sorted(ACTIVATION_OPS)}")
