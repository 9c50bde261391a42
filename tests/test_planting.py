"""Copy planting in pretraining (issue 24): copies where they are asked for, exact under resume, refused where they
cannot fit; and the loss floor of a model that does not copy, derived and checked by simulation."""

import json
import math
from dataclasses import replace

import pytest
import torch
import yeast

from fgm.cli import main
from fgm.data.mlm import MaskedGenomeWindows, example_generator, mask_tokens, masked_loss_floor
from fgm.data.planting import CopyPlanting
from fgm.model.tokenization_fgm import FGMTokenizer
from fgm.training.pretrain import (
    PretrainDataArguments,
    PretrainingArguments,
    PretrainModelArguments,
    StopAfterStep,
    build_trainer,
    pretrain,
)

ROWS = yeast.windows("chrI", 2000, 40)
PLANTING = CopyPlanting(rate=1.0, length=48, min_distance=100, max_distance=700)


def written(planting, sequence, donors, generator):
    """`sequence` with the copy `planting` draws written into it (unchanged without one)."""
    copy = planting.draw(len(sequence), donors, generator)
    return sequence if copy is None else copy.written_into(sequence)


def test_planting_writes_a_donor_segment_twice_within_the_distance_range():
    donors = {row["sequence"] for row in ROWS}
    distances = []
    for index, row in enumerate(ROWS):
        original = row["sequence"]
        planted = written(PLANTING, original, ROWS, example_generator(0, 0, index))
        needle, first, second = PLANTING.draw(len(original), ROWS, example_generator(0, 0, index))
        end_first, end_second = first + len(needle), second + len(needle)
        assert len(planted) == len(original) and len(needle) == PLANTING.length
        assert planted[first:end_first] == planted[second:end_second] == needle
        assert any(needle in donor for donor in donors), "the segment is training sequence"
        assert planted[:first] + planted[end_first:second] + planted[end_second:] == (
            original[:first] + original[end_first:second] + original[end_second:]), "nothing else changes"
        distances.append(second - first)
    assert min(distances) >= PLANTING.min_distance and max(distances) <= PLANTING.max_distance
    assert max(distances) - min(distances) > 300, "distances are drawn across the range"
    assert written(PLANTING, ROWS[0]["sequence"], ROWS, example_generator(0, 0, 0)) == written(PLANTING, 
        ROWS[0]["sequence"], ROWS, example_generator(0, 0, 0))
    half = replace(PLANTING, rate=0.5)
    changed = sum(written(half, r["sequence"], ROWS, example_generator(1, 0, i)) != r["sequence"] for i, r in
                  enumerate(ROWS * 5))
    assert 70 <= changed <= 130, f"rate 0.5 planted {changed} of 200 windows"


def test_planted_examples_hold_the_copy_on_either_strand():
    tokenizer = FGMTokenizer(k=1)
    for rc_probability in (0.0, 1.0):
        dataset = MaskedGenomeWindows(ROWS, tokenizer, seq_len=1001, mlm_probability=0.0001, seed=5,
                                      rc_probability=rc_probability, planting=PLANTING)
        plain = MaskedGenomeWindows(ROWS, tokenizer, seq_len=1001, mlm_probability=0.0001, seed=5,
                                    rc_probability=rc_probability)
        for index in range(5):
            ids, original = dataset[index]["input_ids"][1:-1], plain[index]["input_ids"][1:-1]
            assert not torch.equal(ids, original)
            matches = [(i, j) for i in range(0, 900, 8) for j in range(i + PLANTING.min_distance, 952)
                       if torch.equal(ids[i : i + 40], ids[j : j + 40])]
            assert matches, "a 40-base stretch of the window occurs twice"
            assert torch.equal(dataset[index]["input_ids"], dataset[index]["input_ids"]), "seeded"
    evaluation = MaskedGenomeWindows(ROWS, tokenizer, seq_len=1001, train=False, planting=PLANTING)
    assert evaluation.planting is None, "evaluation windows stay natural"


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(rate=1.5), "--plant_rate must be within"),
        (dict(length=600), "--plant_length 600 must be 1 to half"),
        (dict(min_distance=20), "copies may not overlap"),
        (dict(min_distance=800, max_distance=700), "--plant_min_distance"),
        (dict(max_distance=990), "does not fit the training window of 999 bases"),
    ],
)
def test_planting_that_cannot_apply_is_refused_naming_the_option(settings, message):
    with pytest.raises(ValueError, match=message):
        MaskedGenomeWindows(ROWS, FGMTokenizer(k=1), seq_len=1000, planting=replace(PLANTING, **settings))


def test_pretrain_refuses_bad_planting_on_one_line(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    yeast.corpus(window=600, train_count=8, validation_count=0).save_to_disk(str(corpus))
    capsys.readouterr()
    base = ["pretrain", "--corpus", str(corpus), "--preset", "tiny", "--kmer_size", "1", "--max_length", "201",
            "--max_steps", "2", "--output_dir", str(tmp_path / "run")]
    for extra, message in [
        (["--plant_rate", "2"], "--plant_rate must be within [0, 1], got 2.0"),
        (["--plant_rate", "1", "--plant_max_distance", "500"], "--plant_max_distance 500 + --plant_length 64 does "
                                                                "not fit the training window of 200 bases"),
        (["--plant_curriculum", "100:0.5"], "--plant_curriculum schedules planted copies: give a --plant_rate above 0"),
        (["--plant_rate", "0.5", "--plant_rate_schedule", "1:0.25,1.5:0.5", "--max_steps", "4"],
         "--plant_rate_schedule '1:0.25,1.5:0.5': every rate must be within [0, 1]"),
    ]:
        with pytest.raises(SystemExit) as stopped:
            main(base + extra)
        assert stopped.value.code == 2
        error = capsys.readouterr().err.strip().splitlines()
        assert error[-1].startswith(f"fgm pretrain: error: {message}"), error[-1]
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_distance_curriculum_runs_in_phases_and_resumes_exactly(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    yeast.corpus(window=600, train_count=64, validation_count=0).save_to_disk(str(corpus))
    data = PretrainDataArguments(corpus=str(corpus), max_length=401, plant_rate=1.0, plant_length=32,
                                 plant_curriculum="40:0.5,120:0.75")
    assert data.phases(8) == [(401, 40, 1.0, 4), (401, 120, 1.0, 6), (401, None, 1.0, 8)]
    assert replace(data, max_length_schedule="201:0.25").phases(8) == [
        (201, 40, 1.0, 2), (401, 40, 1.0, 4), (401, 120, 1.0, 6), (401, None, 1.0, 8)]
    for curriculum in ("120:0.5,40:0.75", "40:1.5", "40"):
        with pytest.raises(ValueError, match="--plant_curriculum"):
            replace(data, plant_curriculum=curriculum).phases(8)
    seen = []
    original = CopyPlanting.draw

    def recording(self, window_bases, donors, generator):
        seen.append(self.max_distance)
        return original(self, window_bases, donors, generator)

    monkeypatch.setattr(CopyPlanting, "draw", recording)
    settings = dict(max_steps=8, per_device_train_batch_size=4, learning_rate=2e-3, save_steps=100,
                    eval_strategy="no", logging_steps=1, seed=3, report_to="none")
    model = PretrainModelArguments(preset="tiny", kmer_size=1)
    straight = tmp_path / "straight"
    pretrain(model, data, PretrainingArguments(output_dir=str(straight), **settings))
    assert seen[:16] == [40] * 16 and 120 in seen and seen[-1] == 400 - 32, "distances widen phase by phase"
    card = (straight / "README.md").read_text()
    assert "copy planting" in card and "curriculum 40:0.5,120:0.75" in card
    log = json.loads((straight / "checkpoint-8" / "trainer_state.json").read_text())["log_history"]
    losses = {e["step"]: e["loss"] for e in log if "loss" in e}

    resumed = tmp_path / "resumed"
    trainer = build_trainer(model, replace(data, plant_max_distance=40), PretrainingArguments(
        output_dir=str(resumed), **settings))
    trainer.add_callback(StopAfterStep(4))
    trainer.train()  # the first phase, as if killed right after its checkpoint
    pretrain(model, data, PretrainingArguments(output_dir=str(resumed), resume_from_checkpoint="last", **settings))
    again = json.loads((resumed / "checkpoint-8" / "trainer_state.json").read_text())["log_history"]
    assert {e["step"]: e["loss"] for e in again if "loss" in e} == pytest.approx(losses, abs=1e-6)


def test_rate_schedule_plants_each_phase_at_its_own_rate(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    yeast.corpus(window=600, train_count=64, validation_count=0).save_to_disk(str(corpus))
    data = PretrainDataArguments(corpus=str(corpus), max_length=401, plant_rate=1.0, plant_length=32,
                                 plant_rate_schedule="0:0.5")
    assert data.phases(8) == [(401, None, 0.0, 4), (401, None, 1.0, 8)]
    assert replace(data, plant_rate_schedule="1:0.25,0.5:0.5").phases(8) == [
        (401, None, 1.0, 2), (401, None, 0.5, 4), (401, None, 1.0, 8)], "rates may fall as well as rise"
    assert replace(data, plant_rate=0.0, plant_rate_schedule="1:0.5").phases(8) == [(401, None, 1.0, 4),
                                                                                      (401, None, 0.0, 8)]
    for schedule in ("0.5:0.75,1:0.5", "0.5:1.5", "0.5", "high:0.5"):
        with pytest.raises(ValueError, match="--plant_rate_schedule"):
            replace(data, plant_rate_schedule=schedule).phases(8)
    planted = []
    original = MaskedGenomeWindows.__getitem__

    def recording(self, index):
        example = original(self, index)
        planted.append(self.planting.rate if self.planting else 0.0)
        return example

    monkeypatch.setattr(MaskedGenomeWindows, "__getitem__", recording)
    pretrain(PretrainModelArguments(preset="tiny", kmer_size=1), data, PretrainingArguments(
        output_dir=str(tmp_path / "run"), max_steps=8, per_device_train_batch_size=4, save_steps=100,
        eval_strategy="no", seed=3, report_to="none"))
    second = planted.index(1.0)  # phase 1 may fetch one batch ahead that it never trains on
    assert second >= 16 and set(planted[:second]) == {0.0} and set(planted[second : second + 16]) == {1.0}
    card = (tmp_path / "run" / "README.md").read_text()
    assert "100% of windows, 32-base segments 32-368 bases apart (rates 0:0.5)" in card


def test_the_loss_floor_without_copying_is_derived_and_matches_simulation():
    """Under 80/10/10 masking a model that cannot copy still sees 20% of its labelled bases (kept, or randomised to
    one of the nucleotide tokens, N included): on uniform random bases its best loss is below ln 4."""
    tokenizer = FGMTokenizer(k=1)
    floor = masked_loss_floor(tokenizer)
    nucleotide_tokens = len(tokenizer) - len(tokenizer.all_special_ids)
    assert nucleotide_tokens == 5 and floor == pytest.approx(1.3173, abs=1e-4)
    generator = torch.Generator().manual_seed(0)
    bases = [tokenizer.convert_tokens_to_ids(b) for b in "ACGT"]
    ids = torch.tensor(bases)[torch.randint(0, 4, (400_000,), generator=generator)]
    inputs, labels = mask_tokens(ids, tokenizer, 0.3, generator)
    chosen = labels != -100
    shown, truth = inputs[chosen], labels[chosen]
    # the best predictor that sees only its own input token: the empirical P(truth | shown), scored on fresh draws
    counts = torch.zeros(len(tokenizer), len(tokenizer))
    counts.index_put_((shown, truth), torch.ones(len(truth)), accumulate=True)
    probability = counts / counts.sum(1, keepdim=True).clamp(min=1)
    simulated = -torch.log(probability[shown, truth]).mean().item()
    assert simulated == pytest.approx(floor, abs=0.005)
    assert floor < math.log(4) - 0.06
