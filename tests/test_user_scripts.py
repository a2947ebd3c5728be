"""The shapes of scripts new users write, on short budgets (issue 19: "what a new user's
scripts broke on"): a CleanRL-style PPO loop over ``gymnasium.make_vec``, stock SB3 with
``EvalCallback``/``CheckpointCallback`` and ``VecNormalize`` over ``thrust_envs.sb3``,
PettingZoo's documented AEC and parallel loops for every game, and RL Baselines3 Zoo with the
shipped hyperparameter file. Each asserts what the script relies on, not only that it ran.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import thrust_envs
import thrust_envs.rl_zoo

GAMES = {  # short games: each ends well within the loop's budget under random play
    "Thrust/Pong-v0": {"points_to_win": 1, "max_steps": 300},
    "Thrust/Snake-v0": {"max_steps": 200},
    "Thrust/BucketBrigade-v0": {},
}
REPO = Path(__file__).resolve().parent.parent


# -- CleanRL's ppo.py ------------------------------------------------------------------------


def test_cleanrl_style_ppo_loop_sees_the_episodes_the_env_reports():
    """CleanRL's ppo.py loop with Gymnasium 1.x: native vector env, ``RecordEpisodeStatistics``,
    next-step autoreset (the step after an episode's end is its reset, reward 0, action
    ignored), ``next_done = terminations | truncations``, one clipped PPO update per rollout."""
    torch = pytest.importorskip("torch")
    from torch import nn
    from torch.distributions.categorical import Categorical

    num_envs, num_steps, updates = 4, 64, 3
    envs = gym.make_vec("Thrust/CartPole-v1", num_envs=num_envs)
    envs = gym.wrappers.vector.RecordEpisodeStatistics(envs)
    assert isinstance(envs.single_action_space, gym.spaces.Discrete)
    torch.manual_seed(0)
    obs_size = int(np.prod(envs.single_observation_space.shape))
    actor = nn.Sequential(nn.Linear(obs_size, 32), nn.Tanh(), nn.Linear(32, 2))
    critic = nn.Sequential(nn.Linear(obs_size, 32), nn.Tanh(), nn.Linear(32, 1))
    params = list(actor.parameters()) + list(critic.parameters())
    optimizer = torch.optim.Adam(params, lr=2.5e-4, eps=1e-5)

    next_obs, _ = envs.reset(seed=1)
    next_done = np.zeros(num_envs, dtype=bool)
    running_return = np.zeros(num_envs)
    running_length = np.zeros(num_envs, dtype=int)
    reported, seen = [], []
    before = [p.detach().clone() for p in params]
    for _update in range(updates):
        obs_b, act_b, logp_b, rew_b, done_b, val_b = [], [], [], [], [], []
        for _step in range(num_steps):
            obs_t = torch.as_tensor(next_obs, dtype=torch.float32)
            with torch.no_grad():
                dist = Categorical(logits=actor(obs_t))
                action = dist.sample()
                value = critic(obs_t).squeeze(-1)
            obs_b.append(obs_t)
            act_b.append(action)
            logp_b.append(dist.log_prob(action))
            val_b.append(value)
            done_b.append(torch.as_tensor(next_done, dtype=torch.float32))
            resetting = next_done.copy()  # this step resets these envs (NEXT_STEP autoreset)
            next_obs, reward, terminations, truncations, infos = envs.step(action.numpy())
            assert np.all(reward[resetting] == 0.0)
            running_return[~resetting] += reward[~resetting]
            running_length[~resetting] += 1
            next_done = np.logical_or(terminations, truncations)
            rew_b.append(torch.as_tensor(reward, dtype=torch.float32))
            if "episode" in infos:  # CleanRL's Gymnasium 1.x episode logging
                for i in np.where(infos["_episode"])[0]:
                    reported.append(
                        (float(infos["episode"]["r"][i]), int(infos["episode"]["l"][i]))
                    )
            for i in np.where(next_done)[0]:
                seen.append((float(running_return[i]), int(running_length[i])))
                running_return[i], running_length[i] = 0.0, 0
        # GAE and one clipped-surrogate epoch, as in ppo.py.
        with torch.no_grad():
            next_value = critic(torch.as_tensor(next_obs, dtype=torch.float32)).squeeze(-1)
        advantages = torch.zeros(num_steps, num_envs)
        last = torch.zeros(num_envs)
        for t in reversed(range(num_steps)):
            not_done = 1.0 - (
                torch.as_tensor(next_done, dtype=torch.float32)
                if t == num_steps - 1
                else done_b[t + 1]
            )
            following = next_value if t == num_steps - 1 else val_b[t + 1]
            delta = rew_b[t] + 0.99 * following * not_done - val_b[t]
            last = delta + 0.99 * 0.95 * not_done * last
            advantages[t] = last
        returns = advantages + torch.stack(val_b)
        b_obs = torch.cat(obs_b)
        new_dist = Categorical(logits=actor(b_obs))
        ratio = (new_dist.log_prob(torch.cat(act_b)) - torch.cat(logp_b)).exp()
        adv = advantages.flatten()
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        pg_loss = torch.max(-adv * ratio, -adv * ratio.clamp(0.8, 1.2)).mean()
        v_loss = 0.5 * ((critic(b_obs).squeeze(-1) - returns.flatten()) ** 2).mean()
        optimizer.zero_grad()
        (pg_loss + 0.5 * v_loss).backward()
        optimizer.step()
    envs.close()

    assert len(reported) >= 5  # random CartPole episodes last ~20 steps
    # What the wrapper reports is what the loop summed, episode by episode.
    assert sorted(reported) == sorted(seen)
    assert all(r == float(n) for r, n in reported)  # CartPole: +1 a step
    assert any(not torch.equal(a, b) for a, b in zip(before, params, strict=True))


# -- stock SB3 with callbacks and VecNormalize ---------------------------------------------


def test_stock_sb3_with_callbacks_and_vecnormalize(tmp_path):
    sb3 = pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.callbacks import CallbackList, CheckpointCallback, EvalCallback
    from stable_baselines3.common.vec_env import VecNormalize

    from thrust_envs.sb3 import make_vec_env

    n_envs, n_steps = 4, 64
    venv = VecNormalize(make_vec_env("Thrust/CartPole-v1", n_envs=n_envs, seed=0))
    eval_env = VecNormalize(
        make_vec_env("Thrust/CartPole-v1", n_envs=1, seed=100), training=False, norm_reward=False
    )
    checkpoints = CheckpointCallback(
        save_freq=n_steps, save_path=str(tmp_path / "ckpt"), save_vecnormalize=True
    )
    evaluation = EvalCallback(
        eval_env,
        eval_freq=n_steps,
        n_eval_episodes=3,
        best_model_save_path=str(tmp_path / "best"),
        log_path=str(tmp_path / "eval"),
    )
    model = sb3.PPO("MlpPolicy", venv, n_steps=n_steps, batch_size=64, n_epochs=1, seed=0)
    model.learn(2 * n_envs * n_steps, callback=CallbackList([checkpoints, evaluation]))

    # VecNormalize saw every observation: the reset and each step of each env.
    assert venv.obs_rms.count == pytest.approx(1e-4 + n_envs * (1 + 2 * n_steps))
    assert np.all(venv.obs_rms.var > 0) and venv.ret_rms.count > 1
    # EvalCallback synchronised the eval env's statistics with the training env's.
    np.testing.assert_array_equal(eval_env.obs_rms.mean, venv.obs_rms.mean)
    evaluations = np.load(tmp_path / "eval" / "evaluations.npz")
    assert evaluations["results"].shape == (2, 3)
    # The Thrust VecEnv reports the episodes (no Monitor): CartPole's return is its length.
    np.testing.assert_array_equal(evaluations["results"], evaluations["ep_lengths"])
    assert (tmp_path / "best" / "best_model.zip").is_file()

    saved = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert saved == [
        "rl_model_256_steps.zip",
        "rl_model_512_steps.zip",
        "rl_model_vecnormalize_256_steps.pkl",
        "rl_model_vecnormalize_512_steps.pkl",
    ]
    loaded = sb3.PPO.load(tmp_path / "ckpt" / "rl_model_512_steps.zip")
    stats = VecNormalize.load(
        str(tmp_path / "ckpt" / "rl_model_vecnormalize_512_steps.pkl"),
        make_vec_env("Thrust/CartPole-v1", n_envs=2, seed=5),
    )
    np.testing.assert_array_equal(stats.obs_rms.mean, venv.obs_rms.mean)
    obs = stats.reset()
    np.testing.assert_array_equal(
        loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0]
    )


# -- PettingZoo's documented loops ---------------------------------------------------------


@pytest.mark.parametrize("env_id", sorted(GAMES))
def test_pettingzoo_documented_aec_loop(env_id):
    env = thrust_envs.make_aec(env_id, **GAMES[env_id])
    env.reset(seed=42)
    acted, finished, returns = set(), set(), dict.fromkeys(env.possible_agents, 0.0)
    for agent in env.agent_iter(max_iter=100_000):
        observation, reward, termination, truncation, info = env.last()
        returns[agent] += reward
        assert env.observation_space(agent).contains(observation)
        if termination or truncation:
            action = None
            finished.add(agent)
        else:
            action = env.action_space(agent).sample()
            acted.add(agent)
        env.step(action)
    # The loop ended because the game did: every agent acted and was then removed.
    assert env.agents == []
    assert acted == finished == set(env.possible_agents)
    assert returns.keys() == set(env.possible_agents)
    env.close()


@pytest.mark.parametrize("env_id", sorted(GAMES))
def test_pettingzoo_documented_parallel_loop(env_id):
    env = thrust_envs.make_parallel(env_id, **GAMES[env_id])
    observations, infos = env.reset(seed=42)
    assert set(observations) == set(env.possible_agents)
    steps, ended = 0, set()
    while env.agents:
        actions = {agent: env.action_space(agent).sample() for agent in env.agents}
        observations, rewards, terminations, truncations, infos = env.step(actions)
        assert set(rewards) == set(actions)  # every agent that acted gets its reward
        ended |= {a for a in actions if terminations[a] or truncations[a]}
        assert set(env.agents) == set(actions) - ended
        steps += 1
        assert steps < 100_000
    assert ended == set(env.possible_agents)
    env.close()


# -- RL Baselines3 Zoo with the shipped hyperparameter file ----------------------------------


def test_shipped_rl_zoo_file_names_every_single_agent_id():
    yaml = pytest.importorskip("yaml")
    entries = yaml.safe_load(thrust_envs.rl_zoo.hyperparams("ppo").read_text())
    single_agent = {i for i in gym.registry if i.startswith("Thrust/") and i[-3:-1] == "-v"}
    single_agent = {i for i in single_agent if i != "Thrust/CartPole-v0"}
    single_agent -= set(GAMES)
    assert set(entries) == single_agent
    assert all(entry["policy"] == "MlpPolicy" for entry in entries.values())
    with pytest.raises(ValueError, match="shipped: \\('ppo',\\)"):
        thrust_envs.rl_zoo.hyperparams("dqn")


def test_rl_zoo_trains_a_thrust_id_with_the_shipped_file(tmp_path):
    if subprocess.run([sys.executable, "-c", "import rl_zoo3"], capture_output=True).returncode:
        pytest.skip("rl_zoo3 is not installed (pip install rl_zoo3; in the dev extra)")
    conf = thrust_envs.rl_zoo.hyperparams("ppo")
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    )
    command = [sys.executable, "-m", "rl_zoo3.train", "--algo", "ppo"]
    command += ["--env", "Thrust/CartPole-v1", "--gym-packages", "thrust_envs"]
    command += ["--conf-file", str(conf), "-n", "512", "-f", str(tmp_path), "--seed", "0"]
    command += ["--eval-freq", "-1", "--hyperparams", "n_envs:2"]
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]

    run = tmp_path / "ppo" / "Thrust-CartPole-v1_1"
    # Loaded in a subprocess: unpickling the zoo's model imports rl_zoo3, which replaces
    # Gymnasium's TimeLimit process-wide (its PatchedTimeLimit), and later tests would see it.
    read = "from stable_baselines3 import PPO; import sys; m = PPO.load(sys.argv[1]); "
    read += "print(m.n_steps, m.gamma, m.gae_lambda, m.n_epochs, m.n_envs, m.num_timesteps)"
    loaded = subprocess.run(
        [sys.executable, "-c", read, str(run / "Thrust-CartPole-v1.zip")],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    # The shipped entry's hyperparameters reached the model (n_envs overridden on the line).
    assert loaded.stdout.split() == ["32", "0.98", "0.8", "20", "2", "512"]
    # The zoo's Monitor files log the episodes the Thrust env played: +1 a step.
    episodes = []
    for monitor in sorted(run.glob("*.monitor.csv")):
        with monitor.open() as handle:
            next(handle)  # the JSON header line
            episodes += list(csv.DictReader(handle))
    assert len(episodes) >= 5
    assert all(float(e["r"]) == float(e["l"]) for e in episodes)
