"""What the long-context instruments return: one `Record` per result file, read top to bottom as the JSON is.

`ScanResult` is `scan.json` (`fgm context-scan`), `OracleResult` `oracle.json` (`fgm context-oracle`),
`InfluenceResult` `influence.json`, `RetrievalResult` `retrieval.json`, and `StudyRun` / `StudyResult` the study's
`study_run.json` / `study.json`. Every interval is an `Interval` (estimate, low, high) and every row a record, so a
report reads `row.loss.estimate`, never `row["loss"][0]`.
"""

from __future__ import annotations

from dataclasses import field

from ..results import RECORD, Interval, Record, optional
from ..variants.benchmark import VepBenchmarkResult



# ---- shared by the scans ----------------------------------------------------------------------------------------
@RECORD
class Scores(Record):
    """Mean loss (nats per base), accuracy and perplexity over the scored positions."""

    loss: Interval
    accuracy: Interval
    perplexity: Interval


@RECORD
class PairedDifference(Record):
    """A row's loss and accuracy minus `reference`'s on the same positions (a loss interval below 0: better)."""

    reference: str
    loss: Interval
    accuracy: Interval


@RECORD
class Baseline(Record):
    name: str
    loss: Interval
    accuracy: Interval
    perplexity: Interval


@RECORD
class StratumRow(Record):
    """One repeat stratum: its positions, their share of all, and the loss per context of each scorer (only where
    the stratum has positions)."""

    stratum: str
    positions: int
    share: Interval
    model: list[Interval] | None = optional()
    copy_oracle: list[Interval] | None = optional()
    best_baseline: Interval | None = optional()


@RECORD
class StratumErrors(Record):
    stratum: str
    copies: int
    mismatches: int
    error_rate: float


@RECORD
class ErrorRateFit(Record):
    """How often the nearest copy holds another base, per distance stratum, on `sampled` bases of one fold."""

    sampled: int
    strata: list[StratumErrors]


@RECORD
class Floored(Record):
    context: int
    strata: list[str]


@RECORD
class CopyOracleFit(Record):
    """The copy oracle's settings: the copies' `key` bases, its fallback, the sequence its rates were fitted on, the
    error rates per fold, and the strata where it fell back to the fallback (`floored`)."""

    key: int
    fallback: str
    fitted_on: str
    folds: list[ErrorRateFit]
    floored: list[Floored]


@RECORD
class PairedScans(Record):
    """One scan's loss minus another's at the same positions, per context and per stratum -> context (None for a
    scan saved before strata were)."""

    loss: dict[int, Interval]
    by_stratum: dict[str, dict[int, Interval]] | None


@RECORD
class Versus(Record):
    """`scan.json`'s comparison with another model's scan (`--versus`), as `PairedScans`."""

    scan: str  # the folder of the scan compared with
    loss: dict[int, Interval]
    by_stratum: dict[str, dict[int, Interval]] | None


# ---- fgm context-scan --------------------------------------------------------------------------------------------
@RECORD
class ContextRow(Record):
    """The model at one context size, with its difference to the best baseline and the copy oracle there."""

    context: int
    tokens: int
    extrapolation: bool
    token_loss: float
    token_accuracy: float
    loss: Interval
    accuracy: Interval
    perplexity: Interval
    vs_best_baseline: PairedDifference | None = optional()
    copy_oracle: Scores
    copy_in_window: Interval


@RECORD
class ScanResult(Record):
    model: str
    kmer_size: int
    training_context: int
    positions: int
    excluded: dict[str, int]
    seed: int
    contexts: list[ContextRow]
    baselines: list[Baseline]
    copy_oracle: CopyOracleFit
    strata: list[StratumRow]
    versus: Versus | None = optional()
    soft_masking: list[StratumRow] | None = optional()  # by soft-masking, where the held-out sequence marks it
    causal: bool | None = optional()  # True: a causal LM, each base scored from the bases before it
    input_rule: str | None = optional()  # how windows were fitted to what the model takes (e.g. NTv3's N padding)

    def best_baseline(self) -> Baseline:
        """The Markov baseline with the lowest loss."""
        return min(self.baselines, key=lambda row: row.loss.estimate)


# ---- fgm context-oracle ------------------------------------------------------------------------------------------
@RECORD
class OracleContextRow(Record):
    context: int
    copy_in_window: float
    loss: Interval
    accuracy: Interval
    perplexity: Interval
    vs_best_baseline: PairedDifference

    @property
    def gain(self) -> Interval:
        """The oracle's gain over the best baseline: minus their paired loss difference."""
        difference = self.vs_best_baseline.loss
        return Interval(-difference.estimate, -difference.high, -difference.low)


@RECORD
class OracleResult(Record):
    seed: int
    positions: int
    copy_oracle: CopyOracleFit
    bases: dict[str, list[int]]  # sequences ("held_out", "train") -> bases per stratum
    best_baseline: Baseline
    contexts: list[OracleContextRow]
    strata: list[StratumRow]


# ---- fgm context-influence ---------------------------------------------------------------------------------------
@RECORD
class Band(Record):
    """The bases at distances [start, end) from the masked token, replaced: their count and what it changed."""

    band: tuple[int, int]
    bases: float
    kl: Interval
    loss_change: Interval

    @property
    def start(self) -> int:
        return self.band[0]


@RECORD
class PlantedCopy(Record):
    distance: int
    length: int
    band: int  # the start of the band that holds the copy


@RECORD
class InfluenceResult(Record):
    model: str
    context: int
    training_context: int
    extrapolation: bool
    positions: int
    seed: int
    reach: int | None
    copy: PlantedCopy | None = None  # absent from files written before copies were planted
    intact_loss: Interval
    bands: list[Band]
    causal: bool | None = optional()  # True: a causal LM, only the bands before the scored base replaced
    input_rule: str | None = optional()  # how windows were fitted to what the model takes (e.g. NTv3's N padding)


# ---- fgm benchmark retrieval -------------------------------------------------------------------------------------
@RECORD
class RetrievalRow(Record):
    distance: int
    window: int
    extrapolation: bool
    copy_loss: Interval
    copy_accuracy: Interval
    control_loss: Interval
    control_accuracy: Interval
    gain: Interval


@RECORD
class RetrievalResult(Record):
    model: str
    training_context: int
    seed: int
    windows: int
    copy_length: int
    scored: int
    flank: int
    distractor: int
    control: str
    rows: list[RetrievalRow]
    causal: bool | None = optional()  # True: a causal LM, each scored base given the bases before it
    input_rule: str | None = optional()  # how windows were fitted to what the model takes (e.g. NTv3's N padding)


# ---- fgm context-study -------------------------------------------------------------------------------------------
@RECORD
class Measurements(Record):
    """A model measured on one held-out sequence: its scan (kept in `scan_dir`), retrieval and influence."""

    scan: ScanResult
    scan_dir: str
    retrieval: RetrievalResult | None = optional()
    influence: InfluenceResult | None = optional()


@RECORD
class TrainedModel(Record):
    """One model of the study: how it was trained, and its measurements on the corpus's held-out split (as in
    `Measurements`)."""

    preset: str  # the arm: a preset, with "+copies" when copies were planted; or an existing checkpoint's label
    kmer_size: int
    train_context: int
    tokens_per_example: int
    batch_size: int
    steps: int
    bases: int
    scan: ScanResult
    scan_dir: str
    retrieval: RetrievalResult | None = optional()
    influence: InfluenceResult | None = optional()
    vep: VepBenchmarkResult | None = optional()
    genomes: dict[str, Measurements] = field(default_factory=dict)  # held-out genome label -> measurements
    checkpoint: str | None = optional()  # an existing checkpoint (`--models`), measured only: nothing trained

    @property
    def causal(self) -> bool:
        return bool(self.scan.causal)


@RECORD
class StudyRun(Record):
    """`study_run.json`: a model's measurements with the settings they were made with (read back only for the same)."""

    redo = "delete it and run `fgm context-study` again: the trained model is kept and only measured again"

    settings: dict
    run: TrainedModel


@RECORD
class GenomeEvaluation(Record):
    """`genomes/LABEL/evaluation.json`: a model's measurements on a held-out genome, with their settings."""

    redo = "delete it and run `fgm context-study` again: only that genome is measured again"

    settings: dict
    results: Measurements


@RECORD
class PairedRuns(Record):
    """A model's loss minus a reference model's (the same preset's shortest-trained, or the first preset's at the
    same training context), paired on the same positions (as in `PairedScans`)."""

    preset: str
    train_context: int
    reference_preset: str
    reference: int  # the reference's training context
    loss: dict[int, Interval]
    by_stratum: dict[str, dict[int, Interval]] | None


@RECORD
class HeldOutGenome(Record):
    genome: str
    chroms: list[str] | None
    versus_shortest: list[PairedRuns]
    versus_first_preset: list[PairedRuns]


@RECORD
class StudyResult(Record):
    """`study.json`: every model with its measurements and the paired comparisons, on the corpus's split and on each
    held-out genome (`genomes`)."""

    corpus: str
    presets: list[str]
    rope_theta: float
    base_budget: int
    eval_contexts: list[int]
    runs: list[TrainedModel]
    versus_shortest: list[PairedRuns]
    versus_first_preset: list[PairedRuns]
    seed: int
    bootstrap: int
    genomes: dict[str, HeldOutGenome] = field(default_factory=dict)
