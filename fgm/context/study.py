"""`fgm context-study`: does training on longer contexts make a better model, and which architecture?

One model per architecture (`presets`: e.g. the flat `demo` and the U-Net `unet-demo`) and training context, each
pretrained on the same number of bases with otherwise identical settings (bases per step are held constant: the
batch shrinks as the context grows; a k-mer model sees bases / k tokens), the same RoPE base
(large enough for the longest evaluation context, `rope_theta_for_context`, unless `config_overrides` sets one) and
the same seed. Each model
is then scanned (`context_scan`) at every evaluation context on the corpus's held-out split, with the
Markov baselines and the copy oracle on the same positions, split by repeat stratum; each is also measured with
the retrieval benchmark (the gain from a copy d bases away) and its influence curve (how far it looks), on the
same held-out split; and all of it again on each extra held-out genome (`eval_genomes`: e.g. Drosophila chr4 for
a study trained on yeast); optionally scored on a VEP set. One report: `study.md` (a row per training context, a
column per evaluation context, extrapolation marked; then the strata, retrieval and influence tables; then the same
tables per extra genome), `study.json`, `study.png` (loss against evaluation context, one line per training
context), `study_retrieval.png` and `study_influence.png` (and `study_LABEL*.png` per extra genome). With several
presets, each is also compared with the first at the same training context, paired on the same positions.

Models that exist already (`models`: checkpoint folders or Hub ids of FGM, a Nucleotide Transformer, or a causal
LM such as Carbon or GENERator) are measured beside the trained ones, with the same instruments, positions and
seed, and listed in the same tables; nothing is trained for them, and with `measure_only` nothing is trained at
all. A causal LM is read against its own one-sided baselines and copy oracle (`context_scan`), so the tables give
its own oracle beside it; it is never paired with a masked model, whose positions and windows differ.

Resumable: each model's training continues from its last checkpoint, each scan size by size, and a model
measured in full keeps its results (`study_run.json`), which a later run with the same settings reads instead
of measuring again: a study run once per preset, in parallel, then once with every preset reports them together.
Each extra genome's measurements are kept apart (`genomes/LABEL/evaluation.json`), so adding a genome to a finished
study measures only that genome.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

from ..data.sizes import Size, bases_list
from ..model.configuration_fgm import rope_theta_for_context
from ..results import OutdatedResult
from ..training.pretrain import PretrainingArguments, PretrainModelArguments
from .influence import REACH_RULE, InfluenceArguments, context_influence, plot_influence
from .instrument import HeldOutArguments, ScoringArguments
from .report import interval_text, markdown_table
from .results import (GenomeEvaluation, HeldOutGenome, Measurements, PairedRuns, StudyResult, StudyRun,
                      TrainedModel)
from .retrieval import RetrievalArguments, plot_retrieval, retrieval_benchmark
from .scan import ScanArguments, context_scan, paired_scans, plot_scans

logger = logging.getLogger(__name__)

#: The suffix of a preset's copy-planting arm (`plant_copies`): "demo+copies" is `demo` trained with copies planted.
COPIES = "+copies"
#: The suffix of its soft-masking arm (`soft_masked_arm`): "demo+softmask0.1" weighs soft-masked bases 0.1.
SOFT_MASKED = "+softmask"


@dataclass
class StudyArguments:
    """What the study trains (contexts, base budget, arms) and how each model is measured."""

    _argument_group_name = "study"

    corpus: str = field(metadata={"help": "a corpus from `fgm corpus` whose windows hold the longest training context"})
    train_contexts: list[str] = field(default_factory=lambda: ["1k", "4k"], metadata={"help": "bases, e.g. 1k,8k,64k"})
    eval_contexts: list[str] | None = field(
        default_factory=lambda: ["250", "1k", "4k", "16k"], metadata={"help": "bases (none: the training contexts)"})
    presets: list[str] | None = field(default=None, metadata={
        "help": "architectures to compare, e.g. demo,unet-demo (default: --preset)"})
    bases: Size = field(default=2_000_000, metadata={"help": "bases each model trains on (k / m suffixes work)"})
    bases_per_step: Size = field(default=4096, metadata={"help": "bases per optimizer step, for every model"})
    mlm_probability: float = field(default=0.3, metadata={"help": "masked fraction (pretrain's default: 0.15)"})
    split: str = field(default="test", metadata={"help": "held-out corpus split the scans score"})
    positions: int = field(default=250, metadata={"help": "scored positions per scan (the 16 kb scans take most of the "
                                                  "time)"})
    retrieval_distances: list[str] = field(default_factory=lambda: ["128", "512", "2k"],
                                           metadata={"help": "`fgm benchmark retrieval` distances per model"})
    retrieval_windows: int = field(default=50, metadata={"help": "retrieval windows per distance (0: no retrieval)"})
    influence_positions: int = field(default=100, metadata={"help": "`fgm context-influence` positions per model, at "
                                                            "its training context (0: no influence curve)"})
    eval_genomes: list[str] | None = field(default=None, metadata={
        "help": "held-out genomes beyond the corpus, each scanned and measured like its split, with tables of its own: "
                "PATH (every record) or PATH:RECORD,RECORD, e.g. data/genomes/drosophila_chr4/DmelanDM6_4.fna.gz"})
    plant_copies: bool = field(default=False, metadata={
        "help": "train each preset a second time with copies planted (the arm PRESET+copies, with the --plant_* "
                "settings below) and compare the two, paired, per repeat stratum too"})
    plant_rate: float = field(default=1.0, metadata={"help": "the +copies arms' `fgm pretrain --plant_rate`"})
    plant_length: int = field(default=32, metadata={"help": "the +copies arms' --plant_length"})
    plant_min_distance: int | None = field(default=None, metadata={"help": "the +copies arms' --plant_min_distance"})
    plant_max_distance: int | None = field(default=None, metadata={"help": "the +copies arms' --plant_max_distance"})
    plant_curriculum: str | None = field(default=None, metadata={"help": "the +copies arms' --plant_curriculum"})
    plant_rate_schedule: str | None = field(default=None, metadata={"help": "the +copies arms' --plant_rate_schedule"})
    soft_masked_arm: float | None = field(default=None, metadata={
        "help": "train each preset again with `fgm pretrain --soft_masked_loss_weight_train W` (the arm "
                "PRESET+softmaskW: soft-masked repeats weighed W, as GPN does) and compare the two, paired, by repeat "
                "stratum and by soft-masking; needs a corpus with repeats marked (fgm corpus of a soft-masked FASTA)"})
    max_length_schedule: str | None = field(default=None, metadata={
        "help": "`fgm pretrain --max_length_schedule` for every model (token lengths, the same in every run); the "
                "bases column counts each phase at its own length"})
    vep: str | None = field(default=None, metadata={"help": "a VEP set per model, e.g. yeast_stop_vs_synonymous"})
    vep_genome: str | None = field(default=None, metadata={"help": "the reference of a --vep set that needs one"})
    bootstrap: int = field(default=1000, metadata={"help": "bootstrap resamples for the intervals"})
    models: list[str] | None = field(default=None, metadata={
        "help": "existing checkpoints measured beside the trained models (never trained): LABEL=PATH_OR_HUB_ID or "
                "PATH_OR_HUB_ID, masked (FGM, Nucleotide Transformer) or causal (Carbon, GENERator) LMs"})
    measure_only: bool = field(default=False, metadata={"help": "train nothing: measure only the --models checkpoints"})
    trust_remote_code: bool = field(default=False, metadata={
        "help": "run the model code shipped in a --models checkpoint (Hub models whose code is not in transformers)"})

    def __post_init__(self):
        self.train_contexts = sorted(set(bases_list(self.train_contexts)))
        self.eval_contexts = sorted(set(bases_list(self.eval_contexts or self.train_contexts)))
        self.retrieval_distances = bases_list(self.retrieval_distances) if self.retrieval_windows else []
        self.presets = [p for value in self.presets or [] for p in value.split(",") if p] or None
        if self.measure_only and not self.models:
            raise ValueError("--measure_only measures the --models checkpoints: name at least one")

    @property
    def checkpoints(self) -> dict[str, str]:
        """Label -> checkpoint of each of `models` (the label: what precedes "=", else the folder's name)."""
        out = {}
        for spec in self.models or []:
            label, _, path = spec.rpartition("=")
            label = label or Path(path.rstrip("/")).name
            if label in out:
                raise ValueError(f"--models: the label {label!r} is given twice; name them LABEL=PATH")
            out[label] = path
        return out

    @property
    def planting(self) -> dict:
        """The +copies arms' `fgm pretrain` planting options."""
        return {name: getattr(self, name) for name in ("plant_rate", "plant_length", "plant_min_distance",
                                                       "plant_max_distance", "plant_curriculum",
                                                       "plant_rate_schedule")}

    def measured_with(self, seed: int) -> dict:
        """The settings a model's measurements depend on (what a saved measurement must match to be read back)."""
        return {"eval_contexts": self.eval_contexts, "positions": self.positions,
                "retrieval_distances": self.retrieval_distances, "retrieval_windows": self.retrieval_windows,
                "influence_positions": self.influence_positions, "seed": seed, "bootstrap": self.bootstrap}


@dataclass
class StudyModelArguments(PretrainModelArguments):
    """The models' shape; defaults: `fgm demo`'s CPU-scale model, single nucleotides (pretrain's: small, 6-mers)."""

    preset: str = field(default="demo", metadata={"help": "size of the models (pretrain's default: small)"})
    kmer_size: int = field(default=1, metadata={"help": "k-mer size (pretrain's default: 6)"})


@dataclass
class StudyTrainingArguments(PretrainingArguments):
    """Trainer options for every model (the study sets steps, batch sizes and output folders itself)."""

    output_dir: str = field(default="runs/context_study", metadata={"help": "the study's folder"})
    learning_rate: float = field(default=1e-3, metadata={"help": "peak learning rate (pretrain's default: 5e-4)"})
    eval_strategy: str = field(default="no", metadata={"help": "the scans evaluate (pretrain's default: steps)"})
    save_steps: float = field(default=500, metadata={"help": "pretrain's default: 200"})
    logging_steps: float = field(default=50, metadata={"help": "pretrain's default: 20"})


def context_study(study: StudyArguments, model_args: PretrainModelArguments | None = None,
                  training_args: PretrainingArguments | None = None) -> StudyResult:
    """Pretrain one model per arm and training context on `study.bases` bases each, measure them, and report.

    The arms are the presets (`study.presets`, default `model_args.preset`), and with `study.plant_copies` each
    preset again as "PRESET+copies", trained with copies planted (`study.plant_*`, `fgm pretrain`'s settings) and
    compared with the preset's natural model, paired, per repeat stratum too. `model_args` holds every other model
    option (a U-Net preset reads single bases whatever its `kmer_size`) and `training_args` every Trainer setting
    (its output_dir is the study's folder, its seed every model's); the study sets per model the folder
    (`ARM/train_CONTEXT`), the steps, the batch size and the example length. Each model is scanned at
    `study.eval_contexts`, measured with the retrieval benchmark and its influence at its training context, on the
    corpus's `study.split` and on each of `study.eval_genomes` (held-out sequence beyond the corpus, each with tables
    of its own). Returns the report's data, also written as study.json, study.md and the plots.
    """
    model_args = model_args or StudyModelArguments()
    training_args = training_args or StudyTrainingArguments()
    output_dir = Path(training_args.output_dir)
    settings = {"corpus": str(study.corpus), "split": study.split, "bases": study.bases,
                "bases_per_step": study.bases_per_step, "mlm_probability": study.mlm_probability, "vep": study.vep,
                # one RoPE base for every model: the one asked for, else enough for the longest evaluation context
                "rope_theta": (model_args.config_overrides or {}).get("rope_theta")
                or rope_theta_for_context(study.eval_contexts[-1] + 1),
                **study.measured_with(training_args.seed)}
    plans = [] if study.measure_only else plan_models(study, output_dir, settings, model_args)
    checkpoints = study.checkpoints
    genomes = held_out_genomes(study.eval_genomes or [])
    scoring = ScoringArguments(seed=training_args.seed, bootstrap=study.bootstrap,
                               quiet=bool(training_args.disable_tqdm), trust_remote_code=study.trust_remote_code)
    runs = [train_and_measure(plan, training_args, study, scoring, genomes) for plan in plans]
    runs += [measure_checkpoint(label, checkpoint, output_dir / "checkpoints" / label, settings, study, scoring,
                                genomes) for label, checkpoint in checkpoints.items()]
    return write_report(output_dir, runs, settings, genomes)


class ModelPlan(NamedTuple):
    """One model of the study: where it goes, how it is built and trained, and the settings it is measured with."""

    arm: str  # the preset, with COPIES when copies are planted, with SOFT_MASKED and the weight when repeats weigh less
    context: int  # its training context (bases)
    folder: Path
    model_args: object  # PretrainModelArguments
    data_args: object  # PretrainDataArguments
    batch_size: int
    steps: int
    bases: int  # bases it trains on, phase by phase
    settings: dict  # what its study_run.json must match to be read back
    soft_masked_weight: float | None = None  # its --soft_masked_loss_weight_train, when the arm sets one


def plan_models(study: StudyArguments, output_dir: Path, settings: dict, model_args) -> list[ModelPlan]:
    """Every model the study trains, checked before any trains: one per arm (each preset; with `plant_copies` each
    preset again with copies planted; with `soft_masked_arm` again with soft-masked bases weighed less) and training
    context, on the same bases, bases per step and RoPE base (`settings`)."""
    from ..data.corpus import load_corpus
    from ..model.configuration_fgm import PRESETS
    from ..training.pretrain import PretrainDataArguments

    presets = list(dict.fromkeys(study.presets or [model_args.preset]))
    if set(presets) - set(PRESETS):
        raise ValueError(f"unknown preset(s) {sorted(set(presets) - set(PRESETS))}; choose from {sorted(PRESETS)}")
    corpus, train_contexts, max_length_schedule = study.corpus, study.train_contexts, study.max_length_schedule
    shortest_window = min(len(s) for s in load_corpus(corpus)["train"]["sequence"])
    if shortest_window < train_contexts[-1]:
        raise ValueError(f"{corpus}: its training windows have {shortest_window:,} bases, fewer than the "
                         f"{train_contexts[-1]:,}-base training context; rebuild it with `fgm corpus --window "
                         f"{train_contexts[-1]}` or more")
    bases, per_step = settings["bases"], settings["bases_per_step"]
    plans = []
    arms = [("", None, None)] + ([(COPIES, study.planting, None)] if study.plant_copies else []) + (
        [(f"{SOFT_MASKED}{study.soft_masked_arm:g}", None, study.soft_masked_arm)]
        if study.soft_masked_arm is not None else [])
    for preset in presets:
        for suffix, arm_planting, soft_weight in arms:
            k = PRESETS[preset].get("kmer_size", model_args.kmer_size)
            overrides = {**(model_args.config_overrides or {}), "rope_theta": settings["rope_theta"]}
            shaped = replace(model_args, preset=preset, kmer_size=k, config_overrides=overrides)
            for context in train_contexts:
                length = context // k + 1
                batch = max(1, per_step // (k * length))
                steps = max(1, bases // (batch * k * length))
                data = PretrainDataArguments(corpus=str(corpus), max_length=length,
                                             mlm_probability=settings["mlm_probability"],
                                             max_length_schedule=max_length_schedule, **(arm_planting or {}))
                phases = data.phases(steps)
                ends = [phase.last_step for phase in phases]
                trained = sum((end - start) * batch * k * phase.max_length
                              for phase, start, end in zip(phases, [0, *ends], ends))
                arm = preset + suffix
                plans.append(ModelPlan(arm, context, output_dir / arm / f"train_{context}", shaped, data, batch, steps,
                                       trained, {**settings, **({"planting": arm_planting} if arm_planting else {}),
                                                 **({"max_length_schedule": max_length_schedule}
                                                    if max_length_schedule else {}),
                                                 **({"soft_masked_loss_weight_train": soft_weight}
                                                    if soft_weight is not None else {})}, soft_weight))
    return plans


def saved_measurements(record: Path, kind, settings: dict):
    """The measurements saved in `record` (a `StudyRun` or `GenomeEvaluation`) when made with `settings`; None when
    there are none, they were made otherwise, or another version of FGM wrote them (said, then measured again)."""
    if not record.exists():
        return None
    try:
        saved = kind.load(record)
    except OutdatedResult as error:
        logger.warning("%s; measuring again", error)
        return None
    return saved if saved.settings == settings else None


def train_and_measure(plan: ModelPlan, training_args, study: StudyArguments, scoring: ScoringArguments,
                      genomes: dict[str, HeldOutArguments]) -> TrainedModel:
    """Train `plan`'s model (resuming) and measure it on the corpus's split and each held-out genome; a model
    measured with the same settings by an earlier run (its `study_run.json`) is read back instead."""
    from ..training.pretrain import pretrain

    settings, folder = plan.settings, plan.folder
    record = folder / "study_run.json"
    saved = saved_measurements(record, StudyRun, settings)
    if saved is None:
        pretrain(plan.model_args, plan.data_args,
                 replace(training_args, output_dir=str(folder), max_steps=plan.steps,
                         per_device_train_batch_size=plan.batch_size, per_device_eval_batch_size=plan.batch_size,
                         resume_from_checkpoint="last", seed=settings["seed"],
                         **({"soft_masked_loss_weight_train": plan.soft_masked_weight}
                            if plan.soft_masked_weight is not None else {})))
        measured = measure(folder, folder, HeldOutArguments(corpus=settings["corpus"], split=settings["split"]), study,
                           scoring)
        run = TrainedModel(preset=plan.arm, kmer_size=plan.model_args.kmer_size, train_context=plan.context,
                           tokens_per_example=plan.data_args.max_length, batch_size=plan.batch_size, steps=plan.steps,
                           bases=plan.bases, **vars(measured))
        if settings["vep"]:
            from ..variants.benchmark import VepBenchmarkArguments, run_vep_benchmark

            run.vep = run_vep_benchmark(VepBenchmarkArguments(
                model_name_or_path=str(folder), dataset=settings["vep"], output_dir=str(folder / "vep"),
                genome=study.vep_genome, seed=settings["seed"]))
        saved = StudyRun(settings=settings, run=run)
        saved.save(record)
    return replace(saved.run, scan_dir=str(folder / "scan"), genomes=measure_genomes(folder, genomes, study, scoring))


def measure_checkpoint(label: str, checkpoint: str, folder: Path, settings: dict, study: StudyArguments,
                       scoring: ScoringArguments, genomes: dict[str, HeldOutArguments]) -> TrainedModel:
    """An existing checkpoint (`--models`) measured as the trained models are, on the corpus's split and each
    held-out genome, under `folder`; read back from its `study_run.json` when measured with the same settings."""
    settings = {**study.measured_with(settings["seed"]), "corpus": settings["corpus"], "split": settings["split"],
                "checkpoint": checkpoint}
    record = folder / "study_run.json"
    saved = saved_measurements(record, StudyRun, settings)
    if saved is None:
        measured = measure(checkpoint, folder, HeldOutArguments(corpus=settings["corpus"], split=settings["split"]),
                           study, scoring)
        scan = measured.scan
        run = TrainedModel(preset=label, kmer_size=scan.kmer_size, train_context=scan.training_context,
                           tokens_per_example=0, batch_size=0, steps=0, bases=0, checkpoint=checkpoint,
                           **vars(measured))
        saved = StudyRun(settings=settings, run=run)
        saved.save(record)
    return replace(saved.run, scan_dir=str(folder / "scan"),
                   genomes=measure_genomes(folder, genomes, study, scoring, checkpoint))


def write_report(output_dir: Path, runs: list[TrainedModel], settings: dict,
                 genomes: dict[str, HeldOutArguments]) -> StudyResult:
    """The study's data with its paired comparisons (on the corpus's split and on each held-out genome), written
    as study.json, study.md and the plots."""
    eval_contexts, bootstrap, seed = settings["eval_contexts"], settings["bootstrap"], settings["seed"]
    study = StudyResult(corpus=settings["corpus"], presets=list(dict.fromkeys(run.preset for run in runs)),
                        rope_theta=settings["rope_theta"], base_budget=settings["bases"], eval_contexts=eval_contexts,
                        runs=runs,
                        versus_shortest=versus_reference(runs, eval_contexts, bootstrap, seed, "shortest"),
                        versus_first_preset=versus_reference(runs, eval_contexts, bootstrap, seed, "first preset"),
                        seed=seed, bootstrap=bootstrap)
    views = {label: on_genome(study, label) for label in genomes}
    for label, view in views.items():
        study.genomes[label] = HeldOutGenome(genome=genomes[label].genome, chroms=genomes[label].chroms,
                                             versus_shortest=view.versus_shortest,
                                             versus_first_preset=view.versus_first_preset)
    output_dir.mkdir(parents=True, exist_ok=True)
    study.save(output_dir / "study.json")
    (output_dir / "study.md").write_text(study_table(study) + "".join(
        genome_section(view, label, study.genomes[label]) for label, view in views.items()))
    plot_study(study, output_dir)
    for label, view in views.items():
        plot_study(view, output_dir, f"_{label}")
    return study


def run_label(run: TrainedModel, presets: list[str]) -> str:
    if run.checkpoint:
        return f"{run.preset} ({'causal, ' if run.causal else ''}trained at {run.train_context:,})"
    return (f"{run.preset} " if len(presets) > 1 else "") + f"trained at {run.train_context:,}"


def comparison_labels(row: PairedRuns, presets: list[str]) -> tuple[str, str]:
    """The model and the reference of a paired comparison, as the tables name them."""
    model = (f"{row.preset} " if len(presets) > 1 else "") + f"{row.train_context:,}"
    return model, (f"{row.reference_preset} " if len(presets) > 1 else "") + f"{row.reference:,}"


def versus_reference(runs: list[TrainedModel], eval_contexts: list[int], bootstrap: int, seed: int,
                     reference: str) -> list[PairedRuns]:
    """Each model's loss minus a reference model's, per evaluation context, paired on the same positions: the
    shortest-trained model of its preset (does a longer training context help?) or the first preset's model at
    the same training context (which architecture?). An interval below 0: better beyond resampling noise."""
    def reference_of(run):
        if reference == "shortest":
            return next(r for r in runs if r.preset == run.preset)
        return next(r for r in runs if r.train_context == run.train_context)

    rows, runs = [], [run for run in runs if not run.checkpoint]  # an existing checkpoint is listed, not paired
    for run in runs:
        ref = reference_of(run)
        if ref is run:
            continue
        paired = paired_scans(run.scan_dir, ref.scan_dir, eval_contexts, bootstrap, seed)
        rows.append(PairedRuns(preset=run.preset, train_context=run.train_context, reference_preset=ref.preset,
                               reference=ref.train_context, loss=paired.loss, by_stratum=paired.by_stratum))
    return rows


def paired_strata_table(study: StudyResult) -> str:
    """Markdown: each paired comparison of the study within each repeat stratum (loss differences, nats per base)."""
    contexts, rows = study.eval_contexts, []
    for row in study.versus_shortest + study.versus_first_preset:
        model, reference = comparison_labels(row, study.presets)
        for name, per_context in (row.by_stratum or {}).items():
            cells = [interval_text(per_context[c], sign="+") if c in per_context else "no scored position"
                     for c in contexts]
            rows.append([f"{model} minus {reference}", name, *cells])
    if not rows:
        return ""
    return markdown_table("Paired loss differences within each repeat stratum (nats per base, same positions; an "
                          "interval below 0: the first model is better there).",
                          ["comparison", "stratum", *(f"{c:,}" for c in contexts)], rows) + "\n"


def study_table(study: StudyResult) -> str:
    """Markdown: loss (nats per base) of each model at each evaluation context; * marks extrapolation."""
    contexts, presets, runs = study.eval_contexts, study.presets, study.runs
    vep = any(r.vep for r in runs)
    causal = ("; a causal LM scores each base from the bases before it, at positions and against a one-sided oracle "
              "and baseline of its own" if any(run.causal for run in runs) else "")
    trained = (f"Same base budget ({study.base_budget:,} bases), RoPE base {study.rope_theta:,.0f}, positions and seed "
               "for every trained model" if any(not run.checkpoint for run in runs) else "Same seed for every model")
    lines = [
        f"Loss (nats per base) at evaluation contexts of {', '.join(f'{c:,}' for c in contexts)} bases, each base "
        f"with its token masked{causal}; * = longer than the training context (extrapolation). {trained}; 95% "
        "intervals in each scan.md.",
        "",
        "| model | steps x batch | bases | " + " | ".join(f"{c:,}" for c in contexts) + " |"
        + (" VEP AUROC |" if vep else ""),
        "| --- " * (3 + len(contexts) + vep) + "|",
    ]
    for run in runs:
        cells = [f"{row.loss.estimate:.4f}{'*' if row.extrapolation else ''}" for row in run.scan.contexts]
        trained = "existing checkpoint | |" if run.checkpoint else f"{run.steps} x {run.batch_size} | {run.bases:,} |"
        lines.append(f"| {run_label(run, presets)} | {trained} " + " | ".join(cells) + " |"
                     + (f" {run.vep.auroc.estimate:.3f} |" if run.vep else ""))
    for row in study.versus_shortest + study.versus_first_preset:
        model, reference = comparison_labels(row, presets)
        cells = [interval_text(difference, sign="+") for difference in row.loss.values()]
        lines.append(f"| {model} minus {reference} (paired) | | | " + " | ".join(cells) + " |" + (" |" if vep else ""))
    bounds = []
    for kind, group in kinds(runs).items():
        oracle = [f"{row.copy_oracle.loss.estimate:.4f}" for row in group[0].scan.contexts]
        lines.append(f"| {kind}copy oracle (no model) | | | " + " | ".join(oracle) + " |" + (" |" if vep else ""))
        baseline = group[0].scan.best_baseline()
        bounds.append(f"{kind or 'best '}baseline on the same positions: {baseline.name}, {baseline.loss.estimate:.4f} "
                      f"nats per base (accuracy {baseline.accuracy.estimate:.4f}).")
    lines += ["", " ".join(bound[0].upper() + bound[1:] for bound in bounds), ""]
    return "\n".join(lines) + "\n" + paired_strata_table(study) + "\n".join(instrument_tables(study))


def instrument_tables(study: StudyResult) -> list[str]:
    """Markdown: each model's loss per repeat stratum, its retrieval gain per distance and its influence curve."""
    runs, contexts = study.runs, study.eval_contexts
    columns = ["stratum", "scored by", *(f"{c:,}" for c in contexts)]
    earlier = (", for a causal LM the nearest earlier copy of the bases before it" if any(run.causal for run in runs)
               else "")
    tables = [markdown_table("Loss (nats per base) by repeat stratum (distance to the nearest copy of the bases around "
                             f"each position{earlier}; positions per stratum in brackets), 95% intervals.", columns,
                             stratum_rows(study, lambda scan: scan.strata))]
    if runs[0].scan.soft_masking:
        tables.append(markdown_table(
            "Loss (nats per base) by soft-masking (scored bases inside and outside the lowercase stretches of their "
            "FASTA file, reference genomes' mark of repeats; positions in brackets), 95% intervals.", columns,
            stratum_rows(study, lambda scan: scan.soft_masking)))
    if all(run.retrieval for run in runs):
        distances = [row.distance for row in runs[0].retrieval.rows]
        tables.append(markdown_table(
            f"Retrieval gain (control minus copy loss, nats per base; {runs[0].retrieval.windows} windows per "
            "distance, 95% intervals; * = window longer than the training context).",
            ["model", *(f"d = {d:,}" for d in distances)],
            [[run_label(run, study.presets), *(interval_text(row.gain, sign="+") + "*" * row.extrapolation
                                               for row in run.retrieval.rows)] for run in runs]))
    if all(run.influence for run in runs):
        bands = sorted({row.start for run in runs for row in run.influence.bands})
        rows = []
        for run in runs:
            kl = {row.start: row.kl.estimate for row in run.influence.bands}
            rows.append([run_label(run, study.presets), f"{run.influence.context:,}",
                         f"{run.influence.reach or 0:,}", *(f"{kl[b]:.1e}" if b in kl else "" for b in bands)])
        tables.append(markdown_table(
            "Influence: mean KL (nats) of the prediction when the bases at [d, 2d) from it (before it, for a causal "
            "LM) are replaced, at "
            f"the training context, {runs[0].influence.positions} positions; reach = {REACH_RULE}.",
            ["model", "context", "reach", *(f"[{b:,}, {2 * b:,})" for b in bands)], rows))
    return tables


def kinds(runs: list[TrainedModel]) -> dict[str, list[TrainedModel]]:
    """The runs read against the same bounds: masked LMs ("") and causal LMs ("one-sided "), each with its own
    positions, baselines and copy oracle."""
    out = {"": [run for run in runs if not run.causal], "one-sided ": [run for run in runs if run.causal]}
    return {kind: group for kind, group in out.items() if group}


def stratum_rows(study: StudyResult, strata_of) -> list[list[str]]:
    """Table rows: per stratum (`strata_of(scan)`: its repeat strata or its soft-masking), each model's loss at each
    evaluation context, then the copy oracle's; masked models first, then causal ones against their own."""
    rows, contexts = [], study.eval_contexts
    for kind, group in kinds(study.runs).items():
        for index, stratum in enumerate(strata_of(group[0].scan)):
            label = f"{stratum.stratum} ({stratum.positions:,}{', causal' if kind else ''})"
            if not stratum.positions:
                rows.append([label, "no scored position", *[""] * len(contexts)])
                continue
            for run in group:
                losses = strata_of(run.scan)[index].model
                rows.append([label, run_label(run, study.presets), *(interval_text(v) for v in losses)])
            rows.append([label, f"{kind}copy oracle", *(interval_text(v) for v in stratum.copy_oracle)])
    return rows


def plot_study(study: StudyResult, output_dir: Path, suffix: str = "") -> None:
    """study{suffix}.png (loss against evaluation context), and the retrieval and influence plots when measured."""
    labels = {run_label(r, study.presets): r for r in study.runs}
    plot_scans({label: r.scan for label, r in labels.items()}, output_dir / f"study{suffix}.png")
    if all(r.retrieval for r in labels.values()):
        plot_retrieval({label: r.retrieval for label, r in labels.items()}, output_dir / f"study{suffix}_retrieval.png")
    if all(r.influence for r in labels.values()):
        plot_influence({label: r.influence for label, r in labels.items()}, output_dir / f"study{suffix}_influence.png")


def measure(model, output_dir: Path, held_out: HeldOutArguments, study: StudyArguments,
            scoring: ScoringArguments) -> Measurements:
    """The scan of `model` at every evaluation context on `held_out` (with the baselines, the copy oracle and
    the strata), its retrieval gain and its influence curve at its training context (each when asked for),
    written under `output_dir`."""
    model = str(model)
    scan = ScanArguments(model_name_or_path=model, contexts=study.eval_contexts, output_dir=str(output_dir / "scan"),
                         positions=study.positions)
    out = Measurements(scan=context_scan(scan, held_out, scoring), scan_dir=scan.output_dir)
    if study.retrieval_distances and study.retrieval_windows:
        retrieval = RetrievalArguments(model_name_or_path=model, distances=study.retrieval_distances,
                                       output_dir=str(output_dir / "retrieval"), windows=study.retrieval_windows)
        out.retrieval = retrieval_benchmark(retrieval, held_out, scoring)
    if study.influence_positions:
        influence = InfluenceArguments(model_name_or_path=model, output_dir=str(output_dir / "influence"),
                                       positions=study.influence_positions)
        out.influence = context_influence(influence, held_out, scoring)
    return out


def held_out_genomes(specs: list[str]) -> dict[str, HeldOutArguments]:
    """Label (the file's stem, then its records) -> held-out sequence, for each `PATH` (every record of the genome)
    or `PATH:RECORD,RECORD` of `specs`; each file and record checked before anything trains."""
    from ..data.genome import genome_stem, scan_genome

    genomes = {}
    for spec in specs:
        path, _, records = spec.partition(":") if not Path(spec).exists() else (spec, "", "")
        chroms = [r for r in records.split(",") if r] or None
        if not Path(path).is_file():
            raise FileNotFoundError(f"held-out genome {spec!r}: no file {path}")
        missing = sorted(set(chroms or []) - set(scan_genome(path).names))
        if missing:
            raise ValueError(f"held-out genome {spec!r}: {path} has no record(s) {missing}")
        label = genome_stem(path) + ("_" + "_".join(chroms) if chroms else "")
        if label in genomes:
            raise ValueError(f"held-out genome {spec!r} is given twice")
        genomes[label] = HeldOutArguments(genome=path, chroms=chroms)
    return genomes


def measure_genomes(folder: Path, genomes: dict[str, HeldOutArguments], study: StudyArguments,
                    scoring: ScoringArguments, model=None) -> dict[str, Measurements]:
    """`measure` the model in `folder` (or the checkpoint `model`) on each held-out genome, under
    `folder/genomes/LABEL`; a genome measured with the same settings by an earlier run (its `evaluation.json`) is
    read back, so adding a genome to a finished study measures only it."""
    out = {}
    for label, held_out in genomes.items():
        where = folder / "genomes" / label
        settings = {"genome": held_out.genome, "chroms": held_out.chroms, **study.measured_with(scoring.seed)}
        record = where / "evaluation.json"
        saved = saved_measurements(record, GenomeEvaluation, settings)
        if saved is None:
            saved = GenomeEvaluation(settings=settings, results=measure(model or folder, where, held_out, study,
                                                                        scoring))
            saved.save(record)
        out[label] = saved.results
    return out


def on_genome(study: StudyResult, label: str) -> StudyResult:
    """The study as measured on the held-out genome `label`: every run's scan, retrieval and influence taken from
    it, and the paired comparisons recomputed on its positions."""
    runs = [replace(run, vep=None, **vars(run.genomes[label])) for run in study.runs]
    contexts, bootstrap, seed = study.eval_contexts, study.bootstrap, study.seed
    return replace(study, runs=runs,
                   versus_shortest=versus_reference(runs, contexts, bootstrap, seed, "shortest"),
                   versus_first_preset=versus_reference(runs, contexts, bootstrap, seed, "first preset"))


def genome_section(view: StudyResult, label: str, genome: HeldOutGenome) -> str:
    """Markdown: the study's tables on the held-out genome `label` (`view`: `on_genome`; `genome`: its file and
    records)."""
    records = ", ".join(genome.chroms) if genome.chroms else "every record"
    return f"\n## Held out: {label} ({genome.genome}, {records})\n\n" + study_table(view)
