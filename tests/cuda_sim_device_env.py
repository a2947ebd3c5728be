"""Run by tests/test_cuda_device_env.py in a subprocess with NUMBA_ENABLE_CUDASIM=1: the device
envs of thrust_envs.cuda (on CPU tensors, kernels in numba's CUDA simulator) against the CPU
views: the same observations, rewards and flags step by step, the same errors."""

from __future__ import annotations

import os
import sys

import gymnasium as gym
import numpy as np
import torch

assert os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", "run with NUMBA_ENABLE_CUDASIM=1"
sys.setswitchinterval(1e-4)  # see cuda_sim_checks.py

from cuda_sim import expect  # noqa: E402

import thrust_envs  # noqa: E402, F401
from thrust_envs.core.batch import InvalidAction  # noqa: E402
from thrust_envs.core.games import BatchGame  # noqa: E402
from thrust_envs.cuda import make_vec  # noqa: E402
from thrust_envs.registration import game_lookup  # noqa: E402

N = 8


def env_matches_vector_env(autoreset_mode: str, steps: int) -> None:
    device = make_vec("Thrust/CartPole-v1", N, device="cpu", autoreset_mode=autoreset_mode,
                      max_episode_steps=30, validate="sync")  # fmt: skip
    cpu = gym.make_vec("Thrust/CartPole-v1", num_envs=N, autoreset_mode=autoreset_mode,
                       max_episode_steps=30)  # fmt: skip
    obs = device.reset(seed=3)
    cpu_obs, _ = cpu.reset(seed=3)
    assert isinstance(obs, torch.Tensor) and np.array_equal(obs.numpy(), cpu_obs)
    rng = np.random.default_rng(0)
    episodes, lengths, running = 0, 0, np.zeros(N, dtype=np.int64)
    for step in range(steps):
        actions = rng.integers(0, 2, N)
        out = device.step(torch.as_tensor(actions))
        cpu_out = cpu.step(actions)
        names = ("obs", "reward", "terminated", "truncated")
        for name, mine, theirs in zip(names, out, cpu_out[:4], strict=True):
            assert np.array_equal(mine.numpy(), theirs), (autoreset_mode, step, name)
        if autoreset_mode == "SameStep":
            done = cpu_out[2] | cpu_out[3]
            if done.any():
                final = np.stack(cpu_out[4]["final_obs"][done])
                assert np.array_equal(device.final_obs.numpy()[done], final)
            running += 1
            episodes += int(done.sum())
            lengths += int(running[done].sum())
            running[done] = 0
    if autoreset_mode == "SameStep":
        stats = device.episode_statistics()
        assert stats.episodes == episodes > N, (stats, episodes)
        assert abs(stats.mean_length - lengths / episodes) < 1e-9
        assert device.episode_statistics().episodes == 0  # cleared by the read
    print(f"device env {autoreset_mode}: {steps} steps equal to the CPU vector env")


def env_errors() -> None:
    env = make_vec("Thrust/CartPole-v1", N, device="cpu", max_episode_steps=5)
    env.reset(seed=0)
    assert env.step_path == "kernels: not on CUDA", env.step_path
    expect(TypeError, "cuda_graph must be True or False, got 1",
           lambda: make_vec("Thrust/CartPole-v1", N, device="cpu", cuda_graph=1))  # fmt: skip
    expect(TypeError, "cuda_graph must be True or False, got 'yes'",
           lambda: make_vec("Thrust/Pong-v0", N, device="cpu", cuda_graph="yes"))  # fmt: skip
    expect(InvalidAction, "must be integers", lambda: env.step(torch.zeros(N)))
    expect(InvalidAction, "shape (8,)", lambda: env.step(torch.zeros(N + 1, dtype=torch.int64)))
    before = env.state.clone()
    bad = torch.zeros(N, dtype=torch.int64)
    bad[5] = 2
    zeros = torch.zeros(N, dtype=torch.int64)
    # Lazy: raised by the first call that sees the device's status copy (on CPU tensors the
    # next step; on a GPU maybe later), at the latest by check(); nothing changed meanwhile.
    env.step(bad)
    message = expect(InvalidAction, "action 2 of environment 5 is outside", lambda: env.step(zeros))
    assert torch.equal(env.state, before), "a bad step changed the state"
    env.step(bad)
    expect(InvalidAction, "action 2 of environment 5 is outside", env.check)
    assert torch.equal(env.state, before), "a bad step changed the state"
    env.step(torch.zeros(N, dtype=torch.int64))  # the error was raised: stepping works again
    assert not torch.equal(env.state, before)
    box = make_vec("Thrust/Pendulum-v1", N, device="cpu", validate="sync")
    box.reset(seed=0)
    nan = torch.zeros((N, 1))
    nan[2, 0] = float("nan")
    expect(InvalidAction, "environment 2 is not finite", lambda: box.step(nan))
    disabled = make_vec("Thrust/CartPole-v1", N, device="cpu", autoreset_mode="Disabled",
                        max_episode_steps=2, validate="sync")  # fmt: skip
    disabled.reset(seed=0)
    disabled.step(zeros)
    disabled.step(zeros)
    expect(RuntimeError, "environment 0 finished its episode", lambda: disabled.step(zeros))
    mask = torch.zeros(N, dtype=torch.bool)
    mask[:] = True
    disabled.reset(options={"reset_mask": mask})
    disabled.step(zeros)
    print(f"device env errors as the CPU views' ({message[:40]}...)")


def game_matches_batch_game(game_id: str, steps: int) -> None:
    definition = game_lookup(game_id)
    games = 4
    device = make_vec(game_id, games, device="cpu", validate="sync")
    host = BatchGame(definition, games, definition.params_type(), autoreset=True, num_threads=1)
    device.reset(seed=7)
    host.seed(7)
    host.reset()
    agents = host.num_agents
    assert np.array_equal(device.observations.numpy(), host.obs.reshape(games * agents, -1))
    rng = np.random.default_rng(1)
    for step in range(steps):
        actions = rng.integers(0, host.nvec, (games, agents, len(host.nvec)))
        flat = actions.reshape(games * agents, -1)
        device.step(torch.as_tensor(flat[:, 0] if host.discrete else flat))
        host.actions[...] = actions
        host.step()
        for mine, theirs in ((device.observations, host.obs), (device.rewards, host.reward),
                             (device.terminations, host.terminated),
                             (device.truncations, host.truncated),
                             (device.was_alive, host.was_alive)):  # fmt: skip
            assert np.array_equal(mine.numpy(), theirs.reshape(mine.shape)), (game_id, step)
    bad = np.zeros(games * agents, dtype=np.int64)
    bad[agents + 1] = host.nvec[0]
    if host.discrete:
        expect(InvalidAction, "in game 1 (row", lambda: device.step(torch.as_tensor(bad)))
    print(f"device game {game_id}: {steps} steps equal to BatchGame")


if __name__ == "__main__":
    env_matches_vector_env("NextStep", 150)
    env_matches_vector_env("SameStep", 150)
    env_errors()
    game_matches_batch_game("Thrust/Pong-v0", 60)
    game_matches_batch_game("Thrust/Snake-v0", 60)
