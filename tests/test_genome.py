"""Genome readers (fgm.data.genome) and windows (fgm.data.windows) on the bundled real genomes and on broken files
made here."""

import bz2
import gzip
import lzma
import random

import pytest

from fgm.data import bundled_genome
from fgm.data.genome import (
    GenomeFormatError,
    ReadStats,
    detect_format,
    genome_stem,
    iter_records,
    read_genome,
    scan_genome,
)
from fgm.data.windows import count_windows, covered_bases, iter_windows, resolve_genomes, window_spans

YEAST_CHROMS = ["chrI", "chrII", "chrIII", "chrIV", "chrV", "chrVI", "chrVII", "chrVIII", "chrIX",
                "chrX", "chrXI", "chrXII", "chrXIII", "chrXIV", "chrXV", "chrXVI"]


@pytest.fixture(scope="module")
def yeast():
    return read_genome(bundled_genome())


def write(path, text: str | bytes):
    data = text.encode() if isinstance(text, str) else text
    path.write_bytes(data)
    return path


def fasta_text(records, width=60):
    out = []
    for name, seq in records:
        out.append(f">{name} test record\n")
        out.extend(seq[i:i + width] + "\n" for i in range(0, len(seq), width))
    return "".join(out)


def multi_member_gzip(data: bytes, cuts=(1000, 4321, 9999)) -> bytes:
    """bgzip-like: independent gzip members cut at arbitrary (not line) positions, plus the
    empty EOF member bgzip writes."""
    bounds = [0, *[c for c in cuts if c < len(data)], len(data)]
    members = [gzip.compress(data[a:b]) for a, b in zip(bounds, bounds[1:])]
    return b"".join(members) + gzip.compress(b"")


# ---------------------------------------------------------------------------- real genomes


def test_yeast_genome_streams_with_exact_size_and_names():
    index = scan_genome(bundled_genome())
    assert index.format == "fasta"
    assert index.names == YEAST_CHROMS
    assert index.total_length == 12_071_326
    assert index.bad_records == []
    assert all(r.n_count == 0 for r in index.records)
    # the same through the record API, one record at a time
    total, n_records = 0, 0
    for rec, info in zip(iter_records(bundled_genome()), index.records):
        assert (rec.name, len(rec.sequence), rec.index) == (info.name, info.length, info.index)
        assert set(rec.sequence) == set("ACGT")
        total += len(rec.sequence)
        n_records += 1
    assert (n_records, total) == (16, 12_071_326)
    assert index.lengths["chrI"] == 230_218


def test_drosophila_chr4_bgzip_reads():
    path = bundled_genome("dm6_chr4")
    raw = path.read_bytes()
    assert raw[:2] == b"\x1f\x8b" and raw[12:14] == b"BC"  # really BGZF (bgzip)
    index = scan_genome(path)
    [rec] = index.records
    assert rec.name == "NC_004353.4"
    assert rec.description == "Drosophila melanogaster chromosome 4"
    assert rec.length == 1_348_131
    assert rec.n_count == 17_000
    seq = read_genome(path)["NC_004353.4"]
    assert set(seq) == set("ACGTN")  # soft-masked lowercase read as upper case
    assert seq.startswith("TTATTATATTATTATATTATTATATTATTATATTATTATATTATT")


# ---------------------------------------------------------------------------- formats


def test_plain_gzip_multimember_bz2_xz_agree(tmp_path, yeast):
    records = [("chrI", yeast["chrI"][:20_000]), ("chrVI", yeast["chrVI"][5_000:17_000])]
    text = fasta_text(records, width=70).encode()
    files = [
        write(tmp_path / "g.fa", text),
        write(tmp_path / "g.fa.gz", gzip.compress(text)),
        write(tmp_path / "g.bgz.fa.gz", multi_member_gzip(text)),
        write(tmp_path / "g.fa.bz2", bz2.compress(text)),
        write(tmp_path / "g.fasta.xz", lzma.compress(text)),
        write(tmp_path / "no_extension", gzip.compress(text)),  # format from the content
    ]
    for path in files:
        assert read_genome(path) == dict(records), path.name
        assert detect_format(path) == "fasta"


def test_line_layout_does_not_matter(tmp_path):
    # CRLF, blank lines, an unwrapped line, lowercase, IUPAC codes, no final newline
    text = (">a first\r\nACGTacgt\r\n\r\nRYSWKMBDHVn\r\n>b\nAC GT\tAC\n\n>c last record\n"
            + "acgt" * 50 + "\n>d\nTTTT")
    path = write(tmp_path / "t.fa", text)
    expected = {"a": "ACGTACGTNNNNNNNNNNN", "b": "ACGTAC", "c": "ACGT" * 50, "d": "TTTT"}
    records = list(iter_records(path))
    assert {r.name: r.sequence for r in records} == expected
    assert [r.description for r in records] == ["first", "", "last record", ""]
    # the error position too, with CRLF line ends and after a space and a tab
    for text, column in ((">a\nACGT\n>b\nACGTACGT\nACGTAC-T\nACGT\n", 7),
                         (">a\r\nACGT\r\n>b\r\nACGTACGT\r\nAC GT\tAC-T\r\nACGT\r\n", 9)):
        with pytest.raises(GenomeFormatError) as err:
            scan_genome(write(tmp_path / "bad.fa", text))
        assert (err.value.record, err.value.line) == ("b", 5)
        assert f"'-' at column {column}" in str(err.value)


def test_lowercase_and_iupac_become_upper_acgtn(tmp_path):
    path = write(tmp_path / "x.fa", ">r\nacgtnRYSWKMBDHVryswkmbdhv\n")
    assert read_genome(path) == {"r": "ACGTN" + "N" * 20}


def genbank_text(name, seq, *, accession=None, version=None, locus_length=None, origin=True,
                 close=True):
    lines = [
        f"LOCUS       {name:<16}{locus_length or len(seq):>12} bp    DNA     linear   CON "
        "09-MAR-2018",
        "DEFINITION  Saccharomyces cerevisiae S288C chromosome slice,",
        "            written for the FGM tests.",
    ]
    if accession:
        lines.append(f"ACCESSION   {accession}")
    if version:
        lines.append(f"VERSION     {version}")
    lines += [
        "KEYWORDS    RefSeq.",
        "SOURCE      Saccharomyces cerevisiae S288C",
        "  ORGANISM  Saccharomyces cerevisiae S288C",
        "            Eukaryota; Fungi; Dikarya; Ascomycota; Saccharomycotina.",
        "FEATURES             Location/Qualifiers",
        f"     source          1..{len(seq)}",
        '                     /organism="Saccharomyces cerevisiae S288C"',
        '                     /mol_type="genomic DNA"',
        "     gene            complement(<1..>40)",
        '                     /locus_tag="YAL068C"',
    ]
    if origin:
        lines.append("ORIGIN      ")
        low = seq.lower()
        for i in range(0, len(low), 60):
            groups = " ".join(low[j:j + 10] for j in range(i, min(i + 60, len(low)), 10))
            lines.append(f"{i + 1:>9} {groups}")
    if close:
        lines.append("//")
    return "\n".join(lines) + "\n"


def test_genbank_matches_fasta_slice(tmp_path, yeast):
    s1 = yeast["chrI"][1_000:4_321]
    s2 = yeast["chrVI"][:777]
    text = (genbank_text("NC_001133", s1, accession="NC_001133", version="NC_001133.9")
            + genbank_text("chrVI_slice", s2, accession="."))
    for path in (write(tmp_path / "y.gbk", text), write(tmp_path / "y.gb.gz", gzip.compress(text.encode())),
                 write(tmp_path / "y.txt", text)):
        assert detect_format(path) == "genbank"
        records = list(iter_records(path))
        # VERSION wins over ACCESSION and LOCUS; without both, the LOCUS name
        assert [r.name for r in records] == ["NC_001133.9", "chrVI_slice"]
        # Biopython drops the DEFINITION's final period, as NCBI's FASTA headers do
        assert records[0].description == ("Saccharomyces cerevisiae S288C chromosome slice, "
                                          "written for the FGM tests")
        assert read_genome(path) == {"NC_001133.9": s1, "chrVI_slice": s2}
    assert scan_genome(tmp_path / "y.gbk").lengths == {"NC_001133.9": 3_321, "chrVI_slice": 777}


@pytest.mark.parametrize("kwargs, message, line", [
    ({"locus_length": 999}, "LOCUS line says 999 bp", 1),
    ({"origin": False}, "no ORIGIN", 1),
    ({"close": False}, "not closed by '//'", None),
])
def test_genbank_errors(tmp_path, yeast, kwargs, message, line):
    good = genbank_text("GOOD", yeast["chrI"][:300])
    path = write(tmp_path / "bad.gbk", good + genbank_text("BROKEN", yeast["chrI"][:500], **kwargs))
    with pytest.raises(GenomeFormatError) as err:
        read_genome(path)
    assert str(path) in str(err.value) and "record 'BROKEN'" in str(err.value)
    assert message in str(err.value)
    if line is not None:  # the LOCUS line of the broken record
        assert err.value.line == good.count("\n") + line
    stats = ReadStats()
    got = [r.name for r in iter_records(path, skip_bad_records=True, stats=stats)]
    assert got == ["GOOD"] and stats.skipped == 1


def test_genbank_bad_character_names_line(tmp_path, yeast):
    text = genbank_text("G1", yeast["chrI"][:600]).splitlines()
    origin = text.index("ORIGIN      ")
    text[origin + 3] = text[origin + 3][:20] + "x" + text[origin + 3][21:]
    path = write(tmp_path / "x.gb", "\n".join(text) + "\n")
    with pytest.raises(GenomeFormatError) as err:
        read_genome(path)
    assert (err.value.record, err.value.line) == ("G1", origin + 4)
    assert "invalid character 'x' at column 21" in str(err.value)


def test_genbank_record_not_closed_before_the_next_one(tmp_path, yeast):
    # each record is cut at its LOCUS line before Biopython parses it: an unclosed record does
    # not swallow the next one, and text between records is reported, not skipped
    first = genbank_text("A1", yeast["chrI"][:300], version="NC_1.1")
    locus = first.count("\n") + 1  # the LOCUS line of B2
    text = (first + genbank_text("B2", yeast["chrI"][:500], close=False)
            + genbank_text("C3", yeast["chrVI"][:200]) + "stray text\n"
            + genbank_text("D4", yeast["chrVI"][:100]))
    path = write(tmp_path / "open.gbk", text)
    with pytest.raises(GenomeFormatError, match=f"record 'B2', line {locus}: the record is not closed"):
        read_genome(path)
    index = scan_genome(path, skip_bad_records=True)
    assert index.lengths == {"NC_1.1": 300, "C3": 200, "D4": 100}
    stray = text.splitlines().index("stray text") + 1
    assert [(r.name, r.error) for r in index.bad_records] == [
        ("B2", f"line {locus}: the record is not closed by '//' (truncated file?)"),
        (None, f"line {stray}: expected a LOCUS line to start a GenBank record")]


# ---------------------------------------------------------------------------- errors


def test_sequence_before_header(tmp_path):
    path = write(tmp_path / "nohead.fa", "\nACGTACGT\n>r\nACGT\n")
    with pytest.raises(GenomeFormatError) as err:
        read_genome(path)
    msg = str(err.value)
    assert str(path) in msg and "line 2" in msg and "before the first '>' header" in msg


def test_empty_record(tmp_path):
    path = write(tmp_path / "empty.fa", ">a\nACGT\n>b desc\n\n>c\nAAAA\n")
    with pytest.raises(GenomeFormatError) as err:
        read_genome(path)
    assert (err.value.path, err.value.record, err.value.line) == (str(path), "b", 3)
    assert "no sequence" in str(err.value)
    # a header on the very last line, without sequence, too
    path = write(tmp_path / "empty_last.fa", ">a\nACGT\n>z")
    with pytest.raises(GenomeFormatError, match=r"record 'z', line 3: the record has no sequence"):
        read_genome(path)


@pytest.mark.parametrize("char, hint", [("X", "protein"), ("-", "alignment"), ("U", "RNA"),
                                        ("5", "digits"), ("é", "")])
def test_bad_character(tmp_path, char, hint):
    path = write(tmp_path / "bad.fa", f">a\nACGT\n>chr2 second\nACGTACGT\nACGTAC{char}T\n")
    with pytest.raises(GenomeFormatError) as err:
        read_genome(path)
    msg = str(err.value)
    assert str(path) in msg and "record 'chr2'" in msg and "line 5" in msg
    assert "column 7" in msg and hint in msg
    if char.isascii():
        assert f"invalid character '{char}'" in msg


def test_header_problems(tmp_path):
    with pytest.raises(GenomeFormatError, match="line 3: header line without a record name"):
        read_genome(write(tmp_path / "a.fa", ">a\nAC\n> \nAC\n"))
    with pytest.raises(GenomeFormatError, match=r"record 'a', line 3: duplicate record name 'a' "
                                                r"\(first at line 1\)"):
        read_genome(write(tmp_path / "b.fa", ">a\nAC\n>a again\nAC\n"))


def test_truncated_gzip(tmp_path, yeast):
    text = fasta_text([("chrI", yeast["chrI"]), ("chrVI", yeast["chrVI"])]).encode()
    data = gzip.compress(text)
    path = write(tmp_path / "cut.fa.gz", data[: len(data) // 3])  # cut inside chrI
    for skip in (False, True):  # never skippable: what is missing is unknown
        with pytest.raises(GenomeFormatError) as err:
            scan_genome(path, skip_bad_records=skip)
        msg = str(err.value)
        assert str(path) in msg and "truncated or corrupt" in msg and "record 'chrI'" in msg
        assert err.value.line > 1
    # so small that not even the first block decompresses
    tiny = write(tmp_path / "tiny.fa.gz", data[:30])
    with pytest.raises(GenomeFormatError, match="truncated or corrupt"):
        read_genome(tiny)
    # a flipped byte: gzip's CRC check or zlib catches it
    broken = bytearray(data)
    broken[len(broken) // 2] ^= 0xFF
    with pytest.raises(GenomeFormatError, match="truncated or corrupt"):
        read_genome(write(tmp_path / "flip.fa.gz", bytes(broken)))


def test_unknown_and_empty_files(tmp_path):
    with pytest.raises(GenomeFormatError, match="cannot tell the format"):
        detect_format(write(tmp_path / "notes.txt", "hello\n"))
    with pytest.raises(GenomeFormatError, match="empty"):
        detect_format(write(tmp_path / "empty.fa", "\n\n"))
    with pytest.raises(GenomeFormatError, match="zstd"):
        detect_format(write(tmp_path / "z.fa.zst", b"\x28\xb5\x2f\xfd" + bytes(20)))
    with pytest.raises(FileNotFoundError):
        scan_genome(tmp_path / "missing.fa")


def test_skip_bad_records_counts(tmp_path, yeast):
    text = ("ACGT\n"  # before any header
            + ">good1\n" + yeast["chrI"][:100] + "\n"
            + ">empty\n"
            + ">badchar\nACGTXX\n"
            + ">good2\n" + yeast["chrI"][100:250] + "\n"
            + ">good1\nACGT\n")  # duplicate
    path = write(tmp_path / "mixed.fa", text)
    with pytest.raises(GenomeFormatError):
        read_genome(path)
    stats = ReadStats()
    got = {r.name: r.sequence for r in iter_records(path, skip_bad_records=True, stats=stats)}
    assert got == {"good1": yeast["chrI"][:100], "good2": yeast["chrI"][100:250]}
    assert stats.skipped == 4
    index = scan_genome(path, skip_bad_records=True)
    assert [r.name for r in index.records] == ["good1", "good2"]
    reasons = {r.name: r.error for r in index.bad_records}
    assert "before the first '>' header" in reasons[None]
    assert "no sequence" in reasons["empty"]
    assert "invalid character 'X'" in reasons["badchar"]
    assert "duplicate" in reasons["good1"]


# ---------------------------------------------------------------------------- windows


def test_window_spans_partial_window_rule():
    assert window_spans(10, 4) == [(0, 4), (4, 8), (8, 10)]  # tail 2 >= min_window 2
    assert window_spans(10, 4, min_window=3) == [(0, 4), (4, 8)]
    assert window_spans(9, 4, 2) == [(0, 4), (2, 6), (4, 8), (6, 9)]  # one tail, new bases
    assert window_spans(8, 4, 2) == [(0, 4), (2, 6), (4, 8)]  # tail adds nothing: none
    assert window_spans(3, 6000) == []  # shorter than min_window
    assert window_spans(3000, 6000) == [(0, 3000)]
    assert window_spans(20, 4, 7) == [(0, 4), (7, 11), (14, 18)]  # gaps with stride > window
    with pytest.raises(ValueError):
        window_spans(10, 0)
    with pytest.raises(ValueError):
        window_spans(10, 4, min_window=5)


def test_windows_read_from_files_equal_window_spans(tmp_path):
    rng = random.Random(0)
    for case in range(300):
        length = rng.randint(0, 300)
        window = rng.randint(1, 40)
        stride = rng.randint(1, 50)
        min_window = rng.randint(1, window)
        seq = "".join(rng.choice("ACGT") for _ in range(length))
        spans = window_spans(length, window, stride, min_window)
        if length:  # through a file with random line widths
            path = write(tmp_path / f"r{case}.fa", fasta_text([("r", seq)], rng.randint(1, 80)))
            got = list(iter_windows(path, window, stride, min_window=min_window))
            assert [(w.start, w.end) for w in got] == spans
            assert all(w.sequence == seq[w.start:w.end] for w in got)
        assert count_windows(length, window, stride, min_window) == len(spans)
        covered = set()
        for s, e in spans:
            covered.update(range(s, e))
        assert covered_bases(length, window, stride, min_window) == len(covered)


def chunk_spans(length: int, window: int, overlap: int, k: int = 1) -> list[tuple[int, int]]:
    """fgm.training.finetune.chunk_spans before it became window_spans(last_window="shifted"), whose
    last window now also starts in the k-mer frame (rounded up): the reference apart from that."""
    if length <= window:
        return [(0, length)]
    step = max(k, ((window - overlap) // k) * k)
    spans, start = [], 0
    while start + window < length:
        spans.append((start, start + window))
        start += step
    spans.append((max(0, length - window), length))
    return spans


def test_shifted_last_window_equals_old_chunk_spans():
    rng = random.Random(1)
    for _ in range(3000):
        length = rng.randint(0, 400)
        k = rng.randint(1, 6)
        window = rng.randint(k, 80)
        overlap = rng.randint(0, window - 1)
        got = window_spans(length, window, window - overlap, frame=k, last_window="shifted")
        expected = chunk_spans(length, window, overlap, k)
        expected[-1] = (-(-expected[-1][0] // k) * k, length)
        assert got == expected, (length, window, overlap, k)
        assert all(start % k == 0 and end - start <= window for start, end in got)
    assert window_spans(100, 30, 15, frame=3, last_window="shifted") == [
        (0, 30), (15, 45), (30, 60), (45, 75), (60, 90), (72, 100)]
    with pytest.raises(ValueError, match="min_window"):
        window_spans(100, 30, min_window=10, last_window="shifted")
    with pytest.raises(ValueError, match="last_window"):
        window_spans(100, 30, last_window="end")


def test_iter_windows_match_genome(yeast):
    windows = list(iter_windows(bundled_genome(), 5_000, 3_000, chroms=["chrI", "chrVI"]))
    assert {w.chrom for w in windows} == {"chrI", "chrVI"}
    assert {w.source for w in windows} == {"sacCer_S288C"}
    for chrom in ("chrI", "chrVI"):
        spans = [(w.start, w.end) for w in windows if w.chrom == chrom]
        assert spans == window_spans(len(yeast[chrom]), 5_000, 3_000)
    assert all(w.sequence == yeast[w.chrom][w.start:w.end] for w in windows)


def test_resolve_genomes(tmp_path):
    dm = bundled_genome("dm6_chr4")
    assert resolve_genomes(str(dm)) == [("DmelanDM6_4", dm)]
    assert resolve_genomes([f"fly={dm}"]) == [("fly", dm)]
    assert resolve_genomes({"fly": dm}) == [("fly", dm)]
    assert resolve_genomes(dm.parent) == [("DmelanDM6_4", dm)]
    assert genome_stem("sacCer_S288C.fa.gz") == "sacCer_S288C"
    assert genome_stem("x.gbk") == "x"
    with pytest.raises(FileNotFoundError, match="genome file not found"):
        resolve_genomes(tmp_path / "nope.fa")
    with pytest.raises(FileNotFoundError, match="no genome files"):
        resolve_genomes(tmp_path)


def test_garbage_deflate_data_is_wrapped(tmp_path):
    # a gzip header followed by garbage deflate data: zlib.error inside gzip
    data = gzip.compress(b">a\nACGT\n")
    garbage = data[:10] + bytes([0xFF] * 20) + data[-8:]
    with pytest.raises(GenomeFormatError, match="truncated or corrupt"):
        read_genome(write(tmp_path / "garbage.fa.gz", garbage))


def test_nt_task_fasta_files_use_the_genome_reader(tmp_path):
    from fgm.training.task_data import DataFormatError, column, read_split

    path = write(tmp_path / "train.fna", ">s1|1 a description\nacgtn\nAC\n>s2|0\nRYAC\n")
    ds = read_split(path)
    assert column(ds, "sequence") == ["ACGTNAC", "NNAC"]  # the genome reader's alphabet
    assert column(ds, "label") == ["1", "0"] and column(ds, "name") == ["s1", "s2"]
    with pytest.raises(DataFormatError, match=r"no_label.fna: FASTA header '>s2' has no '\|label'"):
        read_split(write(tmp_path / "no_label.fna", ">s1|1\nACGT\n>s2\nACGT\n"))
    with pytest.raises(GenomeFormatError, match=r"record 's2\|0', line 5: invalid character '-' "
                                                r"at column 3 \(alignment gaps"):
        read_split(write(tmp_path / "gap.fna", ">s1|1\nACGT\n>s2|0\nACGT\nAC-GT\n"))
