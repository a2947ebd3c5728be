"""Thrust never changes a thread setting the user made: torch's, numba's or OpenMP's.

Issue 19 item 1: numba's OpenMP threading layer, started lazily by the first parallel kernel
(or ``numba.get_num_threads``), calls ``omp_set_num_threads(NUMBA_NUM_THREADS)``, which undid a
user's ``torch.set_num_threads(1)``; and ``BatchEnv``/``BatchGame`` left numba's thread count
at their ``num_threads``. Each case runs in a fresh process (numba starts its layer once per
process), in one import order, with one entry point first (the one that starts numba's layer)
and others after it; torch's and numba's thread counts are checked after each. Every public
entry point that runs a numba kernel starts the layer in one of the cases.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    order, names = sys.argv[1], sys.argv[2:]

    def set_torch_threads():
        import torch
        torch.set_num_threads(1)
        # torch applies its count to OpenMP lazily, once per thread (at its first parallel
        # operation or get_num_threads): applied now, so that a later reset can show.
        assert torch.get_num_threads() == 1

    if order == "torch-first":
        set_torch_threads()
        import thrust_envs, thrust_algos
    elif order == "thrust-first":
        import thrust_envs, thrust_algos
        set_torch_threads()
    elif order == "numba-first":
        import numba
        numba.set_num_threads(1)  # the user's numba setting (this starts numba's layer)
        set_torch_threads()
        import thrust_envs, thrust_algos
    elif order == "omp-env":  # OMP_NUM_THREADS=1 in the environment, nothing set in code
        import thrust_envs, thrust_algos
    else:
        raise SystemExit(f"unknown order {order}")

    import gymnasium as gym
    import numba
    import numpy as np
    import torch
    from gymnasium import spaces
    from numba.np.ufunc import parallel as numba_parallel
    from thrust_algos import PPO, GpuRolloutBuffer, compute_gae
    from thrust_envs.core.threads import launch_numba_threads
    from thrust_envs.sb3 import make_vec_env

    def gae():
        rng = np.random.default_rng(0)
        shape = (64, 2100)  # above the numba backend's parallel threshold
        compute_gae(
            rng.normal(size=shape).astype(np.float32), rng.normal(size=shape).astype(np.float32),
            (rng.random(shape) < 0.1).astype(np.float32), np.zeros(2100, np.float32),
            np.zeros(2100, bool), 0.99, 0.95,
        )

    def buffer():
        rollout = GpuRolloutBuffer(32, spaces.Box(-1, 1, (4,)), spaces.Discrete(2), device="cpu",
                                   n_envs=8)
        rollout.compute_returns_and_advantage(torch.zeros(8), torch.zeros(8))

    def sb3_vec_env():  # BatchEnv on numba's threads: 16,384 rows, num_threads=2
        venv = make_vec_env("Thrust/CartPole-v1", 16384, seed=0, num_threads=2)
        venv.reset()
        for _ in range(2):
            venv.step(np.zeros(16384, dtype=np.int64))

    def vector_env():
        envs = gym.make_vec("Thrust/CartPole-v1", num_envs=16384, num_threads=2)
        envs.reset(seed=0)
        for _ in range(2):
            envs.step(np.zeros(16384, dtype=np.int64))

    def games():  # BatchGame on numba's threads: 256 games, num_threads=2
        venv = make_vec_env("Thrust/Pong-v0", 256, seed=0, num_threads=2)
        venv.reset()
        venv.step(np.zeros(venv.num_envs, dtype=np.int64))

    def ppo():
        model = PPO("MlpPolicy", make_vec_env("Thrust/CartPole-v1", 8, seed=0), n_steps=16,
                    batch_size=64, n_epochs=1, device="cpu", seed=0)
        model.learn(256)

    entry_points = {f.__name__: f for f in (gae, buffer, sb3_vec_env, vector_env, games, ppo)}
    records = []
    for name in names:
        entry_points[name]()
        started = numba_parallel._is_initialized  # did numba's layer start by now?
        torch_threads = torch.get_num_threads()  # read first: the numba query below
        launch_numba_threads()  # starts numba's layer itself if nothing has, harmlessly
        records.append([name, started, torch_threads, numba.get_num_threads()])
    print("RECORDS " + json.dumps(records))
    """
)

# (import order, entry points in the order they run: the first starts numba's threading layer)
CASES = [
    ("torch-first", ["gae", "sb3_vec_env", "games"]),
    ("torch-first", ["buffer", "vector_env"]),
    ("thrust-first", ["sb3_vec_env", "gae", "games"]),
    ("thrust-first", ["games", "vector_env", "buffer"]),
    ("omp-env", ["ppo", "sb3_vec_env"]),
    ("numba-first", ["games", "sb3_vec_env", "vector_env", "gae", "buffer"]),
]


@pytest.mark.parametrize(("order", "names"), CASES, ids=["-".join([o, *n]) for o, n in CASES])
def test_entry_points_keep_the_users_thread_settings(order: str, names: list[str]) -> None:
    env = {**os.environ, "NUMBA_NUM_THREADS": "2"}
    env.pop("OMP_NUM_THREADS", None)
    if order == "omp-env":
        env["OMP_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, order, *names],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("RECORDS "))
    records = json.loads(line.removeprefix("RECORDS "))
    first = names[0]
    assert [record[0] for record in records] == names
    # The case is meaningful: its first entry point is what started numba's threading layer
    # (numba-first: the user's own numba.set_num_threads did).
    assert records[0][1], f"{first} did not start numba's threading layer"
    numba_expected = 1 if order == "numba-first" else 2
    for name, _started, torch_threads, numba_threads in records:
        assert torch_threads == 1, (
            f"{order}: torch's thread count became {torch_threads} after {name}"
        )
        assert numba_threads == numba_expected, (
            f"{order}: numba's thread count became {numba_threads} after {name}"
        )
