// Acrobot, as thrust_envs/classic/acrobot.py (Gymnasium's Acrobot-v1, "book" dynamics, rk4).
(function (T) {
  "use strict";
  const PI = Math.PI;
  const sq = (x) => Math.pow(x, 2);

  function dsdt(theta1, theta2, dtheta1, dtheta2, a, p) {
    const m1 = p.link_mass_1, m2 = p.link_mass_2, l1 = p.link_length_1;
    const lc1 = p.link_com_pos_1, lc2 = p.link_com_pos_2, I1 = p.link_moi, I2 = p.link_moi;
    const g = p.gravity;
    const d1 = m1 * sq(lc1) + m2 * (sq(l1) + sq(lc2) + 2 * l1 * lc2 * Math.cos(theta2)) + I1 + I2;
    const d2 = m2 * (sq(lc2) + l1 * lc2 * Math.cos(theta2)) + I2;
    const phi2 = m2 * lc2 * g * Math.cos(theta1 + theta2 - PI / 2.0);
    const phi1 = -m2 * l1 * lc2 * sq(dtheta2) * Math.sin(theta2) -
      2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * Math.sin(theta2) +
      (m1 * lc1 + m2 * l1) * g * Math.cos(theta1 - PI / 2) + phi2;
    const ddtheta2 = (a + d2 / d1 * phi1 - m2 * l1 * lc2 * sq(dtheta1) * Math.sin(theta2) - phi2) /
      (m2 * sq(lc2) + I2 - sq(d2) / d1);
    const ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
    return [dtheta1, dtheta2, ddtheta1, ddtheta2];
  }

  function wrap(x, m, M) {
    const diff = M - m;
    while (x > M) x = x - diff;
    while (x < m) x = x + diff;
    return x;
  }

  function step(s, action, p) {
    const torque = action === 0 ? -1.0 : (action === 1 ? 0.0 : 1.0);
    const y = [s[0], s[1], s[2], s[3]];
    const dt = p.dt - 0, dt2 = dt / 2.0;
    const k1 = dsdt(y[0], y[1], y[2], y[3], torque, p);
    const at = (k, h) => y.map((v, j) => v + h * k[j]);
    const k2 = dsdt(...at(k1, dt2), torque, p);
    const k3 = dsdt(...at(k2, dt2), torque, p);
    const k4 = dsdt(...at(k3, dt), torque, p);
    const sixth = dt / 6.0;
    const n = y.map((v, j) => v + sixth * (k1[j] + 2 * k2[j] + 2 * k3[j] + k4[j]));
    s[0] = wrap(n[0], -PI, PI);
    s[1] = wrap(n[1], -PI, PI);
    s[2] = Math.min(Math.max(n[2], -p.max_vel_1), p.max_vel_1);
    s[3] = Math.min(Math.max(n[3], -p.max_vel_2), p.max_vel_2);
    const terminated = -Math.cos(s[0]) - Math.cos(s[1] + s[0]) > 1.0;
    return [terminated ? 0.0 : -1.0, terminated];
  }

  function reset(s, rng, p) {
    for (let k = 0; k < 4; k++) s[k] = Math.fround(rng.uniform(p.reset_low, p.reset_high));
  }

  function observe(s, obs, p) {
    obs[0] = Math.fround(Math.cos(s[0]));
    obs[1] = Math.fround(Math.sin(s[0]));
    obs[2] = Math.fround(Math.cos(s[1]));
    obs[3] = Math.fround(Math.sin(s[1]));
    obs[4] = Math.fround(s[2]);
    obs[5] = Math.fround(s[3]);
  }

  function draw(d, s, p) {
    const size = 500, bound = p.link_length_1 + p.link_length_2 + 0.2;
    const scale = size / (bound * 2), offset = size / 2;
    d.hline(1.0 * scale + offset, [0, 0, 0]);
    const p1 = [-p.link_length_1 * Math.cos(s[0]), p.link_length_1 * Math.sin(s[0])];
    // Gymnasium draws the joints at (p[1], p[0]) (its `xys[:, ::-1]`); thrust_envs' Python
    // render omits that swap (reported), so the page follows Gymnasium's picture here.
    const joints = [[0, 0], [p1[1] * scale, p1[0] * scale]];
    const angles = [s[0] - PI / 2, s[0] + s[1] - PI / 2];
    const lengths = [p.link_length_1, p.link_length_2];
    for (let j = 0; j < 2; j++) {
      const [x, y] = joints[j], c = Math.cos(angles[j]), n = Math.sin(angles[j]);
      const l = 0.0, r = lengths[j] * scale, t = 0.1 * scale, b = -0.1 * scale;
      d.polygon([[l, b], [l, t], [r, t], [r, b]].map(
        ([u, v]) => [u * c - v * n + x + offset, u * n + v * c + y + offset]), [0, 204, 204]);
      d.circle(x + offset, y + offset, 0.1 * scale, [204, 204, 0]);
    }
  }

  T.envs = T.envs || {};
  T.envs.Acrobot = {
    stateSize: 4, obsDim: 6, width: 500, height: 500, fps: 15,
    keys: null, step, reset, observe, draw,
  };
})(globalThis.Thrust = globalThis.Thrust || {});
