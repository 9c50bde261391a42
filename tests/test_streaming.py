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


def test_a_shard_with_other_columns_is_refused_naming_it(shards, tmp_path):
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    mixed = shutil.copytree(shards, tmp_path / "mixed")
    odd = sorted((mixed / "train").glob("shard_*.parquet"))[-1]
    table = pq.read_table(odd)
    pq.write_table(table.drop_columns(["source"]).append_column("species", pa.array(["yeast"] * len(table))), odd)
    with pytest.raises(ValueError, match=rf"{odd.name} has the columns .*'species': 'string'.*not those of "
                                         r".*shard_00000.parquet .*'source': 'string'"):
        stream_split(mixed, "train")
    assert len(list(stream_split(shards, "train")[0])) > 0


def test_shards_are_written_in_row_groups_of_about_a_megabase(corpus, tmp_path, monkeypatch):
    """A stream reads a shard a row group at a time: row groups of ~ROW_GROUP_BASES keep what it holds bounded
    (here 20 kb, 4 windows of 5 kb, so that the test's small shards are cut too)."""
    import pyarrow.parquet as pq

    import fgm.data.corpus

    monkeypatch.setattr(fgm.data.corpus, "ROW_GROUP_BASES", 20_000)
    folder = save_shards(corpus, tmp_path / "shards", shard_bases=60_000, seed=1)
    files = sorted((folder / "train").glob("shard_*.parquet"))
    groups = [pq.ParquetFile(f).metadata.row_group(g).num_rows for f in files
              for g in range(pq.ParquetFile(f).metadata.num_row_groups)]
    assert max(groups) == 4 and sum(groups) == len(corpus["train"]) and len(groups) > len(files)


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
    assert ("streaming | Parquet shards, a shuffle buffer of 20 windows filled from 10 shards at a time"
            in (tmp_path / "a" / "README.md").read_text())
    with pytest.raises(ValueError, match="--plant_rate draws donor windows from the whole corpus"):
        replace(data, plant_rate=0.5).__post_init__()


def test_streaming_takes_a_length_schedule_and_padding_free_batches(shards, tmp_path):
    """Each phase of a --max_length_schedule is a new stream from the seed that skips the batches already trained:
    the second phase continues after the first's last step, at its own length, packed without padding."""
    data = PretrainDataArguments(corpus=str(shards), max_length=101, max_length_schedule="51:0.5", padding_free=True,
                                 streaming=True, shuffle_buffer=20, max_eval_samples=4)
    pretrain(PretrainModelArguments(preset="tiny", kmer_size=1), data, PretrainingArguments(
        output_dir=str(tmp_path), max_steps=4, per_device_train_batch_size=4, logging_steps=1, save_steps=100,
        report_to="none", disable_tqdm=True))
    state = json.loads((tmp_path / "checkpoint-4" / "trainer_state.json").read_text())
    tokens = {entry["step"]: entry["num_input_tokens_seen"] for entry in state["log_history"] if "loss" in entry}
    assert sorted(tokens) == [1, 2, 3, 4] and (tmp_path / "checkpoint-2").is_dir()
    assert tokens[2] - tokens[1] == 4 * 51 and tokens[4] - tokens[3] == 4 * 101, "4 windows a step, at each length"


def test_the_shuffle_buffer_is_filled_from_shuffle_shards_shards_at_a_time(shards, tmp_path):
    """What a stream holds grows with the shards it reads at once (each open shard holds memory in proportion to its
    size: benchmarks/results_streaming.md), so that number is a setting: with one, the first windows all come from
    one shard; with four (the corpus's four), the buffer starts with a window of each."""
    import pyarrow.parquet as pq

    shard_of = {(chrom, start): path.name for path in sorted((shards / "train").glob("shard_*.parquet"))
                for chrom, start in zip(*pq.read_table(path, columns=["chrom", "start"]).to_pydict().values())}
    assert len(set(shard_of.values())) == 4

    def first_shards(open_shards: int, windows: int) -> list[str]:
        data = PretrainDataArguments(corpus=str(shards), max_length=101, streaming=True, shuffle_buffer=4,
                                     shuffle_shards=open_shards)
        trainer = build_trainer(PretrainModelArguments(preset="tiny", kmer_size=1), data, PretrainingArguments(
            output_dir=str(tmp_path), max_steps=1, report_to="none", eval_strategy="no"))
        rows = iter(trainer.train_dataset.stream)
        return [shard_of[row["chrom"], row["start"]] for row in (next(rows) for _ in range(windows))]

    assert len(set(first_shards(1, 8))) == 1
    assert len(set(first_shards(4, 4))) == 4
    with pytest.raises(ValueError, match=r"--shuffle_buffer \(10000\) and --shuffle_shards \(0\) must be at least 1"):
        PretrainDataArguments(corpus=str(shards), streaming=True, shuffle_shards=0)


def test_two_process_ddp_streaming_trains_each_rank_on_other_windows(shards, tmp_path):
    """Streaming over ranks (accelerate's dispatch: rank 0 reads each global batch and hands each rank its slice):
    in the first three steps the two ranks train on no common window, and their replicas stay identical."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    worker = Path(__file__).with_name("ddp_worker.py")
    path = os.pathsep.join([str(worker.parents[1]), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                          "29519", str(worker), str(tmp_path), str(shards), "streaming"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-4000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [len(r["windows"]) for r in ranks] == [12, 12] and ranks[0]["params"] == ranks[1]["params"]
    assert not set(ranks[0]["windows"]) & set(ranks[1]["windows"]), "no window is trained on by both ranks"
    assert len(set(ranks[0]["windows"])) == 12, "nor twice by one"


def test_streaming_keeps_each_species_share_of_a_manifest_corpus(tmp_path):
    """A two-species corpus (weights 3 : 1, half of the windows each) streamed: three quarters of the windows drawn
    are the first species', the same on every run, and pretraining reads it without a sampler."""
    import numpy as np
    from test_manifest import manifest

    from fgm.data.mlm import interleaved_species

    path = manifest(tmp_path, "path|species|weight\ngenomes/one.fna.gz|fly|3\ngenomes/two.fna.gz|fly_twin|1\n")
    corpus = build_corpus(None, manifest=path, window=5_000, val_frac=0.1, progress=False, cache_dir=tmp_path / "c")
    folder = save_shards(corpus, tmp_path / "shards", shard_bases=200_000, seed=0)
    stream, summary = stream_split(folder, "train")
    weights = summary["params"]["species_weights"]
    drawn = [row["source"] for row in interleaved_species(stream, weights, ["fly", "fly_twin"], seed=0)]
    share = np.mean([source == "fly" for source in drawn])
    assert abs(share - 0.75) < 4 * np.sqrt(0.75 * 0.25 / len(drawn)) and len(drawn) > 200
    assert drawn == [row["source"] for row in interleaved_species(stream, weights, ["fly", "fly_twin"], seed=0)]
    with pytest.raises(ValueError, match="no sampling weight for the species \\['fly_twin'\\]"):
        interleaved_species(stream, {"fly": 1.0}, ["fly", "fly_twin"], seed=0)
    settings = dict(max_steps=2, per_device_train_batch_size=4, report_to="none", disable_tqdm=True, save_steps=100)
    trainer = build_trainer(PretrainModelArguments(preset="tiny", kmer_size=1),
                            PretrainDataArguments(corpus=str(folder), max_length=101, streaming=True, shuffle_buffer=16),
                            PretrainingArguments(output_dir=str(tmp_path / "run"), **settings))
    assert trainer._get_train_sampler() is None
    trainer.train()
    assert "species' sampling weights | fly 3, fly_twin 1" in (tmp_path / "run" / "checkpoint-2" / "README.md").read_text()
