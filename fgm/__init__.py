"""Flash Genomics Model: a long-context DNA language model for Hugging Face Transformers.

`import fgm` registers the model type "fgm" with AutoConfig, AutoTokenizer and every AutoModel class
FGM implements, so local use needs no `trust_remote_code`. The task entry points (corpus building,
pretraining, fine-tuning, ...) are imported on first use, so their dependencies cost nothing until then.

Layout, lowest room first (each module imports only from its own room or a lower one; README "Code map"):
`model/` (the five files every checkpoint ships as remote code), the shared helpers (`checkpoints`, `inference`,
`results` (typed results and their JSON), `stats`, ...), `data/` (genomes, corpus, masked examples), `training/`
(Trainer pretraining and fine-tuning), the tasks (`context/`, `variants/`, `embeddings`), `hub`, and the entry
points (`commands/`, `cli`, `demo`). Each library entry point takes its options as dataclasses, which the command of
the same name parses with `HfArgumentParser` and passes on.
"""

import importlib

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
)

from .model.configuration_fgm import FGMConfig
from .model.modeling_fgm import (
    FGMForMaskedLM,
    FGMForSequenceClassification,
    FGMForTokenClassification,
    FGMModel,
    FGMPreTrainedModel,
)
from .model.tokenization_fgm import FGMTokenizer
from .version import __version__

AutoConfig.register(FGMConfig.model_type, FGMConfig, exist_ok=True)
AutoTokenizer.register(FGMConfig, tokenizer_class=FGMTokenizer, exist_ok=True)
for _auto, _model in (
    (AutoModel, FGMModel),
    (AutoModelForMaskedLM, FGMForMaskedLM),
    (AutoModelForSequenceClassification, FGMForSequenceClassification),
    (AutoModelForTokenClassification, FGMForTokenClassification),
):
    _auto.register(FGMConfig, _model, exist_ok=True)

# public name -> module that defines it, imported on first access
_ENTRY_POINTS = {  # each task function, and the option dataclasses it takes
    "CorpusArguments": "fgm.data.corpus",
    "make_corpus": "fgm.data.corpus",
    "build_corpus": "fgm.data.corpus",
    "load_corpus": "fgm.data.corpus",
    "save_corpus": "fgm.data.corpus",
    "PretrainModelArguments": "fgm.training.pretrain",
    "PretrainDataArguments": "fgm.training.pretrain",
    "PretrainingArguments": "fgm.training.pretrain",
    "pretrain": "fgm.training.pretrain",
    "FinetuneModelArguments": "fgm.training.finetune_arguments",
    "TaskArguments": "fgm.training.finetune_arguments",
    "FinetuningArguments": "fgm.training.finetune_arguments",
    "finetune": "fgm.training.finetune",
    "BenchmarkArguments": "fgm.training.nt_benchmark",
    "BenchmarkTrainingArguments": "fgm.training.nt_benchmark",
    "run_nt_benchmark": "fgm.training.nt_benchmark",
    "ScoreVariantsArguments": "fgm.variants",
    "score_variants": "fgm.variants",
    "VepBenchmarkArguments": "fgm.variants.benchmark",
    "run_vep_benchmark": "fgm.variants.benchmark",
    "EmbedArguments": "fgm.embeddings",
    "embed": "fgm.embeddings",
    "HeldOutArguments": "fgm.context.instrument",
    "ScoringArguments": "fgm.context.instrument",
    "ScanArguments": "fgm.context.scan",
    "context_scan": "fgm.context",
    "StudyArguments": "fgm.context.study",
    "StudyModelArguments": "fgm.context.study",
    "StudyTrainingArguments": "fgm.context.study",
    "context_study": "fgm.context",
    "RetrievalArguments": "fgm.context.retrieval",
    "retrieval_benchmark": "fgm.context",
    "InfluenceArguments": "fgm.context.influence",
    "context_influence": "fgm.context",
    "OracleArguments": "fgm.context.oracle_scan",
    "oracle_scan": "fgm.context",
    "PushArguments": "fgm.hub",
    "push_checkpoint": "fgm.hub",
}


def __getattr__(name):
    if name in _ENTRY_POINTS:
        return getattr(importlib.import_module(_ENTRY_POINTS[name]), name)
    raise AttributeError(f"module 'fgm' has no attribute {name!r}")


__all__ = [
    "FGMConfig",
    "FGMTokenizer",
    "FGMPreTrainedModel",
    "FGMModel",
    "FGMForMaskedLM",
    "FGMForSequenceClassification",
    "FGMForTokenClassification",
    *_ENTRY_POINTS,
]
