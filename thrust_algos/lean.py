"""A lean fast path for Stable-Baselines3's standard MLP actor-critic (``"MlpPolicy"``).

On a CPU, SB3's PPO update of a small MLP is dominated by per-operation overhead, not arithmetic:
``nn.Module`` calls, the autograd graph and engine, ``torch.distributions`` argument validation, and
a Python loop over parameters in Adam. :class:`LeanActorCritic` computes the same things for the
policies it recognises with plain tensor calls:

- :meth:`LeanActorCritic.act` / :meth:`LeanActorCritic.predict_values`: ``policy.forward`` /
  ``policy.predict_values`` with ``F.linear`` and in-place activations, no distribution objects.
  Actions are drawn with the very calls ``torch.distributions`` makes on torch's generator, so under
  the same RNG state actions, values and log-probabilities are identical to SB3's.
- :meth:`LeanActorCritic.ppo_backward`: SB3's PPO loss for one minibatch and its gradient with
  respect to every parameter, derived by hand (no autograd graph) and written into ``param.grad``.
  Its forward pass takes the cheapest equivalent kernels (numpy's SIMD ``tanh`` on the CPU, about
  7x faster than torch's; ``log_softmax`` for the normalised logits), so losses, statistics and
  gradients equal SB3's and autograd's to float rounding, not bit for bit.

Both halves are small: tens of tensor operations per call, where SB3's path runs hundreds plus the
autograd engine. The optimizer step stays the policy's own optimizer (see
:func:`enable_fused_adam`).

It holds the policy's own ``nn.Parameter`` objects, so the optimizer, ``state_dict`` and
``save``/``load`` see nothing new. A policy it does not recognise gives ``None`` from
:meth:`LeanActorCritic.from_policy`, and callers use SB3's own path.

Shapes: ``B`` is the batch size, ``F`` the flattened observation size, ``A`` the number of discrete
actions or the size of a Box action.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.distributions import (
    CategoricalDistribution,
    DiagGaussianDistribution,
)
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.torch_layers import FlattenExtractor, MlpExtractor
from stable_baselines3.common.type_aliases import RolloutBufferSamples
from torch import nn
from torch.nn import functional as F

Activation = Literal["tanh", "relu"]
_ACTIVATIONS: dict[type[nn.Module], Activation] = {nn.Tanh: "tanh", nn.ReLU: "relu"}
_LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))  # the constant of torch's Normal.log_prob


class Dense(NamedTuple):
    """One ``nn.Linear`` of the policy and the activation that follows it (``None``: none)."""

    weight: nn.Parameter  # (out, in)
    bias: nn.Parameter  # (out,)
    activation: Activation | None


class PPOLossStats(NamedTuple):
    """What SB3's PPO ``train`` computes and logs for one minibatch, as 0-d tensors."""

    policy_loss: th.Tensor
    value_loss: th.Tensor
    entropy_loss: th.Tensor
    loss: th.Tensor
    clip_fraction: th.Tensor
    approx_kl: th.Tensor


class LossSettings(NamedTuple):
    """SB3's PPO loss hyperparameters for one minibatch (SB3's names; ``clip_range_vf`` None:
    no value clipping)."""

    clip_range: float
    clip_range_vf: float | None
    ent_coef: float
    vf_coef: float
    normalize_advantage: bool


class ClippedObjective(NamedTuple):
    """The terms of PPO's clipped objective on one minibatch of ``B`` rows."""

    log_ratio: th.Tensor  # (B,) log_prob - old_log_prob
    ratio: th.Tensor  # (B,) r = exp(log_ratio)
    surrogate: th.Tensor  # (B,) A r, A the (normalised) advantages
    clipped_surrogate: th.Tensor  # (B,) A clamp(r, 1 - c, 1 + c)
    policy_loss: th.Tensor  # () -mean min(surrogate, clipped_surrogate)
    values_pred: th.Tensor  # (B,) the values, clipped around the old ones with clip_range_vf
    value_loss: th.Tensor  # () mean (returns - values_pred)^2


def clipped_objective(
    batch: RolloutBufferSamples,
    log_prob: th.Tensor,
    values: th.Tensor,
    clip_range: float,
    clip_range_vf: float | None,
    normalize_advantage: bool,
) -> ClippedObjective:
    """SB3's PPO policy and value losses from the current ``log_prob`` and ``values`` ``(B,)``
    of a minibatch, with SB3's operations in SB3's order (so through autograd it is SB3's loss
    bit for bit); the one definition both the autograd path and the lean path use."""
    advantages = batch.advantages
    # Normalization does not make sense if mini batchsize == 1, see SB3 GH issue #325
    if normalize_advantage and len(advantages) > 1:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    log_ratio = log_prob - batch.old_log_prob
    ratio = th.exp(log_ratio)
    surrogate = advantages * ratio
    clipped_surrogate = advantages * th.clamp(ratio, 1 - clip_range, 1 + clip_range)
    policy_loss = -th.min(surrogate, clipped_surrogate).mean()
    if clip_range_vf is None:
        values_pred = values
    else:  # NOTE (SB3): this depends on the reward scaling
        values_pred = batch.old_values + th.clamp(
            values - batch.old_values, -clip_range_vf, clip_range_vf
        )
    value_loss = F.mse_loss(batch.returns, values_pred)
    return ClippedObjective(
        log_ratio, ratio, surrogate, clipped_surrogate, policy_loss, values_pred, value_loss
    )


def _parse_mlp(sequential: nn.Module) -> list[Dense] | None:
    """``[Linear, act?, Linear, act?, ...]`` as Dense blocks; None for anything else."""
    if type(sequential) is not nn.Sequential:
        return None
    layers: list[Dense] = []
    for module in sequential:
        if type(module) is nn.Linear and module.bias is not None:
            layers.append(Dense(module.weight, module.bias, None))
        elif type(module) in _ACTIVATIONS and layers and layers[-1].activation is None:
            layers[-1] = layers[-1]._replace(activation=_ACTIVATIONS[type(module)])
        else:
            return None
    return layers


def _tanh_(x: th.Tensor, exact: bool) -> th.Tensor:
    """``x.tanh_()``. With ``exact=False``, float32 CPU tensors go through numpy's SIMD ``tanh``
    instead (within 1 ulp of the true value like torch's, about 7x faster on an AVX-512 CPU, but
    not always the same last bit)."""
    if not exact and x.device.type == "cpu" and x.dtype == th.float32 and x.is_contiguous():
        array = x.numpy()
        np.tanh(array, out=array)
        return x
    return x.tanh_()


def _contiguous_numpy(tensor: th.Tensor) -> np.ndarray:
    """A float32 numpy view of ``tensor`` (copied only if it is not contiguous float32)."""
    if tensor.dtype is th.float32 and not tensor.requires_grad and tensor.is_contiguous():
        return tensor.numpy()  # the common case, without the three no-op calls
    return tensor.detach().to(th.float32).contiguous().numpy()


def _forward(layers: list[Dense], x: th.Tensor, exact: bool = True) -> th.Tensor:
    """The output of ``layers`` applied to ``x``, ``(B, in) -> (B, out)``; ``exact``: torch's
    own ``tanh`` (bit-identical to the policy's modules), else see :func:`_tanh_`."""
    for layer in layers:
        x = F.linear(x, layer.weight, layer.bias)
        if layer.activation == "tanh":
            x = _tanh_(x, exact)
        elif layer.activation == "relu":
            x = x.relu_()
    return x


def _forward_saving(layers: list[Dense], x: th.Tensor, exact: bool) -> list[th.Tensor]:
    """``[x, h_1, ..., h_L]``: the input and every layer's output (what the backward needs)."""
    outputs = [x]
    for layer in layers:
        outputs.append(_forward([layer], outputs[-1], exact))
    return outputs


def _backward(layers: list[Dense], outputs: list[th.Tensor], grad: th.Tensor) -> None:
    """Backpropagate ``grad = d loss / d outputs[-1]``, ``(B, out)``, through ``layers`` and write
    ``d loss / d weight`` and ``d loss / d bias`` of each into its ``.grad`` (overwritten)."""
    for i in range(len(layers) - 1, -1, -1):
        layer = layers[i]
        # Through the activation, from its output (autograd's own backward kernels).
        if layer.activation == "tanh":
            grad = th.ops.aten.tanh_backward(grad, outputs[i + 1])
        elif layer.activation == "relu":
            grad = th.ops.aten.threshold_backward(grad, outputs[i + 1], 0)
        # Through z = x W^T + b: dW = grad^T x, db = sum_B grad, dx = grad W.
        th.mm(grad.t(), outputs[i], out=layer.weight.grad)
        th.sum(grad, 0, out=layer.bias.grad)
        if i > 0:
            grad = grad.mm(layer.weight)


class LeanActorCritic:
    """
    The fast path for one SB3 ``ActorCriticPolicy``; build it with :meth:`from_policy`.

    :param policy: The policy whose parameters are used (held by reference)
    :param pi_layers: The policy network followed by ``action_net`` (no activation)
    :param vf_layers: The value network followed by ``value_net`` (no activation)
    :param distribution: ``"categorical"`` (Discrete actions) or ``"gaussian"`` (Box actions)

    ``fast_tanh`` (default True): :meth:`ppo_backward` computes ``tanh`` with numpy's SIMD
    implementation on the CPU (see :func:`_tanh_`), about 7x faster than torch's and as accurate,
    but not the same last bit, which the loss can amplify (a Gaussian log-probability of an action
    far in the tail): gradients then match autograd to about 1e-5 relative instead of 1e-6. False
    uses torch's ``tanh``. The rollout forward always uses torch's (identical to the policy's).

    ``head_kernel`` (default True): on the CPU, the loss, its statistics and the gradients with
    respect to the head and the values are one numba pass (:mod:`thrust_algos._ppo_head`)
    instead of about 35 torch operations; False (and any other device) uses the torch ones.
    """

    fast_tanh: bool = True
    head_kernel: bool = True

    def __init__(
        self,
        policy: ActorCriticPolicy,
        pi_layers: list[Dense],
        vf_layers: list[Dense],
        distribution: Literal["categorical", "gaussian"],
    ) -> None:
        self.policy = policy
        self.pi_layers = pi_layers
        self.vf_layers = vf_layers
        self.distribution = distribution
        self.log_std: nn.Parameter | None = policy.log_std if distribution == "gaussian" else None
        self.action_shape: tuple[int, ...] = policy.action_space.shape  # type: ignore[assignment]
        # In the policy's own order: clip_grad_norm_ then sums the norms as SB3 does.
        self.parameters: list[nn.Parameter] = list(policy.parameters())

    @classmethod
    def from_policy(cls, policy: nn.Module) -> LeanActorCritic | None:
        """
        The fast path for ``policy``, or None if it is not exactly SB3's MLP actor-critic:
        ``type(policy) is ActorCriticPolicy`` (what ``"MlpPolicy"`` is) on a CPU or CUDA device,
        with a shared ``FlattenExtractor`` on a non-image Box observation space, an
        ``MlpExtractor`` whose networks are ``Linear`` layers each followed by ``Tanh``, ``ReLU``
        or nothing (any widths and depths, possibly empty), Linear ``action_net`` and
        ``value_net``, float32 parameters that all require gradients, and a Categorical
        (Discrete) or diagonal Gaussian (Box, no gSDE, no squashing) action distribution.
        """
        if type(policy) is not ActorCriticPolicy or policy.device.type not in ("cpu", "cuda"):
            return None  # (foreach gradient clipping needs a CPU or CUDA device)
        observation_space, action_space = policy.observation_space, policy.action_space
        if (
            type(policy.features_extractor) is not FlattenExtractor
            or not policy.share_features_extractor
            or not isinstance(observation_space, spaces.Box)
            or is_image_space(observation_space)
            or type(policy.mlp_extractor) is not MlpExtractor
            or type(policy.action_net) is not nn.Linear
            or type(policy.value_net) is not nn.Linear
            or policy.action_net.bias is None
            or policy.value_net.bias is None
        ):
            return None
        distribution: Literal["categorical", "gaussian"]
        if type(policy.action_dist) is CategoricalDistribution and isinstance(
            action_space, spaces.Discrete
        ):
            distribution = "categorical"
        elif (
            type(policy.action_dist) is DiagGaussianDistribution
            and isinstance(action_space, spaces.Box)
            and not policy.use_sde
            and not policy.squash_output
        ):
            distribution = "gaussian"
        else:
            return None
        pi_trunk = _parse_mlp(policy.mlp_extractor.policy_net)
        vf_trunk = _parse_mlp(policy.mlp_extractor.value_net)
        if pi_trunk is None or vf_trunk is None:
            return None
        action_net, value_net = policy.action_net, policy.value_net
        pi_layers = [*pi_trunk, Dense(action_net.weight, action_net.bias, None)]
        vf_layers = [*vf_trunk, Dense(value_net.weight, value_net.bias, None)]
        # Every parameter is one of ours (nothing is left without a gradient), float32 and trained.
        ours = [param for layer in pi_layers + vf_layers for param in (layer.weight, layer.bias)]
        if distribution == "gaussian":
            ours.append(policy.log_std)
        params = list(policy.parameters())
        if {id(p) for p in ours} != {id(p) for p in params} or len(ours) != len(params):
            return None
        if any(p.dtype != th.float32 or not p.requires_grad for p in params):
            return None
        return cls(policy, pi_layers, vf_layers, distribution)

    def matches(self, policy: nn.Module) -> bool:
        """Whether this is still the fast path of ``policy``: the same object, the same
        parameters, each still float32 and trained (a parameter frozen since, with
        ``requires_grad_(False)``, must not be updated by the hand-written backward)."""
        if policy is not self.policy:
            return False
        params = list(policy.parameters())
        return len(params) == len(self.parameters) and all(
            a is b and a.requires_grad and a.dtype == th.float32
            for a, b in zip(params, self.parameters, strict=True)
        )

    # --- the rollout ------------------------------------------------------------------------------

    def features(self, obs: th.Tensor) -> th.Tensor:
        """SB3's preprocessing and ``FlattenExtractor``: ``(B, *obs_shape) -> (B, F)`` float32."""
        x = obs.float()
        return x if x.dim() == 2 else x.flatten(1)

    @th.no_grad()
    def act(
        self, obs: th.Tensor, deterministic: bool = False
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """
        ``policy.forward(obs, deterministic)``: sample actions and evaluate them.

        :param obs: Observations, ``(B, *obs_shape)``
        :param deterministic: Take the mode instead of sampling
        :return: actions ``(B, *action_shape)`` (int64 for Discrete), values ``(B, 1)`` and
            log-probabilities ``(B,)``
        """
        x = self.features(obs)
        head = _forward(self.pi_layers, x)
        values = _forward(self.vf_layers, x)
        if self.distribution == "categorical":
            # Categorical(logits=head): normalised logits, probs = softmax of those.
            logits = head - head.logsumexp(-1, keepdim=True)
            probs = F.softmax(logits, -1)
            if deterministic:
                actions = th.argmax(probs, dim=1)
            else:
                actions = th.multinomial(probs, 1, True).view(-1)  # Categorical.sample
            log_prob = logits.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        else:
            assert self.log_std is not None
            std = self.log_std.exp()
            if deterministic:
                actions = head
            else:
                # Normal.rsample (what SB3's DiagGaussianDistribution.sample calls).
                actions = head + th.empty_like(head).normal_() * std
            log_prob = self._gaussian_log_prob(actions, head, std, std.log()).sum(1)
        return actions.reshape(-1, *self.action_shape), values, log_prob

    @th.no_grad()
    def predict_values(self, obs: th.Tensor) -> th.Tensor:
        """``policy.predict_values(obs)``: ``(B, *obs_shape) -> (B, 1)``."""
        return _forward(self.vf_layers, self.features(obs))

    @staticmethod
    def _gaussian_log_prob(
        actions: th.Tensor, mean: th.Tensor, std: th.Tensor, log_std: th.Tensor
    ) -> th.Tensor:
        """``Normal(mean, std).log_prob(actions)``, ``(B, A)``, torch's arithmetic exactly."""
        return -((actions - mean) ** 2) / (2 * std**2) - log_std - _LOG_SQRT_2PI

    # --- the update -------------------------------------------------------------------------------

    @th.no_grad()
    def ppo_backward(
        self,
        batch: RolloutBufferSamples,
        clip_range: float,
        clip_range_vf: float | None,
        ent_coef: float,
        vf_coef: float,
        normalize_advantage: bool,
        kl_limit: float | None = None,
    ) -> PPOLossStats:
        """
        SB3's PPO loss on one minibatch, and its gradient written into every parameter's
        ``.grad`` (overwritten, allocated on first use). Nothing is stepped or clipped here.

        loss = policy_loss + ent_coef * entropy_loss + vf_coef * value_loss, with (``A_i`` the
        advantages, normalised when ``normalize_advantage`` and ``B > 1``; ``r_i`` the ratio
        ``exp(log_prob_i - old_log_prob_i)``; ``c`` the clip range)

        - policy_loss = -mean_i min(A_i r_i, A_i clamp(r_i, 1 - c, 1 + c))
        - value_loss = mean_i (R_i - V'_i)^2, ``V'`` the values, or with ``clip_range_vf``
          ``old_V + clamp(V - old_V, -clip_range_vf, clip_range_vf)``
        - entropy_loss = -mean_i H_i (analytic entropy of the action distribution)

        :param batch: A minibatch from the rollout buffer: observations ``(B, *obs_shape)``,
            actions ``(B, 1)`` (Discrete, as floats) or ``(B, A)``, and ``(B,)`` old values,
            old log-probabilities, advantages and returns
        :param kl_limit: SB3's early stop on ``target_kl`` (``1.5 * target_kl``): if the
            minibatch's approximate KL is above it, no gradient is written (every ``.grad``
            keeps the previous minibatch's, as SB3 stops before its backward); the caller stops
        :return: the losses and the clip fraction and approximate KL of SB3's ``train``
        """
        x = self.features(batch.observations)
        pi_outputs = _forward_saving(self.pi_layers, x, exact=not self.fast_tanh)
        vf_outputs = _forward_saving(self.vf_layers, x, exact=not self.fast_tanh)
        head = pi_outputs[-1]
        values = vf_outputs[-1].flatten()

        for param in self.parameters:
            if param.grad is None:
                param.grad = th.zeros_like(param)
        config = LossSettings(clip_range, clip_range_vf, ent_coef, vf_coef, normalize_advantage)
        head_pass = self._head_torch
        if self.head_kernel and head.device.type == "cpu":
            head_pass = self._head_numba
        # The head writes the log-std's gradient; with an early stop possible, apart until the
        # KL is known.
        log_std_grad = None if self.log_std is None else self.log_std.grad
        if kl_limit is not None and log_std_grad is not None:
            log_std_grad = th.empty_like(log_std_grad)
        stats, grad_head, grad_values = head_pass(batch, head, values, config, log_std_grad)
        if kl_limit is not None:
            if stats.approx_kl.item() > kl_limit:
                return stats
            if self.log_std is not None:
                self.log_std.grad.copy_(log_std_grad)  # type: ignore[union-attr, arg-type]
        _backward(self.pi_layers, pi_outputs, grad_head)
        _backward(self.vf_layers, vf_outputs, grad_values)
        return stats

    def _head_torch(
        self,
        batch: RolloutBufferSamples,
        head: th.Tensor,
        values: th.Tensor,
        config: LossSettings,
        log_std_grad: th.Tensor | None,
    ) -> tuple[PPOLossStats, th.Tensor, th.Tensor]:
        """The loss, its statistics and ``d loss / d head`` ``(B, A)`` and ``d loss / d values``
        ``(B, 1)`` in torch operations (any device; the Gaussian log-std's gradient is written
        into ``log_std_grad`` ``(A,)``)."""
        clip_range, clip_range_vf, ent_coef, vf_coef, normalize_advantage = config
        n = batch.advantages.shape[0]
        # Log-probabilities and entropies of the taken actions under the current policy, (B,).
        if self.distribution == "categorical":
            # Categorical(logits=head).logits and .probs, each in one kernel (torch's logsumexp
            # and softmax are several): equal to float rounding.
            logits = F.log_softmax(head, -1)  # (B, A)
            probs = logits.exp()
            actions = batch.actions.long().view(n, 1)
            log_prob = logits.gather(1, actions).squeeze(1)
            neg_entropy = (logits * probs).sum(-1)  # sum_a p log p = -H, (B,)
            entropy_loss = th.mean(neg_entropy)  # = -mean(H) exactly
        else:
            assert self.log_std is not None
            std = self.log_std.exp()  # (A,)
            log_std = std.log()
            diff = batch.actions - head  # (B, A)
            log_prob = self._gaussian_log_prob(batch.actions, head, std, log_std).sum(1)
            # Every row has the same entropy, sum_a (0.5 + 0.5 log(2 pi) + log std_a).
            entropy_loss = -(0.5 + 0.5 * math.log(2 * math.pi) + log_std).sum()

        objective = clipped_objective(
            batch, log_prob, values, clip_range, clip_range_vf, normalize_advantage
        )
        policy_loss, value_loss = objective.policy_loss, objective.value_loss
        policy_loss_1, policy_loss_2 = objective.surrogate, objective.clipped_surrogate
        log_ratio, ratio = objective.log_ratio, objective.ratio
        value_error = objective.values_pred - batch.returns
        loss = policy_loss + ent_coef * entropy_loss + vf_coef * value_loss

        ratio_minus_one = ratio - 1
        clip_fraction = th.mean((th.abs(ratio_minus_one) > clip_range).float())
        approx_kl = th.mean(ratio_minus_one - log_ratio)

        # --- backward ---
        # d loss / d log_prob_i = -1/B * A_i r_i where the unclipped term is the minimum (where
        # both are equal, autograd splits the gradient between them, which sums to the same).
        grad_log_prob = th.where(policy_loss_1 <= policy_loss_2, policy_loss_1, 0.0).mul_(
            -1.0 / n
        )  # (B,)
        # d loss / d values_i = vf_coef * 2/B (V'_i - R_i), zero where the value clip is active.
        grad_values = value_error.mul_(2.0 * vf_coef / n)  # (B,)
        if clip_range_vf is not None:
            inside = (values - batch.old_values).abs_() <= clip_range_vf
            grad_values = grad_values.mul_(inside)

        if self.distribution == "categorical":
            # d log p(a) / d z = onehot(a) - p;  d H / d z = -p (log p + H).
            grad_head = probs * (-grad_log_prob).unsqueeze(1)
            if ent_coef != 0.0:
                entropy_term = (logits - neg_entropy.unsqueeze(1)).mul_(probs)
                grad_head = grad_head.add_(entropy_term, alpha=ent_coef / n)
            grad_head.scatter_add_(1, actions, grad_log_prob.unsqueeze(1))
        else:
            assert log_std_grad is not None
            # d log p / d mean = (a - mean) / std^2,
            # d log p / d log std = (a - mean)^2 / std^2 - 1,  d H / d log std = 1.
            grad_head = grad_log_prob.unsqueeze(1) * diff * std.pow(-2)  # (B, A)
            th.sum(grad_head * diff - grad_log_prob.unsqueeze(1), 0, out=log_std_grad)
            if ent_coef != 0.0:
                log_std_grad.sub_(ent_coef)
        stats = PPOLossStats(policy_loss, value_loss, entropy_loss, loss, clip_fraction, approx_kl)
        return stats, grad_head, grad_values.unsqueeze(1)

    def _head_numba(
        self,
        batch: RolloutBufferSamples,
        head: th.Tensor,
        values: th.Tensor,
        config: LossSettings,
        log_std_grad: th.Tensor | None,
    ) -> tuple[PPOLossStats, th.Tensor, th.Tensor]:
        """:meth:`_head_torch` as one numba pass (CPU tensors; :mod:`thrust_algos._ppo_head`)."""
        from thrust_algos import _ppo_head

        n = head.shape[0]
        stats = th.empty(6)
        grad_head = th.empty_like(head)
        grad_values = th.empty(n, 1)
        batch_arrays = tuple(
            _contiguous_numpy(t)
            for t in (
                batch.actions.reshape(n, -1),
                batch.old_log_prob,
                batch.advantages,
                batch.returns,
                batch.old_values,
            )
        )
        scalars = (
            float(config.clip_range),
            -1.0 if config.clip_range_vf is None else float(config.clip_range_vf),
            bool(config.normalize_advantage),
            float(config.ent_coef),
            float(config.vf_coef),
        )  # the kernels' order
        head_array, values_array = _contiguous_numpy(head), _contiguous_numpy(values)
        outputs = (grad_head.numpy(), grad_values.numpy().reshape(n), stats.numpy())
        if self.distribution == "categorical":
            _ppo_head.categorical_head(head_array, batch_arrays, values_array, scalars, *outputs)
        else:
            assert self.log_std is not None and log_std_grad is not None
            log_std = self.log_std.detach().numpy()
            _ppo_head.gaussian_head(head_array, batch_arrays, values_array, scalars, *outputs,
                                    log_std, log_std_grad.numpy())  # fmt: skip
        return PPOLossStats(*stats.unbind()), grad_head, grad_values


def enable_fused_adam(optimizer: th.optim.Optimizer) -> bool:
    """
    Switch a ``torch.optim.Adam`` left at its defaults (``foreach=None``, ``fused=None``, as SB3
    creates it) to torch's fused implementation: one kernel per step for all parameters instead of
    a Python loop over them (on the CPU the default is the single-tensor loop; ``foreach=True``
    there still runs per tensor). The fused kernel computes the same update in a different order:
    parameters agree with the default's to float32 rounding (about 1e-7 after hundreds of steps;
    tests/test_algos_lean.py checks it). The switch is recorded in the optimizer's
    ``param_groups`` (and so in its ``state_dict``). Other optimizers, Adam with an explicit
    ``foreach``, ``fused``, ``capturable`` or ``differentiable``, and parameters that are not
    float32 on a CPU or CUDA device are left alone. Existing per-parameter ``step`` counters (an
    optimizer state loaded from stock SB3, or steps already taken) move to the parameters' device
    as float32 tensors, as the fused kernel needs them.

    :return: whether the optimizer now steps fused
    """
    if type(optimizer) is not th.optim.Adam:
        return False
    enabled = True
    for group in optimizer.param_groups:
        if group.get("fused") is True:
            continue
        supported = all(
            p.device.type in ("cpu", "cuda") and p.dtype == th.float32 for p in group["params"]
        )
        if (
            supported
            and group.get("foreach") is None
            and group.get("fused") is None
            and not group.get("capturable")
            and not group.get("differentiable")
        ):
            group["fused"] = True
            for param in group["params"]:
                _step_for_fused(optimizer.state.get(param), param)
        else:
            enabled = False
    return enabled


def _step_for_fused(state: dict | None, param: th.Tensor) -> None:
    """Make a parameter's Adam ``state["step"]`` what the fused kernel takes: a float32 0-d
    tensor on the parameter's device. The default (single-tensor) Adam keeps it on the CPU, and
    states loaded from stock SB3 (or older torch) may hold it there or as a Python number; the
    fused kernel on CUDA would then fail on a device mismatch."""
    if state is None or "step" not in state:
        return
    step = state["step"]
    if isinstance(step, th.Tensor) and step.device == param.device and step.dtype == th.float32:
        return
    state["step"] = th.as_tensor(float(step), dtype=th.float32, device=param.device)
