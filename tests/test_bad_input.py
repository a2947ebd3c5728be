"""Bad input gets a clear error naming the env and what was expected; state stays intact."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ClosedEnvironmentError, ResetNeeded

import thrust_envs
from thrust_envs import InvalidAction, ParamError

ENV_ID = "Thrust/CartPole-v1"


@pytest.mark.parametrize(
    ("action", "match"),
    [
        (2, r"action 2 is outside Discrete\(2\)"),
        (-1, "outside"),
        (0.5, "integer action"),
        (True, "integer action"),
        ("1", "integer action"),
        (np.array([1]), r"shape \(1,\)"),
        (np.array(1.0), "dtype float64"),
        (None, "integer action"),
    ],
)
def test_single_env_rejects_bad_actions_without_changing_state(action, match):
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    before = env.unwrapped.get_state()
    with pytest.raises(InvalidAction, match=match) as error:
        env.unwrapped.step(action)
    assert ENV_ID in str(error.value)
    np.testing.assert_array_equal(env.unwrapped.get_state(), before)
    env.unwrapped.step(np.int64(1))  # still usable
    env.unwrapped.step(np.array(0))


def test_invalid_action_is_a_value_error():
    assert issubclass(InvalidAction, ValueError)


def test_step_before_reset_and_after_close():
    env = gym.make(ENV_ID).unwrapped
    with pytest.raises(ResetNeeded, match="reset"):
        env.step(0)
    env.reset(seed=0)
    env.close()
    with pytest.raises(ClosedEnvironmentError):
        env.step(0)
    with pytest.raises(ClosedEnvironmentError):
        env.reset()
    vec = gym.make_vec(ENV_ID, num_envs=2)
    with pytest.raises(ResetNeeded):
        vec.step(np.zeros(2, dtype=np.int64))
    vec.reset(seed=0)
    vec.close()
    with pytest.raises(ClosedEnvironmentError):
        vec.step(np.zeros(2, dtype=np.int64))


@pytest.mark.parametrize(
    ("actions", "match"),
    [
        (np.zeros(3, dtype=np.int64), r"expected actions of shape \(4,\)"),
        (np.zeros((4, 2), dtype=np.int64), r"shape \(4, 2\)"),
        (np.zeros(4), "must be integers, got dtype float64"),
        (np.array(["a"] * 4), "must be integers"),
        (np.array([0, 0, 0, 9]), "action 9 of environment 3 is outside"),
        ([0, 1], r"shape \(2,\)"),
    ],
)
def test_vector_env_rejects_bad_actions_without_changing_state(actions, match):
    vec = gym.make_vec(ENV_ID, num_envs=4)
    vec.reset(seed=0)
    before = vec.unwrapped.get_state()
    with pytest.raises(InvalidAction, match=match):
        vec.step(actions)
    np.testing.assert_array_equal(vec.unwrapped.get_state(), before)
    vec.step([0, 1, 0, 1])


def test_unknown_env_kwargs_name_the_env_and_the_valid_ones():
    with pytest.raises(TypeError, match=r"CartPole: unknown keyword argument\(s\) 'foo'.*gravity"):
        gym.make(ENV_ID, foo=1)
    with pytest.raises(TypeError, match="'foo'"):
        gym.make_vec(ENV_ID, num_envs=2, foo=1)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"gravity": "strong"}, TypeError, "'gravity' must be a float"),
        ({"gravity": float("nan")}, ValueError, "must be finite"),
        ({"sutton_barto_reward": 1}, TypeError, "must be a bool"),
        ({"masscart": -1.0}, ParamError, r"'masscart' must be in \[1e-06, 100\], got -1.0"),
        # tiny positive values the kernels' arithmetic cannot carry (5e-324 squared is 0)
        ({"tau": 5e-324}, ParamError, r"'tau' must be in \[1e-06, 0.1\], got 5e-324"),
        ({"gravity": 1e308}, ParamError, r"'gravity' must be in \[-100, 100\], got 1e\+308"),
        ({"gravity": -1e308}, ParamError, "'gravity' must be in"),
        ({"reset_low": 0.1, "reset_high": 0.0}, ParamError, "reset_low"),
    ],
)
def test_bad_parameter_values(kwargs, error, match):
    with pytest.raises(error, match=match):
        gym.make(ENV_ID, **kwargs)


def test_bad_vector_arguments():
    with pytest.raises(ValueError, match="num_envs must be a positive int"):
        gym.make_vec(ENV_ID, num_envs=0)
    with pytest.raises(ValueError, match="autoreset_mode must be one of"):
        gym.make_vec(ENV_ID, num_envs=2, autoreset_mode="sometimes")
    with pytest.raises(ValueError, match="num_threads must be an int"):
        gym.make_vec(ENV_ID, num_envs=2, num_threads=10_000)
    with pytest.raises(ValueError, match=r"max_episode_steps must be None or an int in \[1"):
        gym.make_vec(ENV_ID, num_envs=2, max_episode_steps=0)
    with pytest.raises(ValueError, match="render_mode"):
        gym.make_vec(ENV_ID, num_envs=2, render_mode="human")
    vec = gym.make_vec(ENV_ID, num_envs=2)
    with pytest.raises(ValueError, match="reset_mask"):
        vec.reset(options={"reset_mask": np.ones(3, dtype=bool)})
    with pytest.raises(ValueError, match="expected 2 seeds"):
        vec.reset(seed=[1, 2, 3])
    with pytest.raises(ValueError, match=r"seed must be None or an int in \[0, 2\*\*64\)"):
        vec.reset(seed=-1)


def test_bad_states_are_rejected():
    env = gym.make(ENV_ID).unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(5,\)"):
        env.set_state(np.zeros(4))
    with pytest.raises(ValueError, match="finite"):
        env.set_state(np.array([np.nan, 0, 0, 0, 0]))


def test_render_mode_is_checked():
    with pytest.raises(ValueError, match="render_mode must be one of"):
        gym.make(ENV_ID, render_mode="ansi")
    # "human" is Gymnasium's HumanRendering wrapper over our rgb_array frames (needs pygame).
    human = gym.make(ENV_ID, render_mode="human")
    assert type(human).__name__ == "HumanRendering"


def test_unknown_ids_list_the_thrust_ids():
    assert "Thrust/CartPole-v1" in thrust_envs.known_ids()
    with pytest.raises(gym.error.Error):
        gym.make("Thrust/NoSuchEnv-v0")


# -- reset options, seeds and sizes (issue 20 items 2 and 9) -----------------------------------

LOW_HIGH_IDS = [
    "Thrust/CartPole-v1",
    "Thrust/MountainCar-v0",
    "Thrust/MountainCarContinuous-v0",
    "Thrust/Acrobot-v1",
]


@pytest.mark.parametrize("env_id", LOW_HIGH_IDS)
@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"low": float("nan")}, "reset option 'low' must be finite, got nan"),
        ({"high": float("inf")}, "reset option 'high' must be finite"),
        ({"low": "a"}, "reset option 'low' must be a real number"),
        ({"low": np.array([0.01])}, "reset option 'low' must be a real number"),
        ({"low": 0.01, "high": -0.01}, r"low <= high \(reset_low <= reset_high\)"),
    ],
)
def test_bad_low_high_reset_options_are_rejected_single_and_vector(env_id, options, match):
    env = gym.make(env_id).unwrapped
    env.reset(seed=0)
    before = env.get_state()
    with pytest.raises(ParamError, match=match) as error:
        env.reset(seed=1, options=options)
    assert env_id in str(error.value)
    np.testing.assert_array_equal(env.get_state(), before)
    vec = gym.make_vec(env_id, num_envs=3)
    vec.reset(seed=0)
    state, rng = vec.unwrapped.get_state(), vec.unwrapped._batch.rng.copy()
    with pytest.raises(ParamError, match=match):
        vec.reset(seed=7, options=options)
    # Validated before any side effect: neither the rows nor their random streams changed.
    np.testing.assert_array_equal(vec.unwrapped.get_state(), state)
    np.testing.assert_array_equal(vec.unwrapped._batch.rng, rng)


@pytest.mark.parametrize("env_id", LOW_HIGH_IDS)
def test_zero_d_array_reset_options_are_numbers_as_in_gymnasium(env_id):
    """Gymnasium takes an option through float(x), so a 0-d array is a number there too."""
    env, twin = gym.make(env_id), gym.make(env_id)
    obs, _ = env.reset(seed=3, options={"low": np.array(-0.01), "high": np.float32(0.01)})
    expected, _ = twin.reset(seed=3, options={"low": -0.01, "high": float(np.float32(0.01))})
    np.testing.assert_array_equal(obs, expected)


@pytest.mark.parametrize(
    ("env_id", "kwargs", "match"),
    [
        ("Thrust/MountainCar-v0", {"min_position": 1.0, "max_position": 0.0}, "min_position"),
        ("Thrust/MountainCarContinuous-v0", {"min_action": 1.0, "max_action": -1.0}, "min_action"),
        ("Thrust/Pendulum-v1", {"max_torque": -2.0}, "'max_torque' must be in"),
    ],
)
def test_inverted_bounds_name_the_parameter(env_id, kwargs, match):
    # Once a Box's "high - low < 0", naming no parameter.
    with pytest.raises(ParamError, match=match):
        gym.make(env_id, **kwargs)


def test_reset_bounds_outside_the_space_are_rejected():
    with pytest.raises(ParamError, match=r"reset_low and reset_high must lie in \[-0.2"):
        gym.make("Thrust/CartPole-v1").reset(options={"low": -1.0, "high": 1.0})
    with pytest.raises(ParamError, match="min_position <= reset_low"):
        gym.make("Thrust/MountainCar-v0").reset(options={"low": -5.0})


@pytest.mark.parametrize("x_init", [float("nan"), float("inf"), -1.0])
def test_pendulum_bad_x_init_is_rejected(x_init):
    env = gym.make("Thrust/Pendulum-v1")
    with pytest.raises(ParamError, match="reset option 'x_init'"):
        env.reset(seed=0, options={"x_init": x_init})
    vec = gym.make_vec("Thrust/Pendulum-v1", num_envs=2)
    with pytest.raises(ParamError, match="reset option 'x_init'"):
        vec.reset(seed=0, options={"x_init": x_init})


def test_pendulum_constructor_rejects_a_negative_reset_x():
    with pytest.raises(ParamError, match=r"'reset_x' must be in \[0, 1000\], got -1.0"):
        gym.make("Thrust/Pendulum-v1", reset_x=-1.0)
    with pytest.raises(ParamError, match="reset_y"):
        gym.make("Thrust/Pendulum-v1", reset_y=9.0)  # beyond max_speed=8


@pytest.mark.parametrize("env_id", ["Thrust/CartPole-v1", "Thrust/Acrobot-v1"])
def test_cartpole_and_acrobot_reject_meaningless_physics(env_id):
    kwargs = {"Thrust/CartPole-v1": {"tau": 0.09, "force_mag": 1000.0}}.get(env_id, {"dt": 50.0})
    with pytest.raises(ParamError, match=r"tau|'dt'"):
        gym.make(env_id, **kwargs)


@pytest.mark.parametrize(
    "make",
    [
        lambda: gym.make_vec(ENV_ID, num_envs=2, max_episode_steps=10**20),
        lambda: thrust_envs.make_parallel("Thrust/Pong-v0", max_steps=10**20),
        lambda: gym.make(ENV_ID, x_threshold=10**400),
    ],
)
def test_integers_beyond_int64_are_rejected_at_construction(make):
    with pytest.raises(ValueError, match=r"2\*\*63|finite|must be in"):
        make()


@pytest.mark.parametrize("seed", [1.5, "5", True, -1, 2**64, [1.5, 2.0]])
def test_bad_seeds_give_a_clear_error(seed):
    vec = gym.make_vec(ENV_ID, num_envs=2)
    with pytest.raises(ValueError, match="seed"):
        vec.reset(seed=seed)
    game = thrust_envs.make_parallel("Thrust/Pong-v0")
    if not isinstance(seed, list):
        with pytest.raises(ValueError, match=r"seed must be None or an int"):
            game.reset(seed=seed)


def _views_of_uint64_actions():
    """(name, view after reset, a uint64 action batch with one value beyond int64, state())."""
    from thrust_envs.sb3 import make_vec_env

    vector = gym.make_vec(ENV_ID, num_envs=2)
    vector.reset(seed=0)
    yield "gymnasium.make_vec", vector.step, 2, lambda: vector.unwrapped._batch.state.copy()
    venv = make_vec_env(ENV_ID, 2, seed=0)
    venv.reset()
    yield "make_vec_env", venv.step, 2, lambda: venv.env_method("get_state")
    staged = make_vec_env(ENV_ID, 4, seed=0)
    staged.reset()
    outs = (np.zeros((2, 4), np.float32), np.zeros(2, np.float32), np.zeros(2, bool))
    yield (
        "step_into rows",
        lambda actions: staged.step_into(actions, *outs, rows=slice(1, 3)),
        2,
        lambda: staged.env_method("get_state"),
    )
    shared = make_vec_env("Thrust/Pong-v0", 1, seed=0)
    shared.reset()
    yield "shared game", shared.step, 2, lambda: shared._game.state.copy()
    learner = thrust_envs.vs_opponent("Thrust/Pong-v0", lambda obs: np.zeros(len(obs), int), 2)
    learner.reset()
    yield "vs_opponent", learner.step, 2, lambda: learner._game.state.copy()


def test_uint64_actions_beyond_int64_are_refused_as_given():
    """Copied into the kernels' int64 actions, 2**64 - 1 would read -1: the error named a
    value never given. Every batch view refuses it as given, changing nothing."""
    for name, step, rows, state in _views_of_uint64_actions():
        before = np.asarray(state())
        actions = np.zeros(rows, dtype=np.uint64)
        actions[1] = 2**64 - 1
        with pytest.raises(InvalidAction, match=r"action 18446744073709551615 \(element 1 "):
            step(actions)
        np.testing.assert_array_equal(np.asarray(state()), before, err_msg=name)
        step(np.zeros(rows, dtype=np.uint64))  # uint64 within range is fine


def test_an_opponents_uint64_actions_beyond_int64_are_refused_as_given():
    venv = thrust_envs.vs_opponent(
        "Thrust/Pong-v0", lambda obs: np.full(len(obs), 2**64 - 1, dtype=np.uint64), 2
    )
    venv.reset()
    with pytest.raises(InvalidAction, match=r"the opponent: action 18446744073709551615"):
        venv.step(np.zeros(2, dtype=np.int64))


def test_step_into_rows_checks_actions_as_a_whole_step_does():
    """The staged rollout's ``step_into(..., rows=)`` loads its rows' actions through the same
    check as ``step``: Discrete actions must be integers (floats and bools were truncated)."""
    from thrust_envs.sb3 import make_vec_env

    venv = make_vec_env(ENV_ID, 4, seed=0)
    venv.reset()
    outs = (np.zeros((2, 4), np.float32), np.zeros(2, np.float32), np.zeros(2, bool))
    before = np.asarray(venv.env_method("get_state"))
    for actions, match in [
        (np.array([0.7, 1.9]), "must be integers, got dtype float64"),
        (np.array([True, False]), "must be integers, got dtype bool"),
        (np.array([0, 1, 1]), r"expected actions of shape \(2,\) for rows 0:2"),
        (np.array([0, 2]), r"action 2 of environment 1 is outside the action space Discrete\(2\)"),
    ]:
        with pytest.raises(InvalidAction, match=match):
            venv.step_into(actions, *outs, rows=slice(0, 2))
        np.testing.assert_array_equal(np.asarray(venv.env_method("get_state")), before)
    venv.step_into(np.array([0, 1]), *outs, rows=slice(0, 2))


def test_float64_box_actions_beyond_float32_are_clipped_as_the_reference_clips():
    """A finite float64 action beyond float32's range is as far outside the bounds: every view
    clips it to them as Gymnasium's Pendulum does (the cast to float32 made it inf, refused
    as not finite, naming a value never given); a non-finite action is still refused, an inf
    beside a huge finite one too. numpy warns of the cast's overflow."""
    from thrust_envs.sb3 import make_vec_env

    huge = np.array([[1e39], [-1e300]])
    bounds = np.array([[2.0], [-2.0]], np.float32)
    for make in (
        lambda: gym.make_vec("Thrust/Pendulum-v1", num_envs=2),
        lambda: make_vec_env("Thrust/Pendulum-v1", 2),
    ):
        got, expected = make(), make()
        for env in (got, expected):
            if hasattr(env, "step_async"):
                env.seed(0)
                env.reset()
            else:
                env.reset(seed=0)
        with pytest.warns(RuntimeWarning, match="overflow encountered in cast"):
            stepped = got.step(huge)[0]
        np.testing.assert_array_equal(stepped, expected.step(bounds)[0])
        with pytest.raises(InvalidAction, match=r"action \[inf\] of environment 1"):
            got.step(np.array([[0.0], [np.inf]]))
        with (
            pytest.warns(RuntimeWarning, match="overflow"),
            pytest.raises(InvalidAction, match=r"action \[inf\] of environment 1"),
        ):
            got.step(np.array([[1e39], [np.inf]]))
    single, reference = gym.make("Thrust/Pendulum-v1"), gym.make("Pendulum-v1")
    single.reset(seed=0), reference.reset(seed=0)
    with pytest.warns(RuntimeWarning, match="overflow"):
        stepped = single.step(np.array([1e39]))[0]
    np.testing.assert_allclose(stepped, reference.step(np.array([1e39]))[0], atol=1e-6)
    with pytest.raises(InvalidAction, match="not finite"):
        single.step(np.array([np.inf]))


def _step_ragged(view: str):
    from thrust_envs.sb3 import make_vec_env

    ragged = [[0.1], [0.2, 0.3]]
    if view == "single":
        env = gym.make("Thrust/Pendulum-v1")
        env.reset(seed=0)
        return env.unwrapped.step, ragged, r"an action of shape \(1,\)"
    if view == "vector":
        vector = gym.make_vec("Thrust/Pendulum-v1", 2)
        vector.reset(seed=0)
        return vector.step, ragged, r"actions of shape \(2, 1\)"
    if view == "sb3":
        venv = make_vec_env("Thrust/Pendulum-v1", 2)
        venv.reset()
        return venv.step, ragged, r"actions of shape \(2, 1\)"
    if view == "shared game":
        venv = make_vec_env("Thrust/Pong-v0", 2)
        venv.reset()
        return venv.step, [[1], [0, 1], [0], [1]], r"integer actions of shape \(4,\)"
    game = thrust_envs.make_parallel("Thrust/Pong-v0")
    game.reset(seed=0)
    return (
        lambda actions: game.step({agent: actions for agent in game.agents}),
        [[1], [0, 1]],
        "the action of agent 'player_0' to be an integer",
    )


@pytest.mark.parametrize("view", ["single", "vector", "sb3", "shared game", "parallel"])
def test_ragged_actions_are_invalid_actions_naming_the_env_and_the_shape(view):
    """numpy's own error for a ragged list ("setting an array element with a sequence") named
    neither the env nor what it expects."""
    step, ragged, expected = _step_ragged(view)
    with pytest.raises(InvalidAction, match=rf"^Thrust/\w+-v\d: expected {expected}, got \["):
        step(ragged)
