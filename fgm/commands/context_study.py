"""`fgm context-study`: one model per architecture and training context, same base budget, scanned and reported
together.

    fgm corpus --output_dir runs/study/corpus --window 16k --val_chroms chrXV --test_chroms chrXVI
    fgm context-study --corpus runs/study/corpus --output_dir runs/study
    fgm context-study --corpus runs/study/corpus --output_dir runs/study --presets demo,unet-demo
    fgm context-study --corpus runs/study/corpus --output_dir runs/study \
        --eval_genomes data/genomes/drosophila_chr4/DmelanDM6_4.fna.gz

With the defaults (train at 1k and 4k bases, 2m tokens each; scan 250 positions of chrXVI at 250 bases to 16 kb)
this takes about half an hour on a 2-core CPU, most of it in the 16 kb scans; --positions 500 (the README's run)
doubles the scans' time and narrows their intervals by about 1.4x.

Every model is pretrained on --bases bases with otherwise identical settings (the batch shrinks as the
context grows, so each step sees --bases_per_step bases), the same RoPE base and seed, then scanned at
every evaluation context with the Markov baselines and the copy oracle, by repeat stratum, and measured with the
retrieval benchmark and its influence curve; --eval_genomes does all of it again on held-out genomes beyond the
corpus (a genome of one record fits its baselines on the other half of the record), with tables of their own;
--presets compares architectures (each against the first at the same training context); --vep adds a zero-shot VEP
score per model. Report:
OUTPUT_DIR/study.md, study.json, study.png. The model and Trainer options are those of `fgm pretrain`
(here with the small CPU-scale defaults of `fgm demo`'s model); scripts/context_study_gpu.sh reaches 1 Mb.
"""

from dataclasses import dataclass, field

from ..training.pretrain import PretrainingArguments, PretrainModelArguments
from . import Size, bases_list


@dataclass
class ContextStudyArguments:
    _argument_group_name = "study"

    corpus: str = field(metadata={"help": "a corpus from `fgm corpus` whose windows hold the longest training context"})
    train_contexts: list[str] = field(default_factory=lambda: ["1k", "4k"], metadata={"help": "bases, e.g. 1k,8k,64k"})
    eval_contexts: list[str] = field(
        default_factory=lambda: ["250", "1k", "4k", "16k"], metadata={"help": "bases (default: the training contexts)"})
    presets: list[str] | None = field(default=None, metadata={
        "help": "architectures to compare, e.g. demo,unet-demo (default: --preset)"})
    bases: Size = field(default=2_000_000, metadata={"help": "bases each model trains on (k / m suffixes work)"})
    bases_per_step: Size = field(default=4096, metadata={"help": "bases per optimizer step, for every model"})
    mlm_probability: float = field(default=0.3, metadata={"help": "masked fraction (pretrain's default: 0.15)"})
    split: str = field(default="test", metadata={"help": "held-out corpus split the scans score"})
    positions: int = field(default=250, metadata={"help": "scored positions per scan (the 16 kb scans take most of the time)"})
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
    max_length_schedule: str | None = field(default=None, metadata={
        "help": "`fgm pretrain --max_length_schedule` for every model (token lengths, the same in every run); the "
                "bases column counts each phase at its own length"})
    vep: str | None = field(default=None, metadata={"help": "a VEP set per model, e.g. yeast_stop_vs_synonymous"})
    vep_genome: str | None = field(default=None, metadata={"help": "the reference of a --vep set that needs one"})
    bootstrap: int = field(default=1000, metadata={"help": "bootstrap resamples for the intervals"})


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


ARGUMENTS = (ContextStudyArguments, StudyModelArguments, StudyTrainingArguments)


def run(study: ContextStudyArguments, model_args: StudyModelArguments, training_args: StudyTrainingArguments) -> int:
    from pathlib import Path

    from ..context.study import context_study

    context_study(
        study.corpus, training_args.output_dir, bases_list(study.train_contexts), study.bases,
        bases_list(study.eval_contexts), model_args=model_args, training_args=training_args,
        presets=[p for value in study.presets or [] for p in value.split(",") if p] or None,
        bases_per_step=study.bases_per_step, mlm_probability=study.mlm_probability, split=study.split,
        positions=study.positions, vep=study.vep, vep_genome=study.vep_genome, seed=training_args.seed,
        n_bootstrap=study.bootstrap, progress=not training_args.disable_tqdm,
        retrieval_distances=tuple(bases_list(study.retrieval_distances)) if study.retrieval_windows else (),
        retrieval_windows=study.retrieval_windows, influence_positions=study.influence_positions,
        eval_genomes=study.eval_genomes, plant_copies=study.plant_copies,
        planting={name: getattr(study, name) for name in ("plant_rate", "plant_length", "plant_min_distance",
                                                          "plant_max_distance", "plant_curriculum")},
        max_length_schedule=study.max_length_schedule,
    )
    print(Path(training_args.output_dir, "study.md").read_text())
    return 0
