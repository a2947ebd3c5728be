// Episodes of one env row under a policy: seeding, reset, step, time limit and autoreset, as
// Thrust's vector env with num_envs=1 runs them (each reset draws from the row's SplitMix64
// stream, seeded once). Shared by the page's animation and its self-test; no DOM here.
(function (T) {
  "use strict";

  class Episodes {
    // config: the page's config (env_name, params, max_episode_steps); policy: a Thrust.Policy.
    constructor(config, policy) {
      this.config = config;
      this.env = T.envs[config.env_name];
      this.params = config.params;
      this.policy = policy;
      this.players = this.env.players || 1;
      this.state = new Float64Array(this.env.stateSize);
      this.obs = [new Float32Array(this.env.obsDim), new Float32Array(this.env.obsDim)];
      this.rewards = new Float64Array(2);
      this.deterministic = true;
      this.opponent = "tracker"; // Pong: "tracker" or "keyboard"
      this.keyAction = 0;
      this.lastValue = null;
      this.seed(0);
    }

    // Seed the row's stream (as reset(seed=S)) and start the first episode.
    seed(seed) {
      this.rng = new T.Stream(seed);
      this.policy.rng = new T.Stream(BigInt(seed) ^ 0x5eedn);
      this.returns = [];
      this.lengths = [];
      this.startEpisode();
    }

    startEpisode() {
      this.env.reset(this.state, this.rng, this.params);
      this.episodeReturn = 0;
      this.episodeLength = 0;
      this.observe();
    }

    observe() {
      if (this.players === 1) this.env.observe(this.state, this.obs[0], this.params);
      else for (let a = 0; a < 2; a++) this.env.observe(this.state, a, this.obs[a], this.params);
    }

    // One step; returns true when the episode ended (it is then recorded and a new one begun).
    step() {
      const decision = this.policy.act(this.obs[0], this.deterministic);
      this.lastValue = decision.value;
      let reward, terminated, truncated;
      if (this.players === 1) {
        [reward, terminated] = this.env.step(this.state, decision.action, this.params);
        this.episodeLength += 1;
        truncated = this.config.max_episode_steps > 0 &&
          this.episodeLength >= this.config.max_episode_steps;
      } else {
        const other = this.opponent === "keyboard" ? this.keyAction : this.env.tracker(this.obs[1]);
        this.rewards.fill(0);
        terminated = this.env.step(this.state, this.rng, [decision.action, other], this.rewards,
          this.params);
        reward = this.rewards[0];
        this.episodeLength += 1;
        truncated = !terminated && this.episodeLength >= this.params.max_steps;
      }
      // The vector env pays float32 rewards; its episode returns sum them.
      this.episodeReturn += Math.fround(reward);
      this.observe();
      if (terminated || truncated) {
        this.returns.push(this.episodeReturn);
        this.lengths.push(this.episodeLength);
        this.startEpisode();
        return true;
      }
      return false;
    }

    // Play until `count` episodes have finished (the self-test); returns {returns, lengths}.
    run(count) {
      while (this.returns.length < count) this.step();
      return { returns: this.returns.slice(0, count), lengths: this.lengths.slice(0, count) };
    }
  }

  T.Episodes = Episodes;
})(globalThis.Thrust = globalThis.Thrust || {});
