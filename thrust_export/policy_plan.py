"""The plan of an exported policy: what its layers, activations and head are, as plain data.

:func:`plan_policy` validates an artifact's metadata against its weight arrays once and returns
a :class:`PolicyPlan`: the observation and action spaces, the folded-in VecNormalize statistics,
each network as a list of :class:`Linear` and :class:`ActivationLayer` steps in evaluation
order, and the :class:`Head` that turns network outputs into SB3's action. It computes nothing
but the constants SB3 would (``sqrt(var + epsilon)``, ``exp(log_std)``). Runners read a plan:
:class:`thrust_export.NumpyPolicy` compiles it into numpy calls, and the web export
(:mod:`thrust_export.web`) serialises it with :func:`plan_to_json` for the page's JavaScript.
"""

from __future__ import annotations

import base64
import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from thrust_export.activations import ACTIVATION_OPS, make_activation
from thrust_export.artifact import ArtifactError, check_format

__all__ = [
    "HEAD_KINDS",
    "ActionSpec",
    "ActivationLayer",
    "Head",
    "Linear",
    "Network",
    "Normalization",
    "PolicyPlan",
    "output_names_for",
    "plan_policy",
    "plan_to_json",
]

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
LOGIT_HEADS = frozenset({"categorical", "multi_categorical", "bernoulli"})
_BOX_HEADS = HEAD_KINDS - LOGIT_HEADS - {"q_argmax"}
OBS_DTYPE_KINDS = "biuf"


def output_names_for(head_kind: str, has_value: bool) -> list[str]:
    """The named outputs (``action`` first) of a policy with this head, as in the ONNX export.

    :param head_kind: one of :data:`HEAD_KINDS`
    :param has_value: whether the policy has a value network (PPO, A2C, TRPO, MaskablePPO)
    """
    names = ["action"]
    if has_value:
        names.append("value")
    if head_kind in LOGIT_HEADS:
        names.append("logits")
    elif head_kind in ("diag_gaussian", "gsde", "squashed_gsde"):
        names.append("mean")
    elif head_kind == "squashed_gaussian":
        names += ["mean", "log_std"]
    elif head_kind == "q_argmax":
        names.append("q_values")
    return names


@dataclasses.dataclass(frozen=True)
class Linear:
    """``y = x @ weight.T + bias``: ``weight`` float32 ``(out, in)``, ``bias`` float32
    ``(out,)`` or None."""

    weight: np.ndarray
    bias: np.ndarray | None


@dataclasses.dataclass(frozen=True)
class ActivationLayer:
    """An element-wise activation, as its metadata entry (``{"op": "elu", "alpha": 1.0}``;
    see :mod:`thrust_export.activations` for the ops)."""

    spec: Mapping[str, Any]


Layer = Linear | ActivationLayer


@dataclasses.dataclass(frozen=True)
class Network:
    """One MLP: reads ``source`` (``"features"`` or another network's output) and outputs
    ``out_dim`` values through ``layers`` in order."""

    source: str
    layers: tuple[Layer, ...]
    out_dim: int


@dataclasses.dataclass(frozen=True)
class Normalization:
    """VecNormalize's observation transform, ``clip((obs - mean) / scale, -clip, clip)`` in
    float64 then cast to float32; ``mean`` and ``scale`` (``sqrt(var + epsilon)``) are float64
    ``(flat_obs_dim,)``."""

    mean: np.ndarray
    scale: np.ndarray
    clip: float


@dataclasses.dataclass(frozen=True)
class ActionSpec:
    """The action space: ``type`` is Discrete, MultiDiscrete, MultiBinary or Box; ``logit_dim``
    the main network's output size. ``n``/``start`` (Discrete), ``nvec`` (MultiDiscrete),
    ``low``/``high`` (Box, in the space's dtype) are set where they apply."""

    type: str
    shape: tuple[int, ...]
    logit_dim: int
    n: int = 0
    start: int = 0
    nvec: tuple[int, ...] = ()
    low: np.ndarray | None = None
    high: np.ndarray | None = None


@dataclasses.dataclass(frozen=True)
class Head:
    """How network outputs become actions. ``network`` is the main output (logits, mean,
    Q-values); ``log_std_network`` SAC's state-dependent log std; ``std`` PPO/A2C's
    state-independent float32 std ``exp(log_std)``; ``squash`` whether the mean is
    tanh-squashed; ``postprocess`` ``"clip"`` or ``"unscale"`` for Box actions."""

    kind: str
    network: str
    log_std_network: str | None = None
    std: np.ndarray | None = None
    squash: bool = False
    exploration_rate: float = 0.0
    postprocess: str | None = None


@dataclasses.dataclass(frozen=True)
class PolicyPlan:
    """Everything a runner needs, validated. ``networks`` is in evaluation order (inputs
    before the networks that read them)."""

    algorithm: str
    observation_shape: tuple[int, ...]
    observation_dtype: np.dtype
    observation_low: np.ndarray
    observation_high: np.ndarray
    flat_dim: int
    action: ActionSpec
    normalization: Normalization | None
    networks: Mapping[str, Network]
    head: Head
    value_network: str | None
    output_names: tuple[str, ...]

    def closure(self, targets: list[str]) -> list[str]:
        """The networks ``targets`` need (themselves and their inputs), in evaluation order.

        :param targets: network names
        :return: network names
        """
        needed: set[str] = set()
        for name in targets:
            while name != "features" and name not in needed:
                needed.add(name)
                name = self.networks[name].source
        return [name for name in self.networks if name in needed]

    @property
    def action_networks(self) -> list[str]:
        """The networks the deterministic action needs."""
        return self.closure([self.head.network])

    @property
    def sampling_networks(self) -> list[str]:
        """The networks a sampled action needs (the log-std network too, for SAC)."""
        extra = [] if self.head.log_std_network is None else [self.head.log_std_network]
        return self.closure([self.head.network, *extra])


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


def plan_policy(metadata: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> PolicyPlan:
    """Validate an artifact's metadata against its arrays and describe the policy.

    :param metadata: the artifact's JSON metadata
    :param arrays: the artifact's weight arrays by name
    :return: the plan (its arrays are copies: later edits of ``arrays`` do not reach it)
    :raises ArtifactError: if the metadata is inconsistent with itself or with the arrays
    """
    check_format(metadata, "metadata")
    md = dict(metadata)
    algorithm = _get(md, "algorithm", str, "metadata")
    observation_shape, observation_dtype, low, high = _observation_space(md, arrays)
    flat_dim = int(np.prod(observation_shape, dtype=np.int64))
    action = _action_space(md, arrays)
    normalization = _normalization(md, arrays, observation_shape)
    networks = _networks(md, arrays, flat_dim)
    head = _head(md, arrays, action, networks)
    value = md.get("value_network")
    if value is not None:
        if not isinstance(value, str) or value not in networks:
            raise _fail(f"value_network names unknown network {value!r}")
        if networks[value].out_dim != 1:
            raise _fail(f"value network {value!r} must output 1 value")
    expected_outputs = output_names_for(head.kind, value is not None)
    outputs = _get(md, "outputs", list, "metadata")
    if outputs != expected_outputs:
        raise _fail(f"outputs {outputs!r} do not match the head, expected {expected_outputs!r}")
    return PolicyPlan(
        algorithm=algorithm,
        observation_shape=observation_shape,
        observation_dtype=observation_dtype,
        observation_low=low,
        observation_high=high,
        flat_dim=flat_dim,
        action=action,
        normalization=normalization,
        networks=networks,
        head=head,
        value_network=value,
        output_names=tuple(outputs),
    )


def _observation_space(
    md: dict[str, Any], arrays: Mapping[str, np.ndarray]
) -> tuple[tuple[int, ...], np.dtype, np.ndarray, np.ndarray]:
    obs = _get(md, "observation_space", dict, "metadata")
    if _get(obs, "type", str, "observation_space") != "Box":
        raise _fail(f"observation_space.type must be 'Box', got {obs['type']!r}")
    shape = tuple(
        _int_list(_get(obs, "shape", list, "observation_space"), "observation_space.shape")
    )
    try:
        dtype = np.dtype(_get(obs, "dtype", str, "observation_space"))
    except TypeError as exc:
        raise _fail(f"observation_space.dtype: {exc}") from exc
    if dtype.kind not in OBS_DTYPE_KINDS:
        raise _fail(f"observation_space.dtype must be numeric, got {dtype}")
    low, high = (
        _array(arrays, obs.get(bound), shape, ("<f8",), f"observation_space.{bound}").copy()
        for bound in ("low", "high")
    )
    return shape, dtype, low, high


def _action_space(md: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> ActionSpec:
    act = _get(md, "action_space", dict, "metadata")
    kind = _get(act, "type", str, "action_space")
    if kind == "Discrete":
        n = _get(act, "n", int, "action_space")
        start = _get(act, "start", int, "action_space")
        if n < 1:
            raise _fail("action_space.n must be >= 1")
        return ActionSpec(kind, (), logit_dim=n, n=n, start=start)
    if kind == "MultiDiscrete":
        nvec = _int_list(_get(act, "nvec", list, "action_space"), "action_space.nvec", 1)
        # SB3's predict ignores Discrete/MultiDiscrete `start` offsets, and so do the runners;
        # they are recorded for information and checked for consistency.
        start = _int_list(_get(act, "start", list, "action_space"), "action_space.start", -(2**62))
        if not nvec or len(start) != len(nvec):
            raise _fail("action_space.nvec must be non-empty and as long as action_space.start")
        return ActionSpec(kind, (len(nvec),), logit_dim=int(sum(nvec)), nvec=tuple(nvec))
    if kind == "MultiBinary":
        n = _get(act, "n", int, "action_space")
        if n < 1:
            raise _fail("action_space.n must be >= 1")
        return ActionSpec(kind, (n,), logit_dim=n, n=n)
    if kind == "Box":
        shape = tuple(_int_list(_get(act, "shape", list, "action_space"), "action_space.shape"))
        dtype = _get(act, "dtype", str, "action_space")
        if dtype not in ("float32", "float64"):
            raise _fail(f"action_space.dtype must be float32 or float64, got {dtype!r}")
        code = "<f4" if dtype == "float32" else "<f8"
        low = _array(arrays, act.get("low"), shape, (code,), "action_space.low").copy()
        high = _array(arrays, act.get("high"), shape, (code,), "action_space.high").copy()
        dim = int(np.prod(shape, dtype=np.int64))
        return ActionSpec(kind, shape, logit_dim=dim, low=low, high=high)
    raise _fail(
        f"action_space.type {kind!r} is not one of Discrete, MultiDiscrete, MultiBinary, Box"
    )


def _normalization(
    md: dict[str, Any], arrays: Mapping[str, np.ndarray], shape: tuple[int, ...]
) -> Normalization | None:
    if "obs_normalization" not in md:
        raise _fail("metadata is missing 'obs_normalization' (null when absent)")
    norm = md["obs_normalization"]
    if norm is None:
        return None
    mean, var = (
        _array(
            arrays,
            _get(norm, key, str, "obs_normalization"),
            shape,
            ("<f8",),
            f"obs_normalization.{key}",
        )
        for key in ("mean", "var")
    )
    epsilon = _finite(norm.get("epsilon"), "obs_normalization.epsilon")
    clip_obs = _finite(norm.get("clip_obs"), "obs_normalization.clip_obs")
    if clip_obs <= 0:
        raise _fail("obs_normalization.clip_obs must be positive")
    if not np.all(np.isfinite(mean)) or not np.all(var + epsilon > 0):
        raise _fail("obs_normalization mean must be finite and var + epsilon positive")
    # VecNormalize computes (obs - mean) / sqrt(var + epsilon) in float64, clips and casts to
    # float32; the flattened float64 mean and scale reproduce it exactly.
    return Normalization(
        mean=np.ascontiguousarray(mean.reshape(-1)),
        scale=np.sqrt(var + epsilon).reshape(-1),
        clip=clip_obs,
    )


def _networks(
    md: dict[str, Any], arrays: Mapping[str, np.ndarray], flat_dim: int
) -> dict[str, Network]:
    nets = _get(md, "networks", dict, "metadata")
    if not nets:
        raise _fail("networks must not be empty")
    built: dict[str, Network] = {}
    pending = dict(nets)
    out_dims: dict[str, int] = {"features": flat_dim}
    while pending:
        progressed = False
        for name, net in list(pending.items()):
            source = _get(net, "input", str, f"networks.{name}")
            if name == "features":
                raise _fail("a network may not be named 'features' (the reserved input name)")
            if source == name or (source != "features" and source not in nets):
                raise _fail(
                    f"networks.{name}.input {source!r} is neither 'features' nor another network"
                )
            if source not in out_dims:
                continue
            layers, out_dim = _layers(name, net, arrays, out_dims[source])
            built[name] = Network(source, layers, out_dim)
            out_dims[name] = out_dim
            del pending[name]
            progressed = True
        if not progressed:
            raise _fail(f"networks {sorted(pending)} depend on each other in a cycle")
    # Evaluation order: inputs before the networks that read them.
    order: list[str] = []
    while len(order) < len(built):
        for name, network in built.items():
            if name not in order and (network.source == "features" or network.source in order):
                order.append(name)
    return {name: built[name] for name in order}


def _layers(
    name: str, net: dict[str, Any], arrays: Mapping[str, np.ndarray], in_dim: int
) -> tuple[tuple[Layer, ...], int]:
    entries = _get(net, "layers", list, f"networks.{name}")
    layers: list[Layer] = []
    dim = in_dim
    for i, layer in enumerate(entries):
        where = f"networks.{name}.layers[{i}]"
        op = _get(layer, "op", str, where)
        if op == "linear":
            n_in = _get(layer, "in_features", int, where)
            n_out = _get(layer, "out_features", int, where)
            if n_in != dim:
                raise _fail(f"{where}: in_features {n_in} does not match the previous size {dim}")
            if n_out < 1:
                raise _fail(f"{where}: out_features must be >= 1")
            weight = _array(arrays, layer.get("weight"), (n_out, n_in), ("<f4",), where)
            bias_key = layer.get("bias")
            bias = None if bias_key is None else _array(arrays, bias_key, (n_out,), ("<f4",), where)
            layers.append(Linear(weight.copy(), None if bias is None else bias.copy()))
            dim = n_out
        elif op in ACTIVATION_OPS:
            try:
                make_activation(layer)  # validates the parameters
            except ValueError as exc:
                raise _fail(f"{where}: {exc}") from exc
            layers.append(ActivationLayer(dict(layer)))
        else:
            raise _fail(f"{where}: unknown op {op!r}")
    return tuple(layers), dim


def _head(
    md: dict[str, Any],
    arrays: Mapping[str, np.ndarray],
    action: ActionSpec,
    networks: Mapping[str, Network],
) -> Head:
    head = _get(md, "head", dict, "metadata")
    kind = _get(head, "kind", str, "head")
    if kind not in HEAD_KINDS:
        raise _fail(f"head.kind {kind!r} is not one of {sorted(HEAD_KINDS)}")
    allowed = {
        "Discrete": {"categorical", "q_argmax"},
        "MultiDiscrete": {"multi_categorical"},
        "MultiBinary": {"bernoulli"},
        "Box": set(_BOX_HEADS),
    }[action.type]
    if kind not in allowed:
        raise _fail(f"head.kind {kind!r} does not fit a {action.type} action space")

    def network(key: str) -> str:
        net = _get(head, key, str, "head")
        if net not in networks:
            raise _fail(f"head.{key} names unknown network {net!r}")
        if networks[net].out_dim != action.logit_dim:
            raise _fail(
                f"network {net!r} outputs {networks[net].out_dim} values, "
                f"expected {action.logit_dim}"
            )
        return net

    main = network("network")
    log_std_network: str | None = None
    std: np.ndarray | None = None
    squash = kind in ("squashed_gaussian", "squashed_gsde")
    exploration_rate = 0.0
    if kind == "diag_gaussian":
        log_std = _array(arrays, head.get("log_std"), (action.logit_dim,), ("<f4",), "head.log_std")
        std = np.exp(log_std)
    elif kind == "gsde":
        squash = _get(head, "squash", bool, "head")
    elif kind == "squashed_gaussian":
        log_std_network = network("log_std_network")
    elif kind == "q_argmax":
        exploration_rate = _finite(head.get("exploration_rate"), "head.exploration_rate")
        if not 0.0 <= exploration_rate <= 1.0:
            raise _fail("head.exploration_rate must be in [0, 1]")
    postprocess: str | None = None
    if action.type == "Box":
        postprocess = _get(head, "postprocess", str, "head")
        if postprocess not in ("clip", "unscale"):
            raise _fail(f"head.postprocess must be 'clip' or 'unscale', got {postprocess!r}")
    return Head(kind, main, log_std_network, std, squash, exploration_rate, postprocess)


def _encode(array: np.ndarray, dtype: str) -> dict[str, Any]:
    """An array as ``{"dtype", "shape", "b64"}``: little-endian bytes, base64-encoded."""
    data = np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<"))
    return {
        "dtype": dtype,
        "shape": list(data.shape),
        "b64": base64.b64encode(data.tobytes()).decode("ascii"),
    }


def plan_to_json(plan: PolicyPlan) -> dict[str, Any]:
    """The plan as JSON-serialisable data (arrays as base64 little-endian bytes).

    For runners outside Python such as the web page's JavaScript. Linear weights are float32
    ``(out, in)`` row-major; the normalisation statistics float64; Box bounds float64 (exact for
    float32 bounds).

    :param plan: a validated plan
    :return: JSON-serialisable data
    """
    action = plan.action
    head = plan.head
    return {
        "algorithm": plan.algorithm,
        "observation_shape": list(plan.observation_shape),
        "flat_dim": plan.flat_dim,
        "action": {
            "type": action.type,
            "shape": list(action.shape),
            "logit_dim": action.logit_dim,
            "n": action.n,
            "start": action.start,
            "nvec": list(action.nvec),
            "low": None if action.low is None else _encode(action.low.reshape(-1), "float64"),
            "high": None if action.high is None else _encode(action.high.reshape(-1), "float64"),
            "float32": action.low is not None and action.low.dtype == np.float32,
        },
        "normalization": None
        if plan.normalization is None
        else {
            "mean": _encode(plan.normalization.mean, "float64"),
            "scale": _encode(plan.normalization.scale, "float64"),
            "clip": plan.normalization.clip,
        },
        "networks": [
            {
                "name": name,
                "source": net.source,
                "out_dim": net.out_dim,
                "layers": [
                    {
                        "op": "linear",
                        "weight": _encode(layer.weight, "float32"),
                        "bias": None if layer.bias is None else _encode(layer.bias, "float32"),
                    }
                    if isinstance(layer, Linear)
                    else dict(layer.spec)
                    for layer in net.layers
                ],
            }
            for name, net in plan.networks.items()
        ],
        "head": {
            "kind": head.kind,
            "network": head.network,
            "log_std_network": head.log_std_network,
            "std": None if head.std is None else _encode(head.std, "float32"),
            "squash": head.squash,
            "exploration_rate": head.exploration_rate,
            "postprocess": head.postprocess,
        },
        "value_network": plan.value_network,
    }
