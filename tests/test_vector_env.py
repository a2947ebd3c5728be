"""The native Gymnasium vector view: autoreset modes, time limits, seeding and threads."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from env_ids import ALL_IDS
from gymnasium.error import ResetNeeded
from gymnasium.vector import AutoresetMode

import thrust_envs  # noqa: F401
from thrust_envs.core import batch as batch_module

ENV_ID = "Thrust/CartPole-v1"


def _shadows(vec, max_episode_steps, env_id=ENV_ID):
    """One single env per row, put in the row's current state."""
    singles = []
    for row in vec.unwrapped.get_state():
        env = gym.make(env_id, max_episode_steps=max_episode_steps)
        env.reset(seed=0)
        env.unwrapped.set_state(row)
        singles.append(env)
    return singles


def _restart(single, state_row):
    single.reset(seed=0)  # restarts the TimeLimit count
    return single.unwrapped.set_state(state_row)


@pytest.mark.parametrize("env_id", ALL_IDS)
@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_every_row_follows_the_single_env_through_autoresets(mode, env_id):
    n, limit = 8, 30
    vec = gym.make_vec(env_id, num_envs=n, max_episode_steps=limit, autoreset_mode=mode)
    assert vec.metadata["autoreset_mode"] == mode
    obs, info = vec.reset(seed=3)
    assert info == {}
    singles = _shadows(vec, limit, env_id)
    vec.action_space.seed(0)
    pending_reset = np.zeros(n, dtype=bool)
    ends = {"terminated": 0, "truncated": 0}
    for _ in range(400):
        actions = vec.action_space.sample()
        obs, rewards, terminated, truncated, infos = vec.step(actions)
        assert obs.dtype == np.float32 and rewards.dtype == np.float32
        states = vec.unwrapped.get_state()
        for i, single in enumerate(singles):
            if pending_reset[i]:  # NEXT_STEP: this step reset row i and ignored its action
                expected = _restart(single, states[i])
                np.testing.assert_array_equal(obs[i], expected)
                assert (rewards[i], terminated[i], truncated[i]) == (0.0, False, False)
                pending_reset[i] = False
                continue
            s_obs, s_rew, s_term, s_trunc, _ = single.step(actions[i])
            assert (terminated[i], truncated[i]) == (s_term, s_trunc)
            assert rewards[i] == np.float32(s_rew)
            if not (s_term or s_trunc):
                np.testing.assert_array_equal(obs[i], s_obs)
                continue
            ends["terminated" if s_term else "truncated"] += 1
            if mode == AutoresetMode.NEXT_STEP:
                np.testing.assert_array_equal(obs[i], s_obs)
                pending_reset[i] = True
            else:
                assert infos["_final_obs"][i] and infos["_final_info"][i]
                np.testing.assert_array_equal(infos["final_obs"][i], s_obs)
                np.testing.assert_array_equal(obs[i], _restart(single, states[i]))
        if mode == AutoresetMode.SAME_STEP and "final_obs" in infos:
            done = terminated | truncated
            np.testing.assert_array_equal(infos["_final_obs"], done)
            assert all((infos["final_obs"][i] is None) == (not done[i]) for i in range(n))
    assert ends["terminated"] + ends["truncated"] > 50
    if env_id == "Thrust/CartPole-v1":
        assert ends["terminated"] > 20 and ends["truncated"] > 5


def test_same_step_infos_have_gymnasiums_structure():
    ours = gym.make_vec(ENV_ID, num_envs=3, autoreset_mode=AutoresetMode.SAME_STEP)
    theirs = gym.make_vec(
        "CartPole-v1",
        num_envs=3,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
    )
    for env in (ours, theirs):
        env.reset(seed=0)
    infos = {}
    for env, name in ((ours, "ours"), (theirs, "theirs")):
        for _ in range(100):
            *_, info = env.step(np.ones(3, dtype=np.int64))
            if info:
                infos[name] = info
                break
    assert (
        set(infos["ours"])
        == set(infos["theirs"])
        == {"final_obs", "_final_obs", "final_info", "_final_info"}
    )
    for key in infos["theirs"]:
        assert type(infos["ours"][key]) is type(infos["theirs"][key])
        if isinstance(infos["ours"][key], np.ndarray):
            assert infos["ours"][key].dtype == infos["theirs"][key].dtype


def test_reset_masks_that_leave_rows_without_a_state_are_refused():
    """As Gymnasium's SyncVectorEnv: a mask with no True is refused; and a first reset that
    masks rows out would leave them stepping from zeros (SyncVectorEnv's step fails then),
    so it is refused before anything changes."""
    vec = gym.make_vec(ENV_ID, num_envs=3, autoreset_mode=AutoresetMode.DISABLED)
    with pytest.raises(ValueError, match="the first reset must reset every environment"):
        vec.reset(options={"reset_mask": np.array([True, False, False])})
    with pytest.raises(ResetNeeded):
        vec.step(np.zeros(3, dtype=np.int64))
    vec.reset(seed=0, options={"reset_mask": np.ones(3, dtype=bool)})
    before = vec.unwrapped.get_state()
    with pytest.raises(ValueError, match=r"must select at least one environment \(one True\)"):
        vec.reset(options={"reset_mask": np.zeros(3, dtype=bool)})
    np.testing.assert_array_equal(vec.unwrapped.get_state(), before)
    reference = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 3)
    reference.reset(seed=0)
    with pytest.raises(ValueError, match="at least one True"):
        reference.reset(options={"reset_mask": np.zeros(3, dtype=bool)})


def test_disabled_autoreset_requires_masked_reset():
    vec = gym.make_vec(ENV_ID, num_envs=4, autoreset_mode=AutoresetMode.DISABLED)
    vec.reset(seed=0)
    done = np.zeros(4, dtype=bool)
    while not done.any():
        _, _, terminated, truncated, _ = vec.step(np.ones(4, dtype=np.int64))
        done = terminated | truncated
    before = vec.unwrapped.get_state()
    with pytest.raises(RuntimeError, match="reset_mask"):
        vec.step(np.ones(4, dtype=np.int64))
    np.testing.assert_array_equal(vec.unwrapped.get_state(), before)
    obs, _ = vec.reset(options={"reset_mask": done})
    after = vec.unwrapped.get_state()
    np.testing.assert_array_equal(after[~done], before[~done])
    assert np.all(np.abs(after[done, :4]) <= 0.05)
    vec.step(np.ones(4, dtype=np.int64))


def test_max_episode_steps_from_make_vec_and_registration():
    assert gym.make_vec(ENV_ID, num_envs=2).unwrapped.max_episode_steps == 500
    assert gym.make_vec("Thrust/CartPole-v0", num_envs=2).unwrapped.max_episode_steps == 200
    vec = gym.make_vec(ENV_ID, num_envs=2, max_episode_steps=3)
    vec.reset(seed=0)
    flags = [vec.step(np.zeros(2, dtype=np.int64))[3] for _ in range(3)]
    assert [f.tolist() for f in flags] == [[False, False], [False, False], [True, True]]


def test_seeding_is_per_row_and_reproducible():
    a = gym.make_vec(ENV_ID, num_envs=4)
    b = gym.make_vec(ENV_ID, num_envs=1)
    obs_a, _ = a.reset(seed=10)
    obs_b, _ = b.reset(seed=12)
    np.testing.assert_array_equal(obs_a[2], obs_b[0])  # row i gets seed + i
    obs_list, _ = a.reset(seed=[13, 11, 12, 10])
    np.testing.assert_array_equal(obs_list[2], obs_b[0])
    again, _ = a.reset(seed=10)
    np.testing.assert_array_equal(again, obs_a)
    unseeded_1, _ = gym.make_vec(ENV_ID, num_envs=4).reset()
    unseeded_2, _ = gym.make_vec(ENV_ID, num_envs=4).reset()
    assert not np.array_equal(unseeded_1, unseeded_2)


def test_reset_options_persist_for_autoresets():
    vec = gym.make_vec(ENV_ID, num_envs=64)
    obs, _ = vec.reset(seed=0, options={"low": 0.04, "high": 0.05})
    assert np.all((obs >= 0.04) & (obs <= 0.05))
    saw_reset = False
    for _ in range(200):
        obs, reward, _, _, _ = vec.step(np.zeros(64, dtype=np.int64))
        fresh = reward == 0.0
        if fresh.any():
            saw_reset = True
            assert np.all((obs[fresh] >= 0.04) & (obs[fresh] <= 0.05))
    assert saw_reset


def _trajectory(num_threads, seed, n=3000, steps=60):
    vec = gym.make_vec(ENV_ID, num_envs=n, num_threads=num_threads)
    out = [vec.reset(seed=seed)[0]]
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        obs, rew, term, trunc, _ = vec.step(rng.integers(0, 2, n))
        out += [obs, rew, term, trunc]
    return out


def test_same_seed_same_trajectories_whatever_the_thread_count(monkeypatch):
    monkeypatch.setattr(batch_module, "PARALLEL_MIN_ROWS", 1)
    one = _trajectory(1, seed=5)
    two = _trajectory(2, seed=5)
    for x, y in zip(one, two, strict=True):
        np.testing.assert_array_equal(x, y)
    other = _trajectory(2, seed=6)
    assert not np.array_equal(one[0], other[0])


def test_copy_false_returns_the_reused_buffers():
    vec = gym.make_vec(ENV_ID, num_envs=4, copy=False)
    obs, _ = vec.reset(seed=0)
    first = vec.step(np.zeros(4, dtype=np.int64))[0]
    second = vec.step(np.zeros(4, dtype=np.int64))[0]
    assert first is second
    safe = gym.make_vec(ENV_ID, num_envs=4)
    safe.reset(seed=0)
    assert (
        safe.step(np.zeros(4, dtype=np.int64))[0] is not safe.step(np.zeros(4, dtype=np.int64))[0]
    )


def test_render_returns_one_frame_per_env():
    vec = gym.make_vec(ENV_ID, num_envs=3, render_mode="rgb_array")
    vec.reset(seed=0)
    frames = vec.render()
    assert len(frames) == 3 and all(f.shape == (400, 600, 3) for f in frames)
    assert gym.make_vec(ENV_ID, num_envs=3).render() is None


def test_vector_spaces_are_batched():
    vec = gym.make_vec(ENV_ID, num_envs=5)
    assert vec.single_observation_space == gym.make("CartPole-v1").observation_space
    assert vec.observation_space.shape == (5, 4)
    assert vec.action_space.shape == (5,)
    assert vec.action_space.contains(vec.action_space.sample())
