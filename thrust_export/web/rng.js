// SplitMix64 per-row random streams, as thrust_envs/core/rng.py: one 64-bit word of state per
// row, advanced by the golden gamma and mixed. BigInt carries the 64-bit arithmetic exactly.
(function (T) {
  "use strict";
  const MASK = (1n << 64n) - 1n;
  const GOLDEN_GAMMA = 0x9e3779b97f4a7c15n;
  const MIX_1 = 0xbf58476d1ce4e5b9n;
  const MIX_2 = 0x94d049bb133111ebn;
  const TWO_POW_M53 = 1.0 / 9007199254740992.0;

  function mix64(z) {
    z = ((z ^ (z >> 30n)) * MIX_1) & MASK;
    z = ((z ^ (z >> 27n)) * MIX_2) & MASK;
    return z ^ (z >> 31n);
  }

  // One row's stream: `seed` (a non-negative integer, Number or BigInt) hashed as seed_rows does.
  class Stream {
    constructor(seed) {
      this.state = mix64((BigInt(seed) + GOLDEN_GAMMA) & MASK);
    }
    nextU64() {
      this.state = (this.state + GOLDEN_GAMMA) & MASK;
      return mix64(this.state);
    }
    // A uniform double in [0, 1) with 53 random bits.
    nextDouble() {
      return Number(this.nextU64() >> 11n) * TWO_POW_M53;
    }
    uniform(low, high) {
      return low + (high - low) * this.nextDouble();
    }
  }

  T.Stream = Stream;
})(globalThis.Thrust = globalThis.Thrust || {});
