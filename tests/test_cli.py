"""The `fgm` command line: HfArgumentParser over the project's dataclasses and `TrainingArguments`.

Every Trainer option exists under its standard name and reaches the Trainer; unknown flags are
argparse errors; the project's own defaults say in `--help` where they differ from Trainer's.
"""

import importlib
import re
from pathlib import Path

import pytest
import yeast
from transformers import HfArgumentParser
from test_finetune import NT_DIR, PROMOTER, checkpoint  # noqa: F401 (a fixture: a plain save_pretrained folder)

from fgm.cli import COMMANDS, main

STANDARD_FLAGS = ["--bf16", "--use_cpu", "--report_to", "none", "--torch_compile", "--dataloader_num_workers", "0",
                  "--adam_beta2", "0.95"]


class TrainerReached(Exception):
    """Raised by the stand-in Trainer with the arguments it was given."""


def stand_in_trainer(**kwargs):
    raise TrainerReached(kwargs["args"])


def command_lines(checkpoint, corpus, out):
    return {
        "pretrain": ["pretrain", "--corpus", corpus, "--preset", "tiny", "--output_dir", out],
        "finetune": ["finetune", "--model_name_or_path", checkpoint, "--train_file", str(PROMOTER / "train.tsv"),
                     "--test_file", str(PROMOTER / "test.tsv"), "--output_dir", out],
        "benchmark nt": ["benchmark", "nt", "--model_name_or_path", checkpoint, "--tasks", "promoter_all",
                         "--data_dir", str(NT_DIR), "--output_dir", out],
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    yeast.corpus(window=300, train_count=16, validation_count=4).save_to_disk(str(folder))
    return str(folder)


@pytest.mark.parametrize(
    "command, trainer, project_defaults",
    [
        ("pretrain", "fgm.training.pretrain.GenomeTrainer",
         dict(learning_rate=5e-4, lr_scheduler_type="cosine", warmup_steps=0.05, max_steps=1000, save_steps=200,
              eval_steps=200, logging_steps=20)),
        ("finetune", "fgm.training.finetune.Trainer",
         dict(learning_rate=1e-4, lr_scheduler_type="linear", warmup_steps=0.05, num_train_epochs=3,
              per_device_train_batch_size=32, per_device_eval_batch_size=64, metric_for_best_model="mcc",
              early_stopping_patience=3)),
        ("benchmark nt", "fgm.training.finetune.Trainer",
         dict(learning_rate=1e-4, per_device_train_batch_size=32, metric_for_best_model="mcc", save_model=False)),
    ],
)
def test_standard_trainer_flags_reach_the_trainer(command, trainer, project_defaults, checkpoint, corpus, tmp_path,
                                                  monkeypatch):
    monkeypatch.setattr(trainer, stand_in_trainer)
    argv = command_lines(checkpoint, corpus, str(tmp_path / "out"))[command]
    with pytest.raises(TrainerReached) as reached:
        main([*argv, *STANDARD_FLAGS])
    args = reached.value.args[0]
    assert args.bf16 and args.torch_compile and args.use_cpu
    assert args.report_to == [] and args.dataloader_num_workers == 0 and args.adam_beta2 == 0.95
    for name, value in project_defaults.items():
        assert getattr(args, name) == value, name

    # and without --bf16 (no CUDA here) pretraining runs in fp32; --bf16 False says so explicitly
    with pytest.raises(TrainerReached) as reached:
        main([*argv, "--bf16", "False", "--learning_rate", "3e-4"])
    assert reached.value.args[0].bf16 is False and reached.value.args[0].learning_rate == 3e-4


@pytest.mark.parametrize(
    "command, required",
    [
        ("corpus", []),
        ("pretrain", ["--corpus", "c"]),
        ("finetune", ["--model_name_or_path", "m", "--task", "promoter_all"]),
        ("benchmark nt", ["--model_name_or_path", "m"]),
        ("demo", []),
    ],
)
def test_unknown_flags_are_argparse_errors(command, required, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command.split(), *required, "--bogus", "1"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"usage: fgm {command}" in err and "error: unrecognized arguments: --bogus 1" in err


def test_dataclass_checks_are_usage_errors(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["finetune", "--model_name_or_path", "ckpt", "--output_dir", "out"])
    assert exit_.value.code == 2
    assert "error: give --task NAME (NT benchmark) or both --train_file and --test_file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["finetune", "--model_name_or_path", "ckpt", "--task", "promoter_all", "--folds", "1"])
    assert "folds must be 0 (no cross-validation) or >= 2, got 1" in capsys.readouterr().err


def help_of(words: str, capsys) -> str:
    """`fgm WORDS --help`, which exits with status 0."""
    with pytest.raises(SystemExit) as exit_:
        main([*words.split(), "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def test_help_names_the_project_defaults(capsys):
    text = " ".join(help_of("finetune", capsys).split())
    assert "--per_device_train_batch_size PER_DEVICE_TRAIN_BATCH_SIZE, --per-device-train-batch-size" in text
    assert "Trainer's default: 8 (default: 32)" in text
    assert "default 1e-4 for full fine-tuning, 5e-4 for LoRA (Trainer's default: 5e-5)" in text
    text = " ".join(help_of("pretrain", capsys).split())
    assert "peak learning rate (Trainer's default: 5e-5) (default: 0.0005)" in text
    assert "--bf16 False to turn it off (Trainer's default: off)" in text


def test_top_level_names_the_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"fgm {command}" in out for command in ("corpus", "pretrain", "finetune", "benchmark nt", "demo"))
    for argv in ([], ["benchmark"], ["train"]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
    assert f"unknown command 'train'; choose one of: {', '.join(COMMANDS)}" in capsys.readouterr().err
    assert "benchmark vep" in COMMANDS and "score-variants" in COMMANDS


def test_scripts_use_options_the_commands_have():
    """Every `--option` after `fgm COMMAND` / `-m fgm.cli COMMAND` in scripts/*.sh and the Makefile exists."""
    root = Path(__file__).resolve().parents[1]
    options = {
        command: set(HfArgumentParser(importlib.import_module(f"fgm.commands.{module}").ARGUMENTS)._option_string_actions)
        for command, (module, _) in COMMANDS.items()
    }
    checked = 0
    for path in [*sorted((root / "scripts").glob("*.sh")), root / "Makefile"]:
        for line in path.read_text().replace("\\\n", " ").splitlines():
            words = line.split()
            for i, word in enumerate(words[:-1]):
                command = next((c for c in options if words[i + 1 : i + 1 + len(c.split())] == c.split()), None)
                if word in ("fgm", "fgm.cli") and command:
                    used = {w.split("=")[0] for w in words[i + 1 + len(command.split()) :] if w.startswith("--")}
                    assert used <= options[command], (path.name, sorted(used - options[command]))
                    checked += len(used)
    assert checked >= 30


@pytest.mark.parametrize("words", list(COMMANDS))
def test_every_command_prints_its_help(words, capsys):
    """argparse %-formats help strings: a bare '%' in any field's help crashes `--help` for that command."""
    assert f"usage: fgm {words}" in help_of(words, capsys)


# ------------------------------------------------------------------------------------------------ errors and help


def run_as_user(argv, capsys) -> str:
    """The last line of stderr of `fgm ARGV` stopped by an input error: exit status 2, no traceback."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err, err
    return err.splitlines()[-1] + "\n"


def test_input_errors_are_one_line_and_bugs_keep_their_traceback(checkpoint, tmp_path, capsys, monkeypatch):
    vcf = tmp_path / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
    argv = ["score-variants", "--model", checkpoint, "--genome", str(tmp_path / "missing.fa"), "--vcf", str(vcf),
            "--output", str(tmp_path / "out.tsv")]
    assert run_as_user(argv, capsys) == f"fgm score-variants: error: reference FASTA not found: {tmp_path}/missing.fa\n"
    assert "window must be a positive" in run_as_user(["corpus", "--output_dir", str(tmp_path / "c"), "--window",
                                                       "0"], capsys)
    monkeypatch.setenv("FGM_DEBUG", "1")
    with pytest.raises(FileNotFoundError, match="missing.fa"):
        main(argv)
    monkeypatch.delenv("FGM_DEBUG")

    # a bug in FGM's code: a ValueError the interpreter raises, and a TypeError, keep their tracebacks
    namespace = {"__name__": "fgm.variants"}
    exec("def unpacks(*args, **kwargs):\n    first, second = args[:1]\n"
         "def mistypes(*args, **kwargs):\n    return len(7)\n", namespace)
    for bug, error in (("unpacks", ValueError), ("mistypes", TypeError)):
        monkeypatch.setattr("fgm.commands.score_variants.score_variants", namespace[bug])
        with pytest.raises(error):
            main([*argv[:4], str(tmp_path / "v.vcf"), *argv[5:]])


@pytest.mark.parametrize("argv", [
    ["score-variants", "--genome", "data/genomes/sacCer_S288C.fa.gz", "--vcf", "data/examples/yeast_variants.vcf",
     "--output", "OUT/scores.tsv"],
    ["embed", "--fasta", "s.fa", "--output", "OUT/e.npy"],
    ["benchmark", "vep", "--dataset", "yeast_stop_vs_synonymous", "--output_dir", "OUT"],
    ["context-scan", "--contexts", "1k", "--output_dir", "OUT"],
    ["benchmark", "retrieval", "--output_dir", "OUT"],
    ["context-influence", "--output_dir", "OUT"],
    ["finetune", "--task", "promoter_all", "--output_dir", "OUT"],
    ["benchmark", "nt", "--output_dir", "OUT"],
    ["pretrain", "--corpus", "c", "--output_dir", "OUT"],
    ["push", "--repo_id", "me/fgm"],
])
@pytest.mark.parametrize("typo", ["runs/demo/modle", "./modle", "tests/modle"])
def test_a_mistyped_model_folder_is_missing_not_looked_up_on_the_hub(argv, typo, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # where tests/ is a folder: tests/modle looks local
    for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", "http://127.0.0.1:9")  # a Hub call would say so
    err = run_as_user([arg.replace("OUT", str(tmp_path)) for arg in argv] + ["--model", typo], capsys)
    assert f"checkpoint folder not found: {typo} (no such folder" in err


def test_help_states_each_default_once(capsys):
    for words in COMMANDS:
        for option in re.split(r"\n  (?=-)", help_of(words, capsys))[1:]:  # after the usage and description
            text = " ".join(option.split())
            assert text.count("(default:") <= 1 and "(default: None)" not in text, (words, text)
    text = " ".join(help_of("score-variants", capsys).split())
    assert "bases of context around each variant (default: the checkpoint's training context) --frames" in text
    assert "k-mer frames averaged (see above) (default: all)" in text


def test_benchmark_help_lists_the_benchmarks(capsys):
    assert main(["benchmark", "--help"]) == 0
    assert [line.split()[:3] for line in capsys.readouterr().out.splitlines()] == [
        ["fgm", "benchmark", "nt"], ["fgm", "benchmark", "vep"], ["fgm", "benchmark", "retrieval"]]
    with pytest.raises(SystemExit):
        main(["benchmark", "nope"])
    assert "fgm benchmark needs one of: nt, vep, retrieval" in capsys.readouterr().err


@pytest.mark.parametrize("command, own", [("pretrain", ["--preset", "--corpus", "--max_steps", "--bf16"]),
                                          ("finetune", ["--task", "--learning_rate", "--seeds", "--folds"])])
def test_training_help_lists_fgm_options_before_trainer_options(command, own, capsys):
    text = help_of(command, capsys)
    options = text[text.index("\n\n", text.index("options:")) :]
    trainer = options.index("Trainer options (transformers' TrainingArguments")
    assert all(options.index(f"  {flag} ") < trainer for flag in own)
    assert all(options.index(f"  {flag} ") > trainer for flag in ("--adam_beta1", "--gradient_accumulation_steps",
                                                                   "--push_to_hub"))
