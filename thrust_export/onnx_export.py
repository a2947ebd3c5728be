"""``export_onnx``: an SB3 model to an ONNX graph with a dynamic batch axis.

Exporter choice. torch 2.9 made the ``torch.export``-based ("dynamo") ONNX exporter the default of
``torch.onnx.export``. That exporter needs the ``onnxscript`` package, which is not a dependency of
``thrust-rl[export]`` (and is not installed in our environment), so it fails with
``ModuleNotFoundError`` there. We therefore call ``torch.onnx.export(..., dynamo=False)``: the
TorchScript-tracing exporter, still shipped (deprecated) in torch 2.13. Tracing is exact for these
graphs, which have no data-dependent control flow, and yields the same bytes on every run; its
DeprecationWarnings are silenced locally. The export is then validated with ``onnx.checker``
(full check, with shape inference) and, under onnxruntime, compared with SB3's ``predict``.

The graph is traced from the SB3 model's own modules (copied to the CPU), not rebuilt from the
numpy artifact, so the numpy and ONNX exports are two independent translations of the policy,
each checked against SB3.
"""

from __future__ import annotations

import copy
import io
import json
import math
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch as th
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize
from stable_baselines3.sac.policies import LOG_STD_MAX, LOG_STD_MIN
from torch import nn

from thrust_export.artifact import check_not_an_input, write_file
from thrust_export.onnx_policy import (
    ONNX_FORMAT_NAME,
    ONNX_FORMAT_VERSION,
    ONNX_METADATA_KEY,
    OnnxPolicy,
    onnx_input_dtype,
    seal_onnx,
)
from thrust_export.parity import ParityReport, check_verify, parity_verifier
from thrust_export.sb3 import ACTOR_CRITIC_ALGORITHMS, extract, load_model, load_vec_normalize

__all__ = ["MAX_OPSET", "MIN_OPSET", "export_onnx"]

#: Opsets accepted: 13 (Split with a sizes input, Softmax on one axis) to the TorchScript
#: exporter's maximum.
MIN_OPSET = 13
MAX_OPSET = 20


class _Preprocess(nn.Module):
    """Observation -> float32 features: VecNormalize (float64, as SB3) if given, then flatten.

    :param normalization: ``(mean, sqrt(var + epsilon), clip_obs)`` or ``None``
    """

    def __init__(self, normalization: tuple[np.ndarray, np.ndarray, float] | None) -> None:
        super().__init__()
        self.normalize = normalization is not None
        if normalization is not None:
            mean, std, clip = normalization
            self.register_buffer("mean", th.as_tensor(mean, dtype=th.float64))
            self.register_buffer("std", th.as_tensor(std, dtype=th.float64))
            self.clip = float(clip)

    def forward(self, obs: th.Tensor) -> th.Tensor:
        if self.normalize:
            x = th.clamp((obs.to(th.float64) - self.mean) / self.std, -self.clip, self.clip)
            x = x.to(th.float32)
        else:
            x = obs.to(th.float32)
        return th.flatten(x, 1)


class _BoxAction(nn.Module):
    """BasePolicy.predict on Box actions: reshape, then unscale (squashed) or clip."""

    def __init__(self, space: spaces.Box, unscale: bool) -> None:
        super().__init__()
        dtype = th.float64 if np.dtype(space.dtype) == np.float64 else th.float32
        low = th.as_tensor(np.asarray(space.low), dtype=dtype)
        high = th.as_tensor(np.asarray(space.high), dtype=dtype)
        self.register_buffer("low", low)
        self.register_buffer("high", high)
        self.register_buffer("range", high - low)
        self.shape = tuple(space.shape)
        self.unscale = unscale

    def forward(self, scaled: th.Tensor) -> th.Tensor:
        actions = scaled.reshape((-1, *self.shape))
        if self.unscale:
            return self.low + (0.5 * (actions + 1.0) * self.range)
        return th.minimum(th.maximum(actions.to(self.low.dtype), self.low), self.high)


def _categorical_mode(logits: th.Tensor) -> th.Tensor:
    # CategoricalDistribution.mode(): argmax of Categorical(logits=...).probs
    normalized = logits - th.logsumexp(logits, dim=1, keepdim=True)
    return th.argmax(th.softmax(normalized, dim=1), dim=1)


class _ActorCriticGraph(nn.Module):
    def __init__(self, model: BaseAlgorithm, head: dict[str, Any], pre: _Preprocess) -> None:
        super().__init__()
        policy = model.policy
        self.pre = pre
        self.policy_net = copy.deepcopy(policy.mlp_extractor.policy_net)
        self.action_net = copy.deepcopy(policy.action_net)
        self.value_latent = copy.deepcopy(policy.mlp_extractor.value_net)
        self.value_net = copy.deepcopy(policy.value_net)
        self.kind = head["kind"]
        space = model.action_space
        self.nvec = [int(n) for n in space.nvec] if isinstance(space, spaces.MultiDiscrete) else []
        self.box = (
            _BoxAction(space, head["postprocess"] == "unscale")
            if isinstance(space, spaces.Box)
            else None
        )
        self.squash = bool(head.get("squash", False))

    def forward(self, obs: th.Tensor) -> tuple[th.Tensor, ...]:
        x = self.pre(obs)
        out = self.action_net(self.policy_net(x))
        value = self.value_net(self.value_latent(x))[:, 0]
        if self.kind == "categorical":
            action = _categorical_mode(out)
        elif self.kind == "multi_categorical":
            action = th.stack(
                [_categorical_mode(g) for g in th.split(out, self.nvec, dim=1)], dim=1
            )
        elif self.kind == "bernoulli":
            action = th.round(th.sigmoid(out))
        else:
            assert self.box is not None
            action = self.box(th.tanh(out) if self.squash else out)
        return action, value, out


class _DQNGraph(nn.Module):
    def __init__(self, model: BaseAlgorithm, pre: _Preprocess) -> None:
        super().__init__()
        self.pre = pre
        self.q_net = copy.deepcopy(model.policy.q_net.q_net)

    def forward(self, obs: th.Tensor) -> tuple[th.Tensor, ...]:
        q_values = self.q_net(self.pre(obs))
        return th.argmax(q_values, dim=1), q_values


class _SACGraph(nn.Module):
    def __init__(self, model: BaseAlgorithm, head: dict[str, Any], pre: _Preprocess) -> None:
        super().__init__()
        actor = model.policy.actor
        self.pre = pre
        self.latent_pi = copy.deepcopy(actor.latent_pi)
        self.mu = copy.deepcopy(actor.mu)
        self.use_sde = bool(actor.use_sde)
        self.log_std = None if self.use_sde else copy.deepcopy(actor.log_std)
        self.box = _BoxAction(model.action_space, head["postprocess"] == "unscale")

    def forward(self, obs: th.Tensor) -> tuple[th.Tensor, ...]:
        latent = self.latent_pi(self.pre(obs))
        mean = self.mu(latent)
        action = self.box(th.tanh(mean))
        if self.log_std is None:
            return action, mean
        return action, mean, th.clamp(self.log_std(latent), LOG_STD_MIN, LOG_STD_MAX)


class _TD3Graph(nn.Module):
    def __init__(self, model: BaseAlgorithm, head: dict[str, Any], pre: _Preprocess) -> None:
        super().__init__()
        self.pre = pre
        self.mu = copy.deepcopy(model.policy.actor.mu)
        self.box = _BoxAction(model.action_space, head["postprocess"] == "unscale")

    def forward(self, obs: th.Tensor) -> tuple[th.Tensor]:
        return (self.box(self.mu(self.pre(obs))),)


def _graph(model: BaseAlgorithm, metadata: dict[str, Any], vn: VecNormalize | None) -> nn.Module:
    normalization = None
    if metadata["obs_normalization"] is not None:
        assert vn is not None
        norm = metadata["obs_normalization"]
        normalization = (
            np.asarray(vn.obs_rms.mean, dtype=np.float64),
            np.sqrt(np.asarray(vn.obs_rms.var, dtype=np.float64) + norm["epsilon"]),
            norm["clip_obs"],
        )
    pre = _Preprocess(normalization)
    algorithm = metadata["algorithm"]
    head = metadata["head"]
    graph: nn.Module
    if algorithm in ACTOR_CRITIC_ALGORITHMS:
        graph = _ActorCriticGraph(model, head, pre)
    elif algorithm == "DQN":
        graph = _DQNGraph(model, pre)
    elif algorithm == "SAC":
        graph = _SACGraph(model, head, pre)
    else:
        graph = _TD3Graph(model, head, pre)
    return graph.cpu().eval()


def _onnx_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """The numpy metadata without its array references (the ONNX graph holds the values)."""
    action_space = {k: v for k, v in metadata["action_space"].items() if k not in ("low", "high")}
    norm = metadata["obs_normalization"]
    return {
        "format": ONNX_FORMAT_NAME,
        "format_version": ONNX_FORMAT_VERSION,
        "producer": metadata["producer"],
        "algorithm": metadata["algorithm"],
        "policy_class": metadata["policy_class"],
        "observation_space": {
            k: metadata["observation_space"][k] for k in ("type", "shape", "dtype")
        },
        "action_space": action_space,
        "head": {k: v for k, v in metadata["head"].items() if k != "log_std"},
        "obs_normalization": None
        if norm is None
        else {"epsilon": norm["epsilon"], "clip_obs": norm["clip_obs"], "folded_into_graph": True},
        "input": "obs",
        "outputs": metadata["outputs"],
    }


#: Largest change allowed from an ONNX translation that is not exact (see _check_onnx_exactness).
_ONNX_APPROXIMATION_LIMIT = 1e-7


def _check_onnx_exactness(metadata: dict[str, Any]) -> None:
    """Refuse layers that torch's ONNX exporter translates only approximately.

    ``nn.Softplus(beta, threshold)`` exports as ``Softplus(beta * x) / beta``: the ``threshold``
    (above which torch returns ``x`` itself) is dropped, which changes outputs by up to
    ``log1p(exp(-threshold)) / beta``: negligible for the default threshold 20, not for small ones.
    """
    for name, net in metadata["networks"].items():
        for layer in net["layers"]:
            if layer["op"] == "softplus":
                error = math.log1p(math.exp(-layer["threshold"])) / abs(layer["beta"])
                if error > _ONNX_APPROXIMATION_LIMIT:
                    raise NotImplementedError(
                        f"network {name!r}: Softplus(beta={layer['beta']}, "
                        f"threshold={layer['threshold']}) cannot be exported to ONNX exactly (the "
                        f"exporter drops the threshold: deviations up to {error:.2g}); the numpy "
                        "export supports it"
                    )


def export_onnx(
    model_or_path: BaseAlgorithm | str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    opset: int = 17,
    vec_normalize: VecNormalize | str | os.PathLike[str] | None = None,
    *,
    algo: str | None = None,
    verify: int = 256,
    on_report: Callable[[ParityReport], object] | None = None,
) -> Path:
    """Write ``model``'s deterministic policy as an ONNX model.

    Input ``obs``: shape ``(batch, *obs_shape)``, float32 or float64 as the observation space,
    float64 for any other space dtype (:func:`~thrust_export.onnx_policy.onnx_input_dtype`: SB3
    converts such observations to float, it does not cast them to the space's dtype); raw
    observations: VecNormalize statistics, if given, are part of the graph. Outputs, all with the
    dynamic ``batch`` axis first: ``action`` (SB3's deterministic action, same dtype as
    ``model.predict``), then as the policy has them ``value`` ``(batch,)``, ``logits`` (discrete
    action distributions, flat), ``mean`` (Gaussian mean before squashing/clipping), ``log_std``
    (SAC) or ``q_values`` (DQN). The names and the metadata are stored in the model's
    ``metadata_props`` under ``"thrust_export"``, followed by the SHA-256 entry that
    :class:`~thrust_export.OnnxPolicy` verifies (see :mod:`thrust_export.onnx_policy`).

    :param model_or_path: an SB3 model or the path of its ``.zip``
    :param out_path: the ``.onnx`` file to write
    :param opset: ONNX opset, :data:`MIN_OPSET` to :data:`MAX_OPSET`
    :param vec_normalize: a ``VecNormalize`` or the path of its ``.pkl``
    :param algo: algorithm of a ``.zip``; detected when ``None``
    :param verify: before the file is put at ``out_path``, compare it under onnxruntime with SB3
        on this many random observations (an int >= 0; 0 to skip); on a mismatch
        ``RuntimeError`` is raised and ``out_path`` is left as it was (see
        :func:`thrust_export.artifact.write_file`)
    :param on_report: called with the verification's :class:`~thrust_export.ParityReport`
        (passed or not), e.g. to print it
    :return: the path written
    :raises NotImplementedError: for an unsupported algorithm, policy, space or layer
    :raises TypeError, ValueError: ``verify`` or ``opset`` out of range, or ``out_path`` naming
        an input file (before anything is read)
    """
    n = check_verify(verify)
    check_not_an_input(out_path, {"model_or_path": model_or_path, "vec_normalize": vec_normalize})
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(f"opset must be an integer from {MIN_OPSET} to {MAX_OPSET}, got {opset!r}")
    model = load_model(model_or_path, algo)
    vn = load_vec_normalize(vec_normalize)
    metadata, _ = extract(model, vn)  # the support checks and the output names
    _check_onnx_exactness(metadata)
    graph = _graph(model, metadata, vn)
    space = model.observation_space
    dummy = th.as_tensor(np.zeros((2, *space.shape), dtype=onnx_input_dtype(space.dtype)))
    names = metadata["outputs"]
    buffer = io.BytesIO()
    with warnings.catch_warnings(), th.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", th.jit.TracerWarning)
        th.onnx.export(
            graph,
            (dummy,),
            buffer,
            dynamo=False,
            input_names=["obs"],
            output_names=names,
            dynamic_axes={name: {0: "batch"} for name in ["obs", *names]},
            opset_version=opset,
            do_constant_folding=True,
        )
    proto = onnx.load_from_string(buffer.getvalue())
    proto.doc_string = (
        f"{metadata['algorithm']} policy exported by thrust_export: input 'obs', outputs {names}"
    )
    entry = proto.metadata_props.add()
    entry.key = ONNX_METADATA_KEY
    entry.value = json.dumps(_onnx_metadata(metadata), sort_keys=True)
    onnx.checker.check_model(proto, full_check=True)
    data = seal_onnx(proto.SerializeToString())
    check = parity_verifier(model, n, vn, "ONNX", OnnxPolicy, on_report)
    return write_file(out_path, lambda f: f.write(data), check)
