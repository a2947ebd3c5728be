// node --test: the web page's JavaScript against golden data Python wrote into
// $THRUST_GOLDEN (tests/test_export_web.py runs this).
//
// Env physics: every step is replayed from the Python state before it, and every reset
// draws from a JS SplitMix64 stream seeded as the vector env's. Resets are exact (the
// streams and the uniform draws are bit-identical). Steps are exact except where V8's
// Math.sin/Math.cos/Math.pow differ from glibc's in the last bit (about 1 argument in 40 for
// sin/cos, measured), so states and rewards are compared to within RELATIVE_TOLERANCE; this
// applies to every env, since each calls sin or cos (Pong only at serves and bounces).
// Rewards are compared after rounding to float32, as the vector env pays them. Termination flags and float32 observations must agree exactly, except an observation may
// differ by one float32 step where the float64 state it rounds differs. Snake and Bucket
// Brigade have no trigonometry: their golden files are marked exact, and every state, stream
// word, alive mask, reward, observation and bot action must equal Python's. (Bucket
// Brigade's one power, (1 - p) ** k with an integer k, is exponentiation by squaring in the
// numba kernel, which bucket_brigade.js repeats multiplication for multiplication, so no
// Math.pow last-bit difference arises and no tolerance is needed.)
"use strict";
const test = require("node:test");
const assert = require("node:assert");
const fs = require("node:fs");
const path = require("node:path");

const WEB = path.join(__dirname, "..", "..", "thrust_export", "web");
for (const name of ["rng.js", "policy.js", "envs/mountain_car_picture.js", "envs/cartpole.js",
  "envs/pendulum.js", "envs/mountain_car.js", "envs/mountain_car_continuous.js",
  "envs/acrobot.js", "envs/pong.js", "envs/snake.js", "envs/bucket_brigade.js", "episodes.js"]) {
  require(path.join(WEB, name));
}
const T = globalThis.Thrust;
const GOLDEN = process.env.THRUST_GOLDEN;
const RELATIVE_TOLERANCE = 1e-12;

const load = (name) => JSON.parse(fs.readFileSync(path.join(GOLDEN, name), "utf8"));
const files = (prefix) => fs.readdirSync(GOLDEN).filter((f) => f.startsWith(prefix)).sort();

function close(actual, expected, tolerance, what) {
  const scale = Math.max(1, Math.abs(expected));
  assert.ok(Math.abs(actual - expected) <= tolerance * scale,
    `${what}: ${actual} != ${expected} (beyond ${tolerance} relative)`);
}

function closeArray(actual, expected, tolerance, what) {
  assert.strictEqual(actual.length, expected.length, `${what}: length`);
  for (let k = 0; k < expected.length; k++) close(actual[k], expected[k], tolerance, `${what}[${k}]`);
}

function obsMatch(actual, expected, what) {
  for (let k = 0; k < expected.length; k++) {
    if (actual[k] === expected[k]) continue;
    const ulp = Math.abs(Math.fround(expected[k] * (1 + 2 ** -23)) - expected[k]) || 2 ** -149;
    assert.ok(Math.abs(actual[k] - expected[k]) <= ulp * 1.5, `${what}[${k}]: ${actual[k]} != ${expected[k]}`);
  }
}

for (const file of files("env-")) {
  test(`env physics equals the Python kernel: ${file}`, () => {
    const golden = load(file);
    const config = golden.config;
    const env = T.envs[config.env_name];
    const p = config.params;
    const rng = new T.Stream(golden.seed);
    const obs = new Float32Array(T.ofParams(env.obsDim, p));
    const game = env.players !== undefined;
    const players = game ? T.ofParams(env.players, p) : 1;
    const stateSize = T.ofParams(env.stateSize, p);
    // The bot seats' bot, its generator seeded as the Python bot (seed=golden.seed).
    const bot = golden.bot_seats && golden.bot_seats.length ? env.bots[golden.bot] : null;
    const botGenerator = new T.NumpyGenerator(golden.seed);
    let exact = 0, steps = 0, resets = 0, deaths = 0;
    for (const [t, record] of golden.records.entries()) {
      if (record.reset !== undefined) {
        // The row's next episode, drawn from the JS stream alone: bit-identical.
        const s = new Float64Array(stateSize);
        env.reset(s, rng, p);
        assert.deepStrictEqual(Array.from(s), record.reset, `reset at record ${t}`);
        resets++;
        continue;
      }
      const s = Float64Array.from(record.before);
      let reward, terminated;
      if (game) {
        const stream = new T.Stream(0);
        stream.state = BigInt(record.rng);
        const rewards = new Float64Array(players);
        const alive = Uint8Array.from(record.alive.map(Number));
        for (const seat of golden.bot_seats) {
          const agentObs = Float32Array.from(golden.records[t - 1].obs[seat]);
          assert.deepStrictEqual(bot(agentObs, botGenerator, p), record.action[seat],
            `${golden.bot} bot's action for seat ${seat} at step ${t}`);
        }
        terminated = env.step(s, stream, record.action, alive, rewards, p);
        deaths += record.alive.filter((a, k) => a && !alive[k]).length;
        // The game's time limit resets it too (Episodes counts it for the page).
        if (terminated || record.truncated) {
          env.reset(s, stream, p);
          alive.fill(1);
          resets++;
        }
        assert.deepStrictEqual(Array.from(alive, Boolean), record.alive_after, `alive at step ${t}`);
        assert.strictEqual(String(stream.state), record.rng_after, `stream at step ${t}`);
        reward = Array.from(rewards);
        assert.deepStrictEqual(reward, record.reward, `rewards at step ${t}`);
        for (let a = 0; a < players; a++) {
          if (!record.observed[a]) continue;
          const agentObs = new Float32Array(obs.length);
          env.observe(s, a, agentObs, p);
          if (golden.exact) assert.deepStrictEqual(Array.from(agentObs), record.obs[a], `obs of agent ${a} at step ${t}`);
          else obsMatch(agentObs, record.obs[a], `obs of agent ${a} at step ${t}`);
        }
      } else {
        [reward, terminated] = env.step(s, record.action, p);
        // The vector env pays float32 rewards.
        close(Math.fround(reward), record.reward, 1e-7, `reward at step ${t}`);
        env.observe(s, obs, p);
        obsMatch(obs, record.obs, `obs at step ${t}`);
      }
      assert.strictEqual(terminated, record.terminated, `terminated at step ${t}`);
      if (golden.exact) assert.deepStrictEqual(Array.from(s), record.after, `state at step ${t}`);
      else closeArray(Array.from(s), record.after, RELATIVE_TOLERANCE, `state at step ${t}`);
      if (Array.from(s).every((v, k) => v === record.after[k])) exact++;
      steps++;
    }
    assert.ok(resets >= 2, "the trajectory must include resets after the first episode");
    console.log(`${file}: ${steps} steps (${exact} bit-identical), ${resets} resets, ${deaths} deaths`);
  });
}

test("NumpyGenerator.integers draws as numpy's Generator.integers", () => {
  const golden = load("numpy-integers.json");
  const generator = new T.NumpyGenerator(golden.seed);
  golden.draws.forEach((draw, i) => {
    assert.deepStrictEqual(golden.highs.map((high) => generator.integers(high)), draw.integers,
      `integers of round ${i}`);
    assert.strictEqual(generator.random(), draw.random, `random() of round ${i}`);
  });
});

test("Bucket Brigade's (1 - p) ** k equals the numba kernel's, bit for bit", () => {
  const golden = load("power-BucketBrigade.json");
  const intPower = T.envs.BucketBrigade.intPower;
  let powDiffers = 0;
  golden.bases.forEach((base, i) => {
    const k = golden.exponents[i];
    assert.strictEqual(intPower(base, k), golden.powers[i], `${base} ** ${k}`);
    if (Math.pow(base, k) !== golden.powers[i]) powDiffers++;
  });
  console.log(`power-BucketBrigade: Math.pow differs in ${powDiffers} of ${golden.bases.length}`);
});

for (const file of files("policy-")) {
  test(`JS forward equals NumpyPolicy: ${file}`, () => {
    const golden = load(file);
    const policy = new T.Policy(golden.plan, new T.Stream(0));
    golden.observations.forEach((obs, i) => {
      const { action, value, main } = policy.act(obs, true);
      if (golden.discrete) {
        assert.deepStrictEqual(action, golden.action[i], `action of observation ${i}`);
      } else {
        closeArray(Array.from(action), golden.action[i], 1e-5, `action of observation ${i}`);
      }
      if (golden.main !== null) {
        closeArray(Array.from(main), golden.main[i], 1e-5, `network output of observation ${i}`);
      }
      if (golden.value !== null) close(value, golden.value[i], 1e-5, `value of observation ${i}`);
    });
  });
}

for (const file of files("episodes-")) {
  test(`the page's episodes equal the Python env's from the same seed: ${file}`, () => {
    const golden = load(file);
    const policy = new T.Policy(golden.config.plan, new T.Stream(0));
    const episodes = new T.Episodes(golden.config, policy);
    episodes.seed(BigInt(golden.seed));
    const result = episodes.run(golden.returns.length);
    assert.deepStrictEqual(result.lengths, golden.lengths);
    // Sums of float32 rewards; a step's reward may round to the neighbouring float32 where
    // V8's pow differs from glibc's in the last bit (Pendulum's cost), hence 1e-6 relative.
    closeArray(result.returns, golden.returns, 1e-6, "returns");
  });
}
