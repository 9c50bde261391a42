"""`fgm pretrain`: masked-LM pretraining of an FGM model on a corpus built by `fgm corpus`.

    fgm pretrain --corpus runs/yeast/corpus --output_dir runs/yeast/model --preset small --max_length 1000
    fgm pretrain ... --resume_from_checkpoint last      # continue from the newest checkpoint, if any

Every Trainer option exists under its standard name (--per_device_train_batch_size, --bf16, --fsdp,
--report_to, --torch_compile, ...). Runs unchanged under `accelerate launch` or `torchrun` (see scripts/).
"""

import json

from ..training.pretrain import PretrainDataArguments, PretrainingArguments, PretrainModelArguments, pretrain

ARGUMENTS = (PretrainModelArguments, PretrainDataArguments, PretrainingArguments)


def run(model_args, data_args, training_args):
    print(json.dumps(pretrain(model_args, data_args, training_args), indent=2))
