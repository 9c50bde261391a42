"""The end-to-end demo on the bundled yeast genome (`make demo` / `fgm demo`).

corpus -> masked-LM pretraining -> scores at single masked positions of the validation chromosome
against bidirectional Markov baselines and the copy oracle on the same positions, by repeat stratum -> the
context instruments (retrieval gain, influence curve) on the test chromosome -> reload through
AutoModelForMaskedLM(trust_remote_code=True) in a fresh process in which `fgm` cannot be imported -> summary.
"""

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import torch

from .context.influence import REACH_RULE, context_influence
from .context.instrument import HeldOutArguments, ScoringArguments
from .context.retrieval import retrieval_benchmark
from .context.scan import context_scan
from .data import bundled_genome
from .data.corpus import build_corpus, save_corpus
from .training.pretrain import PretrainDataArguments, PretrainingArguments, PretrainModelArguments, pretrain

# The `demo` preset reading single nucleotides (k=1) learns visibly within minutes on a 2-core CPU: with
# NT's 6-mers the masked-LM task has 4,101 classes, and the few million tokens a CPU trains on in ten
# minutes only reach the unigram baseline (measured: 0.287% vs 0.284% accuracy).
DEMO_KMER = 1
# The instruments' settings in the demo: distances inside and just beyond the 199-base context, and fewer
# windows and positions than the commands' defaults, so that they add about a minute on a quiet 2-core CPU.
RETRIEVAL_DISTANCES, RETRIEVAL_WINDOWS, INFLUENCE_POSITIONS = (32, 64, 128), 50, 300

RELOAD = textwrap.dedent(
    """
    import json, sys
    sys.modules["fgm"] = None  # only the checkpoint's own code may be used
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer
    folder, sequence = sys.argv[1], sys.argv[2]
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    model = AutoModelForMaskedLM.from_pretrained(folder, trust_remote_code=True).eval()
    with torch.no_grad():
        logits = model(**tokenizer([sequence], return_tensors="pt")).logits
    print(json.dumps({"class": type(model).__module__ + "." + type(model).__name__, "logits": logits[0, :4, :8].tolist()}))
    """
)


def reload_in_fresh_process(folder: Path, sequence: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    run = subprocess.run(
        [sys.executable, "-c", RELOAD, str(folder), sequence], capture_output=True, text=True, env=env, timeout=600
    )
    if run.returncode != 0:
        raise RuntimeError(f"reloading {folder} in a fresh process failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def compare_reload(checkpoint: Path, probe: str) -> dict:
    """Step 5: the class the checkpoint reloads as in a fresh process, and whether its logits on `probe` equal
    those of the checkpoint loaded here."""
    from .model.modeling_fgm import FGMForMaskedLM
    from .model.tokenization_fgm import FGMTokenizer

    reloaded = reload_in_fresh_process(checkpoint, probe)
    tokenizer = FGMTokenizer.from_pretrained(checkpoint)
    model = FGMForMaskedLM.from_pretrained(checkpoint).eval()
    with torch.no_grad():
        here = model(**tokenizer([probe], return_tensors="pt")).logits[0, :4, :8]
    return {"fresh_process_class": reloaded["class"],
            "fresh_process_logits_identical": torch.equal(here, torch.tensor(reloaded["logits"]))}


def run_demo(output_dir="runs/demo", max_steps=2000, max_length=200, batch_size=16, window=1200, seed=0,
             positions=10_000, mlm_probability=0.3, learning_rate=1e-3) -> dict:
    """The whole path; settings tuned on chrXV single-position scores: a 16-token window, 30% masking (more
    predictions per CPU-second) and a learning rate of 1e-3 (3e-3 plateaued below the order-4 Markov model)."""
    output_dir = Path(output_dir)
    started = time.perf_counter()
    print("== 1/5 corpus: bundled yeast genome, chrXV validation, chrXVI test", flush=True)
    corpus = build_corpus([bundled_genome()], window=window, stride=window, val_chroms="chrXV", test_chroms="chrXVI")
    save_corpus(corpus, output_dir / "corpus", overwrite=True)

    print(f"== 2/5 pretraining for {max_steps} steps (masked LM, HF Trainer)", flush=True)
    checkpoint = output_dir / "model"
    pretrain(
        PretrainModelArguments(preset="demo", kmer_size=DEMO_KMER),
        PretrainDataArguments(corpus=str(output_dir / "corpus"), max_length=max_length, mlm_probability=mlm_probability),
        PretrainingArguments(output_dir=str(checkpoint), resume_from_checkpoint="last", max_steps=max_steps,
                             per_device_train_batch_size=batch_size, learning_rate=learning_rate,
                             eval_strategy="no",  # step 3 scores the model, position by position
                             save_steps=max(max_steps // 4, 1), logging_steps=50, seed=seed),
    )

    context = (max_length - 1) * DEMO_KMER
    print(f"== 3/5 {positions:,} single masked positions of chrXV ({context} bases of context) against "
          "Markov baselines fitted on the training chromosomes", flush=True)
    scan = context_scan(checkpoint, output_dir / "scan", [context],
                        HeldOutArguments(corpus=str(output_dir / "corpus"), split="validation"),
                        ScoringArguments(seed=seed), positions=positions)

    print(f"== 4/5 instruments on chrXVI (held out): retrieval gain at {RETRIEVAL_DISTANCES} bases, influence curve",
          flush=True)
    scoring = ScoringArguments(seed=seed)
    retrieval = retrieval_benchmark(checkpoint, output_dir / "retrieval", list(RETRIEVAL_DISTANCES), scoring=scoring,
                                    windows=RETRIEVAL_WINDOWS)
    influence = context_influence(checkpoint, output_dir / "influence", scoring=scoring, positions=INFLUENCE_POSITIONS)

    print("== 5/5 reload through AutoModelForMaskedLM(trust_remote_code=True) in a fresh process", flush=True)
    reload = compare_reload(checkpoint, corpus["test"][0]["sequence"][:120])

    model_row = scan["contexts"][0]
    by_accuracy = max(scan["baselines"], key=lambda b: b["accuracy"][0])
    versus = model_row["vs_best_baseline"]  # paired, against the baseline of lowest loss (best perplexity)
    summary = {
        "checkpoint": str(checkpoint),
        "steps": max_steps,
        "positions": scan["positions"],
        "accuracy": model_row["accuracy"],
        "perplexity": model_row["perplexity"],
        "baselines": scan["baselines"],
        "best_baseline_by_perplexity": versus["reference"],
        "best_baseline_by_accuracy": by_accuracy["name"],
        "loss_minus_best_baseline": versus["loss"],
        "beats_best_baseline": versus["loss"][0] < 0 and model_row["accuracy"][0] > by_accuracy["accuracy"][0],
        "beats_beyond_resampling_noise": versus["loss"][2] < 0,
        "copy_strata": {row["stratum"]: row["share"] for row in scan["strata"]},
        "copy_oracle_loss": model_row["copy_oracle"]["loss"],
        "retrieval_gain": {row["distance"]: row["gain"] for row in retrieval["rows"]},
        "retrieval_extrapolation": [row["distance"] for row in retrieval["rows"] if row["extrapolation"]],
        "influence_kl": {row["band"][0]: row["kl"][0] for row in influence["bands"]},
        "influence_reach": influence["reach"],
        **reload,
        "minutes": round((time.perf_counter() - started) / 60, 1),
    }
    (output_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    print_summary(summary)
    return summary


def print_summary(summary: dict) -> None:
    def row(name, accuracy, perplexity):
        return (f"{name:<28} {accuracy[0]:.4f} [{accuracy[1]:.4f}, {accuracy[2]:.4f}]   "
                f"{perplexity[0]:.4f} [{perplexity[1]:.4f}, {perplexity[2]:.4f}]")

    print("\n===== FGM demo summary =====")
    print(f"checkpoint: {summary['checkpoint']} ({summary['steps']} steps)")
    print(f"{summary['positions']:,} positions of chrXV, each masked alone; 95% bootstrap intervals\n")
    print(f"{'':<28} {'accuracy':<24} perplexity")
    print(row("FGM", summary["accuracy"], summary["perplexity"]))
    for baseline in summary["baselines"]:
        print(row(baseline["name"], baseline["accuracy"], baseline["perplexity"]))
    difference = summary["loss_minus_best_baseline"]
    if not summary["beats_best_baseline"]:
        verdict = "NO: the model does not beat it"
    elif summary["beats_beyond_resampling_noise"]:
        verdict = "yes, beyond resampling noise"
    else:
        verdict = "yes, but within resampling noise"
    print(f"\nbeats the best Markov baseline ({summary['best_baseline_by_perplexity']} by perplexity, "
          f"{summary['best_baseline_by_accuracy']} by accuracy): {verdict}")
    print(f"loss minus the best baseline's   {difference[0]:+.4f} [{difference[1]:+.4f}, {difference[2]:+.4f}] nats per "
          "base (paired, same positions)")
    copies = 1 - summary["copy_strata"]["no copy"][0]
    print(f"\npositions with a copy of their 24 neighbouring bases elsewhere on chrXV: {100 * copies:.1f}%; copy "
          f"oracle {summary['copy_oracle_loss'][0]:.4f} nats per base at 199 bases (copies inside the window are rare)")
    print("retrieval gain (nats per base; a copy d bases away, paired control; * beyond the training context):")
    for distance, gain in summary["retrieval_gain"].items():
        star = "*" if distance in summary["retrieval_extrapolation"] else " "
        print(f"  d = {distance:>4}{star}                     {gain[0]:+.4f} [{gain[1]:+.4f}, {gain[2]:+.4f}]")
    kl = "  ".join(f"[{d}, {2 * d}): {v:.1e}" for d, v in summary["influence_kl"].items())
    print(f"influence (mean KL, nats, when the bases at [d, 2d) change): {kl}")
    reach = summary["influence_reach"]
    print(f"reach ({REACH_RULE}): [{reach}, {2 * reach})" if reach else "no band changes the prediction")
    print(f"\nfresh-process reload             {summary['fresh_process_class']}")
    print(f"identical logits after reload    {summary['fresh_process_logits_identical']}")
    print(f"wall time                        {summary['minutes']} min")
