#!/usr/bin/env bash
# Every GPU check of FGM in one run sized for a short lease (9 to 11 minutes on an H100 / H200): the CUDA tests
# beside a small context study (flat `small` and U-Net `unet-small`, 1 kb and 8 kb of training context), then
# the GPU benchmark (training at 8k and 32k tokens against ModernBERT, 1 Mb forward and training step) and the
# U-Net's 1 Mb training step. Each phase has its own time limit, so one that hangs or fails costs only itself;
# logs and results land in $RESULTS (default runs/gpu_check). From the repository root, with fgm importable
# (installed, or PYTHONPATH=.) and the wheels of ../shared/GPU.md installed for flash-attn-4:
#   bash scripts/gpu_check.sh
set -uo pipefail
RESULTS=${RESULTS:-runs/gpu_check}
BACKEND=${BACKEND:-flash_attention_4}   # the FGM backend the benchmarks time
STUDY_BASES=${STUDY_BASES:-8m}
STUDY_FLAT=${STUDY_FLAT:-small} STUDY_UNET=${STUDY_UNET:-unet-small}  # the architectures the study compares
mkdir -p "$RESULTS"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
FGM="python3 -m fgm.cli"
phase() {  # phase NAME SECONDS COMMAND...: run with a limit, log to $RESULTS/NAME.log, record the outcome
  local name=$1 limit=$2 start=$SECONDS; shift 2
  timeout --kill-after=10 "$limit" "$@" > "$RESULTS/$name.log" 2>&1
  local rc=$?
  echo "$name: rc=$rc in $((SECONDS - start)) s (limit $limit s)" | tee -a "$RESULTS/phases.txt"
}

{ nvidia-smi; python3 -c "import torch, transformers; print(torch.__version__, torch.version.cuda, transformers.__version__)"
  python3 -c "import flash_attn.cute; print('flash-attn-4 imports')"; } > "$RESULTS/machine.txt" 2>&1

# 1. The CUDA tests, and beside them (all on the GPU; nothing here is timed) the study: one process per
#    architecture, then one over both that finds every model trained and scanned and writes the table.
phase tests 240 python3 -m pytest -q -rA --durations=10 tests/test_cuda.py tests/test_cuda_training.py &
tests=$!
study() {  # the same study each time, so the last call, over both presets, finds every model trained and scanned
  $FGM context-study --corpus "$RESULTS/study/corpus" --output_dir "$RESULTS/study" --presets "$1" \
    --train_contexts 1k,8k --eval_contexts 1k,4k,16k --bases "$STUDY_BASES" --bases_per_step 64k \
    --positions 500 --retrieval_distances 128,512,2k --retrieval_windows 50 --influence_positions 100 \
    --learning_rate 5e-4 --bf16 --attn_implementation sdpa --dataloader_num_workers 4 --report_to none
}
export -f study
export FGM RESULTS STUDY_BASES
phase corpus 30 $FGM corpus --output_dir "$RESULTS/study/corpus" --window 16k --val_chroms chrXV --test_chroms chrXVI
phase study_flat 150 bash -c "study $STUDY_FLAT" &
flat=$!
phase study_unet 150 bash -c "study $STUDY_UNET" &
unet=$!
wait $flat $unet
phase study 30 bash -c "study $STUDY_FLAT,$STUDY_UNET"
wait $tests

# 2. Timed, alone on the GPU, the targets first; BENCHES picks them (e.g. BENCHES="8k unet" after a run that
#    measured the others).
bench=benchmarks/bench_gpu.py
for b in ${BENCHES:-8k 1mb unet 32k}; do
  case $b in
    8k) phase bench_8k 200 python3 $bench --sections training --presets base --shapes 8192x4 --compiled-only \
          --fgm-backends "$BACKEND" --peers modernbert --warmup 3 --steps 5 --timeout 95 --out "$RESULTS/gpu_8k.md" ;;
    1mb) phase bench_1mb 120 python3 $bench --sections mb --peers "" --fgm-backends "$BACKEND" --warmup 1 \
          --timeout 60 --out "$RESULTS/gpu_1mb.md" ;;
    unet) phase bench_unet 90 python3 benchmarks/bench_hierarchical.py --device cuda --runs train:1000000 \
          --models unet --steps 2 --warmup 1 --timeout 85 --out "$RESULTS/unet_1mb.md" ;;
    32k) phase bench_32k 60 python3 $bench --sections training --presets base --shapes 32768x1 --no-compile \
          --fgm-backends "$BACKEND" --peers modernbert --warmup 2 --steps 5 --timeout 45 --out "$RESULTS/gpu_32k.md" ;;
    *) echo "unknown benchmark $b (8k, 1mb, unet, 32k)" >&2; exit 2 ;;
  esac
done
