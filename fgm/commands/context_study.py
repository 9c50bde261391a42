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

from ..context.study import StudyArguments, StudyModelArguments, StudyTrainingArguments

ARGUMENTS = (StudyArguments, StudyModelArguments, StudyTrainingArguments)


def run(study: StudyArguments, model_args: StudyModelArguments, training_args: StudyTrainingArguments) -> int:
    from pathlib import Path

    from ..context.study import context_study

    context_study(study, model_args, training_args)
    print(Path(training_args.output_dir, "study.md").read_text())
    return 0
