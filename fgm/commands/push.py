"""`fgm push`: upload a checkpoint folder to the Hugging Face Hub, its model card listing the NT and VEP
results found in the folder (and in --results).

    fgm push --model runs/yeast/model --repo_id me/fgm-yeast --results runs/nt runs/vep
"""

from dataclasses import dataclass, field

from ..checkpoints import checkpoint_argument


@dataclass
class PushArguments:
    model_name_or_path: str = checkpoint_argument("checkpoint folder to upload")
    repo_id: str = field(metadata={"help": "Hub repository, e.g. me/fgm-yeast (created if missing)"})
    results: list[str] = field(
        default_factory=list, metadata={"help": "more result files or folders (fgm finetune / benchmark nt / "
                                        "benchmark vep outputs) for the model card"})
    private: bool = field(default=False, metadata={"help": "create the repository as private"})
    token: str | None = field(default=None, metadata={"help": "Hub token (default: the logged-in one)"})


ARGUMENTS = (PushArguments,)


def run(args: PushArguments) -> int:
    from ..hub import push_checkpoint

    commit = push_checkpoint(args.model_name_or_path, args.repo_id, private=args.private, token=args.token,
                             results=args.results)
    print(f"pushed {args.model_name_or_path} to https://huggingface.co/{args.repo_id} ({commit})")
    return 0
