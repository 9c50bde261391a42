"""Corpus builder (fgm.data.corpus) and the `fgm corpus` command, on the bundled real genomes."""

import gzip
import json

import pytest
from datasets import DatasetDict
from transformers import HfArgumentParser

from fgm.cli import main
from fgm.commands import corpus as corpus_cmd
from fgm.data import bundled_genome
from fgm.data.corpus import (
    build_corpus,
    corpus_summary,
    load_corpus,
    push_corpus_to_hub,
    save_corpus,
)
from fgm.data.genome import GenomeFormatError, read_genome
from fgm.data.windows import window_spans

SMALL = ["chrI", "chrVI", "chrIII"]  # the three smallest yeast chromosomes, 816 kb


@pytest.fixture(scope="module")
def yeast():
    return read_genome(bundled_genome())


@pytest.fixture(scope="module")
def small_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def small_corpus(small_cache):
    return build_corpus([bundled_genome()], window=5_000, stride=4_000, val_chroms="chrVI",
                        test_chroms=["chrIII"], chroms=SMALL, progress=False,
                        cache_dir=small_cache)


def rows(ds):
    return list(zip(ds["chrom"], ds["start"], ds["end"], ds["source"], ds["sequence"]))


def test_splits_by_chromosome_cover_the_genome(small_corpus, yeast):
    assert list(small_corpus) == ["train", "validation", "test"]
    chroms = {name: set(ds["chrom"]) for name, ds in small_corpus.items()}
    assert chroms == {"train": {"chrI"}, "validation": {"chrVI"}, "test": {"chrIII"}}
    for ds in small_corpus.values():
        assert ds.column_names == ["sequence", "chrom", "start", "end", "source", "soft_masked"]
        assert not any(ds["soft_masked"]), "the bundled yeast genome is all upper case"
        for chrom in set(ds["chrom"]):
            spans = [(s, e) for c, s, e, *_ in rows(ds) if c == chrom]
            assert spans == window_spans(len(yeast[chrom]), 5_000, 4_000)  # incl. the tail rule
        for chrom, start, end, source, seq in rows(ds):
            assert source == "sacCer_S288C"
            assert seq == yeast[chrom][start:end]


def test_build_is_deterministic(small_corpus, tmp_path):
    again = build_corpus(str(bundled_genome()), window=5_000, stride=4_000,
                         val_chroms=["chrVI"], test_chroms="chrIII", chroms=SMALL,
                         progress=False, cache_dir=tmp_path)  # fresh cache: really rebuilt
    assert list(again) == list(small_corpus)
    for split in small_corpus:
        assert rows(again[split]) == rows(small_corpus[split])


def test_summary(small_corpus, small_cache, capsys):
    summary = corpus_summary(small_corpus)
    train = summary.splits["train"]
    assert train.chroms == ["chrI"]
    assert train.windows == len(window_spans(230_218, 5_000, 4_000))
    assert train.bases == sum(e - s for s, e in window_spans(230_218, 5_000, 4_000))
    assert train.dropped_n == 0 and train.n_frac == 0.0
    # chrVI (270,161 bp): last full window 264,000-269,000; the 2,161 bp tail from 268,000 is
    # under min_window (2,500), so 269,000-270,161 is in no window
    assert summary.splits["validation"].uncovered_bases == 1_161
    table = summary.table()
    for word in ("train", "validation", "test", "windows", "bases", "N frac", "dropped"):
        assert word in table
    # build_corpus prints it with progress on (the cached build here is instant)
    build_corpus([bundled_genome()], window=5_000, stride=4_000, val_chroms="chrVI",
                 test_chroms=["chrIII"], chroms=SMALL, progress=True,
                 cache_dir=small_cache)
    assert "validation" in capsys.readouterr().out


def test_requested_chromosome_must_exist(tmp_path):
    with pytest.raises(ValueError) as err:
        build_corpus([bundled_genome()], val_chroms="chrXX", progress=False, cache_dir=tmp_path)
    msg = str(err.value)
    assert "'chrXX'" in msg and "chrI, chrII, chrIII" in msg and "chrXVI" in msg
    with pytest.raises(ValueError, match="chrVII"):
        build_corpus([bundled_genome()], test_chroms=["chrI", "chrVII,chrVIIb"], progress=False,
                     cache_dir=tmp_path)
    with pytest.raises(ValueError, match="both validation and test"):
        build_corpus([bundled_genome()], val_chroms="chrI", test_chroms="chrI", progress=False,
                     cache_dir=tmp_path)


def test_n_filter_drops_and_counts(tmp_path):
    dm = bundled_genome("dm6_chr4")
    seq = read_genome(dm)["NC_004353.4"]
    window = 20_000
    spans = window_spans(len(seq), window)
    n_frac = [seq[s:e].count("N") / (e - s) for s, e in spans]
    expected_dropped = sum(f > 0.1 for f in n_frac)
    assert expected_dropped > 0  # the real assembly has gaps
    corpus = build_corpus({"dmel": dm}, window=window, max_n_frac=0.1, progress=False,
                          cache_dir=tmp_path)
    train = corpus["train"]
    assert len(train) == len(spans) - expected_dropped
    assert set(train["source"]) == {"dmel"}
    assert all(s.count("N") / len(s) <= 0.1 for s in train["sequence"])
    summary = corpus_summary(corpus).splits["train"]
    assert summary.dropped_n == expected_dropped
    assert summary.n_bases == sum(s.count("N") for s in train["sequence"])
    # max_n_frac=1 keeps everything
    everything = build_corpus({"dmel": dm}, window=window, max_n_frac=1.0, progress=False,
                              cache_dir=tmp_path)
    assert len(everything["train"]) == len(spans)


def test_several_species(tmp_path, yeast):
    corpus = build_corpus([f"yeast={bundled_genome()}", bundled_genome("dm6_chr4")],
                          window=50_000, chroms=["chrI", "NC_004353.4"], max_n_frac=1.0,
                          progress=False, cache_dir=tmp_path)
    train = corpus["train"]
    pairs = list(dict.fromkeys(zip(train["source"], train["chrom"])))
    assert pairs == [("yeast", "chrI"), ("DmelanDM6_4", "NC_004353.4")]  # input order


def test_bad_records_stop_or_are_counted(tmp_path, yeast):
    text = (f">good\n{yeast['chrI'][:30_000]}\n>broken\nACGTJACGT\n>empty\n"
            f">good2\n{yeast['chrVI'][:20_000]}\n")
    path = tmp_path / "mixed.fa.gz"
    path.write_bytes(gzip.compress(text.encode()))
    with pytest.raises(GenomeFormatError, match="record 'broken', line 4"):
        build_corpus([path], window=5_000, progress=False, cache_dir=tmp_path / "c")
    corpus = build_corpus([path], window=5_000, val_chroms="good2", skip_bad_records=True,
                          progress=False, cache_dir=tmp_path / "c")
    assert set(corpus["train"]["chrom"]) == {"good"}
    assert set(corpus["validation"]["chrom"]) == {"good2"}
    summary = corpus_summary(corpus)
    assert len(summary.skipped_records) == 2
    assert "bad records skipped: 2" in summary.table()
    with pytest.raises(ValueError, match="'broken'.*not found"):  # skipped: not available
        build_corpus([path], window=5_000, val_chroms="broken", skip_bad_records=True,
                     progress=False, cache_dir=tmp_path / "c")


def test_save_load_round_trip(small_corpus, tmp_path):
    out = save_corpus(small_corpus, tmp_path / "corpus")
    loaded = load_corpus(out)
    assert isinstance(loaded, DatasetDict) and list(loaded) == list(small_corpus)
    for split in small_corpus:
        assert rows(loaded[split]) == rows(small_corpus[split])
    assert corpus_summary(loaded).to_dict() == corpus_summary(small_corpus).to_dict()
    assert rows(load_corpus(str(out), split="test")) == rows(small_corpus["test"])
    with pytest.raises(FileExistsError, match="overwrite"):
        save_corpus(small_corpus, out)
    save_corpus(small_corpus, out, overwrite=True)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a saved corpus"):
        save_corpus(small_corpus, tmp_path / "other", overwrite=True)
    assert (tmp_path / "other" / "notes.txt").read_text() == "keep me"


def test_load_hub_name_offline_fails_clearly(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in ("someone/yeast-corpus", str(tmp_path / "missing_folder")):
        with pytest.raises(FileNotFoundError) as err:
            load_corpus(name)
        msg = str(err.value)
        assert name in msg and "offline" in msg and "local folder" in msg and "--output_dir" in msg


def test_push_to_hub_plumbing(small_corpus, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConnectionError, match="offline"):
        push_corpus_to_hub(small_corpus, "someone/yeast-corpus")
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    calls = []
    monkeypatch.setattr(DatasetDict, "push_to_hub",
                        lambda self, repo_id, **kw: calls.append((list(self), repo_id, kw)))
    push_corpus_to_hub(small_corpus, "someone/yeast-corpus", private=True)
    assert calls == [(["train", "validation", "test"], "someone/yeast-corpus",
                      {"private": True, "token": None})]


def parse(argv):
    (args,) = HfArgumentParser(corpus_cmd.ARGUMENTS).parse_args_into_dataclasses(argv, look_for_args_file=False)
    return args


def test_command_defaults_to_bundled_yeast(tmp_path, monkeypatch, capsys):
    args = parse(["--output_dir", str(tmp_path / "out"), "--window", "6k", "--val-chroms", "chrVI",
                  "--test-chroms", "chrIII", "--chroms", "chrI,chrVI", "chrIII",
                  "--cache-dir", str(tmp_path / "cache"), "--quiet"])
    assert args.genome is None and args.window == 6000 and args.max_n_frac == 0.1
    assert corpus_cmd.run(args) == 0
    out = capsys.readouterr().out
    assert "saved corpus to" in out and "validation" in out
    loaded = load_corpus(tmp_path / "out")
    assert {s: set(ds["chrom"]) for s, ds in loaded.items()} == {
        "train": {"chrI"}, "validation": {"chrVI"}, "test": {"chrIII"}}
    assert set(loaded["train"]["source"]) == {"sacCer_S288C"}
    stored = json.loads(loaded["train"].info.description)["fgm_corpus"]
    assert stored["params"]["window"] == 6000 and stored["params"]["stride"] == 6000

    # --push-to-hub goes through push_corpus_to_hub with the repo id
    pushed = []
    monkeypatch.setattr("fgm.data.corpus.push_corpus_to_hub",
                        lambda ds, repo, **kw: pushed.append((repo, kw)))
    args = parse(["--genome", f"fly={bundled_genome('dm6_chr4')}", "--window", "100000",
                  "--max-n-frac", "1", "--push-to-hub", "me/fly4", "--private",
                  "--cache-dir", str(tmp_path / "cache"), "--quiet"])
    assert corpus_cmd.run(args) == 0
    assert pushed == [("me/fly4", {"private": True})]

    with pytest.raises(ValueError, match="give --output_dir"):
        corpus_cmd.run(parse(["--quiet"]))
    with pytest.raises(SystemExit):
        parse(["--window", "lots"])


def one_line_error(argv, capsys) -> str:
    """What `fgm ARGV` prints when it stops at an input error: exit status 2, one line, no traceback."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err
    return err


def test_command_reports_input_errors_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.fa"
    bad.write_text(">a\nACGT\n>b\nACGTQ\n")
    argv = ["corpus", "--genome", str(bad), "--output_dir", str(tmp_path / "out"), "--window", "2",
            "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    err = one_line_error(argv, capsys)
    assert f"fgm corpus: error: {bad}, record 'b', line 4: invalid character 'Q'" in err
    assert "--skip_bad_records skips" in err
    assert main(argv + ["--skip-bad-records"]) == 0
    assert load_corpus(tmp_path / "out")["train"]["sequence"] == ["AC", "GT"]
    err = one_line_error(["corpus", "--output_dir", str(tmp_path / "o2"), "--val-chroms", "chrXX", "--quiet"], capsys)
    assert "'chrXX' not found" in err


def test_bundled_genome_missing_is_clear(monkeypatch, tmp_path):
    assert bundled_genome().name == "sacCer_S288C.fa.gz"
    monkeypatch.setenv("FGM_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="--genome"):
        bundled_genome()


# ------------------------------------------------------------------------------------------------ one-record genomes


@pytest.fixture(scope="module")
def one_record(tmp_path_factory, yeast):
    """A genome of one record, as a newcomer's bacterium comes: chrI of yeast, plain gzip."""
    path = tmp_path_factory.mktemp("one") / "chrI.fa.gz"
    sequence = yeast["chrI"]
    path.write_bytes(gzip.compress((">chrI\n" + "\n".join(sequence[i : i + 80] for i in range(0, len(sequence), 80))
                                    + "\n").encode()))
    return str(path)


def test_one_record_splits_by_fraction_and_by_region(one_record, yeast, tmp_path):
    length = len(yeast["chrI"])  # 230,218
    corpus = build_corpus(one_record, window=5_000, val_frac=0.1, test_frac=0.1, progress=False,
                          cache_dir=tmp_path)
    assert list(corpus) == ["train", "validation", "test"]
    spans = {split: [(row["start"], row["end"]) for row in ds] for split, ds in corpus.items()}
    assert spans["test"][0][0] == length - round(0.1 * length) and spans["test"][-1][1] == length
    assert spans["validation"][0][0] == length - 2 * round(0.1 * length) and spans["train"][0][0] == 0
    assert spans["train"][-1][1] <= spans["validation"][0][0] and spans["validation"][-1][1] <= spans["test"][0][0]
    for split, ds in corpus.items():  # every window is the genome's own bases at its coordinates
        assert all(yeast["chrI"][row["start"] : row["end"]] == row["sequence"] for row in ds), split
    summary = corpus_summary(corpus)
    assert summary.params["test_regions"] == [f"chrI:{length - round(0.1 * length) + 1}-{length}"]
    assert f"test regions: chrI:{length - round(0.1 * length) + 1}-{length}" in summary.table()

    # a region held out in the middle: the bases on both sides train, no window crosses its edges
    corpus = build_corpus(one_record, window=5_000, val_regions="chrI:100,001-150,000", progress=False,
                          cache_dir=tmp_path)
    held = [(row["start"], row["end"]) for row in corpus["validation"]]
    assert held[0] == (100_000, 105_000) and held[-1] == (145_000, 150_000) and len(held) == 10
    assert all(end <= 100_000 or start >= 150_000 for start, end in zip(corpus["train"]["start"],
                                                                        corpus["train"]["end"]))
    assert max(corpus["train"]["end"]) > 150_000


def test_one_record_split_errors_say_how(one_record, tmp_path):
    def refused(message, **kwargs):
        with pytest.raises(ValueError, match=message):
            build_corpus(one_record, progress=False, cache_dir=tmp_path, **kwargs)

    refused(r"no sequence left for the train split.*--val_regions CHROM:START-END or --val_frac", val_chroms="chrI")
    refused(r"no window fits the train split: its longest sequence has 230,218 bases, fewer than the 500,000",
            window=1_000_000)
    refused(r"no window fits the validation split: its longest sequence has 1,000 bases", window=6_000,
            val_regions="chrI:1-1000")
    refused(r"validation region chrI:200001-300000 ends past the end of chrI \(230,218 bases",
            val_regions="chrI:200001-300000")
    refused(r"validation region 'chrI:5' is not CHROM:START-END", val_regions="chrI:5")
    refused(r"test region chromosome\(s\) 'chrX' not found", test_regions="chrX:1-10")
    refused(r"overlaps another", val_regions="chrI:1-50000", test_regions="chrI:40001-90000")
    refused(r"--val_frac holds out the end of the genome: give it without", val_frac=0.1, val_regions="chrI:1-9")
    refused(r"--val_frac \+ --test_frac must leave bases for training", val_frac=0.5, test_frac=0.5)


def test_a_train_only_corpus_says_so(one_record, tmp_path, capsys):
    assert main(["corpus", "--genome", one_record, "--output_dir", str(tmp_path / "c"), "--cache_dir",
                 str(tmp_path / "cache"), "--quiet"]) == 0
    assert "no validation or test split: --val_chroms, --val_regions or --val_frac holds some out" in (
        capsys.readouterr().out)
    err = one_line_error(["corpus", "--genome", one_record, "--output_dir", str(tmp_path / "c2"), "--window", "1m",
                          "--cache_dir", str(tmp_path / "cache"), "--quiet"], capsys)
    assert "fgm corpus: error: no window fits the train split" in err
    assert main(["corpus", "--genome", one_record, "--output_dir", str(tmp_path / "c3"), "--val_regions",
                 "chrI:1-60000", "--test_frac", "0.1", "--cache_dir", str(tmp_path / "cache"), "--quiet"]) == 0
    assert {split: len(ds) for split, ds in load_corpus(tmp_path / "c3").items()} == {
        "train": 25, "validation": 10, "test": 4}  # 147,196 train bases: 24 windows and a partial one
