"""Variant scoring speed: FGM's scorer against the peers' recipe, at 1 kb, 6 kb and 100 kb windows.

FGM: `VariantScorer` (masked-marginal LLR, both strands) on FGM `small` (k=6), with one k-mer frame
(`--frames center`: one masked forward per variant and strand) and with all six (`--frames all`).
Peer: GPN's recipe for the Nucleotide Transformer (analysis/human/.../run_vep_nucleotide_transformer.py
in songlab-cal/gpn): the same windows, the variant's 6-mer masked, one forward per variant and strand,
dense logits, the alt and ref 6-mers' logits compared; on transformers' ESM in the NT v2 shape with
FGM small's width, depth and heads (`peers.build_model("esm")`). Both models are randomly initialised:
speed does not depend on the weights. SNVs come from the bundled yeast stop-gain / synonymous set.

    python benchmarks/bench_variants.py --out benchmarks/results_variants.md [--device cuda]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import REPO, build_model  # noqa: E402

sys.path.insert(0, str(REPO))
from fgm.data.reference import ReferenceGenome  # noqa: E402
from fgm.model.kmers_fgm import reverse_complement  # noqa: E402
from fgm.model.tokenization_fgm import FGMTokenizer  # noqa: E402
from fgm.variants.benchmark import yeast_stop_vs_synonymous  # noqa: E402
from fgm.variants.scoring import SNV, VariantScorer, frame_windows  # noqa: E402

WINDOWS = {1_000: 64, 6_000: 32, 100_002: 4}  # window (bases) -> variants scored on a 2-core CPU


@torch.no_grad()
def peer_scores(model, tokenizer, genome, snvs, window, batch_size, device):
    """GPN's NT recipe: mask the 6-mer holding the variant, compare the alt and ref 6-mers' logits."""
    jobs = []
    for snv in snvs:
        contig = genome.contig(snv.chrom)
        for reverse in (False, True):
            (w,) = frame_windows(snv.chrom, snv.pos - 1, genome.lengths[contig], window, 6, "center", reverse)
            text = genome.fetch(snv.chrom, w.start, w.end)
            text = reverse_complement(text) if reverse else text
            encoded = tokenizer(text, return_offsets_mapping=True)
            token = next(t for t, (a, b) in enumerate(encoded["offset_mapping"]) if a <= w.index < b)
            start = encoded["offset_mapping"][token][0]
            kmer = text[start : start + 6]
            alt = snv.alt if not reverse else reverse_complement(snv.alt)
            mutant = kmer[: w.index - start] + alt + kmer[w.index - start + 1 :]
            ids = encoded["input_ids"]
            ids[token] = tokenizer.mask_token_id
            jobs.append((ids, token, tokenizer.convert_tokens_to_ids(kmer), tokenizer.convert_tokens_to_ids(mutant)))
    scores = []
    for first in range(0, len(jobs), batch_size):
        batch = jobs[first : first + batch_size]
        ids = torch.tensor([j[0] for j in batch], device=device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = model(input_ids=ids).logits
        for row, (_, token, ref, alt) in enumerate(batch):
            scores.append(float(logits[row, token, alt] - logits[row, token, ref]))
    return scores


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="benchmarks/results_variants.md")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    tokenizer = FGMTokenizer(k=6)
    frame, genome_path = yeast_stop_vs_synonymous(n_per_class=max(WINDOWS.values()))
    snvs = [SNV(r.chrom, r.pos, r.ref, r.alt) for r in frame.itertuples()]
    fgm = build_model("fgm", "small").to(device).eval()
    esm = build_model("esm", "small", max_positions=20_000).to(device).eval()
    rows = []
    started = time.perf_counter()
    with ReferenceGenome(genome_path) as genome:
        for window, n in WINDOWS.items():
            batch = max(1, args.batch_size * 1_000 // window) if device.type == "cpu" else args.batch_size
            chosen = snvs[:n]
            center = VariantScorer(fgm, tokenizer, window, "center", "both", batch)
            every = VariantScorer(fgm, tokenizer, window, "all", "both", batch)
            center.score(genome, chosen[:1])  # warm-up
            peer_scores(esm, tokenizer, genome, chosen[:1], window, batch, device)
            seconds = {
                "fgm_center": timed(lambda: center.score(genome, chosen)),
                "fgm_all": timed(lambda: every.score(genome, chosen)),
                "esm_gpn": timed(lambda: peer_scores(esm, tokenizer, genome, chosen, window, batch, device)),
            }
            rows.append((window, n, {name: n / s for name, s in seconds.items()}))
            print(window, rows[-1][2], flush=True)
    lines = [
        "# Variant scoring speed",
        "",
        f"Command: `python benchmarks/bench_variants.py --out {args.out} --device {args.device}` "
        f"({args.threads} torch threads)",
        f"Machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"device {torch.cuda.get_device_name() if device.type == 'cuda' else 'CPU (fp32)'}",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; whole run {(time.perf_counter() - started) / 60:.0f} min",
        "",
        "Variants per second, both strands; FGM `small` (35M, k=6) and ESM in the NT v2 shape of the same width, "
        "depth and heads. `center`: one masked forward per variant and strand, as the peer recipe; `all`: the six "
        "k-mer frames averaged (six times the forwards).",
        "",
        "| window (bases) | variants | FGM, frames center | FGM, frames all | ESM (NT v2 shape), GPN recipe | FGM center / ESM |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for window, n, rate in rows:
        lines.append(f"| {window:,} | {n} | {rate['fgm_center']:.3g} | {rate['fgm_all']:.3g} | {rate['esm_gpn']:.3g} | "
                     f"{rate['fgm_center'] / rate['esm_gpn']:.2f}x |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
