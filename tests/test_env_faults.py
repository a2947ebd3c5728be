"""Faults a hostile user finds (issue 20): kernels that never return, and the closed-form
angle wrap that replaces Acrobot's unbounded loop, bit for bit where the reference returns."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from gymnasium.envs.classic_control import acrobot as reference_acrobot
from numba import njit

from thrust_envs.core.numerics import wrap

PI = math.pi
# Gymnasium's loop, compiled as written: the reference to compare against at speed.
reference_wrap = njit(cache=True)(reference_acrobot.wrap)


def _wrap_cases() -> np.ndarray:
    rng = np.random.default_rng(20)
    values = [0.0, -0.0, PI, -PI, math.nan]
    for exponent in range(-4, 23):  # up to 2**22: the reference's loop runs ~700k times
        scale = 2.0**exponent
        values += list(rng.uniform(-scale, scale, 40))
        for edge in (scale, -scale):
            values += [edge, np.nextafter(edge, 0.0), np.nextafter(edge, 2 * edge)]
    for k in range(-40, 41):  # exact multiples of 2 pi and of pi, and their neighbours
        for base in (k * 2 * PI, k * 2 * PI + PI, k * 2 * PI - PI, k * PI):
            values += [base, np.nextafter(base, math.inf), np.nextafter(base, -math.inf)]
    values += [np.nextafter(PI, 4.0), np.nextafter(-PI, -4.0), 3 * PI, -3 * PI]
    return np.array(values)


def test_wrap_matches_gymnasium_bit_for_bit():
    cases = _wrap_cases()
    ours = np.array([wrap(x, -PI, PI) for x in cases])
    theirs = np.array([reference_wrap(x, -PI, PI) for x in cases])
    # Bitwise: NaN equals NaN, and the sign of zero counts.
    np.testing.assert_array_equal(ours.view(np.uint64), theirs.view(np.uint64))
    # Other intervals, as the reference's signature allows.
    for m, M in ((0.0, 1.0), (-1.5, 2.25), (-10.0, -3.0)):
        for x in cases[np.abs(cases) < 1e5]:
            a, b = wrap(x, m, M), reference_wrap(x, m, M)
            assert a == b or (math.isnan(a) and math.isnan(b)), (x, m, M, a, b)


@pytest.mark.parametrize("x", [1e16, 3.3e16, 1e17, 1e300, -1e17, -1e300, 2.0**60])
def test_wrap_returns_where_the_reference_never_does(x):
    # x - 2 pi rounds back to x past about 1e16: the reference loops forever there.
    result = wrap(x, -PI, PI)
    assert -PI <= result <= PI
    assert math.isnan(wrap(math.inf, -PI, PI))


HANG_SCRIPT = textwrap.dedent(
    """
    import gymnasium as gym, numpy as np, thrust_envs
    from thrust_envs import ParamError
    for kwargs in ({"dt": 50.0}, {"dt": 1e308}, {"link_mass_2": 20.09, "max_vel_1": 252.4}):
        try:
            env = gym.make("Thrust/Acrobot-v1", **kwargs)
        except ParamError as error:
            print("rejected", error)
            continue
        env.reset(seed=0)
        for _ in range(500):
            env.step(env.action_space.sample())
    for env in (gym.make("Thrust/Acrobot-v1").unwrapped,):
        env.reset(seed=0)
        env.set_state(np.array([1e17, -3e16, 1.0, 2.0]))
        obs, *_ = env.step(1)
        assert env.observation_space.contains(obs), obs
    vec = gym.make_vec("Thrust/Acrobot-v1", num_envs=2)
    vec.reset(seed=0)
    vec.unwrapped.set_state(np.array([[1e17, 1e300, 0.0, 0.0], [-5e16, 2.0, 1.0, -1.0]]))
    vec.step(np.array([0, 2]))
    print("done")
    """
)


def test_acrobot_never_hangs():
    # In a subprocess: a kernel stuck in a loop ignores Ctrl-C and must be killed.
    try:
        result = subprocess.run(
            [sys.executable, "-c", HANG_SCRIPT], capture_output=True, text=True, timeout=240
        )
    except subprocess.TimeoutExpired:
        pytest.fail("Acrobot did not return within 240 s (an unbounded loop in its kernel)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("rejected") == 3 and "done" in result.stdout, result.stdout
