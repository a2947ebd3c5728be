"""The fused rollout (thrust_algos.fused): one compiled call per rollout on a Thrust env.

Checked against the env itself (stepping a twin env with the rollout's actions reproduces every
array of the buffer and of the env), against the policy (values and log-probabilities), against
the policy's distributions (chi-square / Kolmogorov-Smirnov), and against SB3's API (callbacks,
logging, save/load, stock SB3 loading the model, fallbacks with their reasons).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch as th
from stable_baselines3 import PPO as SB3PPO
from stable_baselines3.common.callbacks import (
    BaseCallback,
    CheckpointCallback,
    EvalCallback,
    StopTrainingOnMaxEpisodes,
)
from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env
from stable_baselines3.common.logger import KVWriter, Logger
from stable_baselines3.common.vec_env import VecNormalize
from torch_threads import one_torch_thread as one_torch_thread

import thrust_algos
from thrust_envs.sb3 import make_vec_env

GAMMA = 0.9


def model_on(env_id: str, n_envs: int, n_steps: int, seed: int = 0, **kwargs):
    env = make_vec_env(env_id, n_envs, seed=seed, **kwargs.pop("env_kwargs", {}))
    return thrust_algos.PPO(
        "MlpPolicy",
        env,
        n_steps=n_steps,
        batch_size=n_steps * n_envs,
        n_epochs=1,
        gamma=GAMMA,
        seed=seed,
        device="cpu",
        **kwargs,
    )


def buffer_arrays(model) -> dict[str, np.ndarray]:
    buffer = model.rollout_buffer
    return {
        name: getattr(buffer, name).numpy().copy()
        for name in ("observations", "actions", "rewards", "episode_starts", "log_probs")
    } | {"values": buffer.values.copy(), "returns": buffer.returns.copy()}


def env_arrays(venv) -> dict[str, np.ndarray]:
    batch = venv._batch
    names = ("state", "rng", "episode", "obs", "final_obs", "reward", "terminated", "truncated")
    return {name: getattr(batch, name).copy() for name in names}


@pytest.mark.parametrize(
    ("env_id", "env_kwargs"),
    [
        ("Thrust/CartPole-v1", {"max_episode_steps": 7}),
        ("Thrust/Pendulum-v1", {"max_episode_steps": 9}),
    ],
)
def test_fused_rollout_equals_stepping_the_env(env_id: str, env_kwargs: dict) -> None:
    """A twin env stepped with the rollout's actions gives the buffer's observations, starts
    and rewards (+ gamma V(terminal obs) on truncation), the same finished episodes, and ends in
    exactly the same arrays (state, streams, statistics, observations, flags)."""
    n_envs, n_steps = 3, 20
    # learning_rate 0: the update after the rollout leaves the weights it was collected with.
    model = model_on(env_id, n_envs, n_steps, env_kwargs=env_kwargs, learning_rate=0.0)
    model.learn(n_envs * n_steps)
    assert model.rollout_path == "fused"
    got = buffer_arrays(model)

    twin = make_vec_env(env_id, n_envs, seed=0, **env_kwargs)
    obs = twin.reset()
    starts = np.ones(n_envs, dtype=bool)
    episodes, truncations = [], 0
    policy = model.policy
    for t in range(n_steps):
        np.testing.assert_array_equal(got["observations"][t], obs, err_msg=f"obs {t}")
        np.testing.assert_array_equal(got["episode_starts"][t], starts.astype(np.float32))
        actions = got["actions"][t]
        if env_id.startswith("Thrust/CartPole"):
            env_actions = actions[:, 0].astype(np.int64)
        else:
            env_actions = np.clip(actions, -2.0, 2.0)
        obs, rewards, dones, infos = twin.step(env_actions)
        for i in np.flatnonzero(dones):
            episodes.append(infos[i]["episode"]["r"])
            if infos[i]["TimeLimit.truncated"]:
                truncations += 1
                with th.no_grad():
                    terminal = th.as_tensor(infos[i]["terminal_observation"][None])
                    value = policy.predict_values(terminal)[0, 0]
                rewards[i] += GAMMA * value.numpy()
        np.testing.assert_allclose(got["rewards"][t], rewards, rtol=1e-6, err_msg=f"reward {t}")
        starts = dones
    assert truncations > 0, "the bootstrap was not exercised"
    assert [info["r"] for info in model.ep_info_buffer] == episodes
    for name, value in env_arrays(twin).items():
        np.testing.assert_array_equal(env_arrays(model.env)[name], value, err_msg=name)
    np.testing.assert_array_equal(model._last_obs, obs)
    np.testing.assert_array_equal(model._last_episode_starts, starts)


GAME_CASES = {
    # Pong: games end by a point or by the step limit (truncation and its bootstrap).
    "Thrust/Pong-v0": {"points_to_win": 1, "max_steps": 9},
    # Snake: snakes die while their game goes on (zeroed rows, dones mid-game).
    "Thrust/Snake-v0": {},
}


def game_arrays(venv) -> dict[str, np.ndarray]:
    names = ("state", "rng", "actions", "length", "alive", "was_alive", "agent_return", "obs",
             "reward", "terminated", "truncated", "final_obs", "final_return", "final_length",
             "game_over")  # fmt: skip
    return {name: getattr(venv._game, name).copy() for name in names}


@pytest.mark.parametrize("game_id", list(GAME_CASES))
def test_fused_game_rollout_equals_stepping_the_shared_view(game_id: str) -> None:
    """The parameter-sharing view of a game (issue 13): a twin view stepped with the fused
    rollout's actions gives the buffer's observations (zeros for dead agents), starts and
    rewards (+ gamma V(terminal obs) on truncation), the same finished episodes in the same
    order, the same values and log-probabilities to rounding, and ends in the same arrays."""
    from thrust_envs.registration import game_lookup
    from thrust_envs.sb3 import SharedGameVecEnv

    definition, kwargs = game_lookup(game_id), GAME_CASES[game_id]
    n_games, n_steps = 3, 24
    env = SharedGameVecEnv(definition, n_games, seed=0, **kwargs)
    batch_size = n_steps * env.num_envs
    model = thrust_algos.PPO("MlpPolicy", env, n_steps=n_steps, batch_size=batch_size, n_epochs=1,
                             gamma=GAMMA, seed=0, device="cpu", learning_rate=0.0)  # fmt: skip
    model.learn(env.num_envs * n_steps)
    assert model.rollout_path == "fused"
    got = buffer_arrays(model)

    twin = SharedGameVecEnv(definition, n_games, seed=0, **kwargs)
    obs = twin.reset()
    starts = np.ones(twin.num_envs, dtype=bool)
    episodes, truncations, zeroed = [], 0, 0
    for t in range(n_steps):
        np.testing.assert_array_equal(got["observations"][t], obs, err_msg=f"obs {t}")
        np.testing.assert_array_equal(got["episode_starts"][t], starts.astype(np.float32))
        obs, rewards, dones, infos = twin.step(got["actions"][t][:, 0].astype(np.int64))
        zeroed += int((~obs.any(axis=1)).sum())
        for i in np.flatnonzero(dones):
            episodes.append((infos[i]["episode"]["r"], infos[i]["episode"]["l"]))
            if infos[i]["TimeLimit.truncated"]:
                truncations += 1
                with th.no_grad():
                    terminal = th.as_tensor(infos[i]["terminal_observation"][None])
                    value = model.policy.predict_values(terminal)[0, 0]
                rewards[i] += GAMMA * value.numpy()
        np.testing.assert_allclose(got["rewards"][t], rewards, rtol=1e-6, err_msg=f"reward {t}")
        starts = dones
    assert episodes == [(info["r"], info["l"]) for info in model.ep_info_buffer]
    assert len(episodes) > n_games
    if game_id == "Thrust/Pong-v0":
        assert truncations > 0, "the bootstrap was not exercised"
    else:
        assert zeroed > 0, "no agent died while its game went on"
    for name, value in game_arrays(twin).items():
        np.testing.assert_array_equal(game_arrays(model.env)[name], value, err_msg=name)
    np.testing.assert_array_equal(model._last_obs, obs)
    np.testing.assert_array_equal(model._last_episode_starts, starts)
    buffer = model.rollout_buffer
    features = buffer.observations.shape[-1]
    with th.no_grad():
        values, log_prob, _ = model.policy.evaluate_actions(
            buffer.observations.reshape(-1, features), buffer.actions.reshape(-1).long()
        )
    np.testing.assert_allclose(buffer.values.reshape(-1), values.numpy()[:, 0], rtol=1e-5,
                               atol=1e-6)  # fmt: skip
    np.testing.assert_allclose(buffer.log_probs.numpy().reshape(-1), log_prob.numpy(), rtol=1e-5,
                               atol=1e-5)  # fmt: skip


def test_values_and_log_probs_are_the_policys() -> None:
    """Values and log-probabilities written by the kernel equal the policy's own forward (to
    float32 rounding: the kernel sums in another order than F.linear)."""
    model = model_on(
        "Thrust/Pendulum-v1", 4, 16, policy_kwargs={"net_arch": [16, 8]}, learning_rate=0.0
    )
    with th.no_grad():
        model.policy.log_std.fill_(-0.5)
    model.learn(64)
    buffer = model.rollout_buffer
    obs = buffer.observations.reshape(-1, 3)
    actions = buffer.actions.reshape(-1, 1)
    with th.no_grad():
        values, log_prob, _ = model.policy.evaluate_actions(obs, actions)
    np.testing.assert_allclose(
        buffer.values.reshape(-1), values.numpy()[:, 0], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        buffer.log_probs.numpy().reshape(-1), log_prob.numpy(), rtol=1e-5, atol=1e-5
    )


def set_constant_head(model, bias: list[float]) -> None:
    """Make the action head ignore the observation: zero weights, ``bias`` as its output."""
    with th.no_grad():
        model.policy.action_net.weight.zero_()
        model.policy.action_net.bias.copy_(th.tensor(bias))


def test_tanh32_is_tanh_within_six_ulp() -> None:
    """The rollout's vectorisable tanh against float64's, on every float32 step near 0 and a
    dense grid out to beyond saturation; signed zeros, infinities and NaN as tanh has them."""
    from thrust_algos._fused_kernels import tanh32

    grid = np.concatenate(
        [
            np.linspace(-10, 10, 400_001, dtype=np.float32),
            np.geomspace(1e-30, 1e-3, 20_001).astype(np.float32),
            -np.geomspace(1e-30, 1e-3, 20_001).astype(np.float32),
        ]
    )
    got = np.array([tanh32(x) for x in grid[::7]] + [tanh32(x) for x in grid[-40_002:]])
    xs = np.concatenate([grid[::7], grid[-40_002:]])
    want = np.tanh(xs.astype(np.float64))
    ulp = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    np.testing.assert_array_equal(got.astype(np.float32), got)  # float32 values
    assert np.max(np.abs(got - want) / ulp) <= 6.0
    assert np.all(np.abs(got) <= 1.0)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan], dtype=np.float32)
    out = np.array([tanh32(x) for x in special])
    np.testing.assert_array_equal(out[:4], [0.0, -0.0, 1.0, -1.0])
    assert np.signbit(out[1]) and np.isnan(out[4])


def test_categorical_actions_follow_the_policy() -> None:
    """Acrobot's 3 actions with fixed logits: counts over 4,096 draws pass a chi-square test
    against softmax(logits), and the stored log-probabilities are log softmax."""
    model = model_on("Thrust/Acrobot-v1", 16, 256, learning_rate=0.0)
    logits = [0.0, 0.7, -1.0]
    set_constant_head(model, logits)
    model.learn(16 * 256)
    actions = model.rollout_buffer.actions.numpy().reshape(-1).astype(np.int64)
    probs = np.exp(logits) / np.exp(logits).sum()
    counts = np.bincount(actions, minlength=3)
    expected = probs * actions.size
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 13.82, (counts, expected)  # chi-square, 2 degrees of freedom, p = 0.001
    np.testing.assert_allclose(
        model.rollout_buffer.log_probs.numpy().reshape(-1), np.log(probs)[actions], rtol=1e-6
    )


def test_gaussian_actions_follow_the_policy() -> None:
    """Pendulum's Box action with a fixed mean and std: the stored (unclipped) actions pass a
    Kolmogorov-Smirnov test against Normal(mean, std); the env got them clipped."""
    model = model_on("Thrust/Pendulum-v1", 16, 256, learning_rate=0.0)
    mean, std = 0.3, 1.5
    set_constant_head(model, [mean])
    with th.no_grad():
        model.policy.log_std.fill_(math.log(std))
    model.learn(16 * 256)
    actions = np.sort(model.rollout_buffer.actions.numpy().reshape(-1).astype(np.float64))
    n = actions.size
    cdf = 0.5 * (1 + np.vectorize(math.erf)((actions - mean) / (std * math.sqrt(2))))
    ks = max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))
    assert ks < 1.95 / math.sqrt(n), ks  # Kolmogorov-Smirnov, p = 0.001
    assert np.abs(actions).max() > 2.0, "nothing to clip: the test would not see clipping"
    assert np.all(np.abs(model.env._batch.actions) <= 2.0)


@pytest.mark.parametrize(
    ("env_id", "what"),
    [("Thrust/Pendulum-v1", "Box action"), ("Thrust/CartPole-v1", "action probabilities")],
)
def test_a_non_finite_policy_is_refused_naming_what_was_not_finite(env_id, what) -> None:
    """NaN weights: the rollout raises, naming what was not finite for the action kind, and
    nothing is trained on it."""
    model = model_on(env_id, 2, 8)
    with th.no_grad():
        model.policy.action_net.bias.fill_(float("nan"))
    before = [p.detach().clone() for p in model.policy.parameters()]
    with pytest.raises(ValueError, match=f"the policy produced a non-finite {what} "):
        model.learn(16)
    assert model.rollout_path == "fused"
    for param, old in zip(model.policy.parameters(), before, strict=True):
        assert th.allclose(param, old, rtol=0, atol=0, equal_nan=True)


def test_same_seed_same_rollout_and_seeds_differ() -> None:
    def rollout(seed: int) -> dict[str, np.ndarray]:
        model = model_on("Thrust/CartPole-v1", 4, 16, seed=seed)
        model.learn(128)
        return buffer_arrays(model)

    first, again, other = rollout(3), rollout(3), rollout(4)
    for name, value in first.items():
        np.testing.assert_array_equal(again[name], value, err_msg=name)
    assert not np.array_equal(first["actions"], other["actions"])


def test_without_a_model_seed_torchs_global_seed_decides_the_rollout() -> None:
    """No ``seed=``: a script that seeds torch globally (SB3's ``set_random_seed``) gets the
    same rollout again, as on SB3's path, where actions come from torch's generator; another
    global seed gives others."""

    def rollout(global_seed: int) -> np.ndarray:
        th.manual_seed(global_seed)
        env = make_vec_env("Thrust/CartPole-v1", 4, seed=0)
        model = thrust_algos.PPO("MlpPolicy", env, n_steps=16, batch_size=64, device="cpu")
        model.learn(64)
        assert model.rollout_path == "fused"
        return buffer_arrays(model)["actions"]

    first, again, other = rollout(5), rollout(5), rollout(6)
    np.testing.assert_array_equal(again, first)
    assert not np.array_equal(other, first)


def test_set_random_seed_decides_the_next_fused_rollouts() -> None:
    """``model.set_random_seed(s)`` seeds the generators SB3's path draws its actions from; the
    fused streams start over from ``s`` too: a model built with seed 0 and reseeded with 9
    rolls out as a model built with seed 9 from the same weights (the streams kept the
    construction seed before)."""

    def model(seed: int) -> thrust_algos.PPO:
        env = make_vec_env("Thrust/CartPole-v1", 4, seed=0)
        return thrust_algos.PPO("MlpPolicy", env, n_steps=16, batch_size=64, seed=seed,
                                device="cpu")  # fmt: skip

    reseeded, built = model(0), model(9)
    built.set_parameters(reseeded.get_parameters())
    for each in (reseeded, built):
        each.set_random_seed(9)
        each.learn(64)
        assert each.rollout_path == "fused"
    np.testing.assert_array_equal(
        buffer_arrays(reseeded)["actions"], buffer_arrays(built)["actions"]
    )


def test_fused_then_stepwise_continues_the_same_env() -> None:
    """After fused rollouts, SB3's per-step path picks up the env where the kernel left it."""
    model = model_on("Thrust/CartPole-v1", 4, 16)
    model.learn(128)
    assert model.rollout_path == "fused"
    np.testing.assert_array_equal(model._last_obs, model.env._batch.obs)
    before = env_arrays(model.env)
    model.fused = False
    model.learn(64, reset_num_timesteps=False)
    assert model.rollout_path == "stepwise (staged): fused=False"
    np.testing.assert_array_equal(model.rollout_buffer.observations.numpy()[0], before["obs"])
    assert model.num_timesteps == 192


class Counter(BaseCallback):
    def __init__(self) -> None:
        super().__init__()
        self.timesteps: list[int] = []
        self.dones = 0
        self.episodes = 0

    def _on_step(self) -> bool:
        self.timesteps.append(self.num_timesteps)
        self.dones += int(np.sum(self.locals["dones"]))
        self.episodes += sum("episode" in info for info in self.locals["infos"])
        assert len(self.locals["infos"]) == self.training_env.num_envs
        return True


def test_callbacks_see_every_step() -> None:
    model = model_on("Thrust/CartPole-v1", 4, 16)
    counter = Counter()
    model.learn(4 * 16 * 3, callback=counter)
    assert counter.timesteps == list(range(4, 4 * 16 * 3 + 1, 4))
    assert counter.dones == counter.episodes > 0
    assert counter.episodes == len(model.ep_info_buffer)


class Nothing(BaseCallback):
    """A callback that does nothing, so that the replay runs step by step."""

    def _on_step(self) -> bool:
        return True


def test_without_a_callback_the_replay_leaves_what_stepping_leaves() -> None:
    """callback=None (SB3's ConvertCallback of None) skips the step-by-step replay: the counts,
    the last step's locals, the episode window and the training equal a step-by-step replay's."""
    runs = {}
    for name, callback in (("none", None), ("nothing", Nothing())):
        # a window of fewer episodes than a rollout ends
        model = model_on("Thrust/CartPole-v1", 4, 32, stats_window_size=10)
        model.learn(4 * 32 * 3, callback=callback)
        assert model.rollout_path == "fused"
        runs[name] = model
    none, nothing = runs["none"], runs["nothing"]
    assert none.num_timesteps == nothing.num_timesteps == 4 * 32 * 3

    def window(model):  # "t" is wall time: it differs between runs
        return [(e["r"], e["l"]) for e in model.ep_info_buffer]

    assert window(none) == window(nothing)
    assert len(none.ep_info_buffer) == 10
    for a, b in zip(none.policy.parameters(), nothing.policy.parameters(), strict=True):
        assert th.equal(a, b)


def test_stop_on_max_episodes_and_eval_and_checkpoint(tmp_path) -> None:
    model = model_on("Thrust/CartPole-v1", 4, 32)
    stopper = StopTrainingOnMaxEpisodes(max_episodes=3)
    model.learn(10_000, callback=stopper)
    assert model.num_timesteps < 10_000  # stopped inside the first rollouts
    assert model.rollout_path == "fused"

    model = model_on("Thrust/CartPole-v1", 4, 16)
    eval_env = make_vec_env("Thrust/CartPole-v1", 2, seed=1)
    evaluation = EvalCallback(eval_env, eval_freq=16, n_eval_episodes=2, log_path=str(tmp_path))
    checkpoint = CheckpointCallback(save_freq=16, save_path=str(tmp_path / "ckpt"))
    model.learn(4 * 16 * 2, callback=[evaluation, checkpoint], progress_bar=True)
    assert len(np.load(tmp_path / "evaluations.npz")["timesteps"]) == 2
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "rl_model_128_steps.zip",
        "rl_model_64_steps.zip",
    ]


class Recorded(KVWriter):
    def __init__(self) -> None:
        self.values: list[dict] = []

    def write(self, key_values, key_excluded, step=0) -> None:
        self.values.append(dict(key_values))


def test_ep_rew_mean_is_logged(tmp_path) -> None:
    model = model_on("Thrust/CartPole-v1", 4, 32)
    writer = Recorded()
    model.set_logger(Logger(folder=None, output_formats=[writer]))
    model.learn(4 * 32 * 2, log_interval=1)
    means = [v["rollout/ep_rew_mean"] for v in writer.values if "rollout/ep_rew_mean" in v]
    assert means and means[-1] == pytest.approx(np.mean([e["r"] for e in model.ep_info_buffer]))


def test_save_load_and_stock_sb3_loads_it(tmp_path) -> None:
    model = model_on("Thrust/CartPole-v1", 4, 16)
    model.learn(64)
    model.save(tmp_path / "m.zip")
    obs = model.env.reset()
    stock = SB3PPO.load(tmp_path / "m.zip", device="cpu")
    np.testing.assert_array_equal(
        stock.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0]
    )
    loaded = thrust_algos.PPO.load(tmp_path / "m.zip", env=make_vec_env("Thrust/CartPole-v1", 4))
    loaded.learn(64)
    assert loaded.rollout_path == "fused"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: model_on("Thrust/CartPole-v1", 2, 8, fused=False), "fused=False"),
        (lambda: model_on("Thrust/CartPole-v1", 2, 8, lean=False), "not the lean MLP"),
        (lambda: model_on("Thrust/CartPole-v1", 513, 2), "513 rows: above 512"),
        (
            lambda: thrust_algos.PPO(
                "MlpPolicy", sb3_make_vec_env("CartPole-v1", 2), n_steps=8, batch_size=16
            ),
            "not a Thrust single-agent SB3 VecEnv",
        ),
        (
            lambda: thrust_algos.PPO(
                "MlpPolicy",
                VecNormalize(make_vec_env("Thrust/CartPole-v1", 2)),
                n_steps=8,
                batch_size=16,
            ),
            "VecNormalize",
        ),
    ],
)
def test_fallbacks_say_why(make, reason: str) -> None:
    model = make()
    model.learn(16)
    assert model.rollout_path.startswith(("stepwise: ", "stepwise (staged): "))
    assert reason in model.rollout_path


def test_without_scipy_the_rollout_is_stepwise_and_says_why(monkeypatch) -> None:
    """The fused forward's matrix products are BLAS calls through numba's np.dot, which needs
    SciPy: without it the rollout (and the update) take their other paths, saying why."""
    from thrust_algos import _blas

    monkeypatch.setattr(_blas, "blas_available", lambda: "SciPy is not installed (test)")
    model = model_on("Thrust/CartPole-v1", 2, 8)
    model.learn(16)
    assert model.rollout_path.endswith("SciPy is not installed (test)")
    assert model.update_path == "lean per minibatch: SciPy is not installed (test)"


def test_each_learn_call_draws_new_actions_on_the_fused_path() -> None:
    """learn() with reset_num_timesteps=True starts the timesteps at 0 again; the fused
    streams were seeded from the rollout's first timestep, so each call drew the very same
    numbers (SB3's torch generator goes on). A policy with no signal (zeroed action net,
    lr 0) samples each action with probability 1/2: two calls must not agree everywhere."""

    def signal_free_model() -> thrust_algos.PPO:
        model = thrust_algos.PPO(
            "MlpPolicy",
            make_vec_env("Thrust/CartPole-v1", 16, seed=0),
            n_steps=16,
            batch_size=256,
            n_epochs=1,
            learning_rate=0.0,
            seed=0,
        )
        with th.no_grad():
            model.policy.action_net.weight.zero_()
            model.policy.action_net.bias.zero_()
        return model

    model = signal_free_model()
    rollouts = []
    for _ in range(2):
        model.learn(256)
        assert model.rollout_path == "fused", model.rollout_path
        rollouts.append(th.as_tensor(model.rollout_buffer.actions).clone())
    assert not th.equal(rollouts[0], rollouts[1])
    # The same seed and the same sequence of calls: the same draws (a fresh model).
    twin = signal_free_model()
    twin.learn(256)
    assert th.equal(th.as_tensor(twin.rollout_buffer.actions), rollouts[0])


def _numpy(value) -> np.ndarray:
    return th.as_tensor(value).detach().cpu().numpy().copy()


class LocalsSpy(BaseCallback):
    """Records SB3's rollout locals at each on_step, and shapes the rewards in place."""

    NAMES = ("n_steps", "actions", "clipped_actions", "values", "log_probs", "obs_tensor")

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[dict] = []

    def _on_step(self) -> bool:
        record = {}
        for name in self.NAMES:
            value = self.locals[name]
            record[name] = value if isinstance(value, int) else _numpy(value)
        record["rollout_buffer"] = self.locals["rollout_buffer"] is self.model.rollout_buffer
        self.seen.append(record)
        self.locals["rewards"][:] += 100.0  # reward shaping, as SB3 allows it
        return True


@pytest.mark.parametrize("fused", [True, False])
def test_callbacks_see_sb3s_locals_and_shape_rewards(fused) -> None:
    """The fused path (replayed) and the staged path (fused=False) give a callback SB3's
    rollout locals, with SB3's meaning (n_steps: the steps before this one; actions as the
    policy gave them; values [n_envs, 1]), and rewards shaped in place are trained on."""
    spy = LocalsSpy()
    model = thrust_algos.PPO(
        "MlpPolicy",
        make_vec_env("Thrust/Pendulum-v1", 3, seed=0),
        n_steps=4,
        batch_size=12,
        n_epochs=1,
        fused=fused,
        seed=0,
    )
    model.learn(12, callback=spy)
    assert model.rollout_path.startswith("fused" if fused else "stepwise (staged)")
    assert [r["n_steps"] for r in spy.seen] == [0, 1, 2, 3]
    buffer = model.rollout_buffer
    for t, record in enumerate(spy.seen):
        assert record["rollout_buffer"]
        assert record["actions"].shape == (3, 1) and record["actions"].dtype == np.float32
        np.testing.assert_array_equal(record["actions"], _numpy(buffer.actions[t]))
        np.testing.assert_array_equal(record["clipped_actions"], np.clip(record["actions"], -2, 2))
        assert record["values"].shape == (3, 1) and record["log_probs"].shape == (3,)
        np.testing.assert_array_equal(record["obs_tensor"], _numpy(buffer.observations[t]))
    assert float(th.as_tensor(buffer.rewards).min()) > 80.0  # every step's rewards shaped
