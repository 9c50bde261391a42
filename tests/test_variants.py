"""Variant scoring on a piece of the bundled yeast genome: the score against a brute-force computation,
strand symmetry, every bad-input case of a VCF, the output formats and resuming."""

import gzip
import json
import math
import re

import numpy as np
import pandas as pd
import pysam
import pytest
import torch
import yeast

import fgm.variants
from fgm import FGMConfig, FGMForMaskedLM, FGMTokenizer
from fgm.data.reference import ReferenceGenome
from fgm.model.kmers_fgm import reverse_complement
from fgm.results import OutdatedResult
from fgm.variants import ScoreVariantsArguments, VariantScoresSummary
from fgm.variants.scoring import SNV, VariantScorer
from fgm.variants.vcf import VariantFileError

CONTIGS = {"chrI": yeast.chromosome("chrI")[:3_000], "chrVI": yeast.chromosome("chrVI")[:2_000]}
VCF_HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def write_fasta(path, contigs):
    path.write_text("".join(f">{name}\n" + "\n".join(seq[i : i + 60] for i in range(0, len(seq), 60)) + "\n"
                            for name, seq in contigs.items()))
    return path


def write_vcf(path, lines):
    path.write_text(VCF_HEADER + "".join("\t".join(map(str, fields)) + "\n" for fields in lines))
    return path


def record(chrom, pos, ref, alt, id_="."):
    return (chrom, pos, id_, ref, alt, ".", ".", ".")


def alt_of(base):
    return "ACGT"[("ACGT".index(base) + 1) % 4]


@pytest.fixture(scope="module")
def fasta(tmp_path_factory):
    return write_fasta(tmp_path_factory.mktemp("genome") / "yeast.fa", CONTIGS)


def tiny_model(k):
    tokenizer = FGMTokenizer(k=k)
    torch.manual_seed(k)
    config = FGMConfig.preset("tiny", vocab_size=len(tokenizer), kmer_size=k, sliding_window=8)
    return FGMForMaskedLM(config).eval(), tokenizer


def score_variants(model, genome, vcf, output, **options) -> VariantScoresSummary:
    """`fgm.variants.score_variants` with a loaded `(model, tokenizer)` pair, without a progress bar."""
    arguments = ScoreVariantsArguments(model_name_or_path="tiny", genome=str(genome), vcf=str(vcf), output=str(output),
                                       quiet=True, **options)
    return fgm.variants.score_variants(arguments, model)


def brute_force_forward(model, tokenizer, sequence, pos0, ref, alt, window):
    """Mean over the k frames of ln P(alt) - ln P(ref), computed the plain way: dense logits, softmax, and a
    marginal summed over the vocabulary strings."""
    k = model.config.kmer_size
    vocabulary = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    centred, llrs = pos0 - window // 2, []
    for offset in range(k):
        start = next(centred + d for d in range(-((k - 1) // 2), k // 2 + 1) if (pos0 - centred - d) % k == offset)
        start = min(max(start, 0), len(sequence) - window)
        piece = sequence[start : start + window]
        encoded = tokenizer(piece, return_offsets_mapping=True)
        index = pos0 - start
        token = next(t for t, (a, b) in enumerate(encoded["offset_mapping"]) if a <= index < b)
        p = index - encoded["offset_mapping"][token][0]
        ids = torch.tensor([encoded["input_ids"]])
        ids[0, token] = tokenizer.mask_token_id
        with torch.no_grad():
            softmax = model(input_ids=ids).logits[0, token].softmax(-1)
        reach = [v for v, tok in enumerate(vocabulary) if len(tok) > p and tok[p] in "ACGT"]
        mass = {b: softmax[[v for v in reach if vocabulary[v][p] == b]].sum() for b in (ref, alt)}
        total = softmax[reach].sum()
        llrs.append(float(torch.log(mass[alt] / total) - torch.log(mass[ref] / total)))
    return float(np.mean(llrs))


@pytest.mark.parametrize("k", [1, 6])
def test_score_equals_brute_force_at_every_offset(fasta, k):
    model, tokenizer = tiny_model(k)
    sequence = CONTIGS["chrI"]
    positions = range(1_500, 1_506)  # six consecutive bases: every offset inside a 6-mer
    snvs = [SNV("chrI", p + 1, sequence[p], alt_of(sequence[p])) for p in positions]
    with ReferenceGenome(fasta) as genome:
        scores = VariantScorer(model, tokenizer, window=120, frames="all", strands="forward", batch_size=4).score(
            genome, snvs)
    assert np.isnan(scores[:, 1]).all(), "the reverse strand was not asked for"
    for snv, score in zip(snvs, scores[:, 0]):
        expected = brute_force_forward(model, tokenizer, sequence, snv.pos - 1, snv.ref, snv.alt, 120)
        assert score == pytest.approx(expected, abs=1e-5), snv


def test_reverse_complemented_genome_gives_the_same_scores(tmp_path, fasta):
    model, tokenizer = tiny_model(6)
    mirrored = write_fasta(tmp_path / "rc.fa", {name: reverse_complement(seq) for name, seq in CONTIGS.items()})
    length = len(CONTIGS["chrVI"])
    picks = [5, 700, 1_333, length - 3]  # near both ends too: clipped windows mirror each other
    complement = dict(zip("ACGT", "TGCA"))
    snvs = [SNV("chrVI", p + 1, CONTIGS["chrVI"][p], alt_of(CONTIGS["chrVI"][p])) for p in picks]
    flipped = [SNV("chrVI", length - s.pos + 1, complement[s.ref], complement[s.alt]) for s in snvs]
    scorer = VariantScorer(model, tokenizer, window=90, frames="all", strands="both")
    with ReferenceGenome(fasta) as genome, ReferenceGenome(mirrored) as rc_genome:
        here, there = scorer.score(genome, snvs), scorer.score(rc_genome, flipped)
    np.testing.assert_allclose(here[:, 0], there[:, 1], atol=1e-5)  # each strand is the other's mirror
    np.testing.assert_allclose(here.mean(1), there.mean(1), atol=1e-5)
    assert not np.allclose(here[:, 0], here[:, 1], atol=1e-3), "the two strands carry different information"


def test_frames_center_is_one_of_the_frames(fasta):
    model, tokenizer = tiny_model(6)
    sequence = CONTIGS["chrI"]
    snvs = [SNV("chrI", p + 1, sequence[p], alt_of(sequence[p])) for p in range(900, 906)]
    with ReferenceGenome(fasta) as genome:
        center = VariantScorer(model, tokenizer, 120, frames="center", strands="forward").score(genome, snvs)[:, 0]
        mean = VariantScorer(model, tokenizer, 120, frames="all", strands="forward").score(genome, snvs)[:, 0]
    assert not np.allclose(center, mean), "with 6-mers the frame changes the score"
    assert np.all(np.isfinite(center)) and np.all(np.isfinite(mean))


# ---------------------------------------------------------------------------------------------- VCF input


def cases_vcf(tmp_path, name="cases.vcf"):
    s = CONTIGS["chrI"]
    return write_vcf(tmp_path / name, [
        record("chrI", 101, s[100], alt_of(s[100]), "snv1"),
        record("chrI", 201, s[200], f"{alt_of(s[200])},{alt_of(alt_of(s[200]))}", "multi"),
        record("chrI", 301, s[300:302], s[300], "del"),
        record("chrI", 401, s[400], s[400] + "AC", "ins"),
        record("chrI", 501, s[500:502], alt_of(s[500]) + alt_of(s[501]), "mnp"),
        record("chrI", 601, s[600], "<DEL>", "sv"),
        record("chrI", 701, s[700], "*", "star"),
        record("chrI", len(s), s[-1], alt_of(s[-1]), "contig_end"),
        record("chrVI", 2, CONTIGS["chrVI"][1], alt_of(CONTIGS["chrVI"][1]), "contig_start"),
    ])


def test_every_allele_is_written_with_a_score_or_a_reason(tmp_path, fasta):
    out = tmp_path / "scores.tsv"
    summary = score_variants(tiny_model(6), fasta, cases_vcf(tmp_path), out, window=200)
    header = [line for line in out.read_text().splitlines() if line.startswith("##")]
    assert "ln P(alt) - ln P(ref)" in header[0], "the formula heads the output"
    table = pd.read_csv(out, sep="\t", comment="#", keep_default_na=False)
    assert table["id"].tolist() == ["snv1", "multi", "multi", "del", "ins", "mnp", "sv", "star", "contig_end",
                                    "contig_start"]
    by_id = table.groupby("id")["reason"].first().to_dict()
    assert (by_id["del"], by_id["ins"], by_id["mnp"], by_id["sv"], by_id["star"]) == (
        "indel", "indel", "mnp", "symbolic", "star")
    scored = table[table["reason"] == ""]
    assert set(scored["id"]) == {"snv1", "multi", "contig_end", "contig_start"}
    assert all(math.isfinite(float(v)) for v in scored["score"])
    assert (table.loc[table["reason"] != "", "score"] == "").all()
    assert summary.scored == 5 and summary.skipped == {"indel": 2, "mnp": 1, "symbolic": 1, "star": 1}
    saved = json.loads(out.with_name("scores.tsv.summary.json").read_text())
    assert saved["rows"] == 10 and saved["variants_per_second"] > 0
    assert VariantScoresSummary.load(out.with_name("scores.tsv.summary.json")) == summary


def test_plain_gzip_and_bgzip_vcf_and_fasta_agree(tmp_path, fasta):
    plain = cases_vcf(tmp_path)
    gzipped = tmp_path / "cases.vcf.gz"
    gzipped.write_bytes(gzip.compress(plain.read_bytes()))
    bgzipped = tmp_path / "cases.bgz.vcf.gz"
    pysam.tabix_compress(str(plain), str(bgzipped))
    bgzip_fasta = tmp_path / "yeast.fa.gz"
    pysam.tabix_compress(str(fasta), str(bgzip_fasta))
    model = tiny_model(1)
    tables = []
    for vcf, genome in [(plain, fasta), (gzipped, fasta), (bgzipped, bgzip_fasta)]:
        out = tmp_path / f"{vcf.name}.{genome.name}.tsv"
        score_variants(model, genome, vcf, out, window=64)
        tables.append(out.read_text().splitlines()[2:])
    assert tables[0] == tables[1] == tables[2]


def test_plain_gzip_fasta_says_how_to_recompress(tmp_path, fasta):
    gzipped = tmp_path / "yeast.fa.gz"
    gzipped.write_bytes(gzip.compress(fasta.read_bytes()))
    with pytest.raises(ValueError, match="plain gzip.*bgzip"):
        ReferenceGenome(gzipped)


def test_plain_gzip_fasta_is_read_from_a_bgzf_copy_beside_the_output(tmp_path, fasta):
    gzipped = tmp_path / "yeast.fa.gz"  # as NCBI serves genomes: plain gzip, which htslib cannot index
    gzipped.write_bytes(gzip.compress(fasta.read_bytes()))
    model, vcf = tiny_model(1), cases_vcf(tmp_path)
    plain = score_variants(model, fasta, vcf, tmp_path / "plain.tsv", window=64)
    first = score_variants(model, gzipped, vcf, tmp_path / "out" / "a.tsv", window=64)
    copy = tmp_path / "out" / "reference_cache" / first.genome_bgzf_copy.rsplit("/", 1)[-1]
    assert first.genome_bgzf_copy == str(copy) and copy.name.endswith("-yeast.fa.gz")
    assert plain.genome_bgzf_copy is None and pysam.FastaFile(str(copy)).fetch("chrVI") == CONTIGS["chrVI"]
    rows = [(tmp_path / name).read_text().splitlines()[2:] for name in ("out/a.tsv", "plain.tsv")]
    assert rows[0] == rows[1], "the same scores as from the plain FASTA"
    made = copy.stat().st_mtime_ns
    again = score_variants(model, gzipped, vcf, tmp_path / "out" / "b.tsv", window=64)
    assert again.genome_bgzf_copy == str(copy) and copy.stat().st_mtime_ns == made, "reused, not rewritten"
    assert list(copy.parent.glob("*-yeast.fa.gz")) == [copy]


def test_unknown_contigs_stop_or_are_written_with_their_reason(tmp_path, fasta):
    s = CONTIGS["chrI"]
    vcf = write_vcf(tmp_path / "x.vcf", [record("chrI", 101, s[100], alt_of(s[100]), "kept"),
                                         record("plasmid", 7, "A", "C,G", "elsewhere"),
                                         record("chrI", 201, s[200], alt_of(s[200]), "after")])
    with pytest.raises(VariantFileError, match=r"line 4 \(plasmid:7 elsewhere\): contig 'plasmid' is not in .*"
                                               r"--skip_unknown_contigs writes such records"):
        score_variants(tiny_model(1), fasta, vcf, tmp_path / "x.tsv", window=64)
    for output in ("x.tsv", "x.vcf.gz"):
        summary = score_variants(tiny_model(1), fasta, vcf, tmp_path / output, window=64, skip_unknown_contigs=True)
        assert summary.scored == 2 and summary.skipped == {"unknown_contig": 2}
    table = pd.read_csv(tmp_path / "x.tsv", sep="\t", comment="#", keep_default_na=False)
    assert table["reason"].tolist() == ["", "unknown_contig", "unknown_contig", ""]
    with pysam.VariantFile(str(tmp_path / "x.vcf.gz")) as written:
        reasons = [record.info.get("FGM_REASON") for record in written]
    assert reasons == [(".",), ("unknown_contig", "unknown_contig"), (".",)]


def test_a_window_beyond_the_training_context_is_scored_with_a_warning(tmp_path, fasta, caplog):
    model, tokenizer = tiny_model(1)
    tokenizer.model_max_length = 101  # trained at 100 bases
    s = CONTIGS["chrI"]
    vcf = write_vcf(tmp_path / "x.vcf", [record("chrI", 1001, s[1000], alt_of(s[1000]))])
    with caplog.at_level("WARNING"):
        assert score_variants((model, tokenizer), fasta, vcf, tmp_path / "a.tsv").window == 100
    assert not caplog.records
    with caplog.at_level("WARNING"):
        summary = score_variants((model, tokenizer), fasta, vcf, tmp_path / "b.tsv", window=10_000_000)
        assert summary.window == 10_000_000
    assert "windows of 10,000,000 bases: longer than the 100 bases this model was trained at" in caplog.text


WRONG_BASE = next(b for b in "ACGT" if b != CONTIGS["chrI"][100])


@pytest.mark.parametrize("fields, message", [
    (record("chrI", 101, WRONG_BASE, "A"), rf"line 4 \(chrI:101 \.\): REF is '{WRONG_BASE}' but .* has"),
    (record("I", 101, CONTIGS["chrI"][100], "A"), r"line 4 .*contig 'I' is not in .*chrI, chrVI.*rename-chroms add-chr"),
    (record("chrI", 3_001, "A", "C"), r"line 4 .*past the end of chrI \(3,000 bases"),
    (("chrI", "x7", ".", "A", "C", ".", ".", "."), r"line 4: malformed record .*POS 'x7' is not a positive integer"),
    (("chrI", "9", ".", "A"), r"line 4: malformed record .*4 tab-separated columns"),
])
def test_bad_input_errors_name_file_line_and_record(tmp_path, fasta, fields, message):
    good = record("chrI", 11, CONTIGS["chrI"][10], alt_of(CONTIGS["chrI"][10]))
    vcf = write_vcf(tmp_path / "bad.vcf", [good, fields])  # the bad record is on line 4
    out = tmp_path / "out.tsv"
    with pytest.raises(VariantFileError, match=message) as err:
        score_variants(tiny_model(1), fasta, vcf, out, window=64)
    assert str(vcf) in str(err.value)
    assert not out.exists() and not out.with_name("out.tsv.partial.tsv").exists(), "nothing half-written"


def test_skip_ref_mismatch_and_rename_chroms(tmp_path, fasta):
    s = CONTIGS["chrI"]
    wrong = "A" if s[100] != "A" else "C"
    vcf = write_vcf(tmp_path / "x.vcf", [record("I", 101, wrong, "T"), record("I", 201, s[200], alt_of(s[200]))])
    out = tmp_path / "x.tsv"
    summary = score_variants(tiny_model(1), fasta, vcf, out, window=64, skip_ref_mismatch=True,
                             rename_chroms="add-chr")
    table = pd.read_csv(out, sep="\t", comment="#", keep_default_na=False)
    assert table["reason"].tolist() == ["ref_mismatch", ""] and table["chrom"].tolist() == ["I", "I"]
    assert summary.skipped == {"ref_mismatch": 1}


# -------------------------------------------------------------------------------------- outputs and resume


def test_parquet_and_vcf_outputs_carry_the_same_scores(tmp_path, fasta):
    vcf, model = cases_vcf(tmp_path), tiny_model(1)
    score_variants(model, fasta, vcf, tmp_path / "s.tsv", window=64)
    tsv = pd.read_csv(tmp_path / "s.tsv", sep="\t", comment="#")
    score_variants(model, fasta, vcf, tmp_path / "s.parquet", window=64)
    parquet = pd.read_parquet(tmp_path / "s.parquet")
    np.testing.assert_allclose(parquet["score"], tsv["score"], equal_nan=True)
    import pyarrow.parquet as pq

    assert "ln P(alt)" in json.loads(pq.read_schema(tmp_path / "s.parquet").metadata[b"fgm"])["formula"]
    score_variants(model, fasta, vcf, tmp_path / "s.vcf.gz", window=64)
    with pysam.VariantFile(str(tmp_path / "s.vcf.gz")) as written:
        assert "FGM_LLR" in written.header.info and "ln P(alt)" in written.header.info["FGM_LLR"].description
        records = list(written)
    assert len(records) == 9
    multi = records[1]
    np.testing.assert_allclose(multi.info["FGM_LLR"], tsv.loc[tsv["id"] == "multi", "score"], rtol=1e-5)
    assert records[2].info["FGM_REASON"] == ("indel",) and records[2].info["FGM_LLR"] == (None,)


def test_resume_continues_a_partial_run_with_identical_numbers(tmp_path, fasta, monkeypatch):
    monkeypatch.setattr(fgm.variants, "CHUNK_ROWS", 3)
    vcf, model = cases_vcf(tmp_path), tiny_model(6)
    straight = tmp_path / "straight.tsv"
    score_variants(model, fasta, vcf, straight, window=150)

    resumed = tmp_path / "resumed.tsv"
    calls = []
    original = VariantScorer.score

    def interrupted(self, genome, snvs):
        calls.append(len(snvs))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, genome, snvs)

    monkeypatch.setattr(VariantScorer, "score", interrupted)
    with pytest.raises(KeyboardInterrupt):
        score_variants(model, fasta, vcf, resumed, window=150)
    partial = tmp_path / "resumed.tsv.partial.tsv"
    assert not resumed.exists() and len(partial.read_text().splitlines()) == 3 + 6  # two chunks of 3 rows
    monkeypatch.setattr(VariantScorer, "score", original)
    summary = score_variants(model, fasta, vcf, resumed, window=150, resume=True)
    assert resumed.read_text() == straight.read_text() and not partial.exists()
    assert summary.scored == 5
    with pytest.raises(ValueError, match="other settings"):
        partial.write_text(straight.read_text())
        score_variants(model, fasta, vcf, resumed, window=151, resume=True)


# ---------------------------------------------------------------------------------------------- the summary

# OUTPUT.summary.json as `fgm score-variants` wrote it before the results were typed
SAVED_SUMMARY = """{
  "output": "runs/scores.vcf.gz",
  "rows": 10,
  "scored": 5,
  "skipped": {"indel": 2, "mnp": 1, "symbolic": 1, "star": 1},
  "variants_per_second": 41.5,
  "model": "runs/demo/model",
  "genome": "data/genomes/sacCer_S288C.fa.gz",
  "vcf": "data/examples/yeast_variants.vcf",
  "window": 1200,
  "frames": "all",
  "strands": "both",
  "kmer_size": 6,
  "genome_bgzf_copy": "runs/reference_cache/0123abcd-sacCer_S288C.fa.gz"
}
"""


def test_a_saved_summary_reads_back_as_it_was_written(tmp_path):
    path = tmp_path / "scores.vcf.gz.summary.json"
    path.write_text(SAVED_SUMMARY)
    summary = VariantScoresSummary.load(path)
    assert summary.skipped == {"indel": 2, "mnp": 1, "symbolic": 1, "star": 1} and summary.window == 1200
    assert summary.to_json() == json.loads(SAVED_SUMMARY) and list(summary.to_json()) == list(json.loads(SAVED_SUMMARY))
    resumed = {**json.loads(SAVED_SUMMARY), "variants_per_second": None}  # a resumed run with nothing left to score
    del resumed["genome_bgzf_copy"]  # a FASTA read as it is
    assert VariantScoresSummary.from_json(resumed).to_json() == resumed


@pytest.mark.parametrize("key", ["kmer_size", "n_scored"])
def test_a_summary_with_a_missing_or_unknown_key_is_refused(tmp_path, key):
    data = json.loads(SAVED_SUMMARY)
    data = {k: v for k, v in data.items() if k != key} if key in data else {**data, key: 5}
    path = tmp_path / "x.summary.json"
    path.write_text(json.dumps(data))
    with pytest.raises(OutdatedResult, match=rf"{re.escape(str(path))}.*VariantScoresSummary.*{key}.*"
                                             "run `fgm score-variants` again"):
        VariantScoresSummary.load(path)
