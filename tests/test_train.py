"""Invariants of the train function: chunking, populations, keys, one compile, metrics."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import jit_fast, tiny_config

import ppo_jax
from ppo_jax.core.iteration import METRIC_NAMES

NUM_UPDATES = 4
NUM_SEEDS = 3
# Normalizers on and the learning rate annealed: all of it must live in the state.
CONFIG = tiny_config(num_updates=NUM_UPDATES, update_epochs=2, normalize_observations=True,
                     normalize_rewards=True, anneal_lr=True)
OTHER_HPARAMS = CONFIG.hparams.replace(learning_rate=1e-3, clip_eps=0.1, gamma=0.9, ent_coef=0.0)
BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


def _as_f32(hparams):
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), hparams)


@pytest.fixture(scope="module")
def single_train():
    """Jitted train(key, hparams) for one agent; it may be traced only once, so
    every later call (other keys, other hparams values) reuses the compile."""
    return jit_fast(chex.assert_max_traces(ppo_jax.make_train(CONFIG), n=1))


@pytest.fixture(scope="module")
def single_runs(single_train):
    """Single-agent runs of the keys train_seeds gives seeds 0, 1, 2 of seed 0."""
    keys = jax.random.split(jax.random.key(0), NUM_SEEDS)
    return [single_train(keys[i], _as_f32(CONFIG.hparams)) for i in range(NUM_SEEDS)]


@pytest.fixture(scope="module")
def population():
    """train_seeds: jit(vmap(train)) over NUM_SEEDS keys of seed 0."""
    return ppo_jax.train_seeds(CONFIG, num_seeds=NUM_SEEDS, seed=0)


def _agent(outs, i: int):
    """Agent i of a population output."""
    return jax.tree.map(lambda x: x[i], outs)


def assert_outputs_close(a, b, rtol=1e-5, atol=1e-5):
    chex.assert_trees_all_close(a.metrics, b.metrics, rtol=rtol, atol=atol)
    chex.assert_trees_all_close(a.state.params, b.state.params, rtol=rtol, atol=atol)
    chex.assert_trees_all_close(a.state.obs_stats, b.state.obs_stats, rtol=rtol, atol=atol)
    chex.assert_trees_all_close(a.state.reward_scaler, b.state.reward_scaler, rtol=rtol, atol=atol)
    chex.assert_trees_all_close(a.state.obs, b.state.obs, rtol=rtol, atol=atol)
    np.testing.assert_array_equal(a.state.update_step, b.state.update_step)
    np.testing.assert_array_equal(jax.random.key_data(a.state.key),
                                  jax.random.key_data(b.state.key))


# ---------------------------------------------------------------------------
# chunked training
# ---------------------------------------------------------------------------

def test_run_n_then_m_equals_run_n_plus_m(single_runs):
    trainer = ppo_jax.make_trainer(CONFIG)
    hparams = _as_f32(CONFIG.hparams)
    init = jit_fast(trainer.init)
    # the second chunk reuses the first one's compile
    run = jit_fast(chex.assert_max_traces(trainer.run, n=1), static_argnames="num_updates")
    state = init(jax.random.split(jax.random.key(0), NUM_SEEDS)[0], hparams)
    state, first = run(state, hparams, num_updates=NUM_UPDATES // 2)
    state, second = run(state, hparams, num_updates=NUM_UPDATES // 2)
    chunked = ppo_jax.TrainOutput(
        state=state, metrics=jax.tree.map(lambda a, b: jnp.concatenate([a, b]), first, second)
    )
    for name in METRIC_NAMES:
        assert chunked.metrics[name].shape == (NUM_UPDATES,)
    assert_outputs_close(chunked, single_runs[0])
    # the learning rate keeps annealing across chunks: lr * (1 - i / num_updates)
    np.testing.assert_allclose(
        chunked.metrics["learning_rate"],
        CONFIG.hparams.learning_rate * (1.0 - np.arange(NUM_UPDATES) / NUM_UPDATES),
        rtol=1e-6,
    )


# ---------------------------------------------------------------------------
# populations and keys
# ---------------------------------------------------------------------------

def test_vmapped_seed_i_equals_single_run_of_seed_i(population, single_runs):
    # train_seeds gives seed i the key jax.random.split(jax.random.key(seed), num_seeds)[i]
    for i in range(NUM_SEEDS):
        assert_outputs_close(_agent(population, i), single_runs[i])


def test_other_hparams_values_reuse_the_compile(single_train, single_runs):
    key = jax.random.split(jax.random.key(0), NUM_SEEDS)[0]
    # assert_max_traces(n=1) raises if this call traces train again
    other = single_train(key, _as_f32(OTHER_HPARAMS))
    base = single_runs[0]
    # ... and the values are really used
    assert not np.allclose(other.metrics["learning_rate"], base.metrics["learning_rate"])
    assert not np.allclose(other.metrics["policy_loss"], base.metrics["policy_loss"])


@pytest.fixture
def backend_compiles():
    """Records the XLA compilations that happen while the test runs."""
    compiled = []

    def listener(event, duration, **kwargs):
        if event == BACKEND_COMPILE_EVENT:
            compiled.append(kwargs.get("fun_name", "?"))

    jax.monitoring.register_event_duration_secs_listener(listener)
    yield compiled
    jax.monitoring.unregister_event_duration_listener(listener)


def test_train_seeds_does_not_recompile(population, backend_compiles):
    # the listener does see compilations (so an empty list below means something)
    jax.block_until_ready(jax.jit(lambda x: x * 3.0 + 1.0)(jnp.arange(3.0)))
    assert backend_compiles

    backend_compiles.clear()
    again = ppo_jax.train_seeds(CONFIG, num_seeds=NUM_SEEDS, seed=5, hparams=OTHER_HPARAMS)
    jax.block_until_ready(again)
    assert backend_compiles == [], "train_seeds recompiled for new hparams values / seed"
    assert not np.allclose(population.metrics["policy_loss"], again.metrics["policy_loss"])


def test_same_key_same_output_other_key_other_output(single_train, single_runs):
    key = jax.random.split(jax.random.key(0), NUM_SEEDS)[0]
    again = single_train(key, _as_f32(CONFIG.hparams))
    chex.assert_trees_all_equal(again.metrics, single_runs[0].metrics)
    chex.assert_trees_all_equal(again.state.params, single_runs[0].state.params)
    other = single_runs[1]
    assert not np.allclose(other.metrics["policy_loss"], single_runs[0].metrics["policy_loss"])


# ---------------------------------------------------------------------------
# what train returns
# ---------------------------------------------------------------------------

def test_metrics_have_every_name_with_one_value_per_update(single_runs):
    metrics = single_runs[0].metrics
    assert set(METRIC_NAMES) <= set(metrics)
    for name, value in metrics.items():
        assert value.shape == (NUM_UPDATES,), name
    np.testing.assert_array_equal(metrics["timesteps"],
                                  CONFIG.batch_size * np.arange(1, NUM_UPDATES + 1))


def _output_shapes(config):
    train = ppo_jax.make_train(config)
    return jax.eval_shape(train, jax.random.key(0), config.hparams)


def test_nothing_per_step_is_returned():
    """The output does not grow with num_steps: no [T, B] arrays come back."""
    base = tiny_config(num_updates=3, num_steps=8)
    longer = tiny_config(num_updates=3, num_steps=64)
    shapes, longer_shapes = _output_shapes(base), _output_shapes(longer)
    assert jax.tree.structure(shapes) == jax.tree.structure(longer_shapes)
    for a, b in zip(jax.tree.leaves(shapes), jax.tree.leaves(longer_shapes), strict=True):
        assert (a.shape, a.dtype) == (b.shape, b.dtype)
    # and the metrics grow with the number of updates only
    more_updates = _output_shapes(tiny_config(num_updates=7, num_steps=8))
    for name, value in more_updates.metrics.items():
        assert value.shape == (7,), name


def test_state_leaves_have_the_documented_shapes():
    shapes = _output_shapes(CONFIG).state
    obs_dim = 4  # CartPole
    assert shapes.obs.shape == (CONFIG.num_envs, obs_dim)
    assert shapes.obs_stats.mean.shape == (obs_dim,)  # shared across the agent's envs
    assert shapes.obs_stats.var.shape == (obs_dim,)
    assert shapes.reward_scaler.discounted_return.shape == (CONFIG.num_envs,)
    assert shapes.update_step.shape == ()
    for leaf in jax.tree.leaves(shapes.env_state):
        assert leaf.shape[0] == CONFIG.num_envs


def test_train_seeds_rejects_bad_num_seeds():
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="num_seeds"):
            ppo_jax.train_seeds(CONFIG, num_seeds=bad)


def test_train_seeds_validates_hparams():
    with pytest.raises(ValueError, match="gamma"):
        ppo_jax.train_seeds(CONFIG, num_seeds=2, hparams=CONFIG.hparams.replace(gamma=2.0))


def test_legacy_uint32_prng_keys_train_like_typed_keys():
    """jax.random.PRNGKey(s) (a uint32 [2] array) is as good a seed as jax.random.key(s)."""
    train = jit_fast(ppo_jax.make_train(tiny_config(num_updates=2)))
    legacy = train(jax.random.PRNGKey(0))
    typed = train(jax.random.key(0))
    chex.assert_tree_all_finite(legacy.state.params)
    # the same seed in both forms is the same random stream
    chex.assert_trees_all_close(legacy.metrics, typed.metrics)


# ---------------------------------------------------------------------------
# hyperparameters on the raw train path; trainer.run's count and schedule
# ---------------------------------------------------------------------------

def _unchecked(hparams, **values):
    """`hparams` with `values` put in the way JAX rebuilds pytrees (no construction check)."""
    leaves = [values.get(name, getattr(hparams, name)) for name in ppo_jax.config.HPARAM_FIELDS]
    return jax.tree_util.tree_unflatten(jax.tree.structure(hparams), leaves)


def test_concrete_hparams_are_checked_on_the_raw_train_path(backend_compiles):
    trainer = ppo_jax.make_trainer(CONFIG)
    train = ppo_jax.make_train(CONFIG)
    state = trainer.init(jax.random.key(0))
    for field, value, message in [("learning_rate", -1e-3, r"HParams.learning_rate must be in \(0.0"),
                                  ("gamma", 5.0, r"HParams.gamma must be in \[0.0, 1.0\]"),
                                  ("clip_eps", "0.2", "HParams.clip_eps must be a number")]:
        bad = _unchecked(CONFIG.hparams, **{field: value})
        backend_compiles.clear()
        with pytest.raises(ValueError, match=message):
            train(jax.random.key(0), bad)
        with pytest.raises(ValueError, match=message):
            trainer.init(jax.random.key(0), bad)
        with pytest.raises(ValueError, match=message):
            trainer.run(state, bad, 1)
        assert not [name for name in backend_compiles if "run_updates" in name]  # before compiling


def test_hparams_vmapped_with_an_in_axes_spec_train(fast_jit):
    """A grid over one field by hand: HParams as an in_axes spec, tracers inside."""
    spec = jax.tree.map(lambda _: None, CONFIG.hparams).replace(learning_rate=0)
    lrs = jnp.asarray([1e-3, 2e-3], jnp.float32)
    train = jax.vmap(ppo_jax.make_train(tiny_config(num_updates=1)), in_axes=(None, spec))
    out = fast_jit(train)(jax.random.key(0), _as_f32(CONFIG.hparams).replace(learning_rate=lrs))
    np.testing.assert_allclose(out.metrics["learning_rate"][:, 0], lrs)


def test_trainer_run_is_jitted_with_the_count_static(backend_compiles):
    config = tiny_config(num_updates=3, anneal_lr=False)
    trainer = ppo_jax.make_trainer(config)
    state = trainer.init(jax.random.key(0))
    backend_compiles.clear()
    first, metrics = trainer.run(state, config.hparams, 1)   # no jax.jit needed
    assert metrics["policy_loss"].shape == (1,)
    again, _ = trainer.run(first, config.hparams.replace(clip_eps=0.1), 1)
    assert int(again.update_step) == 2
    assert len([n for n in backend_compiles if "run_updates" in n]) == 1  # one compile per count
    _, metrics = trainer.run(state, config.hparams, 2)
    assert len([n for n in backend_compiles if "run_updates" in n]) == 2
    assert metrics["policy_loss"].shape == (2,)


def test_a_traced_update_count_gets_a_hint():
    trainer = ppo_jax.make_trainer(CONFIG)
    state = trainer.init(jax.random.key(0))
    with pytest.raises(TypeError, match=r"num_updates is traced.*trainer.run\(state, hparams, n\) "
                                        r"directly.*static_argnums=2"):
        jax.jit(trainer.run)(state, CONFIG.hparams, 2)
    for bad in (-1, 1.5):
        with pytest.raises(ValueError, match="num_updates"):
            trainer.run(state, CONFIG.hparams, bad)


def test_running_past_the_schedule_is_refused_with_how_to_extend():
    trainer = ppo_jax.make_trainer(CONFIG)  # anneal_lr, NUM_UPDATES updates
    state = trainer.init(jax.random.key(0)).replace(update_step=jnp.asarray(NUM_UPDATES - 1))
    extend = rf"config.replace\(total_timesteps={(NUM_UPDATES + 1) * CONFIG.batch_size}\)"
    with pytest.raises(ValueError, match=r"2 updates from update 3 pass the end of the learning-rate "
                                         r"schedule.*" + extend):
        trainer.run(state, CONFIG.hparams, 2)
    # a count longer than the whole schedule is refused inside jit too (state traced)
    with pytest.raises(ValueError, match="pass the end of the learning-rate schedule"):
        jax.jit(trainer.run, static_argnums=2)(state, CONFIG.hparams, NUM_UPDATES + 1)


def test_extending_a_run_anneals_over_the_new_budget(fast_jit):
    """A run of 2 updates continued for 2 more by a trainer for a budget of 4: the
    rate is lr * (1 - u / 2) before the extension and lr * (1 - u / 4) after it."""
    short = tiny_config(num_updates=2, anneal_lr=True)
    longer = short.replace(total_timesteps=4 * short.batch_size)
    lr = short.hparams.learning_rate
    run_short = fast_jit(ppo_jax.make_trainer(short).run, static_argnums=2)
    trainer = ppo_jax.make_trainer(longer)
    run_longer = fast_jit(trainer.run, static_argnums=2)
    state, first = run_short(ppo_jax.make_trainer(short).init(jax.random.key(0)), short.hparams, 2)
    state, second = run_longer(state, longer.hparams, 2)
    np.testing.assert_allclose(first["learning_rate"], [lr, lr / 2], rtol=1e-6)
    np.testing.assert_allclose(second["learning_rate"], [lr * (1 - 2 / 4), lr * (1 - 3 / 4)], rtol=1e-6)
    assert int(state.update_step) == 4
    np.testing.assert_array_equal(second["timesteps"], [3 * short.batch_size, 4 * short.batch_size])
    # without annealing there is no schedule to pass
    flat = tiny_config(num_updates=1, anneal_lr=False)
    flat_trainer = ppo_jax.make_trainer(flat)
    _, metrics = fast_jit(flat_trainer.run, static_argnums=2)(
        flat_trainer.init(jax.random.key(0)), flat.hparams, 3)
    np.testing.assert_allclose(metrics["learning_rate"], [flat.hparams.learning_rate] * 3, rtol=1e-6)


@pytest.mark.parametrize("sharded", [False, True], ids=["one-device", "over-all-devices"])
def test_make_population_pieces_equal_train_seeds(sharded):
    """make_population's init + run in chunks and its one-program train give train_seeds'
    run; sharded over every device (4 with the forced host device count) as well."""
    config = tiny_config(num_updates=3)
    num_seeds = 4
    devices = tuple(jax.devices()) if sharded else None
    if sharded and num_seeds % len(devices):
        num_seeds = len(devices)
    hparams = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), config.hparams)
    key_data = jax.random.key_data(ppo_jax.train.seed_keys(0, num_seeds))
    population = ppo_jax.make_population(config, devices=devices)
    states = population.init(key_data, hparams)
    states, first = population.run(states, hparams, 2)   # two chunks: 2 updates, then 1
    states, second = population.run(states, hparams, 1)
    _, whole = population.train(key_data, hparams)
    reference = ppo_jax.train_seeds(config, num_seeds, seed=0).metrics
    for name in ("episode_return", "value_loss", "grad_norm", "timesteps"):
        chunked = np.concatenate([np.asarray(first[name]), np.asarray(second[name])], axis=1)
        np.testing.assert_allclose(chunked, reference[name], rtol=1e-5, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(np.asarray(whole[name]), reference[name], rtol=1e-5, atol=1e-6,
                                   err_msg=name)
    np.testing.assert_array_equal(np.asarray(states.update_step), 3)
