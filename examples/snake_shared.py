"""Snake learns from scratch: one PPO policy shared by every snake of 256+ games at once.

``thrust_algos.PPO`` trains SB3's ``MlpPolicy`` (which keeps thrust_algos' lean fast path) on
``thrust_envs.sb3.make_vec_env("Thrust/Snake-v0", n_envs=GAMES)``: one VecEnv row per snake,
4 snakes a game, so 256 games are 1,024 rows stepped in one kernel call. The observation is
each snake's egocentric window, flat float32, 5 channels of ``(2r+1)^2`` cells (wall, own body,
other bodies, other heads, food; ``r = 3``: 245 values).

At checkpoints during training the policy (exported to pure numpy by thrust_export, moves
``deterministic``) plays *mixed* games, two learned snakes and two bots sharing the board
(``thrust_population.mixed``; each lineup also played with its seats rotated, on the same
seeded games), against the scripted ``greedy`` and ``random`` bots of the game; the bots also
play each other as a reference. It prints the learning curve (food eaten per snake per episode,
length at death) and the training throughput (agent-steps per second end to end, rollout and
update separately, evaluation excluded), then both as markdown tables for BENCHMARKS.md.

    python examples/snake_shared.py [--timesteps 8000000] [--checkpoints 8] [--games 256]
        [--torch-threads 1] [--env-threads 1] [--eval-games 128] [--seed 0]

Food and deaths are counted exactly from the evaluation games' returns: those games pay
``food_reward=1`` and ``death_reward=-0.5`` (no step reward), so a snake's return is its food
count, minus one half if it died. Rewards never change play (policies see observations only),
so evaluation games are the training game with other bookkeeping.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback

import thrust_envs.sb3
from thrust_algos import PPO
from thrust_envs.multiagent.snake import greedy_bot, random_bot
from thrust_population.matches import Policy
from thrust_population.mixed import play_mixed
from thrust_population.players import fast_policy, policy_from_model

GAME = "Thrust/Snake-v0"
#: The game, for training and evaluation alike (the defaults: a 12 x 12 grid, one food a snake).
GAME_KWARGS: dict[str, Any] = {"num_snakes": 4, "vision_radius": 3, "start_length": 3}
#: Evaluation rewards from which food and deaths are read back exactly (see the docstring).
OUTCOME_REWARDS = {"food_reward": 1.0, "death_reward": -0.5, "step_reward": 0.0}
PPO_KWARGS: dict[str, Any] = {
    "n_steps": 32,
    "batch_size": 8192,
    "n_epochs": 2,
    "learning_rate": 1e-3,
    "gamma": 0.97,
    "gae_lambda": 0.9,
    "ent_coef": 0.01,
    "clip_range": 0.2,
    "max_grad_norm": 0.5,
    "policy_kwargs": {"net_arch": {"pi": [32], "vf": [32]}, "activation_fn": torch.nn.ReLU},
}
OPPONENTS = ("greedy", "random")


@dataclass(frozen=True)
class Outcome:
    """One player's snakes in mixed games.

    Attributes:
        food: mean food eaten per snake per episode
        length_at_death: mean length of the snakes that died, when they died (nan: none died)
        deaths: the fraction of its snakes that died (the others survived to the game's end)
        episodes: snake-episodes played
    """

    food: float
    length_at_death: float
    deaths: float
    episodes: int


def outcome(returns: np.ndarray, start_length: int = GAME_KWARGS["start_length"]) -> Outcome:
    """Food and deaths read back from returns earned under :data:`OUTCOME_REWARDS`, ``[n]``.

    A snake grows by one per food item, so its length at death is ``start_length + food``."""
    returns = np.asarray(returns, dtype=np.float64)
    died = (returns % 1.0) == 0.5
    food = returns + 0.5 * died
    if not np.array_equal(food, np.round(food)):
        raise ValueError("returns not earned under OUTCOME_REWARDS (food counts must be whole)")
    length = start_length + food[died]
    return Outcome(
        food=float(food.mean()),
        length_at_death=float(length.mean()) if died.any() else float("nan"),
        deaths=float(died.mean()),
        episodes=len(returns),
    )


def bots(seed: int) -> dict[str, Policy]:
    """The scripted bots, freshly seeded (so every evaluation plays them alike)."""
    return {"greedy": greedy_bot(seed), "random": random_bot(seed + 1)}


def play_pair(
    first: str,
    second: str,
    players: dict[str, Policy],
    games: int,
    seed: int,
    game_kwargs: dict[str, Any] | None = None,
) -> tuple[Outcome, Outcome]:
    """``first`` and ``second`` two snakes each per game (seats alternating, and rotated),
    ``games`` games per rotation; ``game_kwargs`` override :data:`GAME_KWARGS`."""
    kwargs = GAME_KWARGS | (game_kwargs or {})
    snakes = kwargs["num_snakes"]
    if snakes % 2:
        raise ValueError(f"mixed pairs need an even number of snakes, got {snakes}")
    returns = play_mixed(
        GAME,
        {first: players[first], second: players[second]},
        [first, second] * (snakes // 2),
        games,
        seed=seed,
        **(kwargs | OUTCOME_REWARDS),
    )
    start = kwargs["start_length"]
    return outcome(returns[first], start), outcome(returns[second], start)


def evaluate(
    policy: Policy, games: int, seed: int = 10_000, game_kwargs: dict[str, Any] | None = None
) -> dict[str, tuple[Outcome, Outcome]]:
    """The learned ``policy`` in mixed games with each bot: ``{bot: (learned, bot)}``."""
    results = {}
    for name in OPPONENTS:
        players = bots(seed) | {"learned": policy}
        results[name] = play_pair("learned", name, players, games, seed, game_kwargs)
    return results


class PhaseTimer(BaseCallback):
    """Wall seconds spent collecting rollouts and updating (everything between rollouts)."""

    def __init__(self) -> None:
        super().__init__()
        self.rollout_s = 0.0
        self.update_s = 0.0
        self._mark: float | None = None

    def _on_rollout_start(self) -> None:
        now = time.perf_counter()
        if self._mark is not None:
            self.update_s += now - self._mark
        self._mark = now

    def _on_rollout_end(self) -> None:
        now = time.perf_counter()
        assert self._mark is not None
        self.rollout_s += now - self._mark
        self._mark = now

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        # the update that follows the last rollout
        if self._mark is not None:
            self.update_s += time.perf_counter() - self._mark
            self._mark = None


@dataclass
class Checkpoint:
    """The evaluation after ``steps`` agent-steps and ``seconds`` of training."""

    steps: int
    seconds: float
    results: dict[str, tuple[Outcome, Outcome]]


@dataclass
class Run:
    """A training run: its settings, checkpoints and timings."""

    games: int
    rows: int
    torch_threads: int
    env_threads: int
    eval_games: int
    checkpoints: list[Checkpoint] = field(default_factory=list)
    train_s: float = 0.0
    cpu_s: float = 0.0
    rollout_s: float = 0.0
    update_s: float = 0.0
    steps: int = 0
    reference: tuple[Outcome, Outcome] | None = None  # greedy vs random


def train(
    timesteps: int = 8_000_000,
    checkpoints: int = 8,
    games: int = 256,
    seed: int = 0,
    torch_threads: int = 1,
    env_threads: int = 1,
    eval_games: int = 128,
    verbose: bool = True,
    ppo_kwargs: dict[str, Any] | None = None,
    game_kwargs: dict[str, Any] | None = None,
) -> tuple[PPO, Run]:
    """Train for ``timesteps`` agent-steps (rounded up to whole rollouts), evaluating at
    ``checkpoints`` evenly spaced points (and before training); return the model and the run.

    ``torch_threads``: torch's intra-op threads; ``env_threads``: numba threads of the VecEnv;
    ``ppo_kwargs`` and ``game_kwargs`` override :data:`PPO_KWARGS` and :data:`GAME_KWARGS`.
    """
    torch.set_num_threads(torch_threads)
    kwargs = PPO_KWARGS | (ppo_kwargs or {})
    game_kwargs = GAME_KWARGS | (game_kwargs or {})
    venv = thrust_envs.sb3.make_vec_env(
        GAME, n_envs=games, seed=seed, num_threads=env_threads, **game_kwargs
    )
    model = PPO("MlpPolicy", venv, seed=seed, device="cpu", **kwargs)
    rollout = venv.num_envs * kwargs["n_steps"]
    chunks = max(1, checkpoints)
    per_chunk = max(1, -(-timesteps // (chunks * rollout))) * rollout
    run = Run(games, venv.num_envs, torch_threads, env_threads, eval_games)
    run.reference = play_pair(
        "greedy", "random", bots(10_000 + seed), eval_games, 10_000 + seed, game_kwargs
    )
    timer = PhaseTimer()

    def checkpoint() -> None:
        policy = policy_from_model(fast_policy(model))  # pure numpy, through thrust_export
        results = evaluate(policy, eval_games, 10_000 + seed, game_kwargs)
        run.checkpoints.append(Checkpoint(run.steps, run.train_s, results))
        if verbose:
            learned, greedy = results["greedy"]
            versus_random = results["random"][0]
            print(
                f"{run.steps:>11,} steps {run.train_s:7.1f} s  food/episode: learned "
                f"{learned.food:5.2f} vs greedy {greedy.food:5.2f}, learned "
                f"{versus_random.food:5.2f} vs random",
                flush=True,
            )

    checkpoint()
    for _ in range(chunks):
        start, cpu = time.perf_counter(), time.process_time()
        model.learn(per_chunk, callback=timer, reset_num_timesteps=False)
        run.train_s += time.perf_counter() - start
        run.cpu_s += time.process_time() - cpu
        run.steps = int(model.num_timesteps)
        checkpoint()
    run.rollout_s, run.update_s = timer.rollout_s, timer.update_s
    venv.close()
    return model, run


def _cell(value: float) -> str:
    return "—" if np.isnan(value) else f"{value:.2f}"


def format_tables(run: Run) -> str:
    """The learning curve and the throughput as markdown tables."""
    head = (
        "| agent-steps | training s | learned vs greedy: food | greedy: food "
        "| learned: length at death | greedy: length at death | learned vs random: food "
        "| random: food |\n|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for c in run.checkpoints:
        learned, greedy = c.results["greedy"]
        versus_random, rand = c.results["random"]
        lines.append(
            f"| {c.steps:,} | {c.seconds:.0f} | {learned.food:.2f} | {greedy.food:.2f} "
            f"| {_cell(learned.length_at_death)} | {_cell(greedy.length_at_death)} "
            f"| {versus_random.food:.2f} | {rand.food:.2f} |"
        )
    assert run.reference is not None
    greedy, rand = run.reference
    lines.append(
        f"\nReference, greedy vs random (two each per game): food per episode {greedy.food:.2f} "
        f"vs {rand.food:.2f}; length at death {_cell(greedy.length_at_death)} vs "
        f"{_cell(rand.length_at_death)}. Each evaluation: {run.eval_games} games per seat "
        f"rotation, {greedy.episodes} snake-episodes per player."
    )
    rate = run.steps / run.train_s if run.train_s else float("nan")
    lines.append(
        "\n| games | rows (snakes) | torch threads | env threads | agent-steps | training s "
        "| agent-steps/s | rollout s | update s | CPU s |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        f"| {run.games} | {run.rows} | {run.torch_threads} | {run.env_threads} | {run.steps:,} "
        f"| {run.train_s:.1f} | {rate / 1e3:.1f}k | {run.rollout_s:.1f} | {run.update_s:.1f} "
        f"| {run.cpu_s:.1f} |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=8_000_000, help="agent-steps")
    parser.add_argument("--checkpoints", type=int, default=8, help="evaluations during training")
    parser.add_argument("--games", type=int, default=256, help="training games (4 snakes each)")
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--env-threads", type=int, default=1)
    parser.add_argument("--eval-games", type=int, default=128, help="games per seat rotation")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in ("timesteps", "checkpoints", "games", "torch_threads", "env_threads", "eval_games"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer")
    _, run = train(
        args.timesteps,
        args.checkpoints,
        args.games,
        args.seed,
        args.torch_threads,
        args.env_threads,
        args.eval_games,
    )
    print()
    print(format_tables(run))


if __name__ == "__main__":
    main()
