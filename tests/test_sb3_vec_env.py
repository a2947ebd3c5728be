"""The SB3 VecEnv view against SB3's own DummyVecEnv + Monitor, VecMonitor and algorithms."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from env_ids import ALL_IDS
from sb3_views import first_observations_after_set_options
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

from thrust_envs import InvalidAction
from thrust_envs.sb3 import make_vec_env

ENV_ID = "Thrust/CartPole-v1"


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_rows_match_dummy_vec_env_over_monitor_including_truncation(env_id):
    n, limit = 6, 25
    ours = make_vec_env(env_id, n, seed=0, max_episode_steps=limit)
    reference = sb3_make_vec_env(env_id, n, env_kwargs={"max_episode_steps": limit})
    obs = ours.reset()
    # Same start: copy our initial states into the reference envs.
    for i, row in enumerate(ours.get_state()):
        reference.envs[i].reset(seed=0)
        reference.envs[i].unwrapped.set_state(row)
    space = ours.action_space
    space.seed(1)
    episodes, truncations = 0, 0
    kept = []  # every finished row's info and a copy of its terminal observation
    for _ in range(300):
        actions = np.stack([space.sample() for _ in range(n)])
        obs, rewards, dones, infos = ours.step(actions)
        r_obs, r_rewards, r_dones, r_infos = reference.step(actions)
        assert len(infos) == n
        np.testing.assert_array_equal(dones, r_dones)
        np.testing.assert_array_equal(rewards, r_rewards)
        assert rewards.dtype == r_rewards.dtype == np.float32
        for i in range(n):
            assert set(infos[i]) == set(r_infos[i]), (infos[i], r_infos[i])
            assert infos[i]["TimeLimit.truncated"] == r_infos[i]["TimeLimit.truncated"]
            if dones[i]:
                episodes += 1
                truncations += infos[i]["TimeLimit.truncated"]
                np.testing.assert_array_equal(
                    infos[i]["terminal_observation"], r_infos[i]["terminal_observation"]
                )
                assert infos[i]["episode"]["r"] == r_infos[i]["episode"]["r"]
                assert infos[i]["episode"]["l"] == r_infos[i]["episode"]["l"]
                kept.append((infos[i], infos[i]["terminal_observation"].copy()))
                # New episodes start from different draws: resynchronise the reference.
                reference.envs[i].reset(seed=0)
                reference.envs[i].unwrapped.set_state(ours.env_method("get_state", indices=i)[0])
            else:
                np.testing.assert_array_equal(obs[i], r_obs[i])
    assert episodes > 30 and truncations > 3
    assert ours.env_is_wrapped(Monitor) == [True] * n
    # An info handed out is the caller's: later steps never write into it.
    for info, terminal in kept:
        np.testing.assert_array_equal(info["terminal_observation"], terminal)


def test_vec_monitor_on_top_does_not_double_count():
    ours = make_vec_env(ENV_ID, 4, seed=2)
    with pytest.warns(UserWarning, match="already wrapped with a `Monitor`"):
        monitored = VecMonitor(make_vec_env(ENV_ID, 4, seed=2))
    ours.reset()
    monitored.reset()
    seen = 0
    for _ in range(200):
        actions = np.zeros(4, dtype=np.int64)
        _, _, dones, infos = ours.step(actions)
        _, _, m_dones, m_infos = monitored.step(actions)
        for i in np.flatnonzero(dones):
            seen += 1
            assert m_infos[i]["episode"]["r"] == infos[i]["episode"]["r"]
            assert m_infos[i]["episode"]["l"] == infos[i]["episode"]["l"]
    assert seen > 10


def test_evaluate_policy_uses_episode_infos_without_a_monitor_warning():
    env = make_vec_env(ENV_ID, 4, seed=0)

    class AlwaysRight:
        def predict(self, observation, state=None, episode_start=None, deterministic=False):
            return np.ones(len(observation), dtype=np.int64), None

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rewards, lengths = evaluate_policy(
            AlwaysRight(), env, n_eval_episodes=8, return_episode_rewards=True
        )
    assert len(rewards) == 8 and rewards == [float(n) for n in lengths]
    assert min(lengths) >= 5 and max(lengths) < 60  # pushing right topples the pole quickly


def test_ppo_trains_and_logs_episode_returns():
    env = make_vec_env(ENV_ID, 4, seed=0)
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(256)
    assert len(model.ep_info_buffer) > 5
    assert all(ep["r"] == ep["l"] for ep in model.ep_info_buffer)


@pytest.mark.parametrize("algo", ["SAC", "TD3", "PPO"])
@pytest.mark.parametrize("env_id", ["Thrust/Pendulum-v1", "Thrust/MountainCarContinuous-v0"])
def test_continuous_action_algorithms_run(algo, env_id):
    import stable_baselines3

    env = make_vec_env(env_id, 2, seed=0)
    cls = getattr(stable_baselines3, algo)
    kwargs = {"n_steps": 32, "batch_size": 32} if algo == "PPO" else {"learning_starts": 32}
    model = cls("MlpPolicy", env, seed=0, device="cpu", **kwargs).learn(96)
    actions, _ = model.predict(env.reset(), deterministic=True)
    assert actions.shape == (2, 1) and np.all(np.abs(actions) <= env.action_space.high)


def test_vec_normalize_wraps_it():
    env = VecNormalize(make_vec_env(ENV_ID, 4, seed=0))
    env.reset()
    obs, *_ = env.step(np.zeros(4, dtype=np.int64))
    assert obs.shape == (4, 4)


def test_seed_makes_reset_reproducible():
    env = make_vec_env(ENV_ID, 3)
    assert env.seed(5) == [5, 6, 7]
    first = env.reset()
    env.seed(5)
    np.testing.assert_array_equal(env.reset(), first)
    assert not np.array_equal(env.reset(), first)  # seeds are used once
    other = make_vec_env(ENV_ID, 3, seed=5).reset()
    np.testing.assert_array_equal(other, first)


def test_attributes_methods_and_wrappers():
    env = make_vec_env(ENV_ID, 3, gravity=12.0, render_mode="rgb_array")
    env.reset()
    assert env.get_attr("gravity") == [12.0] * 3
    assert env.get_attr("render_mode", indices=[0]) == ["rgb_array"]
    env.set_attr("gravity", 9.0)
    assert env.params.gravity == 9.0
    with pytest.raises(ValueError, match="shared"):
        env.set_attr("gravity", 1.0, indices=[0])
    with pytest.raises(AttributeError, match="set_attr can set"):
        env.set_attr("nonsense", 1.0)
    with pytest.raises(AttributeError, match="no attribute"):
        env.get_attr("nonsense")
    states = env.env_method("get_state")
    assert len(states) == 3 and states[0].shape == (5,)
    assert env.env_is_wrapped(Monitor) == [True] * 3
    assert env.env_is_wrapped(gym.wrappers.TimeLimit) == [True] * 3
    assert env.env_is_wrapped(gym.wrappers.ClipAction) == [False] * 3
    image = env.render()
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
    assert env.get_images()[1].shape == (400, 600, 3)


def test_spec_is_the_one_gym_make_gives_and_makes_the_same_env():
    """As the spec of DummyVecEnv's envs: the parameters and time limit given, so that
    ``gym.make(spec)`` makes the same env."""
    kwargs = {"max_episode_steps": 5, "gravity": 12.0}
    ours = make_vec_env(ENV_ID, 2, env_kwargs=kwargs).get_attr("spec")[0]
    theirs = sb3_make_vec_env(ENV_ID, 2, env_kwargs=kwargs).get_attr("spec")[0]
    assert ours.id == theirs.id == ENV_ID
    assert ours.max_episode_steps == theirs.max_episode_steps == 5
    assert ours.kwargs == theirs.kwargs == {"gravity": 12.0, "render_mode": "rgb_array"}
    remade = gym.make(ours)
    assert remade.spec.max_episode_steps == 5 and remade.unwrapped.params.gravity == 12.0
    assert make_vec_env(ENV_ID, 2).get_attr("spec")[0].max_episode_steps == 500


def test_bad_actions_are_rejected_and_leave_the_state_alone():
    env = make_vec_env(ENV_ID, 4, seed=0)
    env.reset()
    before = env.get_state()
    for bad, match in [
        (np.zeros(3, dtype=np.int64), r"shape \(4,\)"),
        (np.zeros((4, 1), dtype=np.int64), r"shape \(4,\)"),
        (np.full(4, 0.5), "integers"),
        (np.array([0, 1, 2, 0]), "environment 2 is outside"),
        (np.array([0, -1, 0, 0]), "environment 1 is outside"),
    ]:
        with pytest.raises(InvalidAction, match=match):
            env.step(bad)
        np.testing.assert_array_equal(env.get_state(), before)
    env.step(np.array([0, 1, 1, 0], dtype=np.int32))  # any integer dtype is fine


def test_unknown_and_foreign_ids_are_rejected():
    with pytest.raises(
        ValueError, match=r"unknown environment 'Thrust/Nope-v0'.*Thrust/CartPole-v1"
    ):
        make_vec_env("Thrust/Nope-v0", 2)
    with pytest.raises(ValueError, match="not a Thrust environment"):
        make_vec_env("CartPole-v1", 2)
    with pytest.raises(TypeError, match=r"unknown keyword argument.*'gravty'"):
        make_vec_env(ENV_ID, 2, gravty=1.0)
    with pytest.raises(ValueError, match="num_envs must be a positive int"):
        make_vec_env(ENV_ID, 0)


def test_stepping_before_reset_or_after_close_fails_clearly():
    env = make_vec_env(ENV_ID, 2)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(2, dtype=np.int64))
    env.reset()
    env.close()
    with pytest.raises(RuntimeError, match="close"):
        env.step(np.zeros(2, dtype=np.int64))


def _steps(venv, n_steps=60, seed=3):
    """Observations, rewards and dones of ``n_steps`` seeded random steps of ``venv``."""
    space = venv.action_space
    space.seed(seed)
    out = [venv.reset()]
    for _ in range(n_steps):
        obs, rewards, dones, _ = venv.step(np.stack([space.sample() for _ in range(venv.num_envs)]))
        out += [obs, rewards, dones]
    return out


def test_sb3_make_vec_env_signature_builds_the_batch_vec_env():
    """SB3's own call shape (positional start_index, env_kwargs holding parameters and
    gym.make's max_episode_steps) gives the same VecEnv as Thrust's keyword arguments."""
    sb3_style = make_vec_env(ENV_ID, 4, 0, 0, env_kwargs={"gravity": 12.0, "max_episode_steps": 30})
    thrust_style = make_vec_env(ENV_ID, 4, seed=0, gravity=12.0, max_episode_steps=30)
    assert type(sb3_style).__name__ == "ThrustVecEnv"
    assert sb3_style.params == thrust_style.params and sb3_style.params.gravity == 12.0
    assert sb3_style.max_episode_steps == 30
    for ours, theirs in zip(_steps(sb3_style), _steps(thrust_style), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    # The same call is valid for SB3's make_vec_env, over single Thrust envs.
    reference = sb3_make_vec_env(
        ENV_ID, 4, 0, 0, env_kwargs={"gravity": 12.0, "max_episode_steps": 30}
    )
    assert reference.envs[0].unwrapped.params == sb3_style.params
    with pytest.raises(ValueError, match="both in env_kwargs and as a keyword"):
        make_vec_env(ENV_ID, 2, env_kwargs={"gravity": 12.0}, gravity=11.0)
    with pytest.raises(ValueError, match="wrapper_kwargs are arguments of wrapper_class"):
        make_vec_env(ENV_ID, 2, wrapper_kwargs={"min_reward": 0})
    with pytest.raises(ValueError, match="vec_env_kwargs are arguments of vec_env_cls"):
        make_vec_env(ENV_ID, 2, vec_env_kwargs={"start_method": "fork"})
    with pytest.raises(TypeError, match=r"unknown keyword argument.*'gravty'"):
        make_vec_env(ENV_ID, 2, env_kwargs={"gravty": 1.0})


def test_render_mode_and_action_space_seed_as_sb3_make_vec_env():
    """As SB3's make_vec_env: an env renders "rgb_array" unless told otherwise (so that
    VecVideoRecorder takes it), and ``seed`` seeds the action space with ``seed +
    start_index`` (an off-policy algorithm's warm-up samples are the same every run)."""
    from stable_baselines3.common.vec_env import VecVideoRecorder

    for env_kwargs, mode in [(None, "rgb_array"), ({"render_mode": None}, None)]:
        ours = make_vec_env(ENV_ID, 2, env_kwargs=env_kwargs)
        theirs = sb3_make_vec_env(ENV_ID, 2, env_kwargs=env_kwargs)
        assert ours.render_mode == theirs.render_mode == mode, env_kwargs
    assert make_vec_env(ENV_ID, 2, render_mode=None).render_mode is None  # Thrust's keyword
    # the default is a plain str (no sentinel type in specs and pickles)
    assert type(make_vec_env(ENV_ID, 2).get_attr("spec")[0].kwargs["render_mode"]) is str
    with pytest.raises(ValueError, match="'render_mode' is given both"):
        make_vec_env(ENV_ID, 2, render_mode=None, env_kwargs={"render_mode": "rgb_array"})
    assert make_vec_env("Thrust/Pong-v0", 2).render_mode is None  # a game has no frames
    recorder = VecVideoRecorder(make_vec_env(ENV_ID, 2), "unused", lambda step: False, 5)
    recorder.reset()
    assert recorder.render().ndim == 3
    for seed, start_index in [(3, 0), (3, 2), (11, 0)]:
        ours = make_vec_env(ENV_ID, 2, seed=seed, start_index=start_index)
        theirs = sb3_make_vec_env(ENV_ID, 2, seed=seed, start_index=start_index)
        samples = [[int(venv.action_space.sample()) for _ in range(32)] for venv in (ours, theirs)]
        assert samples[0] == samples[1], (seed, start_index)
    pong = [make_vec_env("Thrust/Pong-v0", 2, seed=5).action_space.sample() for _ in range(2)]
    assert pong[0] == pong[1]


def test_set_options_are_the_next_resets_only_as_in_dummy_vec_env():
    """SB3's set_options: options for the next reset; an env that finishes later resets
    without them (DummyVecEnv), not, as Gymnasium's vector CartPole keeps them, with them."""
    for venv in (make_vec_env(ENV_ID, 4, seed=0), sb3_make_vec_env(ENV_ID, 4, seed=0)):
        first, later = first_observations_after_set_options(venv)
        assert np.abs(first).max() <= 0.001 and len(later) > 20
        assert np.abs(later).max() > 0.01, type(venv).__name__  # the default +-0.05
    vector = gym.make_vec(ENV_ID, num_envs=4, vectorization_mode="vector_entry_point")
    vector.reset(seed=0, options={"low": -0.001, "high": 0.001})
    ended, restarts = np.zeros(4, dtype=bool), 0
    for _ in range(300):
        obs, _, terminated, truncated, _ = vector.step(np.ones(4, dtype=np.int64))
        assert np.abs(obs[ended]).max(initial=0) <= 0.001  # NextStep: reset the step after
        restarts += ended.sum()
        ended = terminated | truncated
    assert restarts > 20


def test_wrapper_class_falls_back_to_sb3_make_vec_env_with_a_warning():
    """A Gymnasium wrapper needs a gymnasium.Env per row: SB3's make_vec_env over gym.make
    Thrust envs, identical to calling SB3's own with the same arguments."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    kwargs = {
        "wrapper_class": gym.wrappers.ClipReward,
        "wrapper_kwargs": {"max_reward": 0.5},
        "env_kwargs": {"max_episode_steps": 20},
    }
    with pytest.warns(UserWarning, match="wrapper_class=ClipReward wraps each env"):
        ours = make_vec_env(ENV_ID, 3, seed=0, **kwargs)
    reference = sb3_make_vec_env(ENV_ID, 3, seed=0, **kwargs)
    assert isinstance(ours, DummyVecEnv)
    assert isinstance(ours.envs[0], gym.wrappers.ClipReward)
    steps = _steps(ours)
    assert max(r.max() for r in steps[2::3]) == 0.5  # the wrapper ran
    for a, b in zip(steps, _steps(reference), strict=True):
        np.testing.assert_array_equal(a, b)


def test_vec_env_cls_and_monitor_dir_fall_back_and_write_monitor_files(tmp_path):
    from stable_baselines3.common.vec_env import DummyVecEnv

    with pytest.warns(UserWarning, match="monitor_dir asks for Monitor files"):
        venv = make_vec_env(
            ENV_ID, 2, seed=0, start_index=3, monitor_dir=str(tmp_path), vec_env_cls=DummyVecEnv
        )
    _steps(venv, n_steps=40)
    venv.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["3.monitor.csv", "4.monitor.csv"]
    with pytest.warns(UserWarning, match="monitor_kwargs configure SB3's Monitor"):
        make_vec_env(ENV_ID, 2, monitor_kwargs={"info_keywords": ()})
    with pytest.raises(ValueError, match=r"multi-agent game.*wrapper_class"):
        make_vec_env("Thrust/Pong-v0", 2, wrapper_class=gym.wrappers.ClipReward)


def test_monitor_rounded_is_pythons_round_bit_for_bit():
    """The finished-episode ``"r"``, rounded in one numba pass, equals ``round(r, 6)`` (SB3
    Monitor's) for ordinary returns and for the ones that sit on a rounding boundary, signed
    zeros included."""
    from thrust_envs.sb3.base import monitor_rounded

    rng = np.random.default_rng(0)
    k = rng.integers(-(10**9), 10**9, 20000)
    values = np.concatenate(
        [
            rng.normal(0.0, 100.0, 20000),
            rng.integers(-500, 500, 2000) * 0.1,  # sums of decimal rewards
            (k + 0.5) / 1e6,  # halfway between two 6-decimal values (as doubles)
            np.nextafter((k + 0.5) / 1e6, np.inf),
            np.nextafter((k + 0.5) / 1e6, -np.inf),
            [0.0, -0.0, 1e300, -1e300, 5e9, np.inf, -np.inf, 2.5e-7, 1.5e-6],
        ]
    )
    got = monitor_rounded(values)
    expected = [round(float(v), 6) for v in values]
    assert len(got) == len(expected)
    mismatches = [(v, g, e) for v, g, e in zip(values, got, expected, strict=True) if g != e]
    assert not mismatches, mismatches[:5]
    nan = monitor_rounded(np.array([np.nan]))[0]
    assert nan != nan
    few = values[:5]
    assert monitor_rounded(few) == [round(float(v), 6) for v in few]
    signs = [np.copysign(1.0, r) for r in monitor_rounded(np.array([-0.0, -4e-7, 0.0, 4e-7]))]
    assert signs == [np.copysign(1.0, round(v, 6)) for v in (-0.0, -4e-7, 0.0, 4e-7)]
    assert monitor_rounded(np.zeros(0)) == []


def _game_views(n_games: int = 2) -> list:
    """The CPU game views: parameter sharing, and one learner against a scripted opponent."""
    from thrust_envs import vs_opponent

    return [
        make_vec_env("Thrust/Pong-v0", n_envs=n_games),
        vs_opponent("Thrust/Pong-v0", lambda obs: np.zeros(len(obs), np.int64), n_games),
    ]


def test_step_wait_takes_one_step_async_and_nothing_after_close():
    """Every CPU view: step_wait needs its own step_async (a step that raised is not stepped
    again), and after close neither steps."""
    for venv in [make_vec_env("Thrust/CartPole-v1", n_envs=3), *_game_views()]:
        venv.reset()
        with pytest.raises(RuntimeError, match="step_wait\\(\\) called without step_async"):
            venv.step_wait()
        venv.step_async(np.zeros(venv.num_envs, dtype=np.int64))
        venv.step_wait()
        with pytest.raises(RuntimeError, match="step_wait\\(\\) called without step_async"):
            venv.step_wait()  # the same actions are not stepped twice
        venv.step_async(np.zeros(venv.num_envs, dtype=np.int64))
        venv.close()
        with pytest.raises(RuntimeError, match="step_wait\\(\\) called after close"):
            venv.step_wait()


def test_set_options_and_seed_are_checked_and_a_refused_reset_changes_nothing():
    venv = make_vec_env("Thrust/CartPole-v1", n_envs=3)
    with pytest.raises(ValueError, match="reset_mask is not an SB3 reset option"):
        venv.set_options({"reset_mask": np.array([True, False, True])})
    with pytest.raises(TypeError, match="set_options takes a dict or a list of dicts"):
        venv.set_options([{"low": -0.01}, 3, {}])
    for bad in (-1, 2**64 - 2, 1.5, True):  # row i gets seed + i: 2**64 - 2 + 2 overflows
        with pytest.raises(ValueError, match="seed must be None or an int in \\[0, 2\\*\\*64"):
            venv.seed(bad)
    venv.seed(2**64 - 3)  # the largest seed of 3 rows
    venv.reset()

    def run(refuse: bool) -> np.ndarray:
        env = make_vec_env("Thrust/CartPole-v1", n_envs=3, seed=5)
        env.reset()
        if refuse:  # a reseed and per-env options that disagree: refused, nothing changes
            env.seed(123)
            env.set_options([{"low": -0.01}, {"low": -0.02}, {"low": -0.01}])
            with pytest.raises(ValueError, match="the same for every environment"):
                env.reset()
        frames = [env.step(np.ones(3, dtype=np.int64))[0] for _ in range(60)]
        return np.stack(frames)

    np.testing.assert_array_equal(run(refuse=True), run(refuse=False))


def test_game_seeds_are_checked_as_the_envs_are():
    from thrust_envs.core.games import BatchGame
    from thrust_envs.registration import game_lookup

    definition = game_lookup("Thrust/Pong-v0")
    game = BatchGame(definition, 3, definition.params_type(), autoreset=True, num_threads=1)
    streams = game.rng.copy()
    refusals = (
        (2**64 - 2, "seed \\+ num_envs must be <= 2\\*\\*64"),
        ([1, 2], "expected 3 seeds"),
        ([1, "a", 2], "seed"),
        (-1, "seed"),
    )
    for bad, words in refusals:
        with pytest.raises(ValueError, match=words):
            game.seed(bad)
        np.testing.assert_array_equal(game.rng, streams)  # refused: the streams as they were
    game.seed([4, None, 6])  # None: that game from entropy, as the envs take it
    seeded = game.rng.copy()
    game.seed([4, 9, 6])
    assert seeded[0] == game.rng[0] and seeded[2] == game.rng[2]
    view = _game_views(3)[0]
    with pytest.raises(ValueError, match="seed must be None or an int"):
        view.seed(2**64 - 1)


def test_game_views_refuse_reset_options_before_anything_changes():
    for venv in _game_views():
        venv.seed(3)
        venv.set_options({"low": -0.1})
        with pytest.raises(ValueError, match="a game has no reset options"):
            venv.reset()
        venv.set_options(None)
        first = venv.reset()  # the seed given before the refusal is still the next reset's
        venv.seed(3)
        np.testing.assert_array_equal(venv.reset(), first)
