"""Evaluate a trained checkpoint: deterministic and stochastic returns, and an optional GIF.

    ppo-jax evaluate runs/cartpole                      # every agent, 100 episodes each
    ppo-jax evaluate runs/cartpole --agent 3 --episodes 1000
    ppo-jax evaluate runs/cartpole --gif runs/cartpole/episode.gif

DIR is an output folder of `ppo-jax train` (its `checkpoint/` is used) or a
checkpoint folder written by `ppo_jax.save`. Returns are undiscounted, whole
episodes (until termination or truncation), with the observation
normalization stored in the checkpoint. For a population every agent (or
`--agent I`) plays `--episodes` episodes; statistics are over all of them,
plus the spread of the per-agent means. The results are also written as JSON.

GIFs: CartPole, Acrobot, Pendulum and MountainCar (drawn here with
matplotlib), gymnax's own visualizer for Catch, the MinAtar games,
PointRobot, MetaMaze, FourRooms and Pong, and every env of the other suites
through its env's `render(state)` (a uint8 RGB image): Navix's grid, Craftax's
pixel view, and a stick figure of a Brax body.
"""

from __future__ import annotations

import argparse
import json
import os

import jax
import numpy as np

from ppo_jax.cli.common import UsageError
from ppo_jax.envs.adapters import ProtocolAdapter, make_env

NAME = "evaluate"
HELP = "evaluate a trained checkpoint (deterministic and stochastic returns), optionally as a GIF"

GYMNAX_DRAWN = ("Catch-bsuite", "Asterix-MinAtar", "Breakout-MinAtar", "Freeway-MinAtar",
                "Seaquest-MinAtar", "SpaceInvaders-MinAtar", "Pong-misc", "PointRobot-misc",
                "MetaMaze-misc", "FourRooms-misc")
DRAWN_HERE = ("CartPole-v1", "MaskedCartPole-v1", "Acrobot-v1", "Pendulum-v1", "MountainCar-v0",
              "MountainCarContinuous-v0")


def checkpoint_dir(path: str) -> str:
    sub = os.path.join(path, "checkpoint")
    return sub if os.path.isdir(sub) else path


def default_json_path(path: str) -> str:
    """DIR/evaluation.json for an output folder; beside a bare checkpoint folder otherwise."""
    if os.path.isdir(os.path.join(path, "checkpoint")):
        return os.path.join(path, "evaluation.json")
    return os.path.normpath(path) + "_evaluation.json"


def stats(returns: np.ndarray) -> dict:
    """returns [num_agents, num_episodes] -> mean, std, min, max over all episodes, and per agent."""
    per_agent = returns.mean(axis=1)
    return {
        "mean": float(returns.mean()), "std": float(returns.std()),
        "min": float(returns.min()), "max": float(returns.max()),
        "num_agents": int(returns.shape[0]), "episodes_per_agent": int(returns.shape[1]),
        "agent_means": [float(x) for x in per_agent],
    }


def evaluate_population(config, states, key, num_episodes: int) -> dict[str, np.ndarray]:
    """states: leaves [num_agents, ...] -> {"deterministic", "stochastic"}: [num_agents, num_episodes].

    Both policies in one compiled program; each agent gets its own keys.
    """
    def both(states, key):
        det_keys, sto_keys = jax.random.split(key, (2, states.update_step.shape[0]))
        from ppo_jax.evaluate import evaluate

        run = lambda deterministic: jax.vmap(lambda s, k: evaluate(
            config, s, k, num_episodes=num_episodes, deterministic=deterministic))
        return {"deterministic": run(True)(states, det_keys), "stochastic": run(False)(states, sto_keys)}

    return {k: np.asarray(v) for k, v in jax.jit(both)(states, key).items()}


def record_episode(config, state, key, max_steps: int, deterministic: bool = True):
    """One episode of a single agent: (list of env states, cumulative rewards).

    gymnax envs give their gymnax states; the other suites (protocol envs) the
    states their `render` draws.
    """
    from ppo_jax.evaluate import make_policy

    adapter = make_env(config.env)
    protocol = isinstance(adapter, ProtocolAdapter)
    act = make_policy(config, state, deterministic=deterministic)

    def env_step(step_key, env_state, action):
        action = adapter.env_action(action)  # Box: the policy's [-1, 1] onto the env's bounds
        if protocol:
            out = adapter.env.step(step_key, env_state, action)
            return out.obs, out.state, out.reward, out.terminated | out.truncated
        obs, env_state, reward, terminated, truncated, _ = adapter.env.step(
            step_key, env_state, action, adapter.env_params)
        return obs, env_state, reward, terminated | truncated

    def step(carry, _):
        key, env_state, obs, memory = carry
        key, act_key, step_key = jax.random.split(key, 3)
        if config.recurrent:  # a stateful policy: act(key, obs, carry) -> (action, carry)
            action, memory = act(act_key, obs, memory)
        else:
            action = act(act_key, obs)
        obs_next, next_state, reward, done = env_step(step_key, env_state, action)
        return (key, next_state, obs_next, memory), (env_state, reward, done)

    key, reset_key = jax.random.split(key)
    if protocol:
        obs, env_state = adapter.env.reset(reset_key)
    else:
        obs, env_state = adapter.env.reset(reset_key, adapter.env_params)
    memory = act.initial_carry() if config.recurrent else None
    _, (states, rewards, dones) = jax.jit(
        lambda c: jax.lax.scan(step, c, None, length=max_steps))((key, env_state, obs, memory))
    dones = np.asarray(dones)
    length = int(np.argmax(dones)) + 1 if dones.any() else max_steps
    frames = [jax.tree.map(lambda x, t=t: x[t], states) for t in range(length)]
    return frames, np.cumsum(np.asarray(rewards)[:length])


def _draw_frame(ax, name: str, s, params) -> None:
    from matplotlib.patches import Rectangle

    ax.clear()
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if name in ("CartPole-v1", "MaskedCartPole-v1"):
        x, theta = float(s.x), float(s.theta)
        limit = float(params.x_threshold)
        ax.set_xlim(-limit - 0.5, limit + 0.5)
        ax.set_ylim(-0.6, 1.6)
        ax.plot([-limit, limit], [0, 0], color="0.4", lw=1)
        ax.add_patch(Rectangle((x - 0.25, -0.07), 0.5, 0.25, color="0.25"))
        pole = 2 * float(params.length)
        ax.plot([x, x + pole * np.sin(theta)], [0.1, 0.1 + pole * np.cos(theta)], color="#c8743c", lw=6,
                solid_capstyle="round")
    elif name == "Pendulum-v1":
        theta = float(s.theta)
        ax.set_xlim(-1.3, 1.3)
        ax.set_ylim(-1.3, 1.3)
        ax.plot([0, np.sin(theta)], [0, np.cos(theta)], color="#c8743c", lw=8, solid_capstyle="round")
        ax.plot([0], [0], "o", color="0.2")
    elif name == "Acrobot-v1":
        a1, a2 = float(s.joint_angle1), float(s.joint_angle2)
        l1, l2 = float(params.link_length_1), float(params.link_length_2)
        p1 = np.array([l1 * np.sin(a1), -l1 * np.cos(a1)])
        p2 = p1 + np.array([l2 * np.sin(a1 + a2), -l2 * np.cos(a1 + a2)])
        ax.set_xlim(-2.2, 2.2)
        ax.set_ylim(-2.2, 2.2)
        ax.axhline(1.0, color="0.5", lw=1, ls="--")
        ax.plot([0, p1[0], p2[0]], [0, p1[1], p2[1]], color="#3c78c8", lw=6, marker="o",
                solid_capstyle="round")
    else:  # MountainCar-v0, MountainCarContinuous-v0
        xs = np.linspace(float(params.min_position), float(params.max_position), 200)
        height = lambda p: np.sin(3 * p) * 0.45 + 0.55
        ax.set_xlim(xs[0], xs[-1])
        ax.set_ylim(0, 1.2)
        ax.plot(xs, height(xs), color="0.3")
        goal = float(params.goal_position)
        ax.plot([goal, goal], [height(goal), height(goal) + 0.15], color="#c83c3c", lw=2)
        ax.plot([float(s.position)], [height(float(s.position)) + 0.03], "o", ms=14, color="#3c78c8")


def save_animation(fig, update, num_frames: int, path: str) -> str:
    """update(t) draws frame t on fig; saves the frames as a 25 fps GIF at path."""
    import matplotlib.pyplot as plt
    from matplotlib import animation

    anim = animation.FuncAnimation(fig, update, frames=num_frames, interval=40)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    anim.save(path, writer=animation.PillowWriter(fps=25))
    plt.close(fig)
    return path


def write_gif(config, frames, cum_rewards, path: str) -> str:
    """Animates an episode's env states into a GIF at path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    adapter = make_env(config.env)
    if isinstance(adapter, ProtocolAdapter):
        return write_rendered_gif(config.env, adapter.env, frames, cum_rewards, path)
    name = adapter.env.name
    if name in GYMNAX_DRAWN:
        from gymnax.visualize import Visualizer

        Visualizer(adapter.env, adapter.env_params, frames, cum_rewards).animate(path)
        return path
    if name not in DRAWN_HERE:
        raise UsageError(f"cannot draw {name}; drawable envs: {', '.join(DRAWN_HERE + GYMNAX_DRAWN)}")
    wide = name in ("CartPole-v1", "MaskedCartPole-v1")
    fig, ax = plt.subplots(figsize=(6, 3) if wide else (4.5, 4.5), layout="constrained")

    def update(t):
        _draw_frame(ax, name, frames[t], adapter.env_params)
        ax.set_title(f"{name}  step {t + 1}  return {cum_rewards[t]:.1f}", fontsize=10)

    return save_animation(fig, update, len(frames), path)


def write_rendered_gif(title: str, env, frames, cum_rewards, path: str) -> str:
    """Animates the frames an env's `render(state)` draws (uint8 RGB images) into a GIF."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stacked = jax.tree.map(lambda *leaves: jax.numpy.stack(leaves), *frames)
    images = np.asarray(jax.jit(jax.vmap(env.render))(stacked))
    fig, ax = plt.subplots(figsize=(4.5, 4.8), layout="constrained")
    ax.set_xticks([])
    ax.set_yticks([])
    shown = ax.imshow(images[0], interpolation="nearest")  # small grids stay crisp

    def update(t):
        shown.set_data(images[t])
        ax.set_title(f"{title}  step {t + 1}  return {cum_rewards[t]:.2f}", fontsize=9)

    return save_animation(fig, update, len(images), path)


def check_drawable(env_id: str) -> None:
    """Exits with the drawable envs unless `env_id`'s episodes can be drawn (before compiling)."""
    adapter = make_env(env_id)
    if isinstance(adapter, ProtocolAdapter):
        if not callable(getattr(adapter.env, "render", None)):
            raise UsageError(f"cannot draw {env_id}: its env has no render(state) -> uint8 [H, W, 3]")
        return
    if adapter.env.name not in DRAWN_HERE + GYMNAX_DRAWN:
        raise UsageError(f"cannot draw {adapter.env.name}; drawable envs: "
                         f"{', '.join(DRAWN_HERE + GYMNAX_DRAWN)}, and brax/, navix/ and craftax/ ids")


def add_arguments(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    parser.add_argument("dir", metavar="DIR",
                        help="output folder of `ppo-jax train` or a checkpoint folder")
    parser.add_argument("--episodes", type=int, default=100, help="episodes per agent (default: 100)")
    parser.add_argument("--agent", type=int, default=None,
                        help="evaluate only agent I of a population (default: every agent)")
    parser.add_argument("--seed", type=int, default=0, help="evaluation seed (default: 0)")
    parser.add_argument("--gif", default=None, metavar="PATH", help="write an animated GIF of one episode")
    parser.add_argument("--gif-agent", type=int, default=None,
                        help="agent shown in the GIF (default: the best deterministic agent)")
    parser.add_argument("--gif-stochastic", action="store_true", help="sample actions in the GIF episode")
    parser.add_argument("--max-frames", type=int, default=500, help="GIF length cap (default: 500)")
    parser.add_argument("--json", default=None, metavar="PATH",
                        help="where to write the results (default: DIR/evaluation.json)")


def run(args: argparse.Namespace, argv: list[str]) -> dict:
    """Evaluates the checkpoint in args.dir; prints a table, writes the JSON (and GIF); returns
    the results."""
    from ppo_jax.checkpoint import CheckpointError, load

    if args.episodes <= 0:
        raise UsageError(f"--episodes must be positive, got {args.episodes}")
    if args.max_frames <= 0:
        raise UsageError(f"--max-frames must be positive, got {args.max_frames}")
    try:
        config, state = load(checkpoint_dir(args.dir))
    except CheckpointError as err:
        raise UsageError(str(err)) from err
    if args.gif:
        check_drawable(config.env)
    if state.update_step.ndim == 0:  # one agent: make it a population of one
        state = jax.tree.map(lambda x: x[None], state)
    if state.update_step.ndim != 1:
        raise UsageError(f"expected one agent or a population [num_seeds], got batch shape "
                         f"{state.update_step.shape}")
    num_agents = state.update_step.shape[0]
    agents = list(range(num_agents)) if args.agent is None else [args.agent]
    if any(not 0 <= a < num_agents for a in agents):
        raise UsageError(f"--agent {args.agent} out of range: the checkpoint holds {num_agents} agents "
                         f"(0 to {num_agents - 1})")
    if args.gif_agent is not None and not 0 <= args.gif_agent < num_agents:
        raise UsageError(f"--gif-agent {args.gif_agent} out of range: the checkpoint holds "
                         f"{num_agents} agents (0 to {num_agents - 1})")
    chosen = jax.tree.map(lambda x: x[np.asarray(agents)], state)
    eval_key, gif_key = jax.random.split(jax.random.key(args.seed))
    returns = evaluate_population(config, chosen, eval_key, args.episodes)
    results = {
        "env": config.env, "agents": agents, "update_step": int(np.max(np.asarray(state.update_step))),
        **{mode: stats(r) for mode, r in returns.items()},
    }
    print(f"{config.env}: {len(agents)} agent(s) x {args.episodes} episodes, after "
          f"{results['update_step']} updates")
    print(f"{'policy':<14}{'mean':>9}{'std':>9}{'min':>9}{'max':>9}   agent means (worst..best)")
    for mode in ("deterministic", "stochastic"):
        r = results[mode]
        print(f"{mode:<14}{r['mean']:>9.1f}{r['std']:>9.1f}{r['min']:>9.1f}{r['max']:>9.1f}   "
              f"{min(r['agent_means']):.1f}..{max(r['agent_means']):.1f}")
    if args.gif:
        best = agents[int(np.argmax(results["deterministic"]["agent_means"]))]
        agent = best if args.gif_agent is None else args.gif_agent
        single = jax.tree.map(lambda x: x[agent], state)
        frames, cum = record_episode(config, single, gif_key, args.max_frames, not args.gif_stochastic)
        write_gif(config, frames, cum, args.gif)
        results["gif"] = {"path": args.gif, "agent": agent, "frames": len(frames), "return": float(cum[-1])}
        print(f"wrote {args.gif} (agent {agent}, {len(frames)} steps, return {cum[-1]:.1f})")
    json_path = args.json or default_json_path(args.dir)
    with open(json_path, "w") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {json_path}")
    return results
