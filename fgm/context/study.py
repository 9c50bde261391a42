"""`fgm context-study`: does training on longer contexts make a better model?

One model per training context, each pretrained on the same number of tokens with otherwise identical
settings (tokens per step are held constant: the batch shrinks as the context grows), the same RoPE base
(large enough for the longest evaluation context, `rope_theta_for_context`) and the same seed. Each model
is then scanned (`context_scan`) at every evaluation context on the corpus's held-out split, with the
Markov baselines on the same positions; optionally scored on a VEP set. One report: `study.md` (a row per
training context, a column per evaluation context, extrapolation marked), `study.json`, and `study.png`
(loss against evaluation context, one line per training context).

Resumable: each model's training continues from its last checkpoint, each scan size by size.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from ..configuration_fgm import rope_theta_for_context
import numpy as np

from .scan import best_baseline, context_scan, paired_difference, plot_scans, scores_file


def context_study(
    corpus,
    output_dir,
    train_contexts: list[int],
    tokens: int,
    eval_contexts: list[int] | None = None,
    *,
    model_args=None,
    training_args=None,
    tokens_per_step: int = 16_384,
    mlm_probability: float = 0.15,
    split: str = "test",
    positions: int = 250,
    vep: str | None = None,
    vep_genome=None,
    seed: int = 0,
    n_bootstrap: int = 1000,
    progress: bool = True,
) -> dict:
    """Pretrain one model per training context (bases) on `tokens` tokens each, scan them, and report.

    `model_args` (`PretrainModelArguments`) shapes the models and `training_args` (`PretrainingArguments`)
    carries every other Trainer setting; the study sets per model the output folder, the steps, the batch
    size and the example length. Returns the report's data.
    """
    from ..data.corpus import load_corpus
    from ..training.pretrain import PretrainDataArguments, PretrainingArguments, PretrainModelArguments, pretrain

    output_dir = Path(output_dir)
    model_args = model_args or PretrainModelArguments(preset="tiny")
    training_args = training_args or PretrainingArguments(output_dir=str(output_dir))
    k = model_args.kmer_size
    train_contexts = sorted(set(train_contexts))
    eval_contexts = sorted(set(eval_contexts or train_contexts))
    shortest_window = min(len(s) for s in load_corpus(corpus)["train"]["sequence"])
    if shortest_window < train_contexts[-1]:
        raise ValueError(f"{corpus}: its training windows have {shortest_window:,} bases, fewer than the "
                         f"{train_contexts[-1]:,}-base training context; rebuild it with `fgm corpus --window "
                         f"{train_contexts[-1]}` or more")
    overrides = {**(model_args.config_overrides or {}), "rope_theta": rope_theta_for_context(eval_contexts[-1] // k + 1)}
    model_args = replace(model_args, config_overrides=overrides)
    runs = []
    for context in train_contexts:
        length = context // k + 1
        batch = max(1, tokens_per_step // length)
        steps = max(1, tokens // (batch * length))
        folder = output_dir / f"train_{context}"
        pretrain(
            model_args,
            PretrainDataArguments(corpus=str(corpus), max_length=length, mlm_probability=mlm_probability),
            replace(training_args, output_dir=str(folder), max_steps=steps, per_device_train_batch_size=batch,
                    per_device_eval_batch_size=batch, resume_from_checkpoint="last", seed=seed),
        )
        scan = context_scan(folder, folder / "scan", eval_contexts, corpus=corpus, split=split, positions=positions,
                            seed=seed, n_bootstrap=n_bootstrap, progress=progress)
        run = {"train_context": context, "tokens_per_example": length, "batch_size": batch, "steps": steps,
               "tokens": steps * batch * length, "scan": scan, "scan_dir": str(folder / "scan")}
        if vep:
            from ..variants.benchmark import run_vep_benchmark

            run["vep"] = run_vep_benchmark(str(folder), vep, folder / "vep", genome=vep_genome, seed=seed)
        runs.append(run)
    study = {"corpus": str(corpus), "kmer_size": k, "rope_theta": overrides["rope_theta"], "token_budget": tokens,
             "eval_contexts": eval_contexts, "runs": runs,
             "versus_shortest": versus_shortest(runs, eval_contexts, n_bootstrap, seed)}
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "study.json").write_text(json.dumps(study, indent=2) + "\n")
    (output_dir / "study.md").write_text(study_table(study))
    plot_scans({f"trained at {r['train_context']:,}": r["scan"] for r in runs}, output_dir / "study.png")
    return study


def versus_shortest(runs: list[dict], eval_contexts: list[int], n_bootstrap: int, seed: int) -> list[dict]:
    """Each model's loss minus the shortest-trained model's, per evaluation context, paired on the same positions:
    the study's answer (an interval below 0: the longer training context helps beyond resampling noise)."""
    def per_position(run, context):
        saved = np.load(scores_file(run["scan_dir"], context))
        return saved["base_loss"], saved["base_correct"]

    shortest, rows = runs[0], []
    for run in runs[1:]:
        differences = {}
        for context in eval_contexts:
            values = {"run": per_position(run, context), "shortest": per_position(shortest, context)}
            differences[context] = paired_difference(values, "run", "shortest", n_bootstrap, seed)["loss"]
        rows.append({"train_context": run["train_context"], "reference": shortest["train_context"],
                     "loss": differences})
    return rows


def study_table(study: dict) -> str:
    """Markdown: loss (nats per base) of each model at each evaluation context; * marks extrapolation."""
    contexts = study["eval_contexts"]
    head = "| trained at (bases) | steps x batch | tokens | " + " | ".join(f"{c:,}" for c in contexts) + " |"
    lines = [
        f"Masked-LM loss (nats per base) at evaluation contexts of {', '.join(f'{c:,}' for c in contexts)} bases; "
        f"* = longer than the training context (extrapolation). Same token budget ({study['token_budget']:,}), "
        f"RoPE base {study['rope_theta']:,.0f}, positions and seed for every model; 95% intervals in each scan.md.",
        "",
        head + (" VEP AUROC |" if any("vep" in r for r in study["runs"]) else ""),
        "| --- " * (3 + len(contexts) + any("vep" in r for r in study["runs"])) + "|",
    ]
    for run in study["runs"]:
        cells = [f"{row['loss'][0]:.4f}{'*' if row['extrapolation'] else ''}" for row in run["scan"]["contexts"]]
        vep = f" {run['vep']['auroc'][0]:.3f} |" if "vep" in run else ""
        lines.append(f"| {run['train_context']:,} | {run['steps']} x {run['batch_size']} | {run['tokens']:,} | "
                     + " | ".join(cells) + " |" + vep)
    for row in study["versus_shortest"]:
        cells = [f"{d[0]:+.4f} [{d[1]:+.4f}, {d[2]:+.4f}]" for d in row["loss"].values()]
        lines.append(f"| {row['train_context']:,} minus {row['reference']:,} (paired) | | | " + " | ".join(cells) + " |"
                     + (" |" if any("vep" in r for r in study["runs"]) else ""))
    baseline = best_baseline(study["runs"][0]["scan"])
    lines += ["", f"Best baseline on the same positions: {baseline['name']}, {baseline['loss'][0]:.4f} nats per base "
              f"(accuracy {baseline['accuracy'][0]:.4f})."]
    return "\n".join(lines) + "\n"
