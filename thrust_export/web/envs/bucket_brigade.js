// Bucket Brigade, as thrust_envs/multiagent/bucket_brigade.py: N agents fight fires on a ring
// of H houses, each night choosing (house, mode, signal). The state row has the kernel's
// layout (night, houses, then locations, modes, signals and lie counts, then the step's two
// scratch areas), and every random draw comes from the game's SplitMix64 stream in the
// kernel's order, so resets, fires and rewards match the Python kernel bit for bit: the
// extinguish chance 1 - (1 - p) ** k is computed by repeated multiplication, as numba compiles
// a float raised to an int (numbers.py's int_power), not by Math.pow. Also the five scripted
// bots, built from the game's parameters as bucket_brigade.py's factories are from
// (num_houses, num_agents), and the rgb_array picture.
(function (T) {
  "use strict";
  const SAFE = 0, BURNING = 1, RUINED = 2;
  const IGNITING = 3; // within a step only: ignited by spread, burns from the next night
  const REST = 0, WORK = 1;
  const NIGHT = 0, HOUSES = 1;

  // Offsets in the state row, as _layout.
  function layout(p) {
    const h = p.num_houses, n = p.num_agents, loc = HOUSES + h;
    return {
      loc, mode: loc + n, sig: loc + 2 * n, lie: loc + 3 * n, start: loc + 4 * n,
      workers: loc + 4 * n + h,
    };
  }

  // numba's float ** int (exponentiation by squaring, the same multiplications in the same
  // order), which the kernel's miss ** int(k) compiles to. Math.pow differs from it in the
  // last bit for about half of all (base, k), which would move a uniform draw's threshold.
  function intPower(base, exponent) {
    let result = 1.0;
    while (exponent !== 0) {
      if (exponent & 1) result *= base;
      exponent >>= 1;
      base *= base;
    }
    return result;
  }

  // Every burning house ignites each safe neighbour with the spread probability; the ignited
  // ones get the value `igniteAs` (in a ring of two houses each has one neighbour, tried once).
  function spread(s, rng, p, igniteAs) {
    const count = p.num_houses;
    for (let h = 0; h < count; h++) {
      if (s[HOUSES + h] !== BURNING) continue;
      const left = (h + count - 1) % count, right = (h + 1) % count;
      for (const n of left === right ? [left] : [left, right]) {
        if (s[HOUSES + n] === SAFE && rng.uniform(0.0, 1.0) < p.prob_fire_spreads_to_neighbor) {
          s[HOUSES + n] = igniteAs;
        }
      }
    }
  }

  function burnOut(s, p) {
    for (let h = 0; h < p.num_houses; h++) if (s[HOUSES + h] === BURNING) s[HOUSES + h] = RUINED;
  }

  // step_row: one night with actions[a] = [house, mode, signal]; writes every agent's reward
  // into `rewards` and returns whether the game is over (nobody leaves early: `alive` stays).
  function step(s, rng, actions, alive, rewards, p) {
    const hCount = p.num_houses, nCount = p.num_agents;
    const { loc, mode, sig, lie, start, workers } = layout(p);
    const night = s[NIGHT];
    for (let h = 0; h < hCount; h++) {
      // "Before" the first night every house counts as safe (as in the original).
      s[start + h] = night > 0 ? s[HOUSES + h] : SAFE;
      s[workers + h] = 0.0;
    }
    for (let a = 0; a < nCount; a++) {
      const [house, m, signal] = actions[a];
      s[loc + a] = house;
      s[mode + a] = m;
      s[sig + a] = signal;
      if (signal !== m) s[lie + a] += 1.0;
      if (m === WORK) s[workers + house] += 1.0;
    }
    // 1. Extinguish: k workers succeed with probability 1 - (1 - p_solo) ** k.
    const miss = 1.0 - p.prob_solo_agent_extinguishes_fire;
    for (let h = 0; h < hCount; h++) {
      const k = s[workers + h];
      if (s[HOUSES + h] === BURNING && k > 0.0 && rng.uniform(0.0, 1.0) < 1.0 - intPower(miss, k)) {
        s[HOUSES + h] = SAFE;
      }
    }
    // 2-3. Burn-out then spread (a no-op, as in the original), or spread then burn-out.
    if (p.spread_before_burnout) {
      spread(s, rng, p, IGNITING);
      burnOut(s, p);
      for (let h = 0; h < hCount; h++) if (s[HOUSES + h] === IGNITING) s[HOUSES + h] = BURNING;
    } else {
      burnOut(s, p);
      spread(s, rng, p, BURNING);
    }
    // 4. Spark.
    for (let h = 0; h < hCount; h++) {
      if (s[HOUSES + h] === SAFE && rng.uniform(0.0, 1.0) < p.prob_house_catches_fire) {
        s[HOUSES + h] = BURNING;
      }
    }
    // 5. Rewards, each agent's terms summed in the kernel's order.
    let safe = 0, ruined = 0;
    for (let h = 0; h < hCount; h++) {
      if (s[HOUSES + h] === SAFE) safe++;
      else if (s[HOUSES + h] === RUINED) ruined++;
    }
    const team = p.team_reward_house_survives * safe / hCount -
      p.team_penalty_house_burns * ruined / hCount;
    for (let a = 0; a < nCount; a++) {
      let r = s[mode + a] === WORK ? -p.cost_to_work_one_night : p.reward_rest;
      for (let h = 0; h < hCount; h++) {
        const own = h % nCount === a;
        if (s[HOUSES + h] === SAFE && s[start + h] !== SAFE) {
          r += own ? p.reward_own_house_survives : p.reward_other_house_survives;
        } else if (s[HOUSES + h] === RUINED) {
          r -= own ? p.penalty_own_house_burns : p.penalty_other_house_burns;
        }
      }
      rewards[a] = r + team;
    }
    s[NIGHT] = night + 1.0;
    return night >= p.min_nights && safe + ruined === hCount;
  }

  function reset(s, rng, p) {
    s.fill(0.0);
    for (let h = 0; h < p.num_houses; h++) {
      if (rng.uniform(0.0, 1.0) < p.prob_house_catches_fire) s[HOUSES + h] = BURNING;
    }
  }

  // Agent a's observation (float32 [3N + N*H + 3H]): signals, locations one-hot, houses
  // one-hot, last modes, its own index one-hot.
  function observe(s, a, obs, p) {
    const hCount = p.num_houses, nCount = p.num_agents;
    const { loc, mode, sig } = layout(p);
    obs.fill(0.0);
    const located = nCount, houses = located + nCount * hCount, modes = houses + 3 * hCount;
    const me = modes + nCount;
    for (let b = 0; b < nCount; b++) {
      obs[b] = s[sig + b];
      obs[located + b * hCount + Math.trunc(s[loc + b])] = 1.0;
      obs[modes + b] = s[mode + b];
    }
    for (let h = 0; h < hCount; h++) obs[houses + 3 * h + Math.trunc(s[HOUSES + h])] = 1.0;
    obs[me + a] = 1.0;
  }

  // ----- the scripted bots, reading the observation only (decode_observation's parts) -----

  // numpy's argmax: the first largest value of obs[from, from + count).
  function argmax(obs, from, count) {
    let best = 0;
    for (let k = 1; k < count; k++) if (obs[from + k] > obs[from + best]) best = k;
    return best;
  }

  // The parts of an observation the bots read: houses' states, the observer and its house.
  function decode(obs, p) {
    const hCount = p.num_houses, nCount = p.num_agents;
    const houses = nCount + nCount * hCount, modes = houses + 3 * hCount;
    const me = argmax(obs, modes + nCount, nCount);
    return {
      me,
      here: argmax(obs, nCount + me * hCount, hCount),
      houses: Array.from({ length: hCount }, (_, h) => argmax(obs, houses + 3 * h, 3)),
    };
  }

  // The candidate house nearest to `here` on the ring, ties to the lower index; -1 if none.
  function nearest(candidates, here, hCount) {
    let best = -1, bestDistance = hCount + 1;
    candidates.forEach((candidate, h) => {
      if (!candidate) return;
      const d = Math.abs(here - h) % hCount, distance = Math.min(d, hCount - d);
      if (distance < bestDistance) { best = h; bestDistance = distance; }
    });
    return best;
  }

  // Honest work at `target`, or rest where it stands when there is none (-1).
  const workAtOrRest = (target, here) => (target < 0 ? [here, REST, REST] : [target, WORK, WORK]);

  const bots = {
    free_rider(obs, generator, p) {
      return [decode(obs, p).here, REST, REST];
    },
    hero(obs, generator, p) {
      const { here, houses } = decode(obs, p);
      return workAtOrRest(nearest(houses.map((v) => v === BURNING), here, p.num_houses), here);
    },
    owner(obs, generator, p) {
      const { me, here, houses } = decode(obs, p);
      const mine = houses.map((v, h) => v === BURNING && h % p.num_agents === me);
      return workAtOrRest(nearest(mine, here, p.num_houses), here);
    },
    // Fire number me mod F of the F burning houses in index order.
    coordinator(obs, generator, p) {
      const { me, here, houses } = decode(obs, p);
      const fires = [];
      houses.forEach((v, h) => { if (v === BURNING) fires.push(h); });
      return workAtOrRest(fires.length ? fires[me % fires.length] : -1, here);
    },
    // rng.integers(0, [H, 2, 2]) from the generator seeded with the page's seed.
    random(obs, generator, p) {
      return [generator.integers(p.num_houses), generator.integers(2), generator.integers(2)];
    },
  };

  // ----- the picture, as render() -----

  const SIZE = 400, CENTRE = 200.0, RING_RADIUS = 130.0;
  const HOUSE_COLOURS = [[92, 186, 92], [240, 120, 40], [80, 80, 80]];
  const OWNER_COLOURS = [[230, 25, 75], [255, 225, 25], [0, 130, 200], [245, 130, 180],
    [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [0, 128, 128],
    [170, 110, 40]];

  // The ring of houses (green safe, orange burning, grey ruined) with a dot in the owner's
  // colour; agents as discs outside the house they chose (blue working, light grey resting),
  // ringed in white when they signalled WORK; the nights so far as a bar below.
  function draw(d, s, p) {
    const hCount = p.num_houses, nCount = p.num_agents;
    const { loc, mode, sig } = layout(p);
    d.clear([24, 26, 38]);
    const houseR = Math.max(3.0, Math.min(22.0, 0.4 * 2 * Math.PI * RING_RADIUS / hCount));
    const at = (h, distance) => {
      const angle = 2 * Math.PI * h / hCount;
      return [CENTRE + distance * Math.cos(angle), CENTRE + distance * Math.sin(angle)];
    };
    for (let h = 0; h < hCount; h++) {
      const [x, y] = at(h, RING_RADIUS);
      d.circle(x, y, houseR, HOUSE_COLOURS[s[HOUSES + h]]);
      d.circle(x, y, Math.max(1.5, houseR / 4), OWNER_COLOURS[h % nCount]);
    }
    const agentR = Math.max(2.0, Math.min(7.0, houseR / 2.5));
    const stacked = new Array(hCount).fill(0);
    for (let b = 0; b < nCount; b++) {
      const h = Math.trunc(s[loc + b]);
      const [x, y] = at(h, RING_RADIUS + houseR + agentR + 2 + stacked[h] * (2 * agentR + 2));
      stacked[h] += 1;
      if (s[sig + b] === WORK) d.circle(x, y, agentR + 1.5, [255, 255, 255]);
      d.circle(x, y, agentR, s[mode + b] === WORK ? [60, 120, 230] : [190, 190, 190]);
    }
    const bar = 380 * Math.min(s[NIGHT] / Math.max(p.max_nights, 1), 1.0);
    d.polygon([[10, 8], [10, 14], [10 + bar, 14], [10 + bar, 8]], [200, 200, 90]);
  }

  T.envs = T.envs || {};
  T.envs.BucketBrigade = {
    // Sizes that depend on the parameters are functions of them.
    stateSize: (p) => 1 + 3 * p.num_houses + 4 * p.num_agents,
    obsDim: (p) => 3 * p.num_agents + p.num_agents * p.num_houses + 3 * p.num_houses,
    width: SIZE,
    height: SIZE,
    players: (p) => p.num_agents,
    fps: 4,
    bots,
    intPower, // for the tests, against the numba kernel's power
    step, reset, observe, draw,
  };
})(globalThis.Thrust = globalThis.Thrust || {});
