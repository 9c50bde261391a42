"""`fgm finetune`: fine-tune a checkpoint on an NT task (Hub) or on local files.

    fgm finetune --model_name_or_path CKPT --task promoter_all --output_dir runs/promoter_all
    fgm finetune --model_name_or_path CKPT --train_file train.csv --test_file test.csv \
        [--validation_file val.csv] --output_dir runs/mytask

Local files: CSV / TSV / parquet / JSON lines / FASTA (">name|label") / save_to_disk folders with
columns `sequence, label[, name]`; string or integer labels. Every Trainer option exists under its
standard name (--num_train_epochs, --bf16, --report_to, ...).
"""

from ..training.finetune import finetune
from ..training.finetune_arguments import FinetuneModelArguments, FinetuningArguments, TaskArguments
from ..training.reports import format_score

ARGUMENTS = (FinetuneModelArguments, TaskArguments, FinetuningArguments)


def run(model_args, data_args, training_args):
    results = finetune(model_args, data_args, training_args)
    metric = results.headline_metric
    print(f"{results.task}: test {metric} {format_score(results.summary_of(metric))} over {results.n_runs} run(s); "
          f"results in {training_args.output_dir}/results.md")
