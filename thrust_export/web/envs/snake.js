// Snake, as thrust_envs/multiagent/snake.py: N snakes on a square grid with food, moving at
// once. The state row has snake.py's layout (header, 7 fields a snake, then the grid as a
// linked list of body cells), and every random draw comes from the game's SplitMix64 stream in
// snake.py's order, so resets, food and deaths match the Python kernel bit for bit. Also the
// greedy bot, drawing its tie-breaks from a numpy generator as greedy_bot(seed) does.
(function (T) {
  "use strict";
  const UP = 0, RIGHT = 1, DOWN = 2, LEFT = 3;
  const EMPTY = 0.0, FOOD = 1.0, RESERVED = -1.0;
  const WALL_CH = 0, OWN_CH = 1, OTHER_CH = 2, OTHER_HEAD_CH = 3, FOOD_CH = 4, CHANNELS = 5;
  const FOOD_COUNT = 0, LIVE_COUNT = 1, HEADER_SIZE = 2;
  const HEAD = 0, TAIL = 1, LENGTH = 2, HEADING = 3, ALIVE = 4, NEXT = 5, EATS = 6;
  const SNAKE_SIZE = 7, PLACEMENT_TRIES = 32;

  const gridSide = (p) => (p.grid_size > 0 ? p.grid_size
    : Math.max(8, Math.ceil(6.0 * Math.sqrt(p.num_snakes))));
  const foodCount = (p) => (p.num_food > 0 ? p.num_food : p.num_snakes);
  const snakeBase = (s) => HEADER_SIZE + s * SNAKE_SIZE;
  const gridBase = (p) => HEADER_SIZE + p.num_snakes * SNAKE_SIZE;
  const dx = (d) => (d === RIGHT ? 1 : 0) - (d === LEFT ? 1 : 0);
  const dy = (d) => (d === DOWN ? 1 : 0) - (d === UP ? 1 : 0);
  // A uniform int in [0, n): the top 53 bits of a draw modulo n, as snake.py's _randint.
  const randint = (rng, n) => Number(rng.nextU64() >> 11n) % n;
  // The direction stored in a body cell (2 + 4 s + d) and the snake it belongs to.
  const cellDirection = (v) => (Math.trunc(v) - 2) % 4;
  const cellOwner = (v) => Math.trunc((Math.trunc(v) - 2) / 4);

  function placeFood(s, rng, grid, cells) {
    for (let k = 0; k < 4; k++) {
      const c = randint(rng, cells);
      if (s[grid + c] === EMPTY) { s[grid + c] = FOOD; s[FOOD_COUNT] += 1.0; return true; }
    }
    // then the k-th empty cell for a uniform k (a scan from a random start favoured the
    // empty cells after long occupied runs)
    let empty = 0;
    for (let c = 0; c < cells; c++) if (s[grid + c] === EMPTY) empty++;
    if (empty === 0) return false;
    let k = randint(rng, empty);
    for (let c = 0; c < cells; c++) {
      if (s[grid + c] !== EMPTY) continue;
      if (k === 0) { s[grid + c] = FOOD; s[FOOD_COUNT] += 1.0; return true; }
      k--;
    }
    return false;
  }

  // Whether a straight snake with its head at cell c heading d fits, the cell ahead included.
  function fits(s, grid, side, c, d, length) {
    const x = c % side, y = Math.trunc(c / side);
    for (let k = -1; k < length; k++) {
      const cx = x - k * dx(d), cy = y - k * dy(d);
      if (cx < 0 || cx >= side || cy < 0 || cy >= side) return false;
      if (s[grid + cy * side + cx] !== EMPTY) return false;
    }
    return true;
  }

  function reset(s, rng, p) {
    const n = p.num_snakes, side = gridSide(p), cells = side * side, grid = gridBase(p);
    s.fill(0.0, 0, grid + cells);
    const length = p.start_length;
    for (let snake = 0; snake < n; snake++) {
      let head = -1, heading = 0;
      for (let k = 0; k < PLACEMENT_TRIES; k++) {
        const c = randint(rng, cells), d = randint(rng, 4);
        if (fits(s, grid, side, c, d, length)) { head = c; heading = d; break; }
      }
      if (head < 0) {
        const start = randint(rng, 4 * cells);
        for (let k = 0; k < 4 * cells; k++) {
          const i = (start + k) % (4 * cells);
          if (fits(s, grid, side, Math.trunc(i / 4), i % 4, length)) {
            head = Math.trunc(i / 4); heading = i % 4; break;
          }
        }
      }
      const step = dx(heading) + dy(heading) * side;
      for (let k = 0; k < length; k++) s[grid + head - k * step] = 2.0 + 4.0 * snake + heading;
      s[grid + head + step] = RESERVED;
      const b = snakeBase(snake);
      s[b + HEAD] = head;
      s[b + TAIL] = head - (length - 1) * step;
      s[b + LENGTH] = length;
      s[b + HEADING] = heading;
      s[b + ALIVE] = 1.0;
    }
    for (let snake = 0; snake < n; snake++) {
      const b = snakeBase(snake), heading = s[b + HEADING];
      s[grid + s[b + HEAD] + dx(heading) + dy(heading) * side] = EMPTY;
    }
    s[LIVE_COUNT] = n;
    for (let k = 0; k < foodCount(p); k++) placeFood(s, rng, grid, cells);
  }

  // step_row: moves every snake alive[a] with actions[a], adds the rewards into `rewards`
  // (zeroed by the caller), clears alive[a] of the snakes that die; returns game over.
  function step(s, rng, actions, alive, rewards, p) {
    const n = p.num_snakes, side = gridSide(p), cells = side * side, grid = gridBase(p);
    // 1. Headings and target cells; each old head now points at its new head.
    for (let a = 0; a < n; a++) {
      if (!alive[a]) continue;
      const b = snakeBase(a), heading = s[b + HEADING];
      let d = actions[a];
      if (s[b + LENGTH] >= 2.0 && d === (heading + 2) % 4) d = heading;
      s[b + HEADING] = d;
      const head = s[b + HEAD];
      const x = head % side + dx(d), y = Math.trunc(head / side) + dy(d);
      let target = -1, eats = false;
      if (x >= 0 && x < side && y >= 0 && y < side) {
        target = y * side + x;
        eats = s[grid + target] === FOOD;
      }
      s[b + NEXT] = target;
      s[b + EATS] = eats ? 1.0 : 0.0;
      s[grid + head] = 2.0 + 4.0 * a + d;
    }
    // 2. Two snakes swapping places both die (judged before the tails move: a snake of
    // length 1 is its own tail, and would vacate the cell the other one enters).
    for (let a = 0; a < n; a++) {
      if (!alive[a]) continue;
      const b = snakeBase(a), target = s[b + NEXT];
      if (target < 0 || s[grid + target] < 2.0) continue;
      const o = Math.trunc((s[grid + target] - 2.0) / 4), ob = snakeBase(o);
      if (o !== a && s[ob + HEAD] === target && s[ob + NEXT] === s[b + HEAD]) s[b + ALIVE] = 0.0;
    }
    // 3. Tails of the snakes not reaching food leave their cells.
    for (let a = 0; a < n; a++) {
      const b = snakeBase(a);
      if (alive[a] && s[b + EATS] === 0.0) {
        const tail = s[b + TAIL], d = cellDirection(s[grid + tail]);
        s[grid + tail] = EMPTY;
        s[b + TAIL] = tail + dx(d) + dy(d) * side;
      }
    }
    // 4. Collisions: walls, bodies, then heads claiming cells (a claim is -(1 + a)); a
    // snake that died swapping claims nothing.
    for (let a = 0; a < n; a++) {
      const b = snakeBase(a);
      if (!alive[a] || s[b + ALIVE] === 0.0) continue;
      const target = s[b + NEXT];
      if (target < 0) { s[b + ALIVE] = 0.0; continue; }
      const v = s[grid + target];
      if (v >= 2.0) {
        s[b + ALIVE] = 0.0;
      } else if (v < 0.0) {
        s[b + ALIVE] = 0.0;
        s[snakeBase(Math.trunc(-v) - 1) + ALIVE] = 0.0;
      } else {
        s[grid + target] = -1.0 - a;
      }
    }
    // 5. Outcomes: the dead leave the grid, the living advance (and grow on food).
    for (let a = 0; a < n; a++) {
      if (!alive[a]) continue;
      const b = snakeBase(a), target = s[b + NEXT], eats = s[b + EATS] !== 0.0;
      if (s[b + ALIVE] === 0.0) {
        alive[a] = 0;
        rewards[a] += p.death_reward;
        s[LIVE_COUNT] -= 1.0;
        let cell = s[b + TAIL];
        const count = s[b + LENGTH] - (eats ? 0 : 1);
        for (let k = 0; k < count; k++) {
          const d = cellDirection(s[grid + cell]);
          s[grid + cell] = EMPTY;
          cell += dx(d) + dy(d) * side;
        }
        if (target >= 0 && s[grid + target] === -1.0 - a) {  // its unresolved claim
          s[grid + target] = EMPTY;
          if (eats) s[FOOD_COUNT] -= 1.0;
        }
      } else {
        s[grid + target] = 2.0 + 4.0 * a + s[b + HEADING];
        s[b + HEAD] = target;
        rewards[a] += p.step_reward;
        if (eats) {
          s[b + LENGTH] += 1.0;
          s[FOOD_COUNT] -= 1.0;
          rewards[a] += p.food_reward;
        }
      }
    }
    // 6. Replace the food eaten or lost.
    const wanted = foodCount(p);
    for (let k = 0; k < wanted; k++) {
      if (s[FOOD_COUNT] >= wanted || !placeFood(s, rng, grid, cells)) break;
    }
    const live = s[LIVE_COUNT];
    return n === 1 ? live <= 0.0 : live <= 1.0;
  }

  // Snake a's egocentric window (float32, channel-major), as observe_row writes it.
  function observe(s, a, obs, p) {
    const r = p.vision_radius, width = 2 * r + 1, area = width * width;
    const side = gridSide(p), grid = gridBase(p);
    obs.fill(0.0);
    const head = s[snakeBase(a) + HEAD];
    const hx = head % side, hy = Math.trunc(head / side);
    const first = Math.max(0, r - hx), last = Math.min(width, side - hx + r);
    const wall = WALL_CH * area;
    for (let row = 0; row < width; row++) {
      const y = hy + row - r, start = row * width;
      if (y < 0 || y >= side) {
        for (let col = 0; col < width; col++) obs[wall + start + col] = 1.0;
        continue;
      }
      for (let col = 0; col < first; col++) obs[wall + start + col] = 1.0;
      for (let col = last; col < width; col++) obs[wall + start + col] = 1.0;
      const origin = grid + y * side + hx - r;
      for (let col = first; col < last; col++) {
        const v = s[origin + col];
        if (v === EMPTY) continue;
        const k = start + col;
        if (v === FOOD) {
          obs[FOOD_CH * area + k] = 1.0;
        } else {
          const owner = cellOwner(v);
          if (owner === a) {
            obs[OWN_CH * area + k] = 1.0;
          } else {
            obs[OTHER_CH * area + k] = 1.0;
            if (s[snakeBase(owner) + HEAD] === origin + col - grid) obs[OTHER_HEAD_CH * area + k] = 1.0;
          }
        }
      }
    }
  }

  // greedy_bot on one observation: never into a wall or body while another move exists,
  // away from cells next to another head when it can, else towards the nearest food in view;
  // ties broken by generator.random() draws, four per call (rng.random((n, 4)) row by row).
  function greedy(obs, generator) {
    const width = Math.round(Math.sqrt(obs.length / CHANNELS)), r = Math.trunc(width / 2);
    const area = width * width;
    const at = (ch, row, col) => row >= 0 && row < width && col >= 0 && col < width &&
      obs[ch * area + row * width + col] > 0.5;
    const steps = [[UP, 0, -1], [RIGHT, 1, 0], [DOWN, 0, 1], [LEFT, -1, 0]];
    const scores = [0, 1, 2, 3].map(() => generator.random() * 0.5);
    for (const [action, sx, sy] of steps) {
      const y = r + sy, x = r + sx;
      let nearest = 4 * width;
      for (let row = 0; row < width; row++) {
        for (let col = 0; col < width; col++) {
          if (at(FOOD_CH, row, col)) nearest = Math.min(nearest, Math.abs(row - y) + Math.abs(col - x));
        }
      }
      const blocked = at(WALL_CH, y, x) || at(OWN_CH, y, x) || at(OTHER_CH, y, x);
      const nearHead = at(OTHER_HEAD_CH, y - 1, x) || at(OTHER_HEAD_CH, y + 1, x) ||
        at(OTHER_HEAD_CH, y, x - 1) || at(OTHER_HEAD_CH, y, x + 1);
      scores[action] += nearest + 1000.0 * blocked + 100.0 * nearHead;
    }
    let best = 0;
    for (let action = 1; action < 4; action++) if (scores[action] < scores[best]) best = action;
    return best;
  }

  const PALETTE = [[92, 186, 92], [213, 130, 74], [90, 140, 230], [220, 200, 70],
    [180, 100, 210], [70, 200, 200], [230, 120, 160], [150, 150, 150]];
  const scaleOf = (p) => Math.max(2, Math.trunc(240 / gridSide(p)));

  // As render(): a one-cell wall frame, food red, each snake its colour, living heads lighter.
  function draw(d, s, p) {
    const side = gridSide(p), grid = gridBase(p), scale = scaleOf(p);
    const size = (side + 2) * scale;
    d.clear([70, 70, 80]);
    d.rect(scale, scale, side * scale, side * scale, [20, 20, 30]);
    // The Drawing's y grows upwards; grid row 0 is the top row of the picture.
    const cell = (c, colour) => d.rect((c % side + 1) * scale,
      size - (Math.trunc(c / side) + 2) * scale, scale, scale, colour);
    for (let c = 0; c < side * side; c++) {
      const v = s[grid + c];
      if (v === FOOD) cell(c, [230, 60, 60]);
      else if (v >= 2) cell(c, PALETTE[cellOwner(v) % PALETTE.length]);
    }
    for (let a = 0; a < p.num_snakes; a++) {
      const b = snakeBase(a);
      if (s[b + ALIVE] !== 1.0) continue;
      const colour = PALETTE[a % PALETTE.length].map((v) => Math.trunc((v + 255) / 2));
      cell(s[b + HEAD], colour);
    }
  }

  T.envs = T.envs || {};
  T.envs.Snake = {
    // Sizes that depend on the parameters are functions of them.
    stateSize: (p) => gridBase(p) + gridSide(p) ** 2,
    obsDim: (p) => CHANNELS * (2 * p.vision_radius + 1) ** 2,
    width: (p) => (gridSide(p) + 2) * scaleOf(p),
    height: (p) => (gridSide(p) + 2) * scaleOf(p),
    players: (p) => p.num_snakes,
    fps: 10,
    bots: { greedy },
    step, reset, observe, draw,
  };
})(globalThis.Thrust = globalThis.Thrust || {});
