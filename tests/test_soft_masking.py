"""Soft-masked repeats (issue 26): the corpus keeps the lowercase stretches of its FASTA inputs, counts them per split
and species, and pretraining weighs their loss as GPN does (`--soft_masked_loss_weight_train / _evaluation`).
Checked on Drosophila chromosome 4, which NCBI ships soft-masked (about a quarter of its bases lowercase), read here
straight from the file, independently of fgm's readers."""

import gzip
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import DatasetDict

from fgm.data import bundled_genome
from fgm.data.corpus import build_corpus, corpus_summary, save_corpus
from fgm.data.genome import iter_records
from fgm.data.mlm import MaskedGenomeWindows, mlm_collator, token_weights
from fgm.model.kmers_fgm import reverse_complement
from fgm.model.tokenization_fgm import FGMTokenizer
from fgm.training.pretrain import (PretrainDataArguments, PretrainingArguments, PretrainModelArguments, build_trainer,
                                   weighted_masked_lm_loss)

DMEL = Path(__file__).resolve().parents[1] / "data" / "genomes" / "drosophila_chr4" / "DmelanDM6_4.fna.gz"


@pytest.fixture(scope="module")
def dmel_text() -> str:
    """Chromosome 4 as the file writes it, case kept."""
    with gzip.open(DMEL, "rt") as handle:
        return "".join(line.strip() for line in handle if not line.startswith(">"))


@pytest.fixture(scope="module")
def dmel_corpus(tmp_path_factory):
    return build_corpus([str(DMEL)], window=20_000, val_frac=0.1, test_frac=0.1, progress=False,
                        cache_dir=tmp_path_factory.mktemp("cache"))


def lowercase(text: str) -> np.ndarray:
    return np.frombuffer(text.encode(), dtype=np.uint8) >= ord("a")


def mask_of(row) -> np.ndarray:
    mask = np.zeros(len(row["sequence"]), dtype=bool)
    for first, last in zip(row["soft_masked"][0::2], row["soft_masked"][1::2]):
        mask[first:last] = True
    return mask


def test_the_reader_keeps_a_fasta_files_lowercase_apart_and_genbank_marks_nothing(tmp_path, dmel_text):
    (record,) = iter_records(DMEL)
    assert record.sequence == dmel_text.upper()
    mask = np.zeros(len(record.sequence), dtype=bool)
    for first, last in record.soft_masked:
        mask[first:last] = True
    assert np.array_equal(mask, lowercase(dmel_text)) and 0.25 < mask.mean() < 0.30, "about a quarter, as NCBI ships"
    (tmp_path / "a.gb").write_text("LOCUS       x  8 bp    DNA     linear   UNK 01-JAN-1980\nORIGIN\n"
                                   "        1 acgtacgt\n//\n")
    (genbank,) = iter_records(tmp_path / "a.gb")
    assert genbank.sequence == "ACGTACGT" and len(genbank.soft_masked) == 0, "GenBank's lowercase is no soft-masking"


def test_every_window_carries_its_soft_masked_runs_and_the_summary_counts_them(dmel_corpus, dmel_text, tmp_path):
    for split in ("train", "validation", "test"):
        for row in dmel_corpus[split]:
            assert np.array_equal(mask_of(row), lowercase(dmel_text[row["start"] : row["end"]]))
    summary = corpus_summary(dmel_corpus)
    for split, s in summary.splits.items():
        bases, masked = s.soft_masked["DmelanDM6_4"]
        rows = dmel_corpus[split]
        assert bases == s.bases and masked == sum(int(mask_of(r).sum()) for r in rows)
        assert s.soft_masked_frac == pytest.approx(masked / bases)
    train = summary.splits["train"].soft_masked["DmelanDM6_4"]
    assert f"DmelanDM6_4: train {train[0]:,} bases ({train[1] / train[0]:.2%} soft-masked)" in summary.table()
    save_corpus(dmel_corpus, tmp_path / "corpus")
    from fgm.data.corpus import load_corpus

    assert corpus_summary(load_corpus(tmp_path / "corpus")).splits["test"].soft_masked == summary.splits[
        "test"].soft_masked
    yeast = build_corpus([str(bundled_genome())], window=20_000, chroms="chrI", progress=False, cache_dir=tmp_path)
    assert "soft-masked bases: none (no input writes bases in lowercase" in corpus_summary(yeast).table()


def test_a_tokens_weight_is_the_mean_of_its_bases_and_follows_crops_copies_and_strands(dmel_corpus):
    row = next(r for r in dmel_corpus["train"] if 0.2 < mask_of(r).mean() < 0.8)
    tokenizer = FGMTokenizer(k=1)
    windows = MaskedGenomeWindows([row], tokenizer, 1001, train=False, soft_masked_weight=0.1, rc_probability=0.0)
    example = windows[0]
    expected = np.where(mask_of(row)[:1000], 0.1, 1.0)
    assert np.allclose(example["loss_weight"][1:].numpy(), expected) and example["loss_weight"][0] == 1.0
    six = FGMTokenizer(k=6)
    ids = six.bulk_encode(["ACGTACGTAC"])[0]  # <cls>, one 6-mer, then 4 single bases
    weights = token_weights(ids, np.array([0.1] * 3 + [1.0] * 7, dtype=np.float32), 6)
    assert torch.allclose(weights, torch.tensor([1.0, (3 * 0.1 + 3) / 6, 1.0, 1.0, 1.0, 1.0]))
    # training: weights follow the random crop and strand
    train = MaskedGenomeWindows([row], tokenizer, 301, train=True, seed=5, soft_masked_weight=0.0)
    strands = set()
    for epoch in range(8):
        train.set_epoch(epoch)
        example = train[0]
        truth = torch.where(example["labels"] != -100, example["labels"], example["input_ids"])[1:]
        bases = "".join(tokenizer.convert_ids_to_tokens(truth.tolist()))
        forward = row["sequence"].find(bases)
        located = forward if forward >= 0 else row["sequence"].find(reverse_complement(bases))
        assert located >= 0
        window = mask_of(row)[located : located + 300]
        zero = (example["loss_weight"][1:] == 0).numpy()
        assert np.array_equal(zero, window if forward >= 0 else window[::-1])
        strands.add(forward >= 0)
    assert strands == {True, False}, "both strands drawn"
    # planted copies count as unmasked, wherever they land
    from fgm.data.planting import CopyPlanting

    repeat = {"sequence": "".join(np.random.default_rng(0).choice(list("ACGT"), 400)), "soft_masked": [0, 400]}
    planted = MaskedGenomeWindows([repeat], tokenizer, 401, train=True, soft_masked_weight=0.0,
                                  planting=CopyPlanting(rate=1.0, length=32, min_distance=32, max_distance=300))
    for epoch in range(4):
        planted.set_epoch(epoch)
        weights = planted[0]["loss_weight"][1:]
        ones = np.flatnonzero(weights.numpy() == 1)
        assert len(ones) == 64 and (weights.sum() == 64), "two 32-base copies, the rest soft-masked"


def test_the_weighted_loss_is_gpns_and_weight_one_is_todays_loss():
    torch.manual_seed(0)
    logits, labels = torch.randn(2, 6, 9), torch.tensor([[-100, 4, 5, -100, 6, 7], [-100, 8, -100, 4, 5, -100]])
    scored = labels != -100
    each = torch.nn.functional.cross_entropy(logits[scored], labels[scored], reduction="none")
    weights = torch.rand(2, 6)
    expected = (each * weights[scored]).sum() / weights[scored].sum()
    assert torch.isclose(weighted_masked_lm_loss(logits, labels, weights), expected)
    assert torch.isclose(weighted_masked_lm_loss(logits[scored], labels, weights), expected), "sparse logits too"
    assert torch.isclose(weighted_masked_lm_loss(logits, labels, torch.ones(2, 6)), each.mean())


def test_pretraining_weighs_soft_masked_bases_and_evaluation_can_leave_them_out(dmel_corpus, tmp_path):
    save_corpus(dmel_corpus, tmp_path / "corpus")
    model = PretrainModelArguments(preset="tiny", kmer_size=1)
    data = PretrainDataArguments(corpus=str(tmp_path / "corpus"), max_length=257, max_eval_samples=8)
    settings = dict(output_dir=str(tmp_path / "run"), max_steps=2, per_device_train_batch_size=4, eval_strategy="no",
                    report_to="none", save_steps=100, logging_steps=1)
    weighted = PretrainingArguments(**settings, soft_masked_loss_weight_train=0.1, soft_masked_loss_weight_evaluation=0)
    trainer = build_trainer(model, data, weighted)
    # evaluation: the loss over the scored tokens outside repeats only
    evaluation = trainer.eval_dataset
    batch = mlm_collator(trainer.processing_class)([evaluation[i] for i in range(4)])
    weights = batch.pop("loss_weight")
    trainer.model.eval()
    with torch.no_grad():
        outputs = trainer.model(**batch)
        loss = trainer.compute_loss(trainer.model, {**batch, "loss_weight": weights})
    scored = batch["labels"] != -100
    each = torch.nn.functional.cross_entropy(outputs.logits.float(), batch["labels"][scored], reduction="none")
    outside = weights[scored] == 1
    assert 0 < outside.float().mean() < 1 and set(weights[scored].unique().tolist()) <= {0.0, 1.0}
    assert torch.isclose(loss, each[outside].mean(), atol=1e-6)
    trainer.train()
    card = (tmp_path / "run" / "checkpoint-2" / "README.md").read_text()
    assert "soft-masked loss weight (train, evaluation) | 0.1, 0" in card
    saved = torch.load(tmp_path / "run" / "checkpoint-2" / "training_args.bin", weights_only=False)
    assert (saved.soft_masked_loss_weight_train, saved.soft_masked_loss_weight_evaluation) == (0.1, 0.0)
    with pytest.raises(ValueError, match=r"--soft_masked_loss_weight_train must be within \[0, 1\], got 2"):
        PretrainingArguments(**settings, soft_masked_loss_weight_train=2)
    old = dmel_corpus.remove_columns("soft_masked")
    save_corpus(old, tmp_path / "old")
    with pytest.raises(ValueError, match="soft_masked column.*build the corpus again"):
        build_trainer(model, replace(data, corpus=str(tmp_path / "old")), weighted)
    assert json.loads((tmp_path / "run" / "checkpoint-2" / "trainer_state.json").read_text())["global_step"] == 2


def test_accumulated_micro_batches_give_the_weighted_loss_of_the_whole_batch(dmel_corpus, tmp_path):
    """One step of 4 windows against two accumulated micro-batches of 2, with soft-masked bases weighing 0.1: under
    SGD (an update proportional to the gradient) the same update, because each micro-batch's weighted loss is
    divided by the weight of the whole batch, not by its own."""
    save_corpus(dmel_corpus, tmp_path / "corpus")
    model = PretrainModelArguments(preset="tiny", kmer_size=1)
    data = PretrainDataArguments(corpus=str(tmp_path / "corpus"), max_length=257)
    updated = []
    for batch, accumulation in ((4, 1), (2, 2)):
        trainer = build_trainer(model, data, PretrainingArguments(
            output_dir=str(tmp_path / f"run{batch}"), max_steps=1, per_device_train_batch_size=batch,
            gradient_accumulation_steps=accumulation, optim="sgd", learning_rate=1.0, warmup_steps=0,
            lr_scheduler_type="constant", eval_strategy="no", save_strategy="no", report_to="none",
            soft_masked_loss_weight_train=0.1, seed=5))
        first = next(iter(trainer.get_train_dataloader()))
        assert first["loss_weight"][first["labels"] != -100].unique().tolist() == pytest.approx([0.1, 1]), "weights kept"
        before = [p.detach().clone() for p in trainer.model.parameters()]
        trainer.train()
        updated.append(torch.cat([(p.detach() - b).flatten() for p, b in zip(trainer.model.parameters(), before)]))
    assert updated[0].abs().max() > 1e-3
    assert torch.allclose(updated[0], updated[1], atol=1e-5, rtol=1e-4)


def test_scans_split_the_loss_by_soft_masking_and_the_study_takes_a_weight_as_an_arm(dmel_corpus, dmel_text,
                                                                                     tmp_path):
    from fgm.context.results import ScanResult
    from fgm.context.study import StudyArguments, context_study

    train = dmel_corpus["train"].select(range(6)).map(lambda row: {"sequence": row["sequence"][:600],
                                                                   "end": row["start"] + 600,
                                                                   "soft_masked": [min(x, 600) for x in
                                                                                   row["soft_masked"]]})
    DatasetDict({"train": train, "test": dmel_corpus["test"].select(range(2))}).save_to_disk(tmp_path / "corpus")
    training = PretrainingArguments(output_dir=str(tmp_path / "study"), eval_strategy="no", save_steps=1000,
                                    logging_steps=1, disable_tqdm=True, report_to="none", learning_rate=3e-3, seed=0)
    study = context_study(StudyArguments(corpus=str(tmp_path / "corpus"), train_contexts=[240], bases=2_400,
                                         eval_contexts=[240], bases_per_step=482, positions=60,
                                         retrieval_distances=[], influence_positions=0, bootstrap=20,
                                         soft_masked_arm=0.0), PretrainModelArguments(preset="tiny", kmer_size=1),
                          training)
    plain, weighted = study.runs
    assert (plain.preset, weighted.preset) == ("tiny", "tiny+softmask0")
    card = (tmp_path / "study" / "tiny+softmask0" / "train_240" / "README.md").read_text()
    assert "soft-masked loss weight (train, evaluation) | 0, 1" in card
    saved = np.load(Path(plain.scan_dir) / "strata.npz")
    test = dmel_corpus["test"]
    starts = {0: test[0]["start"]}  # the scored positions of the first test window, checked against the file
    for (segment, offset), masked in zip(saved["positions"], saved["soft_masked"]):
        if segment == 0 and offset < 20_000:
            assert masked == dmel_text[starts[0] + offset].islower()
    scan = ScanResult.load(Path(plain.scan_dir) / "scan.json")
    outside, inside = scan.soft_masking
    assert (outside.stratum, inside.stratum) == ("not soft-masked", "soft-masked")
    assert outside.positions + inside.positions == 60 == len(saved["soft_masked"]) and inside.positions == int(
        saved["soft_masked"].sum()) > 0
    base_loss = np.load(Path(plain.scan_dir) / "context_240.npz")["base_loss"]
    assert inside.model[0].estimate == pytest.approx(float(base_loss[saved["soft_masked"]].mean()))
    table = (tmp_path / "study" / "study.md").read_text()
    assert "Loss (nats per base) by soft-masking" in table and "| soft-masked (" in table
    assert "| tiny+softmask0 240 minus tiny 240 | no copy |" in table
