"""thrust_algos.PPO accepts the step dtypes stock SB3 accepts (issue 20 item 5): integer and
float64 rewards, bool / integer / float dones, integer actions of any width."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("stable_baselines3")
from stable_baselines3 import PPO as StockPPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnvWrapper

from thrust_algos import PPO


class StepDtypes(VecEnvWrapper):
    """A VecEnv whose rewards and dones come in other dtypes (as a custom VecEnv may send)."""

    def __init__(self, venv, reward_dtype, done_dtype):
        super().__init__(venv)
        self.reward_dtype, self.done_dtype = reward_dtype, done_dtype

    def reset(self):
        return self.venv.reset()

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        return obs, rewards.astype(self.reward_dtype), dones.astype(self.done_dtype), infos


class Int32Actions(gym.ActionWrapper):
    """CartPole behind a MultiDiscrete int32 action space."""

    def __init__(self, env):
        super().__init__(env)
        self.action_space = gym.spaces.MultiDiscrete([2], dtype=np.int32)

    def action(self, action):
        assert action.dtype == np.int32 or np.issubdtype(action.dtype, np.integer)
        return int(action[0])


def _venv(reward_dtype, done_dtype, wrapper=None):
    # A 20-step time limit: truncations exercise the value bootstrap of the rewards.
    base = make_vec_env(
        "CartPole-v1", n_envs=2, seed=0, wrapper_class=wrapper, env_kwargs={"max_episode_steps": 20}
    )
    return StepDtypes(base, reward_dtype, done_dtype)


@pytest.mark.parametrize(
    ("reward_dtype", "done_dtype"),
    [(np.int64, np.bool_), (np.float64, np.bool_), (np.int32, np.int64), (np.float32, np.float64)],
)
def test_ppo_trains_where_stock_sb3_does(reward_dtype, done_dtype):
    for algo in (StockPPO, PPO):  # stock SB3 first: the dtype must be one it accepts
        model = algo(
            "MlpPolicy",
            _venv(reward_dtype, done_dtype),
            n_steps=64,
            batch_size=64,
            n_epochs=1,
            seed=0,
            device="cpu",
        )
        model.learn(total_timesteps=256)
        assert model.num_timesteps == 256
    assert model.rollout_buffer.rewards.dtype == np.float32 or str(
        model.rollout_buffer.rewards.dtype
    ).endswith("float32")


def test_ppo_trains_with_int32_actions():
    for algo in (StockPPO, PPO):
        model = algo(
            "MlpPolicy",
            _venv(np.float32, np.bool_, Int32Actions),
            n_steps=64,
            batch_size=64,
            n_epochs=1,
            seed=0,
            device="cpu",
        )
        model.learn(total_timesteps=256)
        assert model.num_timesteps == 256
