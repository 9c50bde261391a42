"""Fine-tuning with the Trainer on the bundled UCI fixtures (tiny preset, CPU, offline).

The splice-junction task (3 classes, 60 nt, GT/AG at the junction) is learnable from scratch: a
randomly initialised tiny model with a 3-mer tokenizer and <cls> pooling reaches a test MCC of about
0.8 in 4 epochs (about 20 s on 2 cores); the tests require > 0.5.
"""

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import HfArgumentParser

from fgm.cli import main
from fgm.commands import finetune as finetune_cmd
from fgm.training.finetune import finetune
from fgm.training.reports import FinetuneResult, NTBenchmarkResult, SplitCounts
from fgm.training.task_encoding import SequenceTooLongError

ROOT = Path(__file__).resolve().parents[1]
NT_DIR = ROOT / "tests" / "data" / "nt"
SPLICE = NT_DIR / "splice_sites_all"
PROMOTER = NT_DIR / "promoter_all"

# settings that learn the splice task reliably (test MCC 0.83-0.86 over seeds 1-3)
SPLICE_ARGS = ["--num_train_epochs", "4", "--learning_rate", "2e-3", "--per_device_train_batch_size", "64",
               "--seeds", "1", "--disable_tqdm", "True"]


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    """Tiny models run fastest on one intra-op thread (and do not slow down on a busy machine)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A randomly initialised tiny masked-LM checkpoint with a 3-mer tokenizer (Hub-loadable folder)."""
    import torch

    from fgm.model.configuration_fgm import FGMConfig
    from fgm.model.modeling_fgm import FGMForMaskedLM
    from fgm.model.tokenization_fgm import FGMTokenizer

    out = tmp_path_factory.mktemp("tiny_k3")
    tokenizer = FGMTokenizer(k=3)
    torch.manual_seed(0)
    config = FGMConfig.preset("tiny", vocab_size=len(tokenizer), kmer_size=3, classifier_pooling="cls")
    model = FGMForMaskedLM(config)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


def test_finetune_splice_reaches_mcc(checkpoint, tmp_path):
    out = tmp_path / "splice"
    main(
        [
            "finetune",
            "--model_name_or_path",
            checkpoint,
            "--train_file",
            str(SPLICE / "train.csv"),
            "--test_file",
            str(SPLICE / "test.csv"),
            "--output_dir",
            str(out),
            *SPLICE_ARGS,
        ]
    )
    saved = json.loads((out / "results.json").read_text())
    assert set(saved["summary"]) == {"mcc", "f1", "f1_macro", "accuracy"}
    results = FinetuneResult.load(out / "results.json")
    assert results.to_json() == saved, "read back as it was written"
    assert results.num_labels == 3 and results.label_names == ["ei", "ie", "n"]
    assert results.data.n_test == 600 and results.data.n_train == 2400
    run = results.runs[0]
    assert run.n_train == 2160 and run.n_validation == 240  # validation carved from train
    assert results.summary.mcc.mean > 0.5, results.summary
    assert results.arguments.model["model_name_or_path"] == checkpoint == results.model
    assert "mcc" in (out / "results.md").read_text() and "±" in (out / "results.md").read_text()

    # the fine-tuned checkpoint loads through the Auto classes with its label names
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(out / "model", trust_remote_code=True)
    tokenizer = AutoTokenizer.from_pretrained(out / "model", trust_remote_code=True)
    assert model.config.id2label == {0: "ei", 1: "ie", 2: "n"} and model.config.label2id["n"] == 2
    import torch

    batch = tokenizer(["CCAGCTGCATCACAGGAGGCCAGCGAGCAGGTCTGTTCCAAGGGCCTTCGAGCCAGTCTG"], return_tensors="pt")
    with torch.no_grad():
        assert model(**batch).logits.shape == (1, 3)


def test_benchmark_nt_on_local_splice_fixture(checkpoint, tmp_path, monkeypatch, capsys):
    out = tmp_path / "bench"
    argv = [
        "benchmark",
        "nt",
        "--model_name_or_path",
        checkpoint,
        "--tasks",
        "splice_sites_all",
        "--data_dir",
        str(NT_DIR),
        "--output_dir",
        str(out),
        *SPLICE_ARGS,
    ]
    main(argv)
    table = (out / "nt_benchmark_revised.md").read_text()
    header = "| task | metric | FGM (mean ± 2 sd) | runs | n test | NT-v2 500M | DNABERT-2 | HyenaDNA |"
    assert header in table
    row = next(line for line in table.splitlines() if line.startswith("| splice_sites_all |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "mcc" and cells[3] == "1" and cells[4] == "600"
    assert float(cells[2].split("±")[0]) > 0.5
    assert "Nature Methods" in table  # the source of the published columns is cited
    payload = NTBenchmarkResult.load(out / "nt_benchmark_revised.json")
    assert payload.rows[0].task == "splice_sites_all" and payload.rows[0].n_test == 600
    assert payload.rows[0].score == FinetuneResult.load(out / "splice_sites_all" / "results.json").summary.mcc
    assert not (out / "splice_sites_all" / "model").exists()  # benchmark keeps no model unless asked

    # resumable: a task with results.json is not run again
    def must_not_run(model_args, data_args, training_args):
        raise AssertionError(f"task {data_args.task} was run again")

    monkeypatch.setattr("fgm.training.nt_benchmark.finetune", must_not_run)
    main(argv)
    assert (out / "nt_benchmark_revised.md").read_text() == table
    assert NTBenchmarkResult.load(out / "nt_benchmark_revised.json") == payload

    # a task's results.json of another version is refused, saying how to fine-tune the task again
    saved = json.loads((out / "splice_sites_all" / "results.json").read_text())
    del saved["summary"]["f1_macro"]
    (out / "splice_sites_all" / "results.json").write_text(json.dumps(saved))
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert re.search(r"fgm benchmark nt: error: .*splice_sites_all/results.json.*FinetuneResult.*f1_macro.*fgm "
                     r"finetune. again.*once its folder is deleted", capsys.readouterr().err)


def _promoter_job(checkpoint, out, **overrides):
    """The three argument dataclasses of a short promoter job; `overrides` go to the one with that field."""
    fields = dict(
        model_name_or_path=checkpoint,
        output_dir=str(out),
        train_file=str(PROMOTER / "train.tsv"),
        test_file=str(PROMOTER / "test.tsv"),
        num_train_epochs=1,
        per_device_train_batch_size=16,
        learning_rate=1e-3,
        disable_tqdm=True,
        save_model=False,
    )
    return HfArgumentParser(finetune_cmd.ARGUMENTS).parse_dict({**fields, **overrides})


def test_kfold_runs(checkpoint, tmp_path):
    results = finetune(*_promoter_job(checkpoint, tmp_path / "kfold", folds=3, seeds=[5]))
    assert results.n_runs == 3
    assert [r.fold for r in results.runs] == [0, 1, 2]
    assert sum(r.n_validation for r in results.runs) == 84  # the folds' validation parts cover train
    assert all(r.n_train + r.n_validation == 84 for r in results.runs)
    scores = [r.test.mcc for r in results.runs]
    assert results.summary.mcc.n == 3
    assert results.summary.mcc.mean == pytest.approx(np.mean(scores))
    assert results.summary.mcc.two_sd == pytest.approx(2 * np.std(scores, ddof=1))
    assert FinetuneResult.load(tmp_path / "kfold" / "results.json") == results
    assert "| 2 | 2 | 5 |" in (tmp_path / "kfold" / "results.md").read_text()


def test_seeds_rc_average_and_saved_model(checkpoint, tmp_path):
    out = tmp_path / "seeds"
    results = finetune(*_promoter_job(checkpoint, out, seeds=[1, 2], rc_average=True, save_model=True))
    assert [r.seed for r in results.runs] == [1, 2] and results.summary.accuracy.n == 2
    config = json.loads((out / "model" / "config.json").read_text())
    assert config["rc_average"] is True  # reverse-complement averaging is switched on for inference
    assert config["id2label"] == {"0": "non_promoter", "1": "promoter"}
    assert not (out / "runs").exists()  # Trainer checkpoints are cleaned up


def test_over_long_rows_error_truncate_and_chunk(checkpoint, tmp_path):
    # 57 nt promoters are 20 tokens with k=3 (<cls> + 19); a 10-token maximum makes every row too long
    with pytest.raises(SequenceTooLongError) as info:
        finetune(*_promoter_job(checkpoint, tmp_path / "err", max_length=10))
    message = str(info.value)
    assert "train row 0" in message and "promoter_ecoli_uci_1" in message and "57 nt" in message
    assert "--length_mode truncate" in message and "--length_mode chunk" in message

    truncated = finetune(*_promoter_job(checkpoint, tmp_path / "trunc", max_length=10, length_mode="truncate"))
    assert truncated.data.truncated_rows == SplitCounts(train=84, test=22)

    chunked = finetune(*_promoter_job(checkpoint, tmp_path / "chunk", max_length=10, length_mode="chunk"))
    assert chunked.data.chunked_rows.to_json() == {"train": 84, "test": 22}
    assert chunked.data.n_test == 22  # scored per sequence, the chunks' logits averaged


def test_chunks_fit_the_model_and_cover_the_sequence(checkpoint):
    from datasets import Dataset

    from fgm.training.task_encoding import encode_split, load_tokenizer

    tokenizer = load_tokenizer(checkpoint)
    seq = "ACGTTGCA" * 25  # 200 nt
    ds = Dataset.from_dict({"sequence": [seq, seq[:30]], "label": [1, 0], "name": ["long", "short"]})
    encoded = encode_split(tokenizer, ds, "test", max_tokens=12, length_mode="chunk")
    assert len(encoded.rows[1]) == 1 and len(encoded.rows[0]) > 1
    assert all(len(chunk) <= 12 for chunk in encoded.rows[0])
    dataset, groups = encoded.all()
    assert groups.tolist() == [0] * len(encoded.rows[0]) + [1]
    assert len(dataset) == len(groups)


def test_lora_trains_adapters_only_and_merges_them(checkpoint, tmp_path):
    """peft is a test dependency: LoRA really runs. Only the adapted linear layers (merged on saving) and the
    head change; the embeddings and norms stay the pretrained ones."""
    from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification

    results = finetune(*_promoter_job(checkpoint, tmp_path / "lora", method="lora", save_model=True))
    assert results.n_runs == 1
    tuned = AutoModelForSequenceClassification.from_pretrained(tmp_path / "lora" / "model", trust_remote_code=True)
    assert not any("lora" in name for name, _ in tuned.named_parameters())  # adapters merged for saving
    pretrained = dict(AutoModelForMaskedLM.from_pretrained(checkpoint, trust_remote_code=True).named_parameters())
    changed = {name for name, weight in tuned.named_parameters()
               if name in pretrained and not torch.equal(weight, pretrained[name])}
    assert changed and all(name.endswith(".weight") and "norm" not in name for name in changed)
    assert "model.embeddings.weight" in pretrained and not any("embeddings" in n for n in changed)


def test_lora_without_peft_says_how_to_install_it(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "peft", None)  # `import peft` now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'flash-genomics-model\[peft\]'"):
        finetune(*_promoter_job(checkpoint, tmp_path / "lora", method="lora"))


def test_bad_input_stops_with_errors_that_name_the_file_row_and_label(checkpoint, tmp_path, capsys):
    """Through `fgm finetune` on a checkpoint written by plain `save_pretrained`: nothing is dropped or
    guessed; every error names what is wrong and where, as the command's one error line (exit status 2)."""
    seqs = [line.split("\t")[0] for line in (PROMOTER / "train.tsv").read_text().splitlines()[1:21]]
    good = tmp_path / "good.csv"  # integer labels 0 and 1
    good.write_text("sequence,label\n" + "".join(f"{seq},{i % 2}\n" for i, seq in enumerate(seqs)))

    def fgm_finetune(train, test) -> str:
        with pytest.raises(SystemExit) as exit_:
            main(["finetune", "--model_name_or_path", checkpoint, "--train_file", str(train), "--test_file",
                  str(test), "--output_dir", str(tmp_path / "out"), "--disable_tqdm", "True"])
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and "Traceback" not in err
        return err

    header_only = tmp_path / "header_only.csv"
    header_only.write_text("sequence,label\n")
    assert f"fgm finetune: error: {header_only}: no rows" in fgm_finetune(header_only, good)

    unseen = tmp_path / "unseen.csv"
    unseen.write_text(f"sequence,label\n{seqs[0]},1\n{seqs[1]},7\n")
    message = fgm_finetune(good, unseen)
    assert f"{unseen}, row 1" in message and "label 7" in message and "['0', '1']" in message
    assert str(good) in message and "--class_names" in message

    x_row = tmp_path / "x_row.csv"
    x_row.write_text(good.read_text().replace(seqs[3], "ACGTXCGT" + seqs[3][8:]))
    assert "train split: Invalid character 'X' (U+0058) at position 4 of sequence 3" in fgm_finetune(x_row, good)

    no_label = tmp_path / "no_label.csv"
    no_label.write_text(f"sequence,class\n{seqs[0]},1\n")
    assert f"{no_label}: missing column(s) ['label']" in fgm_finetune(good, no_label)

    malformed = tmp_path / "malformed.csv"
    malformed.write_text(f"sequence,label\n{seqs[0]},1\n{seqs[1]},0,extra\n")
    assert re.search(f"{malformed}: not a well-formed csv file.*line 3", fgm_finetune(malformed, good), re.S)

    assert f"data file not found: {tmp_path / 'missing.csv'}" in fgm_finetune(tmp_path / "missing.csv", good)
    assert not (tmp_path / "out" / "results.json").exists()


def test_a_peers_encoder_runs_the_same_protocol(checkpoint, tmp_path):
    """A Nucleotide Transformer v2-shaped checkpoint (transformers' ESM, its own 6-mer tokenizer) fine-tunes through
    AutoModelForSequenceClassification on the same folds, seeds and metrics as FGM; what it cannot take is refused
    by name."""
    from nt_peer import save_nt_peer

    peer = str(save_nt_peer(tmp_path / "nt_peer"))
    ours = finetune(*_promoter_job(checkpoint, tmp_path / "fgm", folds=2, seeds=[5]))
    theirs = finetune(*_promoter_job(peer, tmp_path / "peer", folds=2, seeds=[5], save_model=True))
    assert theirs.model == peer and theirs.n_runs == ours.n_runs == 2
    assert [(r.fold, r.seed, r.n_train, r.n_validation) for r in theirs.runs] == [
        (r.fold, r.seed, r.n_train, r.n_validation) for r in ours.runs], "the same folds"
    assert set(vars(theirs.summary)) == set(vars(ours.summary)) and theirs.summary.mcc.n == 2
    assert FinetuneResult.load(tmp_path / "peer" / "results.json") == theirs
    config = json.loads((tmp_path / "peer" / "model" / "config.json").read_text())
    assert config["architectures"] == ["EsmForSequenceClassification"] and "rc_average" not in config
    with pytest.raises(ValueError, match="--rc_average averages both strands inside FGM's classifier.*drop"):
        finetune(*_promoter_job(peer, tmp_path / "rc", rc_average=True))
    with pytest.raises(ValueError, match="--method lora on .* name the layers to adapt with --lora_target_modules"):
        finetune(*_promoter_job(peer, tmp_path / "lora", method="lora"))
