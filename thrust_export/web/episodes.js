// Episodes of one env row under a policy: seeding, reset, step, time limit and autoreset, as
// Thrust's vector env with num_envs=1 runs them (each reset draws from the row's SplitMix64
// stream, seeded once). A game (an env that declares its `players`) is played as
// thrust_envs.vs_opponent(env_id, bot, n_envs=1, seat=0) plays it: the policy in seat 0, the
// other seats asked for their actions each step (dead ones too, as vs_opponent asks), and an
// episode ends when the game does or when seat 0 is out of it; a new game then begins.
// Shared by the page's animation and its self-test; no DOM here.
(function (T) {
  "use strict";

  // An env's size that depends on its parameters (Snake's grid) is a function of them.
  const ofParams = (value, params) => (typeof value === "function" ? value(params) : value);

  class Episodes {
    // config: the page's config (env_name, params, max_episode_steps); policy: a Thrust.Policy.
    constructor(config, policy) {
      this.config = config;
      this.env = T.envs[config.env_name];
      this.params = config.params;
      this.policy = policy;
      this.game = this.env.players !== undefined;
      this.players = this.game ? ofParams(this.env.players, this.params) : 1;
      this.state = new Float64Array(ofParams(this.env.stateSize, this.params));
      const obsDim = ofParams(this.env.obsDim, this.params);
      this.obs = Array.from({ length: this.players }, () => new Float32Array(obsDim));
      this.rewards = new Float64Array(this.players);
      this.alive = new Uint8Array(this.players);
      this.wasAlive = new Uint8Array(this.players);
      this.actions = new Array(this.players).fill(0);
      this.deterministic = true;
      // Who plays seats 1..N-1: one of the env's bots by name (config.opponent, the export's
      // default), "policy" (the policy itself in every seat, as parameter sharing trains it)
      // or "keyboard" (a person in seat 1, the default bot in the others).
      this.bots = this.env.bots || {};
      this.defaultBot = config.opponent;
      this.opponent = config.opponent;
      this.keyAction = 0;
      this.lastValue = null;
      this.seed(0);
    }

    // Seed the row's stream (as reset(seed=S)) and start the first episode. The bots draw
    // from np.random.default_rng(S)'s numbers, as a Python bot built with seed S, and are
    // given the game's parameters, as Bucket Brigade's are built from (num_houses,
    // num_agents): a bot is bot(obs, generator, params) -> action.
    seed(seed) {
      this.rng = new T.Stream(seed);
      this.policy.rng = new T.Stream(BigInt(seed) ^ 0x5eedn);
      this.botGenerator = new T.NumpyGenerator(seed);
      this.returns = [];
      this.lengths = [];
      this.startEpisode();
    }

    startEpisode() {
      this.env.reset(this.state, this.rng, this.params);
      this.alive.fill(1);
      this.episodeReturn = 0;
      this.episodeLength = 0;
      this.observe(this.alive);
    }

    // Observe every seat of `seats` (a game observes the agents that were alive before the
    // step, so the dead keep their last view).
    observe(seats) {
      if (!this.game) {
        this.env.observe(this.state, this.obs[0], this.params);
        return;
      }
      for (let a = 0; a < this.players; a++) {
        if (seats[a]) this.env.observe(this.state, a, this.obs[a], this.params);
      }
    }

    opponentAction(seat) {
      if (this.opponent === "keyboard" && seat === 1) return this.keyAction;
      if (this.opponent === "policy") return this.policy.act(this.obs[seat], this.deterministic).action;
      const bot = this.bots[this.opponent === "keyboard" ? this.defaultBot : this.opponent];
      return bot(this.obs[seat], this.botGenerator, this.params);
    }

    // One step; returns true when the episode ended (it is then recorded and a new one begun).
    step() {
      const decision = this.policy.act(this.obs[0], this.deterministic);
      this.lastValue = decision.value;
      let reward, terminated;
      if (!this.game) {
        [reward, terminated] = this.env.step(this.state, decision.action, this.params);
        // The vector env pays float32 rewards; its episode returns sum them.
        reward = Math.fround(reward);
      } else {
        this.actions[0] = decision.action;
        for (let seat = 1; seat < this.players; seat++) this.actions[seat] = this.opponentAction(seat);
        this.wasAlive.set(this.alive);
        this.rewards.fill(0);
        const over = this.env.step(this.state, this.rng, this.actions, this.alive, this.rewards,
          this.params);
        // BatchGame sums each agent's float64 rewards into its return.
        reward = this.rewards[0];
        terminated = over || !this.alive[0];
      }
      this.episodeLength += 1;
      const limit = this.config.max_episode_steps;
      const truncated = limit > 0 && this.episodeLength >= limit;
      this.episodeReturn += reward;
      this.observe(this.wasAlive);
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
  T.ofParams = ofParams;
})(globalThis.Thrust = globalThis.Thrust || {});
