"""Reference points for masked-LM accuracy: what a model gets without learning any context.

- most frequent k-mer: always predict the training corpus's most common token;
- k-mer frequency model: predict from the training token frequencies (both strands, add-one
  smoothed); its accuracy is the most frequent k-mer's, its perplexity is the bar for the model's.
"""

import math

import torch

from ..data.mlm import reverse_complement


def kmer_frequency_baseline(train_rows, eval_examples, tokenizer, batch_size: int = 256) -> dict:
    """Accuracy and perplexity of the frequency baselines on the masked tokens of `eval_examples`."""
    counts = torch.zeros(len(tokenizer), dtype=torch.long)
    for start in range(0, len(train_rows), batch_size):
        sequences = train_rows[start : start + batch_size]["sequence"]
        sequences = sequences + [reverse_complement(s) for s in sequences]
        for ids in tokenizer.bulk_encode(sequences, add_special_tokens=False):
            counts += torch.bincount(ids, minlength=len(tokenizer))
    counts[: len(tokenizer.all_special_ids)] = 0
    probabilities = (counts + 1).double() / (counts + 1).sum()
    most_frequent = int(counts.argmax())
    labels = torch.cat([example["labels"][example["labels"] != -100] for example in eval_examples])
    return {
        "most_frequent_kmer": tokenizer.convert_ids_to_tokens(most_frequent),
        "most_frequent_kmer_accuracy": float((labels == most_frequent).double().mean()),
        "kmer_frequency_perplexity": math.exp(float(-probabilities[labels].log().mean())),
        "masked_tokens": len(labels),
    }
