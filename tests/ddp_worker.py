"""One rank of the 2-process DDP tests (launched through torchrun by tests/test_pretrain.py, and by
tests/test_streaming.py with a third argument, `streaming`, for a folder of Parquet shards)."""

import hashlib
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from fgm.training.pretrain import PretrainDataArguments, PretrainingArguments, PretrainModelArguments, build_trainer

out, corpus, streaming = Path(sys.argv[1]), sys.argv[2], sys.argv[3:] == ["streaming"]
trainer = build_trainer(
    PretrainModelArguments(preset="tiny", kmer_size=1 if streaming else 6),
    PretrainDataArguments(corpus=corpus, max_length=48, streaming=streaming, shuffle_buffer=8),
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
batches = iter(trainer.get_train_dataloader())
windows = []  # each row this rank trains on in the first three steps, unmasked (labels where a token is masked)
for _ in range(3):
    batch = next(batches)
    original = torch.where(batch["labels"] != -100, batch["labels"], batch["input_ids"])
    windows += [hashlib.sha1(row.numpy().tobytes()).hexdigest() for row in original]
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
            "windows": windows,
        }
    )
)
