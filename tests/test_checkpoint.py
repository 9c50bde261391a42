"""Saved folders load through every Auto class with trust_remote_code, offline, without `fgm`."""

import json
import os
import subprocess
import sys
import textwrap

import torch

from fgm.configuration_fgm import FGMConfig
from fgm.hub import AUTO_MAP, save_checkpoint
from fgm.modeling_fgm import FGMForMaskedLM, FGMForSequenceClassification, FGMForTokenClassification, FGMModel
from fgm.tokenization_fgm import FGMTokenizer

SEQUENCES = ["ACGTAGCTAGCTAGGATCGATCGTAGCTAGCNNACGTTTGACagctagcatcgac", "TTGACAGCTAGCTAGCATCGATCGTAGCA"]
CLASSES = {
    "AutoModel": FGMModel,
    "AutoModelForMaskedLM": FGMForMaskedLM,
    "AutoModelForSequenceClassification": FGMForSequenceClassification,
    "AutoModelForTokenClassification": FGMForTokenClassification,
}

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
            "model_class": type(model).__name__,
            "module": type(model).__module__,
            "input_ids": batch["input_ids"].tolist(),
            "output": tensor.tolist(),
        }
    print(json.dumps(results))
    """
)


def test_fresh_process_without_fgm_loads_every_auto_class(tmp_path):
    tokenizer = FGMTokenizer(k=6)
    expected, folders = {}, {}
    for auto_name, cls in CLASSES.items():
        torch.manual_seed(0)
        config = FGMConfig.preset("tiny", num_labels=3)
        model = cls(config).eval()
        folder = save_checkpoint(model, tokenizer, tmp_path / auto_name)
        batch = tokenizer(SEQUENCES, padding=True, return_tensors="pt")
        with torch.no_grad():
            out = model(**batch)
        expected[auto_name] = (batch["input_ids"], out.last_hidden_state if auto_name == "AutoModel" else out.logits)
        folders[auto_name] = str(folder)
        saved_config = json.loads((folder / "config.json").read_text())
        assert saved_config["auto_map"] == AUTO_MAP
        assert (folder / "model.safetensors").exists()
        assert json.loads((folder / "tokenizer_config.json").read_text())["auto_map"]["AutoTokenizer"][0] == (
            "tokenization_fgm.FGMTokenizer"
        )

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    run = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, json.dumps(folders), json.dumps(SEQUENCES)],
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
        assert loaded["config_class"] == "FGMConfig"
        assert loaded["model_class"] == CLASSES[auto_name].__name__
        assert "transformers_modules" in loaded["module"]  # the folder's copy, not the installed package
        assert loaded["input_ids"] == input_ids.tolist()
        assert torch.equal(torch.tensor(loaded["output"]), output), auto_name
