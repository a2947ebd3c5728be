// Pendulum, as thrust_envs/classic/pendulum.py (Gymnasium's Pendulum-v1). The reference's
// float32 products (the action is a float32 array) are emulated with Math.fround.
(function (T) {
  "use strict";
  const TH = 0, THDOT = 1, LAST_U = 2, HAS_U = 3;
  const f32 = Math.fround;

  // Python's float modulo: the result takes the sign of the divisor.
  function pyMod(x, y) {
    const r = x % y;
    return r !== 0 && (r < 0) !== (y < 0) ? r + y : r;
  }

  function angleNormalize(x) {
    return pyMod(x + Math.PI, 2 * Math.PI) - Math.PI;
  }

  function step(s, action, p) {
    const th = s[TH], thdot = s[THDOT];
    const bound = f32(p.max_torque);
    const u = Math.min(Math.max(f32(action[0]), -bound), bound);
    s[LAST_U] = u;
    s[HAS_U] = 1.0;
    const costs = Math.pow(angleNormalize(th), 2) + 0.1 * Math.pow(thdot, 2) +
      f32(f32(0.001) * f32(u * u));
    const torqueTerm = f32(f32(3.0 / (p.m * Math.pow(p.l, 2))) * u);
    let newthdot = thdot + (3 * p.g / (2 * p.l) * Math.sin(th) + torqueTerm) * p.dt;
    newthdot = Math.min(Math.max(newthdot, -p.max_speed), p.max_speed);
    s[TH] = th + newthdot * p.dt;
    s[THDOT] = newthdot;
    return [-costs, false];
  }

  function reset(s, rng, p) {
    s[TH] = rng.uniform(-p.reset_x, p.reset_x);
    s[THDOT] = rng.uniform(-p.reset_y, p.reset_y);
    s[LAST_U] = 0.0;
    s[HAS_U] = 0.0;
  }

  function observe(s, obs, p) {
    obs[0] = f32(Math.cos(s[TH]));
    obs[1] = f32(Math.sin(s[TH]));
    obs[2] = f32(s[THDOT]);
  }

  function draw(d, s, p) {
    const size = 500, scale = size / 4.4, offset = size / 2;
    const rodLength = 1.0 * scale, rodWidth = 0.2 * scale;
    const angle = s[TH] + Math.PI / 2, c = Math.cos(angle), n = Math.sin(angle);
    const rod = [[0, -rodWidth / 2], [0, rodWidth / 2], [rodLength, rodWidth / 2],
      [rodLength, -rodWidth / 2]];
    d.polygon(rod.map(([u, v]) => [u * c - v * n + offset, u * n + v * c + offset]), [204, 77, 77]);
    d.circle(offset, offset, rodWidth / 2, [204, 77, 77]);
    d.circle(c * rodLength + offset, n * rodLength + offset, rodWidth / 2, [204, 77, 77]);
    d.circle(offset, offset, 0.05 * scale, [0, 0, 0]);
    if (s[HAS_U]) {
      const radius = Math.abs(s[LAST_U]) / p.max_torque * 0.4 * scale;
      d.circle(offset, offset - 0.6 * scale, radius, [128, 128, 128]);
    }
  }

  T.envs = T.envs || {};
  T.envs.Pendulum = {
    stateSize: 4, obsDim: 3, width: 500, height: 500, fps: 30,
    keys: null, step, reset, observe, draw, pyMod,
  };
})(globalThis.Thrust = globalThis.Thrust || {});
