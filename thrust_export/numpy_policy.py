"""``NumpyPolicy``: run an exported policy with numpy only (no torch, no gymnasium).

Everything that can be computed once is computed in :meth:`NumpyPolicy.__init__` (transposed
contiguous weights, activation functions, bounds, the VecNormalize scale); ``predict`` validates the
observation's shape and dtype with a few attribute reads and then runs the matrix products.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from thrust_export.activations import ACTIVATION_OPS, Activation, make_activation
from thrust_export.artifact import ArtifactError, check_format, read_artifact

__all__ = ["NumpyPolicy", "load"]

#: Head kinds: how the network outputs become SB3's deterministic action.
HEAD_KINDS = frozenset(
    {
        "categorical",  # PPO/A2C Discrete: argmax of the action distribution's probabilities
        "multi_categorical",  # PPO/A2C MultiDiscrete: one argmax per sub-space
        "bernoulli",  # PPO/A2C MultiBinary: round(sigmoid(logits))
        "diag_gaussian",  # PPO/A2C Box: the Gaussian mean
        "gsde",  # PPO/A2C Box with use_sde: the mean, tanh-squashed if squash_output
        "squashed_gaussian",  # SAC: tanh(mean)
        "squashed_gsde",  # SAC with use_sde: tanh(clipped mean)
        "deterministic",  # TD3: the actor's output (already tanh-squashed)
        "q_argmax",  # DQN: argmax of the Q-values
    }
)
_LOGIT_HEADS = frozenset({"categorical", "multi_categorical", "bernoulli"})
_BOX_HEADS = HEAD_KINDS - _LOGIT_HEADS - {"q_argmax"}
_OBS_DTYPE_KINDS = "biuf"

# A top-2 logit margin above this (relative) cannot be reordered by the float32 softmax that SB3
# applies before its argmax, so the plain argmax of the logits is SB3's action.
_ARGMAX_MARGIN = 1e-4

Step = tuple["np.ndarray | None", "np.ndarray | None", "Activation | None"]


def output_names_for(head_kind: str, has_value: bool) -> list[str]:
    """The named outputs (``action`` first) of a policy with this head, as in the ONNX export.

    :param head_kind: one of :data:`HEAD_KINDS`
    :param has_value: whether the policy has a value network (PPO, A2C)
    """
    names = ["action"]
    if has_value:
        names.append("value")
    if head_kind in _LOGIT_HEADS:
        names.append("logits")
    elif head_kind in ("diag_gaussian", "gsde", "squashed_gsde"):
        names.append("mean")
    elif head_kind == "squashed_gaussian":
        names += ["mean", "log_std"]
    elif head_kind == "q_argmax":
        names.append("q_values")
    return names


def _fail(message: str) -> ArtifactError:
    return ArtifactError(f"invalid artifact metadata: {message}")


def _get(mapping: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(mapping, dict):
        raise _fail(f"{where} must be a JSON object")
    if key not in mapping:
        raise _fail(f"{where} is missing {key!r}")
    value = mapping[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        raise _fail(f"{where}.{key} must be {_kind_name(kind)}, got {value!r}")
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in _as_tuple(kind))


def _int_list(value: Any, where: str, minimum: int = 0) -> list[int]:
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in value
    ):
        raise _fail(f"{where} must be a list of integers >= {minimum}, got {value!r}")
    return value


def _finite(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(f"{where} must be a finite number, got {value!r}")
    return float(value)


def _array(
    arrays: Mapping[str, np.ndarray],
    key: Any,
    shape: tuple[int, ...],
    dtypes: tuple[str, ...],
    where: str,
) -> np.ndarray:
    if not isinstance(key, str) or key not in arrays:
        raise _fail(f"{where} names array {key!r}, which the artifact does not contain")
    array = arrays[key]
    if array.shape != shape:
        raise _fail(f"{where}: array {key!r} has shape {array.shape}, expected {shape}")
    if array.dtype.str not in dtypes:
        raise _fail(f"{where}: array {key!r} has dtype {array.dtype.str}, expected {dtypes}")
    return array


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


def _categorical_mode(logits: np.ndarray) -> np.ndarray:
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


def _sigmoid32(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.float32(1.0) / (np.float32(1.0) + np.exp(-x))


class NumpyPolicy:
    """A Stable-Baselines3 policy exported by :func:`thrust_export.export_numpy`, run in numpy.

    Use :func:`thrust_export.load` to create one. ``predict`` has SB3's signature and return
    convention; with ``deterministic=True`` its actions equal ``model.predict(obs,
    deterministic=True)`` (same dtype and shape, exactly for discrete actions, to float32 rounding
    for continuous ones).

    :param metadata: the artifact's JSON metadata
    :param arrays: the artifact's weight arrays by name
    :param seed: seed of the generator used by ``predict(..., deterministic=False)``
    :raises ArtifactError: if the metadata is inconsistent with itself or with the arrays
    """

    def __init__(
        self, metadata: Mapping[str, Any], arrays: Mapping[str, np.ndarray], seed: int | None = None
    ) -> None:
        check_format(metadata, "metadata")
        self._metadata: dict[str, Any] = copy.deepcopy(dict(metadata))
        self.rng = np.random.default_rng(seed)
        md = self._metadata
        self.algorithm: str = _get(md, "algorithm", str, "metadata")
        self._build_spaces(md, arrays)
        self._build_normalization(md, arrays)
        self._networks = self._build_networks(md, arrays)
        self._build_head(md, arrays)
        expected_outputs = self._output_names()
        outputs = _get(md, "outputs", list, "metadata")
        if outputs != expected_outputs:
            raise _fail(f"outputs {outputs!r} do not match the head, expected {expected_outputs!r}")
        self.output_names: tuple[str, ...] = tuple(outputs)

    # ------------------------------------------------------------------ construction

    def _build_spaces(self, md: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        obs = _get(md, "observation_space", dict, "metadata")
        if _get(obs, "type", str, "observation_space") != "Box":
            raise _fail(f"observation_space.type must be 'Box', got {obs['type']!r}")
        self.observation_shape: tuple[int, ...] = tuple(
            _int_list(_get(obs, "shape", list, "observation_space"), "observation_space.shape")
        )
        try:
            obs_dtype = np.dtype(_get(obs, "dtype", str, "observation_space"))
        except TypeError as exc:
            raise _fail(f"observation_space.dtype: {exc}") from exc
        if obs_dtype.kind not in _OBS_DTYPE_KINDS:
            raise _fail(f"observation_space.dtype must be numeric, got {obs_dtype}")
        self.observation_dtype = obs_dtype
        for bound in ("low", "high"):
            _array(
                arrays,
                obs.get(bound),
                self.observation_shape,
                ("<f8",),
                f"observation_space.{bound}",
            )
        self._flat_dim = int(np.prod(self.observation_shape, dtype=np.int64))

        act = _get(md, "action_space", dict, "metadata")
        kind = _get(act, "type", str, "action_space")
        self.action_space_type: str = kind
        self._action_low: np.ndarray | None = None
        self._action_high: np.ndarray | None = None
        if kind == "Discrete":
            self._n_actions = _get(act, "n", int, "action_space")
            self._action_start = _get(act, "start", int, "action_space")
            if self._n_actions < 1:
                raise _fail("action_space.n must be >= 1")
            self.action_shape: tuple[int, ...] = ()
            self._logit_dim = self._n_actions
        elif kind == "MultiDiscrete":
            self._nvec = _int_list(_get(act, "nvec", list, "action_space"), "action_space.nvec", 1)
            # SB3's predict ignores Discrete/MultiDiscrete `start` offsets, and so does this
            # policy; they are recorded for information and checked for consistency.
            start = _int_list(
                _get(act, "start", list, "action_space"), "action_space.start", -(2**62)
            )
            if not self._nvec or len(start) != len(self._nvec):
                raise _fail("action_space.nvec must be non-empty and as long as action_space.start")
            self.action_shape = (len(self._nvec),)
            self._logit_dim = int(sum(self._nvec))
        elif kind == "MultiBinary":
            n = _get(act, "n", int, "action_space")
            if n < 1:
                raise _fail("action_space.n must be >= 1")
            self.action_shape = (n,)
            self._logit_dim = n
        elif kind == "Box":
            self.action_shape = tuple(
                _int_list(_get(act, "shape", list, "action_space"), "action_space.shape")
            )
            dtype = _get(act, "dtype", str, "action_space")
            if dtype not in ("float32", "float64"):
                raise _fail(f"action_space.dtype must be float32 or float64, got {dtype!r}")
            code = "<f4" if dtype == "float32" else "<f8"
            self._action_low = _array(
                arrays, act.get("low"), self.action_shape, (code,), "action_space.low"
            )
            self._action_high = _array(
                arrays, act.get("high"), self.action_shape, (code,), "action_space.high"
            )
            self._logit_dim = int(np.prod(self.action_shape, dtype=np.int64))
        else:
            raise _fail(
                f"action_space.type {kind!r} is not one of Discrete, MultiDiscrete, "
                "MultiBinary, Box"
            )

    def _build_normalization(self, md: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        if "obs_normalization" not in md:
            raise _fail("metadata is missing 'obs_normalization' (null when absent)")
        norm = md["obs_normalization"]
        self._norm: tuple[np.ndarray, np.ndarray, float, float] | None = None
        if norm is None:
            return
        mean = _array(
            arrays,
            _get(norm, "mean", str, "obs_normalization"),
            self.observation_shape,
            ("<f8",),
            "obs_normalization.mean",
        )
        var = _array(
            arrays,
            _get(norm, "var", str, "obs_normalization"),
            self.observation_shape,
            ("<f8",),
            "obs_normalization.var",
        )
        epsilon = _finite(norm.get("epsilon"), "obs_normalization.epsilon")
        clip_obs = _finite(norm.get("clip_obs"), "obs_normalization.clip_obs")
        if clip_obs <= 0:
            raise _fail("obs_normalization.clip_obs must be positive")
        if not np.all(np.isfinite(mean)) or not np.all(var + epsilon > 0):
            raise _fail("obs_normalization mean must be finite and var + epsilon positive")
        # VecNormalize computes (obs - mean) / sqrt(var + epsilon) in float64, clips and casts to
        # float32; the flattened float64 mean and scale reproduce it exactly.
        self._norm = (
            np.ascontiguousarray(mean.reshape(-1)),
            np.sqrt(var + epsilon).reshape(-1),
            -clip_obs,
            clip_obs,
        )

    def _build_networks(
        self, md: dict[str, Any], arrays: Mapping[str, np.ndarray]
    ) -> dict[str, tuple[str, list[Step], int, list[Step]]]:
        nets = _get(md, "networks", dict, "metadata")
        if not nets:
            raise _fail("networks must not be empty")
        built: dict[str, tuple[str, list[Step], int, list[Step]]] = {}
        pending = dict(nets)
        out_dims: dict[str, int] = {"features": self._flat_dim}
        while pending:
            progressed = False
            for name, net in list(pending.items()):
                source = _get(net, "input", str, f"networks.{name}")
                if name == "features":
                    raise _fail("a network may not be named 'features' (the reserved input name)")
                if source == name or (source != "features" and source not in nets):
                    raise _fail(
                        f"networks.{name}.input {source!r} is neither 'features' nor "
                        "another network"
                    )
                if source not in out_dims:
                    continue
                steps, out_dim = self._compile_layers(name, net, arrays, out_dims[source])
                # Batches multiply (batch, in) @ (in, out); a single observation runs the 1-D
                # matrix-vector product (out, in) . (in,), which has less per-call overhead.
                single = [
                    (None if w is None else np.ascontiguousarray(w.T), b, a) for w, b, a in steps
                ]
                built[name] = (source, steps, out_dim, single)
                out_dims[name] = out_dim
                del pending[name]
                progressed = True
            if not progressed:
                raise _fail(f"networks {sorted(pending)} depend on each other in a cycle")
        # Evaluation order: inputs before the networks that read them.
        order: list[str] = []
        while len(order) < len(built):
            for name, (source, *_) in built.items():
                if name not in order and (source == "features" or source in order):
                    order.append(name)
        return {name: built[name] for name in order}

    @staticmethod
    def _compile_layers(
        name: str, net: dict[str, Any], arrays: Mapping[str, np.ndarray], in_dim: int
    ) -> tuple[list[Step], int]:
        layers = _get(net, "layers", list, f"networks.{name}")
        steps: list[list[Any]] = []
        dim = in_dim
        for i, layer in enumerate(layers):
            where = f"networks.{name}.layers[{i}]"
            op = _get(layer, "op", str, where)
            if op == "linear":
                n_in = _get(layer, "in_features", int, where)
                n_out = _get(layer, "out_features", int, where)
                if n_in != dim:
                    raise _fail(
                        f"{where}: in_features {n_in} does not match the previous size {dim}"
                    )
                if n_out < 1:
                    raise _fail(f"{where}: out_features must be >= 1")
                weight = _array(arrays, layer.get("weight"), (n_out, n_in), ("<f4",), where)
                bias_key = layer.get("bias")
                bias = (
                    None
                    if bias_key is None
                    else _array(arrays, bias_key, (n_out,), ("<f4",), where)
                )
                steps.append(
                    [np.ascontiguousarray(weight.T), None if bias is None else bias.copy(), None]
                )
                dim = n_out
            elif op in ACTIVATION_OPS:
                try:
                    fn = make_activation(layer)
                except ValueError as exc:
                    raise _fail(f"{where}: {exc}") from exc
                if steps and steps[-1][2] is None:
                    steps[-1][2] = fn
                elif steps:
                    previous = steps[-1][2]
                    steps[-1][2] = lambda x, f=previous, g=fn: g(f(x))
                else:
                    # An activation first would act in place on the caller's array: copy first.
                    steps.append([None, None, lambda x, g=fn: g(x.copy())])
            else:
                raise _fail(f"{where}: unknown op {op!r}")
        return [(s[0], s[1], s[2]) for s in steps], dim

    def _build_head(self, md: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        head = _get(md, "head", dict, "metadata")
        kind = _get(head, "kind", str, "head")
        if kind not in HEAD_KINDS:
            raise _fail(f"head.kind {kind!r} is not one of {sorted(HEAD_KINDS)}")
        self.head_kind = kind
        space = self.action_space_type
        allowed = {
            "Discrete": {"categorical", "q_argmax"},
            "MultiDiscrete": {"multi_categorical"},
            "MultiBinary": {"bernoulli"},
            "Box": set(_BOX_HEADS),
        }[space]
        if kind not in allowed:
            raise _fail(f"head.kind {kind!r} does not fit a {space} action space")

        def network(key: str, dim: int) -> str:
            net = _get(head, key, str, "head")
            if net not in self._networks:
                raise _fail(f"head.{key} names unknown network {net!r}")
            if self._networks[net][2] != dim:
                raise _fail(
                    f"network {net!r} outputs {self._networks[net][2]} values, expected {dim}"
                )
            return net

        self._main_net = network("network", self._logit_dim)
        self._log_std_net: str | None = None
        self._squash = False
        self._exploration_rate = 0.0
        if kind == "diag_gaussian":
            log_std = _array(
                arrays, head.get("log_std"), (self._logit_dim,), ("<f4",), "head.log_std"
            )
            self._std = np.exp(log_std)
        elif kind == "gsde":
            self._squash = _get(head, "squash", bool, "head")
        elif kind == "squashed_gaussian":
            self._log_std_net = network("log_std_network", self._logit_dim)
        elif kind == "q_argmax":
            self._exploration_rate = _finite(head.get("exploration_rate"), "head.exploration_rate")
            if not 0.0 <= self._exploration_rate <= 1.0:
                raise _fail("head.exploration_rate must be in [0, 1]")
        if kind in ("squashed_gaussian", "squashed_gsde"):
            self._squash = True

        self._postprocess: str | None = None
        if space == "Box":
            post = _get(head, "postprocess", str, "head")
            if post not in ("clip", "unscale"):
                raise _fail(f"head.postprocess must be 'clip' or 'unscale', got {post!r}")
            self._postprocess = post
            assert self._action_low is not None and self._action_high is not None
            self._action_range = self._action_high - self._action_low

        value = md.get("value_network")
        self._value_net: str | None = None
        if value is not None:
            if not isinstance(value, str) or value not in self._networks:
                raise _fail(f"value_network names unknown network {value!r}")
            if self._networks[value][2] != 1:
                raise _fail(f"value network {value!r} must output 1 value")
            self._value_net = value
        # Networks the deterministic action (and sampling) needs, in evaluation order.
        self._action_nets = self._closure([self._main_net])
        extra = [] if self._log_std_net is None else [self._log_std_net]
        self._sampling_nets = self._closure([self._main_net, *extra])

    def _closure(self, targets: list[str]) -> list[str]:
        needed: set[str] = set()
        for name in targets:
            while name != "features" and name not in needed:
                needed.add(name)
                name = self._networks[name][0]
        return [name for name in self._networks if name in needed]

    def _output_names(self) -> list[str]:
        return output_names_for(self.head_kind, self._value_net is not None)

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
        if obs.dtype.kind not in _OBS_DTYPE_KINDS:
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

    def _run(self, names: list[str], features: np.ndarray) -> dict[str, np.ndarray]:
        """Evaluate networks on ``(batch, features)`` inputs."""
        outputs = {"features": features}
        networks = self._networks
        for name in names:
            source, steps, _, _ = networks[name]
            x = outputs[source]
            for weight, bias, act in steps:
                if weight is not None:
                    x = x @ weight
                    if bias is not None:
                        x += bias
                if act is not None:
                    x = act(x)
            outputs[name] = x
        return outputs

    def _run_single(self, names: list[str], features: np.ndarray) -> dict[str, np.ndarray]:
        """Evaluate networks on one ``(features,)`` vector; outputs get a batch axis of 1."""
        outputs = {"features": features}
        networks = self._networks
        for name in names:
            source, _, _, steps = networks[name]
            x = outputs[source]
            for weight, bias, act in steps:
                if weight is not None:
                    x = weight.dot(x)
                    if bias is not None:
                        x += bias
                if act is not None:
                    x = act(x)
            outputs[name] = x
        return {name: outputs[name][None] for name in names}

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
            return _categorical_mode(main)
        if kind == "q_argmax":
            return main.argmax(axis=1)
        if kind == "multi_categorical":
            groups = np.split(main, np.cumsum(self._nvec)[:-1], axis=1)
            return np.stack([_categorical_mode(g) for g in groups], axis=1)
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
        return np.minimum((cdf <= u).sum(axis=1), logits.shape[1] - 1).astype(np.int64)

    # ------------------------------------------------------------------ public API

    def predict(
        self,
        observation: np.ndarray,
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """Actions for one observation or a batch, like SB3's ``model.predict``.

        :param observation: shape ``obs_shape`` (one observation) or ``(n_env, *obs_shape)``; any
            bool, integer or floating dtype (cast to float32 like SB3, after the folded-in
            VecNormalize statistics if any)
        :param state: passed through unchanged, like SB3 does for non-recurrent policies
        :param episode_start: ignored (non-recurrent policies), accepted for SB3 compatibility
        :param deterministic: SB3's deterministic action (default here); ``False`` samples from the
            policy's distribution with :attr:`rng` (not supported for gSDE policies)
        :return: ``(actions, state)``; actions of shape ``action_shape`` or
            ``(n_env, *action_shape)``: int64 for Discrete/MultiDiscrete, float32 for MultiBinary,
            the action-space bound dtype for Box
        :raises ValueError: observation of the wrong shape
        :raises TypeError: observation of a non-numeric dtype
        """
        x, vectorized = self._features(observation)
        nets = self._action_nets if deterministic else self._sampling_nets
        out = self._run(nets, x) if vectorized else self._run_single(nets, x)
        if deterministic:
            actions = self._deterministic_action(out)
        else:
            actions = self._stochastic_action(out)
        if not vectorized:
            actions = actions.squeeze(axis=0)
        return actions, state

    def predict_values(self, observation: np.ndarray) -> np.ndarray:
        """State values of a PPO/A2C policy (SB3's ``policy.predict_values``, squeezed).

        :param observation: shape ``obs_shape`` or ``(n_env, *obs_shape)``
        :return: float32 values, shape ``()`` or ``(n_env,)``
        """
        if self._value_net is None:
            raise NotImplementedError(f"{self.algorithm} policies have no value network")
        x, vectorized = self._features(observation)
        if not vectorized:
            x = x[None]
        values = self._run(self._closure([self._value_net]), x)[self._value_net][:, 0]
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
        """Reseed the generator used by ``predict(..., deterministic=False)``."""
        self.rng = np.random.default_rng(seed)

    @classmethod
    def load(cls, path: str | os.PathLike[str], seed: int | None = None) -> NumpyPolicy:
        """Read and verify an artifact written by :func:`thrust_export.export_numpy`."""
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
