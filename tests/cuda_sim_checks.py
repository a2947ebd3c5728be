"""Run by tests/test_cuda_simulator.py in a subprocess with NUMBA_ENABLE_CUDASIM=1 (numba reads
it at import): the CUDA templates, stepped by numba's CUDA simulator, against the CPU kernels.

Each check steps a CPU ``BatchEnv`` / ``BatchGame`` and the CUDA kernels on copies of its arrays
with the same random actions, and asserts after every step that every array (state, random
streams, episode bookkeeping, observations, rewards, flags, final observations) is equal.
Usage: ``python cuda_sim_checks.py CHECK [CHECK ...]`` with checks from :data:`CHECKS`.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

assert os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", "run with NUMBA_ENABLE_CUDASIM=1"
# The simulator runs each CUDA thread as a Python thread while the launching thread polls
# them; a short switch interval keeps them from waiting 5 ms each for the GIL.
sys.setswitchinterval(1e-4)

from thrust_envs.core import kernels as K  # noqa: E402
from thrust_envs.core.batch import BatchEnv  # noqa: E402
from thrust_envs.core.games import BatchGame, GameArrays  # noqa: E402
from thrust_envs.cuda import targets as T  # noqa: E402
from thrust_envs.registration import game_lookup, lookup  # noqa: E402

ROWS = 8


def _random_actions(space, rows: int, rng: np.random.Generator, invalid_every: int, step: int):
    if hasattr(space, "n"):
        actions = rng.integers(space.start, space.start + space.n, rows)
        if invalid_every and step % invalid_every == invalid_every - 1:
            actions[rng.integers(rows)] = space.start + space.n  # one out of the space
        return actions.astype(np.int64)
    # Box: beyond the bounds too (the kernels clip, as the references do).
    actions = rng.uniform(2 * space.low, 2 * space.high, (rows, *space.shape))
    if invalid_every and step % invalid_every == invalid_every - 1:
        actions[rng.integers(rows), 0] = np.nan
    return actions.astype(space.dtype)


def check_env(env_id: str, mode: int, steps: int, max_steps: int, seed: int) -> None:
    """``steps`` random steps of ``ROWS`` rows of ``env_id`` in autoreset ``mode``; every 97th
    step carries an invalid action, which must change nothing on either side."""
    definition, _ = lookup(env_id)
    cpu = BatchEnv(
        definition, env_id, ROWS, definition.default_params, max_steps, mode, 1, np.float32
    )
    cpu.seed(np.arange(ROWS, dtype=np.uint64) + np.uint64(seed))
    cpu.reset()
    kind = "discrete" if hasattr(cpu.action_space, "n") else "box"
    kernels = T.env_kernels(definition, kind)
    dev = {name: getattr(cpu, name).copy() for name in K.RowArrays._fields}  # the kernels' order
    error_action = np.zeros(
        1 if kind == "discrete" else cpu.action_space.shape[0], cpu.actions.dtype
    )
    totals = np.zeros((ROWS, 3))
    episodes = np.zeros((ROWS, 3))  # per row, added in the kernel's order
    rng = np.random.default_rng(seed)
    for step in range(steps):
        actions = _random_actions(cpu.action_space, ROWS, rng, 97, step)
        status = np.array([ROWS, ROWS, 0], dtype=np.int64)
        T.launch(kernels.validate, ROWS, 0, actions, cpu._action_low, cpu._action_high, mode,
                 dev["episode"], status)  # fmt: skip
        T.launch(kernels.step, ROWS, 0, *dev.values(), actions, cpu.params, mode,
                 cpu._max_steps, status, error_action, totals)  # fmt: skip
        cpu.load_actions(actions)
        if cpu._step_entry is None:
            cpu._step_entry = cpu._resolve_step()
        cpu_status = cpu._step_entry(*cpu._step_args)  # the status BatchEnv.step raises from
        if cpu_status >= 0:  # an invalid action: the same row named, nothing changed
            assert status[0] == cpu_status and status[2] == 1, (status, cpu_status)
            assert np.array_equal(error_action.ravel(), actions[cpu_status].ravel(), True)
        elif cpu_status <= -2:  # DISABLED: a finished row was stepped
            assert status[0] == ROWS and status[1] == -2 - cpu_status, (status, cpu_status)
            rows = cpu.episode[:, 0] != 0.0
            cpu.reset(rows)
            T.launch(kernels.reset, ROWS, 0, *dev.values(), rows, cpu.params)
        else:
            assert status[0] == ROWS and status[1] == ROWS, status
            ended = (cpu.terminated | cpu.truncated) & (mode != K.STEP_ONLY)
            finished = np.column_stack([np.ones(ROWS), cpu.episode[:, 3], cpu.episode[:, 4]])
            episodes[ended] += finished[ended]
        for name, value in dev.items():
            if name == "final_obs" and mode != K.SAME_STEP:
                continue
            assert np.array_equal(getattr(cpu, name), value, equal_nan=True), (
                f"{env_id} mode {mode} step {step}: {name} differs\n"
                f"cpu {getattr(cpu, name)}\ncuda {value}"
            )
    assert np.array_equal(totals, episodes), (totals, episodes)
    ended = int(episodes[:, 0].sum())
    if mode != K.STEP_ONLY:
        assert ended > ROWS, f"{env_id}: too few episodes ended ({ended})"
    print(f"{env_id} mode {mode}: {steps} steps, {ended} episodes equal")


def check_game(game_id: str, steps: int, seed: int, **params: Any) -> None:
    """``steps`` random steps of ``ROWS`` games with in-kernel autoreset and ``params``; every
    53rd step one live agent's action is invalid, which must change nothing."""
    definition = game_lookup(game_id)
    cpu = BatchGame(definition, ROWS, definition.params_type(**params), autoreset=True,
                    num_threads=1)  # fmt: skip
    cpu.seed(seed)
    cpu.reset()
    kernels = T.game_kernels(definition)
    dev = {name: getattr(cpu, name).copy() for name in GameArrays._fields}  # the kernels' order
    agents = cpu.num_agents
    error_action = np.zeros(len(cpu.nvec), np.int64)
    totals = np.zeros((ROWS, 2 + agents))
    games = np.zeros((ROWS, 2 + agents))
    rng = np.random.default_rng(seed)
    for step in range(steps):
        actions = rng.integers(0, cpu.nvec, (ROWS, agents, len(cpu.nvec)))
        if step % 53 == 52:
            g, a = np.argwhere(cpu.alive)[0]
            actions[g, a, 0] = cpu.nvec[0]
        status = np.array([ROWS * agents, ROWS, 0], dtype=np.int64)
        T.launch(kernels.validate, ROWS, 0, actions, dev["alive"], cpu.nvec, status)
        T.launch(kernels.step, ROWS, 0, *dev.values(), actions, cpu.params, True,
                 cpu.max_steps, status, error_action, totals)  # fmt: skip
        cpu.actions[...] = actions
        try:
            cpu.step()
        except ValueError:
            bad = int(np.flatnonzero(
                [(cpu.alive[g, a] and (actions[g, a] >= cpu.nvec).any())
                 for g in range(ROWS) for a in range(agents)])[0])  # fmt: skip
            assert status[0] == bad and status[2] == 1, (status, bad)
            assert np.array_equal(error_action, actions[bad // agents, bad % agents])
        else:
            assert status[0] == ROWS * agents, status
            over = cpu.game_over
            finished = np.column_stack([np.ones(ROWS), cpu.final_length, cpu.final_return])
            games[over] += finished[over]
        for name, value in dev.items():
            assert np.array_equal(getattr(cpu, name), value), (
                f"{game_id} step {step}: {name} differs"
            )
    assert np.array_equal(totals, games), (totals, games)
    ended = int(games[:, 0].sum())
    assert ended > 0, f"{game_id}: no game ended"
    print(f"{game_id}: {steps} steps, {ended} games equal")


CHECKS = {
    "cartpole": lambda: (
        check_env("Thrust/CartPole-v1", K.NEXT_STEP, 300, 60, 0),
        check_env("Thrust/CartPole-v1", K.SAME_STEP, 300, 40, 1),
        check_env("Thrust/CartPole-v1", K.DISABLED, 150, 30, 2),
        check_env("Thrust/CartPole-v1", K.STEP_ONLY, 40, None, 3),
    ),
    "classic": lambda: [
        (check_env(env_id, K.SAME_STEP, 150, 25, 4), check_env(env_id, K.NEXT_STEP, 80, 20, 5))
        for env_id in (
            "Thrust/Pendulum-v1",
            "Thrust/MountainCar-v0",
            "Thrust/MountainCarContinuous-v0",
            "Thrust/Acrobot-v1",
        )
    ],
    "games": lambda: (
        # Short games: points and time limits both end some within the steps.
        check_game("Thrust/Pong-v0", 120, 6, points_to_win=1, max_steps=40),
        check_game("Thrust/Snake-v0", 120, 7, max_steps=50),
        check_game("Thrust/BucketBrigade-v0", 120, 8),
    ),
}

if __name__ == "__main__":
    for name in sys.argv[1:]:
        CHECKS[name]()
