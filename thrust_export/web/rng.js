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

  // numpy's np.random.default_rng(seed) for a non-negative integer seed: PCG64 (XSL-RR, a
  // 128-bit LCG) seeded through SeedSequence, as numpy 1.17+ does it. The scripted bots of
  // the games draw from it (e.g. snake.py's greedy_bot(seed), bucket_brigade.py's
  // random_bot), so the page's bots make the same random choices as the Python bots seeded
  // alike.
  const MASK_32 = (1n << 32n) - 1n;
  const MASK_128 = (1n << 128n) - 1n;
  const PCG_MULTIPLIER = 0x2360ed051fc65da44385df649fccf645n;

  // SeedSequence(seed).generate_state(words) as uint32 words (numpy's bit_generator.pyx):
  // the seed's 32-bit words hashed into a pool of 4, then the pool hashed out.
  function seedSequenceWords(seed, words) {
    const INIT_A = 0x43b0d7e5, MULT_A = 0x931e8875, INIT_B = 0x8b51f9dd, MULT_B = 0x58f38ded;
    const MIX_MULT_L = 0xca01f9dd, MIX_MULT_R = 0x4973f715;
    const mul = Math.imul;
    let entropy = [];
    for (let rest = BigInt(seed); entropy.length === 0 || rest > 0n; rest >>= 32n) {
      entropy.push(Number(rest & MASK_32));
    }
    let hashConst = INIT_A;
    const hashmix = (value) => {
      value = (value ^ hashConst) >>> 0;
      hashConst = mul(hashConst, MULT_A) >>> 0;
      value = mul(value, hashConst) >>> 0;
      return (value ^ (value >>> 16)) >>> 0;
    };
    const mix = (x, y) => {
      const result = (mul(MIX_MULT_L, x) - mul(MIX_MULT_R, y)) >>> 0;
      return (result ^ (result >>> 16)) >>> 0;
    };
    const pool = [0, 1, 2, 3].map((i) => hashmix(i < entropy.length ? entropy[i] : 0));
    for (let src = 0; src < 4; src++) {
      for (let dst = 0; dst < 4; dst++) if (src !== dst) pool[dst] = mix(pool[dst], hashmix(pool[src]));
    }
    for (let src = 4; src < entropy.length; src++) {
      for (let dst = 0; dst < 4; dst++) pool[dst] = mix(pool[dst], hashmix(entropy[src]));
    }
    const out = [];
    hashConst = INIT_B;
    for (let i = 0; i < words; i++) {
      let value = (pool[i % 4] ^ hashConst) >>> 0;
      hashConst = mul(hashConst, MULT_B) >>> 0;
      value = mul(value, hashConst) >>> 0;
      out.push(BigInt((value ^ (value >>> 16)) >>> 0));
    }
    return out;
  }

  class NumpyGenerator {
    constructor(seed) {
      // generate_state(4, uint64): little-endian pairs of uint32 words; PCG64 takes the first
      // two as the state's (high, low) words and the last two as the increment's.
      const w = seedSequenceWords(seed, 8);
      const u64 = (k) => w[2 * k] | (w[2 * k + 1] << 32n);
      const initState = (u64(0) << 64n) | u64(1);
      const initSeq = (u64(2) << 64n) | u64(3);
      this.inc = ((initSeq << 1n) | 1n) & MASK_128;
      this.state = 0n;
      // PCG64 hands out 32-bit words from one 64-bit draw, low half first (next_uint32).
      this.spareWord = null;
      this.advance();
      this.state = (this.state + initState) & MASK_128;
      this.advance();
    }
    advance() {
      this.state = (this.state * PCG_MULTIPLIER + this.inc) & MASK_128;
    }
    nextU64() {
      this.advance();
      const s = this.state;
      const xored = ((s >> 64n) ^ s) & MASK;
      const rot = s >> 122n;
      return ((xored >> rot) | (xored << ((64n - rot) & 63n))) & MASK;
    }
    // Generator.random(): a uniform double in [0, 1) with 53 random bits.
    random() {
      return Number(this.nextU64() >> 11n) * TWO_POW_M53;
    }
    nextU32() {
      if (this.spareWord !== null) {
        const word = this.spareWord;
        this.spareWord = null;
        return word;
      }
      const next = this.nextU64();
      this.spareWord = Number(next >> 32n);
      return Number(next & MASK_32);
    }
    // One draw of Generator.integers(0, high) for 2 <= high <= 2 ** 32 (elementwise, as it
    // draws an array of bounds): Lemire's multiply-and-reject on 32-bit words, as numpy's
    // buffered_bounded_lemire_uint32.
    integers(high) {
      const product = () => BigInt(this.nextU32()) * BigInt(high);
      let m = product();
      if (Number(m & MASK_32) < high) {
        const threshold = (2 ** 32 - high) % high;
        while (Number(m & MASK_32) < threshold) m = product();
      }
      return Number(m >> 32n);
    }
  }

  T.Stream = Stream;
  T.NumpyGenerator = NumpyGenerator;
})(globalThis.Thrust = globalThis.Thrust || {});
