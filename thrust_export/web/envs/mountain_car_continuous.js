// MountainCarContinuous, as thrust_envs/classic/continuous_mountain_car.py. The reference's
// state is float64 after reset and float32 after every step, and its force is float32 unless
// clipped; AS_F32 tracks that, and Math.fround does each float32 operation.
(function (T) {
  "use strict";
  const POS = 0, VEL = 1, AS_F32 = 2;
  const f32 = Math.fround;
  const greater = (x, isF32, bound) => (isF32 ? f32(x) > f32(bound) : x > bound);
  const less = (x, isF32, bound) => (isF32 ? f32(x) < f32(bound) : x < bound);

  function step(s, action, p) {
    const a = f32(action[0]);
    const isF32 = s[AS_F32] !== 0.0;
    let position = s[POS], velocity = s[VEL];
    let force = a, forceF32 = true;
    if (f32(p.min_action) > a) { force = p.min_action; forceF32 = false; }
    if (forceF32 && f32(p.max_action) < a) { force = p.max_action; forceF32 = false; }
    else if (!forceF32 && p.max_action < force) force = p.max_action;
    const cosArg = isF32 ? f32(3.0 * f32(position)) : 3.0 * position;
    const pull = 0.0025 * Math.cos(cosArg);
    const push = forceF32 ? f32(f32(f32(force) * f32(p.power)) - f32(pull)) : force * p.power - pull;
    velocity = isF32 ? f32(f32(velocity) + f32(push)) : velocity + push;
    let velocityF32 = isF32;
    if (greater(velocity, velocityF32, p.max_speed)) { velocity = p.max_speed; velocityF32 = false; }
    if (less(velocity, velocityF32, -p.max_speed)) { velocity = -p.max_speed; velocityF32 = false; }
    position = isF32 ? f32(f32(position) + f32(velocity)) : position + velocity;
    let positionF32 = isF32;
    if (greater(position, positionF32, p.max_position)) {
      position = p.max_position; positionF32 = false;
    }
    if (less(position, positionF32, p.min_position)) {
      position = p.min_position; positionF32 = false;
    }
    const atMin = positionF32 ? f32(position) === f32(p.min_position) : position === p.min_position;
    if (atMin && velocity < 0) velocity = 0.0;
    const reached = positionF32 ? f32(position) >= f32(p.goal_position)
      : position >= p.goal_position;
    const fast = velocityF32 ? f32(velocity) >= f32(p.goal_velocity)
      : velocity >= p.goal_velocity;
    const terminated = reached && fast;
    let reward = terminated ? 100.0 : 0.0;
    reward -= Math.pow(a, 2) * 0.1;
    s[POS] = f32(position);
    s[VEL] = f32(velocity);
    s[AS_F32] = 1.0;
    return [reward, terminated];
  }

  function reset(s, rng, p) {
    s[POS] = rng.uniform(p.reset_low, p.reset_high);
    s[VEL] = 0.0;
    s[AS_F32] = 0.0;
  }

  function observe(s, obs, p) {
    obs[0] = f32(s[POS]);
    obs[1] = f32(s[VEL]);
  }

  function draw(d, s, p) {
    T.drawMountainCar(d, s[POS], p.min_position, p.max_position, p.goal_position);
  }

  T.envs = T.envs || {};
  T.envs.MountainCarContinuous = {
    stateSize: 3, obsDim: 2, width: 600, height: 400, fps: 30,
    keys: null, step, reset, observe, draw,
  };
})(globalThis.Thrust = globalThis.Thrust || {});
