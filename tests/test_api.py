"""The public API a transformers user expects: top-level names, Auto registration, tuples, hidden states."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
)

import fgm
from fgm import (
    FGMConfig,
    FGMForMaskedLM,
    FGMForSequenceClassification,
    FGMForTokenClassification,
    FGMModel,
    FGMTokenizer,
)

HEADS = [FGMModel, FGMForMaskedLM, FGMForSequenceClassification, FGMForTokenClassification]
TOKENIZER = FGMTokenizer(k=6)
SEQUENCES = ["ACGTAGCTAGCTAGGATCGATCGTAGCTAGCNNACGTTTGAC", "TTGACAGCTAGCTAGCATCG"]


def test_import_fgm_registers_every_auto_class_without_remote_code(tmp_path):
    shape = {k: v for k, v in FGMConfig.preset("tiny").to_diff_dict().items() if k != "model_type"}
    config = AutoConfig.for_model("fgm", **shape)
    assert type(config) is FGMConfig
    for auto, cls in [
        (AutoModel, FGMModel),
        (AutoModelForMaskedLM, FGMForMaskedLM),
        (AutoModelForSequenceClassification, FGMForSequenceClassification),
        (AutoModelForTokenClassification, FGMForTokenClassification),
    ]:
        assert type(auto.from_config(config)) is cls
    FGMForMaskedLM(config).save_pretrained(tmp_path)
    TOKENIZER.save_pretrained(tmp_path)
    # no trust_remote_code: the installed classes are used, not the folder's copies
    assert type(AutoTokenizer.from_pretrained(tmp_path)) is FGMTokenizer
    assert type(AutoModelForMaskedLM.from_pretrained(tmp_path)) is FGMForMaskedLM


def test_entry_points_are_lazy_and_real():
    code = "import sys, fgm; print(' '.join(m for m in ('datasets', 'fgm.training.finetune', 'fgm.data.corpus') if m in sys.modules))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "", f"`import fgm` imported {run.stdout.strip()}"
    from fgm.training.finetune import finetune

    assert fgm.finetune is finetune
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        fgm.nonexistent  # noqa: B018
    # a submodule named like an entry point would replace it as an attribute of fgm once anything imports it
    assert not {m.name for m in pkgutil.iter_modules(fgm.__path__)} & set(fgm._ENTRY_POINTS)
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for name in fgm._ENTRY_POINTS:  # each resolves to what it names, and the README lists the task functions
        assert getattr(fgm, name).__name__ == name
        assert name[0].isupper() or f"`fgm.{name}`" in readme, name


@pytest.mark.parametrize("cls", HEADS)
def test_return_dict_false_gives_tuples_and_every_head_gives_hidden_states(cls):
    torch.manual_seed(0)
    model = cls(FGMConfig.preset("tiny", num_labels=3)).eval()
    batch = TOKENIZER(SEQUENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch, output_hidden_states=True)
        as_tuple = model(**batch, output_hidden_states=True, return_dict=False)
    assert isinstance(as_tuple, tuple)
    first = out.last_hidden_state if cls is FGMModel else out.logits
    assert torch.equal(as_tuple[0], first)
    assert len(out.hidden_states) == model.config.num_hidden_layers + 1
    assert all(h.shape == (2, batch["input_ids"].shape[1], 64) for h in out.hidden_states)
    assert torch.equal(as_tuple[-1][-1], out.hidden_states[-1])
    model.config.return_dict = False
    with torch.no_grad():
        assert isinstance(model(**batch), tuple), "config.return_dict=False is honoured too"


def test_sparse_prediction_is_a_config_flag():
    torch.manual_seed(0)
    ids = torch.randint(6, 4107, (2, 30))
    labels = torch.full_like(ids, -100)
    labels[0, 4], labels[1, 11] = ids[0, 4], ids[1, 11]
    sparse = FGMForMaskedLM(FGMConfig.preset("tiny")).eval()
    dense = FGMForMaskedLM(FGMConfig.preset("tiny", sparse_prediction=False)).eval()
    dense.load_state_dict(sparse.state_dict())
    with torch.no_grad():
        a, b = sparse(ids, labels=labels), dense(ids, labels=labels)
    assert a.logits.shape == (2, 4107) and b.logits.shape == (2, 30, 4107)
    torch.testing.assert_close(a.loss, b.loss)
    torch.testing.assert_close(a.logits, b.logits[labels != -100])
