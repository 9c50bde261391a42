"""One rank of the 2-process DDP test (launched by tests/test_pretrain.py through torchrun)."""

import hashlib
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from fgm.training.pretrain import PretrainDataArguments, PretrainingArguments, PretrainModelArguments, build_trainer

out, corpus = Path(sys.argv[1]), sys.argv[2]
trainer = build_trainer(
    PretrainModelArguments(preset="tiny"),
    PretrainDataArguments(corpus=corpus, max_length=48),
    PretrainingArguments(
        output_dir=str(out / "run"),
        max_steps=3,
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        save_steps=3,
        logging_steps=1,
        ddp_backend="gloo",
        use_cpu=True,  # DDP over gloo on a machine without CUDA
    ),
)
first_batch = next(iter(trainer.get_train_dataloader()))["input_ids"]
initial = torch.cat([p.detach().flatten().clone() for p in trainer.model.parameters()])
trainer.train()
final = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
rank = dist.get_rank()
(out / f"rank{rank}.json").write_text(
    json.dumps(
        {
            "world_size": dist.get_world_size(),
            "first_batch": hashlib.sha1(first_batch.numpy().tobytes()).hexdigest(),
            "params": hashlib.sha1(final.numpy().tobytes()).hexdigest(),
            "moved": float((final - initial).abs().max()),
        }
    )
)
