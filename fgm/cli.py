"""`fgm` console command: one sub-command per module in `fgm.commands`.

Each command module defines `add_arguments(parser)` and `run(args)`; it parses arguments and calls
library functions, nothing more.
"""

import argparse
import importlib
import sys

COMMANDS = {
    "corpus": "build a genome corpus (datasets) from FASTA / GenBank files",
    "pretrain": "masked-LM pretraining with the Hugging Face Trainer",
    "finetune": "fine-tune on a sequence classification task (NT benchmark or local files)",
    "benchmark": "run a whole benchmark suite (`fgm benchmark nt`)",
    "demo": "end-to-end demo on the bundled yeast genome",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fgm", description="Flash Genomics Model")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"fgm.commands.{name}")
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args) or 0


if __name__ == "__main__":
    sys.exit(main())
