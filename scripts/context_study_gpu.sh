#!/usr/bin/env bash
# The long-context study at GPU scale, up to 1 Mb: flat FGM `base` (6-mers) and the single-base U-Net `unet-base`
# trained at 1 kb, 8 kb, 64 kb and 1 Mb of context on the same base budget, each scanned from 1 kb to 1 Mb on the
# held-out chromosomes (with the Markov baselines, the copy oracle and the repeat strata), measured with the
# retrieval benchmark and the influence curve, and scored on the yeast VEP set. Needs a genome with chromosomes of 1 Mb or more (GENOME), a CUDA GPU (bf16,
# flash-attn-4 or flash-attn; see README "Attention"), ~30 GB of GPU memory at 1 Mb with activation checkpointing.
# Extra arguments go to `fgm context-study` (any `fgm pretrain` model or Trainer option).
set -euo pipefail
GENOME=${GENOME:?set GENOME to a FASTA with chromosomes longer than 1 Mb}
OUT=${OUT:-runs/context_study_gpu}
fgm corpus --genome "$GENOME" --output_dir "$OUT/corpus" --window 1m --stride 500k --min_window 1m \
  --val_chroms "${VAL_CHROMS:?set VAL_CHROMS}" --test_chroms "${TEST_CHROMS:?set TEST_CHROMS}" --max_n_frac 0.05
fgm context-study --corpus "$OUT/corpus" --output_dir "$OUT" \
  --train_contexts 1k,8k,64k,1m --eval_contexts 1k,8k,64k,256k,1m --bases "${BASES:-12000m}" \
  --bases_per_step 6m --positions 5000 --presets "${PRESETS:-base,unet-base}" --kmer_size 6 --config_overrides '{}' \
  --learning_rate 5e-4 --bf16 --activation_checkpointing --torch_compile --dataloader_num_workers 4 \
  --vep yeast_stop_vs_synonymous "$@"
