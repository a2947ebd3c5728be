"""Every classic-control env against Gymnasium's reference of the same name."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from env_ids import REFERENCES as PAIRS
from gymnasium.utils.env_checker import check_env as gym_check_env
from gymnasium.utils.env_match import check_environments_match

import thrust_envs

RESET_OPTIONS = {
    "Thrust/CartPole-v1": {"low": -0.2, "high": 0.2},
    "Thrust/Pendulum-v1": {"x_init": 1.0, "y_init": 0.5},
    "Thrust/MountainCar-v0": {"low": -0.7, "high": -0.3},
    "Thrust/MountainCarContinuous-v0": {"low": -0.7, "high": -0.3},
    "Thrust/Acrobot-v1": {"low": -0.3, "high": 0.3},
}


def _action(space, rng):
    """A random action; for Box spaces one in four lies outside the bounds (clipping)."""
    if isinstance(space, gym.spaces.Discrete):
        return int(rng.integers(space.n))
    scale = 3.0 if rng.random() < 0.25 else 1.0
    return (rng.uniform(space.low, space.high) * scale).astype(space.dtype)


def assert_bitwise_parity(thrust, reference, seed, steps, options=None):
    """Exact equality of observations, reward types and values, flags and infos, through
    many episodes with unseeded resets that continue the seeded stream."""
    rng = np.random.default_rng(seed)
    obs_a, info_a = thrust.reset(seed=seed, options=options)
    obs_b, info_b = reference.reset(seed=seed, options=options)
    np.testing.assert_array_equal(obs_a, obs_b)
    assert obs_a.dtype == obs_b.dtype and info_a == info_b
    episodes = 0
    for step in range(steps):
        action = _action(thrust.action_space, rng)
        a = thrust.step(action)
        b = reference.step(action)
        np.testing.assert_array_equal(a[0], b[0], err_msg=f"step {step}")
        assert type(a[1]) is type(b[1]) and a[1] == b[1], (step, a[1], b[1])
        assert a[2:] == b[2:], (step, a[2:], b[2:])
        if a[2] or a[3]:
            episodes += 1
            obs_a, _ = thrust.reset(options=options)
            obs_b, _ = reference.reset(options=options)
            np.testing.assert_array_equal(obs_a, obs_b)
    return episodes


@pytest.mark.parametrize("env_id", list(PAIRS))
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_bitwise_parity_over_thousands_of_steps(env_id, seed):
    episodes = assert_bitwise_parity(gym.make(env_id), gym.make(PAIRS[env_id]), seed, 2500)
    assert episodes >= 1


@pytest.mark.parametrize("env_id", list(PAIRS))
def test_bitwise_parity_with_reset_options(env_id):
    options = RESET_OPTIONS[env_id]
    assert_bitwise_parity(gym.make(env_id), gym.make(PAIRS[env_id]), 11, 1500, options)


# Every physical parameter away from its default (the reset bounds stay: the references take
# them as reset options). Acrobot's gravity stays too: Gymnasium's has g = 9.8 in its dynamics.
OTHER_PARAMS = {
    "Thrust/CartPole-v1": dict(
        gravity=12.0, masscart=1.3, masspole=0.2, length=0.7, force_mag=8.0, tau=0.03,
        theta_threshold_radians=0.3, x_threshold=2.0,
    ),
    "Thrust/Pendulum-v1": dict(g=9.0, m=1.2, l=0.8, dt=0.04, max_speed=3.0, max_torque=1.5),
    "Thrust/MountainCar-v0": dict(
        min_position=-1.1, max_position=0.55, max_speed=0.05, goal_position=0.45,
        goal_velocity=0.01, force=0.0012, gravity=0.002,
    ),
    "Thrust/MountainCarContinuous-v0": dict(
        min_action=-0.8, max_action=0.9, min_position=-1.1, max_position=0.55, max_speed=0.05,
        goal_position=0.4, goal_velocity=0.01, power=0.002,
    ),
    "Thrust/Acrobot-v1": dict(
        dt=0.15, link_length_1=1.1, link_length_2=0.9, link_mass_1=1.2, link_mass_2=0.8,
        link_com_pos_1=0.45, link_com_pos_2=0.4, link_moi=1.1, max_vel_1=10.0, max_vel_2=25.0,
    ),
}  # fmt: skip


@pytest.mark.parametrize("env_id", list(PAIRS))
def test_bitwise_parity_with_other_parameters(env_id):
    """Each parameter is the reference's attribute of that name (Acrobot's in capitals):
    the reference with those attributes set steps as the env made with the parameters."""
    params = OTHER_PARAMS[env_id]
    thrust = gym.make(env_id, **params)
    reference = gym.make(PAIRS[env_id])
    for name in type(thrust.unwrapped).definition.reference_attributes:  # derived ones too
        setattr(reference.unwrapped, name, getattr(thrust.unwrapped, name))
    for name, value in params.items():
        attribute = name if env_id != "Thrust/Acrobot-v1" or name == "dt" else name.upper()
        assert getattr(reference.unwrapped, attribute) == value, name
    assert_bitwise_parity(thrust, reference, 3, 1500)


@pytest.mark.parametrize("env_id", list(PAIRS))
@pytest.mark.parametrize("seed", [0, 5, 77])
def test_gymnasium_check_environments_match(env_id, seed):
    check_environments_match(gym.make(env_id), gym.make(PAIRS[env_id]), num_steps=2000, seed=seed)


@pytest.mark.parametrize("env_id", list(PAIRS))
def test_registration_matches_reference(env_id):
    ours, theirs = gym.spec(env_id), gym.spec(PAIRS[env_id])
    assert ours.max_episode_steps == theirs.max_episode_steps
    assert ours.reward_threshold == theirs.reward_threshold
    a, b = gym.make(env_id), gym.make(PAIRS[env_id])
    assert a.observation_space == b.observation_space and a.action_space == b.action_space


@pytest.mark.parametrize("env_id", list(PAIRS))
def test_time_limit_truncation_matches_reference(env_id):
    a, b = gym.make(env_id, max_episode_steps=40), gym.make(PAIRS[env_id], max_episode_steps=40)
    assert_bitwise_parity(a, b, 4, 400)


@pytest.mark.parametrize("env_id", list(PAIRS))
def test_gymnasium_and_sb3_check_env_pass(env_id):
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    gym_check_env(gym.make(env_id, render_mode="rgb_array").unwrapped)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sb3_check_env(gym.make(env_id), warn=True)
    messages = [str(w.message) for w in caught]
    # SB3 advises symmetric, normalised Box actions; the references' spaces are not always so.
    assert not [m for m in messages if "symmetric and normalized" not in m], messages


@pytest.mark.parametrize("env_id", list(PAIRS))
def test_render_draws_a_picture_that_follows_the_state(env_id):
    env = gym.make(env_id, render_mode="rgb_array")
    env.reset(seed=0)
    first = env.render()
    assert first.dtype == np.uint8 and first.ndim == 3 and first.shape[2] == 3
    assert len(np.unique(first.reshape(-1, 3), axis=0)) > 2
    rng = np.random.default_rng(0)
    for _ in range(15):
        env.step(_action(env.action_space, rng))
    assert not np.array_equal(env.render(), first)


@pytest.mark.parametrize(
    ("env_id", "bad", "match"),
    [
        ("Thrust/Pendulum-v1", np.array([np.nan], dtype=np.float32), "not finite"),
        ("Thrust/Pendulum-v1", np.zeros(2, dtype=np.float32), r"shape \(1,\)"),
        ("Thrust/Pendulum-v1", np.array(["x"]), "dtype"),
        ("Thrust/MountainCarContinuous-v0", np.array([np.inf], dtype=np.float32), "not finite"),
        ("Thrust/MountainCar-v0", 3, "outside Discrete"),
        ("Thrust/Acrobot-v1", -1, "outside Discrete"),
    ],
)
def test_bad_actions_are_rejected(env_id, bad, match):
    env = gym.make(env_id).unwrapped
    env.reset(seed=0)
    before = env.get_state()
    with pytest.raises(thrust_envs.InvalidAction, match=match):
        env.step(bad)
    np.testing.assert_array_equal(env.get_state(), before)


@pytest.mark.parametrize("env_id", ["Thrust/Pendulum-v1", "Thrust/MountainCarContinuous-v0"])
def test_vector_box_actions_validate_and_clip(env_id):
    vec = gym.make_vec(env_id, num_envs=3)
    vec.reset(seed=0)
    before = vec.unwrapped.get_state()
    with pytest.raises(thrust_envs.InvalidAction, match="environment 1 is not finite"):
        vec.step(np.array([[0.0], [np.nan], [0.0]], dtype=np.float32))
    with pytest.raises(thrust_envs.InvalidAction, match=r"shape \(3, 1\)"):
        vec.step(np.zeros(3, dtype=np.float32))
    np.testing.assert_array_equal(vec.unwrapped.get_state(), before)
    vec.step(np.array([[100.0], [-100.0], [0.5]]))  # clipped like the reference; float64 is cast


def test_from_module_collects_the_row_functions_and_names_what_is_missing():
    import sys
    import types

    from thrust_envs.classic import cartpole
    from thrust_envs.core.definition import EnvDefinition, from_module

    assert cartpole.DEFINITION.step_row is cartpole.step_row
    assert cartpole.DEFINITION.observe_row is cartpole.observe_row
    assert cartpole.DEFINITION.module == "thrust_envs.classic.cartpole"
    half = types.ModuleType("half_written_env")
    half.step_row = cartpole.step_row  # no reset_row, observe_row, ...
    sys.modules["half_written_env"] = half
    try:
        with pytest.raises(TypeError, match="half_written_env neither defines nor declares"):
            from_module(EnvDefinition, "half_written_env", name="Half", registrations=())
    finally:
        del sys.modules["half_written_env"]
