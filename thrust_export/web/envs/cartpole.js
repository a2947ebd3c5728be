// CartPole, as thrust_envs/classic/cartpole.py (Gymnasium's CartPole-v1/-v0).
(function (T) {
  "use strict";
  const X = 0, X_DOT = 1, THETA = 2, THETA_DOT = 3, BEYOND = 4;

  function step(s, action, p) {
    let x = s[X], xDot = s[X_DOT], theta = s[THETA], thetaDot = s[THETA_DOT];
    const force = action === 1 ? p.force_mag : -p.force_mag;
    const costheta = Math.cos(theta);
    const sintheta = Math.sin(theta);
    const totalMass = p.masspole + p.masscart;
    const polemassLength = p.masspole * p.length;
    const temp = (force + polemassLength * (thetaDot * thetaDot) * sintheta) / totalMass;
    const thetaacc = (p.gravity * sintheta - costheta * temp) /
      (p.length * (4.0 / 3.0 - p.masspole * (costheta * costheta) / totalMass));
    const xacc = temp - polemassLength * thetaacc * costheta / totalMass;
    if (!p.semi_implicit_euler) {
      x = x + p.tau * xDot;
      xDot = xDot + p.tau * xacc;
      theta = theta + p.tau * thetaDot;
      thetaDot = thetaDot + p.tau * thetaacc;
    } else {
      xDot = xDot + p.tau * xacc;
      x = x + p.tau * xDot;
      thetaDot = thetaDot + p.tau * thetaacc;
      theta = theta + p.tau * thetaDot;
    }
    s[X] = x; s[X_DOT] = xDot; s[THETA] = theta; s[THETA_DOT] = thetaDot;
    const terminated = x < -p.x_threshold || x > p.x_threshold ||
      theta < -p.theta_threshold_radians || theta > p.theta_threshold_radians;
    let reward;
    if (!terminated) {
      reward = p.sutton_barto_reward ? 0.0 : 1.0;
    } else if (s[BEYOND] === 0.0) {
      s[BEYOND] = 1.0;
      reward = p.sutton_barto_reward ? -1.0 : 1.0;
    } else {
      reward = p.sutton_barto_reward ? -1.0 : 0.0;
    }
    return [reward, terminated];
  }

  function reset(s, rng, p) {
    for (let k = 0; k < 4; k++) s[k] = rng.uniform(p.reset_low, p.reset_high);
    s[BEYOND] = 0.0;
  }

  function observe(s, obs, p) {
    for (let k = 0; k < 4; k++) obs[k] = Math.fround(s[k]);
  }

  function draw(d, s, p) {
    const width = 600;
    const scale = width / (p.x_threshold * 2);
    const polewidth = 10.0, polelen = scale * (2 * p.length);
    const cartwidth = 50.0, cartheight = 30.0;
    const cartx = s[X] * scale + width / 2.0, carty = 100.0;
    let l = -cartwidth / 2, r = cartwidth / 2, t = cartheight / 2, b = -cartheight / 2;
    d.polygon([[l, b], [l, t], [r, t], [r, b]].map(([u, v]) => [u + cartx, v + carty]), [0, 0, 0]);
    const axleoffset = cartheight / 4.0;
    l = -polewidth / 2; r = polewidth / 2; t = polelen - polewidth / 2; b = -polewidth / 2;
    const angle = -s[THETA], c = Math.cos(angle), n = Math.sin(angle);
    const pole = [[l, b], [l, t], [r, t], [r, b]].map(
      ([u, v]) => [u * c - v * n + cartx, u * n + v * c + carty + axleoffset]);
    d.polygon(pole, [202, 152, 101]);
    d.circle(cartx, carty + axleoffset, polewidth / 2, [129, 132, 203]);
    d.hline(carty, [0, 0, 0]);
  }

  T.envs = T.envs || {};
  T.envs.CartPole = {
    stateSize: 5, obsDim: 4, width: 600, height: 400, fps: 50,
    keys: null, step, reset, observe, draw,
  };
})(globalThis.Thrust = globalThis.Thrust || {});
