// MountainCar, as thrust_envs/classic/mountain_car.py (Gymnasium's MountainCar-v0).
(function (T) {
  "use strict";
  const POS = 0, VEL = 1;

  function step(s, action, p) {
    let position = s[POS], velocity = s[VEL];
    velocity += (action - 1) * p.force + Math.cos(3 * position) * (-p.gravity);
    velocity = Math.min(Math.max(velocity, -p.max_speed), p.max_speed);
    position += velocity;
    position = Math.min(Math.max(position, p.min_position), p.max_position);
    if (position === p.min_position && velocity < 0) velocity = 0.0;
    const terminated = position >= p.goal_position && velocity >= p.goal_velocity;
    s[POS] = position;
    s[VEL] = velocity;
    return [-1.0, terminated];
  }

  function reset(s, rng, p) {
    s[POS] = rng.uniform(p.reset_low, p.reset_high);
    s[VEL] = 0.0;
  }

  function observe(s, obs, p) {
    obs[0] = Math.fround(s[POS]);
    obs[1] = Math.fround(s[VEL]);
  }

  function draw(d, s, p) {
    T.drawMountainCar(d, s[POS], p.min_position, p.max_position, p.goal_position);
  }

  T.envs = T.envs || {};
  T.envs.MountainCar = {
    stateSize: 2, obsDim: 2, width: 600, height: 400, fps: 30,
    keys: null, step, reset, observe, draw,
  };
})(globalThis.Thrust = globalThis.Thrust || {});
