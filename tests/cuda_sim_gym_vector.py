"""Run by tests/test_cuda_device_env.py in a subprocess with NUMBA_ENABLE_CUDASIM=1:
``gymnasium.make_vec(id, num_envs, device=...)`` (thrust_envs.cuda.DeviceGymVectorEnv, kernels
in numba's CUDA simulator on CPU tensors) against ``gymnasium.make_vec(id, num_envs)``, the
CPU's native view: the same spaces, metadata, spec, outputs and infos step by step in every
autoreset mode, the same errors, the same frames, and thrust_algos.PPO trains on it as on the
device env. Prints one line per check; the test counts them."""

from __future__ import annotations

import os
import sys

import gymnasium as gym
import numpy as np
import torch
from gymnasium.error import ClosedEnvironmentError, ResetNeeded
from gymnasium.vector import AutoresetMode

assert os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", "run with NUMBA_ENABLE_CUDASIM=1"
sys.setswitchinterval(1e-4)  # see cuda_sim_checks.py

from cuda_sim import expect  # noqa: E402

import thrust_envs  # noqa: E402, F401
from thrust_envs.core.batch import InvalidAction  # noqa: E402
from thrust_envs.cuda import DeviceGymVectorEnv, make_vec  # noqa: E402

N = 6


def pair(env_id: str, **kwargs):
    """The device view and the CPU view of one ID, made the same way."""
    device = gym.make_vec(env_id, num_envs=N, device="cpu", validate="sync", **kwargs)
    cpu = gym.make_vec(env_id, num_envs=N, **kwargs)
    return device, cpu


def same(mine, theirs, where) -> None:
    assert isinstance(mine, torch.Tensor), (where, type(mine))
    assert mine.dtype == torch.from_numpy(np.asarray(theirs)).dtype, (where, mine.dtype)
    assert np.array_equal(mine.numpy(), theirs), where


def actions_for(space, rng) -> np.ndarray:
    if isinstance(space, gym.spaces.Discrete):
        return rng.integers(space.start, space.start + space.n, N)
    return rng.uniform(space.low, space.high, (N, *space.shape)).astype(np.float32)


def matches_cpu_view(env_id: str, mode: str, steps: int) -> None:
    device, cpu = pair(env_id, autoreset_mode=mode, max_episode_steps=20)
    assert isinstance(device, DeviceGymVectorEnv), type(device)
    assert device.spec.id == cpu.spec.id == env_id
    assert device.spec.kwargs == {**cpu.spec.kwargs, "device": "cpu", "validate": "sync"}
    assert isinstance(gym.make_vec(device.spec), DeviceGymVectorEnv)  # remade from its spec
    assert device.metadata == cpu.metadata, (device.metadata, cpu.metadata)
    assert device.metadata["autoreset_mode"] is AutoresetMode(mode)
    for name in ("single_observation_space", "single_action_space", "observation_space",
                 "action_space"):  # fmt: skip
        assert getattr(device, name) == getattr(cpu, name), name
    assert device.num_envs == cpu.num_envs == N and device.max_episode_steps == 20
    seeds = [5, None, 7, 8, 9, 10]  # a None row draws from entropy: overwritten below
    obs, info = device.reset(seed=seeds)
    assert info == {} and obs.shape == (N, *device.single_observation_space.shape)
    obs, info = device.reset(seed=11)
    cpu_obs, cpu_info = cpu.reset(seed=11)
    same(obs, cpu_obs, "reset")
    assert info == cpu_info == {}
    assert device.np_random.integers(2**62) == cpu.np_random.integers(2**62)  # VectorEnv's own
    rng = np.random.default_rng(0)
    finished, terminated, truncated = 0, 0, 0
    kept = None  # the last step's outputs and infos, and copies of their values
    for step in range(steps):
        actions = actions_for(device.single_action_space, rng)
        # A Gymnasium loop may hand numpy actions; a device loop hands tensors.
        out = device.step(torch.as_tensor(actions) if step % 2 else actions)
        cpu_out = cpu.step(actions)
        if kept is not None:  # returned tensors are not buffers the next step overwrites
            for tensor, value in kept:
                assert np.array_equal(tensor.numpy(), value), (mode, step, "overwritten")
        tensors = [*out[:4], *(v for v in out[4].values() if isinstance(v, torch.Tensor))]
        kept = [(tensor, tensor.numpy().copy()) for tensor in tensors]
        for name, mine, theirs in zip(("obs", "reward", "terminated", "truncated"), out,
                                      cpu_out, strict=False):  # fmt: skip
            same(mine, theirs, (mode, step, name))
        done = cpu_out[2] | cpu_out[3]
        infos, cpu_infos = out[4], cpu_out[4]
        if mode == "SameStep":
            assert set(infos) == {"final_obs", "_final_obs", "final_info", "_final_info"}
            same(infos["_final_obs"], done, "_final_obs")
            same(infos["_final_info"], done, "_final_info")
            assert infos["final_info"] == {}
            if done.any():
                assert set(cpu_infos) == set(infos)
                same(infos["final_obs"][done], np.stack(cpu_infos["final_obs"][done]), "final")
        else:
            assert infos == cpu_infos == {}, (mode, step, cpu_infos)
        if mode == "Disabled" and done.any():
            obs, _ = device.reset(options={"reset_mask": done})  # an array mask
            cpu_obs, _ = cpu.reset(options={"reset_mask": done})
            same(obs, cpu_obs, "masked reset")
        finished += int(done.sum())
        terminated += int(cpu_out[2].sum())
        truncated += int((cpu_out[3] & ~cpu_out[2]).sum())
    assert finished > N and truncated > 0, (env_id, mode, finished, truncated)
    assert terminated > 0 or env_id == "Thrust/Pendulum-v1", (mode, terminated)  # no terminal
    stats = device.episode_statistics()  # counted on the device
    assert stats.episodes == finished, (stats, finished)
    device.close()
    cpu.close()
    print(f"gym.make_vec({env_id!r}, device=...) {mode}: {steps} steps equal to the CPU view")


def copies_and_frames() -> None:
    device, cpu = pair("Thrust/CartPole-v1", render_mode="rgb_array")
    own = gym.make_vec("Thrust/CartPole-v1", num_envs=N, device="cpu", copy=False)
    device.reset(seed=2)
    cpu.reset(seed=2)
    first, _ = own.reset(seed=2)
    zeros = np.zeros(N, dtype=np.int64)
    for _ in range(3):
        obs = device.step(zeros)[0]
        cpu.step(zeros)
        again = own.step(zeros)[0]
    assert again is own.device_env.observations and first is again  # copy=False: the env's own
    assert obs.data_ptr() != device.device_env.observations.data_ptr()  # copy=True: a copy
    frames, cpu_frames = device.render(), cpu.render()
    assert len(frames) == N
    assert all(np.array_equal(a, b) for a, b in zip(frames, cpu_frames, strict=True))
    assert gym.make_vec("Thrust/CartPole-v1", num_envs=N, device="cpu").render() is None
    print(f"copy=True/False as the CPU view; {N} rgb_array frames equal to the CPU view's")


def errors() -> None:
    make = gym.make_vec
    env = make("Thrust/CartPole-v1", num_envs=N, device="cpu", validate="sync")
    expect(ResetNeeded, "Thrust/CartPole-v1: call reset() before step()",
           lambda: env.step(np.zeros(N, dtype=np.int64)))  # fmt: skip
    framed = make("Thrust/CartPole-v1", num_envs=N, device="cpu", render_mode="rgb_array")
    expect(ResetNeeded, "Thrust/CartPole-v1: call reset() before render()", framed.render)
    env.reset(seed=0)
    before = env.device_env.state.clone()
    bad = np.zeros(N, dtype=np.int64)
    bad[4] = 2
    expect(InvalidAction, "Thrust/CartPole-v1: action 2 of environment 4 is outside",
           lambda: env.step(bad))  # fmt: skip
    assert torch.equal(env.device_env.state, before), "a bad step changed the state"
    expect(InvalidAction, "shape (6,)", lambda: env.step(np.zeros(N + 1, dtype=np.int64)))
    expect(InvalidAction, "must be integers", lambda: env.step(np.zeros(N)))
    expect(InvalidAction, "Thrust/CartPole-v1: expected actions for Discrete(2) (integers), got",
           lambda: env.step([[0], [1, 0]] * 3))  # ragged  # fmt: skip
    expect(ValueError, "options['reset_mask'] must be a bool tensor (or array) of shape (6,)",
           lambda: env.reset(options={"reset_mask": np.zeros(N)}))  # fmt: skip
    expect(ValueError, "options['reset_mask'] must select at least one environment",
           lambda: env.reset(options={"reset_mask": np.zeros(N, dtype=bool)}))  # fmt: skip
    first = make("Thrust/CartPole-v1", num_envs=N, device="cpu", autoreset_mode="Disabled")
    expect(ValueError, "the first reset must reset every environment",
           lambda: first.reset(options={"reset_mask": np.arange(N) < 2}))  # fmt: skip
    first.reset(options={"reset_mask": np.ones(N, dtype=bool)})  # every row: a first reset
    env.close()
    expect(ClosedEnvironmentError, "step() called after close()",
           lambda: env.step(np.zeros(N, dtype=np.int64)))  # fmt: skip
    expect(ClosedEnvironmentError, "reset() called after close()", env.reset)
    expect(
        ValueError,
        "num_threads sets the CPU kernels' threads",
        lambda: make("Thrust/CartPole-v1", num_envs=N, device="cpu", num_threads=2),
    )
    expect(
        ValueError,
        "render_mode must be one of ['rgb_array'] or None, got 'human'",
        lambda: make("Thrust/CartPole-v1", num_envs=N, device="cpu", render_mode="human"),
    )
    expect(TypeError, "copy must be True or False, got 1",
           lambda: make("Thrust/CartPole-v1", num_envs=N, device="cpu", copy=1))  # fmt: skip
    cpu_message = expect(TypeError, "unknown keyword argument(s) 'gravty'",
                         lambda: make("Thrust/CartPole-v1", num_envs=N, gravty=1.0))  # fmt: skip
    message = expect(
        TypeError,
        "unknown keyword argument(s) 'gravty'",
        lambda: make("Thrust/CartPole-v1", num_envs=N, device="cpu", gravty=1.0),
    )
    assert message == cpu_message, (message, cpu_message)
    expect(ValueError, "pass device='cpu', got cuda",
           lambda: make("Thrust/CartPole-v1", num_envs=N, device="cuda"))  # fmt: skip
    expect(ValueError, "CartPole: num_envs must be a positive int, got 0",
           lambda: make("Thrust/CartPole-v1", num_envs=0, device="cpu"))  # fmt: skip
    from thrust_envs.env_classes import CartPoleVectorEnv

    assert isinstance(CartPoleVectorEnv(N, device="cpu", max_episode_steps=9), DeviceGymVectorEnv)
    expect(TypeError, "CartPole: with device='cpu', pass the arguments after num_envs by keyword",
           lambda: CartPoleVectorEnv(N, 20, device="cpu"))  # fmt: skip
    subclass = type("MyCartPoles", (CartPoleVectorEnv,), {})
    expect(TypeError, "MyCartPoles: device='cpu' makes a thrust_envs.cuda.DeviceGymVectorEnv",
           lambda: subclass(N, device="cpu"))  # fmt: skip
    assert type(subclass(N)) is subclass  # on the CPU a subclass is itself
    direct = DeviceGymVectorEnv("Thrust/CartPole-v0", N, device="cpu")
    assert direct.max_episode_steps == 200  # a string ID: its registered limit
    print("errors as the CPU view's: reset needed, closed, bad actions, masks, arguments")


def resets_as_the_cpu_view() -> None:
    """Reset options, a seed with a reset mask and refused resets, then steps, as the CPU's."""
    device, cpu = pair("Thrust/CartPole-v1", max_episode_steps=15)
    for env in (device, cpu):
        env.reset(seed=1)
    views = (device, cpu)
    zeros = np.zeros(N, dtype=np.int64)
    mask = np.array([True, False, True, False, False, True])
    narrow = {"low": -0.01, "high": 0.01}
    calls = [
        lambda env: env.reset(options=narrow),  # in force for later autoresets too
        lambda env: env.reset(seed=50, options={"reset_mask": mask}),  # reseeds those rows only
        lambda env: env.reset(options={"low": -5.0, "high": 5.0}),  # outside the obs space
        lambda env: env.reset(seed=[1, 2], options={"low": -0.02, "high": 0.02}),  # 2 seeds
        lambda env: env.reset(options={"reset_mask": mask, "low": 0.03, "high": 0.01}),
    ]
    rng = np.random.default_rng(4)
    for k, call in enumerate(calls):
        params = device.params
        messages = []
        for env in views:
            try:
                messages.append(("ok", call(env)[0]))
            except ValueError as error:
                messages.append(("refused", str(error)))
        (kind, mine), (cpu_kind, theirs) = messages
        assert kind == cpu_kind, (k, messages)
        if kind == "ok":
            same(mine, theirs, ("reset", k))
        else:
            assert mine == theirs, (k, mine, theirs)  # the same message, naming the ID
            assert device.params == params, (k, "a refused reset changed the parameters")
        for step in range(40):  # through autoresets, which draw from the reseeded streams
            actions = rng.integers(0, 2, N) if step % 3 else zeros
            for mine, theirs in zip(device.step(actions)[:4], cpu.step(actions)[:4],
                                    strict=True):  # fmt: skip
                same(mine, theirs, ("after reset", k, step))
    print("resets as the CPU view's: options in force, seeds of masked rows, refusals intact")


def lazy_errors_and_wrappers() -> None:
    bad = np.zeros(N, dtype=np.int64)
    bad[3] = 5
    zeros = np.zeros(N, dtype=np.int64)
    lazy = gym.make_vec("Thrust/CartPole-v1", num_envs=N, device="cpu")  # validate="lazy"
    lazy.reset(seed=0)
    before = lazy.device_env.state.clone()
    lazy.step(bad)  # accepted now, raised by a later call; nothing was applied
    expect(InvalidAction, "action 5 of environment 3 is outside", lambda: lazy.step(zeros))
    assert torch.equal(lazy.device_env.state, before)
    lazy.step(bad)
    expect(InvalidAction, "action 5 of environment 3 is outside", lazy.close)  # close checks
    assert lazy.closed
    disabled = gym.make_vec(
        "Thrust/CartPole-v1",
        num_envs=N,
        device="cpu",
        autoreset_mode="Disabled",
        max_episode_steps=2,
        validate="sync",
    )
    disabled.reset(seed=0)
    disabled.step(zeros)
    disabled.step(zeros)
    expect(RuntimeError, "environment 0 finished its episode and autoreset is disabled",
           lambda: disabled.step(zeros))  # fmt: skip
    device, cpu = (gym.wrappers.vector.TransformReward(env, lambda r: 2 * r - 1)
                   for env in pair("Thrust/CartPole-v1"))  # fmt: skip
    device.reset(seed=3)
    cpu.reset(seed=3)
    for _ in range(30):
        same(device.step(zeros)[1], cpu.step(zeros)[1], "TransformReward")
    print("lazy errors, close and disabled autoreset as documented; TransformReward wraps it")


def ppo_trains_on_it() -> None:
    from thrust_algos import PPO

    weights = []
    for make in (lambda: gym.make_vec("Thrust/CartPole-v1", num_envs=4, device="cpu",
                                      autoreset_mode="SameStep", max_episode_steps=12),
                 lambda: make_vec("Thrust/CartPole-v1", 4, device="cpu",
                                  autoreset_mode="SameStep", max_episode_steps=12)):  # fmt: skip
        model = PPO("MlpPolicy", make(), n_steps=16, batch_size=32, n_epochs=2, seed=3,
                    device="cpu", fused=False)  # fmt: skip
        model.learn(2 * 16 * 4)
        assert model.rollout_path == "device", model.rollout_path
        weights.append(torch.nn.utils.parameters_to_vector(model.policy.parameters()).detach())
    assert torch.equal(*weights)
    print(
        "thrust_algos.PPO on gym.make_vec(..., device=...): the device rollout, the device "
        "env's weights"
    )


if __name__ == "__main__":
    matches_cpu_view("Thrust/CartPole-v1", "NextStep", 80)
    matches_cpu_view("Thrust/CartPole-v1", "SameStep", 80)
    matches_cpu_view("Thrust/CartPole-v1", "Disabled", 80)
    matches_cpu_view("Thrust/Pendulum-v1", "SameStep", 60)
    copies_and_frames()
    errors()
    resets_as_the_cpu_view()
    lazy_errors_and_wrappers()
    ppo_trains_on_it()
