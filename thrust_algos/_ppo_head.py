"""The elementwise middle of the lean PPO update as one numba call per minibatch (CPU tensors).

Between the networks' forward and backward, :meth:`thrust_algos.lean.LeanActorCritic.ppo_backward`
turns the policy head and the values into SB3's PPO loss, its statistics and the gradients with
respect to the head and the values. In torch that is about 35 operations on ``(B, A)`` and
``(B,)`` tensors, each a dispatch of several microseconds for arithmetic of nanoseconds; here it
is one call: the head's pass computing every row's log-probability, :func:`_objective`'s pass
(the clipped objective, the same for every head), and the head's pass backpropagating from
it. The formulas are the torch path's (``lean.py``, written out with their derivation
there); sums are accumulated in float64, so results equal torch's to float32 rounding
(tests/test_algos_lean.py checks both paths against autograd of SB3's loss).

Arguments shared by both heads (``B`` rows): ``head`` float32 ``(B, A)``; ``batch``, the
tuple (``actions`` float32 ``(B, K)`` as SB3's buffer stores them, ``old_log_prob``,
``advantages``, ``returns``, ``old_values`` float32 ``(B,)``); ``values`` float32 ``(B,)``;
``settings``, the tuple (``clip_range``, ``clip_range_vf`` (negative: no value clipping),
``normalize``, ``ent_coef``, ``vf_coef``). Outputs: ``grad_head`` ``(B, A)``, ``grad_values``
``(B,)`` and ``stats`` float32 ``[6]``: policy loss, value loss, entropy loss, loss, clip
fraction, approx KL. (The tuples are unpacked once at the top: numba counts a reference at
each read of an array out of a tuple, which inside the row loop would cost more than the row.)
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))  # the constant of torch's Normal.log_prob
_ENTROPY_CONSTANT = 0.5 + 0.5 * math.log(2 * math.pi)


@njit(cache=True)
def _normalised(advantages, normalize):  # pragma: no cover - compiled
    """SB3's ``(A - mean) / (std + 1e-8)`` (unbiased std), when asked and ``B > 1``."""
    n = advantages.shape[0]
    out = advantages.copy()
    if normalize and n > 1:
        total = 0.0
        for i in range(n):
            total += advantages[i]
        mean = np.float32(total / n)
        squares = 0.0
        for i in range(n):
            d = float(advantages[i] - mean)
            squares += d * d
        scale = np.float32(math.sqrt(squares / (n - 1))) + np.float32(1e-8)
        for i in range(n):
            out[i] = (advantages[i] - mean) / scale
    return out


@njit(cache=True)
def _objective(log_prob, batch, values, settings, grad_values, sums):  # pragma: no cover - compiled
    """The clipped objective given each row's log-probability ``log_prob`` float32 ``(B,)``
    under the current policy: adds into ``sums`` (policy, value, clipped count, KL), writes
    ``grad_values`` and returns ``d loss / d log_prob`` float32 ``(B,)``. What is the same for
    every action distribution (the heads compute ``log_prob`` and backpropagate from it)."""
    _actions, old_log_prob, advantages, returns, old_values = batch
    clip_range, clip_range_vf, normalize, _ent_coef, vf_coef = settings
    n = log_prob.shape[0]
    f32 = np.float32
    advantage = _normalised(advantages, normalize)
    grad_log_prob = np.empty(n, dtype=np.float32)
    for i in range(n):
        log_ratio = f32(log_prob[i] - old_log_prob[i])
        ratio = f32(math.exp(log_ratio))
        surrogate = advantage[i] * ratio
        clipped = advantage[i] * min(max(ratio, f32(1.0 - clip_range)), f32(1.0 + clip_range))
        sums[0] += min(surrogate, clipped)
        value = values[i]
        inside = True
        if clip_range_vf >= 0.0:
            change = value - old_values[i]
            inside = abs(change) <= clip_range_vf
            value = old_values[i] + min(max(change, f32(-clip_range_vf)), f32(clip_range_vf))
        error = value - returns[i]
        sums[1] += float(error) * float(error)
        grad_values[i] = error * f32(2.0 * vf_coef / n) if inside else f32(0.0)
        sums[2] += 1.0 if abs(ratio - f32(1.0)) > clip_range else 0.0
        sums[3] += float(ratio - f32(1.0)) - float(log_ratio)
        # the unclipped term is the minimum (where equal, autograd's split sums to the same)
        grad_log_prob[i] = surrogate * f32(-1.0 / n) if surrogate <= clipped else f32(0.0)
    return grad_log_prob


@njit(cache=True)
def _finish(sums, entropy_loss, ent_coef, vf_coef, n, stats):  # pragma: no cover - compiled
    policy_loss = -sums[0] / n
    value_loss = sums[1] / n
    stats[0] = policy_loss
    stats[1] = value_loss
    stats[2] = entropy_loss
    stats[3] = policy_loss + ent_coef * entropy_loss + vf_coef * value_loss
    stats[4] = sums[2] / n
    stats[5] = sums[3] / n


@njit(cache=True, nogil=True)
def categorical_head(
    head, batch, values, settings, grad_head, grad_values, stats
):  # pragma: no cover - compiled
    """Categorical(logits=head): ``log p = log_softmax(head)``; ``d log p(a) / d z = onehot(a)
    - p`` and ``d H / d z = -p (log p + H)``."""
    actions = batch[0]
    ent_coef, vf_coef = settings[3], settings[4]
    n, n_actions = head.shape
    f32 = np.float32
    log_prob = np.empty(n, dtype=np.float32)
    negative_entropy = np.empty(n)
    negative_entropy_sum = 0.0
    for i in range(n):  # log p into grad_head for now, and each row's negative entropy
        top = head[i, 0]
        for j in range(1, n_actions):
            top = max(top, head[i, j])
        total = 0.0
        for j in range(n_actions):
            total += math.exp(float(head[i, j] - top))
        log_sum = top + f32(math.log(total))
        row_negative_entropy = 0.0
        for j in range(n_actions):
            log_p = head[i, j] - log_sum
            grad_head[i, j] = log_p
            row_negative_entropy += float(log_p) * math.exp(float(log_p))
        log_prob[i] = grad_head[i, int(actions[i, 0])]
        negative_entropy[i] = row_negative_entropy
        negative_entropy_sum += row_negative_entropy
    sums = np.zeros(4)
    grad_log_prob = _objective(log_prob, batch, values, settings, grad_values, sums)
    entropy_weight = f32(ent_coef / n)
    for i in range(n):
        neg_h = f32(negative_entropy[i])
        for j in range(n_actions):
            log_p = grad_head[i, j]
            p = f32(math.exp(log_p))
            grad_head[i, j] = -grad_log_prob[i] * p + entropy_weight * (log_p - neg_h) * p
        grad_head[i, int(actions[i, 0])] += grad_log_prob[i]
    _finish(sums, negative_entropy_sum / n, ent_coef, vf_coef, n, stats)


@njit(cache=True, nogil=True)
def gaussian_head(
    head, batch, values, settings, grad_head, grad_values, stats, log_std, grad_log_std
):  # pragma: no cover - compiled
    """Normal(head, exp(log_std)) per action dimension: ``d log p / d mean = (a - mean) /
    std^2``, ``d log p / d log std = (a - mean)^2 / std^2 - 1``, ``d H / d log std = 1``;
    ``grad_log_std`` ``(A,)`` receives the log-std's gradient."""
    actions = batch[0]
    ent_coef, vf_coef = settings[3], settings[4]
    n, dims = head.shape
    f32 = np.float32
    std = np.exp(log_std)
    log_std_of_std = np.log(std)  # as torch's Normal: log(exp(log_std))
    inverse_variance = f32(1.0) / (std * std)
    log_prob = np.empty(n, dtype=np.float32)
    for i in range(n):
        # in float32, as torch sums it: a tail action's log-probability is large, and its
        # ratio exp(log_prob - old_log_prob) amplifies any difference
        row_log_prob = f32(0.0)
        for k in range(dims):
            diff = actions[i, k] - head[i, k]
            row_log_prob += (
                -(diff * diff) / (f32(2.0) * std[k] * std[k])
                - log_std_of_std[k]
                - f32(_LOG_SQRT_2PI)
            )
        log_prob[i] = row_log_prob
    sums = np.zeros(4)
    grad_log_prob = _objective(log_prob, batch, values, settings, grad_values, sums)
    grad_log_std_sum = np.zeros(dims)
    for i in range(n):
        for k in range(dims):
            diff = actions[i, k] - head[i, k]
            g = grad_log_prob[i] * diff * inverse_variance[k]
            grad_head[i, k] = g
            grad_log_std_sum[k] += float(g * diff - grad_log_prob[i])
    entropy = 0.0
    for k in range(dims):
        entropy += _ENTROPY_CONSTANT + float(log_std_of_std[k])
        grad_log_std[k] = f32(grad_log_std_sum[k] - ent_coef)
    _finish(sums, -entropy, ent_coef, vf_coef, n, stats)
