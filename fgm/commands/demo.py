"""`fgm demo`: the whole path on the bundled yeast genome (see fgm/demo.py)."""

from ..demo import DemoArguments

ARGUMENTS = (DemoArguments,)


def run(args: DemoArguments) -> int:
    from ..demo import run_demo

    summary = run_demo(args)
    return 0 if summary.fresh_process_logits_identical else 1  # not beating a baseline is a result, not a failure
