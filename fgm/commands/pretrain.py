"""`fgm pretrain`: masked-LM pretraining of an FGM preset on a corpus built by `fgm corpus`.

Runs unchanged under `accelerate launch` or `torchrun` (see scripts/).
"""

import json


def add_arguments(parser):
    parser.add_argument("--corpus", required=True, help="folder written by `fgm corpus`, or a Hub dataset name")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--preset", default="small", help="tiny | small | base | large (default: small)")
    parser.add_argument("--init-from", help="continue pretraining from this checkpoint folder instead of a preset")
    parser.add_argument(
        "--model-overrides", type=json.loads, default={}, help='JSON config overrides, e.g. \'{"sliding_window": 256}\''
    )
    parser.add_argument("--k", type=int, default=6, help="k-mer size of the tokenizer (default 6, NT-compatible)")
    parser.add_argument("--seq-len", type=int, default=1000, help="tokens per example, <cls> included")
    parser.add_argument("--max-steps", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=8, help="per device")
    parser.add_argument("--grad-accum", type=int, default=1)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--warmup-ratio", type=float, default=0.05)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--pack", action="store_true", help="pack examples into one row instead of padding")
    parser.add_argument("--eval-steps", type=int, default=200)
    parser.add_argument("--save-steps", type=int, default=200)
    parser.add_argument("--logging-steps", type=int, default=20)
    parser.add_argument("--max-eval-windows", type=int, default=256)
    parser.add_argument("--attn-implementation", default="sdpa", help="eager | sdpa | flex_attention | flash_attention_2")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --output-dir")
    parser.add_argument("--fsdp", default="", help='passed to TrainingArguments.fsdp, e.g. "full_shard auto_wrap"')


def run(args):
    from ..data.corpus import load_corpus
    from ..training.pretrain import pretrain

    extra = {"fsdp": args.fsdp} if args.fsdp else {}
    if args.fsdp:
        extra["fsdp_config"] = {"transformer_layer_cls_to_wrap": ["FGMEncoderLayer"]}
    metrics = pretrain(
        load_corpus(args.corpus),
        args.output_dir,
        resume=args.resume,
        preset=args.preset,
        init_from=args.init_from,
        model_overrides=args.model_overrides,
        k=args.k,
        seq_len=args.seq_len,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        grad_accum=args.grad_accum,
        learning_rate=args.learning_rate,
        warmup_ratio=args.warmup_ratio,
        weight_decay=args.weight_decay,
        seed=args.seed,
        gradient_checkpointing=args.gradient_checkpointing,
        pack=args.pack,
        eval_steps=args.eval_steps,
        save_steps=args.save_steps,
        logging_steps=args.logging_steps,
        max_eval_windows=args.max_eval_windows,
        attn_implementation=args.attn_implementation,
        **extra,
    )
    print(json.dumps(metrics, indent=2))
