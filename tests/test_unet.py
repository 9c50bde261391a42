"""The single-base U-Net around FGM's trunk, on real yeast sequence: padded batches equal each sequence alone on
every backend, every head works per base, gradient checkpointing and torch.compile change nothing, the trunk
runs at 1 / 2**stages of the length, and what a U-Net cannot compute exactly is refused by name."""

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
import yeast

from fgm import FGMConfig, FGMForMaskedLM, FGMForSequenceClassification, FGMForTokenClassification, FGMModel
from fgm.model.kmers_fgm import reverse_complement
from fgm.model.tokenization_fgm import FGMTokenizer

TOKENIZER = FGMTokenizer(k=1)
CHROMOSOME = yeast.chromosome("chrII")
# lengths that are not multiples of the 8-base block, and one shorter than the longest by more than a block
SEQUENCES = [CHROMOSOME[5_000 + 700 * i : 5_000 + 700 * i + length] for i, length in enumerate((300, 57, 129, 8))]


def unet(cls=FGMModel, backend="sdpa", seed=0, **overrides):
    torch.manual_seed(seed)
    model = cls(FGMConfig.preset("unet-tiny", **overrides)).eval()
    model.set_attn_implementation(backend)
    return model


def test_config_schedule_and_k():
    config = FGMConfig.preset("unet-base")
    assert config.unet_block == 128 and config.unet_widths[0] == 256 and config.unet_widths[-1] == 768
    assert config.unet_widths == sorted(config.unet_widths) and not config.tie_word_embeddings
    assert config.output_hidden_size == 256 and FGMConfig.preset("small").output_hidden_size == 512
    with pytest.raises(ValueError, match="reads single bases: kmer_size must be 1, got 6"):
        FGMConfig.preset("unet-demo", kmer_size=6)
    with pytest.raises(ValueError, match="unet_kernel must be an odd number of bases, got 4"):
        FGMConfig.preset("unet-demo", unet_kernel=4)


@pytest.mark.parametrize("backend", ["eager", "sdpa", "flex_attention"])
def test_a_padded_batch_gives_each_sequence_its_own_outputs(backend):
    """Convolutions and pooling cross the end of every shorter row, yet each row comes out as when alone."""
    model = unet(backend=backend)
    batch = TOKENIZER(SEQUENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        together = model(**batch).last_hidden_state
        assert together.shape == (4, 301, 32)  # one vector per token (<cls> + bases), the stem's width
        for row, sequence in enumerate(SEQUENCES):
            alone = model(**TOKENIZER([sequence], return_tensors="pt")).last_hidden_state[0]
            torch.testing.assert_close(together[row, : len(alone)], alone, atol=1e-5, rtol=1e-5)


def test_the_trunk_runs_at_one_token_per_block_and_reaches_as_far_as_its_windows():
    """unet-tiny: 2 sliding layers of +-8 trunk tokens (8 bases each), so position 5 sees about 2 x 8 x 8 bases
    far, through the trunk, and nothing beyond."""
    model = unet()
    ids = TOKENIZER([SEQUENCES[0]], return_tensors="pt")["input_ids"]

    def change_at_5(position):
        changed = ids.clone()
        changed[0, position] = TOKENIZER.convert_tokens_to_ids("A" if SEQUENCES[0][position - 1] != "A" else "C")
        return float((model(changed).last_hidden_state - out.last_hidden_state)[0, 5].abs().max())

    with torch.no_grad():
        out = model(ids, output_hidden_states=True)
        assert [h.shape for h in out.hidden_states] == [(1, 38, 64)] * 3  # ceil(301 / 8) trunk tokens, 2 layers
        assert change_at_5(100) > 1e-6 and change_at_5(290) == 0


def test_masked_lm_heads_per_base():
    model = unet(FGMForMaskedLM)
    batch = TOKENIZER(SEQUENCES[:2], padding=True, return_tensors="pt")
    labels = torch.full_like(batch["input_ids"], -100)
    labels[0, [3, 100]], labels[1, 20] = batch["input_ids"][0, [3, 100]], batch["input_ids"][1, 20]
    with torch.no_grad():
        sparse = model(**batch, labels=labels)
        model.config.sparse_prediction = False
        dense = model(**batch, labels=labels)
        probs, valid = model.nucleotide_probabilities(batch["input_ids"], batch["attention_mask"])
    assert sparse.logits.shape == (3, 11) and dense.logits.shape == (2, 301, 11)
    torch.testing.assert_close(sparse.logits, dense.logits[labels != -100])
    torch.testing.assert_close(sparse.loss, dense.loss)
    assert probs.shape == (2, 301, 1, 4) and valid[0, 1:].all() and not valid[0, 0]


def test_classification_heads_and_rc_average():
    batch = TOKENIZER(SEQUENCES[:3], padding=True, return_tensors="pt")
    reverse = TOKENIZER([reverse_complement(s) for s in SEQUENCES[:3]], padding=True, return_tensors="pt")
    model = unet(FGMForSequenceClassification, num_labels=2, rc_average=True)
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).logits, model(**reverse).logits, atol=1e-5, rtol=1e-5)
    tokens = unet(FGMForTokenClassification, num_labels=3)
    out = tokens(**batch, labels=torch.randint(0, 3, batch["input_ids"].shape))
    assert out.logits.shape == (3, 301, 3) and out.loss.requires_grad


def test_gradient_checkpointing_covers_the_convolutions_and_changes_nothing():
    batch = TOKENIZER(SEQUENCES[:2], padding=True, return_tensors="pt")
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    gradients = []
    for checkpointing in (False, True):
        model = unet(FGMForMaskedLM).train()
        if checkpointing:
            model.gradient_checkpointing_enable()
            stages = [m for m in model.modules() if type(m).__name__ in ("FGMStem", "FGMDownStage", "FGMUpStage")]
            assert len(stages) == 7 and all(m.gradient_checkpointing for m in stages)
        model(**batch, labels=labels).loss.backward()
        gradients.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    torch.testing.assert_close(gradients[1], gradients[0], atol=1e-6, rtol=1e-5)


def test_compiles_without_graph_breaks_and_runs_under_bf16():
    model = unet()
    batch = TOKENIZER(SEQUENCES[:2], padding=True, return_tensors="pt")
    explanation = torch._dynamo.explain(model)(**batch)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    with torch.no_grad():
        expected = model(**batch).last_hidden_state
        torch.testing.assert_close(torch.compile(model)(**batch).last_hidden_state, expected, atol=1e-5, rtol=1e-5)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = model(**batch).last_hidden_state
    real = batch["attention_mask"].bool()
    assert (half.float()[real] - expected[real]).abs().max() < 0.1


def test_what_a_unet_cannot_compute_exactly_is_refused_by_name():
    model = unet()
    short = r"row 1 has 6 tokens, fewer than one trunk token of this U-Net \(8 bases = 2\*\*3"
    with pytest.raises(ValueError, match=short):
        model(**TOKENIZER(["ACGTACGTACGT", "ACGTA"], padding=True, return_tensors="pt"))
    ids = TOKENIZER([SEQUENCES[0]], return_tensors="pt")["input_ids"]
    positions = torch.cat([torch.arange(150), torch.arange(151)])[None]
    with pytest.raises(ValueError, match="cannot take packed sequences"):
        model(ids, position_ids=positions)
    left = TOKENIZER(SEQUENCES[:2], padding=True, return_tensors="pt")
    left["attention_mask"] = left["attention_mask"].flip(-1)
    with pytest.raises(ValueError, match="needs right padding"):
        model(**left)


def drosophila_gap_windows() -> tuple[str, list[str]]:
    """D. melanogaster chromosome 4 around its assembly gap (17 kb of N): the sequence from 2 kb before the gap to
    3 kb into it, and windows before the gap, across its edge and inside it (only N)."""
    genome = Path(__file__).resolve().parents[1] / "data" / "genomes" / "drosophila_chr4" / "DmelanDM6_4.fna.gz"
    with gzip.open(genome, "rt") as handle:
        chromosome = "".join(line.strip() for line in handle if not line.startswith(">"))
    gap = chromosome.index("N" * 1000)
    region = chromosome[gap - 2000 : gap + 3000]
    return region, [region[300:600], region[1850:2150], region[2500:2800], region[4000:4077]]


def test_a_window_of_only_n_computes_like_any_other():
    """Issue 23: a batch holding a window over an assembly gap (only N) failed as a whole. N is read like any base:
    every row, the all-N ones included, gets the outputs it gets alone, on every head and backend."""
    _, windows = drosophila_gap_windows()
    assert set(windows[2]) == set(windows[3]) == {"N"} and "N" not in windows[0] and set(windows[1]) > {"N"}
    batch = TOKENIZER(windows, padding=True, return_tensors="pt")
    for backend in ("eager", "sdpa"):
        model = unet(FGMForSequenceClassification, backend=backend, num_labels=2, rc_average=True)
        masked_lm = unet(FGMForMaskedLM, backend=backend)
        with torch.no_grad():
            together, logits = model.model(**batch).last_hidden_state, masked_lm(**batch).logits
            classes = model(**batch).logits
            for row, window in enumerate(windows):
                alone = TOKENIZER([window], return_tensors="pt")
                n = alone["input_ids"].shape[1]
                torch.testing.assert_close(together[row, :n], model.model(**alone).last_hidden_state[0])
                torch.testing.assert_close(logits[row, :n], masked_lm(**alone).logits[0])
                torch.testing.assert_close(classes[row], model(**alone).logits[0])


def test_embed_reads_a_genome_across_its_gap(tmp_path):
    """`fgm embed` with a U-Net over BED regions before, across and inside the gap: one finite vector per region,
    the gap's equal to the model's own output for that window."""
    from fgm.cli import main

    region, _ = drosophila_gap_windows()
    genome = tmp_path / "chr4.fa"
    genome.write_text(">chr4\n" + "\n".join(region[i : i + 60] for i in range(0, len(region), 60)) + "\n")
    (tmp_path / "gap.bed").write_text("chr4\t300\t600\tbefore\nchr4\t1850\t2150\tedge\nchr4\t2500\t2800\tgap\n")
    model = unet(FGMModel)
    model.save_pretrained(tmp_path / "model")
    TOKENIZER.save_pretrained(tmp_path / "model")
    main(["embed", "--model", str(tmp_path / "model"), "--bed", str(tmp_path / "gap.bed"), "--genome", str(genome),
          "--output", str(tmp_path / "gap.npy"), "--pooling", "mean", "--quiet"])
    vectors = np.load(tmp_path / "gap.npy")
    assert vectors.shape == (3, 32) and np.isfinite(vectors).all()
    with torch.no_grad():
        alone = model(**TOKENIZER([region[2500:2800]], return_tensors="pt")).last_hidden_state[0, 1:].mean(0)
    np.testing.assert_allclose(vectors[2], alone.numpy(), atol=1e-5, rtol=1e-5)


def test_every_command_runs_a_unet_end_to_end(tmp_path, capsys):
    """As a user would: `fgm pretrain --preset unet-tiny` (k=1 by default), then fine-tuning, variant scores (one
    window per variant per strand: no k-mer frames), embeddings per base and pooled, and a context scan, all on
    the pretrained folder; the folder loads through every Auto class where `fgm` cannot be imported."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    import numpy as np
    import pandas as pd
    from datasets import Dataset, DatasetDict

    from fgm.cli import main

    promoter = Path(__file__).parent / "data" / "nt" / "promoter_all"
    DatasetDict({"train": Dataset.from_list(yeast.windows("chrIII", 600, 40)),
                 "validation": Dataset.from_list(yeast.windows("chrVI", 600, 4)),
                 "test": Dataset.from_list(yeast.windows("chrVI", 3000, 4))}).save_to_disk(tmp_path / "corpus")
    model = str(tmp_path / "model")
    main(["pretrain", "--corpus", str(tmp_path / "corpus"), "--preset", "unet-tiny", "--output_dir", model,
          "--max_length", "300", "--max_steps", "4", "--per_device_train_batch_size", "4", "--eval_steps", "4",
          "--save_steps", "4", "--logging_steps", "2", "--disable_tqdm", "True", "--report_to", "none"])
    config = json.loads(Path(model, "config.json").read_text())
    assert config["unet_stages"] == 3 and config["kmer_size"] == 1
    assert "3 stages: 8 bases per trunk token" in Path(model, "README.md").read_text()
    with pytest.raises(SystemExit):  # an input error: one line, exit status 2
        main(["pretrain", "--corpus", str(tmp_path / "corpus"), "--preset", "unet-tiny", "--padding_free", "True",
              "--output_dir", str(tmp_path / "packed"), "--max_steps", "1", "--report_to", "none"])
    assert "--padding_free packs examples into one row" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["pretrain", "--corpus", str(tmp_path / "corpus"), "--preset", "unet-tiny", "--kmer_size", "6",
              "--output_dir", str(tmp_path / "kmers"), "--max_steps", "1", "--report_to", "none"])
    assert "kmer_size must be 1, got 6" in capsys.readouterr().err

    main(["finetune", "--model_name_or_path", model, "--train_file", str(promoter / "train.tsv"), "--test_file",
          str(promoter / "test.tsv"), "--output_dir", str(tmp_path / "finetune"), "--num_train_epochs", "1",
          "--disable_tqdm", "True", "--report_to", "none"])
    assert json.loads((tmp_path / "finetune" / "results.json").read_text())["n_runs"] == 1

    sequence = yeast.chromosome("chrI")[:3_000]
    genome = tmp_path / "chrI.fa"
    genome.write_text(">chrI\n" + "\n".join(sequence[i : i + 60] for i in range(0, len(sequence), 60)) + "\n")
    vcf = tmp_path / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + "".join(
        f"chrI\t{p + 1}\t.\t{sequence[p]}\t{'A' if sequence[p] != 'A' else 'C'}\t.\t.\t.\n" for p in (700, 1500)))
    capsys.readouterr()
    main(["score-variants", "--model", model, "--genome", str(genome), "--vcf", str(vcf), "--output",
          str(tmp_path / "scores.tsv"), "--quiet"])
    assert json.loads(capsys.readouterr().out)["scored"] == 2
    assert np.isfinite(pd.read_csv(tmp_path / "scores.tsv", sep="\t", comment="#")["score"]).all()

    bed = tmp_path / "r.bed"
    bed.write_text("chrI\t100\t700\tfirst\nchrI\t1000\t2500\tsecond\n")
    for pooling, rows in (("per-nucleotide", 600 + 1500), ("mean", 2)):
        out = tmp_path / f"{pooling}.npy"
        main(["embed", "--model", model, "--bed", str(bed), "--genome", str(genome), "--output", str(out),
              "--pooling", pooling, "--quiet"])
        assert np.load(out).shape == (rows, 32)
    main(["embed", "--model", model, "--bed", str(bed), "--genome", str(genome), "--output",
          str(tmp_path / "trunk.npy"), "--pooling", "mean", "--layer", "1", "--quiet"])
    assert np.load(tmp_path / "trunk.npy").shape == (2, 64)  # the trunk's width

    main(["context-scan", "--model", model, "--corpus", str(tmp_path / "corpus"), "--contexts", "100,600",
          "--positions", "12", "--markov_orders", "1", "--bootstrap", "20", "--output_dir", str(tmp_path / "scan"),
          "--quiet", "True"])
    scan = json.loads((tmp_path / "scan" / "scan.json").read_text())
    assert [row["context"] for row in scan["contexts"]] == [100, 600]

    check = (
        "import sys; sys.modules['fgm'] = None\n"
        "import transformers as t\n"
        "for auto in ('AutoModel', 'AutoModelForMaskedLM', 'AutoModelForSequenceClassification',"
        " 'AutoModelForTokenClassification'):\n"
        "    m = getattr(t, auto).from_pretrained(sys.argv[1], trust_remote_code=True)\n"
        "    assert m.config.unet_stages == 3, auto\n"
        "tok = t.AutoTokenizer.from_pretrained(sys.argv[1], trust_remote_code=True)\n"
        "print(type(m).__name__, tok.k)\n"
    )
    run = subprocess.run([sys.executable, "-c", check, model], capture_output=True, text=True, cwd=tmp_path,
                         env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}, timeout=300)
    assert run.returncode == 0 and run.stdout.split() == ["FGMForTokenClassification", "1"], run.stderr[-2000:]


def test_variant_scores_take_one_masked_forward_per_variant_and_strand(tmp_path, monkeypatch):
    """Single bases have no k-mer frames: `--frames all` costs one masked window per variant and strand (a 6-mer
    model needs six), and each score equals ln P(alt) - ln P(ref) from the model directly."""
    from fgm.data.reference import ReferenceGenome
    from fgm.inference import MaskedBaseScorer
    from fgm.variants.scoring import SNV, VariantScorer

    sequence = CHROMOSOME[:2_000]
    (tmp_path / "g.fa").write_text(">chrII\n" + "\n".join(sequence[i : i + 60] for i in range(0, 2_000, 60)) + "\n")
    snvs = [SNV("chrII", p + 1, sequence[p], "A" if sequence[p] != "A" else "C") for p in (400, 900, 1_300)]
    model = unet(FGMForMaskedLM)
    windows = []
    original = MaskedBaseScorer.score
    monkeypatch.setattr(MaskedBaseScorer, "score",
                        lambda self, s, i, **kw: windows.append(len(s)) or original(self, s, i, **kw))
    with ReferenceGenome(tmp_path / "g.fa") as genome:
        scores = VariantScorer(model, TOKENIZER, window=256, frames="all").score(genome, snvs)
    assert windows == [2 * len(snvs)]
    snv, start = snvs[0], 400 - 128
    ids = TOKENIZER([sequence[start : start + 256]], return_tensors="pt")["input_ids"]
    ids[0, 1 + 128] = TOKENIZER.mask_token_id
    with torch.no_grad():
        log_probs = model(input_ids=ids).logits[0, 1 + 128].log_softmax(-1)
    expected = log_probs[TOKENIZER.convert_tokens_to_ids(snv.alt)] - log_probs[TOKENIZER.convert_tokens_to_ids(snv.ref)]
    assert scores[0, 0] == pytest.approx(float(expected), abs=1e-5)
