"""A population on Bucket Brigade: learned teams against the scripted behaviours.

Bucket Brigade (``Thrust/BucketBrigade-v0``) is cooperative: four agents share a ring of ten
houses, fires start and spread, and every agent earns from the houses that survive (its own
more) and pays to work. Each learned team is one PPO policy shared by the four seats (the
observation includes the agent's own index), trained with thrust_algos.PPO on the shared VecEnv
(one row per agent of every game, all games in one kernel call); teams differ by their seed.

Then every team plays the same 1,000 seeded games (``thrust_population.teams``):

- the learned teams and the five scripted behaviours of the game (hero, coordinator, owner,
  free rider, random), each as a team of four;
- cross-play: the agents of one learned team with those of another (do independently trained
  teams coordinate?);
- ad-hoc teams: one learned agent with three scripted teammates, and the reverse.

    python examples/bucket_brigade_population.py [--teams 3] [--timesteps 3000000] \\
        [--preset default]
"""

from __future__ import annotations

import argparse
import time

import torch
from stable_baselines3.common.vec_env import VecNormalize

import thrust_envs.sb3
from thrust_algos import PPO
from thrust_envs.multiagent.bucket_brigade import BOTS, preset_kwargs
from thrust_population.players import policy_from_model
from thrust_population.teams import evaluate_teams

GAME = "Thrust/BucketBrigade-v0"
AGENTS = 4
PPO_KWARGS = {
    "n_steps": 64,
    "batch_size": 4096,
    "n_epochs": 10,
    "learning_rate": 3e-4,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "ent_coef": 0.0,
}


def train_team(seed: int, timesteps: int, preset: str, games: int = 64) -> PPO:
    """One learned team: a PPO policy shared by every seat of ``games`` games at once."""
    venv = thrust_envs.sb3.make_vec_env(GAME, games, seed=seed, **preset_kwargs(preset))
    # Returns are in the thousands: normalise the rewards for the value function only.
    venv = VecNormalize(venv, norm_obs=False, norm_reward=True, gamma=PPO_KWARGS["gamma"])
    model = PPO("MlpPolicy", venv, seed=seed, device="cpu", **PPO_KWARGS)
    model.learn(timesteps)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=3, help="learned teams (default 3)")
    parser.add_argument("--timesteps", type=int, default=3_000_000, help="agent-steps per team")
    parser.add_argument("--preset", default="default", choices=("default", "easy", "hard"))
    parser.add_argument("--games", type=int, default=1000, help="evaluation games per team")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)

    start = time.perf_counter()
    learned = {}
    for k in range(args.teams):
        t = time.perf_counter()
        model = train_team(args.seed + k, args.timesteps, args.preset)
        learned[f"learned-{k}"] = policy_from_model(model)
        print(f"learned-{k}: {args.timesteps} agent-steps in {time.perf_counter() - t:.0f} s")

    scripted = {name: factory() for name, factory in BOTS.items()}
    teams = {name: [policy] * AGENTS for name, policy in learned.items()}
    teams |= {name: [policy] * AGENTS for name, policy in scripted.items()}
    names = list(learned)
    for a, b in zip(names, names[1:] + names[:1], strict=True):
        if a != b:
            teams[f"{a} x2 + {b} x2"] = [learned[a], learned[a], learned[b], learned[b]]
    first = learned[names[0]]
    for name in ("hero", "free_rider"):
        teams[f"{names[0]} + {name} x3"] = [first] + [scripted[name]] * 3
        teams[f"{name} + {names[0]} x3"] = [scripted[name]] + [first] * 3

    table = evaluate_teams(
        GAME, teams, args.games, seed=10_000 + args.seed, **preset_kwargs(args.preset)
    )
    print(f"\n{GAME}, preset {args.preset}: mean team return over {args.games} games")
    print(table.format())
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
