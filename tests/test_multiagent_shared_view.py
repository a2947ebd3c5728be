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


def _check_row(i, agent, pz_step, vec_step, returns, lengths) -> bool | None:
    """Row ``i`` of a VecEnv step against ``agent``'s part of the PettingZoo step of its game:
    the reward, the done flag, and the observation or, when done, the info SB3 reads.
    Returns None while the agent's episode goes on, else whether it only hit the time limit
    (its return and length then restart)."""
    p_obs, p_rew, p_term, p_trunc, _ = pz_step
    obs, rewards, dones, infos = vec_step
    returns[i] += p_rew[agent]
    lengths[i] += 1
    assert rewards[i] == np.float32(p_rew[agent])
    done = p_term[agent] or p_trunc[agent]
    assert dones[i] == done
    if not done:
        np.testing.assert_array_equal(obs[i], p_obs[agent])
        assert infos[i] == {"TimeLimit.truncated": False}
        return None
    info = infos[i]
    time_limit = bool(p_trunc[agent] and not p_term[agent])
    np.testing.assert_array_equal(info["terminal_observation"], p_obs[agent])
    assert info["TimeLimit.truncated"] == time_limit
    assert info["episode"]["r"] == pytest.approx(returns[i], abs=1e-6)
    assert info["episode"]["l"] == lengths[i]
    returns[i], lengths[i] = 0.0, 0
    return time_limit


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
        vec_step = venv.step(actions)
        obs, rewards, dones, infos = vec_step
        assert obs.dtype == np.float32 and rewards.dtype == np.float32 and dones.dtype == bool
        for g, env in enumerate(games):
            live = list(env.agents)
            pz_step = env.step({agent: actions[g * A + agents.index(agent)] for agent in live})
            for a, agent in enumerate(agents):
                row = g * A + a
                if agent not in live:  # dead before this step: a padding row
                    counts["padding"] += 1
                    assert rewards[row] == 0.0 and not dones[row]
                    if env.agents:  # zeros while the game goes on (else: the restarted game)
                        assert not obs[row].any()
                    assert infos[row] == {"TimeLimit.truncated": False}
                    continue
                time_limit = _check_row(row, agent, pz_step, vec_step, returns, lengths)
                if time_limit is not None:
                    counts["episodes"] += 1
                    counts["truncated"] += int(time_limit)
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
        vec_step = venv.step(learner_actions)
        obs, rewards, dones, infos = vec_step
        for g, env in enumerate(games):
            learner = agents[seats[g]]
            actions = {}
            for agent in env.agents:
                if agent == learner:
                    actions[agent] = learner_actions[g]
                else:
                    actions[agent] = opponent(expected[g][agent][None])[0]
            pz_step = env.step(actions)
            expected[g] = pz_step[0]
            if _check_row(g, learner, pz_step, vec_step, returns, lengths) is None:
                continue
            episodes += 1
            assert infos[g]["seat"] == seats[g] and infos[g]["opponent"] == 0
            expected[g] = env.reset()[0]  # the VecEnv restarted this game from its stream
        new_seats = venv.seats
        for g in np.flatnonzero(dones):
            assert new_seats[g] == (seats[g] + 1) % len(agents)
            np.testing.assert_array_equal(obs[g], expected[g][agents[new_seats[g]]])
        seats = new_seats
    assert episodes > n_games


@pytest.mark.parametrize("env_id", ["Thrust/Snake-v0", "Thrust/BucketBrigade-v0"])
def test_free_for_all_equals_pettingzoo_game_by_game(env_id):
    """The learner's rows (two seats a game, drawn per episode) against PettingZoo with two
    opponents filling the other seats as the lineups say: same observations (zeros for a dead
    learner seat while its game goes on), rewards, dones, terminal observations, returns and
    lengths; a game whose learner seats are all dead restarts, and each new episode draws a
    new seating."""
    from thrust_envs.sb3.free_for_all import LEARNER, FreeForAllVecEnv

    kwargs = GAMES[env_id]
    if env_id == "Thrust/Snake-v0":
        kwargs = {**kwargs, "num_snakes": 4}
    n_games, seed, learner_seats = 5, 7, 2
    games = [thrust_envs.make_parallel(env_id, **kwargs) for _ in range(n_games)]
    agents = games[0].possible_agents
    A = len(agents)
    space = games[0].action_space(agents[0])
    base = _hash_opponent(space)
    opponents = [base, lambda obs: base(obs + 1.0)]  # two different deterministic players
    venv = thrust_envs.free_for_all(env_id, opponents, n_games, learner_seats, seed=seed, **kwargs)
    assert isinstance(venv, FreeForAllVecEnv)
    assert venv.num_envs == n_games * learner_seats
    obs = venv.reset()
    expected = [env.reset(seed=seed + g)[0] for g, env in enumerate(games)]
    seats, lineups = venv.seats, venv.lineups
    for g in range(n_games):
        assert sorted(np.flatnonzero(lineups[g] == LEARNER)) == sorted(seats[g])
        for j in range(learner_seats):
            np.testing.assert_array_equal(
                obs[g * learner_seats + j], expected[g][agents[seats[g, j]]]
            )
    returns = np.zeros(venv.num_envs)
    lengths = np.zeros(venv.num_envs, dtype=np.int64)
    space.seed(2)
    counts = {"episodes": 0, "padding": 0, "restarts": 0}
    learner_seat_counts = np.zeros(A, dtype=np.int64)
    for _ in range(200):
        learner_actions = np.stack([space.sample() for _ in range(venv.num_envs)])
        vec_step = venv.step(learner_actions)
        obs, rewards, dones, infos = vec_step
        for g, env in enumerate(games):
            live = list(env.agents)
            actions = {}
            for agent in live:
                seat = agents.index(agent)
                if lineups[g, seat] == LEARNER:
                    j = list(seats[g]).index(seat)
                    actions[agent] = learner_actions[g * learner_seats + j]
                else:
                    actions[agent] = opponents[lineups[g, seat]](expected[g][agent][None])[0]
            pz_step = env.step(actions)
            expected[g] = pz_step[0]
            for j in range(learner_seats):
                row, agent = g * learner_seats + j, agents[seats[g, j]]
                if agent not in live:  # dead before this step
                    counts["padding"] += 1
                    assert rewards[row] == 0.0 and not dones[row]
                    continue
                if _check_row(row, agent, pz_step, vec_step, returns, lengths) is not None:
                    counts["episodes"] += 1
                    assert infos[row]["seat"] == seats[g, j]
            learners_alive = any(agents[s] in env.agents for s in seats[g])
            if env.agents and not learners_alive:
                counts["restarts"] += 1
            if not env.agents or not learners_alive:
                # the VecEnv restarted this game from its stream, with a new seating
                expected[g] = env.reset()[0]
        new_seats, new_lineups = venv.seats, venv.lineups
        for g, env in enumerate(games):
            for j in range(learner_seats):
                agent = agents[new_seats[g, j]]
                row = g * learner_seats + j
                if agent in env.agents:
                    np.testing.assert_array_equal(obs[row], expected[g][agent])
                else:
                    assert not obs[row].any()
        learner_seat_counts += np.bincount(new_seats.reshape(-1), minlength=A)
        seats, lineups = new_seats, new_lineups
    assert counts["episodes"] > n_games
    if env_id == "Thrust/Snake-v0":
        assert counts["padding"] > 0 and counts["restarts"] > 0
    assert (learner_seat_counts > 0).all()  # the learner's seats move between episodes


def test_free_for_all_seating_is_uniform_deterministic_and_checked():
    from thrust_envs.core.batch import InvalidAction
    from thrust_envs.sb3.free_for_all import LEARNER, FreeForAllVecEnv

    definition = thrust_envs.game_lookup("Thrust/Snake-v0")
    zero = lambda obs: np.zeros(len(obs), dtype=np.int64)  # noqa: E731
    venv = FreeForAllVecEnv(definition, [zero, zero, zero], 3000, 1, seed=0, num_snakes=4)
    venv.reset()
    lineups = venv.lineups
    assert ((lineups == LEARNER).sum(axis=1) == 1).all()
    # every seat is the learner's a quarter of the time, every opponent fills a third
    np.testing.assert_allclose(np.bincount(venv.seats[:, 0], minlength=4) / 3000, 0.25, atol=0.03)
    filled = lineups[lineups != LEARNER]
    np.testing.assert_allclose(np.bincount(filled, minlength=3) / filled.size, 1 / 3, atol=0.03)

    def rollout(seed):
        env = FreeForAllVecEnv(definition, [zero], 8, 2, seed=seed, num_snakes=4, max_steps=30)
        frames = [env.reset()]
        rng = np.random.default_rng(0)
        for _ in range(60):
            frames.append(env.step(rng.integers(0, 4, env.num_envs))[0])
        return np.stack(frames), env.lineups

    first, again, other = rollout(1), rollout(1), rollout(2)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])

    with pytest.raises(ValueError, match=r"learner_seats must be an int in \[1, 3\]"):
        FreeForAllVecEnv(definition, [zero], 2, 4, num_snakes=4)
    with pytest.raises(ValueError, match="at least one opponent"):
        FreeForAllVecEnv(definition, [], 2, 1, num_snakes=4)
    bad = FreeForAllVecEnv(definition, [lambda obs: np.zeros((len(obs), 2))], 2, 1, seed=0)
    bad.reset()
    with pytest.raises(InvalidAction, match="opponent 0 returned actions of shape"):
        bad.step(np.zeros(2, dtype=np.int64))
