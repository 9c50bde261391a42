"""The `fgm` command line: HfArgumentParser over the project's dataclasses and `TrainingArguments`.

Every Trainer option exists under its standard name and reaches the Trainer; unknown flags are
argparse errors; the project's own defaults say in `--help` where they differ from Trainer's.
"""

import importlib
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


def test_help_names_the_project_defaults(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["finetune", "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--per_device_train_batch_size PER_DEVICE_TRAIN_BATCH_SIZE, --per-device-train-batch-size" in text
    assert "Trainer's default: 8 (default: 32)" in text
    assert "default 1e-4 for full fine-tuning, 5e-4 for LoRA (Trainer's default: 5e-5)" in text
    with pytest.raises(SystemExit):
        main(["pretrain", "--help"])
    text = " ".join(capsys.readouterr().out.split())
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
    with pytest.raises(SystemExit) as exit_:
        main([*words.split(), "--help"])
    assert exit_.value.code == 0
    assert f"usage: fgm {words}" in capsys.readouterr().out
