"""The long-context study's measuring tools on yeast windows: the scan scores the same positions and tokens at
every size and equals a direct model call, the Markov baselines count what they claim, and scans resume."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yeast
from datasets import Dataset, DatasetDict

import fgm.context.scan as scan
from fgm import FGMConfig, FGMForMaskedLM, FGMTokenizer
from fgm.context.held_out import Segment, corpus_segments
from fgm.context.results import ScanResult
from fgm.context.scan import ScanArguments, choose_positions, context_scan, window_start
from fgm.context.baselines import BidirectionalMarkov
from fgm.context.instrument import HeldOutArguments, ScoringArguments
from fgm.context.report import interval_text
from fgm.results import OutdatedResult
STAND_IN = "a stand-in model, passed in memory"  # the instruments' model_name_or_path when `model=` is given


@pytest.fixture(scope="module")
def corpus():
    return DatasetDict({"train": Dataset.from_list(yeast.windows("chrIII", 4000, 20)),
                        "test": Dataset.from_list(yeast.windows("chrVI", 3000, 12))})


def tiny(k):
    tokenizer = FGMTokenizer(k=k)
    torch.manual_seed(k)
    return FGMForMaskedLM(FGMConfig.preset("tiny", vocab_size=len(tokenizer), kmer_size=k)).eval(), tokenizer


def test_corpus_windows_merge_into_contiguous_segments():
    rows = [dict(w, source="y") for w in yeast.windows("chrVI", 1000, 5)]
    rows = rows[:2] + rows[3:]  # a window dropped (say, too many N): two segments
    segments = corpus_segments(rows[::-1])
    assert [(s.chrom, s.start, len(s.sequence)) for s in segments] == [("chrVI", 0, 2000), ("chrVI", 3000, 2000)]
    assert segments[1].sequence == yeast.chromosome("chrVI")[3000:5000]


def test_positions_leave_room_for_the_largest_window_and_skip_n():
    sequence = yeast.chromosome("chrI")[:3000]
    with_n = sequence[:1500] + "N" + sequence[1501:]
    chosen, excluded = choose_positions([Segment("a", 0, sequence), Segment("b", 0, with_n)], 1000, 300, seed=1)
    assert excluded == {"too_near_an_end": 2 * 999, "n_in_window": 1000}
    assert all(500 <= p <= 2500 for _, p in chosen)
    assert all(not (s == 1 and abs(p - 1500) < 501) or p - 500 > 1500 or p + 500 <= 1500 for s, p in chosen)
    assert chosen == choose_positions([Segment("a", 0, sequence), Segment("b", 0, with_n)], 1000, 300, seed=1)[0]
    with pytest.raises(ValueError, match="only 0 positions have room"):
        choose_positions([Segment("a", 0, sequence[:900])], 1000, 1, seed=0)


@pytest.mark.parametrize("k", [1, 6])
def test_scan_scores_the_same_tokens_at_every_size_and_equals_a_direct_call(tmp_path, corpus, k):
    model, tokenizer = tiny(k)
    grad_modes = []
    model.register_forward_hook(lambda *_: grad_modes.append(torch.is_grad_enabled()))
    contexts = [60, 300, 1200]
    args = ScanArguments(model_name_or_path=STAND_IN, contexts=contexts, output_dir=str(tmp_path), positions=24,
                         markov_orders=[0, 2])
    results = context_scan(args, HeldOutArguments(corpus=corpus),
                           ScoringArguments(seed=3, bootstrap=50, quiet=True), model=(model, tokenizer))
    assert grad_modes and not any(grad_modes), "scans build no autograd graph"
    saved = [np.load(tmp_path / f"context_{c}.npz") for c in contexts]
    for a in saved[1:]:
        assert np.array_equal(a["positions"], saved[0]["positions"]) and np.array_equal(a["token_spans"], saved[0]["token_spans"])
    # one position at the middle size, computed directly: dense logits, softmax, marginal by vocabulary strings
    segment = corpus_segments(corpus["test"].to_list())[0]
    (_, position), context = saved[1]["positions"][5], contexts[1]
    start = window_start(int(position), context, contexts[-1], k)
    window = segment.sequence[start : start + context]
    encoded = tokenizer(window, return_offsets_mapping=True)
    index = int(position) - start
    token = next(t for t, (a, b) in enumerate(encoded["offset_mapping"]) if a <= index < b)
    ids = torch.tensor([encoded["input_ids"]])
    ids[0, token] = tokenizer.mask_token_id
    with torch.no_grad():
        softmax = model(input_ids=ids).logits[0, token].softmax(-1)
    vocabulary = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    offset = index - encoded["offset_mapping"][token][0]
    reach = [v for v, t in enumerate(vocabulary) if len(t) > offset and t[offset] in "ACGT"]
    true = [v for v in reach if vocabulary[v][offset] == window[index]]
    assert saved[1]["base_loss"][5] == pytest.approx(float(-torch.log(softmax[true].sum() / softmax[reach].sum())), abs=1e-5)
    assert [row.context for row in results.contexts] == contexts
    assert [row.extrapolation for row in results.contexts] == [False, False, False]
    assert {row.name for row in results.baselines} == {"Markov order 0", "Markov order 2"}
    table = (tmp_path / "scan.md").read_text()
    assert "| 1,200 |" in table and "Markov order 2" in table and (tmp_path / "scan.png").stat().st_size > 1000


def test_scan_resumes_from_the_saved_context_sizes(tmp_path, corpus, monkeypatch):
    model = tiny(1)
    held_out, scoring = HeldOutArguments(corpus=corpus), ScoringArguments(bootstrap=20, quiet=True)
    args = ScanArguments(model_name_or_path=STAND_IN, contexts=[64, 256], output_dir=str(tmp_path), positions=16,
                         markov_orders=[1])
    first = context_scan(args, held_out, scoring, model=model)
    monkeypatch.setattr("fgm.inference.MaskedBaseScorer.score", lambda *a, **k: pytest.fail("a saved context size was scored again"))
    again = context_scan(args, held_out, scoring, model=model)
    assert json.dumps(again.to_json()) == json.dumps(first.to_json())


def test_a_scan_result_round_trips_through_its_json_file(tmp_path, corpus):
    model = tiny(1)
    results = context_scan(ScanArguments(model_name_or_path=STAND_IN, contexts=["64", "256", "64"],
                                         output_dir=str(tmp_path), positions=12,
                                                markov_orders=[1]),
                           HeldOutArguments(corpus=corpus), ScoringArguments(bootstrap=20, quiet=True), model=model)
    assert isinstance(results, ScanResult) and [row.context for row in results.contexts] == [64, 256]
    assert ScanResult.load(tmp_path / "scan.json") == results
    assert json.loads((tmp_path / "scan.json").read_text()) == results.to_json()
    assert isinstance(results.contexts[0].loss.to_json(), list), "intervals are plain [estimate, low, high] lists"


@pytest.mark.parametrize("change", ["a key removed", "an extra key", "a list where an interval was"])
def test_a_scan_json_of_another_version_is_refused_saying_how_to_redo_it(tmp_path, corpus, change):
    model = tiny(1)
    context_scan(ScanArguments(model_name_or_path=STAND_IN, contexts=[64], output_dir=str(tmp_path), positions=8,
                               markov_orders=[0]),
                 HeldOutArguments(corpus=corpus), ScoringArguments(bootstrap=20, quiet=True), model=model)
    saved = json.loads((tmp_path / "scan.json").read_text())
    if change == "a key removed":
        del saved["contexts"][0]["copy_in_window"]
    elif change == "an extra key":
        saved["loss_per_token"] = 1.0
    else:
        saved["contexts"][0]["loss"] = saved["contexts"][0]["loss"][:2]  # [estimate, low]: no longer an interval
    (tmp_path / "old.json").write_text(json.dumps(saved))
    with pytest.raises(OutdatedResult) as refused:
        ScanResult.load(tmp_path / "old.json")
    message = str(refused.value)
    assert str(tmp_path / "old.json") in message and "ScanResult" in message
    assert ScanResult.redo in message and "run the command that wrote it again" in message


def test_markov_counts_both_strands_and_predicts_from_the_masked_neighbourhood():
    model = BidirectionalMarkov(order=1, gap=2, offset=1).fit(["ACGTA"])
    # tokens of 2 bases with one base of context each side, both strands (reverse complement TACGT):
    # ACGTA: A[CG]T -> G (key A,T), C[GT]A -> T (key C,A); TACGT: T[AC]G -> C (key T,G), A[CG]T -> G (key A,T)
    probabilities = np.exp(model.log_probs(["AxxT", "CxxA", "TxxG", "GxxG"]))
    np.testing.assert_allclose(probabilities[0], np.array([1, 1, 3, 1]) / 6)  # G seen twice after add-one
    np.testing.assert_allclose(probabilities[1], np.array([1, 1, 1, 2]) / 5)
    np.testing.assert_allclose(probabilities[2], np.array([1, 2, 1, 1]) / 5)
    np.testing.assert_allclose(probabilities[3], np.full(4, 0.25))  # an unseen context: uniform
    order0 = np.exp(BidirectionalMarkov(0).fit(["AAAC"]).log_probs(["A"]))[0]
    np.testing.assert_allclose(order0, np.array([3 + 1, 1 + 1, 1 + 1, 3 + 1]) / 12)  # AAAC and GTTT, add-one
    np.testing.assert_allclose(np.exp(model.log_probs(["NxxT"]))[0], np.full(4, 0.25))  # N in the context


# ------------------------------------------------------------------------------------------------- study


def test_study_trains_each_context_on_the_same_budget_and_reports_them_together(tmp_path, monkeypatch, caplog):
    from transformers import AutoConfig

    from fgm.context.results import StudyRun
    from fgm.context.study import StudyArguments, context_study
    from fgm.training.pretrain import PretrainingArguments, PretrainModelArguments

    DatasetDict({"train": Dataset.from_list(yeast.windows("chrIII", 600, 30)),
                 "test": Dataset.from_list(yeast.windows("chrVI", 3000, 4))}).save_to_disk(tmp_path / "corpus")
    corpus = str(tmp_path / "corpus")
    model_args = PretrainModelArguments(preset="tiny", kmer_size=1)
    training_args = PretrainingArguments(output_dir=str(tmp_path / "study"), eval_strategy="no", save_steps=1000,
                                         logging_steps=1, disable_tqdm=True, report_to="none", learning_rate=3e-3,
                                         seed=0)
    study_args = StudyArguments(corpus=corpus, train_contexts=[60, 240], bases=2_400, eval_contexts=[60, 240, 480],
                                bases_per_step=480, mlm_probability=0.15, positions=16, retrieval_distances=[64, 400],
                                retrieval_windows=4, influence_positions=6, bootstrap=20)
    study = context_study(study_args, model_args, training_args)
    runs = {r.train_context: r for r in study.runs}
    assert (runs[60].batch_size, runs[60].steps) == (7, 5) and (runs[240].batch_size, runs[240].steps) == (1, 9)
    assert all(0 <= 2_400 - r.bases < r.batch_size * r.tokens_per_example for r in runs.values()), (
        "the same base budget for every context, short of it by less than one step")
    marks = {c: [row.extrapolation for row in r.scan.contexts] for c, r in runs.items()}
    assert marks == {60: [False, True, True], 240: [False, False, True]}
    first, second = (np.load(tmp_path / "study" / "tiny" / f"train_{c}" / "scan" / "context_480.npz") for c in (60, 240))
    assert np.array_equal(first["positions"], second["positions"]), "every model is scored at the same positions"
    thetas = {AutoConfig.from_pretrained(tmp_path / "study" / "tiny" / f"train_{c}").rope_theta for c in (60, 240)}
    assert len(thetas) == 1, "one RoPE base for every model"
    (versus,) = study.versus_shortest  # the answer: each model minus the shortest-trained, paired per position
    own = {c: np.load(tmp_path / "study" / "tiny" / f"train_{c}" / "scan" / "context_240.npz")["base_loss"] for c in (60, 240)}
    assert (versus.train_context, versus.reference) == (240, 60)
    assert versus.loss[240].estimate == pytest.approx(float((own[240] - own[60]).mean()))
    assert versus.loss[240].low <= versus.loss[240].estimate <= versus.loss[240].high
    table = (tmp_path / "study" / "study.md").read_text()
    assert "| 240 minus 60 (paired) |" in table
    assert "| trained at 60 | 5 x 7 |" in table and "| trained at 240 | 9 x 1 |" in table and "*" in table and "Best baseline" in table
    assert (tmp_path / "study" / "study.png").stat().st_size > 1000
    assert "| copy oracle (no model) |" in table and "| no copy (" in table and "| copy oracle |" in table
    retrieval = {c: [row.extrapolation for row in r.retrieval.rows] for c, r in runs.items()}
    assert retrieval == {60: [True, True], 240: [False, True]}, "windows of 160 and 496 bases"
    assert "| trained at 240 | +" in table and "* |" in table, "each model's retrieval gain, extrapolation marked"
    assert [r.influence.context for r in runs.values()] == [60, 240] and "| trained at 240 | 240 |" in table
    assert all((tmp_path / "study" / f"study_{plot}.png").exists() for plot in ("retrieval", "influence"))
    # run again: every model was measured in full, so nothing trains or scans, and the report is the same
    monkeypatch.setattr("fgm.training.pretrain.pretrain", lambda *a, **k: pytest.fail("trained again"))
    monkeypatch.setattr("fgm.context.study.context_scan", lambda *a, **k: pytest.fail("scanned again"))
    again = context_study(study_args, model_args, training_args)
    assert (tmp_path / "study" / "study.md").read_text() == table and again.runs == study.runs
    # a study_run.json another version of FGM wrote (a key missing) is not read back, nor fatal: that model alone is
    # measured again (its training resumes from its last checkpoint: here, nothing left to train)
    record = tmp_path / "study" / "tiny" / "train_60" / "study_run.json"
    saved = json.loads(record.read_text())
    del saved["run"]["steps"]
    record.write_text(json.dumps(saved))
    trained, scanned = [], []
    monkeypatch.setattr("fgm.training.pretrain.pretrain", lambda *a, **k: trained.append(a[2].output_dir))
    monkeypatch.setattr("fgm.context.study.context_scan",
                        lambda *a, **k: scanned.append(a[0].output_dir) or context_scan(*a, **k))
    with caplog.at_level("WARNING", logger="fgm.context.study"):
        remeasured = context_study(study_args, model_args, training_args)
    folder = tmp_path / "study" / "tiny" / "train_60"
    assert trained == [str(folder)] and scanned == [str(folder / "scan")], "only the model whose record is outdated"
    assert str(record) in caplog.text and StudyRun.redo in caplog.text and "measuring again" in caplog.text
    assert remeasured.runs == study.runs and (tmp_path / "study" / "study.md").read_text() == table
    assert StudyRun.load(record).run.steps == 5, "its record written again, whole"
    with pytest.raises(ValueError, match="fewer than the 1,000-base training context"):
        context_study(StudyArguments(corpus=corpus, train_contexts=[1000], bases=100), model_args,
                      dataclasses.replace(training_args, output_dir=str(tmp_path / "again")))
    with pytest.raises(ValueError, match=r"unknown preset\(s\) \['unet-huge'\]"):
        context_study(StudyArguments(corpus=corpus, train_contexts=[60], bases=100, presets=["tiny", "unet-huge"]),
                      model_args, dataclasses.replace(training_args, output_dir=str(tmp_path / "again")))


def small_study(tmp_path):
    """A corpus of 30 yeast windows (train) and 4 of another chromosome (test) in tmp_path / "corpus", and the
    Trainer settings of a study of tiny models in tmp_path / "study" (seed 0; the studies below also mask 15% of the
    tokens, not the command's 30%: the settings their expectations were measured with)."""
    from fgm.training.pretrain import PretrainingArguments

    DatasetDict({"train": Dataset.from_list(yeast.windows("chrIII", 600, 30)),
                 "test": Dataset.from_list(yeast.windows("chrVI", 3000, 4))}).save_to_disk(tmp_path / "corpus")
    return PretrainingArguments(output_dir=str(tmp_path / "study"), eval_strategy="no", save_steps=1000,
                                logging_steps=1, disable_tqdm=True, report_to="none", learning_rate=3e-3, seed=0)


def test_study_compares_a_flat_and_a_unet_model_on_the_same_bases(tmp_path):
    from fgm.context.study import StudyArguments, context_study
    from fgm.training.pretrain import PretrainModelArguments

    training_args = small_study(tmp_path)
    study = context_study(StudyArguments(corpus=str(tmp_path / "corpus"), train_contexts=[240], bases=2_400,
                                         eval_contexts=[240, 480], presets=["tiny", "unet-tiny"], bases_per_step=480,
                                         mlm_probability=0.15, positions=16, retrieval_distances=[],
                                         influence_positions=0, bootstrap=20),
                          PretrainModelArguments(preset="tiny", kmer_size=1), training_args)
    flat, unet = study.runs
    assert (flat.preset, unet.preset) == ("tiny", "unet-tiny") and flat.bases == unet.bases
    assert np.array_equal(*(np.load(Path(r.scan_dir) / "context_480.npz")["positions"] for r in (flat, unet)))
    (versus,) = study.versus_first_preset
    losses = [np.load(Path(r.scan_dir) / "context_480.npz")["base_loss"] for r in (unet, flat)]
    assert versus.loss[480].estimate == pytest.approx(float((losses[0] - losses[1]).mean()))
    table = (tmp_path / "study" / "study.md").read_text()
    assert "| unet-tiny trained at 240 |" in table and "| unet-tiny 240 minus tiny 240 (paired) |" in table


def test_study_measures_every_model_again_on_a_held_out_genome_with_tables_of_its_own(tmp_path, monkeypatch):
    from fgm.context.study import StudyArguments, context_study
    from fgm.data.genome import iter_records
    from fgm.training.pretrain import PretrainingArguments, PretrainModelArguments

    DatasetDict({"train": Dataset.from_list(yeast.windows("chrIII", 600, 30)),
                 "test": Dataset.from_list(yeast.windows("chrVI", 3000, 4))}).save_to_disk(tmp_path / "corpus")
    dmel = Path(__file__).resolve().parents[1] / "data" / "genomes" / "drosophila_chr4" / "DmelanDM6_4.fna.gz"
    (tmp_path / "dmel4.fa").write_text(">4\n" + next(iter_records(dmel)).sequence[:30_000] + "\n")
    (tmp_path / "two.fa").write_text(">chrV\n" + yeast.chromosome("chrV")[:8_000] + "\n>chrIX\n"
                                     + yeast.chromosome("chrIX")[:8_000] + "\n")
    model_args = PretrainModelArguments(preset="tiny", kmer_size=1)
    training_args = PretrainingArguments(output_dir=str(tmp_path / "study"), eval_strategy="no", save_steps=1000,
                                         logging_steps=1, disable_tqdm=True, report_to="none", learning_rate=3e-3,
                                         seed=0)
    settings = dict(corpus=str(tmp_path / "corpus"), bases=480, eval_contexts=[120, 240], bases_per_step=240,
                    mlm_probability=0.15, positions=8, retrieval_distances=[64], retrieval_windows=2,
                    influence_positions=0, bootstrap=20)
    study = context_study(StudyArguments(train_contexts=[60, 120], eval_genomes=[str(tmp_path / "dmel4.fa")],
                                         **settings), model_args, training_args)
    short, long = study.runs
    measured = short.genomes["dmel4"]
    assert measured.scan.copy_oracle.fitted_on.startswith("the other half of each held-out record")
    assert measured.retrieval.rows[0].distance == 64 and measured.influence is None
    on_dmel = [np.load(tmp_path / "study" / "tiny" / f"train_{c}" / "genomes" / "dmel4" / "scan" / "context_240.npz")
               for c in (60, 120)]
    on_yeast = np.load(Path(short.scan_dir) / "context_240.npz")
    assert np.array_equal(on_dmel[0]["positions"], on_dmel[1]["positions"]), "every model at the same positions"
    assert not np.array_equal(on_dmel[0]["base_loss"], on_yeast["base_loss"])
    (versus,) = study.genomes["dmel4"].versus_shortest
    assert versus.loss[240].estimate == pytest.approx(float((on_dmel[1]["base_loss"] - on_dmel[0]["base_loss"]).mean()))
    table = (tmp_path / "study" / "study.md").read_text()
    yeast_part, dmel_part = table.split(f"## Held out: dmel4 ({tmp_path / 'dmel4.fa'}, every record)")
    for part in (yeast_part, dmel_part):
        assert "| trained at 60 |" in part and "| 120 minus 60 (paired) |" in part and "| copy oracle |" in part
    (line,) = [line for line in dmel_part.splitlines() if line.startswith("| 120 minus 60 (paired) |")]
    assert line.endswith(f"| {interval_text(versus.loss[240], sign='+')} |"), "the paired difference on Drosophila"
    assert all((tmp_path / "study" / f"study_dmel4{plot}.png").exists() for plot in ("", "_retrieval"))
    # a second genome added later: only it is measured; a missing record is named before anything trains
    monkeypatch.setattr("fgm.training.pretrain.pretrain", lambda *a, **k: pytest.fail("trained again"))
    measured_again = []
    monkeypatch.setattr("fgm.context.study.context_scan",
                        lambda *a, **k: measured_again.append(a[1]) or context_scan(*a, **k))
    again = context_study(StudyArguments(train_contexts=[60, 120], eval_genomes=[
        str(tmp_path / "dmel4.fa"), f"{tmp_path / 'two.fa'}:chrIX"], **settings), model_args, training_args)
    assert len(measured_again) == 2 and all(isinstance(h, HeldOutArguments) and h.chroms == ["chrIX"]
                                            for h in measured_again)
    assert again.runs[0].genomes["dmel4"] == measured
    assert again.runs[0].genomes["two_chrIX"].scan.copy_oracle.fitted_on == (
        "the other records of two.fa (8,000 bases)")
    other = dataclasses.replace(training_args, output_dir=str(tmp_path / "other"))
    with pytest.raises(ValueError, match=r"two.fa has no record\(s\) \['chrX'\]"):
        context_study(StudyArguments(train_contexts=[60], eval_genomes=[f"{tmp_path / 'two.fa'}:chrX"], **settings),
                      model_args, other)
    with pytest.raises(FileNotFoundError, match="no file"):
        context_study(StudyArguments(train_contexts=[60], eval_genomes=["missing.fa"], **settings), model_args, other)


def test_study_trains_a_copy_planting_arm_and_compares_it_paired_within_each_stratum(tmp_path):
    from fgm.context.study import StudyArguments, context_study
    from fgm.training.pretrain import PretrainModelArguments

    training_args = small_study(tmp_path)
    study = context_study(StudyArguments(corpus=str(tmp_path / "corpus"), train_contexts=[240], bases=4_800,
                                         eval_contexts=[120, 240], bases_per_step=482, mlm_probability=0.15,
                                         positions=40, retrieval_distances=[], influence_positions=0, bootstrap=20,
                                         plant_copies=True, plant_rate=0.5, plant_length=16, plant_curriculum="40:0.5",
                                         plant_rate_schedule="1:0.25", max_length_schedule="121:0.5"),
                          PretrainModelArguments(preset="tiny", kmer_size=1, config_overrides={"rope_theta": 1e6}),
                          training_args)
    natural, copies = study.runs
    assert (natural.preset, copies.preset) == ("tiny", "tiny+copies")
    from transformers import AutoConfig

    assert study.rope_theta == AutoConfig.from_pretrained(Path(copies.scan_dir).parent).rope_theta == 1e6, \
        "the RoPE base asked for, not the study's own"
    # 9 steps of 2 windows: the first 4 at 121 tokens (the schedule's first half), the rest at 241
    assert natural.steps == copies.steps == 9 and natural.bases == copies.bases == 2 * (4 * 121 + 5 * 241)
    card = (tmp_path / "study" / "tiny+copies" / "train_240" / "README.md").read_text()
    assert "copy planting" in card and "16-base segments" in card and "(rates 1:0.25)" in card
    assert "copy planting" not in (tmp_path / "study" / "tiny" / "train_240" / "README.md").read_text()
    (versus,) = study.versus_first_preset
    stratum = np.load(Path(copies.scan_dir) / "strata.npz")["stratum"]
    losses = [np.load(Path(r.scan_dir) / "context_240.npz")["base_loss"] for r in (copies, natural)]
    no_copy = stratum == 0
    assert no_copy.any()
    assert versus.by_stratum["no copy"][240].estimate == pytest.approx(float((losses[0] - losses[1])[no_copy].mean()))
    table = (tmp_path / "study" / "study.md").read_text()
    assert "| tiny+copies 240 minus tiny 240 | no copy |" in table
