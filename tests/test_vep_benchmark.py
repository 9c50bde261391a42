"""The VEP benchmark: the bundled yeast set is what it claims, metrics match their definitions, sets load
from files (not from the Hub when offline), and a run writes its table."""

import json
import re

import numpy as np
import pytest
from Bio.Seq import Seq
from saved_results import VEP_RESULTS
from sklearn.metrics import average_precision_score, roc_auc_score

from fgm import FGMConfig, FGMForMaskedLM, FGMTokenizer
from fgm.data import bundled_genome
from fgm.data.reference import ReferenceGenome
from fgm.results import Interval, OutdatedResult
from fgm.variants.benchmark import (
    VepBenchmarkArguments,
    VepBenchmarkResult,
    load_labelled_set,
    run_vep_benchmark,
    tail_odds_ratio,
    vep_metrics,
    yeast_stop_vs_synonymous,
)


def test_yeast_set_holds_stop_gains_and_synonymous_snvs():
    frame, genome = yeast_stop_vs_synonymous(n_per_class=40, seed=1)
    assert frame["label"].value_counts().to_dict() == {1: 40, 0: 40}
    again, _ = yeast_stop_vs_synonymous(n_per_class=40, seed=1)
    assert frame.equals(again) and not frame.equals(yeast_stop_vs_synonymous(n_per_class=40, seed=2)[0])
    import gzip

    cds = {line.split()[3]: line.split() for line in gzip.open(genome.with_name("sacCer_S288C.cds.bed.gz"), "rt")}
    with ReferenceGenome(genome) as reference:
        for row in frame.itertuples():
            assert reference.fetch(row.chrom, row.pos - 1, row.pos) == row.ref
            chrom, start, end, _, _, strand = cds[row.gene]
            start, end = int(start), int(end)
            gene = reference.fetch(chrom, start, end)
            mutant = gene[: row.pos - 1 - start] + row.alt + gene[row.pos - start :]
            if strand == "-":
                gene, mutant = str(Seq(gene).reverse_complement()), str(Seq(mutant).reverse_complement())
            before, after = str(Seq(gene).translate()), str(Seq(mutant).translate())
            if row.label:  # a premature stop, one amino-acid change only
                assert after.count("*") == 2 and before.count("*") == 1
            else:
                assert before == after


def test_metrics_follow_their_definitions():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    scores = rng.normal(size=400) - labels  # positives score lower, as deleterious variants do
    metrics = vep_metrics(labels, scores, bootstrap=200)
    assert metrics.auroc.estimate == pytest.approx(roc_auc_score(labels, -scores))
    assert metrics.auprc.estimate == pytest.approx(average_precision_score(labels, -scores))
    assert metrics.auroc.low < metrics.auroc.estimate < metrics.auroc.high
    assert metrics.auprc_baseline == pytest.approx(labels.mean())
    odds = tail_odds_ratio(labels, scores, 0.1)
    lowest = np.argsort(scores)[:40]
    a = int(labels[lowest].sum())
    assert odds.table == [[a, 40 - a], [int(labels.sum()) - a, 360 - int(labels.sum()) + a]]
    assert odds.odds_ratio > 1 and odds.p_value < 0.05
    assert odds.interval.low < odds.odds_ratio < odds.interval.high


def test_sets_load_from_files_and_fail_clearly(tmp_path, monkeypatch):
    path = tmp_path / "set.tsv"
    path.write_text("chrom\tpos\tref\talt\tlabel\textra\nchrI\t100\tA\tG\tTrue\tx\nchrI\t200\tC\tT\tFalse\ty\n")
    frame = load_labelled_set(path)
    assert frame.columns.tolist() == ["chrom", "pos", "ref", "alt", "label"] and frame["label"].tolist() == [1, 0]
    path.write_text("chrom\tpos\tref\talt\tlabel\nchrI\t100\tA\tG\tbenign\n")
    with pytest.raises(ValueError, match="labels must be 0/1 or True/False, found 'benign'"):
        load_labelled_set(path)
    path.write_text("chrom\tpos\tref\talt\nchrI\t100\tA\tG\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['label'\]"):
        load_labelled_set(path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="offline.*to_parquet.*--dataset set.parquet"):
        load_labelled_set("songlab/clinvar")


def test_a_run_writes_scores_and_a_table(tmp_path):
    frame, genome = yeast_stop_vs_synonymous(n_per_class=15)
    frame.to_csv(tmp_path / "set.csv", index=False)
    tokenizer = FGMTokenizer(k=1)
    model = FGMForMaskedLM(FGMConfig.preset("tiny", vocab_size=len(tokenizer), kmer_size=1))
    options = dict(model_name_or_path="tiny", dataset=str(tmp_path / "set.csv"), output_dir=str(tmp_path / "out"))
    results = run_vep_benchmark(VepBenchmarkArguments(**options, genome=str(genome), window=64, bootstrap=50),
                                (model.eval(), tokenizer))
    assert results.n == 30 and results.skipped_not_snv == 0
    assert json.loads((tmp_path / "out" / "results.json").read_text())["auroc"] == results.auroc.to_json()
    assert VepBenchmarkResult.load(tmp_path / "out" / "results.json") == results
    table = (tmp_path / "out" / "results.md").read_text()
    assert "| set.csv |" in table.replace(str(tmp_path) + "/", "") and "AUROC" in table
    with pytest.raises(ValueError, match="pass the reference genome"):
        run_vep_benchmark(VepBenchmarkArguments(**options), (model, tokenizer))
    frame.loc[0, "ref"] = next(b for b in "ACGT" if b != frame.loc[0, "ref"])
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match=r"bad.csv, row 0 .*REF is"):
        run_vep_benchmark(VepBenchmarkArguments(**{**options, "dataset": str(tmp_path / "bad.csv")},
                                                genome=str(bundled_genome()), window=64), (model, tokenizer))


def test_saved_results_read_back_as_they_were_written(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(VEP_RESULTS)
    results = VepBenchmarkResult.load(path)
    assert results.auroc == Interval(0.61, 0.58, 0.64) and results.tail_odds_ratio.table == [[66, 34], [434, 466]]
    assert results.to_json() == json.loads(VEP_RESULTS)
    assert list(results.to_json()) == list(json.loads(VEP_RESULTS)), "the keys in the order they were written"
    results.save(tmp_path / "again.json")
    assert VepBenchmarkResult.load(tmp_path / "again.json") == results
    without_copy = {key: value for key, value in json.loads(VEP_RESULTS).items() if key != "genome_bgzf_copy"}
    assert VepBenchmarkResult.from_json(without_copy).to_json() == without_copy


@pytest.mark.parametrize("change", [{"auroc_interval": [0.6, 0.5, 0.7]}, {"auroc": None}, {"auroc": 0.61}])
def test_a_results_file_of_another_version_is_refused_saying_how_to_redo_it(tmp_path, change):
    data = {**json.loads(VEP_RESULTS), **change}
    data = {key: value for key, value in data.items() if value is not None}  # None: the key is missing
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    with pytest.raises(OutdatedResult, match=rf"{re.escape(str(path))}.*VepBenchmarkResult.*fgm benchmark vep"):
        VepBenchmarkResult.load(path)
