"""Folders written by plain `save_pretrained` and by the Trainer (`checkpoint-N`) load through every Auto
class with trust_remote_code, offline, in a process where `fgm` cannot be imported, with identical outputs."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from transformers import AutoModel, Trainer, TrainingArguments

from fgm.model.configuration_fgm import AUTO_MAP, FGMConfig
from fgm.model.modeling_fgm import FGMForMaskedLM, FGMForSequenceClassification, FGMForTokenClassification, FGMModel
from fgm.model.tokenization_fgm import FGMTokenizer

SEQUENCES = ["ACGTAGCTAGCTAGGATCGATCGTAGCTAGCNNACGTTTGACagctagcatcgac", "TTGACAGCTAGCTAGCATCGATCGTAGCA"]
CLASSES = {
    "AutoModel": FGMModel,
    "AutoModelForMaskedLM": FGMForMaskedLM,
    "AutoModelForSequenceClassification": FGMForSequenceClassification,
    "AutoModelForTokenClassification": FGMForTokenClassification,
}
TOKENIZER = FGMTokenizer(k=6)

FRESH_PROCESS = textwrap.dedent(
    """
    import json, sys
    sys.modules["fgm"] = None  # `import fgm` must fail: only the folder's own code may be used
    try:
        import fgm
        raise SystemExit("fgm is importable")
    except ImportError:
        pass
    import torch, transformers
    folders, sequences = json.loads(sys.argv[1]), json.loads(sys.argv[2])
    results = {}
    for auto_name, folder in folders.items():
        config = transformers.AutoConfig.from_pretrained(folder, trust_remote_code=True)
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
        model = getattr(transformers, auto_name).from_pretrained(folder, trust_remote_code=True).eval()
        batch = tokenizer(sequences, padding=True, return_tensors="pt")
        with torch.no_grad():
            out = model(**batch)
        tensor = out.last_hidden_state if auto_name == "AutoModel" else out.logits
        results[auto_name] = {
            "config_class": type(config).__name__,
            "tokenizer_class": type(tokenizer).__name__,
            "model_class": type(model).__name__,
            "module": type(model).__module__,
            "input_ids": batch["input_ids"].tolist(),
            "output": tensor.tolist(),
        }
    print(json.dumps(results))
    """
)


def saved_with_save_pretrained(tmp_path) -> dict:
    folders = {}
    for auto_name, cls in CLASSES.items():
        torch.manual_seed(0)
        model = cls(FGMConfig.preset("tiny", num_labels=3))
        folders[auto_name] = tmp_path / auto_name
        model.save_pretrained(folders[auto_name])
        TOKENIZER.save_pretrained(folders[auto_name])
    return folders


def saved_by_the_trainer(tmp_path) -> dict:
    """One training step of each head with a plain Trainer; its checkpoint-1 folders. The encoder alone
    (AutoModel) is read from the masked-LM checkpoint, as users do."""
    ids = TOKENIZER(["ACGTAGCTAGCTAGGATCGATCGT", "TTGACAGCTAGCTAGCATCGATCA"])["input_ids"]
    labels = {
        FGMForMaskedLM: [[-100, i[1], -100, -100, i[4]] for i in ids],
        FGMForSequenceClassification: [0, 2],
        FGMForTokenClassification: [[-100, 0, 1, 2, 1]] * 2,
    }
    folders = {}
    for cls, label in labels.items():
        torch.manual_seed(0)
        model = cls(FGMConfig.preset("tiny", num_labels=3))
        out = tmp_path / cls.__name__
        args = TrainingArguments(out, max_steps=1, save_steps=1, per_device_train_batch_size=2, report_to="none",
                                 use_cpu=True, disable_tqdm=True)
        data = [{"input_ids": i, "labels": y} for i, y in zip(ids, label)]
        Trainer(model=model, args=args, train_dataset=data, processing_class=TOKENIZER).train()
        auto_name = next(name for name, c in CLASSES.items() if c is cls)
        folders[auto_name] = out / "checkpoint-1"
    folders["AutoModel"] = folders["AutoModelForMaskedLM"]
    return folders


@pytest.mark.parametrize("write", [saved_with_save_pretrained, saved_by_the_trainer])
def test_fresh_process_without_fgm_loads_every_auto_class(tmp_path, write):
    folders = write(tmp_path)
    expected = {}
    for auto_name, folder in folders.items():
        saved_config = json.loads((folder / "config.json").read_text())
        assert saved_config["auto_map"] == AUTO_MAP
        assert (folder / "model.safetensors").exists()
        assert json.loads((folder / "tokenizer_config.json").read_text())["auto_map"]["AutoTokenizer"][0] == (
            "tokenization_fgm.FGMTokenizer"
        )
        assert {"configuration_fgm.py", "modeling_fgm.py", "tokenization_fgm.py", "kmers_fgm.py"} <= {
            p.name for p in folder.iterdir()
        }
        model_class = AutoModel if auto_name == "AutoModel" else CLASSES[auto_name]
        model = model_class.from_pretrained(folder).eval()
        batch = TOKENIZER(SEQUENCES, padding=True, return_tensors="pt")
        with torch.no_grad():
            out = model(**batch)
        expected[auto_name] = (batch["input_ids"], out.last_hidden_state if auto_name == "AutoModel" else out.logits)

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    run = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, json.dumps({k: str(v) for k, v in folders.items()}),
         json.dumps(SEQUENCES)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(run.stdout.strip().splitlines()[-1])
    for auto_name, (input_ids, output) in expected.items():
        loaded = results[auto_name]
        assert loaded["config_class"] == "FGMConfig" and loaded["tokenizer_class"] == "FGMTokenizer"
        assert loaded["model_class"] == CLASSES[auto_name].__name__
        assert "transformers_modules" in loaded["module"]  # the folder's copy, not the installed package
        assert loaded["input_ids"] == input_ids.tolist()
        assert torch.equal(torch.tensor(loaded["output"]), output), auto_name
