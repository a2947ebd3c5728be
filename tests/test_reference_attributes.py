"""The single env exposes its Gymnasium reference's attributes (issue 19 item 6): ``state`` in
the reference's layout and type (read and written), and the physics constants (read-only)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from env_ids import REFERENCES

import thrust_envs  # noqa: F401

PAIRS = sorted(REFERENCES.items())


def _pair(thrust_id, reference_id, seed=11):
    ours, theirs = gym.make(thrust_id).unwrapped, gym.make(reference_id).unwrapped
    ours.reset(seed=seed)
    theirs.reset(seed=seed)
    ours.action_space.seed(seed)
    return ours, theirs


def _assert_state_matches(ours, theirs):
    expected = np.asarray(theirs.state)
    got = ours.state
    np.testing.assert_array_equal(np.asarray(got, dtype=np.float64), expected.astype(np.float64))
    if isinstance(theirs.state, np.ndarray) and type(theirs).__name__ != "AcrobotEnv":
        # The type and dtype too (Acrobot: float32 until its first step, float64 here).
        assert isinstance(got, np.ndarray) and got.dtype == theirs.state.dtype


@pytest.mark.parametrize(("thrust_id", "reference_id"), PAIRS)
def test_attributes_and_state_match_the_reference(thrust_id, reference_id):
    ours, theirs = _pair(thrust_id, reference_id)
    assert type(ours).definition.reference_attributes  # every classic env declares some
    for name in type(ours).definition.reference_attributes:
        a, b = getattr(ours, name), getattr(theirs, name)
        np.testing.assert_array_equal(a, b, err_msg=name)
    _assert_state_matches(ours, theirs)
    for _ in range(30):
        action = ours.action_space.sample()
        ours.step(action)
        theirs.step(action)
        _assert_state_matches(ours, theirs)


@pytest.mark.parametrize(("thrust_id", "reference_id"), PAIRS)
def test_state_following_attributes_match_the_reference(thrust_id, reference_id):
    """Attributes that follow the state (Pendulum's last_u: None since reset, then the last
    clipped torque, a float32) read as the reference's after every step."""
    ours, theirs = _pair(thrust_id, reference_id)
    names = type(ours).definition.reference_state_attributes
    for step in range(20):
        for name in names:
            a, b = getattr(ours, name), getattr(theirs, name)
            assert type(a) is type(b) and (a is None or a == b), (name, step, a, b)
        action = ours.action_space.sample()
        ours.step(action)
        theirs.step(action)
    if thrust_id == "Thrust/Pendulum-v1":
        assert list(names) == ["last_u"]


@pytest.mark.parametrize(("thrust_id", "reference_id"), PAIRS)
def test_writing_an_element_of_state_writes_the_env(thrust_id, reference_id):
    """env.unwrapped.state[i] = x writes into the reference's own array; here the state handed
    out writes the env's (it used to be a copy: the write vanished without a word)."""
    ours, theirs = _pair(thrust_id, reference_id)
    for env in (ours, theirs):
        if not isinstance(env.state, np.ndarray):
            env.state = np.array(env.state)
        env.state[0] = 0.25  # exact in float32 too (Acrobot holds float32 until a step)
        env.state[1] = 0.0
    _assert_state_matches(ours, theirs)
    derived = ours.state[:2]
    derived[0] = 123.0  # a slice is detached, as a copy of the reference's would be after
    assert ours.state[0] != 123.0
    _steps_agree(ours, theirs, 10)


def _steps_agree(ours, theirs, steps: int) -> None:
    """The same random actions on both: observations, rewards and terminations equal."""
    for _ in range(steps):
        action = ours.action_space.sample()
        obs_a, rew_a, term_a, *_ = ours.step(action)
        obs_b, rew_b, term_b, *_ = theirs.step(action)
        np.testing.assert_array_equal(obs_a, obs_b)
        assert rew_a == rew_b and term_a == term_b
        if term_b:
            break


@pytest.mark.parametrize(("thrust_id", "reference_id"), PAIRS)
def test_setting_state_then_stepping_matches_the_reference(thrust_id, reference_id):
    ours, theirs = _pair(thrust_id, reference_id)
    donor = gym.make(reference_id).unwrapped
    donor.reset(seed=99)
    for _ in range(5):
        donor.step(donor.action_space.sample())
    new_state = np.array(donor.state, copy=True)
    theirs.state = new_state.copy()
    ours.state = new_state.copy()
    _assert_state_matches(ours, theirs)
    _steps_agree(ours, theirs, 25)


def test_state_is_none_before_reset_and_physics_attributes_are_read_only():
    env = gym.make("Thrust/CartPole-v1", gravity=12.0).unwrapped
    assert env.state is None
    assert env.gravity == 12.0 and env.x_threshold == 2.4 and env.kinematics_integrator == "euler"
    with pytest.raises(AttributeError, match=r"gravity is read-only.*gravity=\.\.\."):
        env.gravity = 1.0
    with pytest.raises(AttributeError, match="total_mass is read-only"):
        env.total_mass = 3.0
    assert env.gravity == 12.0
    acrobot = gym.make("Thrust/Acrobot-v1").unwrapped
    with pytest.raises(AttributeError, match=r"link_length_1=\.\.\."):
        acrobot.LINK_LENGTH_1 = 2.0


def test_bad_states_are_rejected_and_change_nothing():
    env = gym.make("Thrust/CartPole-v1").unwrapped
    env.reset(seed=0)
    before = env.state
    for bad in (np.zeros(3), [np.nan, 0, 0, 0], "abcd"):
        with pytest.raises(ValueError, match="state"):
            env.state = bad
        np.testing.assert_array_equal(env.state, before)
