"""Masked-LM examples from genome windows, and the transformers collators that batch them.

Every random choice for an example (crop start, reverse complement, which tokens are masked and how)
comes from a generator seeded by (seed, epoch, index). So a run resumed from a checkpoint sees exactly
the batches it would have seen, whatever the data loader prefetched, and DDP ranks never share draws.
"""

import hashlib
import math
from collections import Counter

import numpy as np
import torch
from torch.utils.data import Dataset
from transformers import DataCollatorForTokenClassification, DataCollatorWithFlattening

from ..model.kmers_fgm import reverse_complement, token_nucleotides_table
from .planting import CopyPlanting

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


def masked_loss_floor(tokenizer) -> float:
    """The best masked-LM loss (nats per scored token) on uniform random sequence for a model that copies nothing,
    under `mask_tokens`' 80/10/10: it learns only from the scored token's own input, which is <mask> (80%: ln K for
    K = 4**k k-mers), the truth (10%) or a random nucleotide token (10%, one of V, N-holding ones included). A token
    shown as a k-mer is the truth with probability (V + 1) / (V + K). ln 4 = 1.386 for k = 1 would ignore the 20%
    of labelled bases the input still shows; the floor is 1.3173 (V = 5). Check it by simulation before quoting it."""
    kmers, shown = 4**tokenizer.k, len(tokenizer) - len(tokenizer.all_special_ids)
    same, other = (shown + 1) / (shown + kmers), 1 / (shown + kmers)
    entropy_shown = -same * math.log(same) - (kmers - 1) * other * math.log(other)
    blind = 0.8 + 0.1 * (shown - kmers) / shown  # <mask>, or a random token that is no k-mer (holds an N)
    return blind * math.log(kmers) + (0.1 + 0.1 * kmers / shown) * entropy_shown


class MaskedGenomeWindows(Dataset):
    """A corpus split (rows with a `sequence`) as masked-LM examples of at most `seq_len` tokens.

    Training: a random crop of each window, optionally a copy planted in it (`planting`), a random strand,
    80/10/10 masking. Evaluation
    (`train=False`): the start of each window on the given strand, every chosen token replaced by
    <mask>, with masks fixed by index so every evaluation is comparable. With `soft_masked_weight` below 1, each
    example also carries `loss_weight`, per token: the mean over its bases of that weight for a soft-masked base
    (the corpus's `soft_masked` runs) and 1 for any other (planted copies count as unmasked).
    """

    def __init__(self, rows, tokenizer, seq_len: int, mlm_probability=0.15, train=True, seed=0, rc_probability=0.5,
                 planting: CopyPlanting | None = None, soft_masked_weight: float = 1.0):
        if seq_len < 2:
            raise ValueError(f"seq_len must be at least 2 tokens (<cls> + one nucleotide token), got {seq_len}")
        columns = getattr(rows, "column_names", None) or (list(rows[0]) if len(rows) else [])
        if soft_masked_weight != 1.0 and "soft_masked" not in columns:
            raise ValueError("a soft-masked loss weight needs the corpus's soft_masked column, which corpora built "
                             "before FGM kept soft-masking lack: build the corpus again with `fgm corpus`")
        self.soft_masked_weight = float(soft_masked_weight)
        self.rows, self.tokenizer, self.seq_len = rows, tokenizer, seq_len
        self.mlm_probability, self.train, self.seed = mlm_probability, train, seed
        self.rc_probability = rc_probability if train else 0.0
        self.crop_bases = (seq_len - 1) * tokenizer.k
        if planting is not None:
            planting.check(self.crop_bases)
        self.planting = planting if train else None
        self.epoch = 0

    def set_epoch(self, epoch: int):
        """Called by the Trainer's data loader at each epoch: new crops and masks every epoch."""
        self.epoch = int(epoch)

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        return self.example(self.rows[index], index)

    def example(self, row: dict, index: int) -> dict:
        """The example of `row`, its draws from (seed, epoch, `index`)."""
        generator = example_generator(self.seed, self.epoch if self.train else 0, index)
        sequence, start = row["sequence"], 0
        if self.train and len(sequence) > self.crop_bases:
            start = int(torch.randint(len(sequence) - self.crop_bases + 1, (1,), generator=generator))
        sequence = sequence[start : start + self.crop_bases]
        weights = self.base_weights(row)[start : start + len(sequence)] if self.soft_masked_weight != 1.0 else None
        if self.planting is not None:
            copy = self.planting.draw(len(sequence), self.rows, generator)
            if copy is not None:
                sequence = copy.written_into(sequence)
                if weights is not None:
                    for first in (copy.first, copy.second):
                        weights[first : first + len(copy.needle)] = 1.0
        if self.rc_probability and float(torch.rand((), generator=generator)) < self.rc_probability:
            sequence = reverse_complement(sequence)
            weights = None if weights is None else weights[::-1]
        ids = self.tokenizer.bulk_encode([sequence])[0][: self.seq_len]
        input_ids, labels = mask_tokens(ids, self.tokenizer, self.mlm_probability, generator, mask_all=not self.train)
        if weights is None:
            return {"input_ids": input_ids, "labels": labels}
        return {"input_ids": input_ids, "labels": labels, "loss_weight": token_weights(ids, weights, self.tokenizer.k)}

    def base_weights(self, row) -> np.ndarray:
        """Per base of the window: `soft_masked_weight` where soft-masked, else 1."""
        weights = np.ones(len(row["sequence"]), dtype=np.float32)
        runs = row["soft_masked"]
        for first, last in zip(runs[0::2], runs[1::2]):
            weights[first:last] = self.soft_masked_weight
        return weights


class StreamingGenomeWindows(torch.utils.data.IterableDataset):
    """A corpus split streamed from its shards (`fgm corpus --format shards`), in bounded memory: the windows pass
    through a shuffle buffer of `buffer_size` filled from `open_shards` shards at a time in a seeded shard order
    (datasets' `IterableDataset.shuffle`, reshuffled each epoch; each open shard holds memory in proportion to its
    size), then become examples as `windows` makes them (crop, strand, masking, loss weights), the n-th window of an
    epoch drawing from (seed, epoch, n). The order depends only on the seed, so a resumed run (Trainer skips the
    batches already trained) sees the same next batch."""

    def __init__(self, stream, windows: MaskedGenomeWindows, buffer_size: int, open_shards: int):
        self.stream = stream.shuffle(seed=windows.seed, buffer_size=buffer_size, max_buffer_input_shards=open_shards)
        self.windows = windows

    def set_epoch(self, epoch: int):
        self.windows.set_epoch(epoch)
        self.stream.set_epoch(epoch)

    def __iter__(self):
        for index, row in enumerate(self.stream):
            yield self.windows.example(row, index)


class SpeciesSampler(torch.utils.data.Sampler):
    """Draws the training windows of a corpus of many species (its `source` column) so that each species gets the
    share of them its weight asks for (`weights`: species -> weight, relative), with replacement, as many per epoch as
    the corpus has windows. The draws come from (seed, epoch), so every rank draws the same order (and takes its own
    batches of it) and a resumed run draws what it would have."""

    def __init__(self, windows: MaskedGenomeWindows, weights: dict[str, float]):
        sources = list(windows.rows["source"])
        counts = Counter(sources)
        require_weights(counts, weights)
        self.windows = windows
        self.row_weights = torch.tensor([weights[s] / counts[s] for s in sources], dtype=torch.float64)

    def __len__(self) -> int:
        return len(self.row_weights)

    def __iter__(self):
        generator = example_generator(self.windows.seed, self.windows.epoch, -1)
        return iter(torch.multinomial(self.row_weights, len(self), replacement=True, generator=generator).tolist())


def interleaved_species(stream, weights: dict[str, float], sources: list[str], seed: int):
    """A streamed split (`corpus.stream_split`) drawn so that each species (its `source` column) gets the share of
    windows its weight asks for, as `SpeciesSampler` does in memory: one stream per species (the same shards, each
    filtered to its windows), interleaved at random with those probabilities (datasets' `interleave_datasets`,
    seeded), an epoch ending when the first species runs out; the shuffle buffer then mixes them. `sources`: the
    species the corpus holds, each of which needs a weight."""
    from datasets import interleave_datasets

    require_weights(sources, weights)
    names, total = list(weights), sum(weights.values())
    streams = [stream.filter(lambda row, name=name: row["source"] == name) for name in names]
    return interleave_datasets(streams, probabilities=[weights[name] / total for name in names], seed=seed,
                               stopping_strategy="first_exhausted")


def require_weights(species, weights: dict[str, float]) -> None:
    """Refuse, naming them, the species of a corpus that have no sampling weight."""
    missing = sorted(set(species) - set(weights))
    if missing:
        raise ValueError(f"no sampling weight for the species {missing} of the corpus")


def token_weights(ids: torch.Tensor, base_weights: np.ndarray, k: int) -> torch.Tensor:
    """Per token of `ids` (special tokens: 1): the mean weight of the bases it covers, in order."""
    _, lengths = token_nucleotides_table(k)
    covered = lengths[ids]
    out = torch.ones(len(ids), dtype=torch.float32)
    bases = covered > 0
    if bases.any():
        starts = np.concatenate([[0], np.cumsum(covered[bases].numpy())[:-1]])
        sums = np.add.reduceat(np.ascontiguousarray(base_weights), starts) if len(base_weights) else starts * 0.0
        out[bases] = torch.as_tensor(sums / covered[bases].numpy(), dtype=torch.float32)
    return out


def mlm_collator(tokenizer, padding_free: bool = False):
    """The transformers collator for these examples, whose labels are already masked (-100 = not scored).

    Padding (`DataCollatorForTokenClassification`): rows padded to a multiple of 8 with <pad>, labels
    with -100. Padding-free (`DataCollatorWithFlattening`): the batch becomes one row with no padding
    and `position_ids` restarting at 0 at each example, which FGM reads as separate sequences (no
    attention across them); it sets the first label of each example to -100, always <cls>'s anyway.
    Examples with a `loss_weight` have it laid out as their labels are (0 on padding).
    """
    collate = DataCollatorWithFlattening() if padding_free else DataCollatorForTokenClassification(
        tokenizer, pad_to_multiple_of=8)

    def collate_weighted(examples):
        if "loss_weight" not in examples[0]:
            return collate(examples)
        weights = [example.pop("loss_weight") for example in examples]
        batch = collate(examples)
        if padding_free:
            batch["loss_weight"] = torch.cat(weights)[None]
        else:
            batch["loss_weight"] = torch.zeros(batch["labels"].shape)
            for row, weight in enumerate(weights):
                batch["loss_weight"][row, : len(weight)] = weight
        return batch

    return collate_weighted
