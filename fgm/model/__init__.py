"""The model as it ships: the five files copied into every checkpoint folder, which `AutoModel.from_pretrained(folder,
trust_remote_code=True)` runs without FGM installed. They import only torch, transformers and tokenizers, and each
other (relatively), never the rest of `fgm`:

- `configuration_fgm.py`: `FGMConfig`, the shape of a model and its presets;
- `modeling_fgm.py`: the encoder, its U-Net and the task heads;
- `attention_fgm.py`: how each layer attends on each backend (eager, sdpa, flex, flash);
- `tokenization_fgm.py`: `FGMTokenizer`, the Nucleotide Transformer's k-mer vocabulary;
- `kmers_fgm.py`: the alphabet and the k-mer arithmetic the tokenizer and the model share.
"""
