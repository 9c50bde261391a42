"""How the positive control's recipe was found: short plain-PyTorch runs that train a small FGM model on planted
copies and measure `fgm benchmark retrieval` every few hundred steps (README "What it took to learn copying").

Each run: yeast's training chromosomes (the corpus of scripts/positive_control.sh, or `fgm corpus --window 4096
--val_chroms chrXV --test_chroms chrXVI`), windows of --bases bases, every one with a --length-base segment of
other training sequence written twice --distances apart (FGM's `CopyPlanting`), 30% masking (80/10/10), batch 16,
AdamW, a cosine schedule; the retrieval gain on chrXVI (48 windows per distance, 32-base copies) is printed as it
trains. The runs the README quotes:

    python scripts/copy_recipe_lab.py --corpus CORPUS --layers ff --distances 64:64             # a fixed offset
    python scripts/copy_recipe_lab.py --corpus CORPUS --layers ff --distances 64:192 --steps 3000  # any offset
    python scripts/copy_recipe_lab.py --corpus CORPUS --layers sf --conv 9 --bases 96 --length 24 --distances 24:72
"""

import argparse
import math
import tempfile

import numpy as np
import torch

from fgm.model.configuration_fgm import FGMConfig
from fgm.context.instrument import HeldOutArguments, ScoringArguments
from fgm.context.retrieval import RetrievalArguments, retrieval_benchmark
from fgm.data.corpus import load_corpus
from fgm.data.mlm import MaskedGenomeWindows, mlm_collator
from fgm.data.planting import CopyPlanting
from fgm.model.modeling_fgm import FGMForMaskedLM
from fgm.model.tokenization_fgm import FGMTokenizer

LAYERS = {"s": "sliding_attention", "f": "full_attention"}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True, help="a corpus from `fgm corpus` (its train split)")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--learning_rate", type=float, default=3e-3)
    parser.add_argument("--bases", type=int, default=256, help="bases per training window")
    parser.add_argument("--length", type=int, default=64, help="bases of a planted segment")
    parser.add_argument("--distances", default="64:192", help="MIN:MAX distance of the copies, start to start")
    parser.add_argument("--layers", default="sf", help="one letter per layer: s(liding) or f(ull attention)")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--conv", type=int, default=0, help="token_conv_kernel (0: none)")
    parser.add_argument("--rope_theta", type=float, default=10_000.0, help="rotary base of every layer")
    parser.add_argument("--probe", default="32,48", help="retrieval distances measured while training")
    parser.add_argument("--every", type=int, default=300, help="steps between measurements")
    args = parser.parse_args()

    torch.manual_seed(0)
    tokenizer = FGMTokenizer(k=1)
    model = FGMForMaskedLM(FGMConfig.preset(
        "demo", kmer_size=1, vocab_size=len(tokenizer), num_hidden_layers=len(args.layers), hidden_size=args.hidden,
        num_attention_heads=args.heads, intermediate_size=args.hidden * 5 // 2,
        layer_types=[LAYERS[c] for c in args.layers], token_conv_kernel=args.conv,
        rope_theta=args.rope_theta))
    model.set_attn_implementation("sdpa")
    low, high = map(int, args.distances.split(":"))
    planting = CopyPlanting(rate=1.0, length=args.length, min_distance=low, max_distance=high)
    rows = load_corpus(args.corpus)["train"]
    examples = MaskedGenomeWindows(rows, tokenizer, args.bases + 1, 0.3, train=True, planting=planting)
    collate, order = mlm_collator(tokenizer), np.random.default_rng(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1, (step + 1) / 30) * 0.5 * (
        1 + math.cos(math.pi * step / args.steps)))
    probe = [int(d) for d in args.probe.split(",")]
    losses = []
    for step in range(1, args.steps + 1):
        examples.set_epoch(step)  # new crops, copies and masks at every step
        batch = collate([examples[int(i)] for i in order.integers(len(rows), size=16)])
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        if step % args.every == 0 or step == args.steps:
            model.eval()
            with tempfile.TemporaryDirectory() as folder:  # a fresh folder: saved distances belong to one model
                probe_args = RetrievalArguments(model_name_or_path="the model in training", distances=probe,
                                                output_dir=folder, windows=48)
                rows_out = retrieval_benchmark(probe_args, HeldOutArguments(), ScoringArguments(bootstrap=100, quiet=True),
                                               model=(model, tokenizer)).rows
            model.train()
            gains = " ".join(f"d={r.distance}: {r.gain.estimate:+.3f}" for r in rows_out)
            print(f"step {step}  loss {np.mean(losses[-args.every:]):.4f}  retrieval gain {gains}", flush=True)


if __name__ == "__main__":
    main()
