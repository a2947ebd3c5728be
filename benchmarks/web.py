"""Benchmark: the web export's page (issue 15's targets), in a real browser, beside NumpyPolicy.

One run: a PPO ``MlpPolicy`` (64-64 tanh, SB3's default; untrained weights, timing does not
depend on them) for ``Thrust/CartPole-v1`` is exported with ``thrust_export.export_web``; the
page's size and gzipped size are printed; headless Chromium (Debian's, driven by Playwright)
opens it and times, inside the page, the policy's forward pass (``Thrust.Policy.act`` on the
env's observations, ``performance.now()``) and the animation's frame rate
(``requestAnimationFrame`` callbacks over ``--seconds``, the page playing). The same forward,
``NumpyPolicy.predict`` on one observation, is timed in Python as the anchor.

Targets (issue 15): the page at most 500 KB gzipped for a 64x64 policy, a forward pass under
1 ms, 60 frames per second. Headless Chromium paces ``requestAnimationFrame`` at the display
rate it emulates (60 Hz), so the frame rate says whether the page keeps up with it.

Usage::

    python benchmarks/web.py            # about 15 s
    python benchmarks/web.py --quick    # smoke run, numbers meaningless

Needs chromium at ``/usr/bin/chromium`` (or ``THRUST_CHROMIUM``) and playwright (``dev`` extra).
"""

from __future__ import annotations

import gzip
import os
import sys
import tempfile
import timeit
from pathlib import Path

from common import header, make_parser, markdown_table

CHROMIUM = os.environ.get("THRUST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu"]

#: timed in the page: ``calls`` forwards on observations the env produces, best of ``rounds``
FORWARD_JS = """([calls, rounds]) => {
  const T = window.Thrust;
  const config = JSON.parse(document.getElementById("thrust-config").textContent);
  const episodes = new T.Episodes(config, new T.Policy(config.plan, new T.Stream(0n)));
  const observations = [];
  for (let k = 0; k < 256; k++) { episodes.step(); observations.push(episodes.obs[0].slice()); }
  const policy = new T.Policy(config.plan, new T.Stream(1n));
  let best = Infinity, sink = 0;
  for (let r = 0; r < rounds; r++) {
    const start = performance.now();
    for (let k = 0; k < calls; k++) sink += policy.act(observations[k & 255], true).action;
    best = Math.min(best, (performance.now() - start) / calls);
  }
  return {microseconds: best * 1000, sink: sink};
}"""

#: frames the page draws in ``seconds`` while playing
FRAMES_JS = """(seconds) => new Promise((resolve) => {
  let frames = 0, first = null;
  function count(now) {
    if (first === null) first = now;
    frames += 1;
    if (now - first < seconds * 1000) window.requestAnimationFrame(count);
    else resolve({frames: frames - 1, elapsed: (now - first) / 1000});
  }
  window.requestAnimationFrame(count);
})"""


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="frame-rate window")
    parser.add_argument("--calls", type=int, default=20_000, help="forwards per timing round")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.calls = 0.5, 500
    print(header("The web export's page in a real browser", __file__, argv))
    if not Path(CHROMIUM).exists():
        print(f"\nno chromium at {CHROMIUM}: install it (apt-get install chromium) to run this")
        return 2
    import numpy as np
    import torch as th
    from playwright.sync_api import sync_playwright

    import thrust_export
    from thrust_algos import PPO

    th.set_num_threads(1)
    model = PPO("MlpPolicy", "Thrust/CartPole-v1", seed=0, device="cpu")
    policy = thrust_export.to_numpy_policy(model)
    observation = np.zeros((1, 4), dtype=np.float32)
    numpy_us = min(timeit.repeat(lambda: policy.predict(observation), number=2000, repeat=5))
    numpy_us *= 1e6 / 2000

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cartpole.html"
        page_path = thrust_export.export_web(model, out, "Thrust/CartPole-v1")
        raw = page_path.read_bytes()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.goto(page_path.as_uri())
                page.wait_for_function("window.Thrust && window.Thrust.Policy !== undefined")
                forward = page.evaluate(FORWARD_JS, [args.calls, 5])
                frames = page.evaluate(FRAMES_JS, args.seconds)
            finally:
                browser.close()
    fps = frames["frames"] / frames["elapsed"]
    rows = [
        ["page size", f"{len(raw) / 1024:.1f} KB", "-"],
        ["page size, gzipped", f"{len(gzip.compress(raw, 9)) / 1024:.1f} KB", "<= 500 KB"],
        ["forward in the page (Policy.act, 1 obs)", f"{forward['microseconds']:.2f} µs", "< 1 ms"],
        ["forward pass, NumpyPolicy.predict (Python, 1 obs)", f"{numpy_us:.2f} µs", "-"],
        ["page forward / NumpyPolicy", f"{forward['microseconds'] / numpy_us:.2f}", "-"],
        [
            f"frames drawn in {frames['elapsed']:.1f} s, playing",
            f"{frames['frames']} ({fps:.1f} fps)",
            "60 fps",
        ],
    ]
    print("\n### CartPole-v1, PPO MlpPolicy 64x64 tanh (chromium headless)\n")
    print(markdown_table(["measure", "value", "target"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
