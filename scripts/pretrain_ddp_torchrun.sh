#!/usr/bin/env bash
# Multi-GPU / multi-node with torchrun (DDP). Set NNODES, NODE_RANK, MASTER_ADDR on every node.
set -euo pipefail
torchrun --nnodes "${NNODES:-1}" --node_rank "${NODE_RANK:-0}" --nproc_per_node "${GPUS:-8}" \
  --master_addr "${MASTER_ADDR:-127.0.0.1}" --master_port "${MASTER_PORT:-29500}" \
  -m fgm.cli pretrain --corpus "${CORPUS:?set CORPUS}" --output-dir "${OUT:?set OUT}" --preset "${PRESET:-base}" \
  --seq-len "${SEQ_LEN:-4096}" --batch-size "${BATCH:-8}" --max-steps "${STEPS:-100000}" --resume "$@"
