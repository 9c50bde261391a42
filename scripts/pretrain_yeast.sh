#!/usr/bin/env bash
# Single machine: build the bundled yeast corpus and pretrain FGM-small on it.
# More GPUs: replace `fgm` with `accelerate launch --config_file scripts/accelerate/ddp_8gpu.yaml -m fgm.cli`
# or `torchrun --nproc_per_node 8 -m fgm.cli` (same arguments, no code change).
set -euo pipefail
OUT=${OUT:-runs/yeast-small}
fgm corpus --output_dir "$OUT/corpus" --window 6000 --val-chroms chrXV --test-chroms chrXVI --overwrite
fgm pretrain --corpus "$OUT/corpus" --output_dir "$OUT/model" --preset small --max_length 1000 \
  --max_steps "${STEPS:-20000}" --per_device_train_batch_size "${BATCH:-16}" --learning_rate 5e-4 \
  --resume_from_checkpoint last "$@"
