#!/usr/bin/env bash
# FSDP through TrainingArguments (no accelerate config needed): shards the model's FGMEncoderLayer blocks
# (its `_no_split_modules`, the wrap policy's default).
set -euo pipefail
torchrun --nnodes "${NNODES:-1}" --node_rank "${NODE_RANK:-0}" --nproc_per_node "${GPUS:-8}" \
  --master_addr "${MASTER_ADDR:-127.0.0.1}" --master_port "${MASTER_PORT:-29500}" \
  -m fgm.cli pretrain --corpus "${CORPUS:?set CORPUS}" --output_dir "${OUT:?set OUT}" --preset "${PRESET:-large}" \
  --max_length "${MAX_LENGTH:-16384}" --per_device_train_batch_size "${BATCH:-2}" --max_steps "${STEPS:-100000}" \
  --fsdp "full_shard auto_wrap" --activation_checkpointing --resume_from_checkpoint last "$@"
