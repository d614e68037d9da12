"""Recurrent PPO (network="gru" / "lstm"): the cells, the hidden-state timing in
the rollout, sequence minibatches, and the rest of the library with a recurrent agent.

The references are independent of the code under test: flax's own cells for
the GRU and LSTM maths, and each episode unrolled on its own from a fresh
carry (no reset flags at all) for the reset timing.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import jit_fast, tiny_config

import ppo_jax
from ppo_jax.config.hparams import HPARAM_FIELDS
from ppo_jax.core.context import make_context
from ppo_jax.core.iteration import (
    batch_apply_fn,
    init_memory,
    next_state_values,
    to_sequences,
)
from ppo_jax.core.normalize import init_reward_scaler, init_running_stats
from ppo_jax.core.rollout import EpisodeTally, RolloutCarry, collect_rollout
from ppo_jax.core.types import TrainState, Transition
from ppo_jax.envs.probes import CueMemoryEnv
from ppo_jax.networks.init import init_params
from ppo_jax.networks.recurrent import GRU, LSTM, RecurrentActorCritic

F, H, T, B = 5, 7, 6, 3


def _sequence_inputs(seed: int = 0):
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    inputs = jax.random.normal(k1, (T, B, F))
    starts = jax.random.bernoulli(k2, 0.3, (T, B))
    return k3, inputs, starts


def _reference_loop(cell, cell_params, carry, initial, inputs, starts):
    """flax's cell stepped in a Python loop, the carry reset where starts is set."""
    outputs = []
    for t in range(T):
        start = np.asarray(starts[t])[:, None]
        carry = jax.tree.map(lambda c, c0, start=start: np.where(start, c0, c), carry, initial)
        carry, y = cell.apply({"params": cell_params}, carry, inputs[t])
        outputs.append(y)
    return carry, np.stack(outputs)


def test_gru_equals_flax_gru_cell_with_resets():
    key, inputs, starts = _sequence_inputs(0)
    gru = GRU(H)
    carry = jax.random.normal(key, (B, H))
    params = gru.init(jax.random.key(1), carry, inputs, starts)["params"]
    params = jax.tree.map(lambda x: x + 0.1 * jax.random.normal(jax.random.key(2), x.shape), params)
    blocks = lambda x: [x[..., i * H:(i + 1) * H] for i in range(3)]
    ik, ib, rk = blocks(params["input_kernel"]), blocks(params["input_bias"]), blocks(params["recurrent_kernel"])
    flax_params = {
        "ir": {"kernel": ik[0], "bias": ib[0]}, "iz": {"kernel": ik[1], "bias": ib[1]},
        "in": {"kernel": ik[2], "bias": ib[2]},
        "hr": {"kernel": rk[0]}, "hz": {"kernel": rk[1]},
        "hn": {"kernel": rk[2], "bias": params["candidate_bias"]},
    }
    want_carry, want_out = _reference_loop(nn.GRUCell(features=H), flax_params, carry,
                                           jnp.zeros((B, H)), inputs, starts)
    got_carry, got_out = gru.apply({"params": params}, carry, inputs, starts)
    np.testing.assert_allclose(got_out, want_out, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_carry, want_carry, rtol=1e-5, atol=1e-5)


def test_lstm_equals_flax_lstm_cell_with_resets():
    key, inputs, starts = _sequence_inputs(1)
    lstm = LSTM(H)
    carry = tuple(jax.random.normal(k, (B, H)) for k in jax.random.split(key))
    params = lstm.init(jax.random.key(1), carry, inputs, starts)["params"]
    params = jax.tree.map(lambda x: x + 0.1 * jax.random.normal(jax.random.key(2), x.shape), params)
    blocks = lambda x: [x[..., i * H:(i + 1) * H] for i in range(4)]
    ik, rk, b = blocks(params["input_kernel"]), blocks(params["recurrent_kernel"]), blocks(params["bias"])
    flax_params = {}
    for i, gate in enumerate("ifgo"):
        flax_params[f"i{gate}"] = {"kernel": ik[i]}
        flax_params[f"h{gate}"] = {"kernel": rk[i], "bias": b[i]}
    zeros = jnp.zeros((B, H))
    want_carry, want_out = _reference_loop(nn.LSTMCell(features=H), flax_params, carry, (zeros, zeros),
                                           inputs, starts)
    got_carry, got_out = lstm.apply({"params": params}, carry, inputs, starts)
    np.testing.assert_allclose(got_out, want_out, rtol=1e-5, atol=1e-5)
    for got, want in zip(got_carry, want_carry):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


# --- the hidden state in the rollout --------------------------------------------------
DELAY = 2  # CueMemoryEnv(2): every episode is exactly 3 steps, terminated at its third


def _recurrent_rollout(config, env, num_steps: int, seed: int = 0):
    """(ctx, params, traj, carry) of one rollout of a fresh recurrent agent."""
    ctx = make_context(config, env)
    key = jax.random.key(seed)
    params = init_params(ctx.network, key, ctx.adapter.spec.obs_dim)
    # Non-trivial params, so that a carry wrongly kept or reset changes the outputs.
    params = jax.tree.map(lambda x: x + 0.3 * jax.random.normal(jax.random.key(7), x.shape), params)
    obs, env_state = jax.vmap(ctx.adapter.reset)(jax.random.split(key, config.num_envs))
    carry = RolloutCarry(env_state, obs, init_running_stats((ctx.adapter.spec.obs_dim,)),
                         init_reward_scaler(config.num_envs), EpisodeTally.zeros(),
                         init_memory(ctx.network, config.num_envs))
    rollout = jax.jit(lambda c, k: collect_rollout(
        c, k, adapter=ctx.adapter, network=ctx.network, params=params, gamma=0.99,
        num_steps=num_steps, normalize_observations=False, normalize_rewards=False))
    carry, traj = rollout(carry, jax.random.key(seed + 1))
    return ctx, params, traj, carry


def _unroll_episode(ctx, params, obs: jax.Array):
    """One episode's observations [n, D] from a fresh carry, no reset flags: (dist_params, values, carry)."""
    carry = ctx.network.initialize_carry((1,))
    carry, dist, value = ctx.network.apply(params, carry, obs[:, None], jnp.zeros((obs.shape[0], 1), bool),
                                           method="unroll")
    return jax.tree.map(lambda x: x[:, 0], dist), value[:, 0], carry


@pytest.mark.parametrize("network", ["gru", "lstm"])
def test_carry_resets_exactly_at_episode_starts(network):
    """The hand-made sequence: episodes of 3 steps, 8 steps per env. The carry is reset
    before the first step of each episode and never inside one: every step's policy and
    value equal those of its episode unrolled alone from a fresh carry."""
    config = tiny_config(network=network, num_envs=2, num_steps=8, hidden_sizes=(8,), rnn_size=6)
    ctx, params, traj, carry = _recurrent_rollout(config, CueMemoryEnv(DELAY), 8)
    starts = np.zeros((8, 2), bool)
    starts[[0, 3, 6]] = True
    np.testing.assert_array_equal(traj.episode_start, starts)
    np.testing.assert_array_equal(traj.done, np.roll(starts, -1, axis=0) & (np.arange(8) < 7)[:, None])
    for b in range(2):
        for begin, end in ((0, 3), (3, 6), (6, 8)):
            dist, value, _ = _unroll_episode(ctx, params, traj.obs[begin:end, b])
            np.testing.assert_allclose(traj.dist_params["logits"][begin:end, b], dist["logits"],
                                       rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(traj.value[begin:end, b], value, rtol=1e-5, atol=1e-6)
    # The state after the rollout: the last episode's carry (2 steps in), not reset yet.
    _, _, after = _unroll_episode(ctx, params, traj.obs[6:8, 1])
    for got, want in zip(jax.tree.leaves(carry.memory.hidden), jax.tree.leaves(after)):
        np.testing.assert_allclose(got[1], want[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(carry.memory.episode_start, [False, False])


@pytest.mark.parametrize("sequence_length", [0, 4, 2])
def test_update_replays_the_rollout_from_stored_carries(sequence_length):
    """The update's sequences (whole rollouts, or chunks from the stored carry) give back
    exactly the rollout's policy and values under the rollout's params."""
    config = tiny_config(network="gru", num_envs=2, num_steps=8, hidden_sizes=(8,), rnn_size=6,
                         sequence_length=sequence_length)
    ctx, params, traj, _ = _recurrent_rollout(config, CueMemoryEnv(DELAY), 8)
    zeros = jnp.zeros_like(traj.reward)
    batch = to_sequences(traj, zeros, zeros, config.bptt_length)
    dist, value = batch_apply_fn(ctx.network, True)(params, batch)
    np.testing.assert_allclose(dist["logits"], batch.dist_params["logits"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(value, batch.value, rtol=1e-5, atol=1e-6)


def test_sequences_keep_each_envs_time_order():
    """Sequence k * B + b is env b's steps k L ... (k + 1) L - 1, from the carry entering step k L."""
    t_, b_, length = 6, 2, 3
    step = np.arange(t_ * b_, dtype=np.float32).reshape(t_, b_)  # value = 2 t + b
    traj = Transition(obs=jnp.asarray(step)[..., None], next_obs=None, action=jnp.asarray(step, jnp.int32),
                      log_prob=step, value=step, reward=step, terminated=None, done=None,
                      dist_params={"logits": jnp.asarray(step)[..., None]},
                      episode_start=jnp.asarray(step % 4 == 0), hidden=jnp.asarray(step)[..., None] * 10)
    batch = to_sequences(traj, jnp.asarray(step), jnp.asarray(step), length)
    for k in range(t_ // length):
        for b in range(b_):
            seq = k * b_ + b
            want = step[k * length:(k + 1) * length, b]
            for leaf in (batch.value, batch.advantage, batch.obs[..., 0], batch.action):
                np.testing.assert_array_equal(leaf[seq], want)
            np.testing.assert_array_equal(batch.episode_start[seq], want % 4 == 0)
            assert float(batch.hidden[seq, 0]) == 10 * step[k * length, b]


@pytest.fixture(scope="module")
def truncating_rollout():
    """A rollout on CueMemoryEnv(5) under a 2-step time limit: every episode is truncated."""
    env = CueMemoryEnv(delay=5)
    params_env = env.default_params.replace(max_steps_in_episode=2)
    config = tiny_config(network="gru", num_envs=2, num_steps=6, hidden_sizes=(8,), rnn_size=6)
    ctx = make_context(config, env, params_env)
    key = jax.random.key(0)
    params = init_params(ctx.network, key, ctx.adapter.spec.obs_dim)
    params = jax.tree.map(lambda x: x + 0.3 * jax.random.normal(jax.random.key(7), x.shape), params)
    obs, env_state = jax.vmap(ctx.adapter.reset)(jax.random.split(key, 2))
    carry = RolloutCarry(env_state, obs, init_running_stats((3,)), init_reward_scaler(2),
                         EpisodeTally.zeros(), init_memory(ctx.network, 2))
    carry, traj = jax.jit(lambda c: collect_rollout(
        c, jax.random.key(1), adapter=ctx.adapter, network=ctx.network, params=params, gamma=0.99,
        num_steps=6, normalize_observations=False, normalize_rewards=False))(carry)
    return ctx, params, traj, carry


def test_truncated_steps_bootstrap_from_the_unreset_carry(truncating_rollout):
    """Each truncated step's V(s') is V(final observation) seen with the carry of its
    episode, i.e. the episode unrolled alone with the final observation appended."""
    ctx, params, traj, carry = truncating_rollout
    truncated = np.asarray(traj.done & ~traj.terminated)
    assert truncated[1::2].all() and not truncated[0::2].any()
    next_values = next_state_values(ctx, params, traj, carry)
    for t in range(1, 6, 2):
        for b in range(2):
            episode = jnp.concatenate([traj.obs[t - 1:t + 1, b], traj.next_obs[t, b][None]])
            _, values, _ = _unroll_episode(ctx, params, episode)
            np.testing.assert_allclose(next_values[t, b], values[2], rtol=1e-5, atol=1e-6)
    # Within an episode, V(s') is the next step's value; after the rollout, V of the last obs.
    np.testing.assert_allclose(next_values[0::2], traj.value[1::2], rtol=1e-6)


# --- the rest of the library with a recurrent agent -------------------------------------
GRU_CONFIG = tiny_config(network="gru", num_updates=3, num_envs=4, num_steps=8, num_minibatches=2,
                         hidden_sizes=(8,), rnn_size=8, sequence_length=4,
                         normalize_observations=True, normalize_rewards=True)


def _assert_trees_equal(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-6, atol=1e-6)


@pytest.fixture(scope="module")
def gru_runs():
    """(train_seeds of 2 seeds, each seed trained alone) for GRU_CONFIG."""
    population = ppo_jax.train_seeds(GRU_CONFIG, num_seeds=2, seed=0)
    train = jit_fast(ppo_jax.make_train(GRU_CONFIG))
    singles = [train(k) for k in jax.random.split(jax.random.key(0), 2)]
    return population, singles


def test_recurrent_vmapped_seed_equals_single_run(gru_runs):
    population, singles = gru_runs
    for i, single in enumerate(singles):
        _assert_trees_equal(jax.tree.map(lambda x, i=i: x[i], population.metrics), single.metrics)
        _assert_trees_equal(jax.tree.map(lambda x, i=i: x[i], population.state.memory), single.state.memory)
    assert population.state.memory.hidden.shape == (2, 4, 8)


def test_recurrent_chunked_and_checkpointed_run_equals_whole_run(gru_runs, tmp_path):
    """1 update, save, load, 2 more updates == the 3 updates of one call (memory included)."""
    whole = gru_runs[1][0]
    trainer = ppo_jax.make_trainer(GRU_CONFIG)
    state, first = trainer.run(trainer.init(jax.random.split(jax.random.key(0), 2)[0]), None, 1)
    ppo_jax.save(tmp_path / "ckpt", GRU_CONFIG, state)
    config, loaded = ppo_jax.load(tmp_path / "ckpt")
    assert config == GRU_CONFIG
    _assert_trees_equal(loaded.memory, state.memory)
    state, rest = trainer.run(loaded, None, 2)
    chunked = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), first, rest)
    _assert_trees_equal(chunked, whole.metrics)
    _assert_trees_equal(state.params, whole.state.params)
    _assert_trees_equal(state.memory, whole.state.memory)


def test_recurrent_policy_is_stateful(gru_runs):
    """act(key, obs, carry) -> (action, carry) on a batch and on one observation (the
    same), value(obs, carry), and evaluate, for a recurrent agent."""
    state = gru_runs[1][0].state
    act = ppo_jax.make_policy(GRU_CONFIG, state, deterministic=True)
    value = ppo_jax.make_value_fn(GRU_CONFIG, state)
    env = ppo_jax.envs.make_env("CartPole-v1").env
    carry = act.initial_carry((3,))
    assert carry.shape == (3, 8)
    obs, env_state = jax.vmap(env.reset)(jax.random.split(jax.random.key(5), 3))
    actions, new_carry = jax.jit(act)(jax.random.key(0), obs, carry)
    assert actions.shape == (3,) and new_carry.shape == (3, 8)
    assert not np.allclose(new_carry, carry)
    assert value(obs, carry).shape == (3,)
    # One observation at a time equals the batch.
    one, one_carry = act(jax.random.key(0), obs[1], carry[1])
    assert int(one) == int(actions[1])
    # float32: one row alone and a batch of 3 may sum in another order (an ulp or two)
    np.testing.assert_allclose(one_carry, new_carry[1], rtol=1e-5, atol=1e-7)
    returns = ppo_jax.evaluate(GRU_CONFIG, state, jax.random.key(3), num_episodes=4)
    assert returns.shape == (4,) and np.all(np.asarray(returns) >= 1)


@pytest.mark.parametrize("objective", ["none", "kl_penalty", "adaptive_kl"])
def test_recurrent_trains_with_every_objective(objective):
    config = GRU_CONFIG.replace(objective=objective, dual_clip=True, early_stop=True, num_envs=2,
                                total_timesteps=2 * 2 * 8).replace(early_stop_kl=1e-4)
    out = jit_fast(ppo_jax.make_train(config))(jax.random.key(1))
    for name in ("policy_loss", "value_loss", "kl", "explained_variance"):
        assert np.all(np.isfinite(out.metrics[name])), name
    assert np.all(np.asarray(out.metrics["diverged"]) == 0)
    if objective == "adaptive_kl":
        assert np.all(np.isfinite(out.metrics["kl_after_update"]))


def test_recurrent_sweep_over_the_hidden_size():
    """rnn_size is static: the sweep groups the grid by it (one program per size)."""
    config = GRU_CONFIG.replace(total_timesteps=4 * 8, normalize_rewards=False)
    res = ppo_jax.sweep(config, {"rnn_size": [4, 8], "learning_rate": [1e-3, 3e-3]}, num_seeds=2)
    assert res.metrics["episode_return"].shape == (4, 2, 1)
    frame = res.summary()
    assert sorted(set(frame["rnn_size"])) == [4, 8]
    assert np.all(np.isfinite(np.asarray(res.metrics["policy_loss"])))


def test_register_network_feed_forward_and_recurrent():
    from ppo_jax.networks.registry import _REGISTRY

    class Linear(nn.Module):
        policy_dim: int

        def setup(self):
            self.pi, self.v = nn.Dense(self.policy_dim), nn.Dense(1)

        def __call__(self, obs):
            return self.policy(obs), self.value(obs)

        def policy(self, obs):
            return {"logits": self.pi(obs)}

        def value(self, obs):
            return self.v(obs)[..., 0]

    try:
        ppo_jax.register_network("test_linear", lambda config, spec: Linear(spec.policy_dim))
        ppo_jax.register_network(
            "test_lstm", lambda config, spec: RecurrentActorCritic(
                spec.policy_dim, spec.discrete, (8,), "tanh", cell="lstm", cell_size=4), recurrent=True)
        linear = tiny_config(network="test_linear")
        out = jit_fast(ppo_jax.make_train(linear))(jax.random.key(0))
        assert set(out.state.params["params"]) == {"pi", "v"} and out.state.memory is None
        lstm = tiny_config(network="test_lstm", sequence_length=4)
        assert lstm.recurrent
        out = jit_fast(ppo_jax.make_train(lstm))(jax.random.key(0))
        assert [x.shape for x in out.state.memory.hidden] == [(2, 4), (2, 4)]
        assert np.all(np.isfinite(out.metrics["policy_loss"]))
    finally:
        _REGISTRY.pop("test_linear", None)
        _REGISTRY.pop("test_lstm", None)
    with pytest.raises(ValueError, match="built-in networks"):
        ppo_jax.register_network("gru", lambda config, spec: None)


@pytest.mark.parametrize("fields, message", [
    ({"network": "transformer"}, "PPOConfig.network 'transformer' is not one of mlp, cnn, gru, lstm"),
    ({"network": "mlp", "sequence_length": 4}, "applies to recurrent networks only"),
    ({"network": "gru", "sequence_length": 3}, "sequence_length = 3 does not divide num_steps = 8"),
    ({"network": "gru", "sequence_length": -1}, "sequence_length must be an integer >= 0"),
    ({"network": "gru", "num_minibatches": 4}, "num_minibatches = 4 does not divide the 2 sequences"),
    ({"network": "lstm", "rnn_size": 0}, "rnn_size"),
])
def test_recurrent_settings_are_validated(fields, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(**{"num_envs": 2, "num_steps": 8, "num_minibatches": 2, **fields})


def test_masked_cartpole_hides_the_velocities():
    masked = ppo_jax.envs.make_env("MaskedCartPole-v1")
    full = ppo_jax.envs.make_env("CartPole-v1")
    assert masked.spec.obs_dim == 2 and "MaskedCartPole-v1" in ppo_jax.available_envs()
    key = jax.random.key(0)
    obs, state = masked.reset(key)
    full_obs, full_state = full.reset(key)
    np.testing.assert_array_equal(obs, full_obs[jnp.array([0, 2])])
    for t in range(30):  # through an episode end: the final observation is masked too
        step = masked.step(jax.random.key(t), state, 1)
        full_step = full.step(jax.random.key(t), full_state, 1)
        np.testing.assert_array_equal(step.obs, full_step.obs[jnp.array([0, 2])])
        np.testing.assert_array_equal(step.final_obs, full_step.final_obs[jnp.array([0, 2])])
        assert bool(step.terminated) == bool(full_step.terminated)
        state, full_state = step.state, full_step.state


def test_recurrent_cli_trains_saves_and_records_an_episode(tmp_path):
    from ppo_jax.cli.main import run_command

    run = tmp_path / "run"
    run_command(["train", "--env", "MaskedCartPole-v1", "--network", "gru", "--rnn-size", "8",
                       "--hidden-sizes", "8", "--total-timesteps", "1024", "--num-envs", "4",
                       "--num-minibatches", "2", "--num-seeds", "2", "--out", str(run),
                       "--no-progress", "--no-plot"])
    config, state = ppo_jax.load(run / "checkpoint")
    assert config.network == "gru" and state.memory.hidden.shape == (2, 4, 8)
    run_command(["evaluate", str(run), "--episodes", "2", "--gif", str(tmp_path / "ep.gif")])
    assert (tmp_path / "ep.gif").stat().st_size > 0


def test_a_recurrent_agent_with_another_cell_size_is_refused_by_name(gru_runs):
    state = gru_runs[1][0].state
    with pytest.raises(ValueError, match=r"cell size 8.*cell size 16"):
        ppo_jax.make_policy(GRU_CONFIG.replace(rnn_size=16), state)


def test_recurrent_pbt_keeps_each_members_memory():
    """A replaced member takes its parent's learned state but keeps its own envs, key and
    carry (`memory`): its last generation equals its own envs and carry with the parent's
    params etc., trained alone for that generation's 2 updates with its hyperparameters."""
    config = tiny_config(network="gru", hidden_sizes=(8,), rnn_size=8, num_updates=4)
    space, run = {"learning_rate": (1e-4, 1e-2, "log")}, dict(population=4, ready_every=2)
    first = ppo_jax.pbt(config, space, **run, max_generations=1)
    res = ppo_jax.pbt(config, space, **run, resume=first)
    assert np.all(np.isfinite(np.asarray(res.metrics["policy_loss"])))
    memory = res.state.members.memory.hidden  # [seeds, members, envs, H]
    assert memory.shape == (1, 4, 2, 8)
    parents = res.parents[0, :, 1]  # whose state each member started generation 2 from
    assert (parents != np.arange(4)).sum() == 1  # floor(0.25 * 4) members replaced
    own = ("env_state", "obs", "key", "memory")  # what a member keeps (the rest: its parent's)
    learned = {f.name for f in dataclasses.fields(TrainState) if f.metadata.get("pytree_node", True)}
    before = jax.tree.map(lambda x: x[0], first.state.members)
    member = lambda tree, p: jax.tree.map(lambda x: x[p], tree)
    trainer = ppo_jax.make_trainer(config)
    run_alone = jit_fast(lambda state, hparams: trainer.run(state, hparams, 2)[0])
    for p, parent in enumerate(parents):
        start = member(before, p).replace(
            **{name: getattr(member(before, int(parent)), name) for name in learned - set(own)})
        hparams = ppo_jax.HParams(**{f: jnp.float32(res.hparams[f][0, p, 1]) for f in HPARAM_FIELDS})
        alone = run_alone(start, hparams)
        got = member(res.state.members, (0, p))
        for name in ("memory", "params", "obs"):
            for a, b in zip(jax.tree.leaves(getattr(got, name)), jax.tree.leaves(getattr(alone, name))):
                np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5,
                                           err_msg=f"member {p} (parent {parent}): {name}")
    # the carries are the members' own: no two alike
    assert not np.allclose(memory[0, 0], memory[0, 1]) and not np.allclose(memory[0, 2], memory[0, 3])
