"""Every supported activation: numpy equals torch, and a policy using it exports with parity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch as th
from export_helpers import SpaceEnv, randomize
from export_helpers import one_torch_thread as one_torch_thread
from gymnasium import spaces
from stable_baselines3 import PPO
from torch import nn

import thrust_export
from thrust_export.activations import ACTIVATION_OPS, make_activation
from thrust_export.sb3 import ACTIVATION_TYPES, _activation_entry

MODULES: list[nn.Module] = [
    nn.Tanh(),
    nn.ReLU(),
    nn.LeakyReLU(),
    nn.LeakyReLU(0.2),
    nn.ELU(),
    nn.ELU(alpha=0.5),
    nn.SELU(),
    nn.CELU(alpha=1.5),
    nn.SiLU(),
    nn.Sigmoid(),
    nn.Softplus(),
    nn.Softplus(beta=2.0, threshold=5.0),
    nn.GELU(),
    nn.GELU(approximate="tanh"),
    nn.Mish(),
    nn.Hardtanh(),
    nn.Hardtanh(-0.5, 2.0),
    nn.ReLU6(),
    nn.Softsign(),
    nn.Hardswish(),
    nn.Hardsigmoid(),
]


def test_every_supported_type_is_covered() -> None:
    assert {type(m) for m in MODULES} == set(ACTIVATION_TYPES)
    assert {_activation_entry(m)["op"] for m in MODULES} <= ACTIVATION_OPS  # type: ignore[index]


@pytest.mark.parametrize("module", MODULES, ids=repr)
def test_numpy_activation_matches_torch(module: nn.Module) -> None:
    rng = np.random.default_rng(0)
    x = (
        np.concatenate(
            [
                rng.normal(0, 1, 2000),
                rng.normal(0, 10, 2000),
                np.linspace(-40, 40, 803),
                [0.0, -0.0, 3.0, -3.0, 20.0, 1e-8, -1e-8],
            ]
        )
        .astype(np.float32)
        .reshape(-1, 10)
    )
    with th.no_grad():
        expected = module(th.as_tensor(x)).numpy()
    entry = _activation_entry(module)
    assert entry is not None
    got = make_activation(entry)(x.copy())
    assert got.dtype == np.float32 and got.shape == x.shape
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"op": "swish"}, "unknown activation"),
        ({"op": "elu"}, "finite number 'alpha'"),
        ({"op": "leaky_relu", "negative_slope": float("nan")}, "finite number"),
        # Beyond float32's largest (3.4028234663852886e38): it would be inf in the network.
        ({"op": "leaky_relu", "negative_slope": 3.4028235677973366e38}, "float32's range"),
        ({"op": "softplus", "beta": 0, "threshold": 20}, "non-zero 'beta'"),
        ({"op": "gelu", "approximate": "erf"}, "approximate"),
        ({"op": "hardtanh", "min": 1.0, "max": -1.0}, "min <= max"),
    ],
)
def test_bad_activation_specs(spec: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_activation(spec)


@pytest.mark.parametrize("module", MODULES, ids=repr)
def test_policy_with_activation_exports_with_parity(module: nn.Module, tmp_path: Path) -> None:
    activation = type(module)
    env = SpaceEnv(spaces.Box(-3, 3, (3,), np.float32), spaces.Box(-1, 1, (2,), np.float32))
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=8,
        batch_size=8,
        device="cpu",
        seed=0,
        policy_kwargs={"net_arch": [8, 8], "activation_fn": activation},
    )
    randomize(model, seed=1)
    # SB3 instantiates activation_fn() without arguments; put the parametrised instance in.
    for net in (model.policy.mlp_extractor.policy_net, model.policy.mlp_extractor.value_net):
        for i, layer in enumerate(net):
            if type(layer) is activation:
                net[i] = module
    npz = thrust_export.export_numpy(model, tmp_path / "p.npz", verify=0)
    exports: list = [thrust_export.load(npz)]
    if activation is nn.Softplus and module.threshold < 20:  # type: ignore[operator]
        # torch's ONNX exporter drops Softplus's threshold: refused rather than approximated.
        with pytest.raises(NotImplementedError, match="cannot be exported to ONNX exactly"):
            thrust_export.export_onnx(model, tmp_path / "p.onnx", verify=0)
    else:
        exports.append(
            thrust_export.OnnxPolicy(
                thrust_export.export_onnx(model, tmp_path / "p.onnx", verify=0)
            )
        )
    for exported in exports:
        report = thrust_export.check_parity(model, exported, n=512)
        assert report.passed, report.summary()
