"""NT benchmark registry, task data loading/splitting, metrics and the offline Hub error (no training)."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from saved_results import FINETUNE_RESULTS, NT_BENCHMARK_RESULTS
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from fgm.results import OutdatedResult
from fgm.training import metrics as fm
from fgm.training import nt_tasks, task_data
from fgm.training.nt_tasks import NT_TASKS, get_task, list_tasks, resolve_tasks
from fgm.training.reports import FinetuneResult, NTBenchmarkResult, NTBenchmarkRow, format_score
from fgm.training.task_data import (
    DataFormatError,
    Duplicates,
    HubUnavailableError,
    column,
    deduplicate,
    find_task_files,
    kfold_indices,
    load_task_data,
    read_split,
    split_train_validation,
)

ROOT = Path(__file__).resolve().parents[1]
NT_DIR = ROOT / "tests" / "data" / "nt"
SPLICE = NT_DIR / "splice_sites_all"
PROMOTER = NT_DIR / "promoter_all"

ORIGINAL_NAMES = """enhancers enhancers_types H3 H3K4me1 H3K4me2 H3K4me3 H3K9ac H3K14ac H3K36me3 H3K79me3 H4 H4ac
promoter_all promoter_no_tata promoter_tata splice_sites_acceptors splice_sites_donors splice_sites_all""".split()
REVISED_NAMES = """H2AFZ H3K27ac H3K27me3 H3K36me3 H3K4me1 H3K4me2 H3K4me3 H3K9ac H3K9me3 H4K20me1 enhancers
enhancers_types promoter_all promoter_no_tata promoter_tata splice_sites_acceptors splice_sites_all
splice_sites_donors""".split()


# ------------------------------------------------------------------------------------------------ registry


def test_registry_has_all_36_tasks():
    assert len(NT_TASKS) == 36
    assert sorted(t.name for t in list_tasks("original")) == sorted(ORIGINAL_NAMES)
    assert sorted(t.name for t in list_tasks("revised")) == sorted(REVISED_NAMES)
    assert {t.hub_dataset for t in list_tasks("original")} == {"InstaDeepAI/nucleotide_transformer_downstream_tasks"}
    assert {t.hub_dataset for t in list_tasks("revised")} == {
        "InstaDeepAI/nucleotide_transformer_downstream_tasks_revised"
    }


def test_registry_classes_metrics_lengths():
    for task in NT_TASKS.values():
        expected_classes = 3 if task.name in ("enhancers_types", "splice_sites_all") else 2
        assert task.num_labels == expected_classes, task.key
        assert task.headline_metric in nt_tasks.METRICS
        assert task.sequence_length > 0
    # original paper table: F1 for promoters and splice acceptor/donor, accuracy for splice_sites_all, MCC otherwise
    original = {t.name: t.headline_metric for t in list_tasks("original")}
    assert original["promoter_all"] == original["promoter_tata"] == original["promoter_no_tata"] == "f1"
    assert original["splice_sites_acceptors"] == original["splice_sites_donors"] == "f1"
    assert original["splice_sites_all"] == "accuracy"
    assert original["H3"] == original["enhancers"] == original["enhancers_types"] == "mcc"
    # revised set: MCC everywhere (Nature Methods 2025, Fig. 2a)
    assert {t.headline_metric for t in list_tasks("revised")} == {"mcc"}
    assert get_task("H3K4me3", "original").sequence_length == 500
    assert get_task("H3K4me3", "revised").sequence_length == 1000
    assert get_task("splice_sites_all", "original").sequence_length == 400


def test_task_lookup():
    assert get_task("promoter_all").benchmark == "revised"
    assert get_task("original/H3").key == "original/H3"
    assert get_task("h2afz").name == "H2AFZ"  # case-insensitive unique match
    with pytest.raises(KeyError, match="exists in"):
        get_task("H3")  # only in the original set
    assert [t.name for t in resolve_tasks("promoter_all, splice_sites_all")] == ["promoter_all", "splice_sites_all"]
    assert len(resolve_tasks("all", "original")) == 18


# ------------------------------------------------------------------------------------------------- loading


def test_load_splice_fixture_three_classes():
    data = load_task_data(get_task("splice_sites_all"), data_dir=NT_DIR)
    assert data.num_labels == 3
    assert data.label_names == ["ei", "ie", "n"]  # sorted string labels
    assert data.id2label == {0: "ei", 1: "ie", 2: "n"} and data.label2id["n"] == 2
    assert (len(data.train), len(data.test)) == (2400, 600)
    train_seqs, test_seqs = column(data.train, "sequence"), column(data.test, "sequence")
    assert len(set(train_seqs)) == len(train_seqs) and len(set(test_seqs)) == len(test_seqs)
    assert not set(train_seqs) & set(test_seqs)
    assert set(column(data.train, "label")) == {0, 1, 2}
    assert set(data.train.column_names) == {"sequence", "label", "name"}
    assert all(len(s) == 60 for s in train_seqs)


def test_load_promoter_fixture_two_classes():
    data = load_task_data(train_file=PROMOTER / "train.tsv", test_file=PROMOTER / "test.tsv")
    assert data.label_names == ["non_promoter", "promoter"] and data.num_labels == 2
    assert (len(data.train), len(data.test)) == (84, 22)
    assert data.validation is None


def test_fixture_is_the_deduplicated_uci_splice_set():
    raw = read_split(ROOT / "data" / "splice_uci.tsv")
    assert len(raw) == 3186
    dedup, removed = deduplicate(raw)
    assert removed == Duplicates(duplicates=185, conflicting=1)
    assert len(dedup) == 3000 == 2400 + 600


def test_all_file_formats_read_the_same(tmp_path):
    from datasets import DatasetDict

    reference = read_split(PROMOTER / "train.tsv")
    frame = reference.to_pandas()
    frame.to_parquet(tmp_path / "train.parquet")
    frame.to_json(tmp_path / "train.jsonl", orient="records", lines=True)
    frame.to_csv(tmp_path / "train.csv", index=False)
    with open(tmp_path / "train.fna", "w") as f:
        for row in frame.itertuples():
            f.write(f">{row.name}|{row.label}\n{row.sequence[:30]}\n{row.sequence[30:]}\n")
    reference.save_to_disk(str(tmp_path / "train_disk"))
    DatasetDict({"train": reference, "test": reference}).save_to_disk(str(tmp_path / "dict_disk"))
    for path, split in [
        ("train.parquet", None),
        ("train.jsonl", None),
        ("train.csv", None),
        ("train.fna", None),
        ("train_disk", None),
        ("dict_disk", "train"),
    ]:
        ds = read_split(tmp_path / path, split)
        assert column(ds, "sequence") == column(reference, "sequence"), path
        assert [str(v) for v in column(ds, "label")] == column(reference, "label"), path
        assert column(ds, "name") == column(reference, "name"), path
    with pytest.raises(DataFormatError, match="DatasetDict"):
        read_split(tmp_path / "dict_disk")


def test_integer_labels_names_and_schema_errors(tmp_path):
    (tmp_path / "a.csv").write_text("sequence,label\nACGTACGT,1\nTTTTACGT,0\nGGGGCCCC,2\n")
    (tmp_path / "b.csv").write_text("sequence,label\nACGTAAAA,2\n")
    data = load_task_data(train_file=tmp_path / "a.csv", test_file=tmp_path / "b.csv")
    assert data.label_names == ["0", "1", "2"]
    assert column(data.train, "label") == [1, 0, 2]
    assert column(data.train, "name") == ["row0", "row1", "row2"]  # made up when absent
    # "NA" stays a label, not a missing value
    (tmp_path / "c.csv").write_text("sequence,label\nACGT,NA\nACGA,yes\n")
    assert load_task_data(train_file=tmp_path / "c.csv", test_file=tmp_path / "c.csv").label_names == ["NA", "yes"]
    (tmp_path / "bad.csv").write_text("seq,label\nACGT,1\n")
    with pytest.raises(DataFormatError, match="missing column"):
        read_split(tmp_path / "bad.csv")
    # the classes are the training split's: a test label it never shows is an error naming file, row and label
    (tmp_path / "unseen.csv").write_text("sequence,label\nACGT,yes\nACGT,maybe\n")
    with pytest.raises(DataFormatError, match=rf"{tmp_path / 'unseen.csv'}, row 1 \(name 'row1'\): label 'maybe'"):
        load_task_data(train_file=tmp_path / "c.csv", test_file=tmp_path / "unseen.csv")
    # ... unless the classes are given, in id order
    data = load_task_data(train_file=tmp_path / "c.csv", test_file=tmp_path / "unseen.csv",
                          label_names=["yes", "NA", "maybe"])
    assert data.label_names == ["yes", "NA", "maybe"] and column(data.test, "label") == [0, 2]
    (tmp_path / "ints.csv").write_text("sequence,label\nACGT,1\nACGA,7\n")
    with pytest.raises(DataFormatError, match=r"ints.csv, row 1 \(name 'row1'\): label 7 is not one of the classes "
                       r"\['0', '1', '2'\] \(those of the training data, .*a.csv\)"):
        load_task_data(train_file=tmp_path / "a.csv", test_file=tmp_path / "ints.csv")
    (tmp_path / "empty.csv").write_text("sequence,label\n")
    with pytest.raises(DataFormatError, match="empty.csv: no rows"):
        read_split(tmp_path / "empty.csv")


def test_task_folder_layouts(tmp_path):
    files = find_task_files(NT_DIR, "splice_sites_all")
    assert files["train"].name == "train.csv" and files["test"].name == "test.csv" and "validation" not in files
    (tmp_path / "promoter_all").mkdir()
    with pytest.raises(FileNotFoundError, match="lacks"):
        find_task_files(tmp_path, "promoter_all")
    with pytest.raises(FileNotFoundError, match="no folder"):
        find_task_files(tmp_path, "enhancers")


# ----------------------------------------------------------------------------------------------- splitting


def test_validation_split_is_seeded_stratified_and_disjoint():
    data = load_task_data(get_task("splice_sites_all"), data_dir=NT_DIR)
    train, val = split_train_validation(data.train, 0.1, seed=7)
    again_train, again_val = split_train_validation(data.train, 0.1, seed=7)
    assert column(val, "name") == column(again_val, "name")
    assert len(val) == 240 and len(train) == 2160
    assert not set(column(train, "name")) & set(column(val, "name"))
    full = np.bincount(column(data.train, "label")) / len(data.train)
    part = np.bincount(column(val, "label")) / len(val)
    assert np.abs(full - part).max() < 0.01  # stratified
    _, other = split_train_validation(data.train, 0.1, seed=8)
    assert column(other, "name") != column(val, "name")


def test_kfold_bookkeeping():
    labels = np.asarray(column(load_task_data(get_task("splice_sites_all"), data_dir=NT_DIR).train, "label"))
    folds = kfold_indices(labels, 10, seed=3)
    assert len(folds) == 10
    validations = [set(v.tolist()) for _, v in folds]
    for i, (train_idx, val_idx) in enumerate(folds):
        assert not set(train_idx.tolist()) & set(val_idx.tolist())
        assert len(train_idx) + len(val_idx) == len(labels)
        for j in range(i):
            assert not validations[i] & validations[j]  # validation folds are disjoint
        # stratified: each fold keeps the class balance
        assert (
            np.abs(np.bincount(labels[val_idx], minlength=3) / len(val_idx) - np.bincount(labels) / len(labels)).max()
            < 0.02
        )
    assert set().union(*validations) == set(range(len(labels)))  # ... and cover the training set
    assert sorted(len(v) for v in validations) == [240] * 10
    assert all((a[1] == b[1]).all() for a, b in zip(folds, kfold_indices(labels, 10, seed=3)))
    with pytest.raises(ValueError):
        kfold_indices(labels, 1)


# ------------------------------------------------------------------------------------------------- metrics


def test_metric_modules_load_offline_and_match_sklearn(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    rng = np.random.default_rng(0)
    for num_labels in (2, 3):
        refs = rng.integers(0, num_labels, 200)
        preds = np.where(rng.random(200) < 0.7, refs, rng.integers(0, num_labels, 200))
        got = fm.classification_metrics(preds, refs, num_labels)
        assert got.mcc == pytest.approx(matthews_corrcoef(refs, preds), abs=1e-12)
        assert got.accuracy == pytest.approx(accuracy_score(refs, preds), abs=1e-12)
        average = "binary" if num_labels == 2 else "macro"
        assert got.f1 == pytest.approx(f1_score(refs, preds, average=average), abs=1e-12)
        assert got.f1_macro == pytest.approx(f1_score(refs, preds, average="macro"), abs=1e-12)
    # fixed hand-checked values
    assert fm.load_metric("mcc").compute(predictions=[0, 1, 1, 0], references=[0, 1, 0, 0])["mcc"] == pytest.approx(
        0.5773502691896258
    )
    assert fm.load_metric("f1").compute(predictions=[0, 1, 1, 0], references=[0, 1, 0, 0])["f1"] == pytest.approx(2 / 3)
    assert fm.load_metric("accuracy").compute(predictions=[0, 1, 1, 0], references=[0, 1, 0, 0])["accuracy"] == 0.75
    # a 3-class task stays macro even when a batch only holds two classes
    assert fm.classification_metrics([0, 1, 1], [0, 1, 0], num_labels=3).f1 == pytest.approx(
        f1_score([0, 1, 0], [0, 1, 1], labels=[0, 1, 2], average="macro", zero_division=0)
    )
    assert fm.metric_path("mcc").joinpath("mcc.py").exists()


def test_summaries_and_chunk_averaging():
    summary = fm.summarize_runs([0.5, 0.6, 0.7])
    assert summary.mean == pytest.approx(0.6) and summary.two_sd == pytest.approx(2 * np.std([0.5, 0.6, 0.7], ddof=1))
    assert summary.n == 3 and summary.to_json() == {"mean": summary.mean, "two_sd": summary.two_sd, "n": 3}
    assert fm.summarize_runs([0.4]).two_sd == 0.0
    assert fm.summarize_runs([]).n == 0
    logits = np.array([[1.0, 0.0], [0.0, 3.0], [2.0, 0.0], [5.0, 1.0]])
    averaged, first = fm.average_logits_by_group(logits, [7, 7, 3, 5])
    assert first.tolist() == [0, 2, 3]
    assert averaged.tolist() == [[0.5, 1.5], [2.0, 0.0], [5.0, 1.0]]


# ------------------------------------------------------------------------------------------ saved results


@pytest.mark.parametrize("kind, saved", [(FinetuneResult, FINETUNE_RESULTS), (NTBenchmarkResult, NT_BENCHMARK_RESULTS)])
def test_saved_results_read_back_as_they_were_written(tmp_path, kind, saved):
    path = tmp_path / "saved.json"
    path.write_text(saved)
    results = kind.load(path)
    assert results.to_json() == json.loads(saved)
    assert json.dumps(results.to_json(), indent=2) == json.dumps(json.loads(saved), indent=2), "the same keys, in order"
    results.save(tmp_path / "again.json")
    assert kind.load(tmp_path / "again.json") == results


def test_saved_results_are_read_by_name():
    results = FinetuneResult.from_json(json.loads(FINETUNE_RESULTS))
    assert results.summary_of("mcc") is results.summary.mcc and format_score(results.summary.mcc) == "0.820 ± 0.028"
    assert results.runs[1].best_step is None and results.runs[0].test.accuracy == 0.88
    assert results.data.dedup.train.conflicting == 1 and results.data.dedup.validation is None
    assert results.data.chunked_rows.validation is None and "validation" not in results.data.chunked_rows.to_json()
    with pytest.raises(ValueError, match="'auroc' is not one of the reported metrics"):
        results.summary_of("auroc")
    benchmark = NTBenchmarkResult.from_json(json.loads(NT_BENCHMARK_RESULTS))
    assert benchmark.rows[0].published == {"NT-v2 500M": 0.98, "DNABERT-2": None, "HyenaDNA": None}
    assert "| splice_sites_all | mcc | 0.820 ± 0.028 | 2 | 600 | 0.980 | n/a | n/a |" in benchmark.table
    assert "local files in `tests/data/nt`" in benchmark.table


@pytest.mark.parametrize("kind, saved", [(FinetuneResult, FINETUNE_RESULTS), (NTBenchmarkResult, NT_BENCHMARK_RESULTS)])
@pytest.mark.parametrize("change", ["missing", "unknown"])
def test_a_results_file_of_another_version_is_refused_saying_how_to_redo_it(tmp_path, kind, saved, change):
    data = json.loads(saved)
    if change == "missing":
        del data["model"]
    else:
        data["headline"] = "mcc"
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    key = "model" if change == "missing" else "headline"
    with pytest.raises(OutdatedResult, match=rf"{re.escape(str(path))}.*{kind.__name__}.*{key}.*{re.escape(kind.redo)}"):
        kind.load(path)


# ------------------------------------------------------------------------------------------ offline errors


def test_hub_access_offline_fails_with_local_files_hint(monkeypatch, tmp_path, capsys):
    import datasets.config

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    with pytest.raises(HubUnavailableError) as info:
        load_task_data(get_task("promoter_all"), cache_dir=None)
    message = str(info.value)
    assert "nucleotide_transformer_downstream_tasks_revised" in message and "promoter_all" in message
    assert "--train_file" in message and "--test_file" in message and "--data_dir" in message

    # the same through the command
    from fgm.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["finetune", "--model_name_or_path", "unused", "--task", "promoter_all", "--output_dir",
              str(tmp_path / "never_written")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "fgm finetune: error: Cannot load NT task 'promoter_all'" in err
    assert "--train_file" in err and "Traceback" not in err


def test_published_numbers_are_cited_or_na(tmp_path):
    summary = fm.MetricSummary(mean=0.8, two_sd=0.02, n=2)
    row = NTBenchmarkRow(task="splice_sites_all", metric="mcc", score=summary,
                         all_metrics=fm.ScoreSummaries(mcc=summary, f1=summary, f1_macro=summary, accuracy=summary),
                         n_test=600, published={m: None for m in nt_tasks.PUBLISHED_MODELS})
    table = NTBenchmarkResult(benchmark="revised", model="ckpt", data_dir=None, rows=[row],
                              published_sources=nt_tasks.PUBLISHED_SOURCES["revised"]).table
    assert "| splice_sites_all | mcc | 0.800 ± 0.020 | 2 | 600 | n/a | n/a | n/a |" in table
    assert "Nature Methods 22, 287-297 (2025)" in table
    for task in nt_tasks.PUBLISHED["revised"]:  # any number filled in must have a source
        assert task in nt_tasks.REVISED_TASK_NAMES and nt_tasks.PUBLISHED_SOURCES["revised"]
    (tmp_path / "pub.csv").write_text("task,model,value,source\nsplice_sites_all,DNABERT-2,0.5,Some paper Table 1\n")
    values, sources = nt_tasks.load_published(tmp_path / "pub.csv")
    assert values == {("splice_sites_all", "DNABERT-2"): 0.5} and sources
    (tmp_path / "bad.csv").write_text("task,model,value\nsplice_sites_all,GPT,0.5\n")
    with pytest.raises(ValueError, match="not one of"):
        nt_tasks.load_published(tmp_path / "bad.csv")
    json.dumps(nt_tasks.PUBLISHED)  # serialisable
    assert task_data.local_files_hint("x").count("fgm ") == 2


def test_hub_loading_filters_the_parquet_layout(monkeypatch):
    """Parquet version of the NT datasets: one default configuration whose `task` column names the task."""
    import datasets
    from datasets import Dataset, DatasetDict

    rows = {
        "sequence": ["ACGT", "TTTT", "GGGG", "CCCC"],
        "name": ["a|1", "b|0", "c|1", "d|0"],
        "label": [1, 0, 1, 0],
        "task": ["promoter_all", "H2AFZ", "promoter_all", "promoter_all"],
    }
    calls = []

    def fake_load_dataset(repo, name=None, cache_dir=None):
        calls.append((repo, name))
        if name is not None:
            raise ValueError(f"BuilderConfig '{name}' not found. Available: ['default']")
        return DatasetDict({"train": Dataset.from_dict(rows), "test": Dataset.from_dict(rows)})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    data = load_task_data(get_task("promoter_all"))
    assert calls == [(nt_tasks.HUB_DATASETS["revised"], "promoter_all"), (nt_tasks.HUB_DATASETS["revised"], None)]
    assert column(data.train, "sequence") == ["ACGT", "GGGG", "CCCC"]
    assert data.label_names == ["0", "1"] and set(data.train.column_names) == {"sequence", "label", "name"}
