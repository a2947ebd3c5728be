"""The parameter-sharing SB3 VecEnv of every game equals PettingZoo's view of the same games,
row by row: G seeded ParallelEnvs stepped with the same actions give the same observations,
rewards, dones, terminal observations, episode returns and lengths, including the rows of
agents that died before their game ended ("black death": zeros, never done) and games that end
and restart within a step."""

from __future__ import annotations

import numpy as np
import pytest

import thrust_envs
from thrust_envs.sb3 import make_vec_env

GAMES = {
    "Thrust/Pong-v0": {"points_to_win": 1, "max_steps": 60},
    "Thrust/Snake-v0": {"max_steps": 40},
    "Thrust/BucketBrigade-v0": {},
}


@pytest.mark.parametrize("env_id", sorted(GAMES))
def test_shared_vec_env_equals_pettingzoo_game_by_game(env_id):
    kwargs = GAMES[env_id]
    n_games, seed = 6, 11
    venv = make_vec_env(env_id, n_games, seed=seed, **kwargs)
    games = [thrust_envs.make_parallel(env_id, **kwargs) for _ in range(n_games)]
    agents = games[0].possible_agents
    A = len(agents)
    assert venv.num_envs == n_games * A
    obs = venv.reset()
    expected = [env.reset(seed=seed + g)[0] for g, env in enumerate(games)]
    for g in range(n_games):
        for a, agent in enumerate(agents):
            np.testing.assert_array_equal(obs[g * A + a], expected[g][agent])
    returns = np.zeros(venv.num_envs)
    lengths = np.zeros(venv.num_envs, dtype=np.int64)
    space = games[0].action_space(agents[0])
    space.seed(0)
    counts = {"episodes": 0, "padding": 0, "truncated": 0}
    for _ in range(150):
        actions = np.stack([space.sample() for _ in range(venv.num_envs)])
        obs, rewards, dones, infos = venv.step(actions)
        assert obs.dtype == np.float32 and rewards.dtype == np.float32 and dones.dtype == bool
        for g, env in enumerate(games):
            live = list(env.agents)
            step = env.step({agent: actions[g * A + agents.index(agent)] for agent in live})
            p_obs, p_rew, p_term, p_trunc, _ = step
            for a, agent in enumerate(agents):
                row = g * A + a
                info = infos[row]
                if agent not in live:  # dead before this step: a padding row
                    counts["padding"] += 1
                    assert rewards[row] == 0.0 and not dones[row]
                    if env.agents:  # zeros while the game goes on (else: the restarted game)
                        assert not obs[row].any()
                    assert info == {"TimeLimit.truncated": False}
                    continue
                returns[row] += p_rew[agent]
                lengths[row] += 1
                assert rewards[row] == np.float32(p_rew[agent])
                done = p_term[agent] or p_trunc[agent]
                assert dones[row] == done
                if not done:
                    np.testing.assert_array_equal(obs[row], p_obs[agent])
                    assert info == {"TimeLimit.truncated": False}
                    continue
                counts["episodes"] += 1
                counts["truncated"] += int(p_trunc[agent] and not p_term[agent])
                np.testing.assert_array_equal(info["terminal_observation"], p_obs[agent])
                assert info["TimeLimit.truncated"] == bool(p_trunc[agent] and not p_term[agent])
                assert info["episode"]["r"] == pytest.approx(returns[row], abs=1e-6)
                assert info["episode"]["l"] == lengths[row]
                returns[row], lengths[row] = 0.0, 0
            if not env.agents:  # the game ended: the VecEnv restarted it from the same stream
                restarted = env.reset()[0]
                for a, agent in enumerate(agents):
                    np.testing.assert_array_equal(obs[g * A + a], restarted[agent])
    assert counts["episodes"] > n_games
    if env_id == "Thrust/Snake-v0":
        assert counts["padding"] > 0
    if env_id != "Thrust/BucketBrigade-v0":
        assert counts["truncated"] > 0
