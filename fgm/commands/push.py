"""`fgm push`: upload a checkpoint folder to the Hugging Face Hub, its model card listing the NT and VEP
results found in the folder (and in --results).

    fgm push --model runs/yeast/model --repo_id me/fgm-yeast --results runs/nt runs/vep
"""

from ..hub import PushArguments, push_checkpoint

ARGUMENTS = (PushArguments,)


def run(args: PushArguments) -> int:
    commit = push_checkpoint(args)
    print(f"pushed {args.model_name_or_path} to https://huggingface.co/{args.repo_id} ({commit})")
    return 0
