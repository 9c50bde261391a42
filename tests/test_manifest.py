"""A corpus from many genomes (issue 26, item 3): the manifest (path, species, weight, held-out records per species),
each species split on its own, its statistics per species, and the species' shares in pretraining."""

from pathlib import Path

import numpy as np
import pytest

from fgm.data.corpus import build_corpus, corpus_summary, save_corpus
from fgm.data.manifest import read_manifest
from fgm.data.mlm import MaskedGenomeWindows, SpeciesSampler
from fgm.model.tokenization_fgm import FGMTokenizer
from fgm.training.pretrain import PretrainDataArguments, PretrainingArguments, PretrainModelArguments, build_trainer

DMEL = Path(__file__).resolve().parents[1] / "data" / "genomes" / "drosophila_chr4" / "DmelanDM6_4.fna.gz"
RECORD = "NC_004353.4"  # chromosome 4's name in both copies: two "species" that name their records alike


def manifest(tmp_path, text: str) -> Path:
    (tmp_path / "genomes").mkdir(exist_ok=True)
    for name in ("one.fna.gz", "two.fna.gz"):
        if not (tmp_path / "genomes" / name).exists():
            (tmp_path / "genomes" / name).symlink_to(DMEL)
    path = tmp_path / "genomes.tsv"
    path.write_text(text.replace("|", "\t"))
    return path


@pytest.fixture(scope="module")
def two_species(tmp_path_factory):
    folder = tmp_path_factory.mktemp("manifest")
    path = manifest(folder, f"path|species|weight|test_chroms\ngenomes/one.fna.gz|fly|3|{RECORD}\n"
                            "genomes/two.fna.gz|fly_twin|1|\n")
    return build_corpus(None, manifest=path, window=20_000, val_frac=0.1, progress=False, cache_dir=folder / "cache")


def test_each_species_is_split_on_its_own(two_species):
    by_split = {split: set(zip(ds["source"], ds["chrom"])) for split, ds in two_species.items()}
    assert by_split["test"] == {("fly", RECORD)}, "the record held out of one species only, though both name it"
    assert by_split["train"] == by_split["validation"] == {("fly_twin", RECORD)}
    validation = two_species["validation"]
    length = 1_348_131
    first = length - round(length * 0.1)  # the last 10% of that species' own genome (fly has none: all held out)
    summary = corpus_summary(two_species)
    assert summary.params["val_regions"] == [f"{RECORD}:{first + 1}-{length} (fly_twin)"]
    assert min(validation["start"]) >= first and max(two_species["train"]["end"]) <= first
    assert summary.params["species_weights"] == {"fly": 3.0, "fly_twin": 1.0}
    table = summary.table()
    assert "species' sampling weights: fly 3, fly_twin 1" in table and "(fly_twin)" in table
    test_bases = summary.splits["test"].soft_masked["fly"][0]
    assert f"fly: test {test_bases:,} bases (" in table and "fly_twin: train " in table


def test_a_manifest_that_cannot_be_read_is_refused_naming_the_line(tmp_path):
    cases = {
        "path|genus\ngenomes/one.fna.gz|fly\n": "must name the columns path, species.*missing \\['species'\\]",
        "path|species|colour\ngenomes/one.fna.gz|fly|red\n": "unknown \\['colour'\\]",
        "path|species|weight\ngenomes/one.fna.gz|fly|-1\n": "line 2: weight must be a number above 0, got '-1'",
        "path|species\ngenomes/none.fa|fly\n": "line 2: no genome file",
        "path|species\n|fly\n": "line 2: every row needs a path and a species",
        "path|species|weight\ngenomes/one.fna.gz|fly|2\ngenomes/two.fna.gz|fly|3\n": "line 3: species 'fly' has weight",
        "path|species\n": "no genome listed",
    }
    for text, message in cases.items():
        with pytest.raises((ValueError, FileNotFoundError), match=message):
            read_manifest(manifest(tmp_path, text))
    with pytest.raises(ValueError, match="either as files or in a manifest"):
        build_corpus([str(DMEL)], manifest=manifest(tmp_path, "path|species\ngenomes/one.fna.gz|fly\n"))
    with pytest.raises(ValueError, match="fly's test chromosome"):
        build_corpus(None, manifest=manifest(tmp_path, "path|species|test_chroms\ngenomes/one.fna.gz|fly|chrX\n"),
                     progress=False, cache_dir=tmp_path / "cache")


def test_pretraining_draws_each_species_by_its_weight_the_same_on_every_run(tmp_path):
    path = manifest(tmp_path, "path|species|weight\ngenomes/one.fna.gz|fly|3\ngenomes/two.fna.gz|fly_twin|1\n")
    corpus = build_corpus(None, manifest=path, window=20_000, val_frac=0.1, progress=False, cache_dir=tmp_path / "c")
    save_corpus(corpus, tmp_path / "corpus")
    trainer = build_trainer(PretrainModelArguments(preset="tiny", kmer_size=1),
                            PretrainDataArguments(corpus=str(tmp_path / "corpus"), max_length=101),
                            PretrainingArguments(output_dir=str(tmp_path / "run"), max_steps=1, report_to="none"))
    sampler, windows = trainer._get_train_sampler(), trainer.train_dataset
    assert isinstance(sampler, SpeciesSampler)
    sources = np.array(corpus["train"]["source"])
    assert (sources == "fly").mean() == 0.5, "each species has half of the windows"
    draws = []
    for epoch in range(30):
        windows.set_epoch(epoch)
        draws.append(list(sampler))
    share = (sources[np.concatenate(draws)] == "fly").mean()
    assert len(draws[0]) == len(sources) and abs(share - 0.75) < 4 * np.sqrt(0.75 * 0.25 / (30 * len(sources)))
    windows.set_epoch(3)
    assert list(sampler) == draws[3] and draws[3] != draws[4], "the order is the epoch's, and changes with it"
    trainer.train()
    card = (tmp_path / "run" / "checkpoint-1" / "README.md").read_text()
    assert "species' sampling weights | fly 3, fly_twin 1" in card
    with pytest.raises(ValueError, match="no sampling weight for the species \\['fly_twin'\\]"):
        SpeciesSampler(windows, {"fly": 1.0})
