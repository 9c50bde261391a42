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
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .context.influence import REACH_RULE, InfluenceArguments, context_influence
from .context.instrument import HeldOutArguments, ScoringArguments
from .context.report import interval_text
from .context.results import Baseline
from .context.retrieval import RetrievalArguments, retrieval_benchmark
from .context.scan import ScanArguments, context_scan
from .data.corpus import CorpusArguments, make_corpus
from .results import RECORD, Interval, Record
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


@dataclass
class DemoArguments:
    """`fgm demo`'s options; the defaults were tuned on chrXV single-position scores: a 200-token window, 30% masking
    (more predictions per CPU-second) and a learning rate of 1e-3 (3e-3 plateaued below the order-4 Markov model)."""

    output_dir: str = field(default="runs/demo", metadata={"help": "corpus, checkpoint and summary.json go here"})
    max_steps: int = field(default=2000, metadata={"help": "pretraining steps"})
    seed: int = field(default=0, metadata={"help": "seed of the model's weights, the crops, the masks and the draws"})
    max_length: int = field(default=200, metadata={"help": "tokens per training example (199 bases and <cls>)"})
    batch_size: int = field(default=16, metadata={"help": "training examples per step"})
    window: int = field(default=1200, metadata={"help": "bases per corpus window"})
    positions: int = field(default=10_000, metadata={"help": "chrXV positions scored against the baselines"})
    mlm_probability: float = field(default=0.3, metadata={"help": "masked fraction of the tokens"})
    learning_rate: float = field(default=1e-3, metadata={"help": "peak learning rate"})


@RECORD
class DemoSummary(Record):
    """`summary.json`: the model against the Markov baselines on chrXV, the instruments on chrXVI, the reload."""

    checkpoint: str
    steps: int
    positions: int
    accuracy: Interval
    perplexity: Interval
    baselines: list[Baseline]
    best_baseline_by_perplexity: str
    best_baseline_by_accuracy: str
    loss_minus_best_baseline: Interval  # paired, against the baseline of lowest loss (best perplexity)
    beats_best_baseline: bool
    beats_beyond_resampling_noise: bool
    copy_strata: dict[str, Interval]  # stratum -> share of the positions
    copy_oracle_loss: Interval
    retrieval_gain: dict[int, Interval]  # distance -> gain
    retrieval_extrapolation: list[int]
    influence_kl: dict[int, float]  # band start -> mean KL
    influence_reach: int | None
    fresh_process_class: str
    fresh_process_logits_identical: bool
    minutes: float


def run_demo(args: DemoArguments | None = None) -> DemoSummary:
    """The whole path, in five steps, then the summary (printed and written to summary.json)."""
    args = args or DemoArguments()
    output_dir, seed = Path(args.output_dir), args.seed
    started = time.perf_counter()
    print("== 1/5 corpus: bundled yeast genome, chrXV validation, chrXVI test", flush=True)
    corpus = make_corpus(CorpusArguments(output_dir=str(output_dir / "corpus"), overwrite=True, window=args.window,
                                         stride=args.window, val_chroms=["chrXV"], test_chroms=["chrXVI"]))

    print(f"== 2/5 pretraining for {args.max_steps} steps (masked LM, HF Trainer)", flush=True)
    checkpoint = output_dir / "model"
    pretrain(
        PretrainModelArguments(preset="demo", kmer_size=DEMO_KMER),
        PretrainDataArguments(corpus=str(output_dir / "corpus"), max_length=args.max_length,
                              mlm_probability=args.mlm_probability),
        PretrainingArguments(output_dir=str(checkpoint), resume_from_checkpoint="last", max_steps=args.max_steps,
                             per_device_train_batch_size=args.batch_size, learning_rate=args.learning_rate,
                             eval_strategy="no",  # step 3 scores the model, position by position
                             save_steps=max(args.max_steps // 4, 1), logging_steps=50, seed=seed),
    )

    context = (args.max_length - 1) * DEMO_KMER
    print(f"== 3/5 {args.positions:,} single masked positions of chrXV ({context} bases of context) against "
          "Markov baselines fitted on the training chromosomes", flush=True)
    model, scoring = str(checkpoint), ScoringArguments(seed=seed)
    scan = context_scan(ScanArguments(model_name_or_path=model, contexts=[context], output_dir=str(output_dir / "scan"),
                                      positions=args.positions),
                        HeldOutArguments(corpus=str(output_dir / "corpus"), split="validation"), scoring)

    print(f"== 4/5 instruments on chrXVI (held out): retrieval gain at {RETRIEVAL_DISTANCES} bases, influence curve",
          flush=True)
    retrieval = retrieval_benchmark(RetrievalArguments(model_name_or_path=model, distances=RETRIEVAL_DISTANCES,
                                                       output_dir=str(output_dir / "retrieval"),
                                                       windows=RETRIEVAL_WINDOWS), scoring=scoring)
    influence = context_influence(InfluenceArguments(model_name_or_path=model, output_dir=str(output_dir / "influence"),
                                                     positions=INFLUENCE_POSITIONS), scoring=scoring)

    print("== 5/5 reload through AutoModelForMaskedLM(trust_remote_code=True) in a fresh process", flush=True)
    reload = compare_reload(checkpoint, corpus["test"][0]["sequence"][:120])

    model_row = scan.contexts[0]
    by_accuracy = max(scan.baselines, key=lambda b: b.accuracy.estimate)
    versus = model_row.vs_best_baseline
    summary = DemoSummary(
        checkpoint=str(checkpoint), steps=args.max_steps, positions=scan.positions, accuracy=model_row.accuracy,
        perplexity=model_row.perplexity, baselines=scan.baselines, best_baseline_by_perplexity=versus.reference,
        best_baseline_by_accuracy=by_accuracy.name, loss_minus_best_baseline=versus.loss,
        beats_best_baseline=versus.loss.estimate < 0 and model_row.accuracy.estimate > by_accuracy.accuracy.estimate,
        beats_beyond_resampling_noise=versus.loss.below_zero,
        copy_strata={row.stratum: row.share for row in scan.strata}, copy_oracle_loss=model_row.copy_oracle.loss,
        retrieval_gain={row.distance: row.gain for row in retrieval.rows},
        retrieval_extrapolation=[row.distance for row in retrieval.rows if row.extrapolation],
        influence_kl={row.start: row.kl.estimate for row in influence.bands}, influence_reach=influence.reach,
        **reload, minutes=round((time.perf_counter() - started) / 60, 1))
    summary.save(output_dir / "summary.json")
    print_summary(summary)
    return summary


def print_summary(summary: DemoSummary) -> None:
    def row(name, accuracy: Interval, perplexity: Interval):
        return f"{name:<28} {interval_text(accuracy)}   {interval_text(perplexity)}"

    print("\n===== FGM demo summary =====")
    print(f"checkpoint: {summary.checkpoint} ({summary.steps} steps)")
    print(f"{summary.positions:,} positions of chrXV, each masked alone; 95% bootstrap intervals\n")
    print(f"{'':<28} {'accuracy':<24} perplexity")
    print(row("FGM", summary.accuracy, summary.perplexity))
    for baseline in summary.baselines:
        print(row(baseline.name, baseline.accuracy, baseline.perplexity))
    if not summary.beats_best_baseline:
        verdict = "NO: the model does not beat it"
    elif summary.beats_beyond_resampling_noise:
        verdict = "yes, beyond resampling noise"
    else:
        verdict = "yes, but within resampling noise"
    print(f"\nbeats the best Markov baseline ({summary.best_baseline_by_perplexity} by perplexity, "
          f"{summary.best_baseline_by_accuracy} by accuracy): {verdict}")
    print(f"loss minus the best baseline's   {interval_text(summary.loss_minus_best_baseline, sign='+')} nats per "
          "base (paired, same positions)")
    copies = 1 - summary.copy_strata["no copy"].estimate
    print(f"\npositions with a copy of their 24 neighbouring bases elsewhere on chrXV: {100 * copies:.1f}%; copy "
          f"oracle {summary.copy_oracle_loss.estimate:.4f} nats per base at 199 bases (copies inside the window are "
          "rare)")
    print("retrieval gain (nats per base; a copy d bases away, paired control; * beyond the training context):")
    for distance, gain in summary.retrieval_gain.items():
        star = "*" if distance in summary.retrieval_extrapolation else " "
        print(f"  d = {distance:>4}{star}                     {interval_text(gain, sign='+')}")
    kl = "  ".join(f"[{d}, {2 * d}): {v:.1e}" for d, v in summary.influence_kl.items())
    print(f"influence (mean KL, nats, when the bases at [d, 2d) change): {kl}")
    reach = summary.influence_reach
    print(f"reach ({REACH_RULE}): [{reach}, {2 * reach})" if reach else "no band changes the prediction")
    print(f"\nfresh-process reload             {summary.fresh_process_class}")
    print(f"identical logits after reload    {summary.fresh_process_logits_identical}")
    print(f"wall time                        {summary.minutes} min")
