"""`fgm` console command: one sub-command per module in `fgm.commands`.

Each command module defines `ARGUMENTS`, the dataclasses `HfArgumentParser` fills from the command
line (so every `TrainingArguments` option exists under its standard name), and `run(*arguments)`,
which calls library functions with them, nothing more.
"""

import argparse
import importlib
import sys

from transformers import HfArgumentParser

# command words -> (module in fgm.commands, help)
COMMANDS = {
    "corpus": ("corpus", "build a genome corpus (datasets) from FASTA / GenBank files"),
    "pretrain": ("pretrain", "masked-LM pretraining with the Hugging Face Trainer"),
    "finetune": ("finetune", "fine-tune on a sequence classification task (NT benchmark or local files)"),
    "benchmark nt": ("benchmark_nt", "fine-tune and score a checkpoint on the whole NT benchmark, task by task"),
    "score-variants": ("score_variants", "zero-shot effect scores for the variants of a VCF"),
    "embed": ("embed", "embeddings of FASTA records, BED regions or a sequence table"),
    "benchmark vep": ("benchmark_vep", "zero-shot scores against labelled variants: AUROC, AUPRC, odds ratio"),
    "context-scan": ("context_scan", "masked-LM loss against context size at fixed positions, with baselines"),
    "context-study": ("context_study", "one model per training context, same token budget, scanned together"),
    "benchmark retrieval": ("benchmark_retrieval", "zero-shot gain from a copy in the window against its distance"),
    "context-oracle": ("context_oracle", "share of bases with a copy nearby, and the copy oracle's gain per context"),
    "context-influence": ("context_influence", "how far a masked LM looks: prediction change per distance band"),
    "push": ("push", "upload a checkpoint folder to the Hub, results in its model card"),
    "demo": ("demo", "end-to-end demo on the bundled yeast genome"),
}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults after each option's help; the command's docstring (its examples) as written."""


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser: it only names the commands (each command parses its own options)."""
    listing = "\n".join(f"  fgm {words:<14} {help_text}" for words, (_, help_text) in COMMANDS.items())
    return argparse.ArgumentParser(
        prog="fgm",
        usage="fgm COMMAND [options]",
        description=f"Flash Genomics Model\n\ncommands:\n{listing}\n\n`fgm COMMAND --help` lists its options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    words = next((w for w in COMMANDS if argv[: len(w.split())] == w.split()), None)
    if words is None:
        top = build_parser()
        if argv[:1] in (["-h"], ["--help"]):
            top.print_help()
            return 0
        given = f"unknown command {' '.join(argv[:2])!r}" if argv else "no command given"
        top.error(f"{given}; choose one of: {', '.join(COMMANDS)}")
    module = importlib.import_module(f"fgm.commands.{COMMANDS[words][0]}")
    parser = HfArgumentParser(
        module.ARGUMENTS, prog=f"fgm {words}", description=module.__doc__, formatter_class=HelpFormatter
    )
    try:
        *arguments, unknown = parser.parse_args_into_dataclasses(
            argv[len(words.split()) :], return_remaining_strings=True, look_for_args_file=False
        )
    except ValueError as err:  # the dataclasses' own checks, e.g. --bf16 on a machine without bf16
        parser.error(str(err))
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    return module.run(*arguments) or 0


if __name__ == "__main__":
    sys.exit(main())
