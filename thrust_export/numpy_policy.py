"""``NumpyPolicy``: run an exported policy with numpy only (no torch, no gymnasium).

The artifact is planned once by :func:`thrust_export.policy_plan.plan_policy` (validation and a
plain description of the layers and head); :class:`NumpyPolicy` compiles that plan into numpy
steps (transposed contiguous weights, fused activation functions, bounds) and runs them.
``predict`` validates the observation's shape and dtype with a few attribute reads and then
runs the matrix products.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from thrust_export.activations import Activation, make_activation
from thrust_export.artifact import ArtifactError, read_artifact
from thrust_export.policy_plan import (
    HEAD_KINDS,
    OBS_DTYPE_KINDS,
    Linear,
    Network,
    PolicyPlan,
    output_names_for,
    plan_policy,
)

__all__ = [
    "HEAD_KINDS",
    "MASKABLE_HEADS",
    "VALIDATED_HEADS",
    "NumpyPolicy",
    "apply_action_masks",
    "categorical_mode",
    "check_distribution_parameters",
    "load",
    "output_names_for",
]

# A top-2 logit margin above this (relative) cannot be reordered by the float32 softmax that SB3
# applies before its argmax, so the plain argmax of the logits is SB3's action.
_ARGMAX_MARGIN = 1e-4

Step = tuple["np.ndarray | None", "np.ndarray | None", "Activation | None"]


def compile_steps(network: Network) -> list[Step]:
    """A network's layers as ``(weight (in, out), bias, activation)`` steps for batches.

    Each linear layer is followed by its (fused) activations, an activation first copying its
    input (activations may act in place, and the first must not touch the caller's array).

    :param network: a planned network
    :return: the steps, in evaluation order
    """
    steps: list[list[Any]] = []
    for layer in network.layers:
        if isinstance(layer, Linear):
            bias = None if layer.bias is None else layer.bias.copy()
            steps.append([np.ascontiguousarray(layer.weight.T), bias, None])
            continue
        fn = make_activation(layer.spec)
        if steps and steps[-1][2] is None:
            steps[-1][2] = fn
        elif steps:
            previous = steps[-1][2]
            steps[-1][2] = lambda x, f=previous, g=fn: g(f(x))
        else:
            steps.append([None, None, lambda x, g=fn: g(x.copy())])
    return [(s[0], s[1], s[2]) for s in steps]


def _softmax_like_torch(logits: np.ndarray) -> np.ndarray:
    """``Categorical(logits=logits).probs`` as torch computes it in float32.

    torch normalises the logits with ``logsumexp`` (max + log(sum(exp(x - max)))) and then applies
    a softmax that multiplies by the reciprocal of the sum.
    """
    m = logits.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
    normalized = logits - lse
    e = np.exp(normalized - normalized.max(axis=1, keepdims=True))
    return e * (np.float32(1.0) / e.sum(axis=1, keepdims=True))


def categorical_mode(logits: np.ndarray) -> np.ndarray:
    """SB3's ``argmax(Categorical(logits).probs)`` for ``logits`` of shape ``(batch, n)``.

    The argmax of the logits is the answer unless the top two logits are so close that the float32
    softmax rounds their probabilities to the same value (then torch's argmax returns the first);
    only those rare rows pay for the exact emulation.
    """
    idx = logits.argmax(axis=1)
    n = logits.shape[1]
    if n < 2 or logits.shape[0] == 0:
        return idx
    if logits.shape[0] == 1:
        row = logits[0].tolist()
        best = int(idx[0])
        top = row[best]
        row[best] = -math.inf
        if top - max(row) > _ARGMAX_MARGIN * (1.0 + abs(top)):
            return idx
        close = np.ones(1, dtype=bool)
    else:
        # Top two values per row, column by column (numpy's reductions along a short last axis
        # are slow); NaN propagates into `close`, which sends the row to the exact path.
        top = logits[:, 0].copy()
        second = np.full_like(top, -np.inf)
        for j in range(1, n):
            column = logits[:, j]
            second = np.maximum(second, np.minimum(top, column))
            top = np.maximum(top, column)
        close = ~(top - second > _ARGMAX_MARGIN * (1.0 + np.abs(top)))
        if not close.any():
            return idx
    idx[close] = _softmax_like_torch(logits[close]).argmax(axis=1)
    return idx


#: Head kinds whose logits ``action_masks`` applies to (MaskablePPO's maskable distributions).
MASKABLE_HEADS = frozenset({"categorical", "multi_categorical"})


def apply_action_masks(
    logits: np.ndarray, action_masks: Any, vectorized: bool, nvec: Sequence[int]
) -> np.ndarray:
    """``logits`` with the actions ``action_masks`` forbids set to ``-inf`` (MaskablePPO's masking).

    sb3-contrib sets masked logits to -1e8, which gives the same argmax and zero probability.

    :param logits: shape ``(batch, sum(nvec))``
    :param action_masks: bool (or 0/1 integer) array, ``True`` for an allowed action: shape
        ``(batch, sum(nvec))``, or ``(sum(nvec),)`` when the batch holds one observation
    :param vectorized: whether the observation was a batch (for the error message)
    :param nvec: the number of actions of each sub-space (``[n]`` for Discrete)
    :return: float array of the shape of ``logits``
    :raises ValueError: masks of the wrong shape or values, or a row allowing no action
    :raises TypeError: masks of a non-bool, non-integer dtype
    """
    masks = np.asarray(action_masks)
    batch, n_logits = logits.shape
    if masks.dtype != np.bool_:
        if masks.dtype.kind not in "iu":
            raise TypeError(f"action_masks must be a bool array, got dtype {masks.dtype}")
        if not np.isin(masks, (0, 1)).all():
            raise ValueError("integer action_masks must hold only 0 and 1")
        masks = masks.astype(np.bool_)
    allowed = {(batch, n_logits)} | ({(n_logits,)} if batch == 1 else set())
    if masks.shape not in allowed:
        expected = f"(n_env, {n_logits})" if vectorized else f"({n_logits},)"
        raise ValueError(
            f"action_masks of shape {masks.shape}: expected {expected} for observations of batch "
            f"size {batch} ({n_logits} actions in all)"
        )
    masks = masks.reshape(batch, n_logits)
    start = 0
    for space_index, n in enumerate(nvec):
        empty = ~masks[:, start : start + n].any(axis=1)
        if empty.any():
            where = f" in sub-space {space_index}" if len(nvec) > 1 else ""
            raise ValueError(
                f"action_masks row {int(np.argmax(empty))} allows no action{where}: at least one "
                "action must be allowed"
            )
        start += n
    return np.where(masks, logits, np.array(-np.inf, dtype=logits.dtype))


#: Heads whose SB3 action distribution validates its parameters: torch's Categorical, Bernoulli
#: and Normal raise ``ValueError`` on a NaN logit, mean or standard deviation, which a NaN in the
#: observation always gives (and an infinite entry often: inf - inf). DQN's argmax and TD3's
#: actor have no distribution: SB3 returns their action, and so do the exports.
VALIDATED_HEADS = HEAD_KINDS - {"q_argmax", "deterministic"}


def check_distribution_parameters(
    parameters: Sequence[np.ndarray], observation: Any, observation_shape: tuple[int, ...]
) -> None:
    """Raise ``ValueError`` where SB3's ``predict`` does: a NaN among the parameters of the
    action distribution (:data:`VALIDATED_HEADS`), naming the observations that give it and
    their non-finite entries.

    :param parameters: the distribution's parameters (logits, mean, log_std), each of shape
        ``(batch, n)``
    :param observation: the observation given to ``predict`` (one, or a batch)
    :param observation_shape: the shape of one observation
    :raises ValueError: some row of the parameters holds a NaN
    """
    bad = np.zeros(len(parameters[0]), dtype=bool)
    for values in parameters:
        bad |= np.isnan(values).any(axis=1)
    if not bad.any():
        return
    rows = np.asarray(observation, dtype=np.float64).reshape((len(bad), *observation_shape))
    single = np.ndim(observation) == len(observation_shape)
    described = []
    for row in np.flatnonzero(bad)[:5]:
        where = [
            f"{tuple(int(i) for i in index) if len(index) > 1 else int(index[0])}: "
            f"{rows[row][tuple(index)]}"
            for index in np.argwhere(~np.isfinite(rows[row]))[:5]
        ]
        name = "the observation" if single else f"observation row {row}"
        described.append(
            f"{name} (non-finite entries {', '.join(where)})"
            if where
            else f"{name} (finite, but overflowing float32 in the network)"
        )
    more = f" and {int(bad.sum()) - 5} more rows" if bad.sum() > 5 else ""
    raise ValueError(
        f"{'; '.join(described)}{more}: the action distribution's parameters are NaN, which "
        "SB3's predict refuses (ValueError); pass finite observations"
    )


def _sigmoid32(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.float32(1.0) / (np.float32(1.0) + np.exp(-x))


class NumpyPolicy:
    """A Stable-Baselines3 policy exported by :func:`thrust_export.export_numpy`, run in numpy.

    Use :func:`thrust_export.load` to create one. ``predict`` has SB3's signature and return
    convention; with ``deterministic=True`` its actions equal ``model.predict(obs,
    deterministic=True)`` (same dtype and shape, exactly for discrete actions, to float32 rounding
    for continuous ones). One known exception: a MultiBinary logit within about 1.5e-7 of 0,
    whose float32 sigmoid SB3 rounds at 0.5 (``th.round(probs)``): there the result depends on
    the last bit of the sigmoid's implementation, in which numpy and torch (and torch's own CPU
    and CUDA kernels) differ.

    :param metadata: the artifact's JSON metadata
    :param arrays: the artifact's weight arrays by name
    :param seed: seed of the generator used by ``predict(..., deterministic=False)``
    :raises ArtifactError: if the metadata is inconsistent with itself or with the arrays
    """

    def __init__(
        self, metadata: Mapping[str, Any], arrays: Mapping[str, np.ndarray], seed: int | None = None
    ) -> None:
        self.plan: PolicyPlan = plan_policy(metadata, arrays)
        self._metadata: dict[str, Any] = copy.deepcopy(dict(metadata))
        self.rng = np.random.default_rng(seed)
        plan = self.plan
        action = plan.action
        head = plan.head
        self.algorithm: str = plan.algorithm
        self.observation_shape: tuple[int, ...] = plan.observation_shape
        self.observation_dtype = plan.observation_dtype
        self._flat_dim = plan.flat_dim
        self.action_space_type: str = action.type
        self.action_shape: tuple[int, ...] = action.shape
        self._n_actions = action.n
        self._action_start = action.start
        self._nvec = list(action.nvec)
        self._action_low = action.low
        self._action_high = action.high
        if action.low is not None and action.high is not None:
            self._action_range = action.high - action.low
        norm = plan.normalization
        self._norm: tuple[np.ndarray, np.ndarray, float, float] | None = (
            None if norm is None else (norm.mean, norm.scale, -norm.clip, norm.clip)
        )
        # Batches multiply (batch, in) @ (in, out); a single observation runs the 1-D
        # matrix-vector product (out, in) . (in,), which has less per-call overhead.
        self._networks: dict[str, tuple[str, list[Step], int, list[Step]]] = {}
        for name, network in plan.networks.items():
            steps = compile_steps(network)
            single = [(None if w is None else np.ascontiguousarray(w.T), b, f) for w, b, f in steps]
            self._networks[name] = (network.source, steps, network.out_dim, single)
        self.head_kind: str = head.kind
        self._main_net = head.network
        self._log_std_net = head.log_std_network
        self._std = head.std
        self._squash = head.squash
        self._exploration_rate = head.exploration_rate
        self._postprocess = head.postprocess
        self._value_net = plan.value_network
        self._action_nets = plan.action_networks
        self._sampling_nets = plan.sampling_networks
        # The outputs SB3's distribution validates (see VALIDATED_HEADS); predict checks those
        # it computed.
        self._validated: tuple[str, ...] = (
            tuple(n for n in (head.network, head.log_std_network) if n is not None)
            if head.kind in VALIDATED_HEADS
            else ()
        )
        self.output_names: tuple[str, ...] = plan.output_names

    # ------------------------------------------------------------------ properties

    @property
    def metadata(self) -> dict[str, Any]:
        """A copy of the artifact's JSON metadata."""
        return copy.deepcopy(self._metadata)

    @property
    def has_value(self) -> bool:
        """Whether :meth:`predict_values` is available (PPO and A2C)."""
        return self._value_net is not None

    def __repr__(self) -> str:
        return (
            f"NumpyPolicy(algorithm={self.algorithm!r}, "
            f"observation_shape={self.observation_shape}, "
            f"action_space={self.action_space_type}{list(self.action_shape)}, "
            f"head={self.head_kind!r})"
        )

    # ------------------------------------------------------------------ forward pass

    def _features(self, observation: Any) -> tuple[np.ndarray, bool]:
        """Validate an observation and return ``(features, vectorized)``.

        :param observation: shape ``obs_shape`` or ``(batch, *obs_shape)``, numeric dtype
        :return: float32 features of shape ``(batch, flat_obs_dim)``, or ``(flat_obs_dim,)`` for a
            single observation, and whether a batch was given
        """
        obs = observation if observation.__class__ is np.ndarray else np.asarray(observation)
        if obs.dtype.kind not in OBS_DTYPE_KINDS:
            raise TypeError(
                f"observation dtype {obs.dtype} is not numeric: expected a bool, integer or "
                f"floating-point array of shape {self.observation_shape} or "
                f"(n_env, {', '.join(map(str, self.observation_shape))})"
            )
        shape = obs.shape
        if shape == self.observation_shape:
            x = obs.reshape(self._flat_dim)
            vectorized = False
        elif shape[1:] == self.observation_shape:
            x = obs.reshape(shape[0], self._flat_dim)
            vectorized = True
        else:
            raise ValueError(
                f"Unexpected observation shape {shape} for Box observations: expected "
                f"{self.observation_shape} or "
                f"(n_env, {', '.join(map(str, self.observation_shape))})"
            )
        norm = self._norm
        if norm is not None:
            x = np.clip((x - norm[0]) / norm[1], norm[2], norm[3]).astype(np.float32)
        elif x.dtype != np.float32:
            x = x.astype(np.float32)
        return x, vectorized

    def _run(
        self, names: list[str], features: np.ndarray, single: bool = False
    ) -> dict[str, np.ndarray]:
        """Evaluate networks on ``(batch, features)`` inputs, or with ``single`` on one
        ``(features,)`` vector (the plan's transposed steps: a matrix-vector product over
        contiguous rows), whose outputs then get a batch axis of 1."""
        outputs = {"features": features}
        networks = self._networks
        for name in names:
            source, batch_steps, _, single_steps = networks[name]
            x = outputs[source]
            for weight, bias, act in single_steps if single else batch_steps:
                if weight is not None:
                    x = weight.dot(x) if single else x @ weight
                    if bias is not None:
                        x += bias
                if act is not None:
                    x = act(x)
            outputs[name] = x
        if single:
            return {name: outputs[name][None] for name in names}
        return outputs

    def _box_action(self, scaled: np.ndarray) -> np.ndarray:
        # BasePolicy.predict: reshape, then unscale from [-1, 1] (squashed) or clip to the bounds.
        actions = scaled.reshape((-1, *self.action_shape))
        if self._postprocess == "unscale":
            return self._action_low + (0.5 * (actions + 1.0) * self._action_range)
        return np.clip(actions, self._action_low, self._action_high)

    def _deterministic_action(self, out: dict[str, np.ndarray]) -> np.ndarray:
        kind = self.head_kind
        main = out[self._main_net]
        if kind == "categorical":
            return categorical_mode(main)
        if kind == "q_argmax":
            return main.argmax(axis=1)
        if kind == "multi_categorical":
            groups = np.split(main, np.cumsum(self._nvec)[:-1], axis=1)
            return np.stack([categorical_mode(g) for g in groups], axis=1)
        if kind == "bernoulli":
            return np.round(_sigmoid32(main))
        if self._squash:
            main = np.tanh(main)
        return self._box_action(main)

    def _stochastic_action(self, out: dict[str, np.ndarray]) -> np.ndarray:
        kind = self.head_kind
        main = out[self._main_net]
        rng = self.rng
        if kind in ("gsde", "squashed_gsde"):
            raise NotImplementedError(
                "predict(..., deterministic=False) is not supported for gSDE policies "
                "(use_sde=True): "
                "their exploration noise matrix is not part of the export; use deterministic=True"
            )
        if kind == "categorical":
            return self._sample_categorical(main)
        if kind == "multi_categorical":
            groups = np.split(main, np.cumsum(self._nvec)[:-1], axis=1)
            return np.stack([self._sample_categorical(g) for g in groups], axis=1)
        if kind == "bernoulli":
            return (rng.random(main.shape) < _sigmoid32(main)).astype(np.float32)
        if kind == "q_argmax":
            # DQN.predict: with probability exploration_rate, a random action for every env.
            if rng.random() < self._exploration_rate:
                return self._action_start + rng.integers(0, self._n_actions, size=main.shape[0])
            return main.argmax(axis=1)
        if kind == "deterministic":
            # TD3's actor ignores `deterministic`: exploration noise is added only during training.
            return self._box_action(main)
        noise = rng.standard_normal(main.shape, dtype=np.float32)
        if kind == "diag_gaussian":
            return self._box_action(main + self._std * noise)
        # squashed_gaussian (SAC): log_std is clamped to [-20, 2] by the exported network.
        assert self._log_std_net is not None
        return self._box_action(np.tanh(main + np.exp(out[self._log_std_net]) * noise))

    def _sample_categorical(self, logits: np.ndarray) -> np.ndarray:
        z = logits.astype(np.float64)
        p = np.exp(z - z.max(axis=1, keepdims=True))
        cdf = np.cumsum(p, axis=1)
        u = self.rng.random((logits.shape[0], 1)) * cdf[:, -1:]
        # The last action of nonzero probability: u rounded up to the total must not pick a
        # masked (-inf, probability 0) action after it.
        last = logits.shape[1] - 1 - np.argmax(p[:, ::-1] > 0, axis=1)
        return np.minimum((cdf <= u).sum(axis=1), last).astype(np.int64)

    # ------------------------------------------------------------------ public API

    def predict(
        self,
        observation: np.ndarray,
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
        action_masks: np.ndarray | None = None,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """Actions for one observation or a batch, like SB3's ``model.predict``.

        :param observation: shape ``obs_shape`` (one observation) or ``(n_env, *obs_shape)``; any
            bool, integer or floating dtype (cast to float32 like SB3, after the folded-in
            VecNormalize statistics if any)
        :param state: passed through unchanged, like SB3 does for non-recurrent policies
        :param episode_start: ignored (non-recurrent policies), accepted for SB3 compatibility
        :param deterministic: SB3's deterministic action (default here); ``False`` samples from the
            policy's distribution with :attr:`rng` (not supported for gSDE policies)
        :param action_masks: as ``MaskablePPO.predict``: ``True`` for an allowed action, shape
            ``(n_actions,)`` or ``(n_env, n_actions)`` (MultiDiscrete: ``sum(nvec)`` columns);
            forbidden actions get ``-inf`` logits before the argmax or the sampling. Discrete and
            MultiDiscrete actor-critic policies only; ``None``: no masking
        :return: ``(actions, state)``; actions of shape ``action_shape`` or
            ``(n_env, *action_shape)``: int64 for Discrete/MultiDiscrete, float32 for MultiBinary,
            the action-space bound dtype for Box
        :raises ValueError: observation or masks of the wrong shape, masks allowing no action,
            masks for a policy without maskable actions; as SB3, an observation giving NaN
            distribution parameters (a NaN entry, often an infinite one) for any policy but DQN
            and TD3 (see :func:`check_distribution_parameters`)
        :raises TypeError: observation of a non-numeric dtype, masks of a non-bool dtype
        """
        if action_masks is not None and self.head_kind not in MASKABLE_HEADS:
            raise ValueError(
                f"action_masks apply to Discrete and MultiDiscrete actor-critic policies only; "
                f"this {self.algorithm} policy has {self.action_space_type} actions "
                f"({self.head_kind} head)"
            )
        x, vectorized = self._features(observation)
        nets = self._action_nets if deterministic else self._sampling_nets
        out = self._run(nets, x, single=not vectorized)
        if self._validated:
            parameters = [out[name] for name in self._validated if name in out]
            check_distribution_parameters(parameters, observation, self.observation_shape)
        if action_masks is not None:
            nvec = self._nvec if self.head_kind == "multi_categorical" else [self._n_actions]
            main = out[self._main_net]
            out[self._main_net] = apply_action_masks(main, action_masks, vectorized, nvec)
        if deterministic:
            actions = self._deterministic_action(out)
        else:
            actions = self._stochastic_action(out)
        if not vectorized:
            actions = actions.squeeze(axis=0)
        return actions, state

    def predict_values(self, observation: np.ndarray) -> np.ndarray:
        """State values of a actor-critic policy (SB3's ``policy.predict_values``, squeezed).

        :param observation: shape ``obs_shape`` or ``(n_env, *obs_shape)``
        :return: float32 values, shape ``()`` or ``(n_env,)``
        """
        if self._value_net is None:
            raise NotImplementedError(f"{self.algorithm} policies have no value network")
        x, vectorized = self._features(observation)
        if not vectorized:
            x = x[None]
        values = self._run(self.plan.closure([self._value_net]), x)[self._value_net][:, 0]
        return values if vectorized else values.squeeze(axis=0)

    def forward(self, observation: np.ndarray) -> dict[str, np.ndarray]:
        """Every named output, batched: the same names and shapes as the ONNX export.

        ``action`` (deterministic, as ``predict``), and depending on the policy ``value``
        ``(batch,)``, ``logits`` ``(batch, n_logits)``, ``mean`` ``(batch, action_dim)``,
        ``log_std`` ``(batch, action_dim)`` (SAC) or ``q_values`` ``(batch, n_actions)`` (DQN).
        A single observation is treated as a batch of one.

        :param observation: shape ``obs_shape`` or ``(batch, *obs_shape)``
        :return: output name -> array with a leading batch axis
        """
        x, vectorized = self._features(observation)
        if not vectorized:
            x = x[None]
        out = self._run(list(self._networks), x)
        result = {"action": self._deterministic_action(out)}
        if self._value_net is not None:
            result["value"] = out[self._value_net][:, 0]
        for name in self.output_names:
            if name in ("logits", "mean", "q_values"):
                result[name] = out[self._main_net]
            elif name == "log_std":
                assert self._log_std_net is not None
                result[name] = out[self._log_std_net]
        return result

    def seed(self, seed: int | None) -> None:
        """Reseed the generator used by ``predict(..., deterministic=False)``.

        :param seed: the new seed (``None``: fresh entropy)
        """
        self.rng = np.random.default_rng(seed)

    @classmethod
    def load(cls, path: str | os.PathLike[str], seed: int | None = None) -> NumpyPolicy:
        """Read and verify an artifact written by :func:`thrust_export.export_numpy`.

        :param path: the ``.npz`` artifact
        :param seed: seed for ``predict(..., deterministic=False)``
        :return: the policy
        :raises ArtifactError: a damaged or inconsistent artifact
        """
        metadata, arrays = read_artifact(path)
        try:
            return cls(metadata, arrays, seed=seed)
        except ArtifactError as exc:
            raise ArtifactError(f"{path}: {exc}") from exc


def load(path: str | os.PathLike[str], seed: int | None = None) -> NumpyPolicy:
    """Load a numpy policy artifact (never unpickles; verifies its SHA-256).

    :param path: the ``.npz`` file written by :func:`thrust_export.export_numpy`
    :param seed: seed for ``predict(..., deterministic=False)``
    :return: the policy
    :raises FileNotFoundError: if there is no such file
    :raises ArtifactError: if the file is truncated, tampered with, of an unknown format version or
        inconsistent
    """
    return NumpyPolicy.load(path, seed=seed)
