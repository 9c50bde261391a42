#!/usr/bin/env bash
# Multi-GPU / multi-node with torchrun (DDP). Set NNODES, NODE_RANK, MASTER_ADDR on every node.
# Extra arguments are passed on: any `fgm pretrain` option, Trainer options included (e.g. --report_to wandb).
set -euo pipefail
torchrun --nnodes "${NNODES:-1}" --node_rank "${NODE_RANK:-0}" --nproc_per_node "${GPUS:-8}" \
  --master_addr "${MASTER_ADDR:-127.0.0.1}" --master_port "${MASTER_PORT:-29500}" \
  -m fgm.cli pretrain --corpus "${CORPUS:?set CORPUS}" --output_dir "${OUT:?set OUT}" --preset "${PRESET:-base}" \
  --max_length "${MAX_LENGTH:-4096}" --per_device_train_batch_size "${BATCH:-8}" --max_steps "${STEPS:-100000}" \
  --resume_from_checkpoint last "$@"
