"""The inference commands end to end, as a user runs them, on a plain `save_pretrained` checkpoint:
score-variants, embed, benchmark vep, context-scan and push."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
import yeast
from datasets import Dataset, DatasetDict
from saved_results import FINETUNE_RESULTS, VEP_RESULTS

from fgm import FGMConfig, FGMForMaskedLM, FGMTokenizer
from fgm.cli import main

CHR_I = yeast.chromosome("chrI")[:4_000]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    tokenizer = FGMTokenizer(k=3)
    tokenizer.model_max_length = 101  # as pretraining records it: a 300-base training context
    torch.manual_seed(0)
    FGMForMaskedLM(FGMConfig.preset("tiny", vocab_size=len(tokenizer), kmer_size=3)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    path = tmp_path_factory.mktemp("genome") / "chrI.fa"
    path.write_text(">chrI\n" + "\n".join(CHR_I[i : i + 60] for i in range(0, len(CHR_I), 60)) + "\n")
    return str(path)


def test_score_variants_command(tmp_path, checkpoint, genome, capsys):
    vcf = tmp_path / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   f"chrI\t1001\trs1\t{CHR_I[1000]}\t{'A' if CHR_I[1000] != 'A' else 'C'}\t.\t.\t.\n"
                   f"chrI\t2001\tdel\t{CHR_I[2000:2002]}\t{CHR_I[2000]}\t.\t.\t.\n")
    out = tmp_path / "s.tsv"
    assert main(["score-variants", "--model", checkpoint, "--genome", genome, "--vcf", str(vcf), "--output", str(out),
                 "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["window"] == 300, "the default window is the checkpoint's training context"
    assert summary["scored"] == 1 and summary["skipped"] == {"indel": 1}
    table = pd.read_csv(out, sep="\t", comment="#")
    assert np.isfinite(table["score"][0]) and np.isnan(table["score"][1])
    with pytest.raises(SystemExit) as exit_info:
        main(["score-variants", "--model", checkpoint, "--genome", genome, "--vcf", str(vcf), "--output", str(out),
              "--frames", "some"])
    assert exit_info.value.code == 2


def test_embed_command(tmp_path, checkpoint, genome):
    bed = tmp_path / "r.bed"
    bed.write_text("chrI\t100\t700\tfirst\nchrI\t1000\t3500\tsecond\n")
    out = tmp_path / "e.npy"
    assert main(["embed", "--model", checkpoint, "--bed", str(bed), "--genome", genome, "--output", str(out),
                 "--pooling", "per-nucleotide", "--chunk", "1k", "--overlap", "200", "--quiet"]) == 0
    assert np.load(out).shape == (600 + 2500, 64)
    index = pd.read_csv(tmp_path / "e.index.tsv", sep="\t")
    assert index["id"].tolist() == ["first", "second"] and index["row_end"].tolist() == [600, 3100]


def test_benchmark_vep_command(tmp_path, checkpoint, genome, capsys):
    rows = [("chrI", p + 1, CHR_I[p], "A" if CHR_I[p] != "A" else "C", i % 2) for i, p in enumerate(range(500, 3500, 150))]
    pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt", "label"]).to_csv(tmp_path / "set.csv", index=False)
    assert main(["benchmark", "vep", "--model", checkpoint, "--dataset", str(tmp_path / "set.csv"), "--genome", genome,
                 "--output_dir", str(tmp_path / "vep"), "--bootstrap", "50"]) == 0
    assert "AUROC" in capsys.readouterr().out
    assert json.loads((tmp_path / "vep" / "results.json").read_text())["n"] == 20


def test_a_one_record_plain_gzip_genome_through_every_genome_command(tmp_path, checkpoint, capsys):
    """The newcomer's genome: one record, plain gzip as NCBI serves it, with a VCF and a BED written by hand."""
    import gzip

    genome = tmp_path / "ecoli.fna.gz"
    genome.write_bytes(gzip.compress((">NC_000913.3 one record\n" + CHR_I + "\n").encode()))
    alt = "A" if CHR_I[1000] != "A" else "C"
    vcf = tmp_path / "mine.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   f"NC_000913.3\t1001\tsnv\t{CHR_I[1000]}\t{alt}\t.\t.\t.\npOther\t5\tplasmid\tA\tC\t.\t.\t.\n")
    out = tmp_path / "out"
    assert main(["score-variants", "--model", checkpoint, "--genome", str(genome), "--vcf", str(vcf), "--output",
                 str(out / "scores.tsv"), "--skip_unknown_contigs", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["scored"] == 1 and summary["skipped"] == {"unknown_contig": 1}
    assert summary["genome_bgzf_copy"].startswith(str(out / "reference_cache"))

    bed = tmp_path / "mine.bed"
    bed.write_text("NC_000913.3\t100\t700\tgene_a\t0\t+\nNC_000913.3\t1000\t3500\tgene_b\t0\t-\n")
    assert main(["embed", "--model", checkpoint, "--bed", str(bed), "--genome", str(genome), "--output",
                 str(out / "e.npy"), "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["genome_bgzf_copy"] == summary["genome_bgzf_copy"], "reused"
    index = pd.read_csv(out / "e.index.tsv", sep="\t")
    assert np.load(out / "e.npy").shape == (2, 64) and index["strand"].tolist() == ["+", "-"]

    rows = [("NC_000913.3", p + 1, CHR_I[p], "A" if CHR_I[p] != "A" else "C", i % 2)
            for i, p in enumerate(range(500, 3500, 150))]
    pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt", "label"]).to_csv(tmp_path / "set.csv", index=False)
    assert main(["benchmark", "vep", "--model", checkpoint, "--dataset", str(tmp_path / "set.csv"), "--genome",
                 str(genome), "--output_dir", str(out / "vep"), "--bootstrap", "50"]) == 0
    assert json.loads((out / "vep" / "results.json").read_text())["n"] == 20


def test_context_scan_command(tmp_path, checkpoint):
    corpus = DatasetDict({"train": Dataset.from_list(yeast.windows("chrIII", 3000, 10)),
                          "test": Dataset.from_list(yeast.windows("chrVI", 3000, 6))})
    corpus.save_to_disk(tmp_path / "corpus")
    assert main(["context-scan", "--model", checkpoint, "--corpus", str(tmp_path / "corpus"), "--contexts", "150,600",
                 "1.2k", "--positions", "20", "--markov_orders", "0", "3", "--bootstrap", "30",
                 "--output_dir", str(tmp_path / "scan"), "--quiet"]) == 0
    results = json.loads((tmp_path / "scan" / "scan.json").read_text())
    assert [row["context"] for row in results["contexts"]] == [150, 600, 1200]
    assert [row["extrapolation"] for row in results["contexts"]] == [False, True, True]
    assert "(extrapolation)" in (tmp_path / "scan" / "scan.md").read_text()


def test_push_writes_the_results_into_the_card_and_uploads(tmp_path, checkpoint, monkeypatch, capsys):
    import shutil

    import huggingface_hub

    folder = tmp_path / "model"
    shutil.copytree(checkpoint, folder)
    (folder / "README.md").write_text("# card\n\n## Training\n\nsome\n\n## Evaluation\n\nold\n\n## Limitations\n\nx\n")
    (tmp_path / "vep").mkdir()
    (tmp_path / "vep" / "results.json").write_text(VEP_RESULTS)
    (folder / "nt").mkdir()
    (folder / "nt" / "results.json").write_text(FINETUNE_RESULTS)
    calls = {}

    class FakeApi:
        def __init__(self, token=None):
            calls["token"] = token

        def create_repo(self, repo_id, private, exist_ok):
            calls["repo"] = (repo_id, private)

        def upload_folder(self, folder_path, repo_id, commit_message):
            calls["upload"] = (folder_path, repo_id)
            return "commit-1"

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(variable, raising=False)
    assert main(["push", "--model", str(folder), "--repo_id", "me/fgm", "--results", str(tmp_path / "vep"),
                 "--private"]) == 0
    assert calls["repo"] == ("me/fgm", True) and calls["upload"] == (str(folder), "me/fgm")
    card = (folder / "README.md").read_text()
    assert "| splice_sites_all | mcc | 0.820 ± 0.028 | 600 |" in card
    assert "yeast_stop_vs_synonymous" in card and "0.610 [0.580, 0.640]" in card
    assert "old" not in card and card.startswith("# card") and card.rstrip().endswith("x")
    # a results file another version of FGM wrote is refused, naming it and how to redo it
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "results.json").write_text(json.dumps({
        "task": "splice_sites_all", "headline_metric": "mcc", "data": {"n_test": 600},
        "summary": {"mcc": {"mean": 0.5, "two_sd": 0.02, "n": 3}}}))
    with pytest.raises(SystemExit) as exit_:
        main(["push", "--model", str(folder), "--repo_id", "me/fgm", "--results", str(tmp_path / "old")])
    error = capsys.readouterr().err
    assert exit_.value.code == 2 and f"fgm push: error: {tmp_path / 'old' / 'results.json'}" in error
    assert "FinetuneResult" in error and "run `fgm finetune` again" in error
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SystemExit) as exit_:
        main(["push", "--model", str(folder), "--repo_id", "me/fgm"])
    assert exit_.value.code == 2
    assert "fgm push: error: cannot push" in capsys.readouterr().err


def test_push_without_network_says_the_hub_cannot_be_reached(tmp_path, checkpoint, monkeypatch, capsys):
    import shutil

    shutil.copytree(checkpoint, tmp_path / "model")
    for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)  # read when huggingface_hub was imported
    monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", "http://127.0.0.1:9")  # nothing listens: no network
    with pytest.raises(SystemExit) as exit_:
        main(["push", "--model", str(tmp_path / "model"), "--repo_id", "me/fgm", "--token", "hf_test"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"fgm push: error: cannot push {tmp_path / 'model'} to 'me/fgm': the Hugging Face Hub cannot "
                          "be reached (ConnectError: ")
