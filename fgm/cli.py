"""`fgm` console command: one sub-command per module in `fgm.commands`.

Each command module defines `ARGUMENTS`, the dataclasses `HfArgumentParser` fills from the command
line (so every `TrainingArguments` option exists under its standard name), and `run(*arguments)`,
which calls library functions with them, nothing more.

A user's error (a bad value, a missing file or folder, a malformed input, no network) ends the command with one
line, `fgm COMMAND: error: ...`, and exit status 2; anything else is a bug and shows its traceback. With the
environment variable FGM_DEBUG=1 every error shows its traceback.
"""

import argparse
import dis
import importlib
import os
import sys

from transformers import HfArgumentParser, TrainingArguments

from .checkpoints import require_checkpoint

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
DEBUG_VARIABLE = "FGM_DEBUG"
TRAINER_GROUP = "Trainer options (transformers' TrainingArguments, with Trainer's defaults)"


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults after each option's help, unless the help states its own or there is none to state; the command's
    docstring (its examples) as written."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.required or action.default in (None, []) or text.startswith("default:") or "(default:" in text:
            return text
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser: it only names the commands (each command parses its own options)."""
    listing = "\n".join(f"  fgm {words:<19} {help_text}" for words, (_, help_text) in COMMANDS.items())
    return argparse.ArgumentParser(
        prog="fgm",
        usage="fgm COMMAND [options]",
        description=f"Flash Genomics Model\n\ncommands:\n{listing}\n\n`fgm COMMAND --help` lists its options. An "
        f"error in the input ends a command with one line; {DEBUG_VARIABLE}=1 shows its traceback.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def command_parser(words: str, module) -> HfArgumentParser:
    """The parser of one command; a `TrainingArguments` dataclass keeps the options FGM adds or redefines in its
    group and lists Trainer's others last."""
    parser = HfArgumentParser(
        module.ARGUMENTS, prog=f"fgm {words}", description=module.__doc__, formatter_class=HelpFormatter
    )
    for dtype in module.ARGUMENTS:
        if issubclass(dtype, TrainingArguments):
            own = {name for cls in dtype.__mro__[: dtype.__mro__.index(TrainingArguments)]
                   for name in vars(cls).get("__annotations__", {})}
            group = next(g for g in parser._action_groups if g.title == dtype._argument_group_name)
            trainer = parser.add_argument_group(TRAINER_GROUP)
            for action in [a for a in group._group_actions if a.dest not in own]:
                group._group_actions.remove(action)
                trainer._group_actions.append(action)
    return parser


def is_user_error(error: BaseException) -> bool:
    """Whether `error` is the user's to fix: a file, folder or connection problem (an OSError), or a value FGM's
    own code refused (a ValueError, KeyError or ImportError from a `raise` statement in the fgm package). Anything
    else, such as a TypeError or a ValueError raised inside a library or by the interpreter, is a bug."""
    if isinstance(error, OSError):
        return True
    if not isinstance(error, (ValueError, KeyError, ImportError)) or error.__traceback__ is None:
        return False
    last = error.__traceback__
    while last.tb_next is not None:
        last = last.tb_next
    if last.tb_frame.f_globals.get("__name__", "").partition(".")[0] != "fgm":
        return False
    return any(i.offset == last.tb_lasti and i.opname == "RAISE_VARARGS"
               for i in dis.get_instructions(last.tb_frame.f_code))


def error_message(error: BaseException) -> str:
    """The error's own words (a KeyError's without the quotes `str` adds)."""
    if isinstance(error, KeyError) and len(error.args) == 1 and isinstance(error.args[0], str):
        return error.args[0]
    return str(error) or type(error).__name__


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    words = next((w for w in COMMANDS if argv[: len(w.split())] == w.split()), None)
    if words is None:
        top = build_parser()
        if argv[:1] in (["-h"], ["--help"]):
            top.print_help()
            return 0
        family = [w for w in COMMANDS if argv and len(w.split()) > 1 and w.split()[0] == argv[0]]
        if family and argv[1:2] in (["-h"], ["--help"]):
            print("\n".join(f"fgm {w:<19} {COMMANDS[w][1]}" for w in family))
            return 0
        if family:
            top.error(f"fgm {argv[0]} needs one of: {', '.join(w.split(maxsplit=1)[1] for w in family)}")
        given = f"unknown command {' '.join(argv[:2])!r}" if argv else "no command given"
        top.error(f"{given}; choose one of: {', '.join(COMMANDS)}")
    module = importlib.import_module(f"fgm.commands.{COMMANDS[words][0]}")
    parser = command_parser(words, module)
    try:
        try:
            *arguments, unknown = parser.parse_args_into_dataclasses(
                argv[len(words.split()) :], return_remaining_strings=True, look_for_args_file=False
            )
        except ValueError as err:  # the dataclasses' own checks, e.g. --bf16 on a machine without bf16
            parser.error(str(err))
        if unknown:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        for given in arguments:  # a mistyped checkpoint folder, before any work
            if getattr(given, "model_name_or_path", None):
                require_checkpoint(given.model_name_or_path)
        return module.run(*arguments) or 0
    except Exception as error:
        if os.environ.get(DEBUG_VARIABLE, "").strip().lower() in {"1", "true", "yes", "on"} or not is_user_error(error):
            raise
        parser.exit(2, f"fgm {words}: error: {error_message(error)}\n")


if __name__ == "__main__":
    sys.exit(main())
