"""Stand-in masked and causal LMs with a known behaviour, for proving that the context instruments measure what
they claim.

The masked ones read single-nucleotide FGM token ids and answer like a Hugging Face masked LM (`.config.vocab_size`,
`forward(input_ids, attention_mask, labels).logits`), so `MaskedBaseScorer` scores them as it scores any model; the
causal ones (`CausalStandIn`) answer like a causal LM, so `CausalBaseScorer` scores them.
"""

from types import SimpleNamespace

import torch

from fgm import FGMTokenizer


class StandIn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.tokenizer = FGMTokenizer(k=1)
        self.config = SimpleNamespace(vocab_size=len(self.tokenizer))
        self.bases = torch.tensor(self.tokenizer.convert_tokens_to_ids(list("ACGT")))
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # something for `model_device` to find

    def forward(self, input_ids, attention_mask=None, labels=None):
        logits = torch.full((*input_ids.shape, self.config.vocab_size), -1e4)
        logits[..., self.bases] = 0.0
        for row, position in (input_ids == self.tokenizer.mask_token_id).nonzero().tolist():
            logits[row, position, self.bases] = self.predict(input_ids[row], position)
        return SimpleNamespace(logits=logits)


class Copier(StandIn):
    """Predicts a masked base from an exact copy of the `key` tokens on each side elsewhere in the row (the base
    that copy holds, with certainty); uniform where there is none."""

    def __init__(self, key: int = 8):
        super().__init__()
        self.key = key

    def predict(self, ids, position):
        k, row = self.key, ids.tolist()
        left, right = row[position - k : position], row[position + 1 : position + 1 + k]
        for j in range(k, len(row) - k):
            if j != position and row[j - k : j] == left and row[j + 1 : j + 1 + k] == right and row[j] in self.bases:
                return torch.where(self.bases == row[j], 20.0, 0.0)
        return torch.zeros(4)


class Local(StandIn):
    """Logits from the tokens at most `reach` positions from the masked one, by fixed random weights: nothing
    farther can change its prediction."""

    def __init__(self, reach: int, seed: int = 0):
        super().__init__()
        self.reach = reach
        generator = torch.Generator().manual_seed(seed)
        self.weights = torch.randn(2 * reach + 1, self.config.vocab_size, 4, generator=generator)

    def predict(self, ids, position):
        logits = torch.zeros(4)
        for offset in range(-self.reach, self.reach + 1):
            if offset and 0 <= position + offset < len(ids):
                logits += self.weights[offset + self.reach, ids[position + offset]]
        return logits


class CausalStandIn(torch.nn.Module):
    """Answers like a Hugging Face causal LM (`can_generate`, next-token logits at every position) with the
    single-base tokenizer of `causal_peer` (a BOS, then one token per base); only each row's last real position,
    the one `CausalBaseScorer` reads, is computed."""

    def __init__(self):
        super().__init__()
        from causal_peer import dna_tokenizer

        self.tokenizer = dna_tokenizer(1)
        self.config = SimpleNamespace(vocab_size=len(self.tokenizer))
        self.bases = torch.tensor(self.tokenizer.convert_tokens_to_ids(list("ACGT")))
        self.anchor = torch.nn.Parameter(torch.zeros(()))

    def can_generate(self):
        return True

    def forward(self, input_ids, attention_mask=None):
        logits = torch.full((*input_ids.shape, self.config.vocab_size), -1e4)
        logits[..., self.bases] = 0.0
        lengths = attention_mask.sum(1) if attention_mask is not None else [input_ids.shape[1]] * len(input_ids)
        for row, length in enumerate(lengths):
            logits[row, int(length) - 1, self.bases] = self.predict(input_ids[row, : int(length)].tolist())
        return SimpleNamespace(logits=logits)


class CausalCopier(CausalStandIn):
    """Predicts the next base from the nearest earlier occurrence of the last `key` tokens: the base that followed
    it, with certainty; uniform where there is none."""

    def __init__(self, key: int = 12):
        super().__init__()
        self.key = key

    def predict(self, row):
        k, n = self.key, len(row)
        for j in range(n - 1, k - 1, -1):
            if row[j - k : j] == row[n - k :] and row[j] in self.bases:
                return torch.where(self.bases == row[j], 20.0, 0.0)
        return torch.zeros(4)


class PreviousBase(CausalStandIn):
    """Logits from the last token only, by fixed random weights: nothing before it can change the prediction."""

    def __init__(self, seed: int = 0):
        super().__init__()
        self.weights = torch.randn(self.config.vocab_size, 4, generator=torch.Generator().manual_seed(seed))

    def predict(self, row):
        return self.weights[row[-1]]
