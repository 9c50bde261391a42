"""Rebuild the NT-schema fixtures in this folder from the bundled UCI sets (data/*.tsv).

    python tests/data/nt/build_fixtures.py

splice_sites_all/  UCI primate splice-junction set (3 classes: ei = donor, ie = acceptor, n = neither),
                   60 nt; 3,186 rows -> 3,000 after removing repeated sequences (one sequence that occurs
                   with two different labels is dropped); stratified 80/20 train/test split, seed 0; CSV.
promoter_all/      UCI E. coli promoter set (2 classes: promoter / non_promoter), 57 nt, 106 rows, no
                   repeats; stratified 80/20 split, seed 0; TSV.
Columns: sequence, label, name (name = source file and 1-based data row).
"""

from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[2] / "data"


def build(source: str, task: str, prefix: str, sep: str, ext: str) -> None:
    frame = pd.read_csv(DATA / source, sep="\t", keep_default_na=False)
    frame["name"] = [f"{prefix}_{i + 1}" for i in range(len(frame))]
    frame["sequence"] = frame["sequence"].str.upper()
    conflicting = frame.groupby("sequence")["label"].nunique()
    conflicting = set(conflicting[conflicting > 1].index)
    frame = frame[~frame["sequence"].isin(conflicting)].drop_duplicates("sequence", keep="first")
    train, test = train_test_split(frame, test_size=0.2, random_state=0, stratify=frame["label"])
    out = HERE / task
    out.mkdir(exist_ok=True)
    for split, part in (("train", train), ("test", test)):
        part.sort_index()[["sequence", "label", "name"]].to_csv(out / f"{split}.{ext}", sep=sep, index=False)
    print(task, "train", len(train), "test", len(test), "dropped conflicting", len(conflicting))


if __name__ == "__main__":
    build("splice_uci.tsv", "splice_sites_all", "splice_uci", ",", "csv")
    build("promoter_ecoli_uci.tsv", "promoter_all", "promoter_ecoli_uci", "\t", "tsv")
