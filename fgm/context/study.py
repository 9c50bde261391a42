"""`fgm context-study`: does training on longer contexts make a better model, and which architecture?

One model per architecture (`presets`: e.g. the flat `demo` and the U-Net `unet-demo`) and training context, each
pretrained on the same number of bases with otherwise identical settings (bases per step are held constant: the
batch shrinks as the context grows; a k-mer model sees bases / k tokens), the same RoPE base
(large enough for the longest evaluation context, `rope_theta_for_context`, unless `config_overrides` sets one) and
the same seed. Each model
is then scanned (`context_scan`) at every evaluation context on the corpus's held-out split, with the
Markov baselines and the copy oracle on the same positions, split by repeat stratum; each is also measured with
the retrieval benchmark (the gain from a copy d bases away) and its influence curve (how far it looks), on the
same held-out split; and all of it again on each extra held-out genome (`eval_genomes`: e.g. Drosophila chr4 for
a study trained on yeast); optionally scored on a VEP set. One report: `study.md` (a row per training context, a
column per evaluation context, extrapolation marked; then the strata, retrieval and influence tables; then the same
tables per extra genome), `study.json`, `study.png` (loss against evaluation context, one line per training
context), `study_retrieval.png` and `study_influence.png` (and `study_LABEL*.png` per extra genome). With several
presets, each is also compared with the first at the same training context, paired on the same positions.

Resumable: each model's training continues from its last checkpoint, each scan size by size, and a model
measured in full keeps its results (`study_run.json`), which a later run with the same settings reads instead
of measuring again: a study run once per preset, in parallel, then once with every preset reports them together.
Each extra genome's measurements are kept apart (`genomes/LABEL/evaluation.json`), so adding a genome to a finished
study measures only that genome.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from ..model.configuration_fgm import rope_theta_for_context
from .influence import REACH_RULE, context_influence, plot_influence
from .instrument import HeldOutArguments, ScoringArguments
from .report import interval_text, markdown_table
from .retrieval import plot_retrieval, retrieval_benchmark
from .scan import best_baseline, context_scan, paired_scans, plot_scans

#: The suffix of a preset's copy-planting arm (`plant_copies`): "demo+copies" is `demo` trained with copies planted.
COPIES = "+copies"


def context_study(
    corpus,
    output_dir,
    train_contexts: list[int],
    bases: int,
    eval_contexts: list[int] | None = None,
    *,
    presets: list[str] | None = None,
    model_args=None,
    training_args=None,
    bases_per_step: int = 16_384,
    mlm_probability: float = 0.15,
    split: str = "test",
    positions: int = 250,
    retrieval_distances: tuple[int, ...] = (128, 512, 2000),
    retrieval_windows: int = 50,
    influence_positions: int = 100,
    eval_genomes: list[str] | None = None,
    plant_copies: bool = False,
    planting: dict | None = None,
    max_length_schedule: str | None = None,
    vep: str | None = None,
    vep_genome=None,
    seed: int = 0,
    n_bootstrap: int = 1000,
    progress: bool = True,
) -> dict:
    """Pretrain one model per preset and training context (bases) on `bases` bases each, scan them, and report.

    `presets` (default: `model_args.preset`) are the architectures; `model_args` (`PretrainModelArguments`) holds
    every other model option (a U-Net preset reads single bases whatever its `kmer_size`) and `training_args`
    (`PretrainingArguments`) every Trainer setting; the study sets per model the output folder
    (`PRESET/train_CONTEXT`), the steps, the batch size and the example length. Each model is measured on `retrieval_distances` with `retrieval_windows`
    windows each, and its influence at its training context on `influence_positions` positions (an empty
    tuple or 0 skips them), on the corpus's `split` and on each of `eval_genomes` (`PATH` or `PATH:RECORD,...`,
    held-out sequence beyond the corpus, each with tables of its own). `plant_copies`: each preset is trained a
    second time, as the arm "PRESET+copies", with copies planted (`planting`: `fgm pretrain`'s `plant_*` settings,
    e.g. {"plant_rate": 1.0, "plant_length": 32}) and compared with the preset's natural model, paired, per repeat
    stratum too. `max_length_schedule` (`fgm pretrain`'s, the same for every model) grows each model's examples
    inside its run; the bases a model trained on are counted phase by phase. Returns the report's data.
    """
    from ..training.pretrain import PretrainingArguments, PretrainModelArguments

    output_dir = Path(output_dir)
    model_args = model_args or PretrainModelArguments(preset="tiny")
    training_args = training_args or PretrainingArguments(output_dir=str(output_dir))
    eval_contexts = sorted(set(eval_contexts or train_contexts))
    measures = {"eval_contexts": eval_contexts, "positions": positions,
                "retrieval_distances": list(retrieval_distances), "retrieval_windows": retrieval_windows,
                "influence_positions": influence_positions, "seed": seed, "bootstrap": n_bootstrap,
                "progress": progress}
    settings = {"corpus": str(corpus), "split": split, "bases": bases, "bases_per_step": bases_per_step,
                "mlm_probability": mlm_probability, "vep": vep,
                # one RoPE base for every model: the one asked for, else enough for the longest evaluation context
                "rope_theta": (model_args.config_overrides or {}).get("rope_theta")
                or rope_theta_for_context(eval_contexts[-1] + 1),
                **{key: value for key, value in measures.items() if key != "progress"}}
    plans = plan_models(corpus, output_dir, train_contexts, settings, model_args, presets, plant_copies, planting,
                        max_length_schedule)
    genomes = held_out_genomes(eval_genomes or [])
    runs = [train_and_measure(plan, training_args, measures, genomes, vep_genome) for plan in plans]
    return write_report(output_dir, runs, settings, genomes)


class ModelPlan(NamedTuple):
    """One model of the study: where it goes, how it is built and trained, and the settings it is measured with."""

    arm: str  # the preset, with COPIES when copies are planted
    context: int  # its training context (bases)
    folder: Path
    model_args: object  # PretrainModelArguments
    data_args: object  # PretrainDataArguments
    batch_size: int
    steps: int
    bases: int  # bases it trains on, phase by phase
    settings: dict  # what its study_run.json must match to be read back


def plan_models(corpus, output_dir: Path, train_contexts, settings: dict, model_args, presets, plant_copies: bool,
                planting: dict | None, max_length_schedule: str | None) -> list[ModelPlan]:
    """Every model the study trains, checked before any trains: one per arm (each preset, and with `plant_copies`
    each preset again with copies planted) and training context, on the same bases, bases per step and RoPE base
    (`settings`)."""
    from ..data.corpus import load_corpus
    from ..model.configuration_fgm import PRESETS
    from ..training.pretrain import PretrainDataArguments

    presets = list(dict.fromkeys(presets or [model_args.preset]))
    if set(presets) - set(PRESETS):
        raise ValueError(f"unknown preset(s) {sorted(set(presets) - set(PRESETS))}; choose from {sorted(PRESETS)}")
    train_contexts = sorted(set(train_contexts))
    shortest_window = min(len(s) for s in load_corpus(corpus)["train"]["sequence"])
    if shortest_window < train_contexts[-1]:
        raise ValueError(f"{corpus}: its training windows have {shortest_window:,} bases, fewer than the "
                         f"{train_contexts[-1]:,}-base training context; rebuild it with `fgm corpus --window "
                         f"{train_contexts[-1]}` or more")
    bases, per_step = settings["bases"], settings["bases_per_step"]
    plans = []
    for preset in presets:
        for arm_planting in ([None, dict(planting or {"plant_rate": 1.0})] if plant_copies else [None]):
            k = PRESETS[preset].get("kmer_size", model_args.kmer_size)
            overrides = {**(model_args.config_overrides or {}), "rope_theta": settings["rope_theta"]}
            shaped = replace(model_args, preset=preset, kmer_size=k, config_overrides=overrides)
            for context in train_contexts:
                length = context // k + 1
                batch = max(1, per_step // (k * length))
                steps = max(1, bases // (batch * k * length))
                data = PretrainDataArguments(corpus=str(corpus), max_length=length,
                                             mlm_probability=settings["mlm_probability"],
                                             max_length_schedule=max_length_schedule, **(arm_planting or {}))
                phases = data.phases(steps)
                ends = [phase.last_step for phase in phases]
                trained = sum((end - start) * batch * k * phase.max_length
                              for phase, start, end in zip(phases, [0, *ends], ends))
                arm = preset + (COPIES if arm_planting else "")
                plans.append(ModelPlan(arm, context, output_dir / arm / f"train_{context}", shaped, data, batch, steps,
                                       trained, {**settings, **({"planting": arm_planting} if arm_planting else {}),
                                                 **({"max_length_schedule": max_length_schedule}
                                                    if max_length_schedule else {})}))
    return plans


def train_and_measure(plan: ModelPlan, training_args, measures: dict, genomes: dict[str, HeldOutArguments],
                      vep_genome=None) -> dict:
    """Train `plan`'s model (resuming) and measure it on the corpus's split and each held-out genome; a model
    measured with the same settings by an earlier run (its `study_run.json`) is read back instead."""
    from ..training.pretrain import pretrain

    settings, folder = plan.settings, plan.folder
    record = folder / "study_run.json"
    saved = json.loads(record.read_text()) if record.exists() else {}
    if saved.get("settings") != settings:
        pretrain(plan.model_args, plan.data_args,
                 replace(training_args, output_dir=str(folder), max_steps=plan.steps,
                         per_device_train_batch_size=plan.batch_size, per_device_eval_batch_size=plan.batch_size,
                         resume_from_checkpoint="last", seed=settings["seed"]))
        run = {"preset": plan.arm, "kmer_size": plan.model_args.kmer_size, "train_context": plan.context,
               "tokens_per_example": plan.data_args.max_length, "batch_size": plan.batch_size, "steps": plan.steps,
               "bases": plan.bases,
               **measure(folder, folder, HeldOutArguments(corpus=settings["corpus"], split=settings["split"]),
                         measures)}
        if settings["vep"]:
            from ..variants.benchmark import run_vep_benchmark

            run["vep"] = run_vep_benchmark(str(folder), settings["vep"], folder / "vep", genome=vep_genome,
                                           seed=settings["seed"])
        saved = {"settings": settings, "run": run}
        record.write_text(json.dumps(saved, indent=2) + "\n")
    return {**saved["run"], "scan_dir": str(folder / "scan"), "genomes": measure_genomes(folder, genomes, measures)}


def write_report(output_dir: Path, runs: list[dict], settings: dict, genomes: dict[str, HeldOutArguments]) -> dict:
    """The study's data with its paired comparisons (on the corpus's split and on each held-out genome), written
    as study.json, study.md and the plots."""
    eval_contexts, n_bootstrap, seed = settings["eval_contexts"], settings["bootstrap"], settings["seed"]
    study = {"corpus": settings["corpus"], "presets": list(dict.fromkeys(run["preset"] for run in runs)),
             "rope_theta": settings["rope_theta"], "base_budget": settings["bases"], "eval_contexts": eval_contexts,
             "runs": runs,
             "versus_shortest": versus_reference(runs, eval_contexts, n_bootstrap, seed, "shortest"),
             "versus_first_preset": versus_reference(runs, eval_contexts, n_bootstrap, seed, "first preset"),
             "seed": seed, "bootstrap": n_bootstrap, "genomes": {}}
    views = {label: on_genome(study, label) for label in genomes}
    for label, view in views.items():
        study["genomes"][label] = {"genome": genomes[label].genome, "chroms": genomes[label].chroms,
                                   **{key: view[key] for key in ("versus_shortest", "versus_first_preset")}}
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "study.json").write_text(json.dumps(study, indent=2) + "\n")
    (output_dir / "study.md").write_text(study_table(study) + "".join(
        genome_section(view, label, study["genomes"][label]) for label, view in views.items()))
    plot_study(study, output_dir)
    for label, view in views.items():
        plot_study(view, output_dir, f"_{label}")
    return study


def run_label(run: dict, presets: list[str]) -> str:
    return (f"{run['preset']} " if len(presets) > 1 else "") + f"trained at {run['train_context']:,}"


def versus_reference(runs: list[dict], eval_contexts: list[int], n_bootstrap: int, seed: int, reference: str):
    """Each model's loss minus a reference model's, per evaluation context, paired on the same positions: the
    shortest-trained model of its preset (does a longer training context help?) or the first preset's model at
    the same training context (which architecture?). An interval below 0: better beyond resampling noise."""
    def reference_of(run):
        if reference == "shortest":
            return next(r for r in runs if r["preset"] == run["preset"])
        return next(r for r in runs if r["train_context"] == run["train_context"])

    rows = []
    for run in runs:
        ref = reference_of(run)
        if ref is run:
            continue
        paired = paired_scans(run["scan_dir"], ref["scan_dir"], eval_contexts, n_bootstrap, seed)
        rows.append({"preset": run["preset"], "train_context": run["train_context"], "reference_preset": ref["preset"],
                     "reference": ref["train_context"], **paired})
    return rows


def paired_strata_table(study: dict) -> str:
    """Markdown: each paired comparison of the study within each repeat stratum (loss differences, nats per base)."""
    contexts, presets, rows = study["eval_contexts"], study["presets"], []
    for row in study["versus_shortest"] + study["versus_first_preset"]:
        model = (f"{row['preset']} " if len(presets) > 1 else "") + f"{row['train_context']:,}"
        reference = (f"{row['reference_preset']} " if len(presets) > 1 else "") + f"{row['reference']:,}"
        for name, per_context in (row.get("by_stratum") or {}).items():
            cells = [interval_text(per_context[c], sign="+") if c in per_context else "no scored position"
                     for c in contexts]
            rows.append([f"{model} minus {reference}", name, *cells])
    if not rows:
        return ""
    return markdown_table("Paired loss differences within each repeat stratum (nats per base, same positions; an "
                          "interval below 0: the first model is better there).",
                          ["comparison", "stratum", *(f"{c:,}" for c in contexts)], rows) + "\n"


def study_table(study: dict) -> str:
    """Markdown: loss (nats per base) of each model at each evaluation context; * marks extrapolation."""
    contexts, presets, runs = study["eval_contexts"], study["presets"], study["runs"]
    vep = any("vep" in r for r in runs)
    lines = [
        f"Masked-LM loss (nats per base) at evaluation contexts of {', '.join(f'{c:,}' for c in contexts)} bases; "
        f"* = longer than the training context (extrapolation). Same base budget ({study['base_budget']:,} bases), "
        f"RoPE base {study['rope_theta']:,.0f}, positions and seed for every model; 95% intervals in each scan.md.",
        "",
        "| model | steps x batch | bases | " + " | ".join(f"{c:,}" for c in contexts) + " |" + (" VEP AUROC |" if vep else ""),
        "| --- " * (3 + len(contexts) + vep) + "|",
    ]
    for run in runs:
        cells = [f"{row['loss'][0]:.4f}{'*' if row['extrapolation'] else ''}" for row in run["scan"]["contexts"]]
        lines.append(f"| {run_label(run, presets)} | {run['steps']} x {run['batch_size']} | {run['bases']:,} | "
                     + " | ".join(cells) + " |" + (f" {run['vep']['auroc'][0]:.3f} |" if "vep" in run else ""))
    for row in study["versus_shortest"] + study["versus_first_preset"]:
        model = (f"{row['preset']} " if len(presets) > 1 else "") + f"{row['train_context']:,}"
        reference = (f"{row['reference_preset']} " if len(presets) > 1 else "") + f"{row['reference']:,}"
        cells = [f"{d[0]:+.4f} [{d[1]:+.4f}, {d[2]:+.4f}]" for d in row["loss"].values()]
        lines.append(f"| {model} minus {reference} (paired) | | | " + " | ".join(cells) + " |" + (" |" if vep else ""))
    oracle = [f"{row['copy_oracle']['loss'][0]:.4f}" for row in runs[0]["scan"]["contexts"]]
    lines.append("| copy oracle (no model) | | | " + " | ".join(oracle) + " |" + (" |" if vep else ""))
    baseline = best_baseline(runs[0]["scan"])
    lines += ["", f"Best baseline on the same positions: {baseline['name']}, {baseline['loss'][0]:.4f} nats per base "
              f"(accuracy {baseline['accuracy'][0]:.4f}).", ""]
    return "\n".join(lines) + "\n" + paired_strata_table(study) + "\n".join(instrument_tables(study))


def instrument_tables(study: dict) -> list[str]:
    """Markdown: each model's loss per repeat stratum, its retrieval gain per distance and its influence curve."""
    runs, contexts = study["runs"], study["eval_contexts"]
    rows = []
    for index, stratum in enumerate(runs[0]["scan"]["strata"]):
        label = f"{stratum['stratum']} ({stratum['positions']:,})"
        if not stratum["positions"]:
            rows.append([label, "no scored position", *[""] * len(contexts)])
            continue
        for run in runs:
            rows.append([label, run_label(run, study["presets"]),
                         *(interval_text(v) for v in run["scan"]["strata"][index]["model"])])
        rows.append([label, "copy oracle", *(interval_text(v) for v in stratum["copy_oracle"])])
    tables = [markdown_table("Loss (nats per base) by repeat stratum (distance to the nearest copy of the bases around "
                             "each position; positions per stratum in brackets), 95% intervals.",
                             ["stratum", "scored by", *(f"{c:,}" for c in contexts)], rows)]
    if all("retrieval" in run for run in runs):
        distances = [row["distance"] for row in runs[0]["retrieval"]["rows"]]
        tables.append(markdown_table(
            f"Retrieval gain (control minus copy loss, nats per base; {runs[0]['retrieval']['windows']} windows per "
            "distance, 95% intervals; * = window longer than the training context).",
            ["model", *(f"d = {d:,}" for d in distances)],
            [[run_label(run, study["presets"]), *(interval_text(row["gain"], sign="+") + "*" * row["extrapolation"]
                                             for row in run["retrieval"]["rows"])] for run in runs]))
    if all("influence" in run for run in runs):
        bands = sorted({row["band"][0] for run in runs for row in run["influence"]["bands"]})
        rows = []
        for run in runs:
            kl = {row["band"][0]: row["kl"][0] for row in run["influence"]["bands"]}
            rows.append([run_label(run, study["presets"]), f"{run['influence']['context']:,}",
                         f"{run['influence']['reach'] or 0:,}", *(f"{kl[b]:.1e}" if b in kl else "" for b in bands)])
        tables.append(markdown_table(
            f"Influence: mean KL (nats) of the masked prediction when the bases at [d, 2d) from it are replaced, at "
            f"the training context, {runs[0]['influence']['positions']} positions; reach = {REACH_RULE}.",
            ["model", "context", "reach", *(f"[{b:,}, {2 * b:,})" for b in bands)], rows))
    return tables


def plot_study(study: dict, output_dir: Path, suffix: str = "") -> None:
    """study{suffix}.png (loss against evaluation context), and the retrieval and influence plots when measured."""
    labels = {run_label(r, study["presets"]): r for r in study["runs"]}
    plot_scans({label: r["scan"] for label, r in labels.items()}, output_dir / f"study{suffix}.png")
    if all("retrieval" in r for r in labels.values()):
        plot_retrieval({label: r["retrieval"] for label, r in labels.items()},
                       output_dir / f"study{suffix}_retrieval.png")
    if all("influence" in r for r in labels.values()):
        plot_influence({label: r["influence"] for label, r in labels.items()},
                       output_dir / f"study{suffix}_influence.png")


def measure(model, output_dir: Path, held_out: HeldOutArguments, measures: dict) -> dict:
    """The scan of `model` at every evaluation context on `held_out` (with the baselines, the copy oracle and
    the strata), its retrieval gain and its influence curve at its training context (each when asked for):
    `scan`, `scan_dir`, `retrieval`, `influence`, written under `output_dir`."""
    scoring = ScoringArguments(seed=measures["seed"], bootstrap=measures["bootstrap"], quiet=not measures["progress"])
    out = {"scan": context_scan(model, output_dir / "scan", measures["eval_contexts"], held_out, scoring,
                                positions=measures["positions"]), "scan_dir": str(output_dir / "scan")}
    if measures["retrieval_distances"] and measures["retrieval_windows"]:
        out["retrieval"] = retrieval_benchmark(model, output_dir / "retrieval", measures["retrieval_distances"],
                                               held_out, scoring, windows=measures["retrieval_windows"])
    if measures["influence_positions"]:
        out["influence"] = context_influence(model, output_dir / "influence", None, held_out, scoring,
                                             positions=measures["influence_positions"])
    return out


def held_out_genomes(specs: list[str]) -> dict[str, HeldOutArguments]:
    """Label (the file's stem, then its records) -> held-out sequence, for each `PATH` (every record of the genome)
    or `PATH:RECORD,RECORD` of `specs`; each file and record checked before anything trains."""
    from ..data.genome import genome_stem, scan_genome

    genomes = {}
    for spec in specs:
        path, _, records = spec.partition(":") if not Path(spec).exists() else (spec, "", "")
        chroms = [r for r in records.split(",") if r] or None
        if not Path(path).is_file():
            raise FileNotFoundError(f"held-out genome {spec!r}: no file {path}")
        missing = sorted(set(chroms or []) - set(scan_genome(path).names))
        if missing:
            raise ValueError(f"held-out genome {spec!r}: {path} has no record(s) {missing}")
        label = genome_stem(path) + ("_" + "_".join(chroms) if chroms else "")
        if label in genomes:
            raise ValueError(f"held-out genome {spec!r} is given twice")
        genomes[label] = HeldOutArguments(genome=path, chroms=chroms)
    return genomes


def measure_genomes(folder: Path, genomes: dict[str, HeldOutArguments], measures: dict) -> dict[str, dict]:
    """`measure` on each held-out genome, under `folder/genomes/LABEL`; a genome measured with the same settings
    by an earlier run (its `evaluation.json`) is read back, so adding a genome to a finished study measures only it."""
    out = {}
    for label, held_out in genomes.items():
        where = folder / "genomes" / label
        settings = {"genome": held_out.genome, "chroms": held_out.chroms,
                    **{key: value for key, value in measures.items() if key != "progress"}}
        record = where / "evaluation.json"
        saved = json.loads(record.read_text()) if record.exists() else {}
        if saved.get("settings") != settings:
            saved = {"settings": settings, "results": measure(folder, where, held_out, measures)}
            record.write_text(json.dumps(saved, indent=2) + "\n")
        out[label] = saved["results"]
    return out


def on_genome(study: dict, label: str) -> dict:
    """The study as measured on the held-out genome `label`: every run's scan, retrieval and influence taken from
    it, and the paired comparisons recomputed on its positions."""
    runs = [{**{key: value for key, value in run.items() if key not in ("retrieval", "influence", "vep")},
             **run["genomes"][label]} for run in study["runs"]]
    contexts, n_bootstrap, seed = study["eval_contexts"], study["bootstrap"], study["seed"]
    return {**study, "runs": runs,
            "versus_shortest": versus_reference(runs, contexts, n_bootstrap, seed, "shortest"),
            "versus_first_preset": versus_reference(runs, contexts, n_bootstrap, seed, "first preset")}


def genome_section(view: dict, label: str, genome: dict) -> str:
    """Markdown: the study's tables on the held-out genome `label` (`view`: `on_genome`; `genome`: its file and
    records)."""
    records = ", ".join(genome["chroms"]) if genome["chroms"] else "every record"
    return f"\n## Held out: {label} ({genome['genome']}, {records})\n\n" + study_table(view)
