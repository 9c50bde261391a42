"""Loading, label encoding and splitting of sequence-classification data in the NT schema.

Schema: one row per sequence with columns `sequence` (str), `label` (str or int) and optionally
`name` (str, an identifier). Sources:

- the Hub: an NT task by name (`load_hub_task`); the dataset configuration is the task name and the
  splits are `train` / `test`;
- local files (`read_split`): `.csv`, `.tsv` (also `.csv.gz` / `.tsv.gz`), `.parquet`, `.json` /
  `.jsonl`, FASTA (`.fna` / `.fa` / `.fasta`, header `>name|label`, the NT files' format), or a folder
  written by `Dataset.save_to_disk` (a `DatasetDict` folder works when a split name is given);
- a benchmark folder (`find_task_files`): `DIR/<task>/train.<ext>` and `DIR/<task>/test.<ext>`
  (optionally `DIR/<task>/validation.<ext>`), or save_to_disk folders `DIR/<task>/train/`, or one
  `DatasetDict` folder `DIR/<task>/` with train/test splits.

String labels are mapped to ids in sorted order (integer-like strings such as "0", "1" are read as
integers); integer labels are kept. `label_names[i]` is the name of id `i`; the fine-tuned model's
config stores the same mapping as `id2label` / `label2id`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.genome import iter_records
from ..offline import hub_offline
from ..results import RECORD, Record, optional
from .nt_tasks import NTTask

logger = logging.getLogger(__name__)

SEQUENCE, LABEL, NAME = "sequence", "label", "name"
SPLIT_FILE_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".parquet", ".jsonl", ".json", ".fna", ".fa", ".fasta")


class HubUnavailableError(ConnectionError):
    """The Hub dataset could not be loaded (offline, no network, or no cached copy)."""


class DataFormatError(ValueError):
    """A data file does not follow the `sequence, label[, name]` schema."""


def local_files_hint(task_name: str | None = None) -> str:
    task = task_name or "<task>"
    return (
        "Pass local files in the same schema instead (columns sequence,label[,name]; CSV, TSV, parquet, "
        "JSON lines, FASTA '>name|label' or a save_to_disk folder):\n"
        "  fgm finetune --model_name_or_path CKPT --train_file train.csv --test_file test.csv "
        "[--validation_file valid.csv] --output_dir DIR\n"
        f"or, for the whole benchmark, a folder with one sub-folder per task ({task}/train.csv, {task}/test.csv):\n"
        "  fgm benchmark nt --model_name_or_path CKPT --data_dir DIR"
    )


# ----------------------------------------------------------------------------------------------- reading


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(SPLIT_FILE_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def _read_fasta(path: Path):
    """NT FASTA files (`>name|label`), read by the genome reader (it locates bad sequences)."""
    names, sequences, labels = [], [], []
    for record in iter_records(path):
        name, bar, label = record.name.rpartition("|")
        if not bar:
            raise DataFormatError(
                f"{path}: FASTA header '>{record.name}' has no '|label' suffix (expected '>name|label')"
            )
        names.append(name)
        labels.append(label)
        sequences.append(record.sequence)
    return {SEQUENCE: sequences, LABEL: labels, NAME: names}


def _read_table(path: Path):
    import pandas as pd

    suffix = _suffix(path)
    if suffix in (".csv", ".csv.gz", ".tsv", ".tsv.gz"):
        sep = "\t" if suffix.startswith(".tsv") else ","
        # keep_default_na=False: a label such as "NA" or "n" must stay a string, not become NaN
        try:
            frame = pd.read_csv(path, sep=sep, dtype={SEQUENCE: str, NAME: str}, keep_default_na=False)
        except pd.errors.ParserError as err:
            raise DataFormatError(f"{path}: not a well-formed {suffix.lstrip('.')} file: {err}") from err
    elif suffix == ".parquet":
        frame = pd.read_parquet(path)
    elif suffix in (".jsonl", ".json"):
        frame = pd.read_json(path, lines=suffix == ".jsonl", dtype={SEQUENCE: str, NAME: str})
    else:
        raise DataFormatError(
            f"{path}: unsupported file type {suffix!r}; "
            f"use one of {', '.join(SPLIT_FILE_SUFFIXES)} or a save_to_disk folder"
        )
    return frame


def _check_schema(columns, source) -> None:
    missing = [c for c in (SEQUENCE, LABEL) if c not in columns]
    if missing:
        raise DataFormatError(
            f"{source}: missing column(s) {missing}; found {list(columns)}. "
            "Expected the NT schema: sequence, label[, name]"
        )


def column(ds, name: str) -> list:
    """A column as a plain list (`datasets` >= 4 returns a lazy `Column` object for `ds[name]`)."""
    if len(ds) == 0:
        return []
    return ds.select_columns([name])[:][name]


def _normalize(ds, source):
    """Keep sequence, label, name (made up from the row number when absent); strip sequences."""
    from datasets import Dataset

    _check_schema(ds.column_names, source)
    if len(ds) == 0:
        raise DataFormatError(f"{source}: no rows (a header only?); every split needs at least one sequence")
    columns = {SEQUENCE: [str(s).strip() for s in column(ds, SEQUENCE)], LABEL: column(ds, LABEL)}
    empty = [i for i, s in enumerate(columns[SEQUENCE]) if not s]
    if empty:
        raise DataFormatError(f"{source}: row {empty[0]} has an empty sequence")
    if any(label is None or (isinstance(label, float) and np.isnan(label)) for label in columns[LABEL]):
        row = next(i for i, v in enumerate(columns[LABEL]) if v is None or (isinstance(v, float) and np.isnan(v)))
        raise DataFormatError(f"{source}: row {row} has no label")
    if NAME in ds.column_names:
        columns[NAME] = [str(n) for n in column(ds, NAME)]
    else:
        columns[NAME] = [f"row{i}" for i in range(len(ds))]
    return Dataset.from_dict(columns)


def read_split(path: str | os.PathLike, split: str | None = None):
    """One split from a local file or save_to_disk folder, as a `datasets.Dataset` with columns
    `sequence`, `label`, `name`."""
    from datasets import Dataset, DatasetDict, load_from_disk

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"data file not found: {path}")
    if path.is_dir():
        loaded = load_from_disk(str(path))
        if isinstance(loaded, DatasetDict):
            if split is None or split not in loaded:
                raise DataFormatError(
                    f"{path} is a DatasetDict with splits {list(loaded)}; pass the folder of one split "
                    f"({path}/<split>) or name the split"
                )
            loaded = loaded[split]
        return _normalize(loaded, path)
    if _suffix(path) in (".fna", ".fa", ".fasta"):
        return _normalize(Dataset.from_dict(_read_fasta(path)), path)
    frame = _read_table(path)
    _check_schema(frame.columns, path)
    keep = [c for c in (SEQUENCE, LABEL, NAME) if c in frame.columns]
    frame = frame[keep].reset_index(drop=True)
    return _normalize(Dataset.from_pandas(frame, preserve_index=False), path)


def find_task_files(data_dir: str | os.PathLike, task_name: str) -> dict[str, Path]:
    """Locate `train`, `test` (and optional `validation`) of one task under a benchmark folder.

    Accepted layouts: `DIR/<task>/train.<ext>` + `DIR/<task>/test.<ext>` (any supported file type),
    `DIR/<task>/train/` + `DIR/<task>/test/` (save_to_disk folders), or `DIR/<task>/` saved as a
    `DatasetDict` with train/test splits (returned as the same folder for every split)."""
    folder = Path(data_dir) / task_name
    if not folder.is_dir():
        raise FileNotFoundError(
            f"no folder for task {task_name!r} in {data_dir} (expected {folder}/train.csv, {folder}/test.csv)"
        )
    if (folder / "dataset_dict.json").exists():
        return {"train": folder, "test": folder, "dict": folder}
    found: dict[str, Path] = {}
    for split in ("train", "test", "validation"):
        candidates = [folder / f"{split}{suffix}" for suffix in SPLIT_FILE_SUFFIXES] + [folder / split]
        hits = [c for c in candidates if c.exists()]
        if len(hits) > 1:
            raise DataFormatError(f"several {split} files for task {task_name!r}: {[str(h) for h in hits]}")
        if hits:
            found[split] = hits[0]
    missing = [s for s in ("train", "test") if s not in found]
    if missing:
        raise FileNotFoundError(
            f"task folder {folder} lacks {missing} (expected {folder}/train.csv and {folder}/test.csv)"
        )
    return found


# ---------------------------------------------------------------------------------------------- the Hub


def load_hub_task(task: NTTask, hub_dataset: str | None = None, cache_dir: str | None = None):
    """`train` and `test` of an NT task from the Hub (or the local `datasets` cache when offline).

    Tries the per-task configuration (`load_dataset(hub, name=task)`); if the repository has only a
    default configuration with a `task` column, filters on it. Fails with `HubUnavailableError`,
    whose message says how to pass local files."""
    from datasets import DatasetDict, load_dataset

    repo = hub_dataset or task.hub_dataset
    errors = []
    try:
        loaded = load_dataset(repo, name=task.name, cache_dir=cache_dir)
    except Exception as err:  # noqa: BLE001 - any failure is reported with the local-files hint
        errors.append(err)
        loaded = None
        if "config" in str(err).lower():
            # the parquet version of the NT datasets has one default configuration with a `task` column
            try:
                full = load_dataset(repo, cache_dir=cache_dir)
                if "task" in full["train"].column_names:
                    keep = lambda tasks: [t == task.name for t in tasks]  # noqa: E731
                    loaded = DatasetDict(
                        {s: full[s].filter(keep, input_columns="task", batched=True) for s in ("train", "test")}
                    )
                    if len(loaded["train"]) == 0:
                        raise DataFormatError(f"{repo} has no rows with task == {task.name!r}")
            except Exception as err2:  # noqa: BLE001
                errors.append(err2)
                loaded = None
    if loaded is None:
        reason = (
            "HF_HUB_OFFLINE / HF_DATASETS_OFFLINE is set and no cached copy exists"
            if hub_offline()
            else "the download failed"
        )
        raise HubUnavailableError(
            f"Cannot load NT task {task.name!r} from the Hugging Face Hub dataset {repo!r}: {reason} "
            f"({type(errors[-1]).__name__}: {str(errors[-1]).splitlines()[0] if str(errors[-1]) else ''}).\n"
            + local_files_hint(task.name)
        ) from errors[-1]
    for split in ("train", "test"):
        if split not in loaded:
            raise DataFormatError(f"{repo}/{task.name} has splits {list(loaded)}; expected train and test")
    return DatasetDict({s: _normalize(loaded[s], f"{repo}/{task.name}[{s}]") for s in ("train", "test")})


# ------------------------------------------------------------------------------------------------ labels


def _as_int(value):
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def training_classes(labels: list, source) -> list[str]:
    """The classes of a training split: integer (or integer-like) labels are class ids 0..K-1, named
    "0".."K-1"; other labels are strings in sorted order."""
    as_ints = [_as_int(v) for v in labels]
    if all(v is not None for v in as_ints):
        if min(as_ints) < 0:
            raise DataFormatError(f"{source}: negative label {min(as_ints)}; integer labels must be class ids 0..K-1")
        return [str(i) for i in range(max(as_ints) + 1)]
    return sorted({str(v) for v in labels})


def encode_labels(splits: dict, label_names: list[str] | None = None, sources: dict | None = None):
    """Map the `label` column of every split to integer ids with the classes of the `train` split
    (`training_classes`), or with `label_names`, the classes given explicitly in id order.

    A label that is not a class is an error naming the split's file (`sources[split]`), row and
    label: a class the training data never shows cannot be learned, and quietly adding it would
    change the model's number of classes. Returns (splits with int64 labels, label_names)."""
    sources = sources or {}
    if label_names is None:
        label_names = training_classes(column(splits["train"], LABEL), sources.get("train", "train"))
        origin = f"those of the training data, {sources.get('train', 'train')}"
    else:
        origin = "from --class_names"
    index = {name: i for i, name in enumerate(label_names)}
    out = {}
    for split, ds in splits.items():
        ids, names = [], column(ds, NAME)
        for row, value in enumerate(column(ds, LABEL)):
            key = str(_as_int(value)) if _as_int(value) is not None and str(_as_int(value)) in index else str(value)
            if key not in index:
                raise DataFormatError(
                    f"{sources.get(split, split)}, row {row} (name {names[row]!r}): label {value!r} is not one of "
                    f"the classes {label_names} ({origin}); if it is a class, list every class with --class_names"
                )
            ids.append(index[key])
        out[split] = ds.remove_columns(LABEL).add_column(LABEL, np.asarray(ids, dtype=np.int64))
    return out, list(label_names)


# --------------------------------------------------------------------------------------------- splitting


@RECORD
class Duplicates(Record):
    """Rows of a split dropped by `deduplicate`: repeats of an earlier sequence, and distinct sequences seen with
    more than one label (all their rows dropped)."""

    duplicates: int
    conflicting: int


@RECORD
class DedupStats(Record):
    """What `--dedup` removed, per split, and the training (validation) rows that were test sequences; all None
    without `--dedup` (an empty JSON object)."""

    train: Duplicates | None = optional()
    test: Duplicates | None = optional()
    train_test_overlap_removed: int | None = optional()
    validation: Duplicates | None = optional()
    validation_test_overlap_removed: int | None = optional()


def deduplicate(ds, drop_conflicting: bool = True) -> tuple[object, Duplicates]:
    """Keep the first row of each distinct sequence (case-insensitive). Sequences seen with more than
    one label are dropped entirely when `drop_conflicting` (their label is ambiguous).
    Returns (dataset, the rows dropped)."""
    seqs = [s.upper() for s in column(ds, SEQUENCE)]
    labels = column(ds, LABEL)
    seen: dict[str, int] = {}
    label_sets: dict[str, set] = {}
    for i, (s, y) in enumerate(zip(seqs, labels)):
        seen.setdefault(s, i)
        label_sets.setdefault(s, set()).add(y if not isinstance(y, list) else tuple(y))
    conflicting = {s for s, ys in label_sets.items() if len(ys) > 1} if drop_conflicting else set()
    keep = [i for s, i in seen.items() if s not in conflicting]
    keep.sort()
    return ds.select(keep), Duplicates(duplicates=len(seqs) - len(seen), conflicting=len(conflicting))


def remove_overlap(train, test):
    """Drop training rows whose sequence also occurs in the test split. Returns (train, n_removed)."""
    test_seqs = {s.upper() for s in column(test, SEQUENCE)}
    keep = [i for i, s in enumerate(column(train, SEQUENCE)) if s.upper() not in test_seqs]
    return train.select(keep), len(train) - len(keep)


def _stratify_ok(labels: np.ndarray, n_splits: int) -> bool:
    counts = np.bincount(labels) if labels.size else np.array([])
    counts = counts[counts > 0]
    return counts.size > 1 and counts.min() >= n_splits


def split_train_validation(ds, fraction: float = 0.1, seed: int = 42, stratify: bool = True):
    """Carve a validation split from `ds` (seeded; stratified by label when every class has at least
    two rows). Returns (train, validation)."""
    from sklearn.model_selection import train_test_split

    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    labels = np.asarray(column(ds, LABEL))
    indices = np.arange(len(ds))
    use_strata = stratify and _stratify_ok(labels, 2)
    n_val = max(1, int(round(fraction * len(ds))))
    if use_strata and n_val < len(np.unique(labels)):
        use_strata = False
    train_idx, val_idx = train_test_split(
        indices, test_size=n_val, random_state=seed, shuffle=True, stratify=labels if use_strata else None
    )
    return ds.select(np.sort(train_idx)), ds.select(np.sort(val_idx))


def kfold_indices(labels, n_folds: int, seed: int = 42, stratify: bool = True) -> list[tuple[np.ndarray, np.ndarray]]:
    """K-fold cross-validation of a training set, as in the NT paper (10 folds): fold k trains on the
    other folds and validates (early stopping) on fold k. Validation folds are disjoint and their union
    is the whole set. Stratified by label when every class has at least `n_folds` rows.
    Returns [(train_indices, validation_indices)] sorted ascending."""
    from sklearn.model_selection import KFold, StratifiedKFold

    labels = np.asarray(labels)
    if n_folds < 2:
        raise ValueError(f"k-fold needs at least 2 folds, got {n_folds}")
    if n_folds > len(labels):
        raise ValueError(f"{n_folds} folds but only {len(labels)} training rows")
    if stratify and _stratify_ok(labels, n_folds):
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        folds = splitter.split(np.zeros(len(labels)), labels)
    else:
        splitter = KFold(n_splits=n_folds, shuffle=True, random_state=seed)
        folds = splitter.split(np.zeros(len(labels)))
    return [(np.sort(tr), np.sort(va)) for tr, va in folds]


# --------------------------------------------------------------------------------------------- top level


@dataclass
class TaskData:
    """Encoded splits of one classification task."""

    train: object  # datasets.Dataset
    test: object
    validation: object | None
    label_names: list[str]
    task: NTTask | None = None
    source: str = ""
    dedup: DedupStats = field(default_factory=DedupStats)  # what `dedup` removed

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.label_names))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.label_names)}

    label: str | None = None  # a display name for local data

    @property
    def name(self) -> str:
        return self.task.name if self.task else (self.label or "task")


def local_splits(train_file, test_file, validation_file=None):
    """Splits read from local files: (split -> rows, split -> file, the source's name, the task's label: the
    training file's folder when the file is named train*, else the file's stem)."""
    if train_file is None or test_file is None:
        raise ValueError("local data needs both --train_file and --test_file")
    files = {"train": train_file, "test": test_file, **({"validation": validation_file} if validation_file else {})}
    splits = {split: read_split(path, split) for split, path in files.items()}
    train_path = Path(train_file)
    label = (train_path.parent.name if train_path.name.lower().startswith("train") and train_path.parent.name
             else train_path.name.split(".")[0])
    return splits, files, f"{train_file} / {test_file}", label


def benchmark_folder_splits(data_dir, task):
    """Splits of `task` in a benchmark folder (`find_task_files`); its `dict` file serves as validation when it
    reads as one. Returns as `local_splits`, with no label (the task names itself)."""
    if task is None:
        raise ValueError("--data_dir needs a task name")
    files = find_task_files(data_dir, task.name)
    splits = {"train": read_split(files["train"], "train"), "test": read_split(files["test"], "test")}
    if "validation" in files:
        splits["validation"] = read_split(files["validation"], "validation")
    elif "dict" in files:
        try:
            splits["validation"] = read_split(files["dict"], "validation")
            files["validation"] = files["dict"]
        except DataFormatError:
            pass
    return splits, files, str(Path(data_dir) / task.name), None


def load_task_data(
    task: NTTask | None = None,
    train_file=None,
    test_file=None,
    validation_file=None,
    data_dir=None,
    hub_dataset: str | None = None,
    dedup: bool = False,
    cache_dir: str | None = None,
    label_names: list[str] | None = None,
) -> TaskData:
    """Load one task: local files (train_file + test_file), a benchmark folder (data_dir + task), or
    the Hub (task only). `dedup` removes repeated sequences within each split (dropping sequences
    with conflicting labels) and training rows that also occur in the test split. The classes are
    those of the training split unless `label_names` lists them (see `encode_labels`)."""
    if train_file is not None or test_file is not None:
        splits, files, source, label = local_splits(train_file, test_file, validation_file)
    elif data_dir is not None:
        splits, files, source, label = benchmark_folder_splits(data_dir, task)
    elif task is not None:
        loaded = load_hub_task(task, hub_dataset, cache_dir=cache_dir)
        splits, source, label = {"train": loaded["train"], "test": loaded["test"]}, \
            f"{hub_dataset or task.hub_dataset} ({task.name})", None
        files = {split: f"{source} [{split}]" for split in ("train", "test")}
    else:
        raise ValueError("give an NT task name, or --train_file and --test_file.\n" + local_files_hint())
    train, test, validation = splits["train"], splits["test"], splits.get("validation")

    removed = DedupStats()
    if dedup:
        train, removed.train = deduplicate(train)
        test, removed.test = deduplicate(test)
        train, removed.train_test_overlap_removed = remove_overlap(train, test)
        if validation is not None:
            validation, removed.validation = deduplicate(validation)
            validation, removed.validation_test_overlap_removed = remove_overlap(validation, test)
    splits = {"train": train, "test": test}
    if validation is not None:
        splits["validation"] = validation
    splits, names = encode_labels(splits, label_names, sources=files)
    data = TaskData(splits["train"], splits["test"], splits.get("validation"), names, task, source, removed,
                    label=label if task is None else None)
    if task is not None and data.num_labels != task.num_labels:
        logger.warning("task %s has %d classes in the NT benchmark but the data has %d (%s)", task.name,
                       task.num_labels, data.num_labels, names)
    return data
