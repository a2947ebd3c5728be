// The page: canvas drawing, animation loop, controls, return plot, keyboard and the self-test
// (?selftest=N&seed=S). Reads the config inlined by thrust_export.web.
(function (T) {
  "use strict";
  const $ = (id) => document.getElementById(id);
  // A page that cannot start says why, where the controls are (not a blank page whose
  // buttons do nothing); so does a seed the page refuses.
  const showError = (message) => {
    $("thrust-error").textContent = message;
    $("thrust-error").hidden = false;
  };
  try {
    start();
  } catch (error) {
    showError(`This page could not start: ${error && error.message ? error.message : error}`);
    throw error;
  }

  function start() {
    const config = JSON.parse(document.getElementById("thrust-config").textContent);
    const css = ([r, g, b]) => `rgb(${r},${g},${b})`;

    // Drawing in the env's coordinates: x right, y up from the bottom, as the Python render.
    class Drawing {
      constructor(canvas, width, height) {
        canvas.width = width;
        canvas.height = height;
        this.ctx = canvas.getContext("2d");
        this.width = width;
        this.height = height;
      }
      begin(background) {
        const ctx = this.ctx;
        ctx.setTransform(1, 0, 0, -1, 0, this.height);
        this.clear(background);
      }
      clear(colour) {
        this.ctx.fillStyle = css(colour);
        this.ctx.fillRect(0, 0, this.width, this.height);
      }
      polygon(points, colour) {
        const ctx = this.ctx;
        ctx.beginPath();
        points.forEach(([x, y], k) => (k === 0 ? ctx.moveTo(x, y) : ctx.lineTo(x, y)));
        ctx.closePath();
        ctx.fillStyle = css(colour);
        ctx.fill();
      }
      circle(x, y, radius, colour) {
        const ctx = this.ctx;
        ctx.beginPath();
        ctx.arc(x, y, Math.max(radius, 0), 0, 2 * Math.PI);
        ctx.fillStyle = css(colour);
        ctx.fill();
      }
      rect(x, y, w, h, colour) {
        this.ctx.fillStyle = css(colour);
        this.ctx.fillRect(x, y, w, h);
      }
      hline(y, colour) {
        this.rect(0, Math.trunc(y), this.width, 1, colour);
      }
    }

    function plotReturns(canvas, returns) {
      const ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
      ctx.fillStyle = "#fafafa";
      ctx.fillRect(0, 0, w, h);
      if (returns.length === 0) return;
      const shown = returns.slice(-100);
      let lo = Math.min(...shown), hi = Math.max(...shown);
      if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
      ctx.strokeStyle = "#3060c0";
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      shown.forEach((r, k) => {
        const x = shown.length === 1 ? w / 2 : 4 + (w - 8) * k / (shown.length - 1);
        const y = h - 4 - (h - 8) * (r - lo) / (hi - lo);
        if (k === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      });
      ctx.stroke();
      ctx.fillStyle = "#444";
      ctx.font = "11px sans-serif";
      ctx.fillText(`max ${hi.toFixed(1)}`, 4, 12);
      ctx.fillText(`min ${lo.toFixed(1)}`, 4, h - 4);
    }

    // Seeds as Python's reset takes them: integers in [0, 2**64) (a longer one would wrap in
    // the 64-bit streams and play another seed's episodes).
    const parseSeed = (text) => {
      const seed = /^\d+$/.test(text) ? BigInt(text) : -1n;
      if (seed >= 0n && seed < (1n << 64n)) return seed;
      showError(`seed must be an integer in [0, 2**64), got ${JSON.stringify(text)}: seed 0 plays`);
      return 0n;
    };
    const query = new URLSearchParams(window.location.search);
    const seedParam = query.get("seed");
    const initialSeed = seedParam !== null ? String(parseSeed(seedParam)) : "0";
    const policy = new T.Policy(config.plan, new T.Stream(0));
    const episodes = new T.Episodes(config, policy);
    const env = episodes.env;
    const drawing = new Drawing($("thrust-canvas"), T.ofParams(env.width, episodes.params),
      T.ofParams(env.height, episodes.params));
    const background = [255, 255, 255];

    function render() {
      drawing.begin(background);
      env.draw(drawing, episodes.state, episodes.params);
      $("thrust-return").textContent = episodes.episodeReturn.toFixed(2);
      $("thrust-length").textContent = String(episodes.episodeLength);
      $("thrust-episodes").textContent = String(episodes.returns.length);
      const value = episodes.lastValue;
      $("thrust-value").textContent = value === null ? "-" : value.toFixed(3);
    }

    function resetTo(seedText) {
      $("thrust-error").hidden = true;
      const seed = parseSeed(seedText);
      $("thrust-seed").value = String(seed);
      episodes.seed(seed);
      plotReturns($("thrust-plot"), episodes.returns);
      render();
    }

    $("thrust-seed").value = initialSeed;
    const selftest = query.get("selftest");
    if (selftest !== null) {
      // Headless self-test: N deterministic episodes as fast as possible, then the result.
      const count = Math.max(1, parseInt(selftest, 10) || 1);
      episodes.seed(BigInt(initialSeed));
      const result = episodes.run(count);
      $("thrust-result").textContent = JSON.stringify({
        env_id: config.env_id, seed: initialSeed, returns: result.returns,  // exact, as text
        lengths: result.lengths,
      });
      plotReturns($("thrust-plot"), result.returns);
      render();
      return;
    }

    let playing = true, speed = 1, carry = 0, last = null;
    const stepsPerSecond = () => env.fps * speed;

    function advance() {
      if (episodes.step()) plotReturns($("thrust-plot"), episodes.returns);
    }

    const FRAME_BUDGET_MS = 30;  // of stepping per frame: a slow env slows down, not freezes

    function frame(now) {
      if (last !== null && playing) {
        carry += Math.min(now - last, 250) / 1000 * stepsPerSecond();
        const stop = performance.now() + FRAME_BUDGET_MS;
        while (carry >= 1) {
          advance();
          carry -= 1;
          if (performance.now() > stop) { carry = 0; break; }  // the rest of this frame's steps
        }
      }
      last = now;
      render();
      window.requestAnimationFrame(frame);
    }

    $("thrust-play").addEventListener("click", () => {
      playing = !playing;
      $("thrust-play").textContent = playing ? "Pause" : "Play";
    });
    $("thrust-step").addEventListener("click", () => {
      playing = false;
      $("thrust-play").textContent = "Play";
      advance();
      render();
    });
    $("thrust-speed").addEventListener("change", (e) => { speed = parseFloat(e.target.value); });
    $("thrust-reset").addEventListener("click", () => resetTo($("thrust-seed").value));
    const stochastic = $("thrust-stochastic");
    stochastic.disabled = !policy.canSample;
    stochastic.addEventListener("change", (e) => { episodes.deterministic = !e.target.checked; });
    if (episodes.players > 1) {
      // The other seats' players: the env's bots, the policy itself, and a person if the env
      // has keys (see Episodes.opponent).
      const choices = Object.keys(episodes.bots).map((name) => [name, `${name} bot`]);
      choices.push(["policy", "the policy itself"]);
      if (env.keys) choices.push(["keyboard", `you in seat 1 (${env.keys.help})`]);
      const select = $("thrust-opponent");
      for (const [value, label] of choices) select.add(new Option(label, value));
      select.value = episodes.opponent;
      $("thrust-opponent-row").hidden = false;
      select.addEventListener("change", (e) => { episodes.opponent = e.target.value; });
    }
    if (env.keys) {
      const held = new Set();
      const update = () => {
        const up = held.has("ArrowUp") || held.has("w");
        const down = held.has("ArrowDown") || held.has("s");
        const keys = env.keys;
        episodes.keyAction = up && !down ? keys.up : down && !up ? keys.down : keys.none;
      };
      window.addEventListener("keydown", (e) => {
        if (["ArrowUp", "ArrowDown"].includes(e.key)) e.preventDefault();
        held.add(e.key); update();
      });
      window.addEventListener("keyup", (e) => { held.delete(e.key); update(); });
    }
    resetTo(seedParam !== null ? seedParam : initialSeed);
    window.requestAnimationFrame(frame);
  }
})(globalThis.Thrust = globalThis.Thrust || {});
