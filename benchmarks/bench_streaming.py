#!/usr/bin/env python
"""Memory of corpus building and of streaming pretraining against the size of the corpus (issue 26's targets).

1. `fgm corpus --manifest` over 20 genome files (the bundled yeast genome cut into one file per record, and
   Drosophila chromosome 4 under four species names): peak RSS against that of a build from one small file, beside
   the largest record (the corpus is built one record at a time, so only the largest should be held at once).
2. `fgm pretrain` of a tiny model for a fixed number of steps on corpora of 1x, 4x and 16x the yeast genome (the
   same genome under other species names), from Parquet shards with `--streaming` and from the in-memory (Arrow,
   memory-mapped) corpus: peak RSS per corpus size. A stream holds its shuffle buffer and the shards it fills it
   from (`--shuffle_shards`, each in proportion to its size), so its memory should not grow with the corpus once
   the buffer is full and more shards exist than are open: a buffer of 1,000 windows (6 Mb, full at every size)
   and small shards (4 Mb: 3, 12 and 48 of them) show that; the default buffer of 10,000 windows (60 Mb) fills only
   in the 16x corpus, and one open shard instead of 10 shows what the open shards hold.

Each command runs in a child process under `/usr/bin/time -v` (its "Maximum resident set size").

Usage:
  python benchmarks/bench_streaming.py --out benchmarks/results_streaming.md
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
YEAST = REPO / "data" / "genomes" / "sacCer_S288C.fa.gz"
DMEL = REPO / "data" / "genomes" / "drosophila_chr4" / "DmelanDM6_4.fna.gz"


def peak_rss(command: list[str]) -> int:
    """Peak RSS (bytes) of `command`, run to completion in a child process."""
    run = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    if run.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{run.stderr[-3000:]}")
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr).group(1)) * 1024


def records(path: Path) -> list[tuple[str, str]]:
    out, name, parts = [], None, []
    with gzip.open(path, "rt") as handle:
        for line in handle:
            if line.startswith(">"):
                if name:
                    out.append((name, "".join(parts)))
                name, parts = line[1:].split()[0], []
            else:
                parts.append(line.strip())
    return out + [(name, "".join(parts))]


def twenty_files(folder: Path) -> tuple[Path, int]:
    """A manifest of 20 genome files and the length of the largest record."""
    rows, largest = ["path\tspecies"], 0
    for name, sequence in records(YEAST):
        (folder / f"{name}.fa").write_text(f">{name}\n{sequence}\n")
        rows.append(f"{name}.fa\tyeast")
        largest = max(largest, len(sequence))
    for species in ("fly", "fly_b", "fly_c", "fly_d"):
        (folder / f"{species}.fna.gz").symlink_to(DMEL)
        rows.append(f"{species}.fna.gz\t{species}")
    assert len(rows) - 1 == 20, len(rows)
    (folder / "twenty.tsv").write_text("\n".join(rows) + "\n")
    (folder / "small.fa").write_text(">chrI\n" + dict(records(YEAST))["chrI"] + "\n")
    (folder / "small.tsv").write_text("path\tspecies\nsmall.fa\tyeast\n")
    largest = max(largest, len(records(DMEL)[0][1]))
    return folder / "twenty.tsv", largest


def copies_manifest(folder: Path, copies: int) -> Path:
    path = folder / f"yeast_x{copies}.tsv"
    path.write_text("path\tspecies\n" + "".join(f"{YEAST}\tyeast{i}\n" for i in range(copies)))
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="benchmarks/results_streaming.md")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--copies", default="1,4,16")
    parser.add_argument("--shard_bases", default="4m", help="shard size of the pretraining corpora (small, so that "
                        "every size but the first has more shards than a stream opens at once)")
    args = parser.parse_args()
    fgm = [sys.executable, "-m", "fgm.cli"]
    mib = 1024**2
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        manifest, largest = twenty_files(tmp)
        build = ["corpus", "--format", "shards", "--window", "6k", "--val_frac", "0.05", "--quiet", "--cache_dir",
                 str(tmp / "cache")]
        small = peak_rss(fgm + build + ["--manifest", str(tmp / "small.tsv"), "--output_dir", str(tmp / "s")])
        twenty = peak_rss(fgm + build + ["--manifest", str(manifest), "--output_dir", str(tmp / "t")])
        lines = [
            "# Memory of corpus building and of streaming pretraining", "",
            f"Command: `python benchmarks/bench_streaming.py --out {args.out}`; machine: {platform.machine()}, "
            f"{os.cpu_count()} CPU cores, Python {platform.python_version()} (peak RSS from `/usr/bin/time -v`).", "",
            "## Building a corpus from 20 genome files (one record at a time)", "",
            "| build | peak RSS (MiB) |", "| --- | --- |",
            f"| one file, yeast chrI (230 kb) | {small / mib:,.0f} |",
            f"| 20 files (yeast's 16 records one per file, Drosophila chr4 four times), 6 kb windows, shards | "
            f"{twenty / mib:,.0f} |",
            "", f"The largest record has {largest:,} bases; the 20-file build needs {(twenty - small) / mib:,.0f} MiB "
            "more than the one-file build.", "",
            "## Pretraining a tiny model: peak RSS against the corpus's size", "",
            f"{args.steps} steps of 8 windows of 200 bases (`--preset tiny --kmer_size 1`), on N copies of the yeast "
            f"genome (12.1 Mb each, under other species names), 6 kb windows in shards of {args.shard_bases} bases; "
            "streamed through a shuffle buffer of B windows filled from S shards at a time (`--shuffle_buffer B "
            "--shuffle_shards S`; the defaults are 10,000 and 10), or read in memory.", "",
            "| corpus | bases | shards | streaming, B 1,000, S 10 (MiB) | streaming, B 10,000, S 10 (MiB) | "
            "streaming, B 10,000, S 1 (MiB) | in memory, Arrow (MiB) |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
        for copies in (int(c) for c in args.copies.split(",")):
            listing = copies_manifest(tmp, copies)
            corpora = {}
            for fmt in ("shards", "arrow"):
                corpora[fmt] = tmp / f"x{copies}_{fmt}"
                subprocess.run(fgm + ["corpus", "--manifest", str(listing), "--format", fmt, "--window", "6k",
                                      "--shard_bases", args.shard_bases,
                                      "--val_frac", "0.01", "--quiet", "--cache_dir", str(tmp / "cache"),
                                      "--output_dir", str(corpora[fmt])], check=True, capture_output=True)
            train = ["pretrain", "--preset", "tiny", "--kmer_size", "1", "--max_length", "201", "--max_steps",
                     str(args.steps), "--per_device_train_batch_size", "8", "--eval_strategy", "no",
                     "--save_steps", "100000", "--report_to", "none", "--disable_tqdm", "true"]
            streamed = [peak_rss(fgm + train + [
                "--corpus", str(corpora["shards"]), "--streaming", "--shuffle_buffer", str(buffer),
                "--shuffle_shards", str(open_shards), "--output_dir", str(tmp / f"m{copies}s{buffer}_{open_shards}")])
                for buffer, open_shards in ((1_000, 10), (10_000, 10), (10_000, 1))]
            in_memory = peak_rss(fgm + train + ["--corpus", str(corpora["arrow"]), "--output_dir",
                                                str(tmp / f"m{copies}a")])
            shards = len(list((corpora["shards"] / "train").glob("shard_*.parquet")))
            lines.append(f"| yeast x {copies} | {copies * 12_071_326:,} | {shards} | "
                         + " | ".join(f"{peak / mib:,.0f}" for peak in streamed) + f" | {in_memory / mib:,.0f} |")
            print(lines[-1], flush=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
