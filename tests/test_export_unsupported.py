"""Unsupported models raise NotImplementedError naming what is unsupported, in both formats,
and write nothing: never a silently different policy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch as th
from export_helpers import SpaceEnv, get_case
from export_helpers import one_torch_thread as one_torch_thread
from gymnasium import spaces
from sb3_contrib import QRDQN, MaskablePPO, RecurrentPPO
from stable_baselines3 import DQN, PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

import thrust_export

BOX4 = spaces.Box(-1, 1, (4,), np.float32)
DISCRETE2 = spaces.Discrete(2)


class TwoLayerExtractor(BaseFeaturesExtractor):
    def __init__(self, observation_space: spaces.Box) -> None:
        super().__init__(observation_space, features_dim=8)
        self.net = nn.Sequential(nn.Linear(int(np.prod(observation_space.shape)), 8), nn.ReLU())

    def forward(self, observations: th.Tensor) -> th.Tensor:
        return self.net(observations)


class ScaledTanh(nn.Tanh):
    """A subclass with a different forward: must not pass for nn.Tanh."""

    def forward(self, x: th.Tensor) -> th.Tensor:
        return 2.0 * th.tanh(x)


def _ppo(
    obs: spaces.Space = BOX4,
    act: spaces.Space = DISCRETE2,
    policy: str = "MlpPolicy",
    **kwargs: Any,
) -> BaseAlgorithm:
    return PPO(policy, SpaceEnv(obs, act), n_steps=8, batch_size=8, device="cpu", **kwargs)


def _replace_layer(index: int, layer: nn.Module) -> Callable[[], BaseAlgorithm]:
    def build() -> BaseAlgorithm:
        model = _ppo(policy_kwargs={"net_arch": [8, 8]})
        model.policy.mlp_extractor.policy_net[index] = layer
        return model

    return build


UNSUPPORTED: dict[str, tuple[Callable[[], BaseAlgorithm], str]] = {
    "cnn policy": (
        lambda: _ppo(spaces.Box(0, 255, (36, 36, 1), np.uint8), policy="CnnPolicy"),
        "CNN policies",
    ),
    "dict observations": (
        lambda: _ppo(
            spaces.Dict({"a": BOX4, "b": spaces.Box(-1, 1, (2,), np.float32)}),
            policy="MultiInputPolicy",
        ),
        "Dict observations",
    ),
    "recurrent": (
        lambda: RecurrentPPO(
            "MlpLstmPolicy", SpaceEnv(BOX4, DISCRETE2), n_steps=8, batch_size=8, device="cpu"
        ),
        "recurrent policies",
    ),
    "qrdqn": (
        lambda: QRDQN("MlpPolicy", SpaceEnv(BOX4, DISCRETE2), buffer_size=64, device="cpu"),
        "QRDQN is not supported",
    ),
    "maskable ppo multibinary": (
        lambda: MaskablePPO(
            "MlpPolicy",
            SpaceEnv(BOX4, spaces.MultiBinary(3)),
            n_steps=8,
            batch_size=8,
            device="cpu",
        ),
        "MaskablePPO with MultiBinary actions",
    ),
    "discrete observations": (
        lambda: _ppo(spaces.Discrete(5)),
        "Discrete observation spaces are not supported",
    ),
    "image observations with MlpPolicy": (
        lambda: _ppo(spaces.Box(0, 255, (36, 36, 3), np.uint8)),
        "image observation spaces",
    ),
    "custom features extractor": (
        lambda: _ppo(policy_kwargs={"features_extractor_class": TwoLayerExtractor}),
        "features extractor .*TwoLayerExtractor is not supported",
    ),
    "custom activation": (
        lambda: _ppo(policy_kwargs={"activation_fn": nn.PReLU}),
        "PReLU is not supported",
    ),
    "activation subclass": (
        lambda: _ppo(policy_kwargs={"activation_fn": ScaledTanh}),
        "ScaledTanh is not supported",
    ),
    "layer norm": (_replace_layer(1, nn.LayerNorm(8)), "LayerNorm is not supported"),
    "dqn cnn": (
        lambda: DQN(
            "CnnPolicy",
            SpaceEnv(spaces.Box(0, 255, (36, 36, 1), np.uint8), DISCRETE2),
            buffer_size=64,
            device="cpu",
        ),
        "CNN policies",
    ),
    "sac custom extractor": (
        lambda: SAC(
            "MlpPolicy",
            SpaceEnv(BOX4, spaces.Box(-1, 1, (2,), np.float32)),
            buffer_size=64,
            device="cpu",
            policy_kwargs={"features_extractor_class": TwoLayerExtractor},
        ),
        "features extractor",
    ),
}


@pytest.mark.parametrize("case", list(UNSUPPORTED))
def test_unsupported_models_raise(case: str, tmp_path: Path) -> None:
    build, message = UNSUPPORTED[case]
    model = build()
    with pytest.raises(NotImplementedError, match=message):
        thrust_export.export_numpy(model, tmp_path / "p.npz")
    with pytest.raises(NotImplementedError, match=message):
        thrust_export.export_onnx(model, tmp_path / "p.onnx")
    assert list(tmp_path.iterdir()) == []


def test_unsupported_zip_files(tmp_path: Path) -> None:
    recurrent = UNSUPPORTED["recurrent"][0]()
    recurrent.save(tmp_path / "recurrent.zip")
    with pytest.raises(NotImplementedError, match="recurrent"):
        thrust_export.export_numpy(tmp_path / "recurrent.zip", tmp_path / "p.npz")
    with pytest.raises(NotImplementedError, match="recurrent"):
        thrust_export.export_onnx(tmp_path / "recurrent.zip", tmp_path / "p.onnx")
    not_zip = tmp_path / "model.zip"
    not_zip.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a Stable-Baselines3 model archive"):
        thrust_export.export_numpy(not_zip, tmp_path / "p.npz")
    with pytest.raises(FileNotFoundError, match="no such model file"):
        thrust_export.export_numpy(tmp_path / "absent.zip", tmp_path / "p.npz")
    with pytest.raises(TypeError, match="expected an SB3 model"):
        thrust_export.export_numpy(42, tmp_path / "p.npz")  # type: ignore[arg-type]
    with pytest.raises(NotImplementedError, match="algorithm 'QRDQN' is not supported"):
        thrust_export.export_numpy(tmp_path / "recurrent.zip", tmp_path / "p.npz", algo="QRDQN")
    assert not (tmp_path / "p.npz").exists() and not (tmp_path / "p.onnx").exists()


@pytest.mark.parametrize("damage", ["list", "zlib", "method"])
def test_damaged_archives_are_bad_input(damage: str, tmp_path: Path) -> None:
    """However zipfile or json fail on a damaged archive, it is the clear bad-input error."""
    from export_helpers import damaged_archives

    model, _ = get_case("ppo-discrete")
    model.save(tmp_path / "model.zip")
    path = damaged_archives(tmp_path / "model.zip", tmp_path)[damage]
    from thrust_export.sb3 import detect_algorithm

    with pytest.raises(ValueError, match="is not a Stable-Baselines3 model archive"):
        detect_algorithm(path)
    for export in (thrust_export.export_numpy, thrust_export.export_onnx):
        with pytest.raises(ValueError, match="is not a Stable-Baselines3 model archive"):
            export(path, tmp_path / "p.out")
    assert not (tmp_path / "p.out").exists()


def test_gsde_sampling_is_refused_not_approximated() -> None:
    from thrust_export.sb3 import extract

    for case in ("ppo-box-gsde", "sac-gsde"):
        model, _ = get_case(case)
        policy = thrust_export.NumpyPolicy(*extract(model))
        obs = np.zeros(model.observation_space.shape, np.float32)
        policy.predict(obs, deterministic=True)
        with pytest.raises(NotImplementedError, match="gSDE"):
            policy.predict(obs, deterministic=False)


def test_onnx_policy_is_deterministic_only(tmp_path: Path) -> None:
    model, _ = get_case("ppo-discrete")
    policy = thrust_export.OnnxPolicy(thrust_export.export_onnx(model, tmp_path / "p.onnx"))
    with pytest.raises(NotImplementedError, match="deterministic"):
        policy.predict(np.zeros(6, np.float32), deterministic=False)


@pytest.mark.parametrize("opset", [12, 21, "17", True])
def test_bad_opset(opset: Any, tmp_path: Path) -> None:
    model, _ = get_case("ppo-discrete")
    with pytest.raises(ValueError, match="opset must be an integer from 13 to 20"):
        thrust_export.export_onnx(model, tmp_path / "p.onnx", opset=opset)
