"""Causal DNA LMs in FGM's instruments (`inference.CausalBaseScorer`): each base scored from the bases before it
equals a brute-force computation over the vocabulary strings, for single-base and 6-mer tokenizers (Carbon's and
GENERator's shape, `causal_peer`); bases after it and padding never change a score; and a causal checkpoint loads
where a masked one would, or is refused by name where it cannot serve."""

from itertools import product

import numpy as np
import pytest
import torch
import yeast
from causal_peer import causal_model, dna_tokenizer, save_causal_peer

from fgm.checkpoints import load_checkpoint, load_language_model, training_context
from fgm.inference import CausalBaseScorer, MaskedBaseScorer, base_scorer

SEQUENCE = yeast.chromosome("chrV")[30_000:30_500]


def brute_force(model, tokenizer, sequence: str, index: int, k: int) -> np.ndarray:
    """P(A, C, G, T at `index` | the bases before it): the next-token softmax after the whole k-mers before the
    base's token, summed over every vocabulary string that spells the token's bases before it and then each base."""
    start = index - index % k
    ids = tokenizer(sequence[:start])["input_ids"]
    with torch.no_grad():
        softmax = model(input_ids=torch.tensor([ids])).logits[0, -1].float().softmax(-1)
    known = sequence[start:index]
    mass = np.zeros(4)
    for b, base in enumerate("ACGT"):
        strings = [known + base + "".join(rest) for rest in product("ACGT", repeat=k - len(known) - 1)]
        strings += [base] if not known and k > 1 else []  # a single-letter token reaches offset 0 only
        mass[b] = sum(float(softmax[tokenizer.convert_tokens_to_ids(s)]) for s in strings)
    return mass / mass.sum()


@pytest.mark.parametrize("k", [1, 6])
def test_causal_scores_equal_the_brute_force_marginal_at_every_offset(k):
    tokenizer = dna_tokenizer(k)
    model = causal_model(tokenizer, init=0.5)  # peaked predictions, so that a wrong token's mass shows
    indices = [60 + j for j in range(k)] + [61, 200]  # every offset of one token, a repeat, a farther base
    sequences = [SEQUENCE[:300]] * len(indices)
    scores = CausalBaseScorer(model, tokenizer, batch_size=3).score(sequences, indices)
    for row, index in enumerate(indices):
        expected = brute_force(model, tokenizer, SEQUENCE[:300], index, k)
        assert np.abs(np.exp(scores.log_probs[row]) - expected).max() < 1e-5
        assert tuple(scores.token_spans[row]) == (index - index % k, index - index % k + k)
    assert np.exp(scores.log_probs).std() > 0.05  # the predictions are far from uniform: the test could fail


@pytest.mark.parametrize("k", [1, 6])
def test_causal_scores_ignore_later_bases_and_padding(k):
    tokenizer = dna_tokenizer(k)
    scorer = CausalBaseScorer(causal_model(tokenizer, init=0.5), tokenizer, batch_size=4)
    windows = [SEQUENCE[a : a + n] for a, n in ((0, 37), (5, 300), (90, 120), (200, 64))]
    indices = [30, 250, 100, 60]
    projected = []
    scorer.model.lm_head.register_forward_hook(lambda module, inputs, output: projected.append(output.shape[1]))
    batched = scorer.score(windows, indices)
    assert projected and max(projected) <= 4, "only each row's last position is projected to the vocabulary"
    for row, (window, index) in enumerate(zip(windows, indices)):
        alone = scorer.score([window], [index])
        assert np.abs(alone.log_probs - batched.log_probs[row]).max() <= 1e-5
        changed = window[: index + 1] + "".join("ACGT"[("ACGT".index(b) + 1) % 4] for b in window[index + 1 :])
        after = scorer.score([changed], [index])
        assert np.abs(after.log_probs - alone.log_probs).max() <= 1e-5  # a base after it is never read
    before = scorer.score([SEQUENCE[5:305].replace("A", "C", 3)], [250])
    assert np.abs(before.log_probs - batched.log_probs[1]).max() > 1e-4  # the bases before it are


def test_a_causal_folder_loads_as_one_and_is_refused_where_both_sides_are_needed(tmp_path):
    folder = save_causal_peer(tmp_path / "carbon-like", k=6, context_tokens=1025)
    model, tokenizer = load_language_model(str(folder), device="cpu")
    assert type(model).__name__ == "LlamaForCausalLM" and isinstance(base_scorer(model, tokenizer), CausalBaseScorer)
    assert training_context(tokenizer) == 1024 * 6
    with pytest.raises(ValueError, match=r"carbon-like is a causal language model: this tool needs a masked LM"):
        load_checkpoint(str(folder))
    from nt_peer import save_nt_peer

    masked = load_language_model(str(save_nt_peer(tmp_path / "nt")), device="cpu")
    assert isinstance(base_scorer(*masked), MaskedBaseScorer)


def test_a_model_that_is_no_language_model_is_refused_by_name(tmp_path):
    (tmp_path / "vision").mkdir()
    (tmp_path / "vision" / "config.json").write_text('{"model_type": "vit"}')
    with pytest.raises(ValueError, match=r"vision \(ViTConfig\) is neither a masked nor a causal language model"):
        load_language_model(str(tmp_path / "vision"))


def test_a_causal_tokenizer_without_bos_cannot_score_the_first_base():
    tokenizer = dna_tokenizer(1)
    tokenizer._tokenizer.post_processor = None
    scorer = CausalBaseScorer(causal_model(dna_tokenizer(1)), tokenizer)
    assert scorer.score(["ACGTA"], [1]).log_probs.shape == (1, 4)
    with pytest.raises(ValueError, match="puts no token \\(BOS\\) before a sequence"):
        scorer.score(["ACGTA"], [0])


# ------------------------------------------------------------------------------ the instruments on a causal LM
from pathlib import Path  # noqa: E402

from standins import CausalCopier, PreviousBase  # noqa: E402

from fgm.context.baselines import CausalMarkov  # noqa: E402
from fgm.context.results import StudyResult  # noqa: E402
from fgm.context.copies import STRATA, find_earlier_copies  # noqa: E402
from fgm.context.influence import InfluenceArguments, context_influence  # noqa: E402
from fgm.context.instrument import HeldOutArguments, ScoringArguments  # noqa: E402
from fgm.context.retrieval import RetrievalArguments, retrieval_benchmark  # noqa: E402
from fgm.context.scan import ScanArguments, context_scan  # noqa: E402
from fgm.model.kmers_fgm import reverse_complement  # noqa: E402

STAND_IN = "a stand-in model, passed in memory"
QUIET = ScoringArguments(bootstrap=200, quiet=True)
DMEL = Path(__file__).resolve().parents[1] / "data" / "genomes" / "drosophila_chr4" / "DmelanDM6_4.fna.gz"


@pytest.fixture(scope="module")
def held(tmp_path_factory):
    """The first 60 kb of yeast chrVI as a genome file."""
    path = tmp_path_factory.mktemp("held") / "held_out.fa"
    path.write_text(">chrVI\n" + yeast.chromosome("chrVI")[:60_000] + "\n")
    return HeldOutArguments(genome=str(path))


def test_one_sided_markov_and_copies_equal_their_definitions():
    # P(base | the base before it), both strands: AACAG gives A->A, A->C, C->A, A->G; its reverse complement CTGTT
    # gives C->T, T->G, G->T, T->T; after an A: A, C, G once each (+1 smoothing) and T never
    after_a = np.exp(CausalMarkov(1).fit(["AACAG"]).log_probs(["AN"]))[0]
    assert after_a == pytest.approx(np.array([2, 2, 2, 1]) / 7)
    needle, other = SEQUENCE[:25], yeast.chromosome("chrV")[40_000:40_500]
    for first, strand in ((100, needle), (100, reverse_complement(needle))):
        sequence = other[:100] + strand + other[100:400] + needle + other[400:450]
        scored = 100 + 25 + 300 + 24  # the needle's last base: its 24 bases before are the key
        copies = find_earlier_copies([sequence], [[0, scored]], key=24)
        predicted = first + 24 if strand == needle else first  # the base after the key, or before its complement
        assert copies.left_distance[0] == scored - predicted and np.isinf(copies.right_distance[0])
        assert copies.left_base[0] == "ACGT".index(needle[24])
        assert copies.left_start[0] == first
    assert np.isinf(find_earlier_copies([sequence], [[0, 110]], key=24).distance[0]), "no earlier copy"


def test_a_causal_copier_gains_ln4_in_retrieval_and_a_previous_base_model_nothing(tmp_path, held):
    copier = CausalCopier()
    results = retrieval_benchmark(RetrievalArguments(model_name_or_path=STAND_IN, distances=[64, 1000],
                                                     output_dir=str(tmp_path / "copier"), windows=20), held, QUIET,
                                  model=(copier, copier.tokenizer))
    assert results.causal
    for row in results.rows:
        assert row.gain.estimate == pytest.approx(np.log(4), abs=1e-3) and row.copy_accuracy.estimate == 1
    assert "each from the bases before it (a causal LM)" in (tmp_path / "copier" / "retrieval.md").read_text()
    previous = PreviousBase()
    results = retrieval_benchmark(RetrievalArguments(model_name_or_path=STAND_IN, distances=[64, 1000],
                                                     output_dir=str(tmp_path / "previous"), windows=20), held, QUIET,
                                  model=(previous, previous.tokenizer))
    for row in results.rows:
        assert row.copy_loss == row.control_loss and row.gain.estimate == 0


def test_causal_influence_reaches_the_previous_base_only_or_the_planted_copy(tmp_path, held):
    previous = PreviousBase()
    results = context_influence(InfluenceArguments(model_name_or_path=STAND_IN, context=256, positions=30,
                                                   output_dir=str(tmp_path / "previous")), held, QUIET,
                                model=(previous, previous.tokenizer))
    assert results.causal and results.reach == 1
    assert results.bands[0].kl.estimate > 0.01 and all(row.kl.estimate == 0 for row in results.bands[1:])
    assert [row.bases for row in results.bands[:3]] == [1, 2, 4], "one side only: the bases before the scored one"
    copier = CausalCopier()
    results = context_influence(InfluenceArguments(model_name_or_path=STAND_IN, context=1024, positions=30,
                                                   copy_distance=300, output_dir=str(tmp_path / "copier")), held,
                                QUIET, model=(copier, copier.tokenizer))
    by_band = {row.start: row for row in results.bands}
    assert results.intact_loss.estimate < 0.01, "the copy 300 bases before predicts every scored base"
    assert by_band[256].loss_change.estimate > 1 and results.reach == 256
    assert by_band[1].loss_change.estimate > 0.5, "the key (the bases just before) is read too"
    assert all(by_band[d].kl.estimate < 1e-6 for d in (16, 32, 64, 128, 512))


def test_a_causal_scan_sees_a_copier_use_earlier_copies_with_one_sided_baselines(tmp_path):
    held_out = HeldOutArguments(genome=str(DMEL))
    copier = CausalCopier()
    args = ScanArguments(model_name_or_path=STAND_IN, contexts=[64, 1000], output_dir=str(tmp_path), positions=40,
                         markov_orders=[0, 2], stratum="< 1 kb")
    results = context_scan(args, held_out, ScoringArguments(bootstrap=200, quiet=True),
                           model=(copier, copier.tokenizer))
    assert results.causal and results.strata[1].positions == 40  # every position has an earlier copy < 1 kb away
    short, long = results.contexts
    assert long.copy_in_window.estimate == 1 and short.copy_in_window.estimate < 0.9  # tandem copies sit within 64
    assert long.loss.estimate < 0.1 < short.loss.estimate - 0.2, "the copier predicts from every copy in its window"
    assert long.copy_oracle.loss.estimate < short.copy_oracle.loss.estimate
    table = (tmp_path / "scan.md").read_text()
    assert "Causal-LM scores" in table and "nearest earlier copy" in table
    saved = np.load(tmp_path / "context_1000.npz")
    spans = saved["token_spans"]
    assert (spans[:, 1] == saved["positions"][:, 1] + 1).all(), "each window ends with its scored base"


def test_every_instrument_runs_a_causal_checkpoint_folder_from_the_command_line(tmp_path, capsys):
    from fgm.cli import main

    folder = save_causal_peer(tmp_path / "generator-like", k=6, context_tokens=101)  # 100 six-mers: 600 bases
    common = ["--model", str(folder), "--genome", str(DMEL), "--quiet", "--bootstrap", "50"]
    main(["context-scan", *common, "--contexts", "120,600", "--positions", "30", "--markov_orders", "0", "1",
          "--output_dir", str(tmp_path / "scan")])
    main(["benchmark", "retrieval", *common, "--distances", "64,512", "--windows", "5",
          "--output_dir", str(tmp_path / "retrieval")])
    main(["context-influence", *common, "--positions", "10", "--output_dir", str(tmp_path / "influence")])
    import json

    scan = json.loads((tmp_path / "scan" / "scan.json").read_text())
    assert scan["causal"] and scan["kmer_size"] == 6 and scan["training_context"] == 600
    assert [row["context"] for row in scan["contexts"]] == [120, 600]
    influence = json.loads((tmp_path / "influence" / "influence.json").read_text())
    assert influence["causal"] and influence["context"] == 600
    assert json.loads((tmp_path / "retrieval" / "retrieval.json").read_text())["causal"]


def test_a_window_longer_than_a_learned_position_table_is_refused_by_name(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = dna_tokenizer(1)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_positions=64, n_embd=16, n_layer=1, n_head=2))
    scorer = base_scorer(model.eval(), tokenizer)
    assert isinstance(scorer, CausalBaseScorer) and scorer.score([SEQUENCE[:60]], [59]).log_probs.shape == (1, 4)
    with pytest.raises(ValueError, match=r"GPT2LMHeadModel reads at most 64 tokens \(its learned position "
                                         r"embeddings\); a window of 101 tokens is longer"):
        scorer.score([SEQUENCE[:200]], [100])


def test_an_esm_position_table_is_read_from_its_padding_row_on(tmp_path):
    """ESM (NT v1's absolute positions) numbers positions from padding_idx + 1 = 2: a table of 12 rows reads 10
    tokens, and an 11th would index past it inside the model."""
    from nt_peer import save_nt_peer
    from transformers import AutoTokenizer, EsmForMaskedLM

    folder = save_nt_peer(tmp_path / "nt")
    config = EsmForMaskedLM.config_class.from_pretrained(folder, position_embedding_type="absolute",
                                                         max_position_embeddings=12)
    scorer = base_scorer(EsmForMaskedLM(config).eval(), AutoTokenizer.from_pretrained(folder))
    assert isinstance(scorer, MaskedBaseScorer) and scorer.score([SEQUENCE[:54]], [20]).log_probs.shape == (1, 4)
    with pytest.raises(ValueError, match=r"EsmForMaskedLM reads at most 10 tokens \(its learned position "
                                         r"embeddings\); a window of 11 tokens is longer"):
        scorer.score([SEQUENCE[:60]], [20])


def test_a_study_measures_existing_causal_and_masked_checkpoints_side_by_side(tmp_path, monkeypatch):
    from datasets import Dataset, DatasetDict
    from nt_peer import save_nt_peer

    from fgm.cli import main

    DatasetDict({"train": Dataset.from_list(yeast.windows("chrIII", 3000, 4)),
                 "test": Dataset.from_list(yeast.windows("chrVI", 3000, 8))}).save_to_disk(tmp_path / "corpus")
    causal, masked = save_causal_peer(tmp_path / "llama", context_tokens=513), save_nt_peer(tmp_path / "nt")
    command = ["context-study", "--corpus", str(tmp_path / "corpus"), "--measure_only", "--models",
               f"carbon-like={causal}", f"nt-like={masked}", "--eval_contexts", "128", "512", "--positions", "30",
               "--retrieval_distances", "64", "256", "--retrieval_windows", "5", "--influence_positions", "5",
               "--bootstrap", "50", "--output_dir", str(tmp_path / "study"), "--disable_tqdm", "true"]
    main(command)
    study = StudyResult.load(tmp_path / "study" / "study.json")
    carbon, nt = study.runs
    assert (carbon.preset, carbon.causal, carbon.checkpoint, carbon.train_context) == ("carbon-like", True, str(causal),
                                                                                       512)
    assert (nt.preset, nt.causal, nt.kmer_size, nt.train_context) == ("nt-like", False, 6, 5994)
    assert carbon.retrieval.causal and carbon.influence.causal and not nt.retrieval.causal
    assert not study.versus_shortest and not study.versus_first_preset, "a causal and a masked model are never paired"
    table = (tmp_path / "study" / "study.md").read_text()
    assert "| carbon-like (causal, trained at 512) | existing checkpoint | | 1.39" in table
    assert "| one-sided copy oracle (no model) |" in table and "| copy oracle (no model) |" in table
    assert "no copy (" in table and ", causal) | carbon-like (causal, trained at 512) |" in table
    monkeypatch.setattr("fgm.inference.CausalBaseScorer.score", lambda *a, **k: pytest.fail("measured again"))
    monkeypatch.setattr("fgm.inference.MaskedBaseScorer.score", lambda *a, **k: pytest.fail("measured again"))
    main(command)  # each checkpoint's measurements are read back
    with pytest.raises(SystemExit):
        main(command[:3] + ["--measure_only", "--output_dir", str(tmp_path / "x")])


def test_a_causal_model_trained_on_copies_at_one_distance_gains_there_and_nowhere_else(tmp_path, held):
    from causal_peer import train_offset_copier

    folder = train_offset_copier(tmp_path / "copier", steps=200, distance=64)
    scoring = ScoringArguments(bootstrap=200, quiet=True)
    results = retrieval_benchmark(RetrievalArguments(model_name_or_path=str(folder), distances=[64, 256],
                                                     output_dir=str(tmp_path / "retrieval"), windows=20), held, scoring)
    at_64, at_256 = results.rows
    assert at_64.gain.low > 0.5, "the copy 64 bases back is read: a real gain, seen by the probe"
    assert abs(at_256.gain.estimate) < 0.05, "a copy at a distance it never saw is not"
    influence = context_influence(InfluenceArguments(model_name_or_path=str(folder), context=256, positions=20,
                                                     copy_distance=64, output_dir=str(tmp_path / "influence")),
                                  held, scoring)
    change = {row.start: row.loss_change.estimate for row in influence.bands}
    assert change[64] > 0.2, "losing the copy 64 bases back costs the scored base"
    assert all(abs(change[d]) < 0.05 for d in (2, 4, 8, 16, 32, 128)), "no other band holds what it reads"


# ------------------------------------------------------------------ models with input rules (NTv3: N to 128)
def test_a_model_that_takes_multiples_of_2_to_the_downsamplings_gets_windows_padded_with_n(tmp_path, held):
    from standins import Local

    class Downsampling(Local):
        """Reads like `Local`, but as NTv3 takes only lengths divisible by 2 ** num_downsamples and no <pad>."""

        def forward(self, input_ids, attention_mask=None, labels=None):
            assert input_ids.shape[1] % 8 == 0, f"{input_ids.shape[1]} tokens: not a multiple of 8"
            assert not (input_ids == self.tokenizer.pad_token_id).any(), "padded with <pad>"
            return super().forward(input_ids, attention_mask, labels)

    plain, rule = Local(reach=4), Downsampling(reach=4)
    rule.config.num_downsamples = 3
    windows = [SEQUENCE[:101], SEQUENCE[7:120]]  # + <cls>: 104 and 120 tokens, N after the last base; one batch
    expected = MaskedBaseScorer(plain, plain.tokenizer).score(windows, [50, 60])
    padded = MaskedBaseScorer(rule, rule.tokenizer).score(windows, [50, 60])
    assert np.array_equal(padded.log_probs, expected.log_probs) and np.array_equal(padded.token_spans,
                                                                                   expected.token_spans)
    results = retrieval_benchmark(RetrievalArguments(model_name_or_path=STAND_IN, distances=[64], windows=5,
                                                     output_dir=str(tmp_path)), held, QUIET,
                                  model=(rule, rule.tokenizer))
    assert "padded on the right with N to a multiple of 8 tokens" in results.input_rule
    assert "Input: each window padded on the right with N" in (tmp_path / "retrieval.md").read_text()


def test_embed_reads_a_causal_checkpoint_through_automodel(tmp_path):
    from fgm.embeddings import EmbedArguments, embed

    folder = save_causal_peer(tmp_path / "llama", k=6)
    (tmp_path / "x.fa").write_text(f">a\n{SEQUENCE[:120]}\n>b\n{SEQUENCE[200:290]}\n")
    summary = embed(EmbedArguments(model_name_or_path=str(folder), fasta=str(tmp_path / "x.fa"),
                                   output=str(tmp_path / "x.npy"), quiet=True))
    vectors = np.load(tmp_path / "x.npy")
    assert vectors.shape == (2, 32) and np.isfinite(vectors).all() and not np.allclose(vectors[0], vectors[1])
    assert summary.sequences == 2
