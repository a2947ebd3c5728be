// The mountain-car picture, shared by MountainCar and MountainCarContinuous, as
// thrust_envs/classic/mountain_car_render.py.
(function (T) {
  "use strict";
  const height = (x) => Math.sin(3 * x) * 0.45 + 0.55;

  T.drawMountainCar = function (d, position, minPosition, maxPosition, goal) {
    const width = 600, scale = width / (maxPosition - minPosition);
    for (let x = 0; x < width; x++) {
      const xs = minPosition + (maxPosition - minPosition) * x / (width - 1);
      const y = Math.trunc(height(xs) * scale);
      d.rect(x, Math.max(y - 1, 0), 1, y + 1 - Math.max(y - 1, 0), [0, 0, 0]);
    }
    const carwidth = 40.0, carheight = 20.0, clearance = 10.0;
    const angle = Math.cos(3 * position), c = Math.cos(angle), n = Math.sin(angle);
    const ox = (position - minPosition) * scale, oy = clearance + height(position) * scale;
    const rot = ([u, v]) => [u * c - v * n + ox, u * n + v * c + oy];
    const l = -carwidth / 2, r = carwidth / 2, t = carheight, b = 0.0;
    d.polygon([[l, b], [l, t], [r, t], [r, b]].map(rot), [0, 0, 0]);
    for (const wheelX of [carwidth / 4, -carwidth / 4]) {
      const [cx, cy] = rot([wheelX, 0.0]);
      d.circle(cx, cy, carheight / 2.5, [128, 128, 128]);
    }
    const flagx = (goal - minPosition) * scale, flagy1 = height(goal) * scale;
    const flagy2 = flagy1 + 50;
    d.polygon([[flagx - 1, flagy1], [flagx - 1, flagy2], [flagx + 1, flagy2], [flagx + 1, flagy1]],
      [0, 0, 0]);
    d.polygon([[flagx, flagy2], [flagx, flagy2 - 10], [flagx + 25, flagy2 - 5]], [204, 204, 0]);
  };
})(globalThis.Thrust = globalThis.Thrust || {});
