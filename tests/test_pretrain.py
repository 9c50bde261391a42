"""Masked-LM data and pretraining with the Trainer, on real yeast windows."""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
import yeast

import transformers
from transformers import TrainerCallback

from fgm import FGMConfig, FGMModel
from fgm.cli import main
from fgm.data.mlm import MaskedGenomeWindows, mask_tokens, mlm_collator
from fgm.model.kmers_fgm import reverse_complement
from fgm.model.tokenization_fgm import FGMTokenizer
from fgm.training.pretrain import (
    PretrainDataArguments,
    PretrainingArguments,
    PretrainModelArguments,
    StopAfterStep,
    build_trainer,
    pretrain,
)

TOKENIZER = FGMTokenizer(k=6)


def saved_corpus(folder, **sizes) -> str:
    """A yeast corpus saved the way `fgm corpus` saves one, for `--corpus`."""
    yeast.corpus(**sizes).save_to_disk(str(folder))
    return str(folder)


def test_masking_statistics_follow_the_80_10_10_rule():
    ids = torch.cat(TOKENIZER.bulk_encode([row["sequence"] for row in yeast.windows("chrI", 6000, 30)]))
    generator = torch.Generator().manual_seed(0)
    inputs, labels = mask_tokens(ids, TOKENIZER, 0.15, generator)
    chosen = labels != -100
    nucleotide = ids >= 6
    assert not chosen[~nucleotide].any(), "special tokens must never be masked"
    assert chosen.float().mean().item() == pytest.approx(0.15, abs=0.01)
    assert torch.equal(labels[chosen], ids[chosen])
    masked = inputs[chosen] == TOKENIZER.mask_token_id
    unchanged = inputs[chosen] == ids[chosen]
    assert masked.float().mean().item() == pytest.approx(0.8, abs=0.02)
    assert unchanged.float().mean().item() == pytest.approx(0.1 + 0.1 / 4101, abs=0.02)
    assert (inputs[~chosen] == ids[~chosen]).all()
    assert (inputs[chosen] >= 6).logical_or(masked).all(), "random replacements are nucleotide tokens"


def test_examples_crop_reverse_complement_and_are_reproducible():
    rows = yeast.windows("chrI", 3000, 4)
    always_rc = MaskedGenomeWindows(rows, TOKENIZER, seq_len=101, mlm_probability=0.15, train=True, seed=3, rc_probability=1.0)
    example = always_rc[2]
    restored = torch.where(example["labels"] != -100, example["labels"], example["input_ids"])
    crop = "".join(TOKENIZER.convert_ids_to_tokens(restored[1:].tolist()))
    assert len(crop) == 600 and restored[0] == TOKENIZER.cls_token_id
    assert reverse_complement(crop) in rows[2]["sequence"], "a training example is a reverse-complemented crop"
    again = MaskedGenomeWindows(rows, TOKENIZER, seq_len=101, train=True, seed=3, rc_probability=1.0)[2]
    assert torch.equal(example["input_ids"], again["input_ids"])
    always_rc.set_epoch(1)
    assert not torch.equal(example["input_ids"], always_rc[2]["input_ids"]), "a new epoch draws new crops and masks"
    evaluation = MaskedGenomeWindows(rows, TOKENIZER, seq_len=101, train=False, seed=3)
    first = evaluation[0]
    scored = first["labels"] != -100
    assert scored.any() and (first["input_ids"][scored] == TOKENIZER.mask_token_id).all(), "no scored token is visible"
    restored = torch.where(first["labels"] != -100, first["labels"], first["input_ids"])
    assert "".join(TOKENIZER.convert_ids_to_tokens(restored[1:].tolist())) == rows[0]["sequence"][:600]


def test_collator_pads_to_multiple_of_8_and_packs_without_crosstalk():
    generator = torch.Generator().manual_seed(0)
    examples = []
    for n in (5, 11, 3):
        nucleotides = torch.randint(6, len(TOKENIZER), (n - 1,), generator=generator)
        ids = torch.cat([torch.tensor([TOKENIZER.cls_token_id]), nucleotides])
        examples.append({"input_ids": ids, "labels": torch.where(torch.arange(n) == 2, ids, -100)})
    padded = mlm_collator(TOKENIZER)(examples)
    assert padded["input_ids"].shape == (3, 16)
    assert padded["attention_mask"].sum(1).tolist() == [5, 11, 3]
    assert (padded["input_ids"][0, 5:] == TOKENIZER.pad_token_id).all() and (padded["labels"][0, 5:] == -100).all()
    assert torch.equal(padded["labels"][1, :11], examples[1]["labels"])

    packed = mlm_collator(TOKENIZER, padding_free=True)(examples)
    assert packed["input_ids"].shape == (1, 19) and "attention_mask" not in packed  # no padding at all
    assert packed["position_ids"][0].tolist() == list(range(5)) + list(range(11)) + list(range(3))
    assert torch.equal(packed["labels"][0], torch.cat([e["labels"] for e in examples]))  # the scored tokens kept
    # no cross-talk: each packed example gets exactly the hidden states it gets alone
    torch.manual_seed(0)
    model = FGMModel(FGMConfig.preset("tiny", vocab_size=len(TOKENIZER))).eval()
    with torch.no_grad():
        together = model(packed["input_ids"], position_ids=packed["position_ids"]).last_hidden_state[0]
        alone = torch.cat([model(e["input_ids"][None]).last_hidden_state[0] for e in examples])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)


def test_trainer_steps_lower_the_validation_loss(tmp_path):
    # 20 validation windows % batch 16: a short last batch
    corpus = saved_corpus(tmp_path / "corpus", window=600, train_count=200, validation_count=20)
    trainer = build_trainer(
        PretrainModelArguments(preset="tiny"),
        PretrainDataArguments(corpus=corpus, max_length=64),
        PretrainingArguments(
            output_dir=str(tmp_path / "run"), max_steps=40, per_device_train_batch_size=16,
            per_device_eval_batch_size=16, learning_rate=3e-3, eval_steps=1000, save_steps=1000, logging_steps=10,
        ),
    )
    before = trainer.evaluate()["eval_loss"]
    trainer.train()
    after = trainer.evaluate()
    # fixed masks and seeds: the drop is deterministic; all scored tokens are <mask> (from ~ln 4101 nats)
    assert after["eval_loss"] < before - 0.02, (before, after)
    assert 0 <= after["eval_mlm_accuracy"] <= 1 and after["eval_perplexity"] > 1
    logged = [entry for entry in trainer.state.log_history if "tokens_per_second" in entry]
    assert logged and all(entry["tokens_per_second"] > 0 for entry in logged)


class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


def test_resume_continues_exactly(tmp_path, monkeypatch):
    warnings = []
    monkeypatch.setattr(transformers.trainer.logger, "warning", lambda message, *a, **k: warnings.append(message))
    corpus = saved_corpus(tmp_path / "corpus", window=600, train_count=64, validation_count=8)
    settings = dict(max_steps=6, per_device_train_batch_size=8, learning_rate=2e-3, save_steps=3, eval_steps=1000,
                    logging_steps=1, seed=7)

    def trainer(output_dir):
        return build_trainer(
            PretrainModelArguments(preset="tiny"),
            PretrainDataArguments(corpus=corpus, max_length=64),
            PretrainingArguments(output_dir=str(output_dir), **settings),
        )

    straight = trainer(tmp_path / "straight")
    straight.train()
    losses = {e["step"]: e["loss"] for e in straight.state.log_history if "loss" in e}

    interrupted = trainer(tmp_path / "resumed")
    interrupted.add_callback(StopAt(3))  # as if killed right after the first checkpoint
    interrupted.train()
    assert interrupted.state.global_step == 3
    # the same run continued through the command line, every setting under its Trainer name
    flags = [f"--{name}={value}" for name, value in settings.items()]
    main(["pretrain", "--corpus", corpus, "--preset", "tiny", "--max_length", "64", "--output_dir",
          str(tmp_path / "resumed"), "--resume_from_checkpoint", "last", *flags])
    folder = tmp_path / "resumed" / "checkpoint-6"
    state = json.loads((folder / "trainer_state.json").read_text())
    resumed_losses = {e["step"]: e["loss"] for e in state["log_history"] if "loss" in e}
    for step in (4, 5, 6):
        assert resumed_losses[step] == pytest.approx(losses[step], abs=1e-6), step
    final = json.loads((tmp_path / "resumed" / "final_results.json").read_text())
    assert "eval_mlm_accuracy" in final
    assert not [w for w in warnings if "missing keys" in w], warnings  # the tied decoder is tied again, not missing
    for name in ("model.safetensors", "config.json", "tokenizer.json", "modeling_fgm.py", "README.md"):
        assert (folder / name).exists(), name
    used = torch.load(folder / "training_args.bin", weights_only=False)  # the Trainer's own arguments
    assert (used.seed, used.learning_rate, used.save_steps, used.max_steps) == (7, 2e-3, 3, 6)
    assert used.lr_scheduler_type == "cosine" and used.warmup_steps == 0.05 and used.report_to == []
    # the finished run started again: evaluated and saved, never trained past --max_steps
    main(["pretrain", "--corpus", corpus, "--preset", "tiny", "--max_length", "64", "--output_dir",
          str(tmp_path / "resumed"), "--resume_from_checkpoint", "last", *flags])
    assert sorted(p.name for p in (tmp_path / "resumed").glob("checkpoint-*")) == ["checkpoint-3", "checkpoint-6"]
    again = json.loads((tmp_path / "resumed" / "final_results.json").read_text())
    assert again["train_loss"] == final["train_loss"] and again["eval_loss"] == pytest.approx(final["eval_loss"])
    saved, last = (load_file(tmp_path / "resumed" / f / "model.safetensors") for f in (".", "checkpoint-6"))
    assert saved.keys() == last.keys() and all(torch.equal(saved[k], last[k]) for k in saved)


def test_two_process_ddp_training_agrees(tmp_path):
    worker = Path(__file__).with_name("ddp_worker.py")
    path = os.pathsep.join([str(worker.parents[1]), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}  # the workers import this checkout's fgm
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
         str(worker), str(tmp_path), saved_corpus(tmp_path / "corpus", window=300, train_count=64, validation_count=0)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world_size"] == 2 for r in ranks)
    assert ranks[0]["first_batch"] != ranks[1]["first_batch"], "each rank trains on its own shard"
    assert ranks[0]["params"] == ranks[1]["params"], "all-reduced gradients keep the replicas identical"
    assert ranks[0]["moved"] > 0
    checkpoints = sorted(p.name for p in (tmp_path / "run").glob("checkpoint-*"))
    assert checkpoints == ["checkpoint-3"]


def test_max_length_schedule_grows_the_examples_in_phases_and_resumes_exactly(tmp_path, monkeypatch):
    corpus = saved_corpus(tmp_path / "corpus", window=600, train_count=64, validation_count=8)
    seen = []
    original = MaskedGenomeWindows.__getitem__

    def recording(self, index):
        seen.append(self.seq_len)
        return original(self, index)

    monkeypatch.setattr(MaskedGenomeWindows, "__getitem__", recording)
    settings = dict(max_steps=6, per_device_train_batch_size=4, learning_rate=2e-3, save_steps=100, eval_steps=1000,
                    logging_steps=1, seed=3, report_to="none")
    data = PretrainDataArguments(corpus=corpus, max_length=64, max_length_schedule="24:0.5")
    assert data.phases(6) == [(24, None, 0.0, 3), (64, None, 0.0, 6)]
    straight = tmp_path / "straight"
    pretrain(PretrainModelArguments(preset="tiny"), data, PretrainingArguments(output_dir=str(straight), **settings))
    second = seen.index(64)  # phase 1 may fetch one batch ahead (accelerate's look-ahead) that it never trains on
    assert second >= 12 and set(seen[:second]) == {24} and set(seen[second : second + 12]) == {64}
    assert (straight / "checkpoint-3").is_dir(), "the phase ends with a checkpoint"
    assert "| tokens per example at most (--max_length) | 64 (grown by --max_length_schedule 24:0.5) |" in (
        straight / "README.md").read_text()
    losses = {e["step"]: e["loss"] for e in json.loads((straight / "checkpoint-6" / "trainer_state.json").read_text())[
        "log_history"] if "loss" in e}

    resumed = tmp_path / "resumed"
    trainer = build_trainer(PretrainModelArguments(preset="tiny"), replace(data, max_length=24),
                            PretrainingArguments(output_dir=str(resumed), **settings))
    trainer.add_callback(StopAfterStep(3))
    trainer.train()  # phase 1, as if killed right after its checkpoint
    pretrain(PretrainModelArguments(preset="tiny"), data,
             PretrainingArguments(output_dir=str(resumed), resume_from_checkpoint="last", **settings))
    again = {e["step"]: e["loss"] for e in json.loads((resumed / "checkpoint-6" / "trainer_state.json").read_text())[
        "log_history"] if "loss" in e}
    assert again == pytest.approx(losses, abs=1e-6)
    for schedule in ("64:0.5", "32:0.5,24:0.7", "24:1.2", "24"):
        with pytest.raises(ValueError, match="max_length_schedule"):
            replace(data, max_length_schedule=schedule).phases(6)


def test_loader_workers_give_the_same_batches_and_losses(tmp_path):
    corpus = saved_corpus(tmp_path / "corpus", window=600, train_count=48, validation_count=0)
    losses = []
    for workers in (0, 2):
        trainer = build_trainer(
            PretrainModelArguments(preset="tiny"),
            PretrainDataArguments(corpus=corpus, max_length=64),
            PretrainingArguments(output_dir=str(tmp_path / f"w{workers}"), max_steps=8, per_device_train_batch_size=8,
                                 logging_steps=1, save_steps=100, seed=5, dataloader_num_workers=workers,
                                 report_to="none", disable_tqdm=True),
        )
        trainer.train()
        losses.append([e["loss"] for e in trainer.state.log_history if "loss" in e])
    assert len(losses[0]) == 8 and losses[0] == pytest.approx(losses[1], abs=1e-6)
