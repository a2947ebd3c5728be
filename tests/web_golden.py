"""Golden data for the web page's JavaScript, written by Python for ``node --test``.

Each env file holds a trajectory of the Python kernel under random actions (with the
episode resets a vector env makes), as the state before and after every step (a game's also
with its random-stream words, alive masks and every seat's observations, and bot actions for
some seats); each policy file holds a plan (``plan_to_json``) and NumpyPolicy's outputs on
random observations; each episodes file a page config and the episodes Python plays.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import thrust_envs  # noqa: F401  (registers the Thrust IDs)
from thrust_envs.core.games import BatchGame
from thrust_envs.registration import game_definitions, game_lookup

#: The single-agent envs of the golden files.
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


def page_bot(env_id: str, name: str, seed: int, env_kwargs: dict[str, Any] | None = None) -> Any:
    """The game's bot ``name`` as the page's bot of that name plays (seeded with the page's
    seed, built from the game's parameters where its factory takes them)."""
    from thrust_envs.core.definition import make_params
    from thrust_export.web import python_bot

    definition = game_lookup(env_id)
    return python_bot(env_id, name, make_params(definition, env_id, env_kwargs or {}), seed)


def game_trajectory(
    env_id: str,
    steps: int,
    seed: int,
    env_kwargs: dict[str, Any] | None = None,
    bot_seats: tuple[int, ...] = (),
    bot: str | None = None,
) -> dict[str, Any]:
    """``steps`` steps of one game (autoreset): random actions, except that the bot ``bot``
    (the web export's default if None; seeded with ``seed``) plays ``bot_seats``, called on
    those seats' observations in seat order every step, dead seats included, as vs_opponent
    calls it. Each record holds the game's random-stream word before and after the step, the
    alive mask before and after, and the observations the step wrote (every seat's after a
    reset, else those of the seats alive before the step)."""
    from thrust_envs.core.definition import make_params
    from thrust_export.web import WEB_ENVS, web_env

    env_kwargs = env_kwargs or {}
    _, config = web_env(env_id, env_kwargs)
    definition = game_lookup(env_id)
    game = BatchGame(definition, 1, make_params(definition, env_id, env_kwargs), True, 1)
    game.seed(seed)
    game.reset()
    rng = np.random.default_rng(seed)
    bot = bot or WEB_ENVS[env_id].bot
    policy = page_bot(env_id, bot, seed, env_kwargs) if bot_seats else None
    # Discrete: one int a seat; MultiDiscrete: one int a sub-space ([num_agents, K]).
    space = game.action_space
    high = space.n if isinstance(space, gym.spaces.Discrete) else space.nvec
    shape = (game.num_agents,) + np.shape(high)
    records = [{"reset": game.state[0].tolist(), "obs": game.obs[0].tolist()}]
    for _ in range(steps):
        actions = rng.integers(0, high, size=shape)
        if bot_seats:
            actions[list(bot_seats)] = policy(game.obs[0, list(bot_seats)])
        before = game.state[0].tolist()
        alive_before = game.alive[0].tolist()
        word = str(int(game.rng[0]))
        game.actions[0] = actions.reshape(game.num_agents, -1)
        game.step()
        over = bool(game.game_over[0])
        # A game cut at its time limit (max_steps) is reset without its kernel ending it.
        truncated = bool(game.truncated[0].any())
        records.append(
            {
                "before": before,
                "rng": word,
                "action": actions.tolist(),
                "alive": alive_before,
                "after": game.state[0].tolist(),
                "alive_after": game.alive[0].tolist(),
                "rng_after": str(int(game.rng[0])),
                "observed": [True] * game.num_agents if over else alive_before,
                "obs": game.obs[0].tolist(),
                "reward": game.reward[0].tolist(),
                "terminated": over and not truncated,
                "truncated": truncated,
            }
        )
    return {
        "config": config,
        "seed": seed,
        "bot": bot,
        "bot_seats": list(bot_seats),
        # Games without trigonometry are exact: JS must reproduce every state and observation
        # (Bucket Brigade's (1 - p) ** k is numba's repeated multiplication, as in JS).
        "exact": env_id in ("Thrust/Snake-v0", "Thrust/BucketBrigade-v0"),
        "records": records,
    }


def bucket_brigade_powers(count: int, seed: int) -> dict[str, Any]:
    """``(1 - p) ** k`` as the Bucket Brigade kernel computes its extinguish chance (numba's
    float raised to an int) for ``count`` random bases in [0, 1) and worker counts 1..10."""
    from numba import njit

    @njit(cache=False)
    def powers(bases, workers, out):
        for i in range(bases.shape[0]):
            out[i] = bases[i] ** int(workers[i])  # as step_row: miss ** int(k), k a float

    rng = np.random.default_rng(seed)
    bases = rng.random(count)
    workers = rng.integers(1, 11, count).astype(np.float64)
    out = np.zeros(count)
    powers(bases, workers, out)
    return {"bases": bases.tolist(), "exponents": workers.tolist(), "powers": out.tolist()}


def numpy_draws(seed: int, highs: tuple[int, ...], rounds: int) -> dict[str, Any]:
    """``np.random.default_rng(seed)``'s ``integers(0, highs)`` (an array of bounds, drawn
    elementwise) then ``random()``, ``rounds`` times: the 32-bit words' order, the
    rejections of large bounds, and random() between them (which leaves a spare word)."""
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(rounds):
        draws.append({"integers": rng.integers(0, highs).tolist(), "random": rng.random()})
    return {"seed": seed, "highs": list(highs), "draws": draws}


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


def python_episodes(
    policy: Any,
    env_id: str,
    seed: int,
    count: int,
    env_kwargs: dict[str, Any] | None = None,
    opponent: str | None = None,
) -> tuple[list, list]:
    """Returns and lengths of the first ``count`` episodes of ``gym.make_vec(env_id,
    num_envs=1)`` reset with ``seed``, the policy acting deterministically. For a game, the
    episodes of ``thrust_envs.vs_opponent(env_id, bot, 1, seat=0, seed=seed)`` with the
    game's bot ``opponent`` as the page builds it (:func:`page_bot`; the web export's default
    bot if None), or the policy itself with ``opponent="policy"``; a one-player game is the
    parameter-sharing VecEnv's one row."""
    if env_id in game_definitions():
        return _game_episodes(policy, env_id, seed, count, env_kwargs or {}, opponent)
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


def _game_episodes(
    policy: Any,
    env_id: str,
    seed: int,
    count: int,
    env_kwargs: dict[str, Any],
    opponent: str | None,
) -> tuple[list, list]:
    from thrust_envs.core.definition import make_params
    from thrust_envs.sb3.shared import SharedGameVecEnv
    from thrust_envs.sb3.vs_opponent import VsOpponentVecEnv
    from thrust_export.web import WEB_ENVS

    definition = game_lookup(env_id)
    if definition.num_agents(make_params(definition, env_id, env_kwargs)) == 1:
        venv = SharedGameVecEnv(definition, 1, seed=seed, **env_kwargs)
    else:
        bot = (
            policy
            if opponent == "policy"
            else page_bot(env_id, opponent or WEB_ENVS[env_id].bot, seed, env_kwargs)
        )
        venv = VsOpponentVecEnv(definition, bot, 1, seat=0, seed=seed, **env_kwargs)
    obs = venv.reset()
    returns, lengths = [], []
    while len(returns) < count:
        obs, _, dones, infos = venv.step(policy.predict(obs)[0])
        if dones[0]:
            returns.append(float(infos[0]["episode"]["r"]))
            lengths.append(int(infos[0]["episode"]["l"]))
    venv.close()
    return returns, lengths


def episodes_case(
    policy: Any,
    env_id: str,
    seed: int,
    count: int,
    env_kwargs: dict[str, Any] | None = None,
    opponent: str | None = None,
) -> dict[str, Any]:
    """A page config for ``policy`` on ``env_id`` and the episodes Python plays from ``seed``
    (``opponent``: the page's choice for a game's other seats, its default bot if None)."""
    from thrust_export.policy_plan import plan_to_json
    from thrust_export.web import web_env

    _, config = web_env(env_id, env_kwargs or {})
    if opponent is not None:
        config["opponent"] = opponent
    returns, lengths = python_episodes(policy, env_id, seed, count, env_kwargs, opponent)
    return {
        "config": {**config, "plan": plan_to_json(policy.plan)},
        "seed": seed,
        "returns": returns,
        "lengths": lengths,
    }


def cautious_snake_model(env_kwargs: dict[str, Any] | None = None) -> Any:
    """An SB3 PPO model for Snake built by hand, one linear layer on the observation (a PPO
    ``MlpPolicy`` without hidden layers): it never moves into a wall or a body seen in the
    next cell while another move is free, takes food next to its head, and otherwise prefers
    up, right, down, left in that order. It lives long enough to see other snakes die (an
    untrained policy runs into a wall within a few steps)."""
    import torch
    from export_helpers import SpaceEnv
    from stable_baselines3 import PPO

    from thrust_envs.core.definition import make_params
    from thrust_envs.multiagent.snake import CHANNELS, FOOD_CH, OTHER_CH, OWN_CH, WALL_CH

    env_kwargs = env_kwargs or {}
    definition = game_lookup("Thrust/Snake-v0")
    params = make_params(definition, "Thrust/Snake-v0", env_kwargs)
    spaces = definition.observation_space(params), definition.action_space(params)
    model = PPO(
        "MlpPolicy",
        SpaceEnv(*spaces),
        policy_kwargs={"net_arch": {"pi": [], "vf": []}},
        seed=0,
        device="cpu",
    )
    r = params.vision_radius
    width = 2 * r + 1
    area = width * width
    weight = torch.zeros(4, CHANNELS * area)
    for action, (dx, dy) in enumerate(((0, -1), (1, 0), (0, 1), (-1, 0))):
        cell = (r + dy) * width + r + dx
        for channel in (WALL_CH, OWN_CH, OTHER_CH):
            weight[action, channel * area + cell] = -10.0
        weight[action, FOOD_CH * area + cell] = 1.0
    with torch.no_grad():
        model.policy.action_net.weight.copy_(weight)
        model.policy.action_net.bias.copy_(torch.tensor([0.3, 0.2, 0.1, 0.0]))
    return model
