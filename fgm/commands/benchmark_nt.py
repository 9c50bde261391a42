"""`fgm benchmark nt`: fine-tune and score a checkpoint on the NT benchmark, task by task.

    fgm benchmark nt --model_name_or_path CKPT --tasks all --output_dir runs/nt                 # from the Hub
    fgm benchmark nt --model_name_or_path CKPT --tasks all --data_dir DIR --output_dir runs/nt  # local files

Local layout: DIR/<task>/train.<ext> and DIR/<task>/test.<ext> (optionally DIR/<task>/validation.<ext>),
<ext> one of csv, tsv, parquet, jsonl, fna; or save_to_disk folders DIR/<task>/train/, DIR/<task>/test/.
With --data_dir, `--tasks all` runs the tasks that have a folder there.
Resumable: a task whose OUTPUT_DIR/<task>/results.json exists is skipped. The table goes to
OUTPUT_DIR/nt_benchmark_<set>.md (and .json). The options are those of `fgm finetune`.
"""

from ..training.finetune_arguments import FinetuneModelArguments
from ..training.nt_benchmark import BenchmarkArguments, BenchmarkTrainingArguments, run_nt_benchmark

ARGUMENTS = (FinetuneModelArguments, BenchmarkArguments, BenchmarkTrainingArguments)


def run(model_args, benchmark_args, training_args):
    print(run_nt_benchmark(model_args, benchmark_args, training_args).table)
