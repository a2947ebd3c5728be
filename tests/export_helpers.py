"""Shared builders for the thrust_export tests: small SB3 models over chosen spaces.

Models are untrained (parity does not need training). Most get random weights of a useful scale
(``randomize``) so that logits, means and values are O(1) and Box means overshoot the bounds;
some keep SB3's initialisation, whose tiny (gain 0.01) logits make near-ties frequent.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.preprocessing import preprocess_obs
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize
from torch import nn
from torch_threads import one_torch_thread as one_torch_thread  # re-exported


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for child Pythons: single-threaded torch/OpenBLAS, plus ``extra``."""
    import os

    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env.update(extra)
    return env


class SpaceEnv(gym.Env):
    """An environment that only has spaces (observations are random samples)."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        self.observation_space = observation_space
        self.action_space = action_space

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        return self.observation_space.sample(), 0.0, False, False, {}


def randomize(model: BaseAlgorithm, seed: int, scale: float = 1.5) -> BaseAlgorithm:
    """Overwrite every policy parameter with seeded random values of an O(1) output scale."""
    gen = th.Generator().manual_seed(seed)
    with th.no_grad():
        for name, param in model.policy.named_parameters():
            if param.ndim >= 2:
                fan_in = param.shape[1]
                param.copy_(th.randn(param.shape, generator=gen) * (scale / np.sqrt(fan_in)))
            elif "log_std" in name:
                param.copy_(th.randn(param.shape, generator=gen) * 0.3 - 0.5)
            else:
                param.copy_(th.randn(param.shape, generator=gen) * 0.1)
    return model


@dataclass(frozen=True)
class Case:
    """A model to export, with the VecNormalize statistics it was trained with (if any)."""

    name: str
    build: Callable[[], tuple[BaseAlgorithm, VecNormalize | None]]
    discrete: bool


def _vec_normalize(env: gym.Env, seed: int, clip_obs: float = 5.0) -> VecNormalize:
    rng = np.random.default_rng(seed)
    vn = VecNormalize(
        DummyVecEnv([lambda: env]), norm_obs=True, norm_reward=False, clip_obs=clip_obs
    )
    shape = env.observation_space.shape
    assert isinstance(vn.obs_rms, RunningMeanStd)
    vn.obs_rms.mean = rng.normal(0.0, 1.0, size=shape)
    vn.obs_rms.var = rng.uniform(0.05, 4.0, size=shape)
    vn.obs_rms.count = 1000.0
    return vn


def _on_policy(
    cls: type,
    obs: spaces.Space,
    act: spaces.Space,
    seed: int,
    random: bool = True,
    **policy_kwargs: Any,
) -> BaseAlgorithm:
    use_sde = policy_kwargs.pop("use_sde", False)
    model = cls(
        "MlpPolicy",
        SpaceEnv(obs, act),
        n_steps=8,
        device="cpu",
        seed=seed,
        use_sde=use_sde,
        policy_kwargs=policy_kwargs or None,
        **({"batch_size": 8} if cls is PPO else {}),
    )
    return randomize(model, seed) if random else model


def _off_policy(
    cls: type, obs: spaces.Space, act: spaces.Space, seed: int, **kwargs: Any
) -> BaseAlgorithm:
    policy_kwargs = kwargs.pop("policy_kwargs", None)
    model = cls(
        "MlpPolicy",
        SpaceEnv(obs, act),
        buffer_size=64,
        learning_starts=0,
        device="cpu",
        seed=seed,
        policy_kwargs=policy_kwargs,
        **kwargs,
    )
    return randomize(model, seed)


def _no_vn(model: BaseAlgorithm) -> tuple[BaseAlgorithm, None]:
    return model, None


UNBOUNDED4 = spaces.Box(-np.inf, np.inf, (4,), np.float32)

CASES: dict[str, Case] = {
    c.name: c
    for c in [
        Case(
            "ppo-discrete-sb3init",
            lambda: _no_vn(_on_policy(PPO, UNBOUNDED4, spaces.Discrete(3), 1, random=False)),
            True,
        ),
        Case(
            "ppo-discrete",
            lambda: _no_vn(
                _on_policy(
                    PPO,
                    spaces.Box(-2, 2, (6,), np.float32),
                    spaces.Discrete(5),
                    2,
                    net_arch=[32, 32],
                    activation_fn=nn.ReLU,
                )
            ),
            True,
        ),
        Case(
            "ppo-multidiscrete",
            lambda: _no_vn(
                _on_policy(
                    PPO,
                    spaces.Box(-1, 1, (2, 3), np.float32),
                    spaces.MultiDiscrete([3, 4, 2]),
                    3,
                    net_arch={"pi": [16, 16], "vf": [8]},
                    activation_fn=nn.LeakyReLU,
                )
            ),
            True,
        ),
        Case(
            "ppo-multibinary",
            lambda: _no_vn(
                _on_policy(
                    PPO,
                    spaces.Box(-5, 5, (5,), np.float64),
                    spaces.MultiBinary(4),
                    4,
                    net_arch=[16],
                    activation_fn=nn.ELU,
                )
            ),
            True,
        ),
        Case(
            "ppo-box",
            lambda: _no_vn(
                _on_policy(
                    PPO, spaces.Box(-3, 3, (3,), np.float32), spaces.Box(-1, 2, (2,), np.float32), 5
                )
            ),
            False,
        ),
        Case(
            "ppo-box-gsde",
            lambda: _no_vn(
                _on_policy(
                    PPO,
                    UNBOUNDED4,
                    spaces.Box(-1, 1, (2,), np.float32),
                    6,
                    use_sde=True,
                    net_arch=[32],
                )
            ),
            False,
        ),
        Case(
            "ppo-box-gsde-squash",
            lambda: _no_vn(
                _on_policy(
                    PPO,
                    UNBOUNDED4,
                    spaces.Box(np.array([-2, 0], np.float32), np.array([3, 1], np.float32)),
                    7,
                    use_sde=True,
                    squash_output=True,
                    net_arch=[32, 16],
                )
            ),
            False,
        ),
        Case(
            "a2c-discrete",
            lambda: _no_vn(
                _on_policy(
                    A2C,
                    spaces.Box(-1, 1, (5,), np.float32),
                    spaces.Discrete(4),
                    8,
                    net_arch=[32],
                    activation_fn=nn.SiLU,
                )
            ),
            True,
        ),
        Case(
            "a2c-box-float64",
            lambda: _no_vn(
                _on_policy(
                    A2C,
                    spaces.Box(-2, 2, (3,), np.float32),
                    spaces.Box(-1.5, 1.5, (2, 2), np.float64),
                    9,
                    net_arch={"pi": [16], "vf": [16, 16]},
                    activation_fn=nn.GELU,
                    share_features_extractor=False,
                )
            ),
            False,
        ),
        Case(
            "dqn",
            lambda: _no_vn(
                _off_policy(
                    DQN,
                    spaces.Box(0, 10, (4,), np.int64),
                    spaces.Discrete(3),
                    10,
                    policy_kwargs={"net_arch": [32, 32]},
                )
            ),
            True,
        ),
        Case(
            "sac",
            lambda: _no_vn(
                _off_policy(
                    SAC,
                    spaces.Box(-2, 2, (5,), np.float32),
                    spaces.Box(-2, 2, (3,), np.float32),
                    11,
                    policy_kwargs={"net_arch": [32, 32]},
                )
            ),
            False,
        ),
        Case(
            "sac-gsde",
            lambda: _no_vn(
                _off_policy(
                    SAC,
                    spaces.Box(-2, 2, (4,), np.float32),
                    spaces.Box(-1, 3, (2,), np.float32),
                    12,
                    use_sde=True,
                    policy_kwargs={"net_arch": [32]},
                )
            ),
            False,
        ),
        Case(
            "td3",
            lambda: _no_vn(
                _off_policy(
                    TD3,
                    UNBOUNDED4,
                    spaces.Box(-1, 3, (2,), np.float32),
                    13,
                    policy_kwargs={"net_arch": [32, 32]},
                )
            ),
            False,
        ),
        Case("ppo-discrete-vecnormalize", lambda: _with_vn(PPO, spaces.Discrete(3), 14), True),
        Case(
            "sac-vecnormalize",
            lambda: _with_vn(SAC, spaces.Box(-1, 1, (2,), np.float32), 15),
            False,
        ),
    ]
}


def _with_vn(cls: type, act: spaces.Space, seed: int) -> tuple[BaseAlgorithm, VecNormalize]:
    obs = spaces.Box(-20, 20, (4,), np.float32)
    if cls is PPO:
        model = _on_policy(cls, obs, act, seed, net_arch=[16])
    else:
        model = _off_policy(cls, obs, act, seed, policy_kwargs={"net_arch": [16]})
    return model, _vec_normalize(SpaceEnv(obs, act), seed)


@functools.cache
def get_case(name: str) -> tuple[BaseAlgorithm, VecNormalize | None]:
    """The (cached) model and VecNormalize of a case."""
    return CASES[name].build()


def sb3_reference(
    model: BaseAlgorithm, raw_obs: np.ndarray, vn: VecNormalize | None
) -> dict[str, np.ndarray]:
    """SB3's outputs for a batch of raw observations, computed here independently of the package."""
    obs = vn.normalize_obs(raw_obs) if vn is not None else raw_obs
    policy = model.policy
    ref = {"action": model.predict(obs, deterministic=True)[0]}
    with th.no_grad():
        tensor = th.as_tensor(obs)
        if isinstance(model, (PPO, A2C)):
            ref["value"] = policy.predict_values(tensor).numpy()[:, 0]
            latent = policy.mlp_extractor.forward_actor(
                policy.pi_features_extractor(preprocess_obs(tensor, policy.observation_space))
            )
            key = "mean" if isinstance(model.action_space, spaces.Box) else "logits"
            ref[key] = policy.action_net(latent).numpy()
        elif isinstance(model, DQN):
            ref["q_values"] = policy.q_net(tensor).numpy()
        elif isinstance(model, SAC):
            mean, log_std, _ = policy.actor.get_action_dist_params(tensor)
            ref["mean"] = mean.numpy()
            if not policy.actor.use_sde:
                ref["log_std"] = log_std.numpy()
    return ref


def assert_outputs_match(
    got: dict[str, np.ndarray], ref: dict[str, np.ndarray], discrete: bool, tol: float = 1e-5
) -> None:
    """Discrete actions exactly (dtype and shape too); continuous outputs within ``tol``."""
    assert set(got) == set(ref), (sorted(got), sorted(ref))
    for name, expected in ref.items():
        actual = np.asarray(got[name])
        assert actual.shape == expected.shape, (name, actual.shape, expected.shape)
        if name == "action":
            assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
            if discrete:
                mismatch = np.flatnonzero((actual != expected).reshape(len(actual), -1).any(axis=1))
                assert mismatch.size == 0, (
                    f"{mismatch.size} discrete actions differ, e.g. rows {mismatch[:5]}"
                )
                continue
        np.testing.assert_allclose(actual, expected, rtol=0, atol=tol, err_msg=name)


def damaged_archives(model_zip: Path, directory: Path) -> dict[str, Path]:
    """SB3 archives damaged in ways zipfile and json report with different exceptions: ``data``
    a JSON list (no error at all when read), a corrupt deflate stream (``zlib.error``), an
    unknown compression method (``NotImplementedError``)."""
    import struct
    import zipfile

    with zipfile.ZipFile(model_zip) as source:
        members = {name: source.read(name) for name in source.namelist()}
    members = {"data": members.pop("data"), **members}  # `data` first: its central record too

    def write(name: str, data: bytes = b"", compression: int = zipfile.ZIP_DEFLATED) -> Path:
        path = directory / name
        with zipfile.ZipFile(path, "w", compression) as archive:
            for member, content in members.items():
                archive.writestr(member, data if member == "data" and data else content)
        return path

    paths = {"list": write("list.zip", b"[]", zipfile.ZIP_STORED)}
    raw = bytearray(write("deflate.zip").read_bytes())
    start = 30 + len("data")  # the local header of the first member, `data`
    raw[start : start + 8] = b"\xff" * 8
    paths["zlib"] = directory / "deflate.zip"
    paths["zlib"].write_bytes(bytes(raw))
    raw = bytearray(write("method.zip").read_bytes())
    struct.pack_into("<H", raw, raw.index(b"PK\x01\x02") + 10, 99)  # compression method 99
    paths["method"] = directory / "method.zip"
    paths["method"].write_bytes(bytes(raw))
    return paths
