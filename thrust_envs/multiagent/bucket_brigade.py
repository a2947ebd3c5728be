"""Bucket Brigade: a cooperative firefighting game for 4 to 10 agents on a ring of houses.

The rules follow the repository's ``docs/specs/bucket_brigade.md`` (the original benchmark's
"bernoulli" mode). House ``h`` of ``H`` (``num_houses``) neighbours ``h - 1`` and ``h + 1``
(mod ``H``) and belongs to agent ``h mod N`` (``N = num_agents``). Houses are 0 safe,
1 burning, 2 ruined. At reset every house burns with probability
``prob_house_catches_fire``; agents stand at house 0; signals, last actions, lie counts and
the night counter are zero.

Action per agent: ``MultiDiscrete([H, 2, 2])`` = (house, mode, signal) with mode and signal
0 REST / 1 WORK. The signal is public; a *lie* is ``signal != mode``. One step is one night,
in phases:

1. extinguish: a house burning at the start of the night with ``k`` agents in WORK mode at it
   becomes safe with probability ``1 - (1 - prob_solo_agent_extinguishes_fire) ** k``;
2. burn-out: every house still burning is ruined;
3. spread: every house still burning ignites each safe neighbour with probability
   ``prob_fire_spreads_to_neighbor``. After phase 2 nothing burns, so by default (as in the
   original) this phase never fires. With ``spread_before_burnout=True`` phase 3 runs before
   phase 2: the night's unextinguished fires spread (simultaneously: a house ignited this
   phase does not spread further tonight), then burn out; the new fires burn from next night;
4. spark: every safe house catches fire with probability ``prob_house_catches_fire``;
5. rewards, then the night counter advances and termination is checked: once at least
   ``min_nights`` nights were completed *before* this one, the game ends when no house burns
   (all safe, or every house ruined). Truncation at ``max_nights``.

Reward of agent ``i`` for a night: ``-cost_to_work_one_night`` if it worked, else
``+reward_rest``; for every house that went from not safe (start of the night) to safe (end
of it), ``+reward_own_house_survives`` if ``i`` owns it, else ``+reward_other_house_survives``
(before the first night of an episode every house counts as safe, as in the original, so
fires burning at reset pay nothing when put out on night one); for every house ruined at
the end of the night (every night it stays ruined) ``-penalty_own_house_burns`` if owned,
else ``-penalty_other_house_burns``; plus the team term, the same for all,
``team_reward_house_survives * safe / H - team_penalty_house_burns * ruined / H``.
Per agent the terms are summed in that order (work/rest, houses in index order, team term).

Observation of agent ``a`` (float32 Box in [0, 1], ``3N + N*H + 3H`` values; 82 by default),
everything public plus the agent's own index:

====================  ===========  ==========================================================
offset                size         content
====================  ===========  ==========================================================
``0``                 ``N``        the signal of every agent (0 REST, 1 WORK): the spec's
                                   "this night's signals", i.e. those sent with the last
                                   actions, before the next are chosen (0 after a reset)
``N``                 ``N * H``    every agent's location, one-hot: ``N + b * H + house``.
                                   The location is the house the agent chose last night,
                                   i.e. its last action's house, so it is not repeated
``N + N*H``           ``3 * H``    every house's state, one-hot: ``N + N*H + 3 * h + state``
``N + N*H + 3H``      ``N``        every agent's last mode (0 REST, 1 WORK)
``2N + N*H + 3H``     ``N``        the observing agent's own index, one-hot
====================  ===========  ==========================================================

:func:`decode_observation` splits an observation batch back into these parts, and
:func:`observations` computes every agent's observation of given state rows.

State row (float64, ``1 + 3H + 4N`` values): night counter; house states ``[H]``;
locations, last modes, signals and episode lie counts ``[N]`` each; and two scratch areas
``[H]`` used within a step (start-of-night states and workers per house); offsets in
:func:`state_layout`. Lie counts are read with :func:`lies` (and :func:`agent_infos`).

Presets (:data:`PRESETS`, used as ``bucket_brigade_v0.parallel_env(preset="easy")``):
``default`` is the original's default scenario; ``easy`` the original's easy fire numbers
(spread 0.1, extinguish 0.8, spark 0.01, own-house reward 1 and penalty 2; everything else,
``min_nights`` 12 included, as in ``default``; the original's easy sets it to 10: pass
``min_nights=10`` for that, at least 11 nights by the end rule above); ``hard`` is the
original's hard numbers (spread 0.4, extinguish 0.3, spark 0.05, own 1/2, ``min_nights``
15) with ``spread_before_burnout=True`` so that its spread probability actually matters:
unextinguished fires jump to neighbours before burning out, and working costs 1.0.

Scripted bots (factories ``(num_houses, num_agents) -> policy``, a policy maps an
observation batch ``[k, obs_dim]`` to actions ``[k, 3]``, reading the observation only):
:func:`free_rider_bot`, :func:`hero_bot`, :func:`owner_bot`, :func:`coordinator_bot`,
:func:`random_bot`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
from gymnasium import spaces
from numba import njit

from thrust_envs.core import render as draw
from thrust_envs.core.definition import Range, check_ranges, from_module, require
from thrust_envs.core.games import GameDefinition
from thrust_envs.core.rng import uniform


class BucketBrigadeParams(NamedTuple):
    num_agents: int = 4
    num_houses: int = 10
    prob_fire_spreads_to_neighbor: float = 0.25
    prob_solo_agent_extinguishes_fire: float = 0.5
    prob_house_catches_fire: float = 0.02  # at reset, and each night for each safe house
    team_reward_house_survives: float = 100.0
    team_penalty_house_burns: float = 100.0
    reward_own_house_survives: float = 20.0
    reward_other_house_survives: float = 0.0
    penalty_own_house_burns: float = 40.0
    penalty_other_house_burns: float = 0.0
    cost_to_work_one_night: float = 0.5
    reward_rest: float = 0.5
    min_nights: int = 12
    max_nights: int = 100
    spread_before_burnout: bool = False


SAFE, BURNING, RUINED = 0, 1, 2
IGNITING = 3  # within a step only: ignited by spread, burns from the next night
REST, WORK = 0, 1
NIGHT, HOUSES = 0, 1  # state row: night counter, then the houses from offset 1

MIN_AGENTS, MAX_AGENTS = 4, 10

_DEFAULT = dict(BucketBrigadeParams()._asdict())
PRESETS: dict[str, dict[str, Any]] = {
    "default": dict(_DEFAULT),
    "easy": {
        **_DEFAULT,
        "prob_fire_spreads_to_neighbor": 0.1,
        "prob_solo_agent_extinguishes_fire": 0.8,
        "prob_house_catches_fire": 0.01,
        "reward_own_house_survives": 1.0,
        "penalty_own_house_burns": 2.0,
    },
    "hard": {
        **_DEFAULT,
        "prob_fire_spreads_to_neighbor": 0.4,
        "prob_solo_agent_extinguishes_fire": 0.3,
        "prob_house_catches_fire": 0.05,
        "reward_own_house_survives": 1.0,
        "penalty_own_house_burns": 2.0,
        "cost_to_work_one_night": 1.0,
        "min_nights": 15,
        "spread_before_burnout": True,
    },
}
"""Named parameter sets; every one is complete (all fields of :class:`BucketBrigadeParams`)."""


def preset_kwargs(preset: str = "default", **overrides: Any) -> dict[str, Any]:
    """The keyword arguments of ``preset`` with ``overrides`` applied (for any view:
    ``make_shared_vec_env(DEFINITION, 8, **preset_kwargs("hard", num_agents=6))``)."""
    if not isinstance(preset, str) or preset not in PRESETS:
        raise ValueError(
            f"Thrust/BucketBrigade-v0: unknown preset {preset!r}; presets are {sorted(PRESETS)}"
        )
    return {**PRESETS[preset], **overrides}


_REWARD = Range(-1e6, 1e6)
_PROBABILITY = Range(0.0, 1.0)
# Valid values.
PARAM_RANGES = {
    "num_agents": Range(MIN_AGENTS, MAX_AGENTS),
    "num_houses": Range(2, 1000),
    "prob_fire_spreads_to_neighbor": _PROBABILITY,
    "prob_solo_agent_extinguishes_fire": _PROBABILITY,
    "prob_house_catches_fire": _PROBABILITY,
    "team_reward_house_survives": _REWARD,
    "team_penalty_house_burns": _REWARD,
    "reward_own_house_survives": _REWARD,
    "reward_other_house_survives": _REWARD,
    "penalty_own_house_burns": _REWARD,
    "penalty_other_house_burns": _REWARD,
    "cost_to_work_one_night": _REWARD,
    "reward_rest": _REWARD,
    "min_nights": Range(0, 10**6),
    "max_nights": Range(1, 10**6),
}


def check_params(p: BucketBrigadeParams) -> None:
    name = "BucketBrigade"
    check_ranges(name, p, PARAM_RANGES)
    require(
        MIN_AGENTS <= p.num_agents <= MAX_AGENTS,
        name,
        f"num_agents must be in [{MIN_AGENTS}, {MAX_AGENTS}], got {p.num_agents}",
    )
    require(p.num_houses >= 2, name, f"num_houses must be >= 2, got {p.num_houses}")
    for field in (
        "prob_fire_spreads_to_neighbor",
        "prob_solo_agent_extinguishes_fire",
        "prob_house_catches_fire",
    ):
        value = getattr(p, field)
        require(0.0 <= value <= 1.0, name, f"{field} must be in [0, 1], got {value}")
    require(p.min_nights >= 0, name, f"min_nights must be >= 0, got {p.min_nights}")
    require(p.max_nights >= 1, name, f"max_nights must be >= 1, got {p.max_nights}")


def state_size(p: BucketBrigadeParams) -> int:
    return 1 + 3 * p.num_houses + 4 * p.num_agents


def observation_size(p: BucketBrigadeParams) -> int:
    n, h = p.num_agents, p.num_houses
    return 3 * n + n * h + 3 * h


def observation_space(p: BucketBrigadeParams) -> spaces.Box:
    size = observation_size(p)
    return spaces.Box(np.zeros(size, np.float32), np.ones(size, np.float32), dtype=np.float32)


def action_space(p: BucketBrigadeParams) -> spaces.MultiDiscrete:
    return spaces.MultiDiscrete([p.num_houses, 2, 2])


@njit(cache=True, inline="always")
def _layout(p):
    """Offsets in the state row: locations, modes, signals, lies, start-of-night, workers."""
    h, n = p.num_houses, p.num_agents
    loc = HOUSES + h
    return loc, loc + n, loc + 2 * n, loc + 3 * n, loc + 4 * n, loc + 4 * n + h


@njit(cache=True, inline="always")
def _spread(state, g, rng, p, ignite_as):
    """Every burning house ignites each safe neighbour with the spread probability; the
    ignited ones get the value ``ignite_as``. In a ring of two houses each has one
    neighbour, tried once."""
    h_count = p.num_houses
    for h in range(h_count):
        if state[g, HOUSES + h] == BURNING:
            left, right = (h + h_count - 1) % h_count, (h + 1) % h_count
            for n in (left, right):
                if state[g, HOUSES + n] == SAFE and (
                    uniform(rng, g, 0.0, 1.0) < p.prob_fire_spreads_to_neighbor
                ):
                    state[g, HOUSES + n] = ignite_as
                if left == right:
                    break


@njit(cache=True, inline="always")
def _burn_out(state, g, p):
    for h in range(p.num_houses):
        if state[g, HOUSES + h] == BURNING:
            state[g, HOUSES + h] = RUINED


@njit(cache=True, inline="always")
def step_row(state, g, rng, actions, alive, rewards, p):
    h_count, n_count = p.num_houses, p.num_agents
    loc, mode, sig, lie, start, workers = _layout(p)
    night = state[g, NIGHT]
    for h in range(h_count):
        # "Before" the first night every house counts as safe (as in the original).
        state[g, start + h] = state[g, HOUSES + h] if night > 0 else SAFE
        state[g, workers + h] = 0.0
    for a in range(n_count):
        house, m, s = actions[a, 0], actions[a, 1], actions[a, 2]
        state[g, loc + a] = house
        state[g, mode + a] = m
        state[g, sig + a] = s
        if s != m:
            state[g, lie + a] += 1.0
        if m == WORK:
            state[g, workers + house] += 1.0
    # 1. Extinguish: k workers succeed with probability 1 - (1 - p_solo) ** k.
    miss = 1.0 - p.prob_solo_agent_extinguishes_fire
    for h in range(h_count):
        k = state[g, workers + h]
        if (
            state[g, HOUSES + h] == BURNING
            and k > 0.0
            and uniform(rng, g, 0.0, 1.0) < 1.0 - miss ** int(k)
        ):
            state[g, HOUSES + h] = SAFE
    # 2-3. Burn-out then spread (a no-op, as in the original), or spread then burn-out.
    if p.spread_before_burnout:
        _spread(state, g, rng, p, IGNITING)
        _burn_out(state, g, p)
        for h in range(h_count):
            if state[g, HOUSES + h] == IGNITING:
                state[g, HOUSES + h] = BURNING
    else:
        _burn_out(state, g, p)
        _spread(state, g, rng, p, BURNING)
    # 4. Spark.
    for h in range(h_count):
        if state[g, HOUSES + h] == SAFE and (uniform(rng, g, 0.0, 1.0) < p.prob_house_catches_fire):
            state[g, HOUSES + h] = BURNING
    # 5. Rewards.
    safe = 0
    ruined = 0
    for h in range(h_count):
        value = state[g, HOUSES + h]
        if value == SAFE:
            safe += 1
        elif value == RUINED:
            ruined += 1
    team = (
        p.team_reward_house_survives * safe / h_count
        - p.team_penalty_house_burns * ruined / h_count
    )
    for a in range(n_count):
        r = -p.cost_to_work_one_night if state[g, mode + a] == WORK else p.reward_rest
        owner = 0
        for h in range(h_count):
            value = state[g, HOUSES + h]
            if value == SAFE and state[g, start + h] != SAFE:
                r += p.reward_own_house_survives if owner == a else p.reward_other_house_survives
            elif value == RUINED:
                r -= p.penalty_own_house_burns if owner == a else p.penalty_other_house_burns
            owner += 1
            if owner == n_count:
                owner = 0
        rewards[a] = r + team
    state[g, NIGHT] = night + 1.0
    return night >= p.min_nights and safe + ruined == h_count


@njit(cache=True, inline="always")
def reset_row(state, g, rng, p):
    for i in range(state.shape[1]):
        state[g, i] = 0.0
    for h in range(p.num_houses):
        if uniform(rng, g, 0.0, 1.0) < p.prob_house_catches_fire:
            state[g, HOUSES + h] = BURNING


@njit(cache=True, inline="always")
def observe_row(state, g, a, obs, p):
    h_count, n_count = p.num_houses, p.num_agents
    loc, mode, sig, _, _, _ = _layout(p)
    out = obs[g, a]
    for i in range(out.shape[0]):
        out[i] = 0.0
    located = n_count
    houses = located + n_count * h_count
    modes = houses + 3 * h_count
    me = modes + n_count
    for b in range(n_count):
        out[b] = state[g, sig + b]
        out[located + b * h_count + int(state[g, loc + b])] = 1.0
        out[modes + b] = state[g, mode + b]
    for h in range(h_count):
        out[houses + 3 * h + int(state[g, HOUSES + h])] = 1.0
    out[me + a] = 1.0


@njit(cache=True)
def _observe_all(state, obs, p):
    for g in range(state.shape[0]):
        for a in range(p.num_agents):
            observe_row(state, g, a, obs, p)


def observations(state: np.ndarray, params: BucketBrigadeParams) -> np.ndarray:
    """Every agent's observation of state rows ``[G, S]`` (e.g. a constructed position):
    float32 ``[G, N, obs_dim]``."""
    state = np.ascontiguousarray(state, dtype=np.float64)
    if state.ndim != 2 or state.shape[1] != state_size(params):
        raise ValueError(
            f"Thrust/BucketBrigade-v0: expected state rows of shape (G, {state_size(params)}), "
            f"got {state.shape}"
        )
    obs = np.zeros((state.shape[0], params.num_agents, observation_size(params)), np.float32)
    _observe_all(state, obs, params)
    return obs


def state_layout(params: BucketBrigadeParams) -> dict[str, int | slice]:
    """Where things are in a state row: ``night`` (an index); ``houses``, ``locations``,
    ``modes``, ``signals``, ``lies`` (slices; the scratch areas are left out)."""
    h, n = params.num_houses, params.num_agents
    loc, mode, sig, lie, _, _ = (int(x) for x in _layout(params))
    return {
        "night": NIGHT,
        "houses": slice(HOUSES, HOUSES + h),
        "locations": slice(loc, loc + n),
        "modes": slice(mode, mode + n),
        "signals": slice(sig, sig + n),
        "lies": slice(lie, lie + n),
    }


def lies(state: np.ndarray, params: BucketBrigadeParams) -> np.ndarray:
    """Each agent's number of lies (nights its signal differed from its mode) this episode,
    from a state row ``[S]`` or a batch ``[..., S]``: int64 ``[..., N]``."""
    return np.asarray(state)[..., state_layout(params)["lies"]].astype(np.int64)


def agent_infos(state: np.ndarray, params: BucketBrigadeParams) -> dict[str, np.ndarray]:
    """Per-agent facts for ``infos``, from a state row ``[S]`` or a batch ``[..., S]``:
    ``lies`` (int64 ``[..., N]``, this episode so far, see :func:`lies`) and ``lied``
    (bool ``[..., N]``, whether the agent's signal differed from its mode last night)."""
    where = state_layout(params)
    state = np.asarray(state)
    return {
        "lies": lies(state, params),
        "lied": state[..., where["signals"]] != state[..., where["modes"]],
    }


def decode_observation(obs: np.ndarray, num_houses: int, num_agents: int) -> dict[str, np.ndarray]:
    """Split an observation batch ``[k, obs_dim]`` into its parts: ``signals``, ``modes``,
    ``locations`` (int ``[k, N]``), ``houses`` (int ``[k, H]``) and ``me`` (int ``[k]``)."""
    obs = np.asarray(obs)
    h, n = num_houses, num_agents
    expected = 3 * n + n * h + 3 * h
    if obs.ndim != 2 or obs.shape[1] != expected:
        raise ValueError(
            f"Thrust/BucketBrigade-v0: expected observations of shape (k, {expected}) for "
            f"{h} houses and {n} agents, got {obs.shape}"
        )
    k = obs.shape[0]
    houses = n + n * h
    modes = houses + 3 * h
    return {
        "signals": obs[:, :n].round().astype(np.int64),
        "locations": obs[:, n:houses].reshape(k, n, h).argmax(axis=2),
        "houses": obs[:, houses:modes].reshape(k, h, 3).argmax(axis=2),
        "modes": obs[:, modes : modes + n].round().astype(np.int64),
        "me": obs[:, modes + n :].argmax(axis=1),
    }


OWNER_COLOURS = (
    (230, 25, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 180),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (0, 128, 128),
    (170, 110, 40),
)


def render(row: np.ndarray, p: BucketBrigadeParams) -> np.ndarray:
    """400x400: the ring of houses (green safe, orange burning, grey ruined), each with a dot
    in its owner's colour; agents as small discs outside the house they chose (blue working,
    light grey resting) ringed in white when they signalled WORK; nights as a bar below."""
    size, centre = 400, 200.0
    image = draw.canvas(size, size, (24, 26, 38))
    h_count, n_count = p.num_houses, p.num_agents
    loc, mode, sig, _, _, _ = _layout(p)
    radius = 130.0
    house_r = max(3.0, min(22.0, 0.4 * 2 * math.pi * radius / h_count))
    colours = {SAFE: (92, 186, 92), BURNING: (240, 120, 40), RUINED: (80, 80, 80)}
    owners = OWNER_COLOURS
    stacked = [0] * h_count
    for h in range(h_count):
        angle = 2 * math.pi * h / h_count
        x, y = centre + radius * math.cos(angle), centre + radius * math.sin(angle)
        draw.fill_circle(image, x, y, house_r, colours[int(row[HOUSES + h])])
        draw.fill_circle(image, x, y, max(1.5, house_r / 4), owners[h % n_count])
    agent_r = max(2.0, min(7.0, house_r / 2.5))
    for b in range(n_count):
        h = int(row[loc + b])
        angle = 2 * math.pi * h / h_count
        dist = radius + house_r + agent_r + 2 + stacked[h] * (2 * agent_r + 2)
        stacked[h] += 1
        x, y = centre + dist * math.cos(angle), centre + dist * math.sin(angle)
        if row[sig + b] == WORK:
            draw.fill_circle(image, x, y, agent_r + 1.5, (255, 255, 255))
        body = (60, 120, 230) if row[mode + b] == WORK else (190, 190, 190)
        draw.fill_circle(image, x, y, agent_r, body)
    progress = min(row[NIGHT] / max(p.max_nights, 1), 1.0)
    draw.fill_polygon(
        image,
        np.array([(10, 8), (10, 14), (10 + 380 * progress, 14), (10 + 380 * progress, 8)]),
        (200, 200, 90),
    )
    return draw.to_image(image)


# ---------------------------------------------------------------------------------------------
# Scripted behaviours: factories (num_houses, num_agents) -> policy(obs batch) -> [k, 3] int64.
# ---------------------------------------------------------------------------------------------


def _ring_distance(a: np.ndarray, b: np.ndarray, num_houses: int) -> np.ndarray:
    d = np.abs(a - b) % num_houses
    return np.minimum(d, num_houses - d)


def _work_at_nearest(parts: dict[str, np.ndarray], candidates: np.ndarray, num_houses: int):
    """Each row's action: work (signalling WORK) at the candidate house nearest to the agent's
    location (ring distance, ties to the lower index); where no house is a candidate, rest
    (signalling REST) where it is."""
    k = candidates.shape[0]
    here = parts["locations"][np.arange(k), parts["me"]]
    dist = _ring_distance(here[:, None], np.arange(num_houses)[None, :], num_houses)
    dist = np.where(candidates, dist, num_houses + 1)
    fire = candidates.any(axis=1)
    work = fire.astype(np.int64)
    return _actions(np.where(fire, dist.argmin(axis=1), here), work, work)


def _actions(house: np.ndarray, work: np.ndarray, signal: np.ndarray) -> np.ndarray:
    return np.stack([house, work, signal], axis=1).astype(np.int64)


def _check_bot_args(name: str, num_houses: int, num_agents: int) -> None:
    for value in (num_houses, num_agents):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise TypeError(f"{name} bot: num_houses and num_agents must be ints, got {value!r}")
    check_params(BucketBrigadeParams(num_agents=int(num_agents), num_houses=int(num_houses)))


def free_rider_bot(num_houses: int = 10, num_agents: int = 4):
    """Always rests (and says so), staying where it is."""
    _check_bot_args("free_rider", num_houses, num_agents)

    def act(obs: np.ndarray) -> np.ndarray:
        parts = decode_observation(obs, num_houses, num_agents)
        here = parts["locations"][np.arange(len(parts["me"])), parts["me"]]
        zero = np.zeros_like(here)
        return _actions(here, zero, zero)

    act.__name__ = "free_rider"
    return act


def hero_bot(num_houses: int = 10, num_agents: int = 4):
    """Works at the burning house nearest to its location (ring distance, ties to the lower
    index) and signals WORK; rests (signalling REST) where it is when nothing burns."""
    _check_bot_args("hero", num_houses, num_agents)

    def act(obs: np.ndarray) -> np.ndarray:
        parts = decode_observation(obs, num_houses, num_agents)
        return _work_at_nearest(parts, parts["houses"] == BURNING, num_houses)

    act.__name__ = "hero"
    return act


def owner_bot(num_houses: int = 10, num_agents: int = 4):
    """Works (honestly) only at its own burning houses, the nearest first; rests otherwise."""
    _check_bot_args("owner", num_houses, num_agents)
    owner_of = np.arange(num_houses) % num_agents

    def act(obs: np.ndarray) -> np.ndarray:
        parts = decode_observation(obs, num_houses, num_agents)
        mine = (parts["houses"] == BURNING) & (owner_of[None, :] == parts["me"][:, None])
        return _work_at_nearest(parts, mine, num_houses)

    act.__name__ = "owner"
    return act


def coordinator_bot(num_houses: int = 10, num_agents: int = 4):
    """Honest coordinator: when any fire burns it signals WORK and works at fire number
    ``me mod F`` of the ``F`` burning houses in index order, so that a team of coordinators
    (who all see the same houses) spreads evenly over the fires; otherwise it rests and
    signals REST where it is."""
    _check_bot_args("coordinator", num_houses, num_agents)

    def act(obs: np.ndarray) -> np.ndarray:
        parts = decode_observation(obs, num_houses, num_agents)
        burning = parts["houses"] == BURNING
        fires = burning.sum(axis=1)
        k = len(fires)
        here = parts["locations"][np.arange(k), parts["me"]]
        pick = parts["me"] % np.maximum(fires, 1)
        rank = np.cumsum(burning, axis=1) - 1
        target = (burning & (rank == pick[:, None])).argmax(axis=1)
        work = (fires > 0).astype(np.int64)
        return _actions(np.where(fires > 0, target, here), work, work)

    act.__name__ = "coordinator"
    return act


def random_bot(num_houses: int = 10, num_agents: int = 4, seed: int | None = None):
    """Uniformly random house, mode and signal (so it lies half the time); own generator."""
    _check_bot_args("random", num_houses, num_agents)
    rng = np.random.default_rng(seed)

    def act(obs: np.ndarray) -> np.ndarray:
        k = decode_observation(obs, num_houses, num_agents)["me"].shape[0]
        return rng.integers(0, [num_houses, 2, 2], size=(k, 3)).astype(np.int64)

    act.__name__ = "random"
    return act


BOTS: Mapping[str, Any] = {
    "free_rider": free_rider_bot,
    "hero": hero_bot,
    "owner": owner_bot,
    "coordinator": coordinator_bot,
    "random": random_bot,
}


DEFINITION = from_module(
    GameDefinition,
    __name__,
    name="BucketBrigade",
    env_id="Thrust/BucketBrigade-v0",
    params_type=BucketBrigadeParams,
    num_agents=lambda p: p.num_agents,
    max_steps=lambda p: p.max_nights,
    bots=BOTS,
    render_fps=4,
    infos=agent_infos,
    presets=PRESETS,
)
