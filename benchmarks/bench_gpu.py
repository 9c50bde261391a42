#!/usr/bin/env python
"""GPU benchmark: FGM `base` and `large` against ModernBERT and ESM (NT v2 shape) of the same shape.

Every run is its own process (this script with ``--child``), so peak memory is per run and a CUDA error
(out of memory, a device-side assert) ends only that run. bf16 autocast with fp32 weights, fused AdamW.

Sections (``--sections``, default all):
  training  training steps (zero_grad, forward with MLM loss, backward, AdamW step) of FGM with each
            attention backend and of the peers, at 1k x 32, 8k x 4 and 32k x 1 tokens, without and with
            torch.compile: tokens/s, MFU and peak memory; median of the timed steps after warm-up
  mb        1 Mb of sequence (166,667 6-mer tokens, batch 1): an FGM `base` forward per backend, ESM and
            ModernBERT forwards, and an FGM `base` training step with gradient checkpointing
  longest   the longest context that trains on this GPU: FGM `base` with gradient checkpointing and the
            best backend, one step per length, doubling from 128k tokens until a step fails

MFU = (6 x non-embedding parameters + attention FLOPs) per token x tokens/s / the GPU's dense bf16 peak
(989 TFLOP/s on an H100 or H200); attention FLOPs per token in training = 12 x hidden size x the keys each
token attends to, summed over layers (the sliding layers' window, the full layers' sequence length);
for a forward alone, 2 x parameters + a third of that.

Usage:
  python benchmarks/bench_gpu.py --out benchmarks/results_gpu.md
  python benchmarks/bench_gpu.py --sections training --presets base --no-compile
  python benchmarks/bench_gpu.py --smoke          # tiny shapes on CPU or GPU in seconds: checks the code paths
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from peers import REPO, build_model, fgm_source_hash, make_batch

MB_TOKENS = 166_667  # 1 Mb of sequence in 6-mer tokens
SHAPES = ((1024, 32), (8192, 4), (32768, 1))  # (tokens per sequence, sequences per step)
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "GH200": 989.0, "A100": 312.0}
PACKAGES = ("torch", "transformers", "triton", "flash-attn", "flash-attn-4", "flash-attn-3", "nvidia-cutlass-dsl")
LABELS = {"fgm": "FGM", "fgm-gc": "FGM + grad. checkpointing", "modernbert": "ModernBERT", "esm": "ESM (NT v2 shape)"}


# ------------------------------------------------------------------------------------------------
# Child: one run, JSON on stdout.
# ------------------------------------------------------------------------------------------------


def attention_keys(model, length: int) -> int:
    """Keys each token attends to, summed over layers (sliding layers: the window; full layers: the sequence)."""
    config = model.config
    types = getattr(config, "layer_types", None) or ["full_attention"] * config.num_hidden_layers
    if "sliding_attention" not in types:
        return length * len(types)
    # ModernBERT's `sliding_window` is the half-window; FGM's is the whole window
    half = config.sliding_window if config.model_type == "modernbert" else config.sliding_window // 2
    return sum(min(2 * half + 1, length) if t == "sliding_attention" else length for t in types)


def non_embedding_parameters(model) -> int:
    embeddings = {id(model.get_input_embeddings().weight), id(model.get_output_embeddings().weight)}
    return sum(p.numel() for p in model.parameters() if id(p) not in embeddings)


def run_child(args) -> None:
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(1)  # CPU runs are code-path checks (--smoke); OpenMP stalls on a busy machine
    model = build_model(args.model, args.preset, args.attn, max_positions=max(args.length, 32768)).to(device)
    info = {
        "params": sum(p.numel() for p in model.parameters()),
        "non_embedding_params": non_embedding_parameters(model),
        "hidden_size": model.config.hidden_size,
        "attention_keys": attention_keys(model, args.length),
    }
    ids, labels = (t.to(device) for t in make_batch(args.length, args.batch))
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    forward = torch.compile(model) if args.compile else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = forward(input_ids=ids, labels=labels).loss
        loss.backward()
        optimizer.step()

    def forward_pass():
        with torch.no_grad(), autocast:
            forward(input_ids=ids)

    step = forward_pass if args.mode == "forward" else train_step
    model.train(args.mode == "train")

    def synchronize():
        if device.type == "cuda":
            torch.cuda.synchronize()

    times = []
    try:
        for i in range(args.warmup + args.steps):
            synchronize()
            start = time.perf_counter()
            step()
            synchronize()
            if i >= args.warmup:
                times.append(time.perf_counter() - start)
    except torch.OutOfMemoryError:
        print(json.dumps({"status": "OOM", **info}), flush=True)
        return
    peak = torch.cuda.max_memory_allocated() if device.type == "cuda" else None
    print(json.dumps({"status": "ok", "times": times, "peak_bytes": peak, **info}), flush=True)


# ------------------------------------------------------------------------------------------------
# Parent: plan the runs, one process each, and write the tables.
# ------------------------------------------------------------------------------------------------


def installed_fgm_backends() -> list[str]:
    """sdpa, flex_attention and every flash build this GPU runs, best first."""
    import torch

    sys.path.insert(0, str(REPO))
    from fgm.model.attention_fgm import FLASH_BUILDS, attention_backend

    backends = ["sdpa"]
    if torch.cuda.is_available():
        import transformers.utils

        major = torch.cuda.get_device_capability()[0]
        flash = [n for n, check, m in FLASH_BUILDS if major >= m and getattr(transformers.utils, check, lambda: False)()]
        best = attention_backend(None)
        backends = [best] + [b for b in flash + ["flex_attention", "sdpa"] if b != best]
    return backends


def plan(args) -> list[dict]:
    runs = []
    fgm_backends = args.fgm_backends or installed_fgm_backends()
    best = fgm_backends[0]
    models = [("fgm", fgm_backends)] + [(peer, args.peer_backends) for peer in args.peers]
    if "training" in args.sections:
        for preset in args.presets:
            for length, batch in args.shapes:
                for compile_ in args.compile_modes:
                    for model, backends in models:
                        for attn in backends:
                            runs.append(dict(section="training", model=model, preset=preset, attn=attn, length=length,
                                             batch=batch, compile=compile_, mode="train"))
    if "mb" in args.sections:
        for model, backends in models:
            for attn in backends:
                runs.append(dict(section="mb", model=model, preset=args.mb_preset, attn=attn, length=args.mb_tokens,
                                 batch=1, compile=False, mode="forward"))
        for attn in dict.fromkeys([best] + [b for b in ("sdpa",) if b in fgm_backends]):
            runs.append(dict(section="mb", model="fgm-gc", preset=args.mb_preset, attn=attn, length=args.mb_tokens,
                             batch=1, compile=False, mode="train"))
    if "longest" in args.sections:
        runs.append(dict(section="longest", model="fgm-gc", preset=args.mb_preset, attn=best, batch=1, compile=False,
                         mode="train"))
    return runs


def run_one(run: dict, args) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--model", run["model"], "--preset", run["preset"],
           "--attn", run["attn"], "--length", str(run["length"]), "--batch", str(run["batch"]), "--mode", run["mode"],
           "--warmup", str(args.warmup), "--steps", str(1 if run["section"] != "training" else args.steps)]
    if run["compile"]:
        cmd.append("--compile")
    label = f"{run['model']} {run['preset']} {run['attn']} {run['length']}x{run['batch']} {run['mode']}" + (
        " compiled" if run["compile"] else "")
    print(f"--> {label}", file=sys.stderr, flush=True)
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if lines:
            result = json.loads(lines[-1])
        else:
            error = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            result = {"status": f"failed (exit {proc.returncode}: {error[:160]})"}
    except subprocess.TimeoutExpired:
        result = {"status": f"timeout (> {args.timeout:g} s)"}
    result.update(run, wall=time.monotonic() - start)
    if result["status"] == "ok":
        result["s_per_step"] = statistics.median(result["times"])
        result["tokens_per_s"] = run["length"] * run["batch"] / result["s_per_step"]
    print(f"<-- {label}: {result['status']}" + (f", {result['s_per_step']:.3f} s" if result["status"] == "ok" else ""),
          file=sys.stderr, flush=True)
    return result


def run_longest(run: dict, args) -> list[dict]:
    """Doubling lengths until a training step fails (or --longest-max); every length a run of its own."""
    results, length = [], args.longest_start
    while length <= args.longest_max:
        result = run_one({**run, "length": length}, args)
        results.append(result)
        if result["status"] != "ok":
            break
        length *= 2
    return results


def peak_tflops(args, info) -> float | None:
    if args.peak_tflops:
        return args.peak_tflops
    return next((v for k, v in PEAK_TFLOPS.items() if k in info["device"]), None)


def mfu(r: dict, peak: float | None) -> float | None:
    if peak is None or r["status"] != "ok":
        return None
    per_param, per_attention = (6, 12) if r["mode"] == "train" else (2, 4)
    flops = per_param * r["non_embedding_params"] + per_attention * r["hidden_size"] * r["attention_keys"]
    return flops * r["tokens_per_s"] / (peak * 1e12)


def machine_info() -> dict:
    import torch

    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return {
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU",
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "versions": versions,
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "fgm_source_sha256": fgm_source_hash(),
    }


def gb(x) -> str:
    return "" if x is None else f"{x / 1e9:.1f}"


def render(results: list[dict], args, info: dict, command: str) -> str:
    peak = peak_tflops(args, info)
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    lines = [
        "# GPU benchmark: FGM vs. ModernBERT vs. ESM (NT v2 shape)",
        "",
        *(["**SMOKE RUN: tiny shapes that only check the code paths; not a measurement.**", ""] if args.smoke else []),
        "Generated by `benchmarks/bench_gpu.py` (see its docstring). Command:",
        "",
        "```",
        command,
        "```",
        "",
        f"Device: **{info['device']}** (CUDA {info['cuda']}); Python {info['python']}, {versions}; {info['date']}; "
        f"FGM code sha256 {info['fgm_source_sha256']}. MFU against {peak if peak else '(unknown)'} TFLOP/s.",
        "",
        "## Training",
        "",
        "| preset | model | attention | compile | tokens x batch | tokens/s | MFU | peak GB | FGM / ModernBERT | FGM / ESM |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    training = [r for r in results if r["section"] == "training"]

    def peer(r, name):
        best = [p for p in training if p["model"] == name and p["status"] == "ok"
                and (p["preset"], p["length"], p["compile"]) == (r["preset"], r["length"], r["compile"])]
        return max((p["tokens_per_s"] for p in best), default=None)

    for r in training:
        cells = [r["preset"], LABELS[r["model"]], r["attn"], "yes" if r["compile"] else "no", f"{r['length']} x {r['batch']}"]
        if r["status"] != "ok":
            lines.append("| " + " | ".join(cells + [r["status"], "", "", "", ""]) + " |")
            continue
        ratios = [f"{r['tokens_per_s'] / p:.2f}x" if r["model"] == "fgm" and p else "" for p in
                  (peer(r, "modernbert"), peer(r, "esm"))]
        u = mfu(r, peak)
        lines.append("| " + " | ".join(cells + [f"{r['tokens_per_s']:,.0f}", "" if u is None else f"{100 * u:.0f}%",
                                                gb(r["peak_bytes"]), *ratios]) + " |")
    mb = [r for r in results if r["section"] == "mb"]
    if mb:
        lines += ["", f"## 1 Mb of sequence ({args.mb_tokens:,} tokens, batch 1)", "",
                  "| model | attention | step | seconds | peak GB |", "|---|---|---|---:|---:|"]
        for r in mb:
            what = "forward" if r["mode"] == "forward" else "training step"
            seconds = f"{r['s_per_step']:.2f}" if r["status"] == "ok" else r["status"]
            lines.append(f"| {LABELS[r['model']]} {r['preset']} | {r['attn']} | {what} | {seconds} | {gb(r.get('peak_bytes'))} |")
    longest = [r for r in results if r["section"] == "longest"]
    if longest:
        trained = [r for r in longest if r["status"] == "ok"]
        lines += ["", "## Longest context that trains", "",
                  f"FGM {longest[0]['preset']} with gradient checkpointing, {longest[0]['attn']}, batch 1: "
                  + (f"**{trained[-1]['length']:,} tokens** ({trained[-1]['s_per_step']:.1f} s/step, "
                     f"{gb(trained[-1]['peak_bytes'])} GB)" if trained else "no length trained")
                  + "; tried: " + ", ".join(f"{r['length']:,} ({r['status']})" for r in longest) + "."]
    lines += ["", "## Targets", ""] + targets(results, peak)
    lines += ["", "## Raw results", "", "```json", json.dumps({"_meta": {"command": command, "info": info}})]
    lines += [json.dumps(r, sort_keys=True) for r in results] + ["```", ""]
    return "\n".join(lines)


def targets(results: list[dict], peak: float | None) -> list[str]:
    ok = [r for r in results if r["status"] == "ok"]

    def best(model, preset, length, compiled=None):
        rs = [r for r in ok if r["section"] == "training" and (r["model"], r["preset"], r["length"]) == (model, preset, length)
              and (compiled is None or r["compile"] == compiled)]
        return max(rs, key=lambda r: r["tokens_per_s"], default=None)

    def verdict(value, target, fmt):
        return "not measured" if value is None else f"{fmt(value)} (target {fmt(target)}): {'met' if value >= target else 'NOT met'}"

    lines = []
    for preset, target in (("large", 0.45), ("base", 0.40)):
        r = best("fgm", preset, 8192, compiled=True)
        u = None if r is None else mfu(r, peak)
        lines.append(f"- MFU at 8k tokens, FGM {preset}, best backend compiled"
                     + ("" if r is None else f" ({r['attn']})") + f": {verdict(u, target, lambda x: f'{100 * x:.0f}%')}.")
    for length, target in ((8192, 1.5), (32768, 3.0)):
        for preset in sorted({r["preset"] for r in ok if r["section"] == "training"}):
            f, p = best("fgm", preset, length), best("modernbert", preset, length)
            ratio = f["tokens_per_s"] / p["tokens_per_s"] if f and p else None
            lines.append(f"- Training tokens/s FGM {preset} / ModernBERT at {length} tokens (best of each): "
                         f"{verdict(ratio, target, lambda x: f'{x:.2f}x')}.")
    forward = [r for r in ok if r["section"] == "mb" and r["model"] == "fgm" and r["mode"] == "forward"]
    step = [r for r in ok if r["section"] == "mb" and r["model"] == "fgm-gc"]
    for what, rs, target in (("forward", forward, 0.5), ("training step (gradient checkpointing)", step, 3.0)):
        r = min(rs, key=lambda r: r["s_per_step"], default=None)
        lines.append(f"- 1 Mb {what}, FGM" + ("" if r is None else f" {r['preset']} ({r['attn']})") + ": "
                     + ("not measured" if r is None else f"{r['s_per_step']:.2f} s (target <= {target} s): "
                        f"{'met' if r['s_per_step'] <= target else 'NOT met'}") + ".")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="markdown file to write (default: print it)")
    parser.add_argument("--sections", default="training,mb,longest")
    parser.add_argument("--presets", default="base,large", help="FGM presets whose shape every model takes")
    parser.add_argument("--fgm-backends", default="", help="comma-separated (default: best installed, other flash "
                        "builds, flex_attention, sdpa)")
    parser.add_argument("--peers", default="modernbert,esm", help="peer models run beside FGM (default: %(default)s)")
    parser.add_argument("--peer-backends", default="sdpa", help="ModernBERT's and ESM's, comma-separated")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile runs")
    parser.add_argument("--compiled-only", action="store_true", help="only the torch.compile runs")
    parser.add_argument("--shapes", default=",".join(f"{n}x{b}" for n, b in SHAPES),
                        help="training shapes, TOKENSxBATCH, comma-separated (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per run (median; default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (compilation; default 2)")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds per run (default 1200)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="dense bf16 peak (default: from the GPU name)")
    parser.add_argument("--mb-preset", default="base")
    parser.add_argument("--mb-tokens", type=int, default=MB_TOKENS)
    parser.add_argument("--longest-start", type=int, default=131072)
    parser.add_argument("--longest-max", type=int, default=4 * 1048576)
    parser.add_argument("--smoke", action="store_true",
                        help="tiny preset, tiny shapes, 1 step, no compile: checks every code path in seconds")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--preset", help=argparse.SUPPRESS)
    parser.add_argument("--attn", help=argparse.SUPPRESS)
    parser.add_argument("--length", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--compile", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args)
        return

    args.sections = args.sections.split(",")
    args.presets = args.presets.split(",")
    args.fgm_backends = [b for b in args.fgm_backends.split(",") if b]
    args.peer_backends = args.peer_backends.split(",")
    args.peers = [p for p in args.peers.split(",") if p]
    args.shapes = [tuple(int(x) for x in shape.split("x")) for shape in args.shapes.split(",")]
    if args.no_compile and args.compiled_only:
        parser.error("--no-compile and --compiled-only exclude each other")
    args.compile_modes = [False] if args.no_compile else [True] if args.compiled_only else [False, True]
    if args.smoke:
        args.presets, args.mb_preset, args.shapes, args.compile_modes = ["tiny"], "tiny", ((256, 2),), [False]
        args.steps, args.warmup, args.mb_tokens, args.longest_start, args.longest_max = 1, 1, 2048, 1024, 1024
    command = " ".join(["python", os.path.relpath(os.path.abspath(sys.argv[0]), REPO)] + sys.argv[1:])
    info = machine_info()
    results = []
    for run in plan(args):
        results += run_longest(run, args) if run["section"] == "longest" else [run_one(run, args)]
        if args.out:
            args.out.write_text(render(results, args, info, command))  # a long run leaves a usable partial file
    text = render(results, args, info, command)
    if args.out:
        args.out.write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(text)


if __name__ == "__main__":
    main()
