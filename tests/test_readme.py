"""The README as a newcomer follows it: the Install steps, the Python example with its fill-mask pipeline, and the
command that reproduces the demo's model."""

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import torch

from fgm import FGMConfig, FGMForMaskedLM, FGMTokenizer
from fgm.cli import command_parser
from fgm.commands import demo as demo_command
from fgm.commands import pretrain as pretrain_command
from fgm.demo import DEMO_KMER, DemoArguments
from fgm.training.pretrain import build_model

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    return README[start : README.index("\n## ", start + 1)]


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def pretrain_arguments(command_line: str):
    """The dataclasses `fgm pretrain` fills from a README command line (continued lines joined)."""
    words = command_line.replace("\\\n", " ").split()
    assert words[:2] == ["fgm", "pretrain"]
    return command_parser("pretrain", pretrain_command).parse_args_into_dataclasses(words[2:], look_for_args_file=False)


def test_install_creates_a_venv_and_installs_the_cpu_torch_of_the_makefile_pin():
    steps = [line.split("#")[0].strip() for line in code_blocks(section("Install"), "bash")[0].splitlines()]
    pin = re.search(r"TORCH_PIN \?= (\S+)", (ROOT / "Makefile").read_text()).group(1)
    order = [next(i for i, step in enumerate(steps) if step.startswith(prefix)) for prefix in (
        "git clone", "python3 -m venv .venv && source .venv/bin/activate",
        f"pip install {pin} --index-url https://download.pytorch.org/whl/cpu", "pip install -e .")]
    assert order == sorted(order)
    assert "export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1" in section("Install")


def test_the_python_example_runs_with_its_pipeline(tmp_path, monkeypatch):
    """The README's "Use from Python" block, on a saved checkpoint; its fill-mask pipeline needs `import fgm` (or
    trust_remote_code=True, which a fresh process without fgm shows)."""
    folder = tmp_path / "model"
    tokenizer = FGMTokenizer(k=1)
    torch.manual_seed(0)
    FGMForMaskedLM(FGMConfig.preset("tiny", vocab_size=len(tokenizer), kmer_size=1)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    example, added_tokens = code_blocks(section("Use from Python"), "python")
    assert 'pipeline("fill-mask", model="runs/demo/model")' in example and example.index("import fgm") == 0
    example = example.replace("runs/demo/model", str(folder)).replace('FGMConfig.preset("small"', 'FGMConfig.preset('
                                                                     '"tiny"').replace('"unet-small"', '"unet-tiny"')
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(example, namespace)
    here = [round(p["score"], 6) for p in namespace["fill"]("ACGTAGCT<mask>ACGTTA")]
    exec(added_tokens, namespace)  # the second block: a token the user adds, and room for it in the model
    claimed = json.loads(re.search(r'\["input_ids"\]\s+# (\[.*\])', added_tokens).group(1))
    assert namespace["tokenizer"]("ACGTAC<sep>ACGTAC")["input_ids"] == claimed
    assert namespace["classifier"].get_input_embeddings().num_embeddings == len(namespace["tokenizer"]) == 4108

    without_fgm = (f"import sys, json\nsys.modules['fgm'] = None\nfrom transformers import pipeline\n"
                   f"try:\n    pipeline('fill-mask', model={str(folder)!r})\nexcept ValueError as err:\n"
                   f"    print('refused' if 'custom code' in str(err) else err)\n"
                   f"fill = pipeline('fill-mask', model={str(folder)!r}, trust_remote_code=True)\n"
                   "print(json.dumps([round(p['score'], 6) for p in fill('ACGTAGCT<mask>ACGTTA')]))\n")
    run = subprocess.run([sys.executable, "-c", without_fgm], capture_output=True, text=True, timeout=300,
                         stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.strip().splitlines()
    assert any(line.endswith("refused") for line in lines)  # after transformers asks "run the custom code?"
    assert json.loads(lines[-1]) == here and len(here) == 5  # the pipeline's top_k


def test_the_readme_command_reproduces_the_demo_model():
    pretraining = section("Pretraining")
    corpus_line = next(line for line in pretraining.splitlines()
                       if line.startswith("fgm corpus --output_dir runs/demo"))
    pretrain_line = re.search(r"fgm pretrain --corpus runs/demo/corpus .*?\n(?=\S|\n|```)", pretraining, re.S).group(0)
    demo = dataclasses.asdict(DemoArguments())
    assert demo_command.DemoArguments is DemoArguments, "`fgm demo` takes the library's options"
    assert f"--window {demo['window']} --val_chroms chrXV --test_chroms chrXVI" in corpus_line

    model_args, data_args, training_args = pretrain_arguments(pretrain_line)
    steps = demo_command.DemoArguments().max_steps
    assert (model_args.preset, model_args.kmer_size) == ("demo", DEMO_KMER)
    assert (data_args.max_length, data_args.mlm_probability) == (demo["max_length"], demo["mlm_probability"])
    assert (training_args.learning_rate, training_args.per_device_train_batch_size) == (
        demo["learning_rate"], demo["batch_size"])
    assert (training_args.max_steps, training_args.save_steps, training_args.logging_steps) == (steps, steps // 4, 50)
    assert training_args.eval_strategy == "no" and training_args.seed == demo["seed"]

    def parameters(model_args) -> float:
        model = build_model(model_args.preset, FGMTokenizer(k=model_args.kmer_size))
        return round(sum(p.numel() for p in model.parameters()) / 1e6, 1)

    (alone, _, _) = pretrain_arguments("fgm pretrain --preset demo --corpus c")
    assert (parameters(model_args), parameters(alone), alone.kmer_size) == (0.8, 1.3, 6)
    assert ("0.8M parameters with single bases, `--kmer_size 1`, as `fgm demo`\ntrains it; 1.3M with the default "
            "6-mers") in README


def test_the_study_of_existing_models_parses_as_written():
    """The README's study of Carbon, GENERator, NT v2, NTv3 and FGM from the Hub: each command line fills its
    dataclasses (the loading itself is tested on local folders of each shape in tests/test_causal.py)."""
    from fgm.commands import context_study, corpus

    block = code_blocks(section("Which models each command takes"), "bash")[0].replace("\\\n", " ")
    corpus_line, study_line = [line.split() for line in block.strip().splitlines()]
    command_parser("corpus", corpus).parse_args_into_dataclasses(corpus_line[2:], look_for_args_file=False)
    study = command_parser("context-study", context_study).parse_args_into_dataclasses(study_line[2:],
                                                                                         look_for_args_file=False)[0]
    assert study.measure_only and list(study.checkpoints) == ["carbon", "generator", "nt-v2", "ntv3", "fgm"]
    assert study.checkpoints["carbon"] == "HuggingFaceBio/Carbon-500M" and study.eval_contexts == [1000, 10000, 100000]
