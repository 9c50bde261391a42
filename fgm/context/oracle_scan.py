"""`fgm context-oracle`: where a genome's copies are and what the copy oracle gains at each context, with no
neural model at all.

Two measurements of the held-out sequence (`HeldOutArguments`; default: chrXVI of the bundled yeast genome, the
other chromosomes fitting the Markov fallback and the oracle's error rates; a genome of one record fits them on the
other half of the record). The repeat strata of every base (single-base masked tokens): the share whose nearest copy
is < 1 kb, 1-10 kb, 10-100 kb, >= 100 kb away or absent, for the held-out and any training sequences. And the copy
oracle at seeded positions for each context: a window of that size centred on the position (clipped at the ends of
its sequence, so that contexts longer than a chromosome still mean "the whole chromosome"), the oracle's loss, its
paired difference to the best Markov model (its gain), and per stratum. The oracle's gain against context is the
upper bound of what context-as-retrieval can give there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.sizes import bases_list

from .copies import KEY, STRATA, find_copies, strata
from .instrument import HeldOutArguments
from .oracle import copy_oracle, error_rate_text
from .report import interval_text, markdown_table, saved_figure, share_text
from .results import Baseline, OracleContextRow, OracleResult
from .scan import MARKOV_ORDERS, choose_positions, markov_scores, paired_difference, strata_results, summarize


def base_strata(sequences: list[str], key: int = KEY) -> np.ndarray:
    """Bases of `sequences` in each stratum (counts in the order of STRATA), every base a single-base token."""
    counts = np.zeros(len(STRATA), dtype=np.int64)
    for sequence in sequences:
        positions = np.arange(len(sequence))
        copies = find_copies([sequence], np.stack([np.zeros_like(positions), positions], 1),
                             np.stack([positions, positions + 1], 1), key)
        counts += np.bincount(strata(copies.distance), minlength=len(STRATA))
    return counts


@dataclass
class OracleArguments:
    """The positions and windows `oracle_scan` measures, and where it writes."""

    _argument_group_name = "oracle"

    contexts: list[str] = field(default_factory=lambda: ["1k", "10k", "100k", "1m"],
                                metadata={"help": "window sizes in bases (clipped at the ends of each sequence)"})
    output_dir: str = field(default="runs/oracle", metadata={"help": "where the tables, plot and data go"})
    positions: int = field(default=20_000, metadata={"help": "sampled positions for the oracle's loss"})
    copy_key: int = field(default=KEY, metadata={"help": "bases around the masked base a copy must match (even, 2-32)"})
    markov_orders: list[int] = field(default_factory=lambda: list(MARKOV_ORDERS), metadata={"help": "fallback orders"})
    seed: int = field(default=0, metadata={"help": "seed of the positions and of the bootstrap"})
    bootstrap: int = field(default=1000, metadata={"help": "bootstrap resamples for the intervals"})

    def __post_init__(self):
        self.contexts = sorted(set(bases_list(self.contexts)))


def oracle_scan(args: OracleArguments | None = None, held_out: HeldOutArguments | None = None) -> OracleResult:
    """The repeat strata and the copy oracle of the held-out sequence at `args.contexts` (bases). Writes oracle.md,
    oracle.json and oracle.png to `args.output_dir`; returns the results."""
    args, held_out = args or OracleArguments(), held_out or HeldOutArguments()
    contexts, seed, key, bootstrap = args.contexts, args.seed, args.copy_key, args.bootstrap
    data = held_out.load()
    chosen, _ = choose_positions(data.held_out, key + 1, args.positions, seed)
    spans = np.array([(p, p + 1) for _, p in chosen])
    rows = markov_scores(data, chosen, [tuple(s) for s in spans], args.markov_orders)
    lengths = np.array([len(data.held_out[s].sequence) for s, _ in chosen])
    centres = spans[:, 0]
    windows = {c: (np.maximum(centres - c // 2, 0), np.minimum(centres - c // 2 + c, lengths)) for c in contexts}
    copies, fit, in_window = copy_oracle(rows, data, chosen, spans, windows, key, seed)
    summary = summarize(rows, bootstrap, seed)
    best = fit.fallback
    stratum = strata(copies.distance)
    results = OracleResult(
        seed=seed, positions=len(chosen), copy_oracle=fit,
        bases={"held_out": base_strata([s.sequence for s in data.held_out], key).tolist(),
               **({"train": base_strata(data.train, key).tolist()} if data.train else {})},
        best_baseline=Baseline(name=best, **vars(summary[best])),
        contexts=[OracleContextRow(context=c, copy_in_window=float(in_window[c].mean()),
                                   **vars(summary[f"copy oracle {c}"]), vs_best_baseline=paired_difference(rows, f"copy oracle {c}", best, bootstrap, seed))
                  for c in contexts],
        strata=strata_results(rows, contexts, stratum, best, bootstrap, seed, {"copy_oracle": "copy oracle"}),
    )
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    results.save(output_dir / "oracle.json")
    (output_dir / "oracle.md").write_text(oracle_table(results))
    with saved_figure(output_dir / "oracle.png") as axis:
        axis.plot(contexts, [row.gain.estimate for row in results.contexts], marker="o",
                  label="copy oracle's gain over the best Markov model")
        axis.set_xscale("log")
        axis.set_xlabel("context (bases)")
        axis.set_ylabel("nats per base")
    return results


def oracle_table(results: OracleResult) -> str:
    """Markdown: the share of bases per stratum, then the oracle's loss and gain per context."""
    fit = results.copy_oracle
    shares = []
    for name, counts in results.bases.items():
        counts = np.array(counts)
        shares.append([name.replace("_", "-"), f"{counts.sum():,}", *(f"{100 * c / counts.sum():.2f}%" for c in counts),
                       f"{100 * counts[1:].sum() / counts.sum():.2f}%"])
    text = markdown_table(
        f"Share of bases by the distance to their nearest copy (the {fit.key} bases around the base, either strand, "
        "not overlapping it, anywhere in its own sequence), every base of each sequence.",
        ["sequences", "bases", *STRATA, "any copy"], shares)
    caption = (
        f"Copy oracle at {results.positions:,} positions (seed {results.seed}) of the held-out sequence, in a "
        f"window of each context centred on the position (clipped at its sequence's ends): the base a copy inside "
        f"the window holds, else {fit.fallback} ({results.best_baseline.loss.estimate:.4f} nats per base; Markov "
        f"orders fitted on {fit.fitted_on}); {error_rate_text(fit)}. Gain = the best baseline's loss minus the "
        "oracle's, paired; 95% bootstrap intervals.")
    rows = [[f"{row.context:,}", f"{100 * row.copy_in_window:.2f}%", interval_text(row.loss),
             interval_text(row.gain, sign="+")] for row in results.contexts]
    text += "\n" + markdown_table(caption, ["context (bases)", "positions with a copy in the window",
                                            "copy oracle loss", "gain over the best baseline"], rows)
    contexts = [f"{row.context:,}" for row in results.contexts]
    rows = [[row.stratum, f"{row.positions:,} ({share_text(row.share)})",
             *([interval_text(v) for v in row.copy_oracle] if row.positions else
               ["no sampled position is in this stratum"] + [""] * (len(contexts) - 1))]
            for row in results.strata]
    return text + "\n" + markdown_table("Copy oracle loss per stratum of the sampled positions (nats per base).",
                                        ["stratum", "positions (share)", *contexts], rows)

