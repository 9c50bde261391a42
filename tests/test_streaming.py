"""Streaming pretraining (issue 26, item 4): `fgm corpus --format shards` writes globally shuffled Parquet shards, and
`fgm pretrain --streaming` reads them through a shuffle buffer in an order set by the seed, so that two runs agree
and a resumed run continues with the same batches."""

import json
from dataclasses import replace

import pytest

from fgm.data import bundled_genome
from fgm.data.corpus import build_corpus, save_shards, stream_split
from fgm.training.pretrain import (PretrainDataArguments, PretrainingArguments, PretrainModelArguments,
                                   StopAfterStep, build_trainer, pretrain)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus([str(bundled_genome())], window=5_000, chroms="chrI,chrVI", val_chroms="chrVI",
                        progress=False, cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def shards(corpus, tmp_path_factory):
    return save_shards(corpus, tmp_path_factory.mktemp("shards") / "corpus", shard_bases=60_000, seed=1)


def test_shards_hold_every_window_once_globally_shuffled(corpus, shards):
    train = corpus["train"]
    files = sorted((shards / "train").glob("shard_*.parquet"))
    assert len(files) == -(-sum(len(s) for s in train["sequence"]) // 60_000) > 1
    stream, summary = stream_split(shards, "train")
    rows = list(stream)
    key = lambda row: (row["chrom"], row["start"])  # noqa: E731
    assert sorted(map(key, rows)) == sorted(map(key, train)), "every window once"
    assert [key(r) for r in rows] != [key(r) for r in train], "not in genome order"
    assert {key(r): r["sequence"] for r in rows} == {key(r): r["sequence"] for r in train}
    assert summary["splits"]["train"]["windows"] == len(train) and summary["longest"]["train"] == 5_000
    with pytest.raises(FileExistsError, match="already holds a sharded corpus"):
        save_shards(corpus, shards)
    with pytest.raises(ValueError, match="not a sharded corpus"):
        stream_split(shards / "train")


def test_streaming_pretraining_is_seeded_and_resumes_with_the_same_batches(shards, tmp_path):
    model = PretrainModelArguments(preset="tiny", kmer_size=1)
    data = PretrainDataArguments(corpus=str(shards), max_length=101, streaming=True, shuffle_buffer=20,
                                 max_eval_samples=4)
    settings = dict(max_steps=6, per_device_train_batch_size=4, logging_steps=1, eval_strategy="no", save_steps=3,
                    report_to="none", seed=2, disable_tqdm=True)

    def losses(folder):
        state = json.loads((folder / "checkpoint-6" / "trainer_state.json").read_text())
        return {entry["step"]: entry["loss"] for entry in state["log_history"] if "loss" in entry}

    pretrain(model, data, PretrainingArguments(output_dir=str(tmp_path / "a"), **settings))
    pretrain(model, data, PretrainingArguments(output_dir=str(tmp_path / "b"), **settings))
    assert losses(tmp_path / "a") == losses(tmp_path / "b") and len(losses(tmp_path / "a")) == 6
    interrupted = build_trainer(model, data, PretrainingArguments(output_dir=str(tmp_path / "c"), **settings))
    interrupted.add_callback(StopAfterStep(3))  # as if killed right after the first checkpoint
    interrupted.train()
    pretrain(model, data, PretrainingArguments(output_dir=str(tmp_path / "c"), resume_from_checkpoint="last",
                                               **settings))
    assert {s: v for s, v in losses(tmp_path / "c").items() if s > 3} == {
        s: v for s, v in losses(tmp_path / "a").items() if s > 3}, "the resumed run trains on the same batches"
    other = PretrainingArguments(output_dir=str(tmp_path / "d"), **{**settings, "seed": 3})
    pretrain(model, data, other)
    assert losses(tmp_path / "d") != losses(tmp_path / "a"), "another seed, another order"
    assert "streaming | Parquet shards, a shuffle buffer of 20 windows" in (tmp_path / "a" / "README.md").read_text()
    with pytest.raises(ValueError, match="--plant_rate draws donor windows from the whole corpus"):
        replace(data, plant_rate=0.5).__post_init__()
