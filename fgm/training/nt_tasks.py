"""Registry of the Nucleotide Transformer (NT) downstream benchmark: 18 original + 18 revised tasks.

Two Hugging Face datasets hold the benchmark; in both, the dataset *configuration* name is the task
name (`load_dataset(hub_dataset, name=task)`) and the splits are `train` and `test`:

- original set, `InstaDeepAI/nucleotide_transformer_downstream_tasks` (bioRxiv preprint, 2023);
- revised set, `InstaDeepAI/nucleotide_transformer_downstream_tasks_revised` (Dalla-Torre et al.,
  "Nucleotide Transformer: building and evaluating robust foundation models for human genomics",
  Nature Methods 22, 287-297, 2025, doi:10.1038/s41592-024-02523-z).

Headline metrics. The original paper's table reports MCC for the enhancer and histone tasks, F1 for
the promoter tasks and the splice acceptor/donor tasks, and accuracy for `splice_sites_all`; the
original-set entries keep those. The Nature Methods paper reports fine-tuning results on the revised
set as MCC for every task (Fig. 2a: "mean MCC +- 2 x s.d. from the tenfold cross-validation"), so
every revised-set entry has MCC as its headline metric. MCC, F1 and accuracy are computed for every
task regardless (`fgm.training.metrics`).

Sequence lengths (bp) and class counts: original set as in the HyenaDNA NT data config
(HazyResearch/hyena-dna, configs/dataset/nucleotide_transformer.yaml) and the NT preprint
(`splice_sites_all`: 400 bp); revised set: promoters 300, enhancers 400, splice sites 600,
histone marks (ENCODE) 1,000. `enhancers_types` (none / weak / strong enhancer) and
`splice_sites_all` (acceptor / donor / none) have 3 classes; every other task is binary.
"""

from __future__ import annotations

from dataclasses import dataclass

ORIGINAL = "original"
REVISED = "revised"
BENCHMARKS = (ORIGINAL, REVISED)

HUB_DATASETS = {
    ORIGINAL: "InstaDeepAI/nucleotide_transformer_downstream_tasks",
    REVISED: "InstaDeepAI/nucleotide_transformer_downstream_tasks_revised",
}

METRICS = ("mcc", "f1", "accuracy")


@dataclass(frozen=True)
class NTTask:
    """One task of the NT benchmark."""

    name: str
    benchmark: str  # "original" | "revised"
    num_labels: int
    headline_metric: str  # "mcc" | "f1" | "accuracy"
    sequence_length: int  # nominal input length in bp
    category: str  # "histone", "enhancer", "promoter", "splice"

    @property
    def hub_dataset(self) -> str:
        return HUB_DATASETS[self.benchmark]

    @property
    def key(self) -> str:
        return f"{self.benchmark}/{self.name}"


def _category(name: str) -> str:
    if name.startswith("promoter"):
        return "promoter"
    if name.startswith("enhancers"):
        return "enhancer"
    if name.startswith("splice"):
        return "splice"
    return "histone"


def _original(name: str) -> NTTask:
    num_labels = 3 if name in ("enhancers_types", "splice_sites_all") else 2
    if name.startswith("promoter") or name in ("splice_sites_acceptors", "splice_sites_donors"):
        metric = "f1"
    elif name == "splice_sites_all":
        metric = "accuracy"
    else:
        metric = "mcc"
    lengths = {"promoter": 300, "enhancer": 200, "histone": 500}
    category = _category(name)
    length = 400 if name == "splice_sites_all" else lengths.get(category, 600)
    return NTTask(name, ORIGINAL, num_labels, metric, length, category)


def _revised(name: str) -> NTTask:
    num_labels = 3 if name in ("enhancers_types", "splice_sites_all") else 2
    category = _category(name)
    length = {"promoter": 300, "enhancer": 400, "splice": 600, "histone": 1000}[category]
    return NTTask(name, REVISED, num_labels, "mcc", length, category)


ORIGINAL_TASK_NAMES = (
    "enhancers",
    "enhancers_types",
    "H3",
    "H3K4me1",
    "H3K4me2",
    "H3K4me3",
    "H3K9ac",
    "H3K14ac",
    "H3K36me3",
    "H3K79me3",
    "H4",
    "H4ac",
    "promoter_all",
    "promoter_no_tata",
    "promoter_tata",
    "splice_sites_acceptors",
    "splice_sites_donors",
    "splice_sites_all",
)

REVISED_TASK_NAMES = (
    "H2AFZ",
    "H3K27ac",
    "H3K27me3",
    "H3K36me3",
    "H3K4me1",
    "H3K4me2",
    "H3K4me3",
    "H3K9ac",
    "H3K9me3",
    "H4K20me1",
    "enhancers",
    "enhancers_types",
    "promoter_all",
    "promoter_no_tata",
    "promoter_tata",
    "splice_sites_acceptors",
    "splice_sites_all",
    "splice_sites_donors",
)

#: every task, keyed "benchmark/name" (36 entries)
NT_TASKS: dict[str, NTTask] = {
    **{t.key: t for t in map(_original, ORIGINAL_TASK_NAMES)},
    **{t.key: t for t in map(_revised, REVISED_TASK_NAMES)},
}


def list_tasks(benchmark: str | None = None) -> list[NTTask]:
    """All tasks, or those of one benchmark (`"original"` or `"revised"`), in registry order."""
    if benchmark is not None and benchmark not in BENCHMARKS:
        raise ValueError(f"unknown NT benchmark {benchmark!r}; choose one of {BENCHMARKS}")
    return [t for t in NT_TASKS.values() if benchmark is None or t.benchmark == benchmark]


def get_task(name: str, benchmark: str = REVISED) -> NTTask:
    """A task by name (`"promoter_all"`) or by key (`"original/H3"`); names are case-sensitive
    as in the Hub datasets, but a case-insensitive unique match is accepted."""
    if "/" in name:
        benchmark, name = name.split("/", 1)
    if benchmark not in BENCHMARKS:
        raise ValueError(f"unknown NT benchmark {benchmark!r}; choose one of {BENCHMARKS}")
    key = f"{benchmark}/{name}"
    if key in NT_TASKS:
        return NT_TASKS[key]
    matches = [t for t in list_tasks(benchmark) if t.name.lower() == name.lower()]
    if len(matches) == 1:
        return matches[0]
    other = [t.key for t in NT_TASKS.values() if t.name.lower() == name.lower()]
    hint = f" (it exists in {other})" if other else ""
    names = ", ".join(t.name for t in list_tasks(benchmark))
    raise KeyError(f"no NT task {name!r} in the {benchmark} benchmark{hint}; tasks: {names}")


def resolve_tasks(tasks: str | list[str], benchmark: str = REVISED) -> list[NTTask]:
    """`"all"`, a comma-separated string, or a list of names -> tasks (order kept, no repeats)."""
    if isinstance(tasks, str):
        tasks = [t.strip() for t in tasks.split(",") if t.strip()]
    if not tasks or tasks == ["all"]:
        return list_tasks(benchmark)
    out: list[NTTask] = []
    for name in tasks:
        task = get_task(name, benchmark)
        if task not in out:
            out.append(task)
    return out


# --------------------------------------------------------------------------------- published numbers
#
# Columns of the `fgm benchmark nt` table. Numbers go in PUBLISHED[benchmark][task][model] only when
# they were read from a citable source listed in PUBLISHED_SOURCES; a missing entry prints "n/a".
#
# Status (searched with the project's stored copies of public papers, docs and code): the revised-set
# fine-tuning results for NT-v2 500M, DNABERT-2 and HyenaDNA are published by Dalla-Torre et al.,
# Nature Methods 2025, Fig. 2a (mean MCC +- 2 s.d. over ten folds, shown graphically) and, as
# per-fold MCC / F1 / accuracy values, in the `data/benchmark.csv` file of the authors' Hugging Face
# Space `InstaDeepAI/nucleotide_transformer_benchmark` (whose app lists exactly the 18 revised tasks).
# Neither the figure's values nor that CSV's rows for these models could be read from the sources
# available here, so no number is filled in: the table says "n/a" rather than guess. A user who has
# the numbers passes them with `fgm benchmark nt --published FILE` (CSV: task,model,value[,source]).

PUBLISHED_MODELS = ("NT-v2 500M", "DNABERT-2", "HyenaDNA")

PUBLISHED: dict[str, dict[str, dict[str, float]]] = {ORIGINAL: {}, REVISED: {}}

PUBLISHED_SOURCES: dict[str, list[str]] = {
    REVISED: [
        "Dalla-Torre et al., 'Nucleotide Transformer: building and evaluating robust foundation models for "
        "human genomics', Nature Methods 22, 287-297 (2025), doi:10.1038/s41592-024-02523-z, Fig. 2a: "
        "fine-tuned MCC (mean +- 2 s.d., ten folds) of NT models, DNABERT-2, HyenaDNA and Enformer on the "
        "18 revised tasks (values shown graphically).",
        "Per-fold values: Hugging Face Space InstaDeepAI/nucleotide_transformer_benchmark, data/benchmark.csv "
        "(columns Dataset, Model, MCC, F1, ACC).",
        "n/a: these numbers could not be read from the stored sources available when this table was built; "
        "none is filled in rather than guessed. Supply them with --published FILE (CSV: task,model,value[,source]).",
    ],
    ORIGINAL: [
        "The original-set numbers (NT preprint, bioRxiv 2023; also quoted by HyenaDNA and Caduceus) were not "
        "transcribed: n/a. Supply them with --published FILE.",
    ],
}


def published_score(benchmark: str, task: str, model: str, extra: dict | None = None) -> float | None:
    """A published headline score, or None. `extra` (from `load_published`) takes precedence."""
    if extra and (task, model) in extra:
        return extra[(task, model)]
    return PUBLISHED.get(benchmark, {}).get(task, {}).get(model)


def load_published(path) -> tuple[dict[tuple[str, str], float], list[str]]:
    """Published numbers from a CSV with columns task, model, value[, source]; returns
    ({(task, model): value}, [sources]). Models must be among PUBLISHED_MODELS."""
    import csv

    values: dict[tuple[str, str], float] = {}
    sources: list[str] = []
    with open(path, newline="") as handle:
        for row_number, row in enumerate(csv.DictReader(handle), start=2):
            missing = [c for c in ("task", "model", "value") if not row.get(c)]
            if missing:
                raise ValueError(f"{path} line {row_number}: missing {missing} (columns: task,model,value[,source])")
            if row["model"] not in PUBLISHED_MODELS:
                raise ValueError(f"{path} line {row_number}: model {row['model']!r} is not one of {PUBLISHED_MODELS}")
            values[(row["task"], row["model"])] = float(row["value"])
            source = (row.get("source") or "").strip()
            if source and source not in sources:
                sources.append(source)
    return values, sources
