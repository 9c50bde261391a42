"""Pretraining and fine-tuning on a CUDA GPU end to end (skipped without one): a few bf16 steps through the
commands users run, then the checkpoints load on the CPU in fp32 and predict what they predicted on the GPU,
within bf16 rounding.

    python -m pytest -q tests/test_cuda_training.py
"""

import json

import pytest
import torch
import yeast
from datasets import Dataset, DatasetDict

from fgm import FGMForMaskedLM, FGMForSequenceClassification, FGMTokenizer
from fgm.cli import main

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
SEQUENCES = [yeast.chromosome("chrVI")[i : i + 3000] for i in range(0, 12_000, 3000)]


def predictions(folder, cls, device, dtype):
    tokenizer = FGMTokenizer.from_pretrained(folder)
    model = cls.from_pretrained(folder, dtype=dtype).to(device).eval()
    batch = tokenizer(SEQUENCES, padding=True, return_tensors="pt").to(device)
    with torch.no_grad(), torch.autocast("cuda", torch.bfloat16, enabled=device == "cuda"):
        return model(**batch).logits.float().cpu()


def relative_error(out, reference):
    return float((out - reference).norm() / reference.norm())


def test_pretraining_then_finetuning_on_the_gpu_loads_on_the_cpu(tmp_path):
    corpus = DatasetDict({"train": Dataset.from_list(yeast.windows("chrI", 6000)),
                          "validation": Dataset.from_list(yeast.windows("chrIII", 6000, 16))})
    corpus.save_to_disk(tmp_path / "corpus")
    common = ["--report_to", "none", "--disable_tqdm", "True", "--bf16"]
    assert main(["pretrain", "--corpus", str(tmp_path / "corpus"), "--output_dir", str(tmp_path / "pretrained"),
                 "--preset", "small", "--max_length", "1024", "--max_steps", "30", "--per_device_train_batch_size", "8",
                 "--eval_steps", "30", "--save_steps", "30", *common]) == 0
    final = json.loads((tmp_path / "pretrained" / "final_results.json").read_text())
    assert final["eval_mlm_accuracy"] > 0.0 and torch.isfinite(torch.tensor(final["eval_loss"]))
    on_gpu = predictions(tmp_path / "pretrained", FGMForMaskedLM, "cuda", torch.bfloat16)
    on_cpu = predictions(tmp_path / "pretrained", FGMForMaskedLM, "cpu", torch.float32)
    assert relative_error(on_gpu, on_cpu) < 2e-2, "bf16 on the GPU and fp32 on the CPU agree within rounding"

    rows = [{"sequence": s[:600], "label": int(i % 2)} for i, s in enumerate(SEQUENCES * 16)]
    for split in ("train", "test"):
        Dataset.from_list(rows).to_csv(tmp_path / f"{split}.csv")
    assert main(["finetune", "--model", str(tmp_path / "pretrained"), "--train_file", str(tmp_path / "train.csv"),
                 "--test_file", str(tmp_path / "test.csv"), "--output_dir", str(tmp_path / "finetuned"),
                 "--num_train_epochs", "1", *common]) == 0
    model_dir = tmp_path / "finetuned" / "model"
    on_gpu = predictions(model_dir, FGMForSequenceClassification, "cuda", torch.bfloat16)
    on_cpu = predictions(model_dir, FGMForSequenceClassification, "cpu", torch.float32)
    assert relative_error(on_gpu, on_cpu) < 2e-2
