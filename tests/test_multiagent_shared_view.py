"""The SB3 views of every game equal PettingZoo's view of the same games, game by game: G
seeded ParallelEnvs stepped with the same actions give the same observations, rewards, dones,
terminal observations, episode returns and lengths. For the parameter-sharing VecEnv that
includes the rows of agents that died before their game ended ("black death": zeros, never
done) and games that end and restart within a step; for the vs-opponent VecEnv, the seats
alternating per episode and games restarting when the learner dies."""

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


def _hash_opponent(space):
    """A deterministic opponent: each row's action a function of that row's observation alone,
    so a batched call and per-game calls agree."""

    def act(obs: np.ndarray) -> np.ndarray:
        code = (np.abs(obs).sum(axis=1) * 1000).astype(np.int64)
        if hasattr(space, "n"):
            return code % space.n
        return np.stack([(code // (k + 1)) % n for k, n in enumerate(space.nvec)], axis=1)

    return act


@pytest.mark.parametrize("env_id", sorted(GAMES))
def test_vs_opponent_equals_pettingzoo_game_by_game(env_id):
    """The learner's row of each game, seats alternating per episode, against PettingZoo with
    the same opponent playing the other seats: same observations, rewards, dones, terminal
    observations, returns, lengths, seats; a game whose learner died restarts."""
    kwargs = GAMES[env_id]
    n_games, seed = 5, 3
    games = [thrust_envs.make_parallel(env_id, **kwargs) for _ in range(n_games)]
    agents = games[0].possible_agents
    space = games[0].action_space(agents[0])
    opponent = _hash_opponent(space)
    venv = thrust_envs.vs_opponent(env_id, opponent, n_games, seed=seed, **kwargs)
    obs = venv.reset()
    expected = [env.reset(seed=seed + g)[0] for g, env in enumerate(games)]
    seats = venv.seats
    for g in range(n_games):
        np.testing.assert_array_equal(obs[g], expected[g][agents[seats[g]]])
    returns, lengths = np.zeros(n_games), np.zeros(n_games, dtype=np.int64)
    space.seed(1)
    episodes = 0
    for _ in range(150):
        learner_actions = np.stack([space.sample() for _ in range(n_games)])
        obs, rewards, dones, infos = venv.step(learner_actions)
        for g, env in enumerate(games):
            learner = agents[seats[g]]
            actions = {}
            for agent in env.agents:
                if agent == learner:
                    actions[agent] = learner_actions[g]
                else:
                    actions[agent] = opponent(expected[g][agent][None])[0]
            p_obs, p_rew, p_term, p_trunc, _ = env.step(actions)
            expected[g] = p_obs
            returns[g] += p_rew[learner]
            lengths[g] += 1
            assert rewards[g] == np.float32(p_rew[learner])
            done = p_term[learner] or p_trunc[learner]
            assert dones[g] == done
            if not done:
                np.testing.assert_array_equal(obs[g], p_obs[learner])
                continue
            episodes += 1
            info = infos[g]
            np.testing.assert_array_equal(info["terminal_observation"], p_obs[learner])
            assert info["TimeLimit.truncated"] == bool(p_trunc[learner] and not p_term[learner])
            assert info["episode"]["r"] == pytest.approx(returns[g], abs=1e-6)
            assert info["episode"]["l"] == lengths[g]
            assert info["seat"] == seats[g] and info["opponent"] == 0
            returns[g], lengths[g] = 0.0, 0
            expected[g] = env.reset()[0]  # the VecEnv restarted this game from its stream
        new_seats = venv.seats
        for g in np.flatnonzero(dones):
            assert new_seats[g] == (seats[g] + 1) % len(agents)
            np.testing.assert_array_equal(obs[g], expected[g][agents[new_seats[g]]])
        seats = new_seats
    assert episodes > n_games
