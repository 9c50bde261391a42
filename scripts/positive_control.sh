#!/usr/bin/env bash
# The positive control (README "Does long context help?"): a model that copies across kilobases, trained on a
# 2-core CPU in under 30 minutes, then measured by every long-context instrument.
#
#   scripts/positive_control.sh OUTPUT_DIR            # copy-planting recipe -> OUTPUT_DIR/model
#   scripts/positive_control.sh OUTPUT_DIR --natural  # the same recipe without planting (the twin to compare with)
#
# Model: flat, single bases (k = 1: a copy at any distance is the same tokens, which 6-mers give only at distances
# divisible by 6), two layers (sliding, full) 64 wide, and a 15-token convolution over the embeddings
# (token_conv_kernel), so that each base's input holds the 7 bases on either side, the key attention finds the copy by.
# Training: yeast's training chromosomes (chrXV validation, chrXVI test), every window with a 32-base segment of
# other training sequence written twice; the windows grow 96 -> 256 -> 1,536 bases (--max_length_schedule) and
# with them the copies' distances (32 up to the window less the segment: the distance curriculum), 5,000 steps of 16
# windows. Then, on held-out sequence (Drosophila chr4, never trained on; yeast chrXVI): `fgm benchmark retrieval`
# (both controls, distances inside and beyond the 1.5 kb context), `fgm context-influence` and `fgm context-scan`
# with the repeat strata. Resumable: run it again to continue. MEASURE=0 trains only.
set -euo pipefail
OUT=${1:?usage: scripts/positive_control.sh OUTPUT_DIR [--natural]}
PLANTING=(--plant_rate 1 --plant_length 32)
[[ "${2:-}" == "--natural" ]] && PLANTING=(--plant_rate 0)
DMEL=data/genomes/drosophila_chr4/DmelanDM6_4.fna.gz

[[ -d "$OUT/corpus" ]] || fgm corpus --output_dir "$OUT/corpus" --window 4096 --val_chroms chrXV --test_chroms chrXVI
SECONDS=0
fgm pretrain --corpus "$OUT/corpus" --output_dir "$OUT/model" --resume_from_checkpoint last \
  --preset demo --kmer_size 1 --attn_implementation sdpa --config_overrides '{"num_hidden_layers": 2,
  "hidden_size": 64, "num_attention_heads": 2, "intermediate_size": 160, "token_conv_kernel": 15,
  "layer_types": ["sliding_attention", "full_attention"]}' \
  --max_length 1537 --max_length_schedule 97:0.55,257:0.85 --max_steps 5000 --per_device_train_batch_size 16 \
  --learning_rate 3e-3 --warmup_steps 0.02 --mlm_probability 0.3 "${PLANTING[@]}" \
  --eval_steps 100000 --save_steps 500 --logging_steps 100 --max_eval_samples 64
echo "training: ${SECONDS} s"
[[ "${MEASURE:-1}" == 0 ]] && exit 0

MODEL="$OUT/model"
for control in other shuffled; do
  fgm benchmark retrieval --model "$MODEL" --genome "$DMEL" --distances 32,128,512,1k,2k,4k --control $control \
    --output_dir "$OUT/retrieval_dmel4_$control" --quiet
done
fgm benchmark retrieval --model "$MODEL" --distances 32,128,512,1k,2k,4k --output_dir "$OUT/retrieval_yeast" --quiet
fgm context-influence --model "$MODEL" --genome "$DMEL" --output_dir "$OUT/influence_dmel4" --quiet
fgm context-scan --model "$MODEL" --genome "$DMEL" --contexts 128,512,1536 --positions 4000 \
  --output_dir "$OUT/scan_dmel4" --quiet
