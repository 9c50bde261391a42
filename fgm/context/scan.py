"""`fgm context-scan`: masked-LM loss at the same positions for every context size, for FGM or any Hugging
Face masked LM with a DNA tokenizer (`inference.MaskedBaseScorer`); for a causal LM (`inference.CausalBaseScorer`),
the loss of each base given the bases before it.

Scored positions are a fixed, seeded sample of the held-out sequence (`instrument.HeldOutArguments`: a corpus split,
records of a genome, by default chrXVI of the bundled yeast genome). Each position is scored alone: in a window of
each context size centred on it, the token holding it is replaced by <mask>, and the model's probability of the true
base at the position (`nucleotide_marginals`) gives the loss in nats per base, the accuracy and the perplexity (exp
of the mean loss, at most 4). Token-level loss (the k-mer objective) is reported too.

The scored token is identical across context sizes: every window starts in the k-mer frame of the
largest one, and positions whose largest window holds an N (which restarts the frame) or does not fit
in its sequence are excluded and counted. Windows longer than the checkpoint's training context are
marked as extrapolation.

A causal LM reads each position at the end of its window instead: the window of a context size is the whole
tokens (in the k-mer frame of the position's sequence) that end with the position's token, and the position is
scored from the bases before it. Its baselines and copies are one-sided too: Markov models of the m bases before
a base (`CausalMarkov`), and copies that are earlier occurrences of the key bases just before it
(`find_earlier_copies`), so the strata and the oracle are what a model that reads only the past could use.

Honest baselines: bidirectional Markov models of orders 0..6 (`BidirectionalMarkov`), scored at the same
positions under the same masking, and the copy oracle (`oracle`): the base a copy inside the window holds, else
the best Markov model; what context-as-retrieval can give. Both are fitted on sequences the scored positions are
not in (`ScanData`): the training split, the genome's other records or a training genome, or for a genome of one
record, the other half of the record. Repeat
strata (`copies`): each position is classed by the distance to its nearest copy, and the loss is given per
stratum, so the few bases where distant context carries information are not averaged away. Intervals are
95% bootstrap intervals over positions (the same resamples for every row). Each context size is saved as it
finishes (`context_<bases>.npz`), so an interrupted scan resumes where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..checkpoints import checkpoint_argument
from ..data.sizes import bases_list
from ..stats import mean_interval, resamples
from .copies import KEY, STRATA, find_copies, find_earlier_copies, strata
from .held_out import ScanData, Segment
from .instrument import HeldOutArguments, ScoringArguments, model_name
from .oracle import copy_oracle, error_rate_text
from .report import input_text, interval_text, markdown_table, saved_figure, scored_how, share_text
from .results import (Baseline, ContextRow, CopyOracleFit, PairedDifference, PairedScans, ScanResult, Scores,
                      StratumRow, Versus)

MARKOV_ORDERS = tuple(range(7))
SOFT_MASKING = ("not soft-masked", "soft-masked")  # a scored base outside / inside its sequence's lowercase runs


def choose_positions(segments: list[Segment], largest: int, n: int, seed: int, within=None, before: int | None = None):
    """`n` positions (segment index, offset) whose largest window fits and holds no N, drawn with `seed`;
    and the count of positions excluded for each reason. `within(segment index, offsets)`, when given, is a
    boolean mask of the offsets that may be drawn (e.g. `in_stratum`). `before`: the window's bases before its
    position (default: half, a centred window)."""
    before = largest // 2 if before is None else before
    candidates, excluded = [], {"too_near_an_end": 0, "n_in_window": 0, **({"outside_stratum": 0} if within else {})}
    for index, segment in enumerate(segments):
        length = len(segment.sequence)
        first, last = before, length - (largest - before)  # window [p - before, p - before + largest) fits
        if last < first:
            excluded["too_near_an_end"] += length
            continue
        excluded["too_near_an_end"] += length - (last - first + 1)
        n_before = np.concatenate([[0], np.cumsum(np.frombuffer(segment.sequence.encode(), np.uint8) == ord("N"))])
        starts = np.arange(first, last + 1) - before
        clean = n_before[starts + largest] == n_before[starts]
        excluded["n_in_window"] += int((~clean).sum())
        offsets = np.arange(first, last + 1)[clean]
        if within:
            kept = within(index, offsets)
            excluded["outside_stratum"] += int((~kept).sum())
            offsets = offsets[kept]
        candidates.append(np.stack([np.full(len(offsets), index), offsets], 1))
    pool = np.concatenate(candidates) if candidates else np.zeros((0, 2), dtype=np.int64)
    if len(pool) < n:
        where = " in the stratum asked for" if within else ""
        raise ValueError(f"only {len(pool)} positions{where} have room for a {largest:,}-base window without N; ask "
                         "for fewer positions or smaller contexts")
    chosen = pool[np.sort(np.random.default_rng(seed).choice(len(pool), n, replace=False))]
    return [tuple(map(int, p)) for p in chosen], excluded


def in_stratum(segments: list[Segment], name: str, key: int = KEY, causal: bool = False):
    """For `choose_positions`: the offsets whose nearest copy lies in the repeat stratum `name` (one of STRATA,
    spaces optional), found with single-base masked tokens (a k-mer model's scan classes its positions again by
    its own tokens, so a few may land in a neighbouring stratum); `causal`: the nearest earlier copy."""
    names = {stratum.replace(" ", ""): i for i, stratum in enumerate(STRATA)}
    if name.replace(" ", "") not in names:
        raise ValueError(f"unknown repeat stratum {name!r}; choose one of {list(STRATA)}")
    wanted, sequences = names[name.replace(" ", "")], [segment.sequence for segment in segments]

    def within(index: int, offsets: np.ndarray) -> np.ndarray:
        queries = np.stack([np.full(len(offsets), index), offsets], 1)
        copies = (find_earlier_copies(sequences, queries, key) if causal
                  else find_copies(sequences, queries, np.stack([offsets, offsets + 1], 1), key))
        return strata(copies.distance) == wanted

    return within


def window_start(position: int, context: int, largest: int, k: int) -> int:
    """Start of the `context`-base window around `position`: centred within k bases, in the k-mer frame of
    the largest window, so the position's token is the same in every window."""
    return position - largest // 2 + (largest - context) // 2 // k * k


def causal_window(position: int, context: int, k: int) -> tuple[int, int]:
    """[start, end) of a causal LM's `context`-base window for `position`: the whole k-mers, in the frame of the
    position's sequence, that end with the token holding it (the same token at every context size)."""
    token = position - position % k
    return token - k * (context // k - 1), token + k


def windows_of(chosen, contexts: list[int], k: int, causal: bool) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Context -> (starts, ends) of every chosen position's window: centred for a masked LM, ending with the
    position's token for a causal one."""
    out = {}
    for context in contexts:
        if causal:
            out[context] = tuple(np.array([causal_window(p, context, k) for _, p in chosen]).reshape(-1, 2).T)
        else:
            starts = np.array([window_start(p, context, contexts[-1], k) for _, p in chosen])
            out[context] = starts, starts + context
    return out


def scores_file(scan_dir, context: int) -> Path:
    """Where a scan keeps its per-position scores at one context size (what resuming and the study read)."""
    return Path(scan_dir) / f"context_{context}.npz"


def strata_file(scan_dir) -> Path:
    """Where a scan keeps each scored position's repeat stratum (an index into `STRATA`), for paired comparisons
    within a stratum (the study's)."""
    return Path(scan_dir) / "strata.npz"


def summarize(values: dict[str, tuple[np.ndarray, np.ndarray]], n: int, seed: int) -> dict[str, Scores]:
    """Mean loss, accuracy and perplexity with 95% intervals; `values` maps a row name to (loss, correct)
    arrays over the same positions, resampled identically for every row."""
    samples = resamples(len(next(iter(values.values()))[0]), n, seed)
    summary = {}
    for name, (loss, correct) in values.items():
        loss_interval = mean_interval(loss, samples)
        summary[name] = Scores(loss=loss_interval, accuracy=mean_interval(correct, samples),
                               perplexity=loss_interval.map(lambda value: float(np.exp(value))))
    return summary


def paired_difference(values: dict[str, np.ndarray], row: str, reference: str, n: int, seed: int) -> PairedDifference:
    """`row` minus `reference` on the same positions: loss and accuracy differences with 95% paired bootstrap
    intervals (a loss interval below 0 means `row` is better beyond resampling noise)."""
    (loss, correct), (ref_loss, ref_correct) = values[row], values[reference]
    samples = resamples(len(loss), n, seed)
    return PairedDifference(reference=reference, loss=mean_interval(loss.astype(float) - ref_loss, samples),
                            accuracy=mean_interval(correct.astype(float) - ref_correct.astype(float), samples))


def paired_scans(scan_dir, reference_dir, contexts: list[int], n: int, seed: int) -> PairedScans:
    """The loss of the scan in `scan_dir` minus that in `reference_dir` (another model scanned at the same positions),
    paired, per context (`loss`) and within each repeat stratum (`by_stratum`: stratum -> context -> interval, only
    where the stratum has positions; None for scans saved before strata were)."""
    positions = [np.load(strata_file(folder))["positions"] if strata_file(folder).exists() else None
                 for folder in (scan_dir, reference_dir)]
    if positions[0] is not None and positions[1] is not None and not np.array_equal(*positions):
        raise ValueError(f"{scan_dir} and {reference_dir} scored different positions: scan both with the same held-out "
                         "sequence, --positions, --seed, --stratum and largest context")
    stratum = np.load(strata_file(scan_dir))["stratum"] if positions[0] is not None else None
    loss, by_stratum = {}, {name: {} for name in STRATA}
    for context in contexts:
        values = {}
        for name, folder in (("scan", scan_dir), ("reference", reference_dir)):
            saved = np.load(scores_file(folder, context))
            values[name] = saved["base_loss"], saved["base_correct"]
        loss[context] = paired_difference(values, "scan", "reference", n, seed).loss
        for index, name in enumerate(STRATA if stratum is not None else []):
            members = stratum == index
            if members.any():
                within = {key: tuple(array[members] for array in pair) for key, pair in values.items()}
                by_stratum[name][context] = paired_difference(within, "scan", "reference", n, seed).loss
    return PairedScans(loss=loss, by_stratum=by_stratum if stratum is not None else None)


def markov_scores(data: ScanData, positions, spans, orders,
                  causal: bool = False) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(loss, correct) per Markov order at the scored positions, their tokens masked as for the model (`causal`:
    from the bases before each position, `CausalMarkov`); each position scored by models fitted on its fold's
    sequences (`ScanData.folds`)."""
    from .baselines import BidirectionalMarkov, CausalMarkov, encode_bases

    if causal:
        spans = [(p, p + 1) for _, p in positions]

    segments, folds = data.held_out, data.folds(positions)
    scores = {}
    for order in orders:
        loss, correct = np.zeros(len(positions)), np.zeros(len(positions), dtype=bool)
        for sequences, members in folds:
            by_shape: dict[tuple[int, int], list[int]] = {}
            for i in np.flatnonzero(members):
                (segment, position), (start, end) = positions[i], spans[i]
                by_shape.setdefault((end - start, position - start), []).append(i)
            for (gap, offset), rows in by_shape.items():
                model = (CausalMarkov(order) if causal else BidirectionalMarkov(order, gap, offset)).fit(sequences)
                contexts = []
                for i in rows:
                    (segment, position), (start, end) = positions[i], spans[i]
                    contexts.append(segments[segment].sequence[start - order : end + order * model.right])
                log_probs = model.log_probs(contexts)
                truth = encode_bases("".join(segments[positions[i][0]].sequence[positions[i][1]] for i in rows))
                loss[rows] = -log_probs[np.arange(len(rows)), truth]
                correct[rows] = log_probs.argmax(1) == truth
        scores[f"Markov order {order}"] = (loss, correct)
    return scores


def score_context(scorer, data: ScanData, chosen, context: int, bounds, saved: Path,
                  progress: bool) -> dict[str, np.ndarray]:
    """Per-position scores at one context size, in the windows `bounds` = (starts, ends) (`windows_of`), read back
    from `saved` when it holds the same positions."""
    if saved.exists() and np.load(saved)["positions"].tolist() == [list(p) for p in chosen]:
        return dict(np.load(saved))
    starts = bounds[0].tolist()
    windows = [data.held_out[s].sequence[a:b] for (s, _), a, b in zip(chosen, starts, bounds[1].tolist())]
    bases = [data.held_out[s].sequence[p] for s, p in chosen]
    scores = scorer.score(windows, [p - a for (_, p), a in zip(chosen, starts)], progress=progress,
                          desc=f"context {context:,}")
    arrays = {
        "positions": np.array(chosen),
        "base_loss": scores.base_loss(bases),
        "base_correct": scores.base_correct(bases),
        "token_loss": scores.token_loss,
        "token_correct": scores.token_correct,
        "token_spans": scores.token_spans + np.array(starts)[:, None],
    }
    np.savez(saved, **arrays)
    return arrays


@dataclass
class ScanArguments:
    """What `context_scan` measures and where it writes."""

    _argument_group_name = "scan"

    model_name_or_path: str = checkpoint_argument("checkpoint folder or Hub id of a masked LM (FGM, a Nucleotide "
                                                  "Transformer) or a causal LM (Carbon) with a DNA tokenizer")
    contexts: list[str] = field(metadata={"help": "window sizes in bases, e.g. 1k,4k,16k,64k"})
    output_dir: str = field(default="runs/context_scan", metadata={"help": "where the table, plot and data go"})
    positions: int = field(default=2000, metadata={"help": "scored positions"})
    markov_orders: list[int] = field(default_factory=lambda: list(MARKOV_ORDERS), metadata={"help": "baseline orders"})
    copy_key: int = field(default=KEY, metadata={"help": "bases around the masked token a copy must match (even, "
                                                 "2-32)"})
    stratum: str | None = field(default=None, metadata={
        "help": "draw every position from this repeat stratum: 'no copy', '< 1 kb', '1-10 kb', '10-100 kb' or "
                "'>= 100 kb' (spaces optional)"})
    versus: str | None = field(default=None, metadata={
        "help": "another model's scan folder at the same positions and contexts: this model's loss minus its, paired, "
                "overall and per stratum"})

    def __post_init__(self):
        self.contexts = sorted(set(bases_list(self.contexts)))  # "1k,4k" or [1000, 4000]


def context_scan(args: ScanArguments, held_out: HeldOutArguments | None = None,
                 scoring: ScoringArguments | None = None, model=None) -> ScanResult:
    """Scan the checkpoint `args.model_name_or_path` (any masked or causal LM with a DNA tokenizer; or `model`, a loaded
    `(model, tokenizer)` pair, in its place) over `args.contexts` (bases) on the held-out sequence (default: chrXVI of
    the bundled yeast genome); copies are matched on `args.copy_key` bases around the masked token; with `args.stratum`
    (one of STRATA) every position is drawn from that repeat stratum, so a rare stratum (copies 1-10 kb away: 3% of
    Drosophila chr4) is measured without scanning thousands of others. `args.versus`: the folder of another model's scan
    at the same positions and contexts, which this one is compared with, paired, overall and per stratum (`versus` in
    the results). Writes `scan.json`, `scan.md`, `scan.png` and one `context_<bases>.npz` per size to `args.output_dir`;
    returns the results."""
    held_out, scoring = held_out or HeldOutArguments(), scoring or ScoringArguments()
    data, seed, contexts = held_out.load(), scoring.seed, args.contexts
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    scorer, trained = scoring.scorer(model or args.model_name_or_path)
    k, causal = scorer.vocabulary.longest, scorer.causal
    within = in_stratum(data.held_out, args.stratum, args.copy_key, causal) if args.stratum else None
    largest, before = (contexts[-1] + k, contexts[-1]) if causal else (contexts[-1], None)
    chosen, excluded = choose_positions(data.held_out, largest, args.positions, seed, within, before)
    windows, per_context = windows_of(chosen, contexts, k, causal), {}
    for context in contexts:
        per_context[context] = score_context(scorer, data, chosen, context, windows[context],
                                             scores_file(output_dir, context), not scoring.quiet)
        if not np.array_equal(per_context[context]["token_spans"], per_context[contexts[0]]["token_spans"]):
            raise RuntimeError(f"the scored tokens differ at context {context}: the tokenizer does not cut every "
                               "window in the same fixed k-mer frame")
    rows = {f"context {c}": (a["base_loss"], a["base_correct"]) for c, a in per_context.items()}
    spans = per_context[contexts[0]]["token_spans"]
    rows.update(markov_scores(data, chosen, [tuple(s) for s in spans], args.markov_orders, causal))
    copies, fit, in_window = copy_oracle(rows, data, chosen, spans, windows, args.copy_key, seed, causal)
    stratum = strata(copies.distance)
    where = np.array(chosen).reshape(-1, 2)
    soft_masked = np.zeros(len(where), dtype=bool)
    for segment in np.unique(where[:, 0]):
        members = where[:, 0] == segment
        soft_masked[members] = data.held_out[segment].is_soft_masked(where[members, 1])
    np.savez(strata_file(output_dir), positions=np.array(chosen), stratum=stratum, soft_masked=soft_masked)
    results = scan_results(rows, per_context, scoring.bootstrap, seed, stratum=stratum, copy_fit=fit,
                           in_window=in_window, model=model_name(scorer), kmer_size=k, training_context=trained,
                           positions=len(chosen), excluded=excluded, causal=causal or None,
                           input_rule=scorer.input_rule)
    if any(len(segment.soft_masked) for segment in data.held_out):
        results.soft_masking = strata_results(rows, contexts, soft_masked.astype(int), results.best_baseline().name
                                              if results.baselines else None, scoring.bootstrap, seed,
                                              {"model": "context", "copy_oracle": "copy oracle"}, SOFT_MASKING)
    if args.versus:
        paired = paired_scans(output_dir, args.versus, contexts, scoring.bootstrap, seed)
        results.versus = Versus(scan=str(args.versus), loss=paired.loss, by_stratum=paired.by_stratum)
    results.save(output_dir / "scan.json")
    (output_dir / "scan.md").write_text(scan_table(results))
    plot_scans({"": results}, output_dir / "scan.png")
    return results


def scan_results(rows: dict, per_context: dict, bootstrap: int, seed: int, stratum: np.ndarray, copy_fit: CopyOracleFit,
                 in_window: dict, **header) -> ScanResult:
    """The scan's report: `header`, then each context size and each baseline with their intervals, each size's
    paired difference to the best baseline, the copy oracle, and the loss per repeat stratum."""
    summary = summarize(rows, bootstrap, seed)
    baselines = [name for name in summary if name.startswith("Markov")]
    best = min(baselines, key=lambda name: summary[name].loss.estimate, default=None)
    k, trained = header["kmer_size"], header["training_context"]
    samples = resamples(len(stratum), bootstrap, seed)
    return ScanResult(
        **header,
        seed=seed,
        contexts=[
            ContextRow(context=c, tokens=c // k + 1, extrapolation=c > trained,
                       token_loss=float(a["token_loss"].mean()), token_accuracy=float(a["token_correct"].mean()),
                       **vars(summary[f"context {c}"]),
                       vs_best_baseline=(paired_difference(rows, f"context {c}", best, bootstrap, seed) if best
                                         else None),
                       copy_oracle=summary[f"copy oracle {c}"], copy_in_window=mean_interval(in_window[c], samples))
            for c, a in per_context.items()
        ],
        baselines=[Baseline(name=name, **vars(summary[name])) for name in baselines],
        copy_oracle=copy_fit,
        strata=strata_results(rows, list(per_context), stratum, best, bootstrap, seed,
                              {"model": "context", "copy_oracle": "copy oracle"}),
    )


def strata_results(rows: dict, contexts: list[int], stratum: np.ndarray, best: str | None, bootstrap: int,
                   seed: int, scored_by: dict[str, str], names=STRATA) -> list[StratumRow]:
    """Per stratum (`stratum`: each position's index into `names`, by default the repeat strata): its positions and
    share of all, and the loss of each of `scored_by` (label -> the prefix of its rows, "<prefix> <context>") at
    each context (lists in the order of `contexts`) and of the best baseline, resampled within the stratum."""
    everyone, out = resamples(len(stratum), bootstrap, seed), []
    for index, name in enumerate(names):
        members = stratum == index
        row = StratumRow(stratum=name, positions=int(members.sum()), share=mean_interval(members, everyone))
        if members.any():
            samples = resamples(int(members.sum()), bootstrap, seed)
            for label, prefix in scored_by.items():
                loss = [mean_interval(rows[f"{prefix} {c}"][0][members], samples) for c in contexts]
                setattr(row, label, loss)
            if best:
                row.best_baseline = mean_interval(rows[best][0][members], samples)
        out.append(row)
    return out


def scan_table(results: ScanResult) -> str:
    """Markdown: the model at each context, then the Markov baselines on the same positions, then the loss per
    repeat stratum with the copy oracle."""
    one_sided = ("; each window ends with the scored base's token, the Markov baselines read the m bases before a "
                 "base and copies are earlier ones" if results.causal else "")
    caption = (
        f"{'Causal' if results.causal else 'Masked'}-LM scores at {results.positions:,} positions (seed "
        f"{results.seed}), {scored_how(results.causal)}, alone{one_sided}; 95% bootstrap intervals. Training context: "
        f"{results.training_context:,} bases. \"loss - best baseline's\" is the paired difference to the best Markov "
        "baseline on the same positions (below 0: better); the copy oracle predicts the base a copy inside the window "
        f"holds (else the best Markov). Markov baselines and copy error rates fitted on "
        f"{results.copy_oracle.fitted_on}.{input_text(results.input_rule)}")
    columns = ["context (bases)", "tokens", "loss (nats/base)", "accuracy", "perplexity", "token loss",
               "loss - best baseline's", "copy oracle loss", "copy in window"]
    rows = [[f"{row.context:,}" + (" (extrapolation)" if row.extrapolation else ""), f"{row.tokens:,}",
             interval_text(row.loss), interval_text(row.accuracy), interval_text(row.perplexity, 3),
             f"{row.token_loss:.4f}", interval_text(row.vs_best_baseline.loss) if row.vs_best_baseline else "",
             interval_text(row.copy_oracle.loss), share_text(row.copy_in_window)]
            for row in results.contexts]
    rows += [[row.name, "", interval_text(row.loss), interval_text(row.accuracy), interval_text(row.perplexity, 3),
              "", "", "", ""] for row in results.baselines]
    excluded = ", ".join(f"{n:,} {reason.replace('_', ' ')}" for reason, n in results.excluded.items())
    return (markdown_table(caption, columns, rows) + f"\nPositions excluded from the draw: {excluded}.\n\n"
            + strata_table(results) + (versus_table(results) if results.versus else ""))


def versus_table(results: ScanResult) -> str:
    """Markdown: this scan's loss minus that of the scan it was compared with, paired, overall and per stratum."""
    versus, contexts = results.versus, [row.context for row in results.contexts]
    rows = [["all positions", *(interval_text(versus.loss[c], sign="+") for c in contexts)]]
    rows += [[name, *(interval_text(per_context[c], sign="+") for c in contexts)]
             for name, per_context in (versus.by_stratum or {}).items() if per_context]
    return "\n" + markdown_table(
        f"This model's loss minus that of the model scanned in {versus.scan}, paired at the same positions (nats "
        "per base; 95% intervals; below 0: this model is better).", ["positions", *(f"{c:,}" for c in contexts)], rows)


def strata_table(results: ScanResult) -> str:
    """Markdown: loss per repeat stratum and context, the model's and the copy oracle's, with the best baseline;
    then the same split by soft-masking, where the held-out sequence marks it."""
    fit = results.copy_oracle
    copy = (f"nearest earlier copy, on either strand and not overlapping it, of the {fit.key} bases before it" if
            results.causal else f"nearest copy, on either strand and not overlapping it, of the {fit.key} bases "
            "around its masked token")
    caption = (
        f"Loss (nats per base) by repeat stratum: each position is classed by the distance to the {copy} in its "
        f"held-out sequence; 95% intervals within each stratum. The copy oracle falls back to {fit.fallback}; "
        f"{error_rate_text(fit)}.")
    table = stratum_rows_table(results, results.strata, caption, "no scored position has its nearest copy at this "
                               "distance")
    if results.soft_masking:
        table += "\n" + stratum_rows_table(
            results, results.soft_masking, "Loss (nats per base) by soft-masking: scored bases inside and outside the "
            "lowercase (soft-masked) stretches of their FASTA file, reference genomes' mark of repeats; 95% intervals.",
            "no scored position here")
    return table


def stratum_rows_table(results: ScanResult, strata: list[StratumRow], caption: str, empty: str) -> str:
    """Markdown: per stratum, its positions and share, and the model's and the copy oracle's loss at each context
    with the best baseline."""
    contexts = [row.context for row in results.contexts]
    baseline = [results.best_baseline().name] if results.baselines else []
    rows = []
    for row in strata:
        head = [row.stratum, f"{row.positions:,} ({share_text(row.share)})"]
        if not row.positions:
            rows.append(head + [empty] + [""] * (len(contexts) + len(baseline)))
            continue
        scorers = [(label, losses) for label, losses in (("model", row.model), ("copy oracle", row.copy_oracle))
                   if losses is not None]
        for i, (label, losses) in enumerate(scorers):
            rows.append((head if i == 0 else ["", ""]) + [label] + [interval_text(v) for v in losses]
                        + [interval_text(row.best_baseline) if i == 0 else ""] * len(baseline))
    return markdown_table(caption, ["stratum", "positions (share)", "scored by", *(f"{c:,}" for c in contexts),
                                    *baseline], rows)


def plot_scans(scans: dict[str, ScanResult], path) -> None:
    """Loss per base against context, one line per scan (label -> results), with the best Markov baseline and
    the copy oracle of the first scan."""
    with saved_figure(path, (6.4, 4.2)) as axis:
        for label, results in scans.items():
            x = [r.context for r in results.contexts]
            axis.plot(x, [r.loss.estimate for r in results.contexts], marker="o", label=label or "model")
            axis.fill_between(x, [r.loss.low for r in results.contexts], [r.loss.high for r in results.contexts],
                              alpha=0.2)
            axis.axvline(results.training_context, color=axis.lines[-1].get_color(), linestyle=":", linewidth=0.8)
        first = next(iter(scans.values()))
        if first.baselines:
            baseline = first.best_baseline()
            axis.axhline(baseline.loss.estimate, color="grey", linestyle="--", label=f"best baseline ({baseline.name})")
        axis.plot([r.context for r in first.contexts], [r.copy_oracle.loss.estimate for r in first.contexts],
                  color="black", linestyle="-.", marker=".", label="copy oracle (no neural model)")
        axis.set_xscale("log", base=2)
        axis.set_xlabel("context (bases); dotted: training context")
        axis.set_ylabel(f"{'causal' if first.causal else 'masked'}-LM loss (nats per base)")
