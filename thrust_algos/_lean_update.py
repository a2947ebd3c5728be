"""The lean PPO update as one numba call (CPU): every epoch's minibatches, each with its
gather, both networks' forward, the loss head, the hand-written backward, gradient clipping
and Adam.

Why: on a CPU the lean update's minibatch step is about 40 torch dispatches and the Python
between them (about 340 µs for a 64x64 actor-critic at batch 128, where the arithmetic is
under 100 µs). Here the matrix products are BLAS calls through numba's ``np.dot`` (SciPy's:
see :mod:`thrust_algos._blas`), the elementwise work is loops LLVM vectorises, the two
networks run on two of numba's threads, and the loss head and the Adam step are the very
functions the per-minibatch lean path calls (:mod:`thrust_algos._ppo_head`,
:func:`thrust_algos.lean_adam.clipped_adam_step`).

Networks: ``layers`` int64 ``[L, 4]``, one row per dense layer: (in, out, index of its weight
among the parameters (its bias is the next one), activation: 0 none, 1 tanh, 2 relu); rows
``0 .. n_pi - 1`` are the policy network and ``action_net``, the rest the value network and
``value_net``. The parameters, gradients and Adam state are reached through
:meth:`~thrust_algos.lean_adam.LeanAdam.table` (``table``, ``sizes``, ``norms``: the addresses
of the optimizer's own tensors, in the policy's parameter order; read with
:func:`~thrust_algos.lean_adam.tensor_at`); a weight is stored as torch's ``[out, in]``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numba
import numpy as np
import torch as th
from numba import njit, prange

from thrust_algos import _blas
from thrust_algos._fused_kernels import ACT_RELU, ACT_TANH, activate
from thrust_algos._ppo_head import categorical_head, gaussian_head
from thrust_algos.lean_adam import clipped_adam_step, tensor_at
from thrust_envs.core.kernels import entry_point, rebind
from thrust_envs.core.threads import launch_numba_threads

STATS = 6  # per minibatch: policy loss, value loss, entropy loss, loss, clip fraction, approx KL


@njit(error_model="numpy")
def _forward(x, layers, first, last, table, outputs, m):  # pragma: no cover - compiled
    """Layers ``first .. last - 1`` on ``x`` ``(m, in)``; layer ``l``'s output (after its
    activation) into ``outputs[l, :m * out]`` as ``(m, out)``."""
    source = x
    for l in range(first, last):
        n_in, n_out, w, activation = layers[l, 0], layers[l, 1], layers[l, 2], layers[l, 3]
        weight = tensor_at(table, 0, w, n_out * n_in).reshape(n_out, n_in)
        bias = tensor_at(table, 0, w + 1, n_out)
        out = outputs[l, : m * n_out].reshape(m, n_out)
        np.dot(source, weight.T, out)
        for i in range(m):
            for j in range(n_out):
                out[i, j] += bias[j]
        activate(out.reshape(-1), activation)
        source = out


@njit(error_model="numpy")
def _backward(
    x, layers, first, last, table, outputs, grad, spare, m
):  # pragma: no cover - compiled
    """Backpropagate through layers ``last - 1 .. first``: ``grad`` (flat scratch) holds
    ``d loss / d`` layer ``last - 1``'s output as ``(m, out)`` in its first ``m * out``
    elements; each layer's weight and bias gradients go into the gradients of ``table``
    (overwritten). ``spare`` is scratch of ``grad``'s size (the two alternate as the layers'
    input grads)."""
    for l in range(last - 1, first - 1, -1):
        n_in, n_out, w, activation = layers[l, 0], layers[l, 1], layers[l, 2], layers[l, 3]
        g = grad[: m * n_out].reshape(m, n_out)
        y = outputs[l, : m * n_out].reshape(m, n_out)
        if activation == ACT_TANH:  # through the activation, from its output
            for i in range(m):
                for j in range(n_out):
                    g[i, j] = g[i, j] * (np.float32(1.0) - y[i, j] * y[i, j])
        elif activation == ACT_RELU:
            for i in range(m):
                for j in range(n_out):
                    if y[i, j] <= np.float32(0.0):
                        g[i, j] = np.float32(0.0)
        # Through z = x W^T + b: dW = g^T x, db = sum over rows of g, dx = g W.
        if l == first:
            source = x
        else:
            source = outputs[l - 1, : m * n_in].reshape(m, n_in)
        np.dot(g.T, source, tensor_at(table, 1, w, n_out * n_in).reshape(n_out, n_in))
        bias_grad = tensor_at(table, 1, w + 1, n_out)
        for j in range(n_out):
            bias_grad[j] = np.float32(0.0)
        for i in range(m):
            for j in range(n_out):
                bias_grad[j] += g[i, j]
        if l > first:
            weight = tensor_at(table, 0, w, n_out * n_in).reshape(n_out, n_in)
            np.dot(g, weight, spare[: m * n_in].reshape(m, n_in))
            grad, spare = spare, grad


def _epoch_template(
    obs,
    actions,
    old_values,
    old_log_prob,
    advantages,
    returns,
    orders,
    batch_size,
    layers,
    n_pi,
    table,
    sizes,
    norms,
    log_std_index,
    outputs,
    x,
    mb_actions,
    mb_rows,
    grad_values,
    grad,
    spare,
    value_grad,
    value_spare,
    log_std_grad,
    lr,
    beta1,
    beta2,
    eps,
    weight_decay,
    max_norm,
    clip_range,
    clip_range_vf,
    normalize,
    ent_coef,
    vf_coef,
    early_stop,
    kl_limit,
    stats,
):
    """The epochs of one update: epoch ``e`` takes the minibatches of ``orders[e]`` (int64,
    a permutation of the ``N`` storage rows), ``batch_size`` rows each (the last one shorter if
    ``N`` is not a multiple). Per minibatch, into the next row of ``stats``: SB3's loss
    statistics; then, unless ``early_stop`` and the approximate KL exceeds ``kl_limit`` (early
    stopping: nothing more is stepped), the gradients into ``grads`` and the clipped Adam step.
    Returns the number of rows of ``stats`` written and whether the update stopped early.

    Storage: ``obs`` float32 ``[N, F]``, ``actions`` float32 ``[N, K]``, the rest float32 ``[N]``;
    scratch: ``outputs`` float32 ``[L, batch_size * widest layer]`` (layer ``l``'s output in
    row ``l``, as ``(m, out_l)``), ``x`` ``[batch_size, F]``,
    ``mb_actions`` ``[batch_size, K]``, ``mb_rows`` ``[4, batch_size]`` (old values, old
    log-probabilities, advantages, returns), ``grad_values`` ``[batch_size]``, ``grad`` and
    ``spare`` flat ``[batch_size * widest layer]`` (the head's gradient is written into
    ``grad`` as ``(m, A)``, where the policy's backward starts), ``value_grad`` and ``value_spare``
    the same for the value network's backward, ``log_std_grad`` ``[A]`` (the Gaussian head's
    log-std gradient, copied into ``grads`` only once the minibatch steps).
    """
    n = orders.shape[1]
    n_layers = layers.shape[0]
    settings = (clip_range, clip_range_vf, normalize, ent_coef, vf_coef)  # the heads' order
    policy = np.int64(0)  # the policy's first layer; a literal 0 would compile the helpers twice
    features = obs.shape[1]
    k = 0
    for epoch in range(orders.shape[0]):
        for start in range(0, n, batch_size):
            m = min(batch_size, n - start)
            xm = x[:m]
            for i in range(m):
                row = orders[epoch, start + i]
                for f in range(features):
                    xm[i, f] = obs[row, f]
                for a in range(actions.shape[1]):
                    mb_actions[i, a] = actions[row, a]
                mb_rows[0, i] = old_values[row]
                mb_rows[1, i] = old_log_prob[row]
                mb_rows[2, i] = advantages[row]
                mb_rows[3, i] = returns[row]
            # The two networks are independent: with NETWORK_THREADS bound to prange, one
            # each on two of numba's threads (same results on one thread).
            for net in NETWORK_THREADS(2):  # noqa: F821
                if net == 0:
                    _forward(xm, layers, policy, n_pi, table, outputs, m)
                else:
                    _forward(xm, layers, n_pi, n_layers, table, outputs, m)
            width = layers[n_pi - 1, 1]
            head = outputs[n_pi - 1, : m * width].reshape(m, width)
            values = outputs[n_layers - 1, :m]
            grad_head = grad[: m * width].reshape(m, width)
            batch = (mb_actions[:m], mb_rows[1, :m], mb_rows[2, :m], mb_rows[3, :m],
                     mb_rows[0, :m])  # fmt: skip
            gradients = (grad_head, grad_values[:m], stats[k])  # the heads' outputs
            if GAUSSIAN:  # noqa: F821 (a constant bound per kernel: numba prunes the other branch)
                log_std = tensor_at(table, 0, log_std_index, sizes[log_std_index])
                gaussian_head(head, batch, values, settings, *gradients, log_std, log_std_grad)
            else:
                categorical_head(head, batch, values, settings, *gradients)
            k += 1
            if early_stop and stats[k - 1, 5] > kl_limit:
                return k, True  # every .grad still holds the previous minibatch's, as in SB3
            if GAUSSIAN:  # noqa: F821
                target = tensor_at(table, 1, log_std_index, sizes[log_std_index])
                for a in range(target.shape[0]):
                    target[a] = log_std_grad[a]
            for i in range(m):  # (an element loop: a slice assignment compiles numba's
                value_grad[i] = grad_values[i]  # shape-error formatting, 2 s of a cold start)
            for net in NETWORK_THREADS(2):  # noqa: F821
                if net == 0:
                    _backward(xm, layers, policy, n_pi, table, outputs, grad, spare, m)
                else:
                    _backward(
                        xm, layers, n_pi, n_layers, table, outputs, value_grad, value_spare, m
                    )
            clipped_adam_step(
                table, sizes, norms, lr, beta1, beta2, eps, weight_decay, max_norm
            )  # fmt: skip
    return k, False


_kernels: dict[tuple[str, bool], Any] = {}


def _two_network_threads() -> bool:
    """Whether the update runs its two networks on two of numba's threads: numba may use two
    or more, OpenBLAS can be held at one (see thrust_algos._blas), and numba's threading
    layer is not its "workqueue" fallback, which aborts when two Python threads launch
    parallel regions at once."""
    if numba.config.NUMBA_NUM_THREADS < 2 or not _blas.openblas().found:
        return False
    # Compiling or calling a parallel kernel starts numba's threading layer, which would reset
    # OpenMP's (so torch's) thread count: start it the way that does not.
    launch_numba_threads()
    return numba.threading_layer() != "workqueue"


# The files whose functions the epoch kernel compiles in. Its helpers here are not cached on
# their own (numba's cache watches only the cached function's file), and the kernel's name
# carries a digest of all of them, so an edit to any recompiles it.
_SOURCES = ("_lean_update.py", "_ppo_head.py", "lean_adam.py", "_fused_kernels.py")


def _sources_digest() -> str:
    digest = hashlib.sha256()
    for name in _SOURCES:
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()[:16]


# Read at import, with the functions it describes: a file edited later in the same process
# must not give the kernel compiled from the imported code the edited file's name.
_DIGEST = _sources_digest()


def epoch_kernel(distribution: str, parallel: bool):
    """:func:`_epoch_template` with the loss head of ``distribution`` ("categorical" or
    "gaussian"), its two networks on numba's threads if ``parallel``; compiled on first call
    and cached on disk."""
    key = (distribution, parallel)
    kernel = _kernels.get(key)
    if kernel is None:
        threads = "parallel" if parallel else "serial"
        qualname = f"lean_epoch__{distribution}_{threads}_{_DIGEST}"
        bindings = {
            "GAUSSIAN": {"categorical": False, "gaussian": True}[distribution],
            "NETWORK_THREADS": prange if parallel else range,
        }
        function = rebind(_epoch_template, qualname, bindings)
        kernel = _kernels[key] = njit(
            cache=True, nogil=True, error_model="numpy", parallel=parallel
        )(function)
    return kernel


class LeanEpochs:
    """The epoch kernel over one model's lean networks, :class:`LeanAdam` and rollout buffer:
    :meth:`run` is one epoch of SB3's PPO update (with gradient clipping and Adam) in one call.
    Build it with :meth:`for_update`, which says why not where it cannot serve."""

    def __init__(self, lean: Any, adam: Any, buffer: Any, batch_size: int) -> None:
        self.lean, self.adam, self.buffer, self.batch_size = lean, adam, buffer, batch_size
        index = {id(p): k for k, p in enumerate(lean.parameters)}
        codes = {None: 0, "tanh": ACT_TANH, "relu": ACT_RELU}
        self.n_pi = len(lean.pi_layers)
        dense = [*lean.pi_layers, *lean.vf_layers]
        self.layers = np.array(
            [
                [layer.weight.shape[1], layer.weight.shape[0], index[id(layer.weight)],
                 codes[layer.activation]]
                for layer in dense
            ],
            dtype=np.int64,
        )  # fmt: skip
        assert all(index[id(d.bias)] == index[id(d.weight)] + 1 for d in dense)
        self.log_std_index = -1 if lean.log_std is None else index[id(lean.log_std)]
        features, action_dim = self.layers[0, 0], buffer.action_dim
        widest = int(max(self.layers[:, 0].max(), self.layers[:, 1].max()))
        zeros = lambda *shape: np.zeros(shape, dtype=np.float32)  # noqa: E731
        self._scratch = (
            zeros(len(self.layers), batch_size * widest),  # outputs: layer l's in row l
            zeros(batch_size, features),  # x
            zeros(batch_size, action_dim),  # mb_actions
            zeros(4, batch_size),  # mb_rows
            zeros(batch_size),  # grad_values
            zeros(batch_size * widest),  # grad
            zeros(batch_size * widest),  # spare
            zeros(batch_size * widest),  # value_grad
            zeros(batch_size * widest),  # value_spare
            zeros(action_dim),  # log_std_grad (the Gaussian head's, kept until the KL check)
        )
        self.parallel = _two_network_threads()
        self.kernel = epoch_kernel(lean.distribution, self.parallel)
        self._entry: Any = None

    @classmethod
    def for_update(cls, lean: Any, adam: Any, buffer: Any, batch_size: int) -> LeanEpochs | str:
        """The epoch kernel for this update, or why the per-minibatch lean path runs instead."""
        from thrust_algos.buffers import GpuRolloutBuffer

        reason = _blas.blas_available()
        if reason is not None:
            return reason
        if adam is None:
            return "the optimizer is not one LeanAdam steps (torch's calls run)"
        if not lean.head_kernel or not lean.fast_tanh:
            return "LeanActorCritic.head_kernel or fast_tanh is off"
        if type(buffer) is not GpuRolloutBuffer:
            # The kernel gathers the minibatches from the storage itself, where a subclass's
            # own sampling (get, _get_samples: a user's buffer reshaping its samples) must run,
            # as graph_plan and the fused and staged rollouts also require.
            return f"the rollout buffer is a {type(buffer).__name__}, not a GpuRolloutBuffer"
        if buffer.device.type != "cpu":
            return "the rollout buffer is not on the CPU"
        if any(p.device.type != "cpu" for p in lean.parameters):
            return "the policy is not on the CPU"
        return cls(lean, adam, buffer, batch_size)

    def matches(self, lean: Any, adam: Any, buffer: Any, batch_size: int) -> bool:
        """Whether this serves the same networks, optimizer, buffer and batch size."""
        return (
            lean is self.lean
            and adam is self.adam
            and buffer is self.buffer
            and batch_size == self.batch_size
        )

    def run_update(
        self,
        n_epochs: int,
        clip_range: float,
        clip_range_vf: float | None,
        ent_coef: float,
        vf_coef: float,
        normalize_advantage: bool,
        max_grad_norm: float,
        target_kl: float | None,
    ) -> tuple[np.ndarray, int, int, bool]:
        """Up to ``n_epochs`` epochs over the buffer, each in a fresh order
        (``buffer.sample_order()``, the draw ``buffer.get`` makes): all in one call, or with
        ``target_kl`` one call an epoch, so that no order is drawn after SB3 would have stopped.

        Returns the minibatches' statistics, float32 ``[k, 6]`` (policy loss, value loss,
        entropy loss, loss, clip fraction, approx KL), how many of the last rows are the last
        epoch's, the number of epochs run (the last one partly, if stopped) and whether the
        update stopped early on ``target_kl`` (as SB3: the last row's minibatch was not
        stepped)."""
        buffer, lean = self.buffer, self.lean
        if not buffer.full:
            raise RuntimeError(
                f"train() needs a full rollout buffer: {buffer.pos} of {buffer.buffer_size} "
                "steps added"
            )
        n = buffer.buffer_size * buffer.n_envs
        per_epoch = -(-n // self.batch_size)
        for param in lean.parameters:
            if param.grad is None:
                param.grad = th.zeros_like(param)
        observations = buffer.observations.reshape(n, -1)
        if observations.dtype != th.float32 or not observations.is_contiguous():
            observations = observations.float().contiguous()  # SB3's preprocessing: obs.float()
        flat = buffer._flat
        storage = (
            observations.numpy(),
            buffer._flat_actions.numpy(),
            flat["values_tensor"].numpy(),
            flat["log_probs"].numpy(),
            flat["advantages"].numpy(),
            flat["returns_tensor"].numpy(),
        )
        settings = (
            *self.adam.hyperparameters(),
            float(max_grad_norm),
            float(clip_range),
            -1.0 if clip_range_vf is None else float(clip_range_vf),
            bool(normalize_advantage),
            float(ent_coef),
            float(vf_coef),
            target_kl is not None,
            0.0 if target_kl is None else 1.5 * float(target_kl),
        )
        table = self.adam.table()
        stats = np.empty((n_epochs * per_epoch, STATS), dtype=np.float32)
        calls = 1 if target_kl is None else n_epochs
        epochs_per_call = n_epochs // calls
        rows, stopped = 0, False
        for _ in range(calls):
            # int64 whatever the platform's default integer (the kernel's one signature)
            orders = np.stack(
                [buffer.sample_order().numpy() for _ in range(epochs_per_call)]
            ).astype(np.int64, copy=False)
            args = (
                *storage, orders, self.batch_size, self.layers, self.n_pi, *table,
                self.log_std_index, *self._scratch, *settings, stats[rows:],
            )  # fmt: skip
            if self._entry is None:
                # One signature for every update (the same arrays' types): skip numba's
                # dispatch, about 50 µs a call for some 90 arrays in tuples.
                self._entry = entry_point(self.kernel, args)
            with _blas.openblas().one_thread():
                done, stopped = self._entry(*args)
            rows += done
            if stopped:
                break
        last_epoch = rows - (rows - 1) // per_epoch * per_epoch
        return stats[:rows], last_epoch, -(-rows // per_epoch), bool(stopped)
