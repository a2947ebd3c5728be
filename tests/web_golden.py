"""Golden data for the web page's JavaScript, written by Python for ``node --test``.

Each env file holds a trajectory of the Python kernel under random actions (with the
episode resets a vector env makes), as the state before and after every step; each policy
file holds a plan (``plan_to_json``) and NumpyPolicy's outputs on random observations.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import thrust_envs  # noqa: F401  (registers the Thrust IDs)
from thrust_envs.core.games import BatchGame
from thrust_envs.registration import game_lookup

#: The single-agent envs of the golden files, and Pong (a game).
SINGLE_ENVS = (
    "Thrust/CartPole-v1",
    "Thrust/Pendulum-v1",
    "Thrust/MountainCar-v0",
    "Thrust/MountainCarContinuous-v0",
    "Thrust/Acrobot-v1",
)


def _actions(space: gym.Space, rng: np.random.Generator, n: int) -> list[Any]:
    if isinstance(space, gym.spaces.Discrete):
        return rng.integers(0, space.n, size=n).tolist()
    # Beyond the bounds too, so that the clipping paths run.
    low, high = space.low.astype(np.float64) * 1.3, space.high.astype(np.float64) * 1.3
    return rng.uniform(low, high, size=(n, *space.shape)).astype(np.float32).tolist()


def env_trajectory(env_id: str, steps: int, seed: int) -> dict[str, Any]:
    """``steps`` steps of ``gym.make_vec(env_id, num_envs=1)`` reset with ``seed``."""
    from thrust_export.web import web_env

    _, config = web_env(env_id, {})
    envs = gym.make_vec(env_id, num_envs=1)
    rng = np.random.default_rng(seed)
    actions = _actions(envs.single_action_space, rng, steps)
    envs.reset(seed=seed)
    records = [{"reset": envs.unwrapped.get_state()[0].tolist()}]
    done = False
    for action in actions:
        before = envs.unwrapped.get_state()[0].tolist()
        obs, reward, terminated, truncated, _ = envs.step(np.array([action]))
        after = envs.unwrapped.get_state()[0].tolist()
        if done:  # NEXT_STEP autoreset: this step reset the row from its stream
            records.append({"reset": after, "obs": obs[0].tolist()})
        else:
            records.append(
                {
                    "before": before,
                    "action": action,
                    "after": after,
                    "obs": obs[0].tolist(),
                    "reward": float(reward[0]),
                    "terminated": bool(terminated[0]),
                    "truncated": bool(truncated[0]),
                }
            )
        done = bool(terminated[0] or truncated[0])
    envs.close()
    return {"config": config, "seed": seed, "records": records}


def pong_trajectory(steps: int, seed: int) -> dict[str, Any]:
    """``steps`` steps of one Pong game (autoreset) under random actions of both players,
    with the game's random-stream word before each step (points draw serves from it)."""
    from thrust_envs.core.definition import make_params
    from thrust_export.web import web_env

    _, config = web_env("Thrust/Pong-v0", {})
    definition = game_lookup("Thrust/Pong-v0")
    game = BatchGame(definition, 1, make_params(definition, "Thrust/Pong-v0", {}), True, 1)
    game.seed(seed)
    game.reset()
    rng = np.random.default_rng(seed)
    records = [{"reset": game.state[0].tolist()}]
    for _ in range(steps):
        actions = rng.integers(0, 3, size=2)
        before = game.state[0].tolist()
        word = str(int(game.rng[0]))
        game.actions[0, :, 0] = actions
        game.step()
        records.append(
            {
                "before": before,
                "rng": word,
                "action": actions.tolist(),
                "after": game.state[0].tolist(),
                "rng_after": str(int(game.rng[0])),
                "obs": game.obs[0].tolist(),
                "reward": game.reward[0].tolist(),
                "terminated": bool(game.game_over[0]),
            }
        )
    return {"config": config, "seed": seed, "records": records}


def policy_case(policy: Any, observations: np.ndarray) -> dict[str, Any]:
    """A plan and NumpyPolicy's ``forward`` on ``observations``."""
    from thrust_export.policy_plan import plan_to_json

    out = policy.forward(observations)
    # TD3's forward has no output besides the action.
    main = next((out[k] for k in ("logits", "mean", "q_values") if k in out), None)
    return {
        "plan": plan_to_json(policy.plan),
        # The page's observations are flat: the plan reads them as (flat_obs_dim,).
        "observations": observations.reshape(len(observations), -1).astype(np.float64).tolist(),
        "action": np.asarray(out["action"])
        .reshape(len(observations), -1)
        .astype(np.float64)
        .tolist()
        if policy.action_space_type != "Discrete"
        else np.asarray(out["action"]).tolist(),
        "value": out["value"].astype(np.float64).tolist() if "value" in out else None,
        "main": None if main is None else main.astype(np.float64).tolist(),
        "discrete": policy.action_space_type != "Box",
    }


def write(directory: Path, name: str, data: dict[str, Any]) -> Path:
    path = directory / f"{name}.json"
    path.write_text(json.dumps(data, allow_nan=False))
    return path


def python_episodes(policy: Any, env_id: str, seed: int, count: int) -> tuple[list, list]:
    """Returns and lengths of the first ``count`` episodes of ``gym.make_vec(env_id,
    num_envs=1)`` reset with ``seed``, the policy acting deterministically; for Pong, one
    game (seeded as ``BatchGame.seed``) with the policy in seat 0 and the tracker bot in
    seat 1."""
    if env_id == "Thrust/Pong-v0":
        return _pong_episodes(policy, seed, count)
    envs = gym.make_vec(env_id, num_envs=1)
    obs, _ = envs.reset(seed=seed)
    returns, lengths, total, length, done = [], [], 0.0, 0, False
    while len(returns) < count:
        action, _ = policy.predict(obs)
        obs, reward, terminated, truncated, _ = envs.step(action)
        if done:  # this step was the vector env's autoreset
            done = False
            continue
        total += float(reward[0])
        length += 1
        if terminated[0] or truncated[0]:
            returns.append(total)
            lengths.append(length)
            total, length, done = 0.0, 0, True
    envs.close()
    return returns, lengths


def _pong_episodes(policy: Any, seed: int, count: int) -> tuple[list, list]:
    from thrust_envs.core.definition import make_params
    from thrust_envs.multiagent.pong import tracker_bot

    definition = game_lookup("Thrust/Pong-v0")
    game = BatchGame(definition, 1, make_params(definition, "Thrust/Pong-v0", {}), True, 1)
    game.seed(seed)
    game.reset()
    bot = tracker_bot()
    returns, lengths = [], []
    while len(returns) < count:
        game.actions[0, 0, 0] = policy.predict(game.obs[0, 0])[0]
        game.actions[0, 1, 0] = bot(game.obs[0, 1:2])[0]
        game.step()
        if game.game_over[0]:
            returns.append(float(game.final_return[0, 0]))
            lengths.append(int(game.final_length[0]))
    return returns, lengths


def episodes_case(policy: Any, env_id: str, seed: int, count: int) -> dict[str, Any]:
    """A page config for ``policy`` on ``env_id`` and the episodes Python plays from ``seed``."""
    from thrust_export.policy_plan import plan_to_json
    from thrust_export.web import web_env

    _, config = web_env(env_id, {})
    returns, lengths = python_episodes(policy, env_id, seed, count)
    return {
        "config": {**config, "plan": plan_to_json(policy.plan)},
        "seed": seed,
        "returns": returns,
        "lengths": lengths,
    }
