// The forward pass of an exported policy, reading the plan thrust_export.policy_plan writes
// (plan_to_json): the same layers, activations and head as NumpyPolicy, in float32 (each
// layer's sums in float64, rounded to float32 with Math.fround).
(function (T) {
  "use strict";
  const f32 = Math.fround;
  const SELU_ALPHA = 1.6732632423543772848170429916717;
  const SELU_SCALE = 1.0507009873554804934193349852946;
  const ARGMAX_MARGIN = 1e-4;

  function decode(entry) {
    if (entry === null || entry === undefined) return null;
    const bytes = Uint8Array.from(atob(entry.b64), (c) => c.charCodeAt(0));
    return entry.dtype === "float32" ? new Float32Array(bytes.buffer) : new Float64Array(bytes.buffer);
  }

  // erf to about 1e-15 relative error (W. J. Cody's rational approximations), for exact GELU.
  function erf(x) {
    const ax = Math.abs(x);
    if (ax < 0.46875) {
      const t = x * x;
      const num = ((((0.185777706184603153 * t + 3.16112374387056560) * t + 113.864154151050156) * t +
        377.485237685302021) * t + 3209.37758913846947);
      const den = ((((t + 23.6012909523441209) * t + 244.024637934444173) * t + 1282.61652607737228) * t +
        2844.23683343917062);
      return x * num / den;
    }
    return Math.sign(x) * (1 - erfcLarge(ax));
  }

  function erfcLarge(ax) {
    let r;
    if (ax < 4) {
      const n = [2.15311535474403846e-8, 0.564188496988670089, 8.88314979438837594,
        66.1191906371416295, 298.635138197400131, 881.952221241769090, 1712.04761263407058,
        2051.07837782607147, 1230.33935479799725];
      const d = [1, 15.7449261107098347, 117.693950891312499, 537.181101862009858,
        1621.38957456669019, 3290.79923573345963, 4362.61909014324716, 3439.36767414372164,
        1230.33935480374942];
      let num = n[0], den = d[0];
      for (let k = 1; k < 9; k++) { num = num * ax + n[k]; den = den * ax + d[k]; }
      r = num / den;
    } else {
      const z = 1 / (ax * ax);
      const n = [0.0163153871373020978, 0.305326634961232344, 0.360344899949804439,
        0.125781726111229246, 0.0160837851487422766, 6.58749161529837803e-4];
      const d = [1, 2.56852019228982242, 1.87295284992346725, 0.527905102951428412,
        0.0605183413124413191, 0.00233520497626869185];
      let num = n[0], den = d[0];
      for (let k = 1; k < 6; k++) { num = num * z + n[k]; den = den * z + d[k]; }
      r = (0.564189583547756287 - z * num / den) / ax;
    }
    const xsq = Math.trunc(ax * 16) / 16;
    return Math.exp(-xsq * xsq) * Math.exp(-(ax - xsq) * (ax + xsq)) * r;
  }

  const sigmoid = (x) => f32(1 / (1 + Math.exp(-x)));
  const softplusRaw = (x) => Math.log1p(Math.exp(x));

  // One activation layer entry of the plan -> a function on a float32 value.
  function activation(spec) {
    switch (spec.op) {
      case "tanh": return (x) => f32(Math.tanh(x));
      case "relu": return (x) => (x > 0 ? x : 0);
      case "sigmoid": return sigmoid;
      case "silu": return (x) => f32(x / (1 + Math.exp(-x)));
      case "softsign": return (x) => f32(x / (1 + Math.abs(x)));
      case "hardswish": return (x) => f32(x * Math.min(Math.max(x + 3, 0), 6) / 6);
      case "hardsigmoid": return (x) => f32(Math.min(Math.max(x + 3, 0), 6) / 6);
      case "mish": return (x) => f32(x * Math.tanh(x > 20 ? x : softplusRaw(x)));
      case "leaky_relu": {
        const slope = f32(spec.negative_slope);
        return (x) => (x > 0 ? x : f32(x * slope));
      }
      case "elu": case "selu": case "celu": {
        const alpha = spec.op === "selu" ? SELU_ALPHA : spec.alpha;
        const scale = spec.op === "selu" ? SELU_SCALE : 1.0;
        const ins = spec.op === "celu" ? f32(1.0 / alpha) : 1.0;
        const neg = f32(alpha * scale), pos = f32(scale);
        return (x) => (x <= 0 ? f32(Math.expm1(x * ins) * neg) : f32(x * pos));
      }
      case "softplus": {
        const b = f32(spec.beta), t = f32(spec.threshold);
        return (x) => (f32(x * b) > t ? x : f32(Math.log1p(Math.exp(x * b)) / b));
      }
      case "gelu":
        if (spec.approximate === "tanh") {
          const k = Math.sqrt(2.0 / Math.PI), c = 0.044715;
          return (x) => f32(0.5 * x * (1 + Math.tanh(k * (x + c * x * x * x))));
        }
        return (x) => f32(0.5 * x * (1 + erf(x / Math.SQRT2)));
      case "hardtanh": case "clip": {
        const lo = f32(spec.min), hi = f32(spec.max);
        return (x) => Math.min(Math.max(x, lo), hi);
      }
      default:
        throw new Error(`unsupported activation op ${JSON.stringify(spec.op)}`);
    }
  }

  // torch's float32 Categorical(logits).probs, for argmax ties within float32 rounding.
  function softmaxLikeTorch(logits) {
    const m = Math.max(...logits);
    let sum = 0;
    for (const v of logits) sum = f32(sum + f32(Math.exp(f32(v - m))));
    const lse = f32(m + f32(Math.log(sum)));
    const normalized = logits.map((v) => f32(v - lse));
    const m2 = Math.max(...normalized);
    const e = normalized.map((v) => f32(Math.exp(f32(v - m2))));
    let s2 = 0;
    for (const v of e) s2 = f32(s2 + v);
    const inv = f32(1 / s2);
    return e.map((v) => f32(v * inv));
  }

  function argmax(values) {
    let best = 0;
    for (let k = 1; k < values.length; k++) if (values[k] > values[best]) best = k;
    return best;
  }

  function categoricalMode(logits) {
    const best = argmax(logits);
    let second = -Infinity;
    for (let k = 0; k < logits.length; k++) if (k !== best) second = Math.max(second, logits[k]);
    const top = logits[best];
    if (logits.length < 2 || top - second > ARGMAX_MARGIN * (1 + Math.abs(top))) return best;
    return argmax(softmaxLikeTorch(logits));
  }

  class Policy {
    // plan: the JSON of thrust_export.policy_plan.plan_to_json; rng: a Thrust.Stream for
    // stochastic actions.
    constructor(plan, rng) {
      this.plan = plan;
      this.rng = rng;
      this.action = plan.action;
      this.head = plan.head;
      this.low = decode(plan.action.low);
      this.high = decode(plan.action.high);
      this.std = decode(plan.head.std);
      const norm = plan.normalization;
      this.norm = norm === null ? null
        : { mean: decode(norm.mean), scale: decode(norm.scale), clip: norm.clip };
      this.networks = plan.networks.map((net) => ({
        name: net.name,
        source: net.source,
        layers: net.layers.map((layer) => (layer.op === "linear"
          ? { weight: decode(layer.weight), bias: decode(layer.bias), nIn: layer.weight.shape[1],
            nOut: layer.weight.shape[0] }
          : { fn: activation(layer) })),
      }));
      // Each layer writes into its own buffer, allocated once (the outputs of run() are
      // overwritten by the next call).
      for (const net of this.networks) {
        let width = net.source === "features" ? plan.flat_dim
          : this.networks.find((n) => n.name === net.source).outDim;
        for (const layer of net.layers) {
          if (!layer.fn) width = layer.nOut;
          layer.out = new Float32Array(width);
        }
        net.outDim = width;
      }
      this.input = new Float32Array(plan.flat_dim);
      // Stochastic actions need a distribution the page can sample; gSDE's noise matrix is not
      // part of the export (as in NumpyPolicy).
      this.canSample = !["gsde", "squashed_gsde"].includes(plan.head.kind);
    }

    features(obs) {
      const n = this.plan.flat_dim, x = this.input;
      if (this.norm === null) {
        for (let i = 0; i < n; i++) x[i] = obs[i];
      } else {
        const { mean, scale, clip } = this.norm;
        for (let i = 0; i < n; i++) {
          x[i] = Math.min(Math.max((obs[i] - mean[i]) / scale[i], -clip), clip);
        }
      }
      return x;
    }

    // Every network's output on one observation: name -> Float32Array.
    run(obs) {
      const out = { features: this.features(obs) };
      for (const net of this.networks) {
        let x = out[net.source];
        for (const layer of net.layers) {
          const y = layer.out;
          if (layer.fn) {
            for (let i = 0; i < x.length; i++) y[i] = layer.fn(x[i]);
            x = y;
            continue;
          }
          const { weight, bias, nIn, nOut } = layer;
          for (let j = 0; j < nOut; j++) {
            let sum = 0;
            const row = j * nIn;
            for (let i = 0; i < nIn; i++) sum += weight[row + i] * x[i];
            y[j] = bias === null ? sum : f32(f32(sum) + bias[j]);
          }
          x = y;
        }
        out[net.name] = x;
      }
      return out;
    }

    boxAction(scaled) {
      const a = new Float64Array(scaled.length);
      const round = this.action.float32 ? f32 : (v) => v;
      for (let k = 0; k < scaled.length; k++) {
        a[k] = this.head.postprocess === "unscale"
          ? round(this.low[k] + round(0.5 * (scaled[k] + 1.0) * round(this.high[k] - this.low[k])))
          : Math.min(Math.max(scaled[k], this.low[k]), this.high[k]);
      }
      return a;
    }

    deterministic(out) {
      const kind = this.head.kind, main = out[this.head.network];
      if (kind === "categorical") return categoricalMode(Array.from(main));
      if (kind === "q_argmax") return argmax(main);
      if (kind === "multi_categorical") {
        let k = 0;
        return this.action.nvec.map((n) => {
          const group = Array.from(main.slice(k, k + n));
          k += n;
          return categoricalMode(group);
        });
      }
      if (kind === "bernoulli") return Array.from(main, (v) => (sigmoid(v) > 0.5 ? 1 : 0));
      const mean = this.head.squash ? main.map((v) => f32(Math.tanh(v))) : main;
      return this.boxAction(mean);
    }

    sampleCategorical(logits) {
      const m = Math.max(...logits);
      const cdf = [];
      let total = 0;
      for (const v of logits) { total += Math.exp(v - m); cdf.push(total); }
      const u = this.rng.nextDouble() * total;
      let k = 0;
      while (k < cdf.length - 1 && cdf[k] <= u) k++;
      return k;
    }

    normal() {
      const u1 = 1 - this.rng.nextDouble(), u2 = this.rng.nextDouble();
      return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }

    stochastic(out) {
      const kind = this.head.kind, main = out[this.head.network];
      if (kind === "categorical") return this.sampleCategorical(Array.from(main));
      if (kind === "multi_categorical") {
        let k = 0;
        return this.action.nvec.map((n) => {
          const group = Array.from(main.slice(k, k + n));
          k += n;
          return this.sampleCategorical(group);
        });
      }
      if (kind === "bernoulli") return Array.from(main, (v) => (this.rng.nextDouble() < sigmoid(v) ? 1 : 0));
      if (kind === "q_argmax") {
        if (this.rng.nextDouble() < this.head.exploration_rate) {
          return this.action.start + Math.floor(this.rng.nextDouble() * this.action.n);
        }
        return argmax(main);
      }
      if (kind === "deterministic") return this.boxAction(main);
      if (kind === "diag_gaussian") {
        return this.boxAction(main.map((v, k) => f32(v + this.std[k] * this.normal())));
      }
      const logStd = out[this.head.log_std_network];
      return this.boxAction(main.map((v, k) => f32(Math.tanh(v + Math.exp(logStd[k]) * this.normal()))));
    }

    // {action, value (or null), logits/mean/q_values: the main network's output}.
    act(obs, deterministic = true) {
      const out = this.run(obs);
      const action = deterministic || !this.canSample ? this.deterministic(out) : this.stochastic(out);
      const value = this.plan.value_network === null ? null : out[this.plan.value_network][0];
      return { action, value, main: out[this.head.network] };
    }
  }

  T.Policy = Policy;
  T.erf = erf;
})(globalThis.Thrust = globalThis.Thrust || {});
