"""`fgm benchmark long-range`: accuracy on a two-motif probe against the distance between the motifs.

    fgm benchmark long-range --model CKPT --distances 100,1k,10k --output_dir runs/long_range

Each sequence is a window of a real genome (default: the bundled yeast genome) with two 8-base motifs
written d bases apart; the label says whether they are the same motif. Each site alone is uninformative,
so accuracy above 0.5 means the model relates sites d bases apart. The data are drawn from --seed (the
same seed, the same data). The checkpoint is fine-tuned per distance with `fgm finetune`'s options;
OUTPUT_DIR/long_range.md, .json and .png hold accuracy against distance.
"""

from dataclasses import dataclass, field

from ..training.finetune_arguments import FinetuneModelArguments, FinetuningArguments
from . import bases_list


@dataclass
class LongRangeArguments:
    _argument_group_name = "probe"

    distances: list[str] = field(default_factory=lambda: ["100", "1k"], metadata={"help": "bases, e.g. 100,1k,10k"})
    train_examples: int = field(default=2000, metadata={"help": "training sequences per distance"})
    test_examples: int = field(default=500, metadata={"help": "test sequences per distance"})
    genome: str | None = field(default=None, metadata={"help": "background genome (default: bundled yeast)"})
    chroms: list[str] | None = field(default=None, metadata={"help": "only these records of the genome"})


ARGUMENTS = (LongRangeArguments, FinetuneModelArguments, FinetuningArguments)


def run(probe: LongRangeArguments, model_args: FinetuneModelArguments, training_args: FinetuningArguments) -> int:
    from pathlib import Path

    from ..context.probe import long_range_probe

    long_range_probe(
        model_args.model_name_or_path, training_args.output_dir, bases_list(probe.distances), genome=probe.genome,
        chroms=probe.chroms, n_train=probe.train_examples, n_test=probe.test_examples, seed=training_args.seed,
        training_args=training_args, model_args=model_args,
    )
    print(Path(training_args.output_dir, "long_range.md").read_text())
    return 0
