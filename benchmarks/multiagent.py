"""Multi-agent games: agent-steps per second of Thrust's batch path against SuperSuit's.

    python benchmarks/multiagent.py                  # every game, 1, 64 and 1024 games
    python benchmarks/multiagent.py --quick          # shorter timings, 3 rounds
    python benchmarks/multiagent.py --games snake --sizes 64,1024

Measures in one run, for each game module in ``thrust_envs.multiagent`` (Pong, Snake, and
Bucket Brigade when ``bucket_brigade.py`` exists), at 1, 64 and 1024 games, all stepping
pre-drawn uniformly random valid actions:

- Thrust: ``make_shared_vec_env(DEFINITION, G)``, the parameter-sharing SB3 VecEnv (one row
  per (game, agent), every game stepped by one kernel call, same-step autoreset);
- SuperSuit: the same game's PettingZoo ``ParallelEnv`` through
  ``pettingzoo_env_to_vec_env_v1`` and ``concat_vec_envs_v1(..., G, num_cpus=0,
  base_class="stable_baselines3")``. For a game whose agents die before the game ends (Snake)
  that pipeline needs SuperSuit's ``black_death_v3`` wrapper first; SuperSuit 3.11's wrapper
  ends an episode only when every agent is terminated *and* truncated, so it never ends one
  (fixed upstream in SuperSuit PR #265); :class:`BlackDeath` here is that wrapper with the fix;
- Bucket Brigade only: ``PythonBucketBrigade`` from ``benchmarks/bucket_brigade_python.py``
  (plain Python, one game at a time, as the original), looped over the ``G`` games.

Each side is built once and timed in interleaved rounds (Thrust, SuperSuit, Python, then
again), so a drift in the machine's speed hits every side alike; the table gives each side's
median rate and the median (and range) over rounds of the ratios within a round.

An agent-step is one live agent acting for one step: rows of agents already dead ("black
death" padding) are not counted, on either path.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np
from gymnasium import spaces

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Interleaved, fmt_rate, header, make_parser, rate

from thrust_envs.core.game_views import ThrustParallelEnv
from thrust_envs.core.games import BatchGame, GameDefinition
from thrust_envs.sb3 import make_shared_vec_env

SIZES = (1, 64, 1024)
GAMES = ("pong", "snake", "bucket_brigade")
POOL = 32  # pre-drawn action batches, cycled


def available_games(names: list[str]) -> list[GameDefinition]:
    """The definitions of the named game modules that exist (others are reported, skipped)."""
    found = []
    for name in names:
        module_name = f"thrust_envs.multiagent.{name}"
        if importlib.util.find_spec(module_name) is None:
            print(f"({module_name} not found: skipped)")
            continue
        found.append(importlib.import_module(module_name).DEFINITION)
    return found


def random_actions(space, rows: int, rng: np.random.Generator) -> np.ndarray:
    """A batch of uniformly random valid actions: ``[rows]`` (Discrete) or ``[rows, K]``."""
    if isinstance(space, spaces.Discrete):
        return rng.integers(0, space.n, rows)
    return rng.integers(0, space.nvec, (rows, len(space.nvec)))


def agents_die(definition: GameDefinition) -> bool:
    """Whether agents of this game can leave before their game ends (probed with random play)."""
    game = BatchGame(definition, 64, definition.params_type(), autoreset=True, num_threads=1)
    game.seed(0)
    game.reset()
    rng = np.random.default_rng(0)
    for _ in range(500):
        rows = game.num_games * game.num_agents
        game.actions[...] = random_actions(game.action_space, rows, rng).reshape(game.actions.shape)
        game.step()
        died = game.was_alive & game.terminated & ~game.game_over[:, None]
        if died.any():
            return True
    return False


class Runner:
    """One side of a comparison, built once and timed in several rounds: ``step(k)`` advances
    it by one step with the ``k``-th pre-drawn action batch, ``live()`` counts the agents about
    to act."""

    def __init__(self, step: Callable[[int], None], live: Callable[[], int], close=None):
        self.step, self.live, self.close = step, live, close or (lambda: None)

    def rate(self, seconds: float) -> float:
        """Live agent-steps per second over about ``seconds``."""
        gc.collect()  # leave no garbage of the other side (1024 SuperSuit envs) to collect
        totals = [0, 0]  # calls, live agents

        def counted(k: int) -> None:
            totals[1] += self.live()
            self.step(k)
            totals[0] += 1

        calls_per_second = rate(counted, 1, seconds)
        return calls_per_second * totals[1] / totals[0]


def thrust_runner(definition: GameDefinition, games: int) -> Runner:
    venv = make_shared_vec_env(definition, games, seed=0)
    venv.reset()
    rng = np.random.default_rng(0)
    pool = [random_actions(venv.action_space, venv.num_envs, rng) for _ in range(POOL)]
    alive = venv._game.alive
    step = venv.step
    return Runner(lambda k: step(pool[k % POOL]), lambda: int(alive.sum()), venv.close)


def _black_death_class():
    from supersuit.multiagent_wrappers.black_death import black_death_par

    class BlackDeath(black_death_par):
        """SuperSuit's ``black_death_v3`` parallel wrapper with SuperSuit PR #265's fix: the
        episode is over when every agent is terminated *or* truncated."""

        def step(self, actions):
            live = {agent: actions[agent] for agent in self.env.agents}
            obs, rewards, terms, truncs, infos = self.env.step(live)
            padded = [agent for agent in self.agents if agent not in obs]
            for agent in padded:
                obs[agent] = np.zeros_like(self.observation_space(agent).low)
                rewards[agent] = 0.0
                infos[agent] = {}
            done = bool(
                (np.fromiter(terms.values(), bool) | np.fromiter(truncs.values(), bool)).all()
            )
            dones = dict.fromkeys(self.agents, done)
            if done:
                self.agents.clear()
            return obs, rewards, dones, dict(dones), infos

    return BlackDeath


def supersuit_venv(definition: GameDefinition, games: int, black_death: bool):
    """The SuperSuit pipeline over ``games`` copies of the game's PettingZoo env, and the
    innermost Thrust envs (to count live agents)."""
    import supersuit as ss

    env = ThrustParallelEnv(definition)
    if black_death:
        env = _black_death_class()(env)
    venv = ss.pettingzoo_env_to_vec_env_v1(env)
    venv = ss.concat_vec_envs_v1(venv, games, num_cpus=0, base_class="stable_baselines3")
    inner = [markov.par_env.unwrapped for markov in venv.venv.vec_envs]
    return venv, inner


def supersuit_runner(definition: GameDefinition, games: int, black_death: bool) -> Runner:
    venv, inner = supersuit_venv(definition, games, black_death)
    venv.venv.reset(seed=0)  # SuperSuit's SB3 wrapper cannot pass a seed down
    rng = np.random.default_rng(0)
    pool = [random_actions(venv.action_space, venv.num_envs, rng) for _ in range(POOL)]
    step = venv.step
    return Runner(
        lambda k: step(pool[k % POOL]), lambda: sum(len(env.agents) for env in inner), venv.close
    )


def python_reference():
    """``PythonBucketBrigade`` from benchmarks/bucket_brigade_python.py, or None."""
    try:
        from bucket_brigade_python import PythonBucketBrigade
    except ImportError:
        return None
    return PythonBucketBrigade


def python_runner(definition: GameDefinition, games: int) -> Runner | None:
    reference = python_reference()
    if reference is None or definition.name != "BucketBrigade":
        return None
    envs = [reference() for _ in range(games)]
    for i, env in enumerate(envs):
        env.reset(seed=i)
    agents = envs[0].num_agents
    space = definition.action_space(definition.params_type())
    rng = np.random.default_rng(0)
    # Plain Python actions, converted before timing: per game a list of per-agent tuples.
    pool = []
    for _ in range(POOL):
        batch = random_actions(space, games * agents, rng).reshape(games, agents, -1).tolist()
        pool.append([[tuple(action) for action in game] for game in batch])

    def step(k: int) -> None:
        actions = pool[k % POOL]
        for env, acts in zip(envs, actions, strict=True):
            _, _, done = env.step(acts)
            if done:
                env.reset()

    return Runner(step, lambda: games * agents)


def load_average() -> str:
    """The machine's load (other processes compete for the same cores)."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--games", nargs="+", default=list(GAMES), choices=GAMES)
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (5)")
    args = parser.parse_args(argv)
    seconds = 0.3 if args.quick else 1.0
    rounds = args.rounds or (3 if args.quick else 5)
    sizes = [int(s) for s in args.sizes.split(",")]
    threads = f"numba threads: {numba.config.NUMBA_NUM_THREADS}"
    print(header("Multi-agent games, live agent-steps/s", __file__, argv, threads))
    print(f"load average (1, 5, 15 min) at the start: {load_average()}")
    print(
        f"medians over {rounds} interleaved rounds of {seconds:g} s per side; ratios: median "
        "(min-max) over rounds of the same round's rates\n"
    )
    definitions = available_games(args.games)
    print(
        "| game | agents/game | games | Thrust shared VecEnv | SuperSuit pipeline | ratio "
        "| Python reference | ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")

    for definition in definitions:
        params = definition.params_type()
        agents = definition.num_agents(params)
        black_death = agents_die(definition)
        label = definition.env_id.removeprefix("Thrust/")
        for games in sizes:
            runners = {
                "thrust": thrust_runner(definition, games),
                "supersuit": supersuit_runner(definition, games, black_death),
                "python": python_runner(definition, games),
            }
            present = {name: runner for name, runner in runners.items() if runner is not None}
            result = Interleaved(
                {name: runner.rate for name, runner in present.items()}, rounds, seconds
            )
            for runner in present.values():
                runner.close()
            print(
                f"| {label} | {agents} | {games} | {fmt_rate(result.median('thrust'))} "
                f"| {fmt_rate(result.median('supersuit'))} | {result.ratio('thrust', 'supersuit')} "
                f"| {fmt_rate(result.median('python'))} | {result.ratio('thrust', 'python')} |",
                flush=True,
            )
    print(f"\nload average (1, 5, 15 min) at the end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
