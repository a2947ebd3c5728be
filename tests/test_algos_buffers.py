"""The device buffers as drop-in ``rollout_buffer_class`` for stock SB3 and sb3-contrib."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from sb3_contrib import TRPO, MaskablePPO
from sb3_contrib.common.envs import InvalidActionEnvDiscrete
from sb3_contrib.common.maskable.buffers import MaskableDictRolloutBuffer, MaskableRolloutBuffer
from stable_baselines3 import A2C
from stable_baselines3 import PPO as SB3PPO
from stable_baselines3.common.buffers import DictRolloutBuffer, RolloutBuffer
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import SimpleMultiObsEnv
from stable_baselines3.common.utils import explained_variance
from torch_threads import one_torch_thread as one_torch_thread

from thrust_algos import (
    GpuDictRolloutBuffer,
    GpuRolloutBuffer,
    MaskableGpuDictRolloutBuffer,
    MaskableGpuRolloutBuffer,
)

N_STEPS, N_ENVS = 6, 3

BOX_OBS = spaces.Box(-1.0, 1.0, (2, 3), dtype=np.float32)
DICT_OBS = spaces.Dict(
    {
        "vec": spaces.Box(-1.0, 1.0, (4,), dtype=np.float32),
        "img": spaces.Box(0, 255, (2, 2), np.uint8),
    }
)


def random_obs(space: spaces.Space, rng: np.random.Generator):
    if isinstance(space, spaces.Dict):
        return {key: random_obs(sub, rng) for key, sub in space.spaces.items()}
    if isinstance(space, spaces.Discrete):
        return rng.integers(0, space.n, size=N_ENVS)
    return rng.uniform(0, 255, size=(N_ENVS, *space.shape)).astype(space.dtype)


def fill(buffer: RolloutBuffer, obs_space: spaces.Space, action_space: spaces.Space, seed: int):
    """The same random steps, as SB3's collect_rollouts passes them (numpy + tensors)."""
    rng = np.random.default_rng(seed)
    masked = isinstance(buffer, MaskableRolloutBuffer | MaskableDictRolloutBuffer)
    for _ in range(N_STEPS):
        if isinstance(action_space, spaces.Discrete):
            action = rng.integers(0, action_space.n, size=(N_ENVS, 1))
        else:
            action = rng.normal(size=(N_ENVS, *action_space.shape)).astype(np.float32)
        kwargs = {}
        if masked:
            kwargs["action_masks"] = rng.random((N_ENVS, int(action_space.n))) < 0.7
        buffer.add(
            random_obs(obs_space, rng),
            action,
            rng.normal(size=N_ENVS).astype(np.float32),
            rng.random(N_ENVS) < 0.3,
            th.as_tensor(rng.normal(size=(N_ENVS, 1)).astype(np.float32)),
            th.as_tensor(rng.normal(size=N_ENVS).astype(np.float32)),
            **kwargs,
        )
    buffer.compute_returns_and_advantage(
        th.as_tensor(rng.normal(size=(N_ENVS, 1)).astype(np.float32)), rng.random(N_ENVS) < 0.5
    )


def as_numpy(x):
    if isinstance(x, dict):
        return {key: as_numpy(value) for key, value in x.items()}
    return x.cpu().numpy()


def assert_same_samples(expected, actual) -> None:
    assert type(expected).__name__ == type(actual).__name__
    for field, want, got in zip(expected._fields, expected, actual, strict=True):
        want, got = as_numpy(want), as_numpy(got)
        if isinstance(want, dict):
            assert want.keys() == got.keys()
            for key in want:
                np.testing.assert_array_equal(got[key], want[key], err_msg=f"{field}[{key}]")
                assert got[key].dtype == want[key].dtype
        else:
            np.testing.assert_array_equal(got, want, err_msg=field)
            assert got.dtype == want.dtype, field


@pytest.mark.parametrize(
    ("stock_cls", "gpu_cls", "obs_space", "action_space"),
    [
        (RolloutBuffer, GpuRolloutBuffer, BOX_OBS, spaces.Box(-1, 1, (2,))),
        (RolloutBuffer, GpuRolloutBuffer, BOX_OBS, spaces.Discrete(3)),
        (RolloutBuffer, GpuRolloutBuffer, spaces.Discrete(5), spaces.Discrete(2)),
        (DictRolloutBuffer, GpuDictRolloutBuffer, DICT_OBS, spaces.Box(-1, 1, (2,))),
        (MaskableRolloutBuffer, MaskableGpuRolloutBuffer, BOX_OBS, spaces.Discrete(4)),
        (MaskableDictRolloutBuffer, MaskableGpuDictRolloutBuffer, DICT_OBS, spaces.Discrete(4)),
    ],
)
@pytest.mark.parametrize("batch_size", [None, 4, 18])
def test_minibatches_equal_stock_buffer(
    stock_cls, gpu_cls, obs_space, action_space, batch_size
) -> None:
    """Same adds and the same numpy seed: the same minibatches, field for field, dtype included."""
    kwargs = {"gae_lambda": 0.9, "gamma": 0.95, "n_envs": N_ENVS}
    stock = stock_cls(N_STEPS, obs_space, action_space, "cpu", **kwargs)
    gpu = gpu_cls(N_STEPS, obs_space, action_space, "cpu", **kwargs)
    fill(stock, obs_space, action_space, seed=1)
    fill(gpu, obs_space, action_space, seed=1)
    for epoch in range(2):  # SB3 shuffles with numpy's global generator
        np.random.seed(epoch)  # noqa: NPY002
        expected = list(stock.get(batch_size))
        np.random.seed(epoch)  # noqa: NPY002
        actual = list(gpu.get(batch_size))
        assert len(actual) == len(expected)
        for want, got in zip(expected, actual, strict=True):
            assert_same_samples(want, got)
    # What SB3's train() reads afterwards.
    assert explained_variance(gpu.values.flatten(), gpu.returns.flatten()) == pytest.approx(
        explained_variance(stock.values.flatten(), stock.returns.flatten()), rel=1e-6
    )


def test_storage_is_allocated_once() -> None:
    buffer = GpuRolloutBuffer(N_STEPS, BOX_OBS, spaces.Discrete(2), "cpu", n_envs=N_ENVS)
    tensors = [buffer.observations, buffer.actions, buffer.rewards, buffer.values_tensor]
    pointers = [t.data_ptr() for t in tensors]
    for seed in range(3):
        buffer.reset()
        fill(buffer, BOX_OBS, spaces.Discrete(2), seed)
        list(buffer.get(4))
    assert [t.data_ptr() for t in tensors] == pointers
    assert buffer.observations is tensors[0]


@pytest.mark.parametrize(
    ("gpu_cls", "obs_space", "action_space"),
    [
        (GpuRolloutBuffer, BOX_OBS, spaces.Discrete(3)),
        (GpuDictRolloutBuffer, DICT_OBS, spaces.Box(-1, 1, (2,))),
        (MaskableGpuRolloutBuffer, BOX_OBS, spaces.Discrete(4)),
        (MaskableGpuDictRolloutBuffer, DICT_OBS, spaces.Discrete(4)),
    ],
)
def test_a_pickled_buffer_writes_where_it_reads(gpu_cls, obs_space, action_space) -> None:
    """Unpickled, the buffer's host and flat views are views of its tensors again (pickled
    by value they would be copies: ``add`` writing one, ``get`` reading another)."""
    want = gpu_cls(N_STEPS, obs_space, action_space, "cpu", n_envs=N_ENVS)
    got = pickle.loads(
        pickle.dumps(gpu_cls(N_STEPS, obs_space, action_space, "cpu", n_envs=N_ENVS))
    )
    for buffer in (want, got):
        fill(buffer, obs_space, action_space, seed=5)
    np.random.seed(0)  # noqa: NPY002
    expected = list(want.get(4))
    np.random.seed(0)  # noqa: NPY002
    for samples, reference in zip(got.get(4), expected, strict=True):
        assert_same_samples(reference, samples)


def test_add_accepts_device_tensors() -> None:
    """thrust_algos.PPO passes the policy's tensors as they are; the result is the same."""
    from_numpy = GpuRolloutBuffer(N_STEPS, BOX_OBS, spaces.Discrete(3), "cpu", n_envs=N_ENVS)
    from_tensors = GpuRolloutBuffer(N_STEPS, BOX_OBS, spaces.Discrete(3), "cpu", n_envs=N_ENVS)
    rng = np.random.default_rng(0)
    for _ in range(N_STEPS):
        obs = random_obs(BOX_OBS, rng)
        action = rng.integers(0, 3, size=N_ENVS)
        reward = rng.normal(size=N_ENVS).astype(np.float32)
        start = rng.random(N_ENVS) < 0.5
        value, log_prob = th.randn(N_ENVS, 1), th.randn(N_ENVS)
        from_numpy.add(obs, action.reshape(-1, 1), reward, start, value, log_prob)
        from_tensors.add(th.as_tensor(obs), th.as_tensor(action), reward, start, value, log_prob)
    for name in ("observations", "actions", "rewards", "episode_starts", "values_tensor"):
        assert th.equal(getattr(from_numpy, name), getattr(from_tensors, name)), name


# --- drop-in for stock algorithms: identical training with either buffer


def train_params(algo, env_fn, policy: str, buffer_class, **kwargs) -> dict[str, th.Tensor]:
    model = algo(
        policy, env_fn(), seed=3, device="cpu", rollout_buffer_class=buffer_class, **kwargs
    )
    model.learn(2 * kwargs["n_steps"] * model.n_envs)
    assert model.num_timesteps == 2 * kwargs["n_steps"] * model.n_envs
    return {key: value.clone() for key, value in model.policy.state_dict().items()}


def cartpole():
    return make_vec_env("CartPole-v1", n_envs=2, seed=0)


def multi_obs():
    # SimpleMultiObsEnv draws its observation table from numpy's global generator.
    np.random.seed(0)  # noqa: NPY002
    return make_vec_env(SimpleMultiObsEnv, n_envs=2, seed=0)


def invalid_actions():
    return make_vec_env(
        InvalidActionEnvDiscrete, n_envs=2, seed=0, env_kwargs={"dim": 6, "n_invalid_actions": 3}
    )


@pytest.mark.parametrize(
    ("algo", "env_fn", "policy", "stock_buffer", "gpu_buffer", "kwargs"),
    [
        (SB3PPO, cartpole, "MlpPolicy", RolloutBuffer, GpuRolloutBuffer, {"batch_size": 16}),
        (A2C, cartpole, "MlpPolicy", RolloutBuffer, GpuRolloutBuffer, {}),
        (TRPO, cartpole, "MlpPolicy", RolloutBuffer, GpuRolloutBuffer, {"batch_size": 16}),
        (
            MaskablePPO,
            invalid_actions,
            "MlpPolicy",
            MaskableRolloutBuffer,
            MaskableGpuRolloutBuffer,
            {"batch_size": 16},
        ),
        (
            SB3PPO,
            multi_obs,
            "MultiInputPolicy",
            DictRolloutBuffer,
            GpuDictRolloutBuffer,
            {"batch_size": 16},
        ),
    ],
    ids=["PPO", "A2C", "TRPO", "MaskablePPO", "PPO-Dict"],
)
def test_drop_in_trains_exactly_like_the_stock_buffer(
    algo, env_fn, policy, stock_buffer, gpu_buffer, kwargs
) -> None:
    kwargs = {"n_steps": 16, **kwargs}
    stock = train_params(algo, env_fn, policy, stock_buffer, **kwargs)
    gpu = train_params(algo, env_fn, policy, gpu_buffer, **kwargs)
    assert stock.keys() == gpu.keys()
    for key in stock:
        assert th.equal(stock[key], gpu[key]), key


# --- bad input


def test_bad_input_raises_clear_errors() -> None:
    buffer = GpuRolloutBuffer(2, BOX_OBS, spaces.Discrete(2), "cpu", n_envs=N_ENVS)
    good = {
        "obs": np.zeros((N_ENVS, 2, 3), np.float32),
        "action": np.zeros((N_ENVS, 1)),
        "reward": np.zeros(N_ENVS, np.float32),
        "episode_start": np.zeros(N_ENVS, bool),
        "value": th.zeros(N_ENVS, 1),
        "log_prob": th.zeros(N_ENVS),
    }
    with pytest.raises(ValueError, match=r"obs of shape \(2, 2, 3\) cannot fill one step of shape"):
        buffer.add(**{**good, "obs": np.zeros((2, 2, 3), np.float32)})
    with pytest.raises(ValueError, match=r"reward of shape \(4,\) cannot fill .*expected 3"):
        buffer.add(**{**good, "reward": np.zeros(4, np.float32)})
    with pytest.raises(RuntimeError, match=r"get\(\) needs a full rollout buffer: 0 of 2"):
        next(buffer.get(2))
    buffer.reset()
    buffer.add(**good)
    buffer.add(**good)
    with pytest.raises(RuntimeError, match=r"the rollout buffer is full"):
        buffer.add(**good)
    with pytest.raises(TypeError, match=r"needs a spaces.Dict observation space"):
        GpuDictRolloutBuffer(2, BOX_OBS, spaces.Discrete(2), "cpu")
    with pytest.raises(ValueError, match=r"obs must be a dict with keys"):
        dict_buffer = GpuDictRolloutBuffer(2, DICT_OBS, spaces.Discrete(2), "cpu")
        dict_buffer.add({"vec": np.zeros((1, 4))}, *list(good.values())[1:])
    with pytest.raises(ValueError, match=r"action masking needs a Discrete"):
        MaskableGpuRolloutBuffer(2, BOX_OBS, spaces.Box(-1, 1, (2,)), "cpu")
    with pytest.raises(ValueError, match=r"buffer_size and n_envs must be >= 1"):
        GpuRolloutBuffer(0, BOX_OBS, spaces.Discrete(2), "cpu")


@pytest.mark.skipif(not th.cuda.is_available(), reason="needs CUDA")
def test_cuda_storage_and_samples_stay_on_device() -> None:
    buffer = GpuRolloutBuffer(N_STEPS, BOX_OBS, spaces.Discrete(2), "cuda", n_envs=N_ENVS)
    fill(buffer, BOX_OBS, spaces.Discrete(2), seed=0)
    assert buffer.shuffle_on_device
    for samples in buffer.get(5):
        for tensor in samples:
            assert tensor.is_cuda
    assert isinstance(buffer.values, np.ndarray)
