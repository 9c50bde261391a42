#!/usr/bin/env bash
# Streamed against in-memory pretraining (README "Streaming"; issue 26): `fgm demo`'s model and settings for 1,000
# steps on the same 1,200-base windows of yeast, read from Parquet shards with --streaming (seed 0) and from the
# in-memory corpus (seeds 0 and 1: the seed-to-seed spread), then the three final models evaluated on the same
# validation windows with the same masks (benchmarks/stream_curve_eval.py). About 15 minutes a run on 2 cores.
set -euo pipefail
fgm corpus --output_dir runs/curve/arrow --window 1200 --val_chroms chrXV --test_chroms chrXVI --overwrite --quiet
fgm corpus --output_dir runs/curve/shards --window 1200 --val_chroms chrXV --test_chroms chrXVI --format shards \
  --overwrite --quiet
COMMON="--preset demo --kmer_size 1 --max_length 200 --mlm_probability 0.3 --learning_rate 1e-3
  --per_device_train_batch_size 16 --max_steps 1000 --eval_steps 250 --save_steps 1000 --logging_steps 50
  --disable_tqdm true --report_to none"
fgm pretrain --corpus runs/curve/arrow --output_dir runs/curve/model_arrow $COMMON --seed 0
fgm pretrain --corpus runs/curve/arrow --output_dir runs/curve/model_arrow_seed1 $COMMON --seed 1
fgm pretrain --corpus runs/curve/shards --streaming --output_dir runs/curve/model_stream $COMMON --seed 0
python benchmarks/stream_curve_eval.py
