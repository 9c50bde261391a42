"""`fgm benchmark retrieval`: does a model copy from a repeat in its window, and over what distance?

Retrieval of repeated sequence (transposons, LTR pairs, duplicated genes, tandem arrays) is the most plausible
way long context helps a DNA model, so this zero-shot probe isolates it (after Genomic-NIAH, which plants a
key/value needle in a real-genome haystack for causal models). For each distance d: seeded windows of the
held-out sequence into which a segment of other genomic sequence (`copy_length` bases) is written twice, the
second copy d bases downstream of the first (start to start); the `scored` bases in the middle of the second copy
are scored, each with its token masked (`MaskedBaseScorer`), so the rest of the copy is the key that finds the
first. A causal LM scores each of them from the bases before it (`CausalBaseScorer`): the likelihood form of
Genomic-NIAH, the bases of the second copy given everything before them. Each window is paired with a control
identical except that the first copy is replaced by other genomic sequence of the same length (or, with
`control="shuffled"`, by the copy's own bases in another order: a model that reads the window's composition gains
against the first control but not against this one).

The retrieval gain (control loss minus copy loss, nats per base, averaged per window, with a bootstrap interval
over windows) is what the first copy contributes: the control's loss (ln 4 = 1.386 at most) for a perfect copier,
0 for a model that does not use it. With `distractor` > 0 both arms also hold a near-copy at half the distance
(nearer than the true one) that differs at the scored bases and at `distractor` bases of the key: a model that
copies whatever is similar and nearest loses the gain; one that matches the key exactly keeps it. The windows
depend only on the held-out sequence and the seed, never on the model; each distance is saved as it finishes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..checkpoints import checkpoint_argument
from ..data.sizes import bases_list
from ..model.kmers_fgm import reverse_complement
from ..stats import mean_interval, resamples
from .instrument import HeldOutArguments, ScoringArguments, model_name
from .report import input_text, interval_text, markdown_table, saved_figure, scored_how
from .results import RetrievalResult, RetrievalRow
from .scan import choose_positions

COPY_LENGTH, SCORED, FLANK = 32, 4, 32
CONTROLS = ("other", "shuffled")


@dataclass
class RetrievalWindows:
    """Paired windows for one distance: `copy[i]` and `control[i]` differ only in [first, first + copy_length);
    `scored` are the window offsets scored (the middle of the second copy) and `truth[i]` their bases."""

    copy: list[str]
    control: list[str]
    scored: list[int]
    truth: list[str]
    first: int
    second: int
    distractor: int | None

    def digest(self) -> str:
        """A fingerprint of the data, so a saved distance is reused only for the same windows."""
        return hashlib.blake2b("\n".join(self.copy + self.control).encode(), digest_size=16).hexdigest()


def window_length(distance: int, copy_length: int = COPY_LENGTH, flank: int = FLANK) -> int:
    """Bases in a window for `distance`: a flank, the distance, the second copy and a flank."""
    return flank + distance + copy_length + flank


def retrieval_windows(segments, distance: int, n: int, seed: int = 0, copy_length: int = COPY_LENGTH,
                      scored: int = SCORED, flank: int = FLANK, distractor: int = 0,
                      control: str = "other") -> RetrievalWindows:
    """`n` paired windows for `distance` drawn from `segments` (the held-out sequence) with `seed`; the control's
    first copy is other genomic sequence (`control="other"`) or the copy's own bases shuffled ("shuffled": the same
    composition, so that only order-specific copying gains)."""
    if control not in CONTROLS:
        raise ValueError(f"control must be one of {CONTROLS}, got {control!r}")
    if not 0 < scored <= copy_length - 2:
        raise ValueError(f"scored bases must be from 1 to copy_length - 2 ({copy_length - 2}), got {scored}")
    if distance < copy_length:
        raise ValueError(f"distance {distance:,} is shorter than the copy ({copy_length} bases): the copies overlap")
    if distractor and distance < 2 * copy_length:
        raise ValueError(f"a distractor needs a distance of at least 2 x the copy ({2 * copy_length} bases) to sit "
                         f"between the copies; got {distance:,}")
    if distractor > copy_length - scored:
        raise ValueError(f"the distractor can differ at most at the {copy_length - scored} key bases, got {distractor}")
    length = window_length(distance, copy_length, flank)
    try:
        backgrounds, _ = choose_positions(segments, length, n, [seed, distance, 0])
    except ValueError:
        longest = max(len(s.sequence) for s in segments)
        raise ValueError(f"distance {distance:,} needs {length:,}-base windows: the held-out sequence (longest record "
                         f"{longest:,} bases) has room for fewer than {n:,} without N; ask for shorter distances or "
                         "fewer windows") from None
    pieces, _ = choose_positions(segments, copy_length, min(4 * n, _room(segments, copy_length)), [seed, distance, 1])
    pieces = iter(pieces)
    rng, shuffle = np.random.default_rng([seed, distance, 2]), np.random.default_rng([seed, distance, 3])
    first, second = flank, flank + distance
    offsets = list(range(copy_length // 2 - scored // 2, copy_length // 2 - scored // 2 + scored))
    key = [o for o in range(copy_length) if o not in offsets]
    near = second - distance // 2 if distractor else None

    def piece(background: str) -> str:
        """The next drawn segment that shares no half of itself, on either strand, with `background`: the
        control must hold no copy of the needle, and repeats of the held-out sequence must not supply one."""
        strands = background + " " + reverse_complement(background)
        for segment, position in pieces:
            start = position - copy_length // 2
            candidate = segments[segment].sequence[start : start + copy_length]
            half = copy_length // 2
            if not any(candidate[i : i + half] in strands for i in range(copy_length - half + 1)):
                return candidate
        raise ValueError(f"distance {distance:,}: too few segments of the held-out sequence are unlike their windows; "
                         "ask for fewer windows")

    copies, controls, truth = [], [], []
    for segment, position in backgrounds:
        background = segments[segment].sequence[position - length // 2 : position - length // 2 + length]
        needle = piece(background)
        other = piece(background + " " + needle)  # drawn for both controls: the copy arms are the same windows
        filler = "".join(shuffle.permutation(list(needle))) if control == "shuffled" else other
        if near is not None:
            changed = set(offsets) | set(rng.choice(key, distractor, replace=False).tolist())
            decoy = "".join("ACGT".replace(b, "")[rng.integers(3)] if o in changed else b for o, b in enumerate(needle))
            background = background[:near] + decoy + background[near + copy_length :]
        tail = background[first + copy_length : second] + needle + background[second + copy_length :]
        copies.append(background[:first] + needle + tail)
        controls.append(background[:first] + filler + tail)
        truth.append("".join(needle[o] for o in offsets))
    return RetrievalWindows(copies, controls, [second + o for o in offsets], truth, first, second, near)


def _room(segments, length: int) -> int:
    """How many windows of `length` bases the segments hold (an upper bound on what `choose_positions` can draw)."""
    return sum(max(len(s.sequence) - length + 1, 0) for s in segments)


def score_distance(scorer, windows: RetrievalWindows, saved: Path, progress: bool) -> dict[str, np.ndarray]:
    """(windows, scored) losses and hits in both arms, read back from `saved` when it holds the same windows."""
    if saved.exists() and str(np.load(saved)["digest"]) == windows.digest():
        return dict(np.load(saved))
    n, per = len(windows.copy), len(windows.scored)
    arms = {}
    for arm in ("copy", "control"):
        sequences = [w for w in getattr(windows, arm) for _ in windows.scored]
        scores = scorer.score(sequences, windows.scored * n, progress=progress,
                              desc=f"d {windows.second - windows.first:,} {arm}")
        bases = "".join(windows.truth)
        arms[f"{arm}_loss"] = scores.base_loss(bases).reshape(n, per)
        arms[f"{arm}_correct"] = scores.base_correct(bases).reshape(n, per)
    np.savez(saved, digest=windows.digest(), **arms)
    return arms


@dataclass
class RetrievalArguments:
    """The retrieval windows `retrieval_benchmark` scores and where it writes."""

    _argument_group_name = "retrieval"

    model_name_or_path: str = checkpoint_argument("checkpoint folder or Hub id of a masked LM (FGM, a Nucleotide "
                                                  "Transformer) or a causal LM (Carbon) with a DNA tokenizer")
    distances: list[str] = field(default_factory=lambda: ["32", "128", "512", "2k"],
                                 metadata={"help": "bases between the copies (start to start), e.g. 32,128,1k,10k"})
    output_dir: str = field(default="runs/retrieval", metadata={"help": "where the table, plot and data go"})
    windows: int = field(default=50, metadata={"help": "paired windows per distance"})
    copy_length: int = field(default=COPY_LENGTH, metadata={"help": "bases of the copied segment"})
    scored: int = field(default=SCORED, metadata={"help": "bases scored in the middle of the second copy"})
    flank: int = field(default=FLANK, metadata={"help": "bases of background before the first and after the second "
                                                "copy"})
    distractor: int = field(default=0, metadata={"help": "key substitutions of a near-copy at half the distance "
                                                 "(0: no distractor)"})
    control: str = field(default="other", metadata={"choices": CONTROLS, "help": "the control's first copy: other "
                         "genomic sequence, or the copy's bases shuffled (same composition)"})

    def __post_init__(self):
        self.distances = sorted(set(bases_list(self.distances)))  # "32,1k" or [32, 1000]


def retrieval_benchmark(args: RetrievalArguments, held_out: HeldOutArguments | None = None,
                        scoring: ScoringArguments | None = None, model=None) -> RetrievalResult:
    """Score the checkpoint `args.model_name_or_path` (any masked or causal LM with a DNA tokenizer; or `model`, a
    loaded `(model, tokenizer)` pair, in its place) on the retrieval windows of each of `args.distances` (bases) drawn
    from the held-out sequence (default: chrXVI of the bundled yeast genome). Writes retrieval.md, .json, .png and one
    distance_<d>.npz per distance to `args.output_dir`."""
    held_out, scoring = held_out or HeldOutArguments(), scoring or ScoringArguments()
    segments, seed = held_out.load().held_out, scoring.seed
    built = {d: retrieval_windows(segments, d, args.windows, seed, args.copy_length, args.scored, args.flank,
                                  args.distractor, args.control)
             for d in args.distances}  # every distance checked before any is scored
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    scorer, trained = scoring.scorer(model or args.model_name_or_path)
    samples, rows = resamples(args.windows, scoring.bootstrap, seed), []
    for distance, paired in built.items():
        arms = score_distance(scorer, paired, output_dir / f"distance_{distance}.npz", not scoring.quiet)
        gain = (arms["control_loss"] - arms["copy_loss"]).mean(1)
        rows.append(RetrievalRow(
            distance=distance, window=len(paired.copy[0]), extrapolation=len(paired.copy[0]) > trained,
            **{f"{arm}_{what}": mean_interval(arms[f"{arm}_{key}"].mean(1), samples)
               for arm in ("copy", "control") for what, key in (("loss", "loss"), ("accuracy", "correct"))},
            gain=mean_interval(gain, samples),
        ))
    results = RetrievalResult(model=model_name(scorer), training_context=trained, seed=seed, windows=args.windows,
                              copy_length=args.copy_length, scored=args.scored, flank=args.flank,
                              distractor=args.distractor, control=args.control, rows=rows, causal=scorer.causal or None,
                              input_rule=scorer.input_rule)
    results.save(output_dir / "retrieval.json")
    (output_dir / "retrieval.md").write_text(retrieval_table(results))
    plot_retrieval({"": results}, output_dir / "retrieval.png")
    return results


def retrieval_table(results: RetrievalResult) -> str:
    """Markdown: per distance, both arms' loss and accuracy and the paired retrieval gain."""
    control = {"other": "other genomic sequence", "shuffled": "its own bases shuffled"}[results.control]
    decoy = (f" Both arms hold a near-copy at half the distance, differing at the scored bases and "
             f"{results.distractor} key bases." if results.distractor else "")
    caption = (
        f"Retrieval: {results.windows} windows per distance (seed {results.seed}), a "
        f"{results.copy_length}-base segment written twice, d bases apart; the middle {results.scored} bases "
        f"of the second copy scored, {scored_how(results.causal)}; the control replaces the first copy by "
        f"{control}.{decoy} Gain = control "
        f"loss - copy loss (nats per base; a perfect copier gains the control's loss, at most ln 4 = 1.386; 0 = the "
        f"copy is not used); 95% bootstrap intervals over windows. Training context: "
        f"{results.training_context:,} bases.{input_text(results.input_rule)}")
    columns = ["distance (bases)", "window (bases)", "loss, copy", "loss, control", "retrieval gain", "accuracy, copy",
               "accuracy, control"]
    rows = [[f"{row.distance:,}" + (" (extrapolation)" if row.extrapolation else ""), f"{row.window:,}",
             interval_text(row.copy_loss), interval_text(row.control_loss), interval_text(row.gain, sign="+"),
             interval_text(row.copy_accuracy, 3), interval_text(row.control_accuracy, 3)]
            for row in results.rows]
    return markdown_table(caption, columns, rows)


def plot_retrieval(runs: dict[str, RetrievalResult], path) -> None:
    """Retrieval gain against distance, one line per model (label -> results); dotted: the training context."""
    with saved_figure(path) as axis:
        for label, results in runs.items():
            x, gain = [r.distance for r in results.rows], [r.gain for r in results.rows]
            axis.errorbar(x, [g.estimate for g in gain], yerr=[[g.estimate - g.low for g in gain],
                                                               [g.high - g.estimate for g in gain]],
                          marker="o", capsize=3, label=label or "model")
            axis.axvline(results.training_context, color=axis.lines[-1].get_color(), linestyle=":", linewidth=0.8)
        axis.axhline(0, color="grey", linewidth=0.8)
        axis.axhline(np.log(4), color="grey", linestyle="--", label="ln 4 (perfect copying from uniform)")
        axis.set_xscale("log")
        axis.set_xlabel("distance between the copies (bases); dotted: training context")
        axis.set_ylabel("retrieval gain (nats per base)")
