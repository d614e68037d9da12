#!/usr/bin/env bash
# The GPU measurements of one lent H200 lease, as one command (see ../shared/gpu/README.md).
# Here, once:  bash ../shared/gpu/prepare.sh                  (wheels into .whl/, git-excluded)
# There:       bash scripts/gpu_measure.sh PHASE...            (device run, carry [".whl"])
#
# Phases run one after another, in the order given; each is stopped at the deadline.
#   bench        CartPole population scaling: scripts/benchmark.py, populations 1, 4096, 1024
#                and 64, one fresh process each (about 150 s on an H200).
#   mlp:GAME     gymnax-blines' MinAtar settings and budget (10M steps, 64 envs x 128 steps,
#                4 epochs x 8 minibatches, gamma 0.999, 2x256 relu MLP), learning rate 1e-3
#                and 2e-3 (annealed), 16 seeds, one vmapped sweep (ppo-jax sweep; about
#                75 s for Breakout on an H200, compile included).
#   cnn:GAME     the same with the CNN torso (one 3x3x16 convolution, then 256 relu).
#   table:GAME   the env's row of the returns table: scripts/returns_table.py --envs GAME
#                --num-seeds 16 (the preset; the row file comes back as GAME.json).
#   ablation-brax  the PPO paper's Table 1 on its seven MuJoCo tasks in Brax, 1M steps x 3
#                seeds (scripts/ablation.py --brax --brax-backend mjx; results to $OUT/ablation.tgz).
#                Needs Brax's wheels in .whl as well (untried on the device so far):
#                python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#                  --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl \
#                  brax==0.14.2 mujoco==4.0.1 mujoco-core==4.0.1 mujoco-mjx==3.17.0 trimesh etils \
#                  ml-collections jaxopt glfw pyopengl mujoco-studio dm-env
#                Budget it: 7 tasks x 4 objective compiles, and more than one lease.
#   dp-ref       data_parallel=1 against the code before it (5bf351b), CartPole preset, 1 and 8
#                seeds, 7 alternating rounds in one process (scripts/bench_layout.py; needs git
#                in the copy). Target: new / old <= 1.02. On CPU the programs are op for op the
#                same (scripts/results/data-parallel/hlo-5bf351b.json).
#   craftax100m  Craftax-Classic-Symbolic, the Craftax paper's PPO settings, 100M steps on one
#                GPU (scripts/bench_data_parallel.py craftax; goal: under 5 minutes). Needs
#                craftax's wheels in .whl: python3 -m pip download --no-deps --only-binary=:all:
#                --python-version 3.12 --platform manylinux2014_x86_64 -d .whl craftax==1.6.1
#                imageio pygame (craftax imports both; flax and matplotlib are in the base set).
#   dp-scaling   one Craftax agent of 1024 envs, data_parallel = the device count, on 1, 2, 4
#                and 8 GPUs (scripts/bench_data_parallel.py scaling): env steps/s per count.
#                Only meaningful on a machine with several GPUs.
#   suites:IDS   the new suites' presets at their full budgets, 4 seeds each (IDS: comma-separated,
#                e.g. suites:playground/CartpoleBalance,jumanji/Snake-v1,xminigrid/MiniGrid-Empty-8x8;
#                scripts/suite_returns.py; the rows come back as suites.tgz, to unpack into
#                scripts/results/suite-returns/rows/). Needs the suites' wheels in .whl:
#                python3 -m pip download --only-binary=:all: --python-version 3.12
#                --platform manylinux2014_x86_64 -d .whl playground==0.2.0 jumanji==1.1.2
#                xminigrid==0.9.3 (pip resolves their dependencies; drop what the machine has).
#   tests        a fast part of the test suite (about 115 s).
# Example, one lease:  bash scripts/gpu_measure.sh bench mlp:SpaceInvaders-MinAtar tests
# Run one phase at a time: on the H200 lent here, four sweeps as concurrent processes
# finished none in 400 s, and a second process could not open the device.
# Everything lands in $OUT (at most 8 files come back): gpu.txt, bench_gpu.jsonl, tests.log,
# and <phase>.tgz per sweep. Knobs for a dry run on a CPU: GPU_NO_WHEELS=1, GPU_BUDGET (steps
# per agent), GPU_SEEDS, GPU_DEADLINE_S (seconds from the start; default 540).
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"
start=$(date +%s)
deadline=$((start + ${GPU_DEADLINE_S:-540}))
left() { local s=$((deadline - $(date +%s))); echo $((s > 1 ? s : 1)); }

if [ "${GPU_NO_WHEELS:-0}" != 1 ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
fi
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null
  python3 -c "import jax; from importlib.metadata import version as v; print(*(f'{p} {v(p)}' for p in ('jax', 'jaxlib', 'flax', 'optax', 'gymnax', 'distrax'))); print(jax.devices())"
} 2>&1 | tee "$OUT/gpu.txt"

sweep() {  # sweep NAME GAME EXTRA...: one MinAtar sweep, packed into $OUT/NAME.tgz
  local name=$1 game=$2 dir=runs/gpu/$1 t
  shift 2
  mkdir -p "$dir"
  t=$(date +%s)
  timeout -k 10 "$(left)" python3 -m ppo_jax sweep --env "$game" --num-seeds "${GPU_SEEDS:-16}" \
      --grid learning_rate=1e-3,2e-3 --set total_timesteps="${GPU_BUDGET:-10000000}" \
      --set num_envs=64 --set num_steps=128 --set num_minibatches=8 --set update_epochs=4 \
      --set activation=relu --set gamma=0.999 --set gae_lambda=0.95 --set ent_coef=0.01 \
      --set vf_coef=0.5 --set max_grad_norm=0.5 "$@" --out "$dir" > "$dir/sweep.log" 2>&1
  echo "$name: rc $? after $(( $(date +%s) - t )) s" | tee -a "$OUT/gpu.txt"
  tail -4 "$dir/sweep.log" | tee -a "$OUT/gpu.txt"
  gzip -f "$dir/sweep.csv" 2>/dev/null
  tar czf "$OUT/${name//:/_}.tgz" -C runs/gpu "$name"
}

for phase in "$@"; do
  case $phase in
    bench)
      timeout -k 10 "$(left)" python3 scripts/benchmark.py --env CartPole-v1 --populations 1 4096 1024 64 \
          --repeats 1 --skip-sb3 --timeout 120 --out "$OUT/bench_gpu.jsonl" 2>&1 | tail -8 | tee -a "$OUT/gpu.txt" ;;
    mlp:*) sweep "$phase" "${phase#mlp:}" --set hidden_sizes=256x256 ;;
    cnn:*) sweep "$phase" "${phase#cnn:}" --set network=cnn --set hidden_sizes=256 ;;
    table:*)
      mkdir -p runs/gpu/returns
      timeout -k 10 "$(left)" python3 scripts/returns_table.py --envs "${phase#table:}" \
          --num-seeds "${GPU_SEEDS:-16}" --rows runs/gpu/returns 2>&1 | grep -v "^|" | tail -5 | tee -a "$OUT/gpu.txt"
      cp "runs/gpu/returns/${phase#table:}.json" "$OUT/" 2>/dev/null ;;
    ablation-brax)
      mkdir -p runs/gpu/ablation
      timeout -k 10 "$(left)" python3 scripts/ablation.py --brax --brax-backend mjx --resume \
          --out runs/gpu/ablation 2>&1 | tail -30 | tee -a "$OUT/gpu.txt"
      tar czf "$OUT/ablation.tgz" -C runs/gpu ablation ;;
    dp-ref)
      timeout -k 10 "$(left)" python3 scripts/bench_layout.py --ref 5bf351b --populations 1 8 \
          --repeats 7 --out "$OUT/dp_ref.jsonl" --no-manifest 2>&1 | tail -12 | tee -a "$OUT/gpu.txt" ;;
    craftax100m)
      timeout -k 10 "$(left)" python3 scripts/bench_data_parallel.py craftax --out "$OUT" \
          --no-manifest 2>&1 | tail -3 | tee -a "$OUT/gpu.txt" ;;
    dp-scaling)
      timeout -k 10 "$(left)" python3 scripts/bench_data_parallel.py scaling --out "$OUT" \
          --no-manifest 2>&1 | tail -8 | tee -a "$OUT/gpu.txt" ;;
    suites:*)
      ids=${phase#suites:}
      timeout -k 10 "$(left)" python3 scripts/suite_returns.py --envs ${ids//,/ } --num-seeds "${GPU_SEEDS:-4}" \
          2>&1 | tail -20 | tee -a "$OUT/gpu.txt"
      tar -czf "$OUT/suites.tgz" -C scripts/results/suite-returns rows ;;
    tests)
      timeout -k 10 "$(left)" python3 -m pytest -q -x -p no:cacheprovider -n 4 tests/test_gae.py \
          tests/test_loss.py tests/test_train.py tests/test_recurrent.py > "$OUT/tests.log" 2>&1
      echo "tests: rc $?" | tee -a "$OUT/tests.log"; tail -3 "$OUT/tests.log" ;;
    *) echo "unknown phase $phase (bench, mlp:GAME, cnn:GAME, table:ENV, ablation-brax, dp-ref, craftax100m, dp-scaling, suites:IDS, tests)"; exit 2 ;;
  esac
done
echo "total $(( $(date +%s) - start )) s" | tee -a "$OUT/gpu.txt"
