#!/usr/bin/env python
"""The single-base U-Net FGM against flat FGM of the same parameter count, per base of DNA.

Models (attention backend `sdpa` on the CPU, the default backend on a GPU):
  unet   FGMForMaskedLM, preset `unet-small` (CPU) / `unet-base` (GPU): single bases, 7 stages, the trunk at
         one token per 128 bases
  flat   FGMForMaskedLM, preset `small` / `base` (6-mers, 2 sliding layers then 1 full), its SwiGLU width
         raised so that the whole model has the U-Net's parameter count (within 2%)

Per (model, mode, length in bases), in a child process of its own (`harness.py`: peak memory per
configuration, under a memory cap and a time limit):
  train   zero_grad, forward with MLM labels (15% of the bases' tokens masked), backward, AdamW step; batch 1
  infer   the encoder's forward pass (`model.model`, no labels) under torch.no_grad()
One warm-up step, then the median of the timed steps. Reported: bases/s, s/step, peak RSS (CPU) or peak CUDA
memory (GPU), and U-Net / flat speed ratios. On a GPU (`--device cuda`) the runs are bf16 autocast with
gradient checkpointing for training (`--gpu` picks the GPU configurations: a 1 Mb training step of `base`).

Usage:
  python benchmarks/bench_hierarchical.py --out benchmarks/results_hierarchical.md
  python benchmarks/bench_hierarchical.py --device cuda --gpu --out benchmarks/results_hierarchical_gpu.md
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from harness import child_result, current_rss_bytes, machine_info, run_isolated, timed_steps
from peers import REPO, fgm_source_hash

CPU_RUNS = [("train", 6_000), ("train", 24_000), ("train", 96_000), ("infer", 96_000), ("infer", 1_000_000)]
GPU_RUNS = [("train", 96_000), ("train", 1_000_000), ("infer", 1_000_000)]
PRESETS = {"cpu": {"unet": "unet-small", "flat": "small"}, "cuda": {"unet": "unet-base", "flat": "base"}}


# ------------------------------------------------------------------------------------------------
# Child: one model, one mode, one length.
# ------------------------------------------------------------------------------------------------


def build(name: str, device: str):
    """The model `name` for `device`: the U-Net preset, or the flat preset with the U-Net's parameter count (its
    SwiGLU width raised: each unit of width adds 3 x hidden parameters per layer)."""
    sys.path.insert(0, str(REPO))
    from fgm import FGMConfig, FGMForMaskedLM

    unet = FGMForMaskedLM(FGMConfig.preset(PRESETS[device]["unet"]))
    if name == "unet":
        return unet
    flat = FGMConfig.preset(PRESETS[device]["flat"])
    missing = sum(p.numel() for p in unet.parameters()) - sum(p.numel() for p in FGMForMaskedLM(flat).parameters())
    extra = round(missing / (3 * flat.hidden_size * flat.num_hidden_layers) / 64) * 64
    return FGMForMaskedLM(FGMConfig.preset(PRESETS[device]["flat"], intermediate_size=flat.intermediate_size + extra))


def make_inputs(model, bases: int, seed: int = 0):
    """<cls> + random nucleotide tokens covering `bases` bases (single bases or 6-mers), 15% masked and labelled."""
    import torch

    k = model.config.kmer_size
    generator = torch.Generator().manual_seed(seed)
    tokens = bases // k
    ids = torch.randint(6, 6 + 4**k, (1, tokens + 1), generator=generator)
    ids[:, 0] = 3
    labels = torch.full_like(ids, -100)
    chosen = torch.randperm(tokens, generator=generator)[: round(0.15 * tokens)] + 1
    labels[0, chosen] = ids[0, chosen]
    ids[0, chosen] = 2
    return ids, labels


def run_child(args) -> None:
    import torch

    torch.set_num_threads(args.threads or torch.get_num_threads())
    device = torch.device(args.device)
    model = build(args.model, args.device).to(device)
    model.set_attn_implementation("sdpa" if args.device == "cpu" else None)
    params = sum(p.numel() for p in model.parameters())
    ids, labels = (t.to(device) for t in make_inputs(model, args.length))
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    if args.mode == "train":
        model.train()
        if device.type == "cuda":
            model.gradient_checkpointing_enable()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def step():
            optimizer.zero_grad(set_to_none=True)
            with autocast:
                loss = model(input_ids=ids, labels=labels).loss
            loss.backward()
            optimizer.step()
            synchronize()
            return float(loss.detach())
    else:
        model.eval()

        def step():
            with torch.no_grad(), autocast:
                hidden = model.model(input_ids=ids).last_hidden_state
            synchronize()
            return float(hidden[0, 0, 0])

    def synchronize():
        if device.type == "cuda":
            torch.cuda.synchronize()

    rss_model = current_rss_bytes()
    timing = timed_steps(step, args)
    if timing is None:  # out of memory, reported
        return
    cuda_peak = torch.cuda.max_memory_allocated() if device.type == "cuda" else None
    child_result(timing, params=params, tokens=ids.shape[1], threads=torch.get_num_threads(), rss_model=rss_model,
                 cuda_peak=cuda_peak)


# ------------------------------------------------------------------------------------------------
# Parent: every configuration, then the table.
# ------------------------------------------------------------------------------------------------


def size_label(bases: int) -> str:
    return f"{bases // 1_000_000} Mb" if bases % 1_000_000 == 0 else f"{bases // 1000} kb"


def render(results: list[dict], args, info: dict, command: str, total_s: float) -> str:
    by = {(r["model"], r["mode"], r["length"]): r for r in results}
    memory = "peak CUDA memory (GB)" if args.device == "cuda" else "peak RSS (GB)"
    lines = [
        f"# U-Net FGM vs. flat FGM of the same parameter count ({args.device.upper()})",
        "",
        "Generated by `benchmarks/bench_hierarchical.py` (see its docstring). Command:",
        "",
        "```",
        command,
        "```",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores (torch threads: {args.threads or info['torch_threads']}), "
        f"{info['ram_gib']:.0f} GiB RAM; Python {info['python']}, torch {info['torch']}, transformers "
        f"{info['transformers']}; {info['date']}; whole run {total_s / 60:.0f} min; FGM code sha256 "
        f"{info['fgm_source_sha256']}.",
        "",
        f"Models: U-Net `{PRESETS[args.device]['unet']}` and flat `{PRESETS[args.device]['flat']}` with its SwiGLU "
        "width matched to the U-Net's parameter count (parameters in the table). Batch 1; train = forward with MLM "
        "labels + backward + AdamW step; infer = the encoder's forward pass without gradients. "
        f"{args.warmup} warm-up step(s), then the median of {args.steps} timed step(s). "
        "Other cores = CPU cores other processes used during the timed steps (a shared machine is noisy).",
        "",
        f"| mode | length | model | parameters | tokens | s/step | bases/s | {memory} | U-Net / flat speed | other cores |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for mode, length in runs_of(args):
        unet = by.get(("unet", mode, length))
        for name in ("unet", "flat"):
            r = by.get((name, mode, length))
            if r is None:
                continue
            if r["status"] != "ok":
                lines.append(f"| {mode} | {size_label(length)} | {name} | | | {r['status']} | | "
                             f"{r['peak_rss_observed'] / 1e9:.2f} (seen) | | |")
                continue
            seconds = statistics.median(r["times"])
            peak = r["cuda_peak"] if args.device == "cuda" else r["peak_rss"]
            ratio = ""
            if name == "flat" and unet is not None and unet["status"] == "ok":
                ratio = f"{seconds / statistics.median(unet['times']):.2f}x"
            elif name == "flat" and unet is not None:
                ratio = "(U-Net did not run)"
            lines.append(f"| {mode} | {size_label(length)} | {name} | {r['params'] / 1e6:.1f}M | {r['tokens']:,} | "
                         f"{seconds:.2f} | {length / seconds:,.0f} | {peak / 1e9:.2f} | {ratio} | "
                         f"{statistics.mean(r['others_cores']):.2f} |")
    lines += ["", *[f"- {note}" for note in args.notes], "", "Raw results:", "", "```json",
              *[json.dumps(r, sort_keys=True) for r in results], "```", ""]
    return "\n".join(lines)


def runs_of(args) -> list[tuple[str, int]]:
    if args.runs:
        return [(mode, int(float(length))) for mode, length in (run.split(":") for run in args.runs)]
    return GPU_RUNS if args.gpu else CPU_RUNS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="markdown file to write (default: print the table)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--gpu", action="store_true", help="the GPU configurations (1 Mb training step)")
    parser.add_argument("--runs", nargs="+", help="MODE:BASES pairs instead of the defaults, e.g. train:6000 infer:1e6")
    parser.add_argument("--models", default="unet,flat")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per run (default 2)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads in the runs (default: torch's)")
    parser.add_argument("--mem-cap-gb", type=float, default=20.0, help="RSS cap per run, GiB (default 20)")
    parser.add_argument("--address-slack-gb", type=float, default=8.0)
    parser.add_argument("--min-free-gb", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run (default 1800)")
    parser.add_argument("--note", action="append", default=[])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--length", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args)
        return

    command = " ".join(["python", os.path.relpath(os.path.abspath(sys.argv[0]), REPO)] + sys.argv[1:])
    info, start, results, args.notes = machine_info(), time.monotonic(), [], list(args.note)
    info["fgm_source_sha256"] = fgm_source_hash()
    for mode, length in runs_of(args):
        for name in args.models.split(","):
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--model", name, "--mode", mode,
                   "--length", str(length), "--device", args.device, "--steps", str(args.steps),
                   "--warmup", str(args.warmup), "--threads", str(args.threads)]
            result = run_isolated(cmd, f"{name} {mode} @ {size_label(length)}", args.timeout, args)
            result.update(model=name, mode=mode, length=length)
            print(f"<-- {name} {mode} @ {size_label(length)}: {result['status']} ({result['wall']:.0f} s)",
                  file=sys.stderr, flush=True)
            results.append(result)
            if args.out:  # a partial table survives an interrupted run
                args.out.write_text(render(results, args, info, command, time.monotonic() - start))
    text = render(results, args, info, command, time.monotonic() - start)
    if args.out:
        args.out.write_text(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
