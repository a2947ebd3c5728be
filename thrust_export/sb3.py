"""Read a Stable-Baselines3 model and describe its deterministic policy as layers and arrays.

This module imports torch and stable-baselines3; the runtime side (:mod:`thrust_export.artifact`,
:mod:`thrust_export.numpy_policy`) does not.

Support is decided by exact types, never by duck typing, so that nothing is exported that would
behave differently from SB3's ``predict``: the algorithm must be PPO, A2C, DQN, SAC or TD3 (DDPG,
a TD3 subclass with the same actor, too) or sb3-contrib's TRPO or MaskablePPO (the same MLP
actor-critic; MaskablePPO's action masks are an input of ``predict``, not part of the network),
the policy exactly the ``MlpPolicy`` class of that
algorithm, the features extractor exactly ``FlattenExtractor``, every layer a ``Linear``,
``Dropout``/``Identity`` (no-ops in SB3's eval-mode ``predict``) or one of the activations in
:data:`ACTIVATION_TYPES`. Anything else raises ``NotImplementedError`` naming what is unsupported.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import pickle
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import stable_baselines3
import torch as th
from gymnasium import spaces
from sb3_contrib import TRPO, MaskablePPO
from sb3_contrib.common.maskable.distributions import (
    MaskableBernoulliDistribution,
    MaskableCategoricalDistribution,
    MaskableMultiCategoricalDistribution,
)
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3 import A2C, DDPG, DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.distributions import (
    BernoulliDistribution,
    CategoricalDistribution,
    DiagGaussianDistribution,
    MultiCategoricalDistribution,
    StateDependentNoiseDistribution,
)
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.torch_layers import FlattenExtractor, MlpExtractor
from stable_baselines3.common.vec_env import VecNormalize
from stable_baselines3.dqn.policies import DQNPolicy, QNetwork
from stable_baselines3.sac.policies import LOG_STD_MAX, LOG_STD_MIN, SACPolicy
from stable_baselines3.sac.policies import Actor as SACActor
from stable_baselines3.td3.policies import Actor as TD3Actor
from stable_baselines3.td3.policies import TD3Policy
from torch import nn

from thrust_export.artifact import FORMAT_NAME, FORMAT_VERSION
from thrust_export.numpy_policy import output_names_for

__all__ = [
    "ACTIVATION_TYPES",
    "ACTOR_CRITIC_ALGORITHMS",
    "SUPPORTED_ALGORITHMS",
    "detect_algorithm",
    "extract",
    "load_model",
    "load_vec_normalize",
    "thrust_export_version",
]

#: Algorithm name -> class. DDPG is accepted as a model object (its actor is TD3's).
SUPPORTED_ALGORITHMS: dict[str, type[BaseAlgorithm]] = {
    "PPO": PPO,
    "A2C": A2C,
    "DQN": DQN,
    "SAC": SAC,
    "TD3": TD3,
    "TRPO": TRPO,
    "MaskablePPO": MaskablePPO,
}
#: The algorithms whose policy is SB3's MLP actor-critic (a policy and a value network).
ACTOR_CRITIC_ALGORITHMS: frozenset[str] = frozenset({"PPO", "A2C", "TRPO", "MaskablePPO"})
_MODEL_CLASSES: dict[type[BaseAlgorithm], str] = {**{v: k for k, v in SUPPORTED_ALGORITHMS.items()}}
_MODEL_CLASSES[DDPG] = "DDPG"

#: The ``MlpPolicy`` class of each algorithm (subclasses such as CnnPolicy are rejected).
_POLICY_CLASSES: dict[str, type[nn.Module]] = {
    "PPO": ActorCriticPolicy,
    "A2C": ActorCriticPolicy,
    "DQN": DQNPolicy,
    "SAC": SACPolicy,
    "TD3": TD3Policy,
    "DDPG": TD3Policy,
    "TRPO": ActorCriticPolicy,
    "MaskablePPO": MaskableActorCriticPolicy,
}


def _activation_entry(module: nn.Module) -> dict[str, Any] | None:
    t = type(module)
    if t is nn.LeakyReLU:
        return {"op": "leaky_relu", "negative_slope": float(module.negative_slope)}
    if t is nn.ELU:
        return {"op": "elu", "alpha": float(module.alpha)}
    if t is nn.CELU:
        return {"op": "celu", "alpha": float(module.alpha)}
    if t is nn.Softplus:
        return {"op": "softplus", "beta": float(module.beta), "threshold": float(module.threshold)}
    if t is nn.GELU:
        return {"op": "gelu", "approximate": str(module.approximate)}
    if t in (nn.Hardtanh, nn.ReLU6):
        return {"op": "hardtanh", "min": float(module.min_val), "max": float(module.max_val)}
    simple = _SIMPLE_ACTIVATIONS.get(t)
    return None if simple is None else {"op": simple}


_SIMPLE_ACTIVATIONS: dict[type[nn.Module], str] = {
    nn.Tanh: "tanh",
    nn.ReLU: "relu",
    nn.SELU: "selu",
    nn.SiLU: "silu",
    nn.Sigmoid: "sigmoid",
    nn.Mish: "mish",
    nn.Softsign: "softsign",
    nn.Hardswish: "hardswish",
    nn.Hardsigmoid: "hardsigmoid",
}

#: torch activation modules an exported network may contain (exact types).
ACTIVATION_TYPES: tuple[type[nn.Module], ...] = (
    *_SIMPLE_ACTIVATIONS,
    nn.LeakyReLU,
    nn.ELU,
    nn.CELU,
    nn.Softplus,
    nn.GELU,
    nn.Hardtanh,
    nn.ReLU6,
)
_NO_OP_LAYERS: tuple[type[nn.Module], ...] = (nn.Identity, nn.Dropout)


def thrust_export_version() -> str:
    """The installed ``thrust-rl`` version, or ``"unknown"`` when running from a source tree."""
    try:
        return importlib.metadata.version("thrust-rl")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _type_name(obj: Any) -> str:
    t = obj if isinstance(obj, type) else type(obj)
    return f"{t.__module__}.{t.__qualname__}"


# ---------------------------------------------------------------------- loading


def _error_name(exc: BaseException) -> str:
    """``zlib.error`` rather than its bare class name ``error``."""
    return "zlib.error" if isinstance(exc, zlib.error) else type(exc).__name__


def detect_algorithm(path: str | os.PathLike[str]) -> str:
    """Which supported algorithm saved the SB3 ``.zip`` at ``path``, from its ``data`` JSON.

    The policy class's module tells DQN, SAC, TD3 and MaskablePPO apart; PPO, A2C and TRPO share
    ``ActorCriticPolicy`` and are told apart by PPO's ``clip_range`` and TRPO's ``cg_max_steps``
    hyperparameters.

    :param path: the ``.zip`` saved by ``model.save``
    :return: the algorithm name, a key of :data:`SUPPORTED_ALGORITHMS`
    :raises FileNotFoundError: no such file
    :raises ValueError: if the file is not an SB3 model archive (not a zip, a damaged one, no
        ``data`` member or one that is not a JSON object)
    :raises NotImplementedError: if it was saved by an unsupported algorithm
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"no such model file: {path}")
    try:
        with zipfile.ZipFile(path) as archive:
            data = json.loads(archive.read("data"))
    except (
        # What zipfile and json raise on a damaged or foreign file: a bad zip, no `data` member,
        # invalid JSON or UTF-8 (ValueErrors), a corrupt deflate stream (zlib.error), a truncated
        # one (EOFError), an unknown compression method (NotImplementedError), an encrypted
        # member (RuntimeError), a bad offset (OSError). RuntimeError and NotImplementedError
        # must not escape: the CLI reads them as a failed parity check, an unsupported model.
        zipfile.BadZipFile,
        KeyError,
        ValueError,
        zlib.error,
        EOFError,
        NotImplementedError,
        RuntimeError,
        OSError,
    ) as exc:
        raise ValueError(
            f"{path} is not a Stable-Baselines3 model archive (.zip): {_error_name(exc)}: {exc}"
        ) from exc
    if not isinstance(data, dict):
        raise ValueError(
            f"{path} is not a Stable-Baselines3 model archive (.zip): its 'data' member is a "
            f"JSON {type(data).__name__}, not an object"
        )
    policy_class = data.get("policy_class")
    module = policy_class.get("__module__") if isinstance(policy_class, dict) else None
    by_module = {
        "stable_baselines3.dqn.policies": "DQN",
        "stable_baselines3.sac.policies": "SAC",
        "stable_baselines3.td3.policies": "TD3",
        "sb3_contrib.common.maskable.policies": "MaskablePPO",
    }
    if module in by_module:
        return by_module[module]
    if module == "stable_baselines3.common.policies":
        if "clip_range" in data:
            return "PPO"
        return "TRPO" if "cg_max_steps" in data else "A2C"
    if isinstance(module, str) and "recurrent" in module:
        raise NotImplementedError(
            f"{path}: recurrent policies (RecurrentPPO, {module}) are not supported"
        )
    raise NotImplementedError(
        f"{path}: cannot export a model whose policy class comes from {module!r}; supported "
        f"algorithms: {_supported()}"
    )


#: Upper-cased name -> algorithm name (``--algo maskableppo`` is MaskablePPO).
_ALGORITHM_NAMES: dict[str, str] = {name.upper(): name for name in SUPPORTED_ALGORITHMS}


def _supported() -> str:
    return ", ".join(SUPPORTED_ALGORITHMS)


def load_model(
    model_or_path: BaseAlgorithm | str | os.PathLike[str], algo: str | None = None
) -> BaseAlgorithm:
    """Return ``model_or_path`` if it is a model, else load the ``.zip`` on the CPU.

    Loading an SB3 archive unpickles parts of it (SB3's own format): only export trusted models.

    :param model_or_path: an SB3 model, or the path of a model saved with ``model.save``
    :param algo: the algorithm that saved the file (``"PPO"``, ...); detected when ``None``
    :return: the model
    """
    if isinstance(model_or_path, BaseAlgorithm):
        return model_or_path
    if not isinstance(model_or_path, (str, os.PathLike)):
        raise TypeError(
            "expected an SB3 model or the path of a saved model (.zip), "
            f"got {type(model_or_path).__name__}"
        )
    path = Path(model_or_path)
    if not path.is_file():
        raise FileNotFoundError(f"no such model file: {path}")
    if algo is None:
        name = detect_algorithm(path)
    else:
        name = _ALGORITHM_NAMES.get(algo.upper(), algo)
        if name not in SUPPORTED_ALGORITHMS:
            raise NotImplementedError(
                f"algorithm {algo!r} is not supported; supported: {_supported()}"
            )
        detected = detect_algorithm(path)
        if detected != name:
            raise ValueError(f"{path} was saved by {detected}, not {name}")
    try:
        return SUPPORTED_ALGORITHMS[name].load(path, device="cpu")
    except Exception as exc:
        # SB3 raises a variety of errors on damaged archives (KeyError, RuntimeError from
        # torch.load, pickle errors, ...): report them as one input error with the cause.
        raise ValueError(
            f"could not load {path} as a {name} model: {type(exc).__name__}: {exc}"
        ) from exc


def load_vec_normalize(
    vec_normalize: VecNormalize | str | os.PathLike[str] | None,
) -> VecNormalize | None:
    """Return a ``VecNormalize`` (loading a ``.pkl`` saved with ``VecNormalize.save``) or ``None``.

    The ``.pkl`` is a pickle (SB3's format), loaded here at export time only: only use trusted
    files. The exported artifact itself stores the statistics as plain arrays.

    :param vec_normalize: a ``VecNormalize``, the path of its ``.pkl``, or ``None``
    :return: the ``VecNormalize``, or ``None``
    :raises FileNotFoundError: no such file
    :raises ValueError: a file that is not a ``VecNormalize`` pickle
    """
    if vec_normalize is None or isinstance(vec_normalize, VecNormalize):
        return vec_normalize
    if not isinstance(vec_normalize, (str, os.PathLike)):
        raise TypeError(
            f"vec_normalize must be a VecNormalize, the path of its .pkl or None, got "
            f"{type(vec_normalize).__name__}"
        )
    path = Path(vec_normalize)
    if not path.is_file():
        raise FileNotFoundError(f"no such VecNormalize statistics file: {path}")
    try:
        with open(path, "rb") as f:
            loaded = pickle.load(f)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError) as exc:
        raise ValueError(f"{path} is not a VecNormalize .pkl: {type(exc).__name__}: {exc}") from exc
    if not isinstance(loaded, VecNormalize):
        raise ValueError(f"{path} holds a {type(loaded).__name__}, expected a VecNormalize")
    return loaded


# ---------------------------------------------------------------------- extraction


class _Arrays:
    """Collects float32 weight arrays under unique names."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def add(self, name: str, tensor: th.Tensor | np.ndarray, dtype: Any = np.float32) -> str:
        if name in self.arrays:
            raise RuntimeError(f"duplicate array name {name!r}")
        if isinstance(tensor, th.Tensor):
            tensor = tensor.detach().cpu().numpy()
        self.arrays[name] = np.ascontiguousarray(tensor, dtype=dtype)
        return name


def _layers(module: nn.Module, prefix: str, arrays: _Arrays, where: str) -> list[dict[str, Any]]:
    """The layer entries of a ``Sequential`` (nested ones flattened) or a single module."""
    children = list(module) if type(module) is nn.Sequential else [module]
    layers: list[dict[str, Any]] = []
    for i, child in enumerate(children):
        t = type(child)
        if t is nn.Sequential:
            layers += _layers(child, f"{prefix}.{i}", arrays, where)
        elif t is nn.Linear:
            if child.weight.dtype != th.float32:
                raise NotImplementedError(
                    f"{where}: Linear layer with {child.weight.dtype} weights; "
                    "only float32 is supported"
                )
            layers.append(
                {
                    "op": "linear",
                    "in_features": int(child.in_features),
                    "out_features": int(child.out_features),
                    "weight": arrays.add(f"{prefix}.{i}.weight", child.weight),
                    "bias": None
                    if child.bias is None
                    else arrays.add(f"{prefix}.{i}.bias", child.bias),
                }
            )
        elif t in _NO_OP_LAYERS:
            continue
        else:
            entry = _activation_entry(child)
            if entry is None:
                raise NotImplementedError(
                    f"{where}: layer {_type_name(child)} is not supported; supported layers: "
                    f"Linear, Dropout, Identity and the activations "
                    f"{', '.join(sorted(a.__name__ for a in ACTIVATION_TYPES))}"
                )
            layers.append(entry)
    return layers


def _check_policy_class(algorithm: str, policy: nn.Module) -> None:
    expected = _POLICY_CLASSES[algorithm]
    if type(policy) is expected:
        return
    name = type(policy).__name__
    if "Cnn" in name:
        hint = "CNN policies (CnnPolicy) are not supported"
    elif "MultiInput" in name:
        hint = "Dict observations (MultiInputPolicy) are not supported"
    else:
        hint = "custom policy classes are not supported"
    raise NotImplementedError(
        f"{algorithm} policy class {_type_name(policy)} is not supported: {hint}; expected "
        f"{expected.__name__} (MlpPolicy)"
    )


def _check_features_extractor(extractor: nn.Module, where: str) -> None:
    if type(extractor) is not FlattenExtractor:
        raise NotImplementedError(
            f"{where}: features extractor {_type_name(extractor)} is not supported; only "
            f"FlattenExtractor (MlpPolicy) is"
        )


def _observation_space(space: spaces.Space, arrays: _Arrays) -> dict[str, Any]:
    if isinstance(space, spaces.Dict):
        raise NotImplementedError("Dict observation spaces (MultiInputPolicy) are not supported")
    if not isinstance(space, spaces.Box):
        raise NotImplementedError(
            f"{type(space).__name__} observation spaces are not supported; "
            "only Box observations are"
        )
    if is_image_space(space, check_channels=False):
        raise NotImplementedError(
            f"image observation spaces (uint8 Box of shape {space.shape}, "
            "rescaled by 1/255 in SB3) "
            "are not supported"
        )
    if np.dtype(space.dtype).kind not in "biuf":
        raise NotImplementedError(f"Box observations of dtype {space.dtype} are not supported")
    return {
        "type": "Box",
        "shape": [int(d) for d in space.shape],
        "dtype": np.dtype(space.dtype).name,
        "low": arrays.add("observation_space.low", np.asarray(space.low), np.float64),
        "high": arrays.add("observation_space.high", np.asarray(space.high), np.float64),
    }


def _action_space(space: spaces.Space, arrays: _Arrays) -> dict[str, Any]:
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiDiscrete):
        if np.ndim(space.nvec) != 1:
            raise NotImplementedError(
                f"MultiDiscrete action spaces with nvec of shape {space.nvec.shape}"
            )
        return {
            "type": "MultiDiscrete",
            "nvec": [int(n) for n in space.nvec],
            "start": [int(s) for s in space.start],
        }
    if isinstance(space, spaces.MultiBinary):
        if not isinstance(space.n, (int, np.integer)):
            raise NotImplementedError(f"multi-dimensional MultiBinary({space.n}) action spaces")
        return {"type": "MultiBinary", "n": int(space.n)}
    if isinstance(space, spaces.Box):
        dtype = np.dtype(space.dtype)
        if dtype not in (np.float32, np.float64):
            raise NotImplementedError(f"Box action spaces of dtype {dtype} (only float32/float64)")
        return {
            "type": "Box",
            "shape": [int(d) for d in space.shape],
            "dtype": dtype.name,
            "low": arrays.add("action_space.low", np.asarray(space.low), dtype),
            "high": arrays.add("action_space.high", np.asarray(space.high), dtype),
        }
    raise NotImplementedError(f"{type(space).__name__} action spaces are not supported")


def _postprocess(policy: nn.Module, action_space: spaces.Space) -> dict[str, Any]:
    if not isinstance(action_space, spaces.Box):
        return {}
    return {"postprocess": "unscale" if policy.squash_output else "clip"}


def _actor_critic(
    policy: ActorCriticPolicy, arrays: _Arrays, action_space: spaces.Space
) -> dict[str, Any]:
    for attr in ("features_extractor", "pi_features_extractor", "vf_features_extractor"):
        _check_features_extractor(getattr(policy, attr), f"policy.{attr}")
    if type(policy.mlp_extractor) is not MlpExtractor:
        raise NotImplementedError(
            f"mlp_extractor {_type_name(policy.mlp_extractor)} is not supported; "
            "only MlpExtractor is"
        )
    networks = {
        "policy": {
            "input": "features",
            "layers": _layers(
                policy.mlp_extractor.policy_net, "policy.latent", arrays, "mlp_extractor.policy_net"
            )
            + _layers(policy.action_net, "policy.action_net", arrays, "action_net"),
        },
        "value": {
            "input": "features",
            "layers": _layers(
                policy.mlp_extractor.value_net, "value.latent", arrays, "mlp_extractor.value_net"
            )
            + _layers(policy.value_net, "value.value_net", arrays, "value_net"),
        },
    }
    dist = policy.action_dist
    dist_type = type(dist)
    head: dict[str, Any]
    if dist_type in (CategoricalDistribution, MaskableCategoricalDistribution):
        head = {"kind": "categorical"}
    elif dist_type in (MultiCategoricalDistribution, MaskableMultiCategoricalDistribution):
        head = {"kind": "multi_categorical"}
    elif dist_type is MaskableBernoulliDistribution:
        # Two logits per bit (argmax per pair), unlike SB3's one-logit BernoulliDistribution.
        raise NotImplementedError(
            "MaskablePPO with MultiBinary actions (MaskableBernoulliDistribution) is not supported"
        )
    elif dist_type is BernoulliDistribution:
        head = {"kind": "bernoulli"}
    elif dist_type is DiagGaussianDistribution:
        head = {"kind": "diag_gaussian", "log_std": arrays.add("policy.log_std", policy.log_std)}
    elif dist_type is StateDependentNoiseDistribution:
        head = {"kind": "gsde", "squash": dist.bijector is not None}
    else:
        raise NotImplementedError(f"action distribution {_type_name(dist)} is not supported")
    head.update(network="policy", **_postprocess(policy, action_space))
    return {"networks": networks, "head": head, "value_network": "value"}


def _dqn(model: DQN, policy: DQNPolicy, arrays: _Arrays) -> dict[str, Any]:
    q_net = policy.q_net
    if type(q_net) is not QNetwork:
        raise NotImplementedError(
            f"Q-network {_type_name(q_net)} is not supported; only QNetwork is"
        )
    _check_features_extractor(q_net.features_extractor, "policy.q_net.features_extractor")
    return {
        "networks": {
            "q": {"input": "features", "layers": _layers(q_net.q_net, "q", arrays, "q_net.q_net")}
        },
        "head": {
            "kind": "q_argmax",
            "network": "q",
            "exploration_rate": float(model.exploration_rate),
        },
        "value_network": None,
    }


def _sac(policy: SACPolicy, arrays: _Arrays, action_space: spaces.Space) -> dict[str, Any]:
    actor = policy.actor
    if type(actor) is not SACActor:
        raise NotImplementedError(f"SAC actor {_type_name(actor)} is not supported")
    _check_features_extractor(actor.features_extractor, "policy.actor.features_extractor")
    networks: dict[str, Any] = {
        "latent": {
            "input": "features",
            "layers": _layers(actor.latent_pi, "latent", arrays, "actor.latent_pi"),
        },
        "mean": {"input": "latent", "layers": _layers(actor.mu, "mean", arrays, "actor.mu")},
    }
    if actor.use_sde:
        head: dict[str, Any] = {"kind": "squashed_gsde"}
    else:
        log_std_layers = _layers(actor.log_std, "log_std", arrays, "actor.log_std")
        log_std_layers.append({"op": "clip", "min": float(LOG_STD_MIN), "max": float(LOG_STD_MAX)})
        networks["log_std"] = {"input": "latent", "layers": log_std_layers}
        head = {"kind": "squashed_gaussian", "log_std_network": "log_std"}
    head.update(network="mean", **_postprocess(policy, action_space))
    return {"networks": networks, "head": head, "value_network": None}


def _td3(policy: TD3Policy, arrays: _Arrays, action_space: spaces.Space) -> dict[str, Any]:
    actor = policy.actor
    if type(actor) is not TD3Actor:
        raise NotImplementedError(f"TD3 actor {_type_name(actor)} is not supported")
    _check_features_extractor(actor.features_extractor, "policy.actor.features_extractor")
    return {
        "networks": {
            "policy": {
                "input": "features",
                "layers": _layers(actor.mu, "policy", arrays, "actor.mu"),
            }
        },
        "head": {
            "kind": "deterministic",
            "network": "policy",
            **_postprocess(policy, action_space),
        },
        "value_network": None,
    }


def algorithm_name(model: BaseAlgorithm) -> str:
    """The supported algorithm name of ``model`` (by exact class).

    :param model: an SB3 or sb3-contrib model (or a thrust_algos subclass of one)
    :return: a key of :data:`SUPPORTED_ALGORITHMS`, or ``"DDPG"``
    :raises NotImplementedError: an unsupported algorithm
    """
    name = _MODEL_CLASSES.get(type(model))
    if name is not None:
        return name
    # thrust_algos' algorithms subclass SB3's and keep its policies and predict unchanged
    # (it changes rollout collection and the update only): export them as their SB3 base.
    if type(model).__module__.startswith("thrust_algos."):
        for base, base_name in _MODEL_CLASSES.items():
            if isinstance(model, base):
                return base_name
    cls_name = type(model).__name__
    if "Recurrent" in cls_name:
        raise NotImplementedError(f"recurrent policies ({cls_name}) are not supported")
    raise NotImplementedError(
        f"algorithm {_type_name(model)} is not supported; supported: {_supported()} (and DDPG)"
    )


def _obs_normalization(
    vec_normalize: VecNormalize | None, space: spaces.Box, arrays: _Arrays
) -> dict[str, Any] | None:
    if vec_normalize is None or not vec_normalize.norm_obs:
        return None
    obs_rms = vec_normalize.obs_rms
    if not isinstance(obs_rms, RunningMeanStd):
        raise NotImplementedError("VecNormalize statistics of Dict observations are not supported")
    if obs_rms.mean.shape != space.shape:
        raise ValueError(
            f"VecNormalize statistics have shape {obs_rms.mean.shape}, "
            "but the model's observations "
            f"have shape {space.shape}"
        )
    return {
        "mean": arrays.add("obs_rms.mean", obs_rms.mean, np.float64),
        "var": arrays.add("obs_rms.var", obs_rms.var, np.float64),
        "epsilon": float(vec_normalize.epsilon),
        "clip_obs": float(vec_normalize.clip_obs),
    }


def extract(
    model: BaseAlgorithm, vec_normalize: VecNormalize | str | os.PathLike[str] | None = None
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Describe ``model``'s deterministic policy as artifact metadata and weight arrays.

    :param model: a loaded SB3 model
    :param vec_normalize: VecNormalize statistics to fold in (object or ``.pkl`` path)
    :return: ``(metadata, arrays)`` as :func:`thrust_export.artifact.write_artifact` takes them
    :raises NotImplementedError: naming the first unsupported feature found
    """
    algorithm = algorithm_name(model)
    policy = model.policy
    _check_policy_class(algorithm, policy)
    arrays = _Arrays()
    observation_space = _observation_space(model.observation_space, arrays)
    action_space = _action_space(model.action_space, arrays)
    if algorithm in ACTOR_CRITIC_ALGORITHMS:
        body = _actor_critic(policy, arrays, model.action_space)
    elif algorithm == "DQN":
        body = _dqn(model, policy, arrays)
    elif algorithm == "SAC":
        body = _sac(policy, arrays, model.action_space)
    else:
        body = _td3(policy, arrays, model.action_space)
    vn = load_vec_normalize(vec_normalize)
    metadata: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "producer": {
            "thrust_export": thrust_export_version(),
            "stable_baselines3": stable_baselines3.__version__,
            "torch": th.__version__,
            "numpy": np.__version__,
        },
        "algorithm": algorithm,
        "policy_class": _type_name(policy),
        "observation_space": observation_space,
        "action_space": action_space,
        "obs_normalization": _obs_normalization(vn, model.observation_space, arrays),
        **body,
    }
    metadata["outputs"] = output_names_for(body["head"]["kind"], body["value_network"] is not None)
    return metadata, arrays.arrays
