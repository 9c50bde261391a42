"""Masked-LM examples from genome windows, and the collator that batches them.

Every random choice for an example (crop start, reverse complement, which tokens are masked and how)
comes from a generator seeded by (seed, epoch, index). So a run resumed from a checkpoint sees exactly
the batches it would have seen, whatever the data loader prefetched, and DDP ranks never share draws.
"""

import hashlib

import torch
from torch.utils.data import Dataset

COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def reverse_complement(sequence: str) -> str:
    return sequence.translate(COMPLEMENT)[::-1]


def example_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    digest = hashlib.blake2b(f"{seed}/{epoch}/{index}".encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))


def mask_tokens(ids: torch.Tensor, tokenizer, probability: float, generator: torch.Generator, mask_all=False):
    """BERT masking on nucleotide tokens only: of the chosen tokens 80% -> <mask>, 10% -> a random
    nucleotide token, 10% unchanged (`mask_all`: 100% -> <mask>, for evaluation, so that no scored token
    is visible in the input). Special tokens are never chosen; at least one token is."""
    first_nucleotide = len(tokenizer.all_special_ids)
    candidates = ids >= first_nucleotide
    chosen = (torch.rand(ids.shape, generator=generator) < probability) & candidates
    if not chosen.any() and candidates.any():
        positions = candidates.nonzero().flatten()
        chosen[positions[torch.randint(len(positions), (1,), generator=generator)]] = True
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    roll = torch.zeros(ids.shape) if mask_all else torch.rand(ids.shape, generator=generator)
    inputs = ids.clone()
    inputs[chosen & (roll < 0.8)] = tokenizer.mask_token_id
    random_ids = torch.randint(first_nucleotide, len(tokenizer), ids.shape, generator=generator)
    replace = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[replace] = random_ids[replace]
    return inputs, labels


class MaskedGenomeWindows(Dataset):
    """A corpus split (rows with a `sequence`) as masked-LM examples of at most `seq_len` tokens.

    Training: a random crop of each window, a random strand, 80/10/10 masking. Evaluation
    (`train=False`): the start of each window on the given strand, every chosen token replaced by
    <mask>, with masks fixed by index so every evaluation is comparable.
    """

    def __init__(self, rows, tokenizer, seq_len: int, mlm_probability=0.15, train=True, seed=0, rc_probability=0.5):
        if seq_len < 2:
            raise ValueError(f"seq_len must be at least 2 tokens (<cls> + one nucleotide token), got {seq_len}")
        self.rows, self.tokenizer, self.seq_len = rows, tokenizer, seq_len
        self.mlm_probability, self.train, self.seed = mlm_probability, train, seed
        self.rc_probability = rc_probability if train else 0.0
        self.crop_bases = (seq_len - 1) * tokenizer.k
        self.epoch = 0

    def set_epoch(self, epoch: int):
        """Called by the Trainer's data loader at each epoch: new crops and masks every epoch."""
        self.epoch = int(epoch)

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        generator = example_generator(self.seed, self.epoch if self.train else 0, index)
        sequence = self.rows[index]["sequence"]
        if self.train and len(sequence) > self.crop_bases:
            start = int(torch.randint(len(sequence) - self.crop_bases + 1, (1,), generator=generator))
            sequence = sequence[start : start + self.crop_bases]
        else:
            sequence = sequence[: self.crop_bases]
        if self.rc_probability and float(torch.rand((), generator=generator)) < self.rc_probability:
            sequence = reverse_complement(sequence)
        ids = self.tokenizer.bulk_encode([sequence])[0][: self.seq_len]
        input_ids, labels = mask_tokens(ids, self.tokenizer, self.mlm_probability, generator, mask_all=not self.train)
        return {"input_ids": input_ids, "labels": labels}


class GenomeMLMCollator:
    """Pads examples to a multiple of `pad_to_multiple_of`, or packs them into one row.

    Packing concatenates the examples and restarts `position_ids` at each, so the model keeps them
    apart (no attention across examples) while no compute is spent on padding.
    """

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int = 8, pack: bool = False):
        self.pad_token_id, self.multiple, self.pack = pad_token_id, pad_to_multiple_of, pack

    def _pad(self, rows: list[torch.Tensor], value: int, width: int) -> torch.Tensor:
        out = torch.full((len(rows), width), value, dtype=torch.long)
        for i, row in enumerate(rows):
            out[i, : len(row)] = row
        return out

    def _width(self, length: int) -> int:
        return -(-length // self.multiple) * self.multiple

    def __call__(self, examples: list[dict]) -> dict:
        ids = [torch.as_tensor(e["input_ids"]) for e in examples]
        labels = [torch.as_tensor(e["labels"]) for e in examples] if "labels" in examples[0] else None
        if self.pack:
            positions = [torch.cat([torch.arange(len(i)) for i in ids])]
            ids = [torch.cat(ids)]
            labels = [torch.cat(labels)] if labels is not None else None
        width = self._width(max(len(i) for i in ids))
        batch = {
            "input_ids": self._pad(ids, self.pad_token_id, width),
            "attention_mask": self._pad([torch.ones_like(i) for i in ids], 0, width),
        }
        if self.pack:
            batch["position_ids"] = self._pad(positions, 0, width)
        if labels is not None:
            batch["labels"] = self._pad(labels, -100, width)
        return batch
