#!/usr/bin/env bash
# FSDP through TrainingArguments (no accelerate config needed): shards FGMEncoderLayer blocks.
set -euo pipefail
torchrun --nnodes "${NNODES:-1}" --node_rank "${NODE_RANK:-0}" --nproc_per_node "${GPUS:-8}" \
  --master_addr "${MASTER_ADDR:-127.0.0.1}" --master_port "${MASTER_PORT:-29500}" \
  -m fgm.cli pretrain --corpus "${CORPUS:?set CORPUS}" --output-dir "${OUT:?set OUT}" --preset "${PRESET:-large}" \
  --seq-len "${SEQ_LEN:-16384}" --batch-size "${BATCH:-2}" --max-steps "${STEPS:-100000}" \
  --fsdp "full_shard auto_wrap" --gradient-checkpointing --resume "$@"
