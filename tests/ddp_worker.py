"""One rank of the 2-process DDP test (launched by tests/test_pretrain.py through torchrun)."""

import hashlib
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parent))
import yeast  # noqa: E402

from fgm.training.pretrain import build_trainer  # noqa: E402

out = Path(sys.argv[1])
trainer = build_trainer(
    yeast.corpus(window=300, train_count=64, validation_count=0),
    str(out / "run"),
    preset="tiny",
    seq_len=48,
    max_steps=3,
    batch_size=4,
    learning_rate=1e-3,
    save_steps=3,
    logging_steps=1,
    ddp_backend="gloo",
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
