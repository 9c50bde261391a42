"""`fgm demo`: the whole path on the bundled yeast genome (see fgm/demo.py)."""


def add_arguments(parser):
    parser.add_argument("--output-dir", default="runs/demo")
    parser.add_argument("--max-steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)


def run(args):
    from ..demo import run_demo

    summary = run_demo(args.output_dir, max_steps=args.max_steps, seed=args.seed)
    if not (summary["beats_kmer_frequency_baseline"] and summary["fresh_process_logits_identical"]):
        return 1
