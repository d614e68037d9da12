#!/usr/bin/env bash
# The preset searches behind ppo_jax.preset (issue 14): one scripts/sweep.py learning-rate
# sweep per env, 8 seeds (seed=0), at the budget of gymnax's baselines (gymnax-blines),
# starting from gymnax-blines' own settings for that env (2x64 relu MLPs; their constant lr
# is replaced by an annealed one). The best learning rate of each became the preset; the
# returns table then measures the preset on other seeds (scripts/returns_table.py --seed 1000),
# so its figures are not the winners of this search.
#
#   bash scripts/tune_presets.sh [ENV...]      # default: every env below
#
# Each search writes summary.csv, configs.json and learning_curves.png to
# scripts/results/tuning/<env>/ (its per-update sweep.csv stays in runs/tuning/).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
LRS=learning_rate=5e-4,1e-3,2.5e-3
BLINES=(--set activation=relu --set num_steps=32 --set num_minibatches=4 --set update_epochs=4)
declare -A ARGS=(
  [CartPole-v1]="--set total_timesteps=149760 --set num_envs=8"
  [MountainCar-v0]="--set total_timesteps=249856 --set num_envs=16 --set update_epochs=64 --set ent_coef=0.003 --set max_grad_norm=1.0"
  [MountainCarContinuous-v0]="--set total_timesteps=999424 --set num_envs=32 --set num_steps=16 --set max_grad_norm=1.0"
  [Catch-bsuite]="--set total_timesteps=99840 --set num_envs=16 --set max_grad_norm=1.0"
  [DeepSea-bsuite]="--set total_timesteps=149760 --set num_envs=8"
  [UmbrellaChain-bsuite]="--set total_timesteps=149760 --set num_envs=8"
  [DiscountingChain-bsuite]="--set total_timesteps=149760 --set num_envs=8"
  [SimpleBandit-bsuite]="--set total_timesteps=99840 --set num_envs=8"
  [FourRooms-misc]="--set total_timesteps=199680 --set num_envs=16 --set max_grad_norm=1.0"
  # second search: every first-search seed stayed at -200 (never reached the flag)
  [MountainCar-v0+obsnorm]="--set total_timesteps=249856 --set num_envs=16 --set update_epochs=64 --set max_grad_norm=1.0 --set normalize_observations=true --set ent_coef=0.01"
  # second search: every first-search seed learned to stand still (return about 0)
  [MountainCarContinuous-v0+norm]="--set total_timesteps=999424 --set num_envs=32 --set num_steps=16 --set max_grad_norm=1.0 --set normalize_observations=true --set normalize_rewards=true"
)
ORDER=(CartPole-v1 Catch-bsuite DeepSea-bsuite UmbrellaChain-bsuite DiscountingChain-bsuite
       SimpleBandit-bsuite FourRooms-misc MountainCar-v0 MountainCarContinuous-v0
       MountainCar-v0+obsnorm MountainCarContinuous-v0+norm)
for search in "${@:-${ORDER[@]}}"; do  # a search is ENV or ENV+NAME (a further search of ENV)
  [ -n "${ARGS[$search]+x}" ] || { echo "no search $search (searches: ${ORDER[*]})"; exit 2; }
  # shellcheck disable=SC2086
  "$PY" scripts/sweep.py --env "${search%%+*}" "${BLINES[@]}" ${ARGS[$search]} --grid "$LRS" \
      --num-seeds 8 --seed 0 --out "runs/tuning/$search"
  mkdir -p "scripts/results/tuning/$search"
  cp "runs/tuning/$search"/{summary.csv,configs.json,learning_curves.png} "scripts/results/tuning/$search/"
done
