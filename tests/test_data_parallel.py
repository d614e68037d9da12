"""Data parallelism for one agent (`PPOConfig.data_parallel`): the maths, the placement, bad input.

The config fixes the maths: the agent's num_envs form G groups; the batch is
group-major; each minibatch takes an equal share from every group, permuted
within the group. The devices fix only the placement: G groups on 4 devices
equal G groups on 1 device (float32 rounding), and G = 1 is the plain algorithm.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import CompileCounter, run_on_four_cpu_devices, tiny_config

import ppo_jax
from ppo_jax.core.iteration import group_major, to_batch, to_sequences
from ppo_jax.core.types import Batch, Transition
from ppo_jax.core.update import random_permutation, shuffle_into_minibatches


# ------------------------------------------------------------------ the maths ---
def test_group_major_matches_a_numpy_loop():
    """Row order of the group-major batch, from a plain loop over (group, step, env in group)."""
    steps, envs, groups = 3, 8, 4
    x = np.arange(steps * envs * 2, dtype=np.float32).reshape(steps, envs, 2)
    expected = [x[t, g * (envs // groups) + b] for g in range(groups) for t in range(steps)
                for b in range(envs // groups)]
    np.testing.assert_array_equal(group_major(jnp.asarray(x), groups), np.stack(expected))
    # one group: the plain reshape, row t * B + b
    np.testing.assert_array_equal(group_major(jnp.asarray(x), 1), x.reshape(steps * envs, 2))


def _transition(steps: int, envs: int) -> Transition:
    field = lambda k: jnp.arange(steps * envs, dtype=jnp.float32).reshape(steps, envs) + 1000 * k
    return Transition(obs=field(0)[..., None], next_obs=field(1)[..., None], action=field(2),
                      log_prob=field(3), value=field(4), reward=field(5), terminated=field(6) > 0,
                      done=field(7) > 0, dist_params={"logits": field(8)[..., None]},
                      episode_start=field(9) > 0, hidden=field(10)[..., None])


def test_sequences_are_group_major_with_their_stored_carry():
    steps, envs, groups, length = 8, 4, 2, 4
    traj = _transition(steps, envs)
    seq = to_sequences(traj, traj.reward, traj.reward, length, groups)
    obs = np.asarray(traj.obs)[..., 0]
    expected = [obs[k * length:(k + 1) * length, g * 2 + b] for g in range(groups)
                for k in range(steps // length) for b in range(envs // groups)]
    np.testing.assert_array_equal(seq.obs[..., 0], np.stack(expected))
    hidden = np.asarray(traj.hidden)[..., 0]
    expected_hidden = [hidden[k * length, g * 2 + b] for g in range(groups)
                       for k in range(steps // length) for b in range(envs // groups)]
    np.testing.assert_array_equal(seq.hidden[..., 0], expected_hidden)
    # one group: sequence k * B + b, as before data parallelism
    plain = to_sequences(traj, traj.reward, traj.reward, length, 1)
    np.testing.assert_array_equal(plain.obs[1, :, 0], obs[0:4, 1])


def _batch(n: int) -> Batch:
    rows = jnp.arange(n, dtype=jnp.float32)
    return Batch(obs=rows[:, None], action=rows, log_prob=rows, value=rows, advantage=rows,
                 target=rows, dist_params={"logits": rows[:, None]})


@pytest.mark.parametrize("groups, num_minibatches", [(2, 2), (4, 2), (4, 1), (3, 4)])
def test_minibatches_take_an_equal_share_of_every_group_permuted_within_it(groups, num_minibatches):
    """Against a numpy construction: group g's rows permuted by the g-th split key, minibatch m
    holding each group's m-th share in group order."""
    n = groups * num_minibatches * 5
    key = jax.random.key(7)
    out = shuffle_into_minibatches(key, _batch(n), num_minibatches, groups)
    per_group, share = n // groups, n // groups // num_minibatches
    keys = jax.random.split(key, groups)
    expected = np.empty((num_minibatches, groups * share), np.float32)
    for g in range(groups):
        perm = np.asarray(random_permutation(keys[g], per_group))
        rows = g * per_group + perm
        for m in range(num_minibatches):
            expected[m, g * share:(g + 1) * share] = rows[m * share:(m + 1) * share]
    np.testing.assert_array_equal(out.action, expected)
    np.testing.assert_array_equal(out.obs[..., 0], expected)
    # every row exactly once per epoch, and each minibatch's share from each group
    assert sorted(np.asarray(out.action).ravel().tolist()) == list(range(n))
    for m in range(num_minibatches):
        assert (np.asarray(out.action[m]) // per_group).tolist() == np.repeat(np.arange(groups), share).tolist()


def test_one_group_shuffles_as_the_plain_algorithm():
    """data_parallel = 1: one permutation of the whole batch with the epoch's key."""
    key, n = jax.random.key(3), 64
    out = shuffle_into_minibatches(key, _batch(n), 4)
    np.testing.assert_array_equal(out.action, np.asarray(random_permutation(key, n)).reshape(4, 16))
    assert np.array_equal(to_batch(_transition(4, 4), jnp.zeros((4, 4)), jnp.zeros((4, 4))).obs[:, 0],
                          np.arange(16, dtype=np.float32))


def test_groups_change_only_the_minibatch_composition():
    """G groups on one device train one agent whose every group holds the same parameters (one
    set): the first update's metrics are finite and close to the plain algorithm's, not equal."""
    plain = tiny_config(num_envs=8, num_steps=8, num_minibatches=2, num_updates=2)
    grouped = plain.replace(data_parallel=4)
    a = jax.jit(ppo_jax.make_train(plain))(jax.random.key(0))
    b = jax.jit(ppo_jax.make_train(grouped))(jax.random.key(0))
    # the same rollouts (the rollout does not depend on the groups) ...
    np.testing.assert_array_equal(a.metrics["episode_return"], b.metrics["episode_return"])
    # ... but other minibatches, so other parameters after the update
    assert not np.allclose(jax.tree.leaves(a.state.params)[0], jax.tree.leaves(b.state.params)[0])
    assert np.all(np.isfinite(b.metrics["policy_loss"]))


# ------------------------------------------------------------------ bad input ---
@pytest.mark.parametrize("fields, message", [
    ({"num_envs": 4, "data_parallel": 3}, "PPOConfig.data_parallel = 3 does not divide num_envs = 4"),
    ({"num_envs": 4, "data_parallel": 0}, "data_parallel"),
    ({"num_envs": 4, "data_parallel": True}, "data_parallel"),
    ({"num_envs": 4, "num_steps": 5, "num_minibatches": 4, "data_parallel": 2},
     "num_minibatches = 4 does not divide one group's 10 samples"),
    ({"num_envs": 4, "num_steps": 8, "num_minibatches": 4, "data_parallel": 4, "network": "gru"},
     "does not divide one group's 1 sequences"),
])
def test_config_refuses_groups_that_do_not_split_evenly(fields, message):
    settings = {"num_steps": 8, "num_minibatches": 2, **fields}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        tiny_config(**settings)


def test_divisor_hint_lists_the_valid_choices():
    with pytest.raises(ValueError, match=r"use a divisor of 6 \(1, 2, 3, 6\)"):
        tiny_config(num_envs=6, num_minibatches=2, data_parallel=4)


def test_device_layouts_are_checked_before_anything_compiles():
    config = tiny_config(num_envs=8, num_steps=8, num_minibatches=2, data_parallel=4)
    cpu = jax.devices()[0]
    with CompileCounter() as counter:
        with pytest.raises(ValueError, match=r"make_trainer: 3 devices cannot hold PPOConfig.data_parallel = 4"):
            ppo_jax.make_train(config, devices=[cpu] * 3)
        with pytest.raises(ValueError, match=r"group_devices = 3 does not divide PPOConfig.data_parallel = 4"):
            ppo_jax.train_seeds(config, 2, devices=[cpu] * 6, group_devices=3)
        with pytest.raises(ValueError, match=r"group_devices = 8 asks for more devices than the 4 given"):
            ppo_jax.train_seeds(config, 2, devices=[cpu] * 4, group_devices=8)
        with pytest.raises(ValueError, match=r"the 6 devices do not divide into a mesh of members x "
                                             r"group_devices = 4; valid group_devices: \[1, 2\]"):
            ppo_jax.train_seeds(config, 2, devices=[cpu] * 6, group_devices=4)
        with pytest.raises(ValueError, match=r"group_devices = 2 needs devices"):
            ppo_jax.train_seeds(config, 2, group_devices=2)
        with pytest.raises(ValueError, match=r"sweep: group_devices = 2 does not divide PPOConfig.data_parallel = 1"):
            ppo_jax.sweep(config, {"data_parallel": [1, 4]}, num_seeds=1, devices=[cpu] * 4, group_devices=2)
        with pytest.raises(ValueError, match=r"pbt: group_devices must be a positive int, got 0"):
            ppo_jax.pbt(config.replace(total_timesteps=4 * 64), {"learning_rate": (1e-4, 1e-3)}, population=2,
                        ready_every=2, truncation=0.5, devices=[cpu] * 4, group_devices=0)
    assert counter.count == 0


# ------------------------------------------------------- 4 devices = 1 device ---
_FOUR_DEVICES = """
import json, re
import jax, numpy as np, ppo_jax

def gathers(fn, *args):  # all-gathers in the compiled program: none when every group stays local
    return len(re.findall(r"all-gather(-start)?\\(", jax.jit(fn).lower(*args).compile().as_text()))

def max_diff(a, b):
    return max(float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))

base = dict(env="CartPole-v1", num_envs=8, num_steps=16, num_minibatches=2, total_timesteps=8 * 16 * 4,
            hidden_sizes=(16,), normalize_observations=True, normalize_rewards=True, data_parallel=4)
out = {"devices": len(jax.devices())}
for net in ("mlp", "gru"):
    config = ppo_jax.PPOConfig(**base, network=net, rnn_size=8)
    key = jax.random.key(1)
    one = jax.jit(ppo_jax.make_train(config))(key)
    train4 = ppo_jax.make_train(config, devices=jax.devices())
    four = jax.jit(train4)(key)
    out[net] = {"params": max_diff(one.state.params, four.state.params),
                "metrics": max(max_diff(one.metrics[k], four.metrics[k]) for k in
                               ("policy_loss", "value_loss", "entropy", "approx_kl", "grad_norm")),
                "obs_stats": max_diff(one.state.obs_stats, four.state.obs_stats),
                "returns_equal": bool(np.array_equal(one.metrics["episode_return"], four.metrics["episode_return"],
                                                     equal_nan=True)),
                "env_spec": list(four.state.obs.sharding.spec), "params_spec": list(
                    jax.tree.leaves(four.state.params)[0].sharding.spec),
                "gathers": gathers(train4, key)}
# a chunked run on 4 devices, checkpointed and reloaded in between, equals the whole run on 1
config = ppo_jax.PPOConfig(**base, eval_every=2, eval_episodes=2)
trainer = ppo_jax.make_trainer(config, devices=jax.devices())
state, first = trainer.run(trainer.init(jax.random.key(2)), None, 2)
ppo_jax.save({path!r}, config, state)
saved_config, loaded = ppo_jax.load({path!r}, config)
state, rest = trainer.run(loaded, None, config.num_updates - 2)
whole = jax.jit(ppo_jax.make_train(config))(jax.random.key(2))
chunked = {k: np.concatenate([first[k], rest[k]]) for k in first}
out["resume"] = {"params": max_diff(whole.state.params, state.params),
                 "metrics": max(max_diff(whole.metrics[k], chunked[k]) for k in ("policy_loss", "value_loss")),
                 "eval_equal": bool(np.allclose(whole.metrics["eval_return"], chunked["eval_return"],
                                                equal_nan=True)),
                 "greedy_return": float(np.mean(ppo_jax.evaluate(config, state, jax.random.key(0), 4)))}
# 2 members x 2 groups: train_seeds, sweep and pbt on a (members x groups) mesh
config = ppo_jax.PPOConfig(**{**base, "data_parallel": 2})
a = ppo_jax.train_seeds(config, 2, seed=3)
b = ppo_jax.train_seeds(config, 2, seed=3, devices=jax.devices(), group_devices=2)
out["seeds"] = {"params": max_diff(a.state.params, b.state.params),
                "metrics": max_diff(a.metrics["policy_loss"], b.metrics["policy_loss"]),
                "env_spec": list(b.state.obs.sharding.spec), "mesh": dict(b.state.obs.sharding.mesh.shape)}
reports = []
hooked = ppo_jax.train_seeds(config.replace(eval_every=2, eval_episodes=2), 2, seed=3, devices=jax.devices(),
                             group_devices=2, progress=reports.append)
jax.block_until_ready(hooked)
jax.effects_barrier()  # the hook runs as a host callback: wait for the last one
out["progress"] = {"reports": len(reports), "agents": reports[-1].num_agents if reports else 0,
                   "evals": int(np.isfinite(np.asarray(hooked.metrics["eval_return"])).sum())}
grid = {"learning_rate": [1e-3, 3e-3]}
a = ppo_jax.sweep(config, grid, num_seeds=1, devices=jax.devices()[:1])
b = ppo_jax.sweep(config, grid, num_seeds=1, group_devices=2)
out["sweep"] = max_diff(a.metrics["policy_loss"], b.metrics["policy_loss"])
kw = dict(space={"learning_rate": (1e-4, 1e-2, "log")}, population=2, ready_every=2, truncation=0.5)
a = ppo_jax.pbt(config, devices=jax.devices()[:1], **kw)
b = ppo_jax.pbt(config, group_devices=2, **kw)
out["pbt"] = max(max_diff(a.metrics["policy_loss"], b.metrics["policy_loss"]),
                 max_diff(a.hparams["learning_rate"], b.hparams["learning_rate"]))
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def four_devices(tmp_path_factory) -> dict:
    path = str(tmp_path_factory.mktemp("data_parallel") / "checkpoint")
    return run_on_four_cpu_devices(_FOUR_DEVICES.replace("{path!r}", repr(path)))


@pytest.mark.parametrize("network", ["mlp", "gru"])
def test_four_devices_equal_one(four_devices, network):
    """One agent's 4 groups on 4 devices = the same config on 1 device (float32 rounding);
    the env arrays are split over the groups axis, the parameters replicated, and the
    compiled program gathers nothing (each group's rollout, GAE and minibatches stay local)."""
    info = four_devices[network]
    assert four_devices["devices"] == 4
    assert info["returns_equal"]  # the rollouts: identical
    assert info["params"] < 1e-5 and info["metrics"] < 1e-5 and info["obs_stats"] < 1e-5, info
    assert info["env_spec"] == ["groups"] and info["params_spec"] in ([], [None])
    assert info["gathers"] == 0


def test_checkpoint_resume_and_evaluation_work_unchanged_on_four_devices(four_devices):
    """A run in two chunks on 4 devices, saved and reloaded between them, equals the whole
    run on 1 device, evaluation during training included; the state evaluates as usual."""
    resume = four_devices["resume"]
    assert resume["params"] < 1e-5 and resume["metrics"] < 1e-5 and resume["eval_equal"], resume
    assert resume["greedy_return"] >= 1.0


def test_members_by_groups_mesh_equals_one_device(four_devices):
    """2 seeds x 2 groups on a 2 x 2 mesh (train_seeds, sweep, pbt) = one device."""
    seeds = four_devices["seeds"]
    assert seeds["mesh"] == {"population": 2, "groups": 2}
    assert seeds["env_spec"] == ["population", "groups"]
    assert seeds["params"] < 1e-5 and seeds["metrics"] < 1e-5, seeds
    assert four_devices["sweep"] < 1e-5 and four_devices["pbt"] < 1e-5, four_devices
    # a progress hook and evaluation during training on the mesh: one report per update
    assert four_devices["progress"] == {"reports": 4, "agents": 2, "evals": 4}, four_devices["progress"]
