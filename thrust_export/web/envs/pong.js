// Pong, as thrust_envs/multiagent/pong.py: two paddles, simultaneous actions, egocentric
// mirrored observations; player 0 defends x = 0, player 1 x = 1. Also its tracker bot.
(function (T) {
  "use strict";
  const P0Y = 0, P1Y = 1, BX = 2, BY = 3, VX = 4, VY = 5, SPEED = 6, S0 = 7, S1 = 8;
  const STAY = 0, UP = 1, DOWN = 2;

  function serve(s, rng, p, towards) {
    const angle = rng.uniform(-p.serve_angle, p.serve_angle);
    const direction = towards === 0 ? -1.0 : 1.0;
    s[BX] = 0.5;
    s[BY] = rng.uniform(0.3, 0.7);
    s[SPEED] = p.ball_speed;
    s[VX] = direction * p.ball_speed * Math.cos(angle);
    s[VY] = p.ball_speed * Math.sin(angle);
  }

  function move(y, action, p) {
    if (action === UP) y += p.paddle_speed;
    else if (action === DOWN) y -= p.paddle_speed;
    return Math.min(Math.max(y, p.paddle_half_height), 1.0 - p.paddle_half_height);
  }

  // step_row: advances the game with both players' actions, adds the rewards into `rewards`
  // ([2], zeroed by the caller) and returns whether the game is over (nobody leaves a Pong
  // game early, so `alive` stays as it is).
  function step(s, rng, actions, alive, rewards, p) {
    s[P0Y] = move(s[P0Y], actions[0], p);
    s[P1Y] = move(s[P1Y], actions[1], p);
    const bx = s[BX] + s[VX];
    let by = s[BY] + s[VY], vy = s[VY];
    if (by < 0.0) { by = -by; vy = -vy; }
    else if (by > 1.0) { by = 2.0 - by; vy = -vy; }
    s[BX] = bx; s[BY] = by; s[VY] = vy;
    for (let defender = 0; defender < 2; defender++) {
      const crossed = defender === 0 ? bx <= 0.0 : bx >= 1.0;
      if (!crossed) continue;
      const paddle = defender === 0 ? s[P0Y] : s[P1Y];
      const offset = (by - paddle) / p.paddle_half_height;
      if (Math.abs(offset) <= 1.0) {
        const speed = Math.min(s[SPEED] * p.ball_speedup, p.max_ball_speed);
        const angle = offset * p.max_bounce_angle;
        const away = defender === 0 ? 1.0 : -1.0;
        s[SPEED] = speed;
        s[VX] = away * speed * Math.cos(angle);
        s[VY] = speed * Math.sin(angle);
        s[BX] = defender === 0 ? -bx : 2.0 - bx;
      } else {
        const scorer = 1 - defender;
        rewards[scorer] += 1.0;
        rewards[defender] -= 1.0;
        s[S0 + scorer] += 1.0;
        serve(s, rng, p, defender);
      }
    }
    return s[S0] >= p.points_to_win || s[S1] >= p.points_to_win;
  }

  function reset(s, rng, p) {
    s[P0Y] = 0.5; s[P1Y] = 0.5; s[S0] = 0.0; s[S1] = 0.0;
    serve(s, rng, p, rng.uniform(0.0, 1.0) < 0.5 ? 0 : 1);
  }

  // Agent `a`'s view (float32 [8]).
  function observe(s, a, obs, p) {
    const inv = 1.0 / p.max_ball_speed;
    const f = Math.fround;
    if (a === 0) {
      obs[0] = f(s[P0Y]); obs[1] = f(s[P1Y]);
      obs[2] = f(Math.min(Math.max(s[BX], 0.0), 1.0));
      obs[4] = f(s[VX] * inv);
      obs[6] = f(s[S0] / p.points_to_win); obs[7] = f(s[S1] / p.points_to_win);
    } else {
      obs[0] = f(s[P1Y]); obs[1] = f(s[P0Y]);
      obs[2] = f(Math.min(Math.max(1.0 - s[BX], 0.0), 1.0));
      obs[4] = f(-s[VX] * inv);
      obs[6] = f(s[S1] / p.points_to_win); obs[7] = f(s[S0] / p.points_to_win);
    }
    obs[3] = f(s[BY]);
    obs[5] = f(s[VY] * inv);
  }

  // tracker_bot() on one float32 observation, with its defaults reaction=0.5, aim=0.05,
  // dead_zone=0.02 (it draws no random numbers and needs no parameters, so it ignores the
  // page's bot generator and the game's parameters), with
  // NumPy 2's promotion: a float32 array and a Python float compute in float32
  // (own_y + dead_zone, ball_x <= reaction), a float32 and a float64 array in float64.
  function tracker(obs) {
    const reaction = 0.5, aim = 0.05, deadZone = 0.02;
    const f32 = Math.fround;
    const ownY = obs[0], ballX = obs[2], ballY = obs[3], ballVx = obs[4];
    const approaching = ballVx < 0 && ballX <= f32(reaction);
    const side = ballY >= 0.5 ? 1.0 : -1.0;
    const target = approaching ? ballY - aim * side : 0.5;
    if (target > f32(ownY + f32(deadZone))) return UP;
    if (target < f32(ownY - f32(deadZone))) return DOWN;
    return STAY;
  }

  function draw(d, s, p) {
    const height = 210, width = 160, h = p.paddle_half_height * height;
    d.clear([20, 20, 40]);
    const paddles = [[4.0, s[P0Y], [92, 186, 92]], [width - 4.0, s[P1Y], [213, 130, 74]]];
    for (const [x, y, colour] of paddles) {
      d.polygon([[x - 2, y * height - h], [x - 2, y * height + h], [x + 2, y * height + h],
        [x + 2, y * height - h]], colour);
    }
    d.circle(s[BX] * width, s[BY] * height, 2.5, [236, 236, 236]);
    const scores = [[s[S0], [92, 186, 92]], [s[S1], [213, 130, 74]]];
    scores.forEach(([score, colour], k) => {
      for (let point = 0; point < Math.trunc(score); point++) {
        const x0 = 20 + k * 70 + point * 8;
        d.polygon([[x0, 200], [x0, 206], [x0 + 5, 206], [x0 + 5, 200]], colour);
      }
    });
  }

  T.envs = T.envs || {};
  T.envs.Pong = {
    stateSize: 9, obsDim: 8, width: 160, height: 210, fps: 30, players: 2,
    // ArrowUp/w moves the person's paddle up (action 1), ArrowDown/s down (2).
    keys: { up: UP, down: DOWN, none: STAY, help: "Arrow Up/Down or W/S" },
    bots: { tracker },
    step, reset, observe, draw,
  };
})(globalThis.Thrust = globalThis.Thrust || {});
