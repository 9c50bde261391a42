#!/usr/bin/env python
"""Training-step speed and peak memory: FGM `small` vs. ESM (NT v2 shape) vs. ModernBERT.

Each (model, length) runs in its own child process (this same script with ``--child``) so that peak
memory is per configuration, under a memory cap and a time limit: a configuration that does not fit
is recorded as ``killed (over N GiB)`` / ``OOM`` / ``timeout`` instead of taking the machine down.

A training step is: zero_grad, forward with MLM labels, backward, AdamW step; fp32, batch size 1,
random 6-mer token ids of the Nucleotide Transformer vocabulary (<cls> first), 15% of positions
replaced by <mask> and labelled (-100 elsewhere). One warm-up step, then the median of N timed steps.

Models (all 12 layers x 512 hidden, 8 heads, vocab 4107, attention backend `sdpa`):
  fgm           FGMForMaskedLM, preset "small" (2 sliding layers, window 128 = +-64 tokens, then 1 full)
  fgm-gc        the same with gradient checkpointing (run automatically where `fgm` exceeds --fgm-budget-gb)
  fgm-sliding   FGM small with every layer sliding (shows linear memory growth)
  modernbert    ModernBertForMaskedLM, local_attention=128, global_attn_every_n_layers=3,
                GeGLU intermediate_size=1088 (same MLP shape as FGM's SwiGLU), sparse_prediction=True
  esm           EsmForMaskedLM in the NT v2 shape: rotary, emb_layer_norm_before=False,
                token_dropout=False, no dropout, untied LM head (as NT v2); plain GELU MLP with
                intermediate_size=1632 so the encoder has the same parameter count as FGM's

Usage:
  python benchmarks/bench_training.py --out benchmarks/results_training.md
  python benchmarks/bench_training.py --lengths 1024 4096 --steps 3 --models fgm,modernbert
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from harness import GIB, child_result, current_rss_bytes, machine_info, run_isolated, timed_steps
from peers import REPO, build_model, fgm_source_hash, make_batch

MODEL_LABELS = {
    "fgm": "FGM small",
    "fgm-gc": "FGM small + gradient checkpointing",
    "fgm-sliding": "FGM small, sliding-only",
    "modernbert": "ModernBERT",
    "esm": "ESM (NT v2 shape)",
}
DEFAULT_MODELS = "fgm,modernbert,esm,fgm-sliding"
PEERS = ("modernbert", "esm")
RENDER_ARGS = ("warmup", "steps_desc", "mem_cap_gb", "timeout", "timeout_16k", "rounds", "threads", "notes")


# ------------------------------------------------------------------------------------------------
# Child: build one model, time training steps, report JSON on stdout.
# ------------------------------------------------------------------------------------------------


def run_child(args) -> None:
    import torch

    torch.set_num_threads(args.threads or torch.get_num_threads())
    rss_start = current_rss_bytes()
    model = build_model(args.model)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    params = sum(p.numel() for p in model.parameters())
    ids, labels = make_batch(args.length)
    rss_model = current_rss_bytes()

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    timing = timed_steps(step, args)
    if timing is None:  # out of memory, reported
        return
    child_result(timing, params=params, threads=torch.get_num_threads(), rss_start=rss_start, rss_model=rss_model)


# ------------------------------------------------------------------------------------------------
# Parent: one child per (model, length) under a memory cap and a time limit.
# ------------------------------------------------------------------------------------------------


def run_one(model: str, length: int, steps: int, timeout: float, args) -> dict:
    """Run one child under the memory cap and time limit; returns its result (status "ok" or why not)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--model", model, "--length", str(length),
           "--steps", str(steps), "--warmup", str(args.warmup)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    label = f"{model} @ {length} tokens ({args.warmup} warm-up + {steps} timed steps)"
    result = run_isolated(cmd, label, timeout, args)
    result.update(model=model, length=length)
    tail = (f", {statistics.median(result['times']):.2f} s/step, peak {result['peak_rss'] / GIB:.2f} GiB"
            if result["status"] == "ok" else f", peak seen {result['peak_rss_observed'] / GIB:.2f} GiB")
    print(f"<-- {model} @ {length}: {result['status']}{tail} ({result['wall']:.0f} s)", file=sys.stderr, flush=True)
    return result


def merge_rounds(runs: list[dict]) -> dict:
    """One (model, length) over several rounds: timed steps pooled (median), the highest peak."""
    ok = [r for r in runs if r["status"] == "ok"]
    if not ok:
        return runs[-1]
    merged = dict(ok[0])
    for key in ("times", "others_cores", "own_cores"):
        merged[key] = [x for r in ok for x in r[key]]
    worst = max(ok, key=lambda r: r["peak_rss"])
    merged.update(peak_rss=worst["peak_rss"], rss_model=worst["rss_model"], rounds=len(ok),
                  peak_rss_observed=max(r["peak_rss_observed"] for r in runs),
                  wall=sum(r["wall"] for r in runs))
    merged["s_per_step"] = statistics.median(merged["times"])
    return merged


def fmt_gb(x) -> str:
    return f"{x / 1e9:.2f}"


def length_label(n: int) -> str:
    return f"{n // 1024}k" if n % 1024 == 0 else str(n)


def render(results: list[dict], args, info: dict, command: str, total_s: float, complete: bool) -> str:
    by = {(r["model"], r["length"]): r for r in results}

    def ok(m, n):
        r = by.get((m, n))
        return r if r is not None and r["status"] == "ok" else None

    lines = [
        "# Training-step benchmark: FGM small vs. ModernBERT vs. ESM (NT v2 shape)",
        "",
        *([] if complete else ["**PARTIAL: the run was still going when this file was written.**", ""]),
        "Generated by `benchmarks/bench_training.py` (see `benchmarks/README.md`). Command:",
        "",
        "```",
        command,
        "```",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores (torch threads in the runs: "
        f"{args.threads or info['torch_threads']}), "
        f"{info['ram_gib']:.0f} GiB RAM; Python {info['python']}, torch {info['torch']}, "
        f"transformers {info['transformers']}; {info['date']}; whole run {total_s / 60:.0f} min"
        + (f"; FGM code sha256 {info['fgm_source_sha256']} (fgm/model/modeling_fgm.py, attention_fgm.py, configuration_fgm.py)"
           if info.get("fgm_source_sha256") else "") + ".",
        "",
        "Step = zero_grad + forward (MLM loss) + backward + AdamW step; fp32, CPU, batch size 1, random 6-mer ids "
        "(`<cls>` first), 15% of positions masked and labelled (-100 elsewhere). "
        f"{args.warmup} warm-up step(s), then {args.steps_desc}; s/step is the median of the timed steps, "
        "tokens/s = tokens / s/step. Every (model, length) ran in its own process, under a "
        f"{args.mem_cap_gb:g} GiB RSS cap (watchdog) with an RLIMIT_AS backstop and a time limit "
        f"({args.timeout:g} s; {args.timeout_16k:g} s from 16k tokens); one length after another, the models back "
        "to back" + (f", {args.rounds} rounds in rotated order below 16k tokens (timed steps pooled)"
                     if args.rounds > 1 else "") + ".",
        "",
        "- **peak RSS**: `ru_maxrss` of that process: everything (Python, torch, weights, gradients, AdamW "
        "state, activations).",
        "- **step peak**: peak RSS minus the process's RSS once the model and optimizer were built (before the "
        "first step): activations + gradients + AdamW state (the last two ~0.4 GB for ~35M fp32 parameters).",
        "- **best s/step**: the fastest timed step (least disturbed by other load).",
        "- **FGM / peer**: FGM tokens/s over the peer's at the same length, from the median step and (in "
        "parentheses) from the best step.",
        "- **others' load**: mean CPU cores used by *other* processes on the machine during the timed steps "
        "(from /proc/stat); the machine has "
        f"{info['cores']} cores, so anything well above 0 slows every model and makes timings noisy.",
        "",
        "| model | params | tokens | tokens/s | s/step | best s/step | peak RSS GB | step peak GB | FGM/ModernBERT "
        "| FGM/ESM | others' load (cores) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lengths = sorted({r["length"] for r in results})
    order = [m for m in ("fgm", "fgm-gc", "modernbert", "esm", "fgm-sliding") if any(r["model"] == m for r in results)]
    for length in lengths:
        for m in order:
            r = by.get((m, length))
            if r is None:
                continue
            label = MODEL_LABELS[m]
            if r["status"] != "ok":
                peak = r.get("peak_rss_observed")
                seen = f"≥ {fmt_gb(peak)} (when stopped)" if peak else ""
                done = [s for s in r.get("finished_steps", [])]
                note = r["status"]
                if done:
                    last = done[-1]
                    kind = "warm-up" if last["warmup"] else "timed"
                    note += (f"; finished {len(done)} step(s), last ({kind}) {last['seconds']:.0f} s "
                             f"= {length / last['seconds']:.0f} tok/s")
                lines.append(f"| {label} | | {length_label(length)} | {note} | | | {seen} | | | | |")
                continue
            tps = length / r["s_per_step"]
            ratios = []
            for peer in PEERS:
                p = by.get((peer, length))
                if m not in ("fgm", "fgm-gc") or p is None:
                    ratios.append("")
                elif p["status"] == "ok":
                    ratios.append(f"**{p['s_per_step'] / r['s_per_step']:.2f}x** "
                                  f"({min(p['times']) / min(r['times']):.2f}x)")
                else:
                    ratios.append(f"peer: {p['status'].split(' (')[0]}")
            load = statistics.mean(r["others_cores"]) if r.get("others_cores") else float("nan")
            lines.append(
                f"| {label} | {r['params'] / 1e6:.1f}M | {length_label(length)} | {tps:.0f} | {r['s_per_step']:.2f} | "
                f"{min(r['times']):.2f} | "
                f"{fmt_gb(r['peak_rss'])} | {fmt_gb(r['peak_rss'] - r['rss_model'])} | {ratios[0]} | {ratios[1]} | "
                f"{load:.2f} |"
            )

    lines += ["", "## Targets (issue 2)", "",
              f"Measured in this run (torch threads per run: {args.threads or info['torch_threads']}); see the notes.", ""]
    for n, target in ((4096, 1.5), (1024, 1.2)):
        f, p = ok("fgm", n), ok("modernbert", n)
        if f and p:
            ratio = p["s_per_step"] / f["s_per_step"]
            best = min(p["times"]) / min(f["times"])
            lines.append(f"- FGM / ModernBERT training throughput at {n} tokens: **{ratio:.2f}x** median, {best:.2f}x "
                         f"best step (target ≥ {target}x): {'met' if min(ratio, best) >= target else 'NOT met' if max(ratio, best) < target else 'met by one measure only'}.")
    for m in ("fgm", "fgm-gc"):
        r = ok(m, 16384)
        if r:
            lines.append(f"- {MODEL_LABELS[m]} trains at 16384 tokens with peak RSS **{fmt_gb(r['peak_rss'])} GB** "
                         f"(target ≤ 8 GB): {'met' if r['peak_rss'] <= 8e9 else 'NOT met'}.")
    slide = [(n, ok("fgm-sliding", n)) for n in lengths]
    slide = [(n, r) for n, r in slide if r]
    if len(slide) >= 2:
        parts = ", ".join(f"{n}: {fmt_gb(r['peak_rss'] - r['rss_model'])} GB" for n, r in slide)
        (n0, r0), (n1, r1) = slide[0], slide[-1]
        growth = (r1["peak_rss"] - r1["rss_model"]) / max(r0["peak_rss"] - r0["rss_model"], 1)
        lines.append(f"- Sliding-only FGM step peak: {parts}: {n1 // n0}x the tokens -> {growth:.1f}x the memory "
                     f"(linear: about {n1 // n0}x or less, as the fixed ~0.4 GB of gradients + AdamW state is "
                     f"included; quadratic would be {(n1 // n0) ** 2}x).")
    notes = [
        "ModernBERT: same width/depth/heads/vocab as FGM small, `local_attention=128` (sees ±64 tokens, as FGM's "
        "`sliding_window=128`), `global_attn_every_n_layers=3`, GeGLU `intermediate_size=1088` (the same MLP "
        "shape as FGM's SwiGLU, so the parameter count matches), `sparse_prediction=True` (decoder only on the "
        "masked positions, like FGM; ModernBERT's default is False), attention `sdpa` (its sliding layers use a "
        "dense n x n mask).",
        "ESM: NT v2 shape (rotary, `emb_layer_norm_before=False`, `token_dropout=False`, dropout 0, "
        "`layer_norm_eps=1e-12`, untied LM head, as in the NT v2 configs), attention `sdpa`. HF ESM has no "
        "GLU feed-forward, so it uses a GELU MLP with `intermediate_size=1632`: the encoder then has the same "
        "parameter count as FGM's (33.0M); the untied LM head adds 2.1M parameters (37.2M in all) but no compute "
        "over FGM's tied decoder. ESM computes logits at every position.",
        "FGM: `FGMConfig.preset(\"small\")` (35.0M parameters, 2 sliding + 1 full layer repeated, window 128), "
        "attention `sdpa` (block-local attention in the sliding layers).",
    ] + args.notes
    lines += ["", "## Setup notes", ""] + [f"- {note}" for note in notes]
    lines += ["", "## Raw results", "", "Bytes and seconds, one JSON object per (model, length).", "", "```json"]
    meta = {"_meta": {"command": command, "info": info, "total_s": total_s, "complete": complete,
                      "args": {k: getattr(args, k) for k in RENDER_ARGS}}}
    lines += [json.dumps(meta, sort_keys=True)] + [json.dumps(r, sort_keys=True) for r in results]
    lines += ["```", ""]
    return "\n".join(lines)


def rerender(source: Path, out: Path, extra_notes: list[str]) -> None:
    """Re-render a results file from the raw JSON block it ends with (after a change to the layout)."""
    raw = source.read_text().split("```json\n", 1)[1].split("```", 1)[0]
    records = [json.loads(line) for line in raw.splitlines() if line.strip()]
    meta = records[0]["_meta"]
    args = argparse.Namespace(**meta["args"])
    args.notes = args.notes + [n for n in extra_notes if n not in args.notes]
    out.write_text(render(records[1:], args, meta["info"], meta["command"], meta["total_s"], meta["complete"]))
    print(f"wrote {out}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="markdown file to write (default: print the table)")
    parser.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096, 16384])
    parser.add_argument("--steps", type=int, default=None,
                        help="timed steps per run (default: 3 below 16384 tokens, 1 from 16384 tokens)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed warm-up steps per run (default 1)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat each length below 16k tokens this many times, models in rotated order, "
                             "pooling the timed steps (default 1)")
    parser.add_argument("--models", default=DEFAULT_MODELS,
                        help=f"comma-separated, from {','.join(MODEL_LABELS)} (default: {DEFAULT_MODELS})")
    parser.add_argument("--mem-cap-gb", type=float, default=20.0, help="RSS cap per run, GiB (default 20)")
    parser.add_argument("--address-slack-gb", type=float, default=8.0,
                        help="RLIMIT_AS = cap + this, as virtual memory exceeds RSS (default 8)")
    parser.add_argument("--min-free-gb", type=float, default=1.0,
                        help="stop a run if the machine's MemAvailable drops below this, GiB (default 1)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per run below 16k tokens (default 900)")
    parser.add_argument("--timeout-16k", type=float, default=1500.0,
                        help="seconds per run from 16k tokens (default 1500)")
    parser.add_argument("--fgm-budget-gb", type=float, default=8.0,
                        help="where FGM's peak RSS exceeds this (GB), also run fgm-gc (default 8)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads in the runs (default: torch's)")
    parser.add_argument("--note", action="append", default=[],
                        help="a sentence to add under 'Setup notes' (repeatable; also with --rerender)")
    parser.add_argument("--rerender", type=Path,
                        help="rebuild the markdown of an existing results file from its raw JSON (no runs)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--length", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        run_child(args)
        return
    if args.rerender:
        rerender(args.rerender, args.out or args.rerender, args.note)
        return

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for m in models:
        if m not in MODEL_LABELS:
            parser.error(f"unknown model {m!r}; choose from {','.join(MODEL_LABELS)}")
    command = " ".join(["python", os.path.relpath(os.path.abspath(sys.argv[0]), REPO)] + sys.argv[1:])
    info = machine_info()
    steps_for = (lambda n: args.steps) if args.steps else (lambda n: 3 if n < 16384 else 1)
    args.steps_desc = (f"{args.steps} timed step(s)" if args.steps
                       else "3 timed steps below 16k tokens, 1 at 16k tokens")
    args.notes = list(args.note)
    source_at_start = fgm_source_hash()
    start = time.monotonic()
    results: list[dict] = []
    failed_at: dict[str, tuple[int, str]] = {}

    def write(complete: bool):
        if args.out:
            args.out.write_text(render(results, args, info, command, time.monotonic() - start, complete))

    for length in sorted(args.lengths):
        long = length >= 16384
        rounds = 1 if long else max(args.rounds, 1)
        timeout = args.timeout_16k if long else args.timeout
        runs: dict[str, list[dict]] = {}
        todo = list(models)
        for m in models:
            if m in failed_at:
                n, why = failed_at[m]
                what = why.split(" (")[0]
                status = f"not run ({what} already at {n} tokens; memory only grows with length)"
                if m == "esm":
                    status = f"not run (dense {length} x {length} attention; {what} already at {n} tokens)"
                results.append({"model": m, "length": length, "status": status})
                todo.remove(m)
        for k in range(rounds):
            order = todo[k % len(todo):] + todo[: k % len(todo)] if todo else []
            for m in order:
                runs.setdefault(m, []).append(run_one(m, length, steps_for(length), timeout, args))
        for m in todo:
            r = merge_rounds(runs[m])
            results.append(r)
            if r["status"] != "ok" and not r["status"].startswith("timeout"):
                failed_at[m] = (length, r["status"])
            if m == "fgm" and "fgm-gc" not in models and (r["status"] != "ok" or r["peak_rss"] > args.fgm_budget_gb * 1e9):
                why = (f"peaked at {fmt_gb(r['peak_rss'])} GB" if r["status"] == "ok" else r["status"])
                args.notes.append(f"FGM small did not stay within {args.fgm_budget_gb:g} GB at {length} tokens ({why}), "
                                  "so it was also run with gradient checkpointing (fgm-gc: "
                                  "`model.gradient_checkpointing_enable()`, in transformers >= 5.2x "
                                  "`activation_checkpointing_enable()`).")
                results.append(merge_rounds([run_one("fgm-gc", length, steps_for(length), timeout, args)]))
            write(False)  # a long run leaves a usable partial table behind
    source_at_end = fgm_source_hash()
    info["fgm_source_sha256"] = source_at_start
    if source_at_end != source_at_start:
        args.notes.append(f"the FGM model code (modeling, attention, configuration) changed during the run "
                          f"(sha256 {source_at_start} at the start, {source_at_end} at the end): FGM runs may "
                          "have used different code.")
    write(True)
    if args.out:
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(render(results, args, info, command, time.monotonic() - start, True))


if __name__ == "__main__":
    main()
