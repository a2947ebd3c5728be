"""Gradient-norm clipping and the Adam step of the lean update in one compiled call.

SB3's PPO ends each minibatch with ``clip_grad_norm_(parameters, max_grad_norm)`` and
``optimizer.step()``. For the small MLPs of the lean path on a CPU both are per-tensor dispatch
(a norm, a stack, a multiply and the fused Adam kernel per parameter tensor: about 200 µs a
minibatch for a 64x64 actor-critic, against 3 µs of arithmetic). :class:`LeanAdam` does the
same computation in one numba call over numpy views of the very tensors the optimizer holds
(parameters, gradients, ``exp_avg``, ``exp_avg_sq``, ``step``), so ``optimizer.state_dict()``,
``save``/``load`` and a later ``optimizer.step()`` see what torch's Adam would have left, to
float32 rounding (tests/test_algos_lean.py compares it with ``clip_grad_norm_`` + Adam).

What it computes, per minibatch, as torch does (``g`` the gradients of all ``P`` tensors):

- ``total = ||(||g_1||, ..., ||g_P||)||``; ``g *= min(max_norm / (total + 1e-6), 1)``
  (:func:`torch.nn.utils.clip_grad_norm_`; the norms are accumulated in float64 here);
- Adam (``amsgrad=False``, ``maximize=False``, ``decoupled_weight_decay=False``), per
  tensor: ``step += 1``; ``g += weight_decay * p`` (L2, not AdamW's decay);
  ``m += (1 - beta1) (g - m)``; ``v = beta2 v + (1 - beta2) g^2``;
  ``p -= lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)``.

Only a ``torch.optim.Adam`` on float32 CPU tensors with those flags qualifies
(:meth:`LeanAdam.for_optimizer` returns None otherwise, and the caller keeps torch's calls).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch as th
from llvmlite import ir
from numba import carray, njit, types
from numba.extending import intrinsic

__all__ = ["LeanAdam"]


# fastmath "reassoc" lets LLVM split the float64 sum into vector lanes (a serial sum waits on
# each addition: 12 µs of a 9k-parameter step, against 2); the order of a float64 sum of
# float32 squares changes the float32 norm only in rare last-bit cases.
@njit(cache=True, nogil=True, fastmath={"reassoc"})
def _sum_of_squares(g):  # pragma: no cover - compiled
    """``sum(g ** 2)`` of a float32 array, accumulated in float64."""
    total = 0.0
    for j in range(g.size):
        total += float(g[j]) * float(g[j])
    return total


@intrinsic
def _float32_at(typingctx, address):  # pragma: no cover - compiled
    """The int64 ``address`` as a float32 pointer (for ``numba.carray``)."""
    sig = types.CPointer(types.float32)(address)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], ir.FloatType().as_pointer())

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def tensor_at(table, row, k, size):  # pragma: no cover - compiled
    """Tensor ``k`` of row ``row`` of an address table (see :meth:`LeanAdam.table`): a flat
    float32 array of ``size`` elements, without a reference count. Nothing is checked (compiled
    code): ``k`` and ``size`` must be the table's own, which the table's makers guarantee."""
    return carray(_float32_at(table[row, k]), size)


# error_model="numpy": a division by zero gives inf/NaN as in torch (eps=0 and a zero second
# moment), where Python's model would raise, and without its per-division check LLVM
# vectorises the update loop.
@njit(cache=True, nogil=True, error_model="numpy")
def clipped_adam_step(
    table, sizes, norms, lr, beta1, beta2, eps, weight_decay, max_norm
):  # pragma: no cover - compiled
    """Clip the gradients' total norm to ``max_norm`` and take one Adam step.

    ``table`` int64 ``[5, P]`` holds the addresses of the ``P`` tensors' parameters, gradients,
    first and second moments (flat float32, ``sizes[k]`` elements each) and step counters (one
    float32 each); ``norms`` float64 ``[P]`` is scratch. Everything is updated in place;
    returns the total norm before clipping.
    """
    n_tensors = sizes.shape[0]
    total = 0.0
    for k in range(n_tensors):
        norms[k] = math.sqrt(_sum_of_squares(tensor_at(table, 1, k, sizes[k])))
        total += norms[k] * norms[k]
    total_norm = np.float32(math.sqrt(total))
    clip = np.float32(max_norm) / (total_norm + np.float32(1e-6))
    clip = min(clip, np.float32(1.0))
    one = np.float32(1.0)
    b1, b2 = np.float32(beta1), np.float32(beta2)
    decay, epsilon = np.float32(weight_decay), np.float32(eps)
    for k in range(n_tensors):
        size = sizes[k]
        p, g = tensor_at(table, 0, k, size), tensor_at(table, 1, k, size)
        m, v = tensor_at(table, 2, k, size), tensor_at(table, 3, k, size)
        steps = tensor_at(table, 4, k, 1)
        steps[0] += one
        step = float(steps[0])
        step_size = np.float32(lr / (1.0 - beta1**step))
        correction2_sqrt = np.float32(math.sqrt(1.0 - beta2**step))
        for j in range(p.size):
            grad = g[j] * clip
            g[j] = grad  # the clipped gradient stays in .grad, as clip_grad_norm_ leaves it
            if decay != 0:
                grad = grad + decay * p[j]
            m[j] = m[j] + (one - b1) * (grad - m[j])
            v[j] = b2 * v[j] + (one - b2) * grad * grad
            denom = np.float32(math.sqrt(v[j])) / correction2_sqrt + epsilon
            p[j] = p[j] - step_size * (m[j] / denom)  # addcdiv_(m, denom, value=-step_size)
    return total_norm


def _flat(tensor: th.Tensor) -> np.ndarray:
    return tensor.detach().view(-1).numpy()


class LeanAdam:
    """``clip_grad_norm_(parameters, max_norm)`` + ``optimizer.step()`` as one compiled call.

    The numpy views of the parameters, gradients and Adam state are made on the first
    :meth:`step`, once the gradients exist, and again when a gradient tensor was replaced or,
    at :meth:`refresh`, when the optimizer state (a loaded state dict holds new tensors) or a
    parameter's storage changed; so one instance can serve every update of a model.
    """

    def __init__(self, optimizer: th.optim.Adam, parameters: list[th.Tensor]) -> None:
        self.optimizer = optimizer
        self.parameters = parameters
        self._views: tuple[tuple[np.ndarray, ...], ...] | None = None
        self._table: tuple[np.ndarray, ...] = ()
        self._grads: list[th.Tensor | None] = []
        self._sources: tuple[list[int], list[Any]] = ([], [])  # what the views came from

    def matches(self, optimizer: Any, parameters: list[th.Tensor]) -> bool:
        """Whether this steps ``optimizer`` over ``parameters`` (the same objects)."""
        return (
            optimizer is self.optimizer
            and len(parameters) == len(self.parameters)
            and all(a is b for a, b in zip(parameters, self.parameters, strict=True))
        )

    def refresh(self) -> None:
        """Drop the views if the optimizer's state tensors or a parameter's storage are not
        the ones they were made from (call once per update: a few identity checks)."""
        if self._views is None:
            return
        addresses, tensors = self._current_sources()
        if addresses != self._sources[0] or any(
            a is not b for a, b in zip(tensors, self._sources[1], strict=True)
        ):
            self._views = None

    def _current_sources(self) -> tuple[list[int], list[Any]]:
        """The parameters' storage addresses and their Adam state tensors (held, so that
        their identity cannot pass to new tensors while compared)."""
        state = self.optimizer.state
        tensors: list[Any] = []
        for p in self.parameters:
            s = state.get(p, {})
            tensors += [s.get("exp_avg"), s.get("exp_avg_sq"), s.get("step")]
        return [p.data_ptr() for p in self.parameters], tensors

    @classmethod
    def for_optimizer(cls, optimizer: Any, parameters: list[th.Tensor]) -> LeanAdam | None:
        """A :class:`LeanAdam` over ``parameters``, or None where torch's own calls must run: an
        optimizer other than ``torch.optim.Adam``, ``amsgrad``/``maximize``/``capturable``/
        ``differentiable``/``decoupled_weight_decay`` Adam (the last decays the weights as
        AdamW does, which the kernel does not compute), several parameter groups, or
        parameters that are not float32 contiguous CPU tensors (all of them, and only them, in
        the optimizer's one group)."""
        if type(optimizer) is not th.optim.Adam or len(optimizer.param_groups) != 1:
            return None
        group = optimizer.param_groups[0]
        refused = ("amsgrad", "maximize", "capturable", "differentiable", "decoupled_weight_decay")
        if any(group.get(flag) for flag in refused):
            return None
        if {id(p) for p in group["params"]} != {id(p) for p in parameters}:
            return None
        if not all(
            p.device.type == "cpu" and p.dtype == th.float32 and p.is_contiguous()
            for p in parameters
        ):
            return None
        return cls(optimizer, parameters)

    def _state_views(self) -> tuple[tuple[np.ndarray, ...], ...]:
        """The five tuples the kernel takes; Adam's state is created as torch creates it (zero
        moments, a float32 0-d step) where the optimizer has not stepped yet."""
        state = self.optimizer.state
        for p in self.parameters:
            s = state[p]
            if "step" not in s:
                s["step"] = th.tensor(0.0, dtype=th.float32)
                s["exp_avg"] = th.zeros_like(p, memory_format=th.preserve_format)
                s["exp_avg_sq"] = th.zeros_like(p, memory_format=th.preserve_format)
            elif not isinstance(s["step"], th.Tensor) or s["step"].dtype != th.float32:
                s["step"] = th.tensor(float(s["step"]), dtype=th.float32)
        return (
            tuple(_flat(p) for p in self.parameters),
            tuple(_flat(p.grad) for p in self.parameters),
            tuple(_flat(state[p]["exp_avg"]) for p in self.parameters),
            tuple(_flat(state[p]["exp_avg_sq"]) for p in self.parameters),
            tuple(state[p]["step"].view(1).numpy() for p in self.parameters),
        )

    def views(self) -> tuple[tuple[np.ndarray, ...], ...]:
        """Five tuples of numpy views of the optimizer's tensors (parameters, gradients, first and
        second moments, steps), made again when a gradient tensor was replaced.

        :raises RuntimeError: a parameter without a gradient, or with one that is not a
            contiguous float32 CPU tensor
        """
        # The views stay valid while the tensors do; a gradient replaced (``param.grad = ...``,
        # ``zero_grad(set_to_none=True)`` then a backward) makes them again.
        if self._views is None or any(
            p.grad is not g for p, g in zip(self.parameters, self._grads, strict=True)
        ):
            for k, p in enumerate(self.parameters):
                g = p.grad
                if g is None:
                    raise RuntimeError(f"LeanAdam.step: parameter {k} has no gradient")
                if g.dtype != th.float32 or g.device.type != "cpu" or not g.is_contiguous():
                    raise RuntimeError(
                        f"LeanAdam.step: parameter {k}'s gradient must be a contiguous float32 "
                        f"CPU tensor like the parameter, got {g.dtype} on {g.device}"
                    )
            self._grads = [p.grad for p in self.parameters]
            self._views = self._state_views()
            self._sources = self._current_sources()
            self._table = _address_table(self._views)
        return self._views

    def table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What :func:`clipped_adam_step` takes: the addresses of the tensors in
        :meth:`views` (int64 ``[5, P]``: parameters, gradients, first and second moments,
        steps), their sizes (int64 ``[P]``) and a float64 ``[P]`` scratch; made again with the
        views. Valid while the optimizer's tensors are (this object holds views of them).

        :raises RuntimeError: as :meth:`views`
        """
        self.views()
        return self._table

    def hyperparameters(self) -> tuple[float, float, float, float, float]:
        """The group's ``lr``, ``beta1``, ``beta2``, ``eps`` and ``weight_decay``, as floats."""
        group = self.optimizer.param_groups[0]
        beta1, beta2 = group["betas"]
        return (
            float(group["lr"]),
            float(beta1),
            float(beta2),
            float(group["eps"]),
            float(group["weight_decay"]),
        )

    def step(self, max_norm: float) -> float:
        """Clip the gradients (in ``.grad``) to ``max_norm`` and step; returns the total norm.

        :raises RuntimeError: a parameter without a gradient, or with one that is not a
            contiguous float32 CPU tensor (nothing is changed then)
        """
        table = self.table()
        return float(clipped_adam_step(*table, *self.hyperparameters(), float(max_norm)))


def _address_table(views: tuple[tuple[np.ndarray, ...], ...]) -> tuple[np.ndarray, ...]:
    """:meth:`LeanAdam.table` of :meth:`LeanAdam.views`. Why addresses and not the tuples of
    arrays: a compiled function taking five tuples of ``P`` arrays unboxes each array on every
    call and indexes a tuple by a run-time index as a switch over its ``P`` elements, which
    made it several times slower to compile (0.88 s against 0.39 s for this step alone)."""
    for group in views:
        for array in group:
            # The kernels read float32 elements at these addresses: anything else would be
            # read as garbage, so refuse it here (LeanAdam's checks should have already).
            if array.dtype != np.float32 or not array.flags.c_contiguous:
                raise RuntimeError(
                    f"LeanAdam: the optimizer's tensors must be contiguous float32, got a "
                    f"{'contiguous' if array.flags.c_contiguous else 'strided'} {array.dtype} one"
                )
    table = np.array([[array.ctypes.data for array in group] for group in views], dtype=np.int64)
    sizes = np.array([array.size for array in views[0]], dtype=np.int64)
    return table, sizes, np.zeros(sizes.shape[0])
