"""`fgm demo`: the whole path on the bundled yeast genome (see fgm/demo.py)."""

from dataclasses import dataclass, field


@dataclass
class DemoArguments:
    output_dir: str = field(default="runs/demo", metadata={"help": "corpus, checkpoint and summary.json go here"})
    max_steps: int = field(default=2000, metadata={"help": "pretraining steps"})
    seed: int = field(default=0, metadata={"help": "seed of the model's weights, the crops and the masks"})


ARGUMENTS = (DemoArguments,)


def run(args: DemoArguments) -> int:
    from ..demo import run_demo

    summary = run_demo(args.output_dir, max_steps=args.max_steps, seed=args.seed)
    return 0 if summary["fresh_process_logits_identical"] else 1  # not beating a baseline is a result, not a failure
