"""Bucket Brigade one game at a time in plain Python (lists, ``random.Random``): the
baseline that ``Thrust/BucketBrigade-v0`` is benchmarked against, written like the original
plain-Python environment and independent of thrust_envs.

It implements the same rules (the repository's ``docs/specs/bucket_brigade.md``) with the same
parameter names and defaults, and returns the same flat per-agent observation as the Thrust
game (layout in :mod:`thrust_envs.multiagent.bucket_brigade`), so that the two can be
compared step by step on deterministic configurations and statistically otherwise.

>>> game = PythonBucketBrigade(num_agents=4)
>>> obs = game.reset(seed=0)
>>> obs, rewards, done = game.step([(0, 1, 1)] * 4)
"""

from __future__ import annotations

import random

SAFE, BURNING, RUINED = 0, 1, 2
REST, WORK = 0, 1

DEFAULTS = {
    "num_agents": 4,
    "num_houses": 10,
    "prob_fire_spreads_to_neighbor": 0.25,
    "prob_solo_agent_extinguishes_fire": 0.5,
    "prob_house_catches_fire": 0.02,
    "team_reward_house_survives": 100.0,
    "team_penalty_house_burns": 100.0,
    "reward_own_house_survives": 20.0,
    "reward_other_house_survives": 0.0,
    "penalty_own_house_burns": 40.0,
    "penalty_other_house_burns": 0.0,
    "cost_to_work_one_night": 0.5,
    "reward_rest": 0.5,
    "min_nights": 12,
    "max_nights": 100,
    "spread_before_burnout": False,
}


class PythonBucketBrigade:
    """One game. ``reset(seed) -> obs``; ``step(actions) -> (obs, rewards, done)`` where
    ``actions`` is a list of ``(house, mode, signal)`` per agent, ``obs`` a list of per-agent
    observation lists, ``rewards`` a list of floats and ``done`` True when the game ended
    (by its rules: ``terminated``, or at ``max_nights``: ``truncated``)."""

    def __init__(self, **params):
        unknown = set(params) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"unknown parameter(s) {sorted(unknown)}")
        self.p = {**DEFAULTS, **params}
        self.num_agents = int(self.p["num_agents"])
        self.num_houses = int(self.p["num_houses"])
        self.owners = [h % self.num_agents for h in range(self.num_houses)]
        self.rng = random.Random()
        self.done = True

    def reset(self, seed=None):
        if seed is not None:
            self.rng = random.Random(seed)
        n, h_count = self.num_agents, self.num_houses
        catch = self.p["prob_house_catches_fire"]
        self.houses = [BURNING if self.rng.random() < catch else SAFE for _ in range(h_count)]
        self.prev_houses = [SAFE] * h_count  # before the first night every house counts as safe
        self.locations = [0] * n
        self.modes = [REST] * n
        self.signals = [REST] * n
        self.lies = [0] * n
        self.night = 0
        self.done = False
        self.terminated = False
        self.truncated = False
        return self.observations()

    def step(self, actions):
        if self.done:
            raise RuntimeError("the game is over; call reset()")
        p, n, h_count = self.p, self.num_agents, self.num_houses
        if len(actions) != n:
            raise ValueError(f"expected {n} actions, got {len(actions)}")
        for house, mode, signal in actions:
            if not (0 <= house < h_count and mode in (0, 1) and signal in (0, 1)):
                raise ValueError(f"invalid action {(house, mode, signal)}")
        houses = self.houses
        for a, (house, mode, signal) in enumerate(actions):
            self.locations[a] = house
            self.modes[a] = mode
            self.signals[a] = signal
            if signal != mode:
                self.lies[a] += 1

        # 1. Extinguish.
        solo = p["prob_solo_agent_extinguishes_fire"]
        for h in range(h_count):
            if houses[h] != BURNING:
                continue
            workers = sum(1 for house, mode, _ in actions if house == h and mode == WORK)
            if workers and self.rng.random() < 1.0 - (1.0 - solo) ** workers:
                houses[h] = SAFE
        # 2-3. Burn-out then spread, or spread (simultaneous) then burn-out.
        if p["spread_before_burnout"]:
            ignited = self._spread()
            self._burn_out()
            for h in ignited:
                houses[h] = BURNING
        else:
            self._burn_out()
            for h in self._spread():
                houses[h] = BURNING
        # 4. Spark.
        catch = p["prob_house_catches_fire"]
        for h in range(h_count):
            if houses[h] == SAFE and self.rng.random() < catch:
                houses[h] = BURNING
        # 5. Rewards.
        safe = houses.count(SAFE)
        ruined = houses.count(RUINED)
        team = (
            p["team_reward_house_survives"] * safe / h_count
            - p["team_penalty_house_burns"] * ruined / h_count
        )
        rewards = []
        for a in range(n):
            r = -p["cost_to_work_one_night"] if self.modes[a] == WORK else p["reward_rest"]
            for h in range(h_count):
                own = self.owners[h] == a
                if houses[h] == SAFE and self.prev_houses[h] != SAFE:
                    r += p["reward_own_house_survives"] if own else p["reward_other_house_survives"]
                elif houses[h] == RUINED:
                    r -= p["penalty_own_house_burns"] if own else p["penalty_other_house_burns"]
            rewards.append(r + team)
        self.prev_houses = list(houses)
        # Termination: only once min_nights nights were completed before this one.
        self.terminated = self.night >= p["min_nights"] and BURNING not in houses
        self.night += 1
        self.truncated = not self.terminated and self.night >= p["max_nights"]
        self.done = self.terminated or self.truncated
        return self.observations(), rewards, self.done

    def _spread(self):
        """The safe houses that the burning ones ignite (each neighbour drawn once)."""
        houses, h_count = self.houses, self.num_houses
        spread = self.p["prob_fire_spreads_to_neighbor"]
        ignited = set()
        for h in range(h_count):
            if houses[h] != BURNING:
                continue
            # a ring of two houses: both sides are one neighbour, drawn once
            for neighbour in dict.fromkeys(((h - 1) % h_count, (h + 1) % h_count)):
                if (
                    houses[neighbour] == SAFE
                    and neighbour not in ignited
                    and self.rng.random() < spread
                ):
                    ignited.add(neighbour)
        return ignited

    def _burn_out(self):
        houses = self.houses
        for h in range(self.num_houses):
            if houses[h] == BURNING:
                houses[h] = RUINED

    def observations(self):
        """Per agent: signals, one-hot locations, one-hot house states, last modes, one-hot
        own index (the Thrust game's layout)."""
        n, h_count = self.num_agents, self.num_houses
        common = [float(s) for s in self.signals]
        for location in self.locations:
            one_hot = [0.0] * h_count
            one_hot[location] = 1.0
            common += one_hot
        for state in self.houses:
            one_hot = [0.0, 0.0, 0.0]
            one_hot[state] = 1.0
            common += one_hot
        common += [float(m) for m in self.modes]
        result = []
        for a in range(n):
            me = [0.0] * n
            me[a] = 1.0
            result.append(common + me)
        return result
