"""Env-steps per second: Thrust's envs against Gymnasium's references, side by side.

    python benchmarks/envs.py            # full tables (about three minutes)
    python benchmarks/envs.py --quick    # shorter timings, 3 rounds

Measures in one run, with the same pre-drawn random actions for everyone:
  - the native vector view, ``gymnasium.make_vec("Thrust/CartPole-v1", num_envs=N)``, against
    Gymnasium's numpy vector CartPole (``vectorization_mode="vector_entry_point"``) and its
    ``SyncVectorEnv`` (N <= 4096: a Python loop over N envs), at N = 1, 16, 256, 4096, 65536;
  - the SB3 view, ``thrust_envs.sb3.make_vec_env``, against SB3's ``DummyVecEnv`` over
    Gymnasium's CartPole (N <= 4096);
  - the single env through ``gymnasium.make`` against Gymnasium's ``CartPole-v1``;
  - serial against parallel stepping around the threshold ``PARALLEL_MIN_ROWS``;
  - Pendulum, MountainCar, MountainCarContinuous and Acrobot against ``SyncVectorEnv`` of the
    reference env (Gymnasium has no numpy vector version of these), at N = 1, 16, 256, 4096.
Every env copies its outputs as it does by default; episodes end and autoreset as usual.
The main CartPole table times each side in interleaved rounds (all sides, then again) and
prints median rates and the median (min-max) over rounds of the ratios within a round; the
other tables time each side once.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Interleaved, fmt_rate, fmt_ratio, header, make_parser, rate

import thrust_envs  # noqa: F401
from thrust_envs.core import batch as batch_module

SIZES = (1, 16, 256, 4096, 65536)
PYTHON_LOOP_MAX = 4096  # SyncVectorEnv / DummyVecEnv beyond this take minutes to build


CLASSIC = {
    "Thrust/Pendulum-v1": "Pendulum-v1",
    "Thrust/MountainCar-v0": "MountainCar-v0",
    "Thrust/MountainCarContinuous-v0": "MountainCarContinuous-v0",
    "Thrust/Acrobot-v1": "Acrobot-v1",
}


def actions_for(n: int, count: int = 32, space=None) -> list[np.ndarray]:
    """``count`` batches of random actions for ``n`` envs (CartPole's unless ``space``)."""
    if space is None:
        rng = np.random.default_rng(0)
        return [rng.integers(0, 2, n) for _ in range(count)]
    space.seed(0)
    return [space.sample() for _ in range(count)]


def vector_timer(env, n: int) -> Callable[[float], float]:
    """A function of seconds timing ``env`` (a Gymnasium vector env, reset once here) on
    pre-drawn random actions; returns env-steps per second."""
    env.reset(seed=0)
    pool = actions_for(n, space=None if "CartPole" in str(env.spec.id) else env.action_space)
    step = env.step
    return lambda seconds: rate(lambda k: step(pool[k & 31]), n, seconds)


def vector_rate(env, n: int, seconds: float) -> float:
    rate_ = vector_timer(env, n)(seconds)
    env.close()
    return rate_


def sb3_timer(env, n: int) -> Callable[[float], float]:
    """As :func:`vector_timer`, for an SB3 VecEnv."""
    env.reset()
    pool = actions_for(n)
    step = env.step
    return lambda seconds: rate(lambda k: step(pool[k & 31]), n, seconds)


def single_rate(env, seconds: float) -> float:
    env.reset(seed=0)
    pool = [int(a) for a in actions_for(1024)[0]]

    def step(k: int) -> None:
        _, _, terminated, truncated, _ = env.step(pool[k & 1023])
        if terminated or truncated:
            env.reset()

    return rate(step, 1, seconds)


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (5)")
    args = parser.parse_args(argv)
    seconds = 0.3 if args.quick else 1.0
    rounds = args.rounds or (3 if args.quick else 5)
    sizes = [int(s) for s in args.sizes.split(",")]
    try:
        from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env

        from thrust_envs.sb3 import make_vec_env
    except ImportError:
        sb3_make_vec_env = make_vec_env = None

    threads = f"numba threads: {numba.config.NUMBA_NUM_THREADS}"
    print(header("Thrust/CartPole env-steps/s", __file__, argv, threads))
    print(
        f"main table: medians over {rounds} interleaved rounds of {seconds:g} s per side; "
        "ratios: median (min-max) over rounds of the same round's rates\n"
    )
    print(
        "| N | Thrust vector | Gymnasium vector | ratio | SyncVectorEnv | ratio "
        "| Thrust SB3 VecEnv | SB3 DummyVecEnv | ratio |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        envs = {
            "ours": gym.make_vec("Thrust/CartPole-v1", num_envs=n),
            "theirs": gym.make_vec(
                "CartPole-v1", num_envs=n, vectorization_mode="vector_entry_point"
            ),
        }
        if n <= PYTHON_LOOP_MAX:
            envs["sync"] = gym.make_vec("CartPole-v1", num_envs=n, vectorization_mode="sync")
        if make_vec_env is not None:
            envs["ours_sb3"] = make_vec_env("Thrust/CartPole-v1", n, seed=0)
            if n <= PYTHON_LOOP_MAX:
                envs["dummy"] = sb3_make_vec_env("CartPole-v1", n, seed=0)
        timers = {
            name: (sb3_timer if name in ("ours_sb3", "dummy") else vector_timer)(env, n)
            for name, env in envs.items()
        }
        result = Interleaved(timers, rounds, seconds)
        for env in envs.values():
            env.close()
        print(
            f"| {n} | {fmt_rate(result.median('ours'))} | {fmt_rate(result.median('theirs'))} "
            f"| {result.ratio('ours', 'theirs')} | {fmt_rate(result.median('sync'))} "
            f"| {result.ratio('ours', 'sync')} | {fmt_rate(result.median('ours_sb3'))} "
            f"| {fmt_rate(result.median('dummy'))} | {result.ratio('ours_sb3', 'dummy')} |",
            flush=True,
        )

    ours = single_rate(gym.make("Thrust/CartPole-v1"), seconds)
    theirs = single_rate(gym.make("CartPole-v1"), seconds)
    print("\n| single env via gymnasium.make | Thrust | Gymnasium | ratio |")
    print("|---|---:|---:|---:|")
    ratio = fmt_ratio(ours, theirs)
    print(f"| CartPole-v1 steps/s | {fmt_rate(ours)} | {fmt_rate(theirs)} | {ratio} |")

    print(
        f"\nSerial against parallel stepping (PARALLEL_MIN_ROWS = {batch_module.PARALLEL_MIN_ROWS})"
    )
    print("| N | serial | parallel | parallel / serial |")
    print("|---:|---:|---:|---:|")
    threshold = batch_module.PARALLEL_MIN_ROWS
    try:
        batch_module.PARALLEL_MIN_ROWS = 1
        for n in (1024,) if args.quick else (1024, 4096, 16384, 65536):
            serial = vector_rate(
                gym.make_vec("Thrust/CartPole-v1", num_envs=n, num_threads=1), n, seconds
            )
            parallel = vector_rate(gym.make_vec("Thrust/CartPole-v1", num_envs=n), n, seconds)
            ratio = fmt_ratio(parallel, serial)
            print(f"| {n} | {fmt_rate(serial)} | {fmt_rate(parallel)} | {ratio} |")
    finally:
        batch_module.PARALLEL_MIN_ROWS = threshold

    classic_table(seconds, (1, 16) if args.quick else (1, 16, 256, 4096))
    return 0


def classic_table(seconds: float, sizes: tuple[int, ...]) -> None:
    print("\nOther classic-control envs against SyncVectorEnv of the reference env")
    print("| env | N | Thrust vector | SyncVectorEnv | ratio |")
    print("|---|---:|---:|---:|---:|")
    for ours_id, reference_id in CLASSIC.items():
        for n in sizes:
            ours = vector_rate(gym.make_vec(ours_id, num_envs=n), n, seconds)
            sync = vector_rate(
                gym.make_vec(reference_id, num_envs=n, vectorization_mode="sync"), n, seconds
            )
            name = ours_id.removeprefix("Thrust/")
            print(
                f"| {name} | {n} | {fmt_rate(ours)} | {fmt_rate(sync)} | {fmt_ratio(ours, sync)} |"
            )


if __name__ == "__main__":
    sys.exit(main())
