"""The long-context instruments on a causal LM against the masked `demo` model: wall time of each, same settings.

Masked: FGM `demo` with single bases (as `fgm demo` trains it). Causal: transformers' `LlamaForCausalLM` of the
same width, depth, heads and SwiGLU width, with a single-base tokenizer that puts a BOS first
(`tests/causal_peer.py`: Evo's and HyenaDNA's vocabulary). Both randomly initialised (time does not depend on the
weights), both saved to folders and loaded as a user's checkpoint would be. Each instrument runs with the same
settings on both, on the bundled yeast chrXVI (the instruments' default held-out sequence): `context-scan` at 256
and 1,024 bases, `benchmark retrieval` with its defaults, `context-influence` at 1,024 bases. The target (issue 25):
every instrument on the causal model within 2x of its time on the masked one.

    python benchmarks/bench_causal.py --out benchmarks/results_causal.md
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
from causal_peer import dna_tokenizer  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

from fgm import FGMConfig, FGMForMaskedLM, FGMTokenizer  # noqa: E402
from fgm.checkpoints import record_training_context  # noqa: E402
from fgm.context.influence import InfluenceArguments, context_influence  # noqa: E402
from fgm.context.instrument import HeldOutArguments, ScoringArguments  # noqa: E402
from fgm.context.retrieval import RetrievalArguments, retrieval_benchmark  # noqa: E402
from fgm.context.scan import ScanArguments, context_scan  # noqa: E402

CONTEXT = 1024


def save_models(folder: Path) -> dict[str, Path]:
    """The masked `demo` model and a causal Llama of its shape, each trained (nominally) at 1,024 bases."""
    torch.manual_seed(0)
    tokenizer = FGMTokenizer(k=1)
    config = FGMConfig.preset("demo", vocab_size=len(tokenizer), kmer_size=1)
    FGMForMaskedLM(config).save_pretrained(folder / "masked")
    record_training_context(tokenizer, CONTEXT + 2, CONTEXT)
    tokenizer.save_pretrained(folder / "masked")
    causal_tokenizer = dna_tokenizer(1)
    LlamaForCausalLM(LlamaConfig(
        vocab_size=len(causal_tokenizer), hidden_size=config.hidden_size, intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_hidden_layers, num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_attention_heads, max_position_embeddings=8192, bos_token_id=1,
        eos_token_id=2, pad_token_id=0)).save_pretrained(folder / "causal")
    causal_tokenizer.model_max_length = CONTEXT + 1
    causal_tokenizer.save_pretrained(folder / "causal")
    return {"masked (FGM demo)": folder / "masked", "causal (Llama, demo's shape)": folder / "causal"}


def instruments(model: Path, out: Path) -> dict[str, float]:
    """Seconds each instrument takes on `model`."""
    scoring, held_out, seconds = ScoringArguments(quiet=True), HeldOutArguments(), {}
    runs = {
        "context-scan (256, 1,024 bases; 300 positions)": lambda: context_scan(ScanArguments(
            model_name_or_path=str(model), contexts=[256, CONTEXT], positions=300, output_dir=str(out / "scan")),
            held_out, scoring),
        "benchmark retrieval (defaults)": lambda: retrieval_benchmark(RetrievalArguments(
            model_name_or_path=str(model), output_dir=str(out / "retrieval")), held_out, scoring),
        "context-influence (1,024 bases; 100 positions)": lambda: context_influence(InfluenceArguments(
            model_name_or_path=str(model), context=CONTEXT, positions=100, output_dir=str(out / "influence")),
            held_out, scoring),
    }
    for name, run in runs.items():
        start = time.perf_counter()
        run()
        seconds[name] = time.perf_counter() - start
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results_causal.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        models = save_models(Path(tmp))
        times = {label: instruments(folder, Path(tmp) / f"out_{i}") for i, (label, folder) in enumerate(models.items())}
    masked, causal = times.values()
    rows = [f"| {name} | {masked[name]:.1f} | {causal[name]:.1f} | {causal[name] / masked[name]:.2f} |"
            for name in masked]
    table = "\n".join([
        "# The instruments on a causal LM against the masked demo model",
        "",
        f"`python benchmarks/bench_causal.py --out {os.path.relpath(args.out, REPO)}` on {platform.machine()}, "
        f"{torch.get_num_threads()} CPU threads, torch {torch.__version__}, {time.strftime('%Y-%m-%d')}. "
        "Wall seconds per instrument, both models randomly initialised, same settings, yeast chrXVI.",
        "",
        "| instrument | masked (FGM demo) s | causal (Llama, demo's shape) s | causal / masked |",
        "| --- | --- | --- | --- |",
        *rows, ""])
    Path(args.out).write_text(table)
    print(table)


if __name__ == "__main__":
    main()
