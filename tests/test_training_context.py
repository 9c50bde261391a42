"""What pretraining records as the context a checkpoint was trained at, the tools that read it, and `--max_steps`:
the newcomer's run of a 1,200-base corpus with the default `--max_length`, end to end on real yeast sequence."""

import json

import pytest
import yeast
from datasets import Dataset, DatasetDict

from fgm.checkpoints import training_context
from fgm.cli import main
from fgm.model.tokenization_fgm import FGMTokenizer
from fgm.training.pretrain import PretrainDataArguments, PretrainingArguments, PretrainModelArguments, build_trainer

CHR_I, CHR_VI = yeast.chromosome("chrI")[:12_000], yeast.chromosome("chrVI")[:8_000]


def write_fasta(path, records: dict) -> str:
    path.write_text("".join(f">{name}\n" + "\n".join(seq[i : i + 60] for i in range(0, len(seq), 60)) + "\n"
                            for name, seq in records.items()))
    return str(path)


@pytest.mark.parametrize("kmer_size, max_length, window, tokens, bases", [
    (6, 1000, 1200, 201, 1200),  # the newcomer's: 1,200-base windows of 6-mers, --max_length 1000 (the default)
    (1, 200, 1200, 200, 199),  # the demo's: 200 tokens of single bases cut from 1,200-base windows
    (6, 1000, 1000, 171, 1000),  # a window that is not whole 6-mers: 166 of them and 4 single bases
])
def test_the_checkpoint_records_its_longest_example(tmp_path, kmer_size, max_length, window, tokens, bases):
    DatasetDict({"train": Dataset.from_list(yeast.windows("chrI", window, 8))}).save_to_disk(tmp_path / "corpus")
    trainer = build_trainer(PretrainModelArguments(preset="tiny", kmer_size=kmer_size),
                            PretrainDataArguments(corpus=str(tmp_path / "corpus"), max_length=max_length),
                            PretrainingArguments(output_dir=str(tmp_path / "run"), eval_strategy="no"))
    trainer.processing_class.save_pretrained(tmp_path / "tokenizer")
    reloaded = FGMTokenizer.from_pretrained(tmp_path / "tokenizer")
    assert reloaded.model_max_length == tokens and training_context(reloaded) == bases
    assert max(len(trainer.train_dataset[i]["input_ids"]) for i in range(8)) == tokens


def test_every_tool_defaults_to_what_the_model_saw(tmp_path, capsys):
    fasta = write_fasta(tmp_path / "genome.fa", {"chrI": CHR_I, "chrVI": CHR_VI})
    run = ["--report_to", "none", "--disable_tqdm", "true", "--per_device_train_batch_size", "2", "--save_steps", "2"]
    assert main(["corpus", "--genome", fasta, "--output_dir", str(tmp_path / "corpus"), "--window", "1200",
                 "--test_chroms", "chrVI", "--quiet"]) == 0
    assert main(["pretrain", "--corpus", str(tmp_path / "corpus"), "--preset", "tiny", "--output_dir",
                 str(tmp_path / "model"), "--max_steps", "2", *run]) == 0  # --max_length: its default, 1000 tokens
    model = str(tmp_path / "model")
    config = json.loads((tmp_path / "model" / "tokenizer_config.json").read_text())
    assert (config["model_max_length"], config["training_context_bases"]) == (201, 1200)
    assert "| 201 tokens = 1,200 bases |" in (tmp_path / "model" / "README.md").read_text()
    capsys.readouterr()

    assert main(["context-scan", "--model", model, "--genome", fasta, "--chroms", "chrVI", "--contexts", "600,2k",
                 "--positions", "8", "--markov_orders", "0", "--bootstrap", "20", "--output_dir",
                 str(tmp_path / "scan"), "--quiet"]) == 0
    scan = json.loads((tmp_path / "scan" / "scan.json").read_text())
    assert scan["training_context"] == 1200 and "Training context: 1,200 bases" in capsys.readouterr().out
    assert [row["extrapolation"] for row in scan["contexts"]] == [False, True]

    assert main(["benchmark", "retrieval", "--model", model, "--genome", fasta, "--chroms", "chrVI", "--distances",
                 "32,2k", "--windows", "4", "--bootstrap", "20", "--output_dir", str(tmp_path / "retrieval"),
                 "--quiet"]) == 0
    retrieval = json.loads((tmp_path / "retrieval" / "retrieval.json").read_text())
    assert retrieval["training_context"] == 1200
    assert {row["distance"]: row["extrapolation"] for row in retrieval["rows"]} == {32: False, 2000: True}

    vcf = tmp_path / "v.vcf"
    vcf.write_text(f"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   f"chrI\t5001\t.\t{CHR_I[5000]}\t{'A' if CHR_I[5000] != 'A' else 'C'}\t.\t.\t.\n")
    capsys.readouterr()
    assert main(["score-variants", "--model", model, "--genome", fasta, "--vcf", str(vcf), "--output",
                 str(tmp_path / "scores.tsv"), "--frames", "center", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["window"] == 1200


@pytest.mark.parametrize("command, steps", [("pretrain", "-5"), ("pretrain", "0"), ("finetune", "0"),
                                            ("finetune", "-2"), ("benchmark nt", "-3")])
def test_max_steps_other_than_steps_or_minus_one_is_refused_before_any_work(command, steps, tmp_path, capsys):
    given = {"pretrain": ["--corpus", str(tmp_path / "no_corpus")],
             "finetune": ["--model", "me/model", "--task", "promoter_all"],
             "benchmark nt": ["--model", "me/model"]}[command]
    with pytest.raises(SystemExit) as exit_:
        main([*command.split(), *given, "--output_dir", str(tmp_path / "out"), "--max_steps", steps])
    assert exit_.value.code == 2
    assert (f"--max_steps must be a positive number of steps, or -1 to train for --num_train_epochs epochs; got "
            f"{steps}") in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_max_steps_minus_one_trains_by_epochs(tmp_path):
    DatasetDict({"train": Dataset.from_list(yeast.windows("chrI", 600, 8))}).save_to_disk(tmp_path / "corpus")
    assert main(["pretrain", "--corpus", str(tmp_path / "corpus"), "--preset", "tiny", "--output_dir",
                 str(tmp_path / "model"), "--max_length", "64", "--max_steps", "-1", "--num_train_epochs", "2",
                 "--per_device_train_batch_size", "4", "--report_to", "none", "--disable_tqdm", "true"]) == 0
    state = json.loads((tmp_path / "model" / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4 and state["epoch"] == 2.0  # 8 windows / 4 per step, twice
    assert "| max steps | by epochs (2) |" in (tmp_path / "model" / "README.md").read_text()
