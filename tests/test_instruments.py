"""The instruments that show where long context can help and whether a model uses it, on real yeast sequence: the
copy index equals a brute-force search, the copy oracle's loss equals its definition, retrieval windows differ
from their controls only in the first copy, a perfect copier gains ln 4 and a local model gains nothing, and the
influence of a model with a known reach is zero beyond it; every instrument runs on a Nucleotide Transformer-shaped
folder."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yeast
from datasets import Dataset, DatasetDict
from nt_peer import save_nt_peer
from standins import Copier, Local

from fgm.context.copies import STRATA, find_copies, strata
from fgm.context.influence import InfluenceArguments, context_influence
from fgm.context.instrument import HeldOutArguments, ScoringArguments
from fgm.context.oracle import fit_error_rates, stratum_rates
from fgm.context.oracle_scan import OracleArguments
from fgm.context.results import Floored, PlantedCopy, ScanResult
from fgm.context.retrieval import RetrievalArguments, retrieval_benchmark, retrieval_windows
from fgm.context.held_out import Segment, corpus_segments
from fgm.context.scan import ScanArguments, context_scan, window_start
from fgm.model.kmers_fgm import reverse_complement
from fgm.context.baselines import BidirectionalMarkov
from fgm.results import Interval

REPEATS = yeast.chromosome("chrIII")[140_000:156_000]  # holds copies on both strands, 3.6 to 8.7 kb apart
RDNA = yeast.chromosome("chrXII")[440_000:480_000]  # two 9.1 kb rDNA units, and closer copies
QUIET = ScoringArguments(bootstrap=200, quiet=True)
STAND_IN = "a stand-in model, passed in memory"  # the instruments' model_name_or_path when `model=` is given


def brute_copies(sequence, start, end, position, flank=12):
    """Every occurrence of the flanks of token [start, end) on both strands, by regex over the whole sequence; the
    nearest on each side, not overlapping: (span start, base the copy holds at `position`, distance, reverse strand)
    or None."""
    gap, n = end - start, len(sequence)
    width, span = 2 * flank + gap, start - flank
    pattern = re.compile(f"(?={sequence[span:start]}.{{{gap}}}{sequence[end:end + flank]})")
    found = [(m.start(), m.start() + flank + position - start, False) for m in pattern.finditer(sequence)]
    found += [(n - width - m.start(), n - width - m.start() + flank + gap - 1 - (position - start), True)
              for m in pattern.finditer(reverse_complement(sequence))]
    left = max((f for f in found if f[0] + width <= span), default=None)
    right = min((f for f in found if f[0] >= span + width), default=None)

    def described(copy):
        if copy is None:
            return None
        base = sequence[copy[1]]
        return copy[0], "ACGT".index(reverse_complement(base) if copy[2] else base), abs(copy[1] - position), copy[2]

    return described(left), described(right), width


@pytest.mark.parametrize("gap, offset", [(1, 0), (6, 2)])
def test_copy_index_equals_a_brute_force_search_on_real_windows(gap, offset):
    strands, shares = set(), []
    for window in (REPEATS, RDNA):
        starts = np.arange(20, len(window) - 30, 41)
        copies = find_copies([window], [(0, s + offset) for s in starts], [(s, s + gap) for s in starts])
        for i, start in enumerate(starts):
            left, right, width = brute_copies(window, start, start + gap, start + offset)
            got_left = None if copies.left_start[i] < 0 else (copies.left_start[i], copies.left_base[i],
                                                               copies.left_distance[i])
            got_right = None if copies.right_end[i] < 0 else (copies.right_end[i] - width, copies.right_base[i],
                                                               copies.right_distance[i])
            assert (got_left, got_right) == tuple(c and c[:3] for c in (left, right)), start
            strands |= {c[3] for c in (left, right) if c}
        shares.append(np.isfinite(copies.distance).mean())
    assert strands == {False, True}, "copies on both strands were found and checked"
    assert 0 < shares[0] < 0.1 and 0.3 < shares[1] < 0.9


def test_strata_bin_the_distance_to_the_nearest_copy():
    distances = np.array([np.inf, 1, 999, 1_000, 9_999, 10_000, 99_999, 100_000, 2e6])
    assert [STRATA[s] for s in strata(distances)] == ["no copy", "< 1 kb", "< 1 kb", "1-10 kb", "1-10 kb", "10-100 kb",
                                                      "10-100 kb", ">= 100 kb", ">= 100 kb"]


def test_oracle_error_rates_count_the_copies_that_hold_another_base_by_distance():
    chunk = yeast.chromosome("chrV")[30_000:30_300]
    diverged = chunk[:100] + ("A" if chunk[100] != "A" else "C") + chunk[101:]  # one substitution between the copies
    far = yeast.chromosome("chrV")[60_000:60_200]  # copied again 1.5 kb away, unchanged
    spacer = yeast.chromosome("chrV")[70_000:71_500]
    sequence = chunk + yeast.chromosome("chrV")[50_000:50_100] + diverged + far + spacer + far
    fit = fit_error_rates([sequence], gap=1, positions=10**6)
    expected = np.zeros((len(STRATA), 2), dtype=int)  # copies, mismatches per stratum: every position, by brute force
    for start in range(12, len(sequence) - 12):
        left, right, _ = brute_copies(sequence, start, start + 1, start)
        nearest = min((c for c in (left, right) if c), key=lambda c: c[2], default=None)
        if nearest:
            expected[strata(np.array([nearest[2]]))[0]] += [1, nearest[1] != "ACGT".index(sequence[start])]
    got = [(row.stratum, row.copies, row.mismatches) for row in fit.strata]
    assert got == [(name, *expected[i]) for i, name in enumerate(STRATA) if i]
    assert expected[1, 1] == 2 and expected[2, 0] > 150 and expected[2, 1] == 0, "the substituted base, twice; far: 0"
    rates = {row.stratum: row.error_rate for row in fit.strata}
    assert rates["< 1 kb"] == 3 / (expected[1, 0] + 2) and rates["1-10 kb"] == 1 / (expected[2, 0] + 2)
    assert rates["10-100 kb"] == rates[">= 100 kb"] == 0.5, "no copies: a cautious rate, not a confident one"


def test_scan_reports_strata_and_a_copy_oracle_that_equals_its_definition(tmp_path):
    rdna = [{"sequence": RDNA[i : i + 4000], "chrom": "chrXII", "start": 440_000 + i, "end": 444_000 + i}
            for i in range(0, len(RDNA), 4000)]
    corpus = DatasetDict({"train": Dataset.from_list(yeast.windows("chrIII", 4000, 10)),
                          "test": Dataset.from_list(rdna)})
    model = Local(reach=4)
    contexts = [200, 4000, 20_000]
    args = ScanArguments(model_name_or_path=STAND_IN, contexts=contexts, output_dir=str(tmp_path), positions=80,
                         markov_orders=[1, 3])
    results = context_scan(args, HeldOutArguments(corpus=corpus),
                           ScoringArguments(seed=2, bootstrap=50, quiet=True), model=(model, model.tokenizer))
    saved = np.load(tmp_path / "context_200.npz")
    segment = corpus_segments(corpus["test"].to_list())[0]
    assert segment.sequence == RDNA
    fit, fallback_order = results.copy_oracle, int(results.copy_oracle.fallback.split()[-1])
    markov = BidirectionalMarkov(fallback_order).fit(["".join(corpus["train"]["sequence"])])  # one chromosome
    nearest, oracle = [], {c: [] for c in contexts}
    for _, position in saved["positions"]:
        left, right, width = brute_copies(RDNA, position, position + 1, position)
        nearest.append(min([c[2] for c in (left, right) if c], default=np.inf))
        truth = "ACGT".index(RDNA[position])
        markov_loss = -markov.log_probs([RDNA[position - fallback_order : position + fallback_order + 1]])[0, truth]
        for context in contexts:
            start = window_start(position, context, contexts[-1], 1)
            inside = [c for c in (left, right) if c and start <= c[0] and c[0] + width <= start + context]
            if inside:
                base, distance = min(inside, key=lambda c: c[2])[1:3]
                error = stratum_rates(fit.folds[0])[strata(np.array([distance]))[0]]
                oracle[context].append(-np.log(1 - error) if base == truth else -np.log(error / 3))
            else:
                oracle[context].append(markov_loss)
    for row in results.contexts:
        assert row.copy_oracle.loss.estimate == pytest.approx(np.mean(oracle[row.context]))
    shares = {row.stratum: row.share.estimate for row in results.strata}
    assert shares == {name: pytest.approx(np.mean(strata(np.array(nearest)) == i)) for i, name in enumerate(STRATA)}
    assert shares["1-10 kb"] > 0.2 and shares["10-100 kb"] == 0 and shares[">= 100 kb"] == 0
    assert sum(row.positions for row in results.strata) == 80
    oracle_loss = [row.copy_oracle.loss.estimate for row in results.contexts]
    assert oracle_loss[2] < oracle_loss[1] - 0.2, "at 20 kb the rDNA copies 9.1 kb away are in the window"
    table = (tmp_path / "scan.md").read_text()
    assert "| 10-100 kb | 0 (0.0% [0.0, 0.0]) | no scored position has its nearest copy at this distance |" in table
    assert fit.floored == [], "the definition above holds where no stratum is floored to the fallback"
    assert "|  |  | copy oracle |" in table and "copy error rates by distance" in table
    assert "fitted on the corpus's train split (40,000 bases)" in table


def test_oracle_scan_counts_every_base_and_gains_where_the_copies_are(tmp_path):
    from fgm.context.oracle_scan import oracle_scan

    genome = tmp_path / "genome.fa"
    genome.write_text(f">rdna\n{RDNA}\n>chrIII\n{REPEATS}\n")
    results = oracle_scan(OracleArguments(contexts=[1000, 20_000, 10**7], output_dir=str(tmp_path), positions=300,
                                          markov_orders=[2], bootstrap=50),
                          HeldOutArguments(genome=str(genome), chroms=["rdna"]))
    assert sum(results.bases["held_out"]) == len(RDNA) and sum(results.bases["train"]) == len(REPEATS)
    shares = dict(zip(STRATA, np.array(results.bases["held_out"]) / len(RDNA)))
    assert 0.3 < shares["1-10 kb"] < 0.9 and shares["10-100 kb"] == 0
    gains = [-row.vs_best_baseline.loss.estimate for row in results.contexts]
    assert gains == [row.gain.estimate for row in results.contexts]
    assert 0 <= gains[0] < gains[1] - 0.2 and gains[2] >= gains[1], "more context holds more of the 9.1 kb copies"
    assert results.contexts[2].copy_in_window > 0.3, "a context longer than the sequence is the whole sequence"
    table = (tmp_path / "oracle.md").read_text()
    assert "| held-out | 40,000 |" in table and "| 10,000,000 |" in table
    assert "no sampled position is in this stratum" in table


# ------------------------------------------------------------------------- a genome of one record, few copies

DMEL = Path(__file__).resolve().parents[1] / "data" / "genomes" / "drosophila_chr4" / "DmelanDM6_4.fna.gz"


@pytest.fixture(scope="module")
def drosophila(tmp_path_factory):
    """The first 200 kb of D. melanogaster chromosome 4 (bundled, one record, rich in copies) as a one-record genome."""
    from fgm.data.genome import iter_records

    path = tmp_path_factory.mktemp("dmel") / "dmel4.fa"
    path.write_text(">4\n" + next(iter_records(DMEL)).sequence[:200_000] + "\n")
    return path


def test_a_one_record_genome_fits_each_halfs_baselines_on_the_other_half(tmp_path, drosophila):
    from fgm.context.oracle_scan import oracle_scan

    results = oracle_scan(OracleArguments(contexts=[1000, 100_000], output_dir=str(tmp_path), positions=400,
                                          markov_orders=[1, 2], bootstrap=50), HeldOutArguments(genome=str(drosophila)))
    sequence = drosophila.read_text().split("\n")[1]
    first, second = sequence[:100_000], sequence[100_000:]
    fit = results.copy_oracle
    assert fit.fitted_on.startswith("the other half of each held-out record")
    assert fit.folds == [fit_error_rates([second], 1), fit_error_rates([first], 1)], "each half fitted on the other"
    assert list(results.bases) == ["held_out"] and sum(results.bases["held_out"]) == 200_000
    assert results.bases["held_out"][0] < 0.95 * 200_000, "Drosophila chr4 has copies: the strata need no training"
    table = (tmp_path / "oracle.md").read_text()
    assert "other half of each held-out record" in table and "pooled over the 2 halves" in table
    # each position's fallback is the Markov model fitted on the half it is not in
    data = HeldOutArguments(genome=str(drosophila)).load()
    from fgm.context.scan import choose_positions, markov_scores

    chosen, _ = choose_positions(data.held_out, 25, 400, 0)
    scores = markov_scores(data, chosen, [(p, p + 1) for _, p in chosen], (2,))["Markov order 2"][0]
    for i in (0, len(chosen) - 1):  # one position in each half
        position = chosen[i][1]
        other = second if position < 100_000 else first
        model = BidirectionalMarkov(2).fit([other])
        truth = "ACGT".index(sequence[position])
        assert scores[i] == pytest.approx(-model.log_probs([sequence[position - 2 : position + 3]])[0, truth])
    assert chosen[0][1] < 100_000 <= chosen[-1][1]


def test_a_training_genome_fits_the_baselines_of_a_held_out_genome(tmp_path, drosophila):
    from fgm.context.oracle_scan import oracle_scan

    yeast_file = tmp_path / "yeast.fa"
    yeast_file.write_text(">chrIII\n" + REPEATS + "\n")
    results = oracle_scan(OracleArguments(contexts=[1000], output_dir=str(tmp_path), positions=100, markov_orders=[1],
                                          bootstrap=20),
                          HeldOutArguments(genome=str(drosophila), train_genome=str(yeast_file)))
    assert results.copy_oracle.fitted_on == "every record of yeast.fa (16,000 bases)"
    assert results.copy_oracle.folds == [fit_error_rates([REPEATS], 1)]
    assert sum(results.bases["train"]) == 16_000 and "| train | 16,000 |" in (tmp_path / "oracle.md").read_text()


def test_copies_farther_apart_than_a_corpus_window_count_for_the_error_rates():
    windows = [{"sequence": REPEATS[i : i + 1000], "chrom": "chrIII", "start": 140_000 + i, "end": 141_000 + i}
               for i in range(0, len(REPEATS), 1000)]
    corpus = DatasetDict({"train": Dataset.from_list(windows), "test": Dataset.from_list(yeast.windows("chrVI", 2000, 2))})
    data = HeldOutArguments(corpus=corpus).load()
    assert data.train == [REPEATS], "the train split's windows are one chromosome again"
    fit = fit_error_rates(data.train, 1)
    assert {row.stratum: row.copies > 0 for row in fit.strata}["1-10 kb"], "copies 3.6 to 8.7 kb apart"


def test_the_oracle_is_never_worse_than_its_fallback_on_a_diverged_copy(tmp_path):
    """A copy whose every 25th base differs: each of its exact 24-base keys sits around a substituted base, so every
    copy the oracle finds holds another base. Trusted at the rate of the training chromosome's copies, it would
    predict far worse than guessing; floored, its loss there is the fallback's."""
    from fgm.context.oracle import floor, oracle_scores
    from fgm.context.oracle_scan import oracle_scan

    original = yeast.chromosome("chrV")[100_000:103_000]
    diverged = "".join("ACGT"[("ACGT".index(b) + 1) % 4] if i % 25 == 12 else b for i, b in enumerate(original))
    genome = tmp_path / "genome.fa"
    genome.write_text(f">held\n{original}{yeast.chromosome('chrV')[110_000:112_000]}{diverged}\n>train\n{RDNA}\n")
    results = oracle_scan(OracleArguments(contexts=[1000, 20_000], output_dir=str(tmp_path), positions=2000,
                                          markov_orders=[2], bootstrap=50),
                          HeldOutArguments(genome=str(genome), chroms=["held"]))
    stratum = {row.stratum: row for row in results.strata}["1-10 kb"]
    assert stratum.positions > 30, "the substituted bases of both copies, 5 kb apart"
    assert results.copy_oracle.floored == [Floored(context=20_000, strata=["1-10 kb"])]
    assert stratum.copy_oracle[1] == stratum.best_baseline, "at 20 kb: the fallback's loss, not worse"
    assert "which the oracle takes there: 20,000 bases: 1-10 kb" in (tmp_path / "oracle.md").read_text()
    rate = stratum_rates(results.copy_oracle.folds[0])[2]
    wrong = oracle_scores(np.zeros(4, int), np.ones(4, int), np.full(4, rate), (np.full(4, 1.3), np.zeros(4, bool)))
    assert wrong[0].mean() > np.log(4), "unfloored, the trusted copies cost more than a uniform guess"
    floored, names = floor(wrong, (np.full(4, 1.3), np.zeros(4, bool)), np.full(4, 2), np.ones(4, bool))
    assert names == ["1-10 kb"] and np.all(floored[0] == 1.3)


def test_each_instrument_runs_on_a_one_record_genome_from_the_command_line(tmp_path, drosophila, capsys):
    from fgm.cli import main

    folder = save_nt_peer(tmp_path / "nt")
    common = ["--model", str(folder), "--genome", str(drosophila), "--bootstrap", "20", "--quiet", "True"]
    main(["context-scan", *common, "--contexts", "600,6k", "--positions", "12", "--markov_orders", "1", "2",
          "--output_dir", str(tmp_path / "scan")])
    table = capsys.readouterr().out
    assert "| 6,000 (extrapolation) |" in table and "| 600 |" in table and "Markov order 2" in table
    assert "Markov baselines and copy error rates fitted on the other half of each held-out record" in table
    main(["benchmark", "retrieval", *common, "--distances", "1k", "--windows", "4", "--output_dir",
          str(tmp_path / "retrieval")])
    assert "| 1,000 | 1,096 |" in capsys.readouterr().out
    main(["context-influence", *common, "--context", "600", "--positions", "4", "--output_dir",
          str(tmp_path / "influence")])
    assert "| [256, 512) |" in capsys.readouterr().out


def test_a_scan_drawn_from_one_stratum_sees_a_copier_use_copies_9_kb_away_and_pairs_with_another_scan(tmp_path):
    (tmp_path / "rdna.fa").write_text(">chrXII_rDNA\n" + RDNA + "\n")
    copier, held = Copier(), HeldOutArguments(genome=str(tmp_path / "rdna.fa"))

    def scan_args(folder, contexts=(2_000, 20_000), **options):
        return ScanArguments(model_name_or_path=STAND_IN, contexts=list(contexts), output_dir=str(tmp_path / folder),
                             **{"positions": 12, "stratum": "1-10kb", **options})

    scan = context_scan(scan_args("scan"), held, QUIET, model=(copier, copier.tokenizer))
    by_stratum = {row.stratum: row for row in scan.strata}
    assert by_stratum["1-10 kb"].positions == 12 and scan.excluded["outside_stratum"] > 0
    near, far = by_stratum["1-10 kb"].model
    assert near.estimate == pytest.approx(np.log(4), abs=0.01) and far.high < 0.01, (
        "no copy in 2 kb; each copy in 20 kb")
    local = Local(reach=8)
    paired = context_scan(scan_args("local", versus=str(tmp_path / "scan")), held, QUIET,
                          model=(local, local.tokenizer))
    versus = paired.versus
    assert versus.loss[20_000].low > 1 and versus.loss[20_000].above_zero, (
        "the local model minus the copier, which has each copy in 20 kb")
    assert list(versus.by_stratum["1-10 kb"]) == [2_000, 20_000]
    assert not any(versus.by_stratum[name] for name in ("no copy", "< 1 kb")), "no position outside the stratum"
    assert versus.scan == str(tmp_path / "scan")
    assert json.loads((tmp_path / "local" / "scan.json").read_text())["versus"]["loss"]["20000"] == (
        versus.loss[20_000].to_json()), "saved with the rest of the scan, as plain JSON"
    assert ScanResult.load(tmp_path / "local" / "scan.json") == paired, "read back with its contexts as numbers"
    assert "model scanned in" in (tmp_path / "local" / "scan.md").read_text()
    with pytest.raises(ValueError, match="scored different positions"):
        context_scan(scan_args("other", versus=str(tmp_path / "scan")), held,
                     ScoringArguments(bootstrap=200, quiet=True, seed=1), model=(local, local.tokenizer))
    with pytest.raises(ValueError, match="unknown repeat stratum '2-3 kb'"):
        context_scan(scan_args("bad", [2_000], positions=4, stratum="2-3 kb"), held, QUIET,
                     model=(copier, copier.tokenizer))
    with pytest.raises(ValueError, match="positions in the stratum asked for have room"):
        context_scan(scan_args("few", [2_000], positions=4, stratum=">= 100 kb"), held,
                     QUIET, model=(copier, copier.tokenizer))


# --------------------------------------------------------------------------------------------------- retrieval


def held_out():
    return [Segment("chrVI", 0, yeast.chromosome("chrVI")[:60_000])]


@pytest.fixture
def held(tmp_path):
    """The first 60 kb of chrVI as a genome file: a held-out sequence the instruments read like any other."""
    (tmp_path / "held_out.fa").write_text(">chrVI\n" + yeast.chromosome("chrVI")[:60_000] + "\n")
    return HeldOutArguments(genome=str(tmp_path / "held_out.fa"))


def test_retrieval_windows_differ_from_their_controls_only_in_the_first_copy():
    windows = retrieval_windows(held_out(), 200, 30, seed=4)
    assert windows.digest() == retrieval_windows(held_out(), 200, 30, seed=4).digest()
    assert windows.digest() != retrieval_windows(held_out(), 200, 30, seed=5).digest()
    first, second, length = windows.first, windows.second, 32
    for copy, control, truth in zip(windows.copy, windows.control, windows.truth):
        assert len(copy) == len(control) == 32 + 200 + 32 + 32
        assert copy[first : first + length] == copy[second : second + length] != control[first : first + length]
        assert copy[:first] == control[:first] and copy[first + length :] == control[first + length :]
        assert "".join(copy[i] for i in windows.scored) == truth
        assert copy[second : second + length] in yeast.chromosome("chrVI"), "the copied segment is genomic sequence"
    assert windows.scored == [second + 14, second + 15, second + 16, second + 17]
    decoyed = retrieval_windows(held_out(), 200, 30, seed=4, distractor=3)
    near = decoyed.distractor
    assert near == second - 100
    for copy, control in zip(decoyed.copy, decoyed.control):
        needle, decoy = copy[second : second + length], copy[near : near + length]
        differ = [o for o in range(length) if needle[o] != decoy[o]]
        assert set(range(14, 18)) <= set(differ) and len(differ) == 4 + 3
        assert control[near : near + length] == decoy and copy[first : first + length] == needle


def test_a_shuffled_control_keeps_the_first_copys_composition():
    windows = retrieval_windows(held_out(), 200, 30, seed=4, control="shuffled")
    assert windows.copy == retrieval_windows(held_out(), 200, 30, seed=4).copy, "the same copy arm for both controls"
    first, length = windows.first, 32
    for copy, control in zip(windows.copy, windows.control):
        assert sorted(control[first : first + length]) == sorted(copy[first : first + length])
        assert control[first : first + length] != copy[first : first + length]
        assert copy[:first] + copy[first + length :] == control[:first] + control[first + length :]
    with pytest.raises(ValueError, match="control must be one of"):
        retrieval_windows(held_out(), 200, 3, control="random")


def test_retrieval_refuses_bad_distances_by_name():
    with pytest.raises(ValueError, match="distance 20 is shorter than the copy"):
        retrieval_windows(held_out(), 20, 5)
    with pytest.raises(ValueError, match=r"distance 100,000 needs 100,096-base windows: .* \(longest record 60,000"):
        retrieval_windows(held_out(), 100_000, 5)
    with pytest.raises(ValueError, match="a distractor needs a distance of at least 2 x the copy"):
        retrieval_windows(held_out(), 40, 5, distractor=2)


def test_a_copier_gains_ln4_and_a_local_model_gains_nothing(tmp_path, held, monkeypatch):
    copier = Copier()
    copier.tokenizer.model_max_length = 301  # trained at 300 bases: the 1,000-base distance is extrapolation
    results = retrieval_benchmark(RetrievalArguments(model_name_or_path=STAND_IN,
        distances=[64, 1000], output_dir=str(tmp_path / "copier"), windows=20), held, QUIET,
        model=(copier, copier.tokenizer))
    for row in results.rows:
        assert row.gain.estimate == pytest.approx(np.log(4), abs=1e-3) and row.gain.low > 1.38
        assert row.copy_accuracy.estimate == 1 and row.control_loss.estimate == pytest.approx(np.log(4))
    assert [row.extrapolation for row in results.rows] == [False, True]
    table = (tmp_path / "copier" / "retrieval.md").read_text()
    assert "| 1,000 (extrapolation) | 1,096 |" in table
    assert (tmp_path / "copier" / "retrieval.png").stat().st_size > 1000
    decoyed = retrieval_benchmark(RetrievalArguments(model_name_or_path=STAND_IN,
        distances=[256], output_dir=str(tmp_path / "decoyed"), windows=20, distractor=2), held, QUIET,
        model=(copier, copier.tokenizer))
    assert decoyed.rows[0].gain.estimate == pytest.approx(np.log(4), abs=1e-3), "an exact matcher ignores a near-copy"
    shuffled = retrieval_benchmark(RetrievalArguments(model_name_or_path=STAND_IN,
        distances=[256], output_dir=str(tmp_path / "shuffled"), windows=20, control="shuffled"), held, QUIET,
        model=(copier, copier.tokenizer))
    assert shuffled.rows[0].gain.estimate == pytest.approx(np.log(4), abs=1e-3), "copying is order-specific"
    local = Local(reach=4)
    local_args = RetrievalArguments(model_name_or_path=STAND_IN, distances=[64, 1000], output_dir=str(tmp_path / "local"),
                                    windows=20)
    results = retrieval_benchmark(local_args, held, QUIET, model=(local, local.tokenizer))
    for row in results.rows:
        assert row.gain.low <= 0 <= row.gain.high and abs(row.gain.estimate) < 1e-9
        assert not row.gain.above_zero and not row.gain.below_zero
        assert row.copy_loss == row.control_loss and row.copy_loss.estimate != pytest.approx(np.log(4))
    monkeypatch.setattr("fgm.inference.MaskedBaseScorer.score", lambda *a, **k: pytest.fail("a saved distance"))
    again = retrieval_benchmark(local_args, held, QUIET, model=(local, local.tokenizer))
    assert json.dumps(again.to_json()) == json.dumps(results.to_json())


# --------------------------------------------------------------------------------------------------- influence


def test_influence_is_zero_beyond_a_models_reach(tmp_path, held, monkeypatch):
    model = Local(reach=8)
    args = InfluenceArguments(model_name_or_path=STAND_IN, context=256, output_dir=str(tmp_path), positions=40)
    results = context_influence(args, held, QUIET, model=(model, model.tokenizer))
    by_band = {row.start: row for row in results.bands}
    assert list(by_band) == [1, 2, 4, 8, 16, 32, 64, 128] and all(row.band == (row.start, 2 * row.start)
                                                                  for row in results.bands)
    assert all(by_band[d].kl.low > 0 for d in (1, 2, 4, 8)), "every band within the reach changes the prediction"
    assert all(by_band[d].kl == Interval(0, 0, 0) and by_band[d].loss_change == Interval(0, 0, 0)
               for d in (16, 32, 64, 128))
    assert results.reach == 8 and not results.extrapolation
    assert "| [16, 32) | 32 | 0.00e+00 [0.00e+00, 0.00e+00] |" in (tmp_path / "influence.md").read_text()
    from fgm.inference import MaskedBaseScorer

    scored, score = [], MaskedBaseScorer.score
    monkeypatch.setattr(MaskedBaseScorer, "score", lambda self, *a, **k: scored.append(k["desc"]) or score(self, *a,
                                                                                                        **k))
    again = context_influence(args, held, QUIET, model=(model, model.tokenizer))
    assert scored == ["intact"] and json.dumps(again.to_json()) == json.dumps(results.to_json()), \
        "saved bands are not scored again"


def test_influence_at_a_planted_copy_reaches_the_copy_for_a_copier_and_not_for_a_local_model(tmp_path, held):
    copier, local = Copier(), Local(reach=8)
    def influence(model, folder, **args):
        return context_influence(InfluenceArguments(model_name_or_path=STAND_IN, context=256, output_dir=str(
            tmp_path / folder), **{"positions": 20, **args}), held, QUIET, model=(model, model.tokenizer))

    natural = influence(copier, "natural")
    assert natural.reach is None and natural.copy is None, "no copy in these windows: nothing to read"
    planted = influence(copier, "copier", copy_distance=100)
    by_band = {row.start: row for row in planted.bands}
    assert planted.copy == PlantedCopy(distance=100, length=32, band=64) and planted.reach == 64
    assert planted.to_json()["copy"] == {"distance": 100, "length": 32, "band": 64}
    assert by_band[64].loss_change.low > 1, "replacing the copy costs the copier over a nat per base"
    assert by_band[64].kl.estimate == max(row.kl.estimate for row in planted.bands) == pytest.approx(np.log(4)), \
        "without the copy, a certain prediction becomes uniform: no band moves it more"
    assert "band [64, 128) holds the copy" in (tmp_path / "copier" / "influence.md").read_text()
    blind = influence(local, "local", copy_distance=100)
    assert blind.reach == 8, "a model that cannot see the copy does not reach it"
    elsewhere = influence(copier, "copier", copy_distance=40)
    assert elsewhere.reach == 32, "bands saved for another copy distance are scored again"
    with pytest.raises(ValueError, match="a 32-base copy 120 bases before the scored base needs .* at least 272"):
        influence(copier, "far", positions=4, copy_distance=120)


def test_a_planted_copy_repeats_the_bases_around_the_scored_one():
    from fgm.context.influence import plant_copy

    window = yeast.chromosome("chrI")[2000:2256]
    planted = plant_copy(window, 128, 64, 32)
    assert planted[48:80] == window[112:144] and len(planted) == 256
    assert planted[:48] == window[:48] and planted[80:] == window[80:], "nothing else changes"
    with pytest.raises(ValueError, match="at least 32"):
        plant_copy(window, 128, 16, 32)  # the copy would overlap the bases it repeats


def test_perturbed_bands_replace_exactly_the_bases_at_that_distance():
    from fgm.context.influence import perturb

    window, donor = yeast.chromosome("chrI")[1000:1064], yeast.chromosome("chrI")[5000:5064]
    perturbed = perturb(window, donor, (30, 31), 4)
    changed = {i for i in range(64) if perturbed[i] != window[i]}
    replaced = set(range(23, 27)) | set(range(34, 38))  # 4 to 7 bases before position 30 and after it
    assert changed <= replaced and all(perturbed[i] == donor[i] for i in replaced)
    edge = perturb(window, donor, (60, 61), 2)  # the right band runs past the window's end: clipped
    assert edge[62:64] == donor[62:64] and edge[57:59] == donor[57:59] and len(edge) == 64


# --------------------------------------------------------------------------------------- any Hugging Face masked LM


def test_each_instrument_runs_on_a_nucleotide_transformer_folder(tmp_path, held, capsys):
    from fgm.cli import main

    folder, genome = save_nt_peer(tmp_path / "nt"), held.genome
    main(["benchmark", "retrieval", "--model", str(folder), "--genome", genome, "--distances", "64,7k",
          "--windows", "4", "--bootstrap", "20", "--output_dir", str(tmp_path / "retrieval"), "--quiet", "True"])
    table = capsys.readouterr().out
    assert "| 64 | 160 |" in table and "| 7,000 (extrapolation) | 7,096 |" in table
    assert "Training context: 5,994" in table
    main(["context-influence", "--model", str(folder), "--genome", genome, "--context", "600", "--positions", "6",
          "--bootstrap", "20", "--output_dir", str(tmp_path / "influence"), "--quiet", "True"])
    table = capsys.readouterr().out
    assert "| [1, 2) |" in table and "| [256, 512) |" in table and "600-base window" in table
    bands = json.loads((tmp_path / "influence" / "influence.json").read_text())["bands"]
    assert [row["band"][0] for row in bands] == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    assert min(row["kl"][1] for row in bands) >= 0
    with pytest.raises(SystemExit):  # an input error: one line, exit status 2
        main(["benchmark", "retrieval", "--model", str(folder), "--genome", genome, "--distances", "1m"])
    assert "distance 1,000,000 needs 1,000,096-base windows" in capsys.readouterr().err
