"""`fgm embed` / `fgm.embed`: sequence embeddings from any FGM checkpoint, for inputs of any length.

Inputs: a FASTA file (one embedding per record), BED regions of an indexed reference (a `-` in the strand
column, the 6th, embeds the region's reverse complement), or a TSV with `id` and `sequence` columns. Poolings:

    mean            average over the sequence's nucleotides of their token's vector (a k-mer token
                    counts once per base it covers, so chunking does not change the weights)
    cls             the <cls> token (the sequence must fit in one chunk)
    per-token       one vector per token, with the token's nucleotide span
    per-nucleotide  one vector per base (its token's vector): as many rows as the sequence has bases

`layer` picks the hidden state (0: the embedding layer, -1: the last layer, after the final norm). For a
single-base U-Net, -1 is its per-base output and the other layers are its trunk's (each trunk vector stands
for the 2**unet_stages bases of its block).

Long inputs are embedded in chunks of `chunk` bases (default: the checkpoint's training context) that
overlap by `overlap` bases, with starts in the sequence's k-mer frame; every base (and token) is taken
from the chunk in which it sits most centrally, so with an overlap larger than the model's receptive
field the result equals one pass over the whole sequence. Memory holds a batch of chunks at a time:
vectors stream chunk by chunk into npy and parquet outputs (safetensors keeps the file's vectors in
memory), so a chromosome-length input fits.

`rc_average` averages each chunk's vectors with those of its reverse complement (per-nucleotide:
base by base, flipped back); it is not defined for per-token output, whose tokens differ between strands.
Outputs: safetensors (`embeddings`, and `offsets` rows per record for per-token / per-nucleotide;
ids, coordinates and strands in the metadata), parquet (one row per record, or per token / base), or npy
(`OUT.npy`, memory-mapped, plus `OUT.index.tsv` with ids, coordinates, strands and row ranges). The rows of a
minus-strand region follow its reverse complement: their positions on the chromosome descend.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .checkpoints import checkpoint_argument
from .data.sizes import Size
from .inference import DNAVocabulary, inference_autocast, model_device
from .model.kmers_fgm import normalize_sequence, reverse_complement
from .results import RECORD, Record, optional

POOLINGS = ("mean", "cls", "per-token", "per-nucleotide")
FORMATS = {".safetensors": "safetensors", ".parquet": "parquet", ".npy": "npy"}


@dataclass
class EmbedArguments:
    """The options of `embed` (`fgm embed`): the checkpoint, one input (`fasta`, `bed` with `genome`, or
    `sequences`), the output, and how vectors are made."""

    model_name_or_path: str = checkpoint_argument("FGM checkpoint folder or Hub id (any head)")
    output: str = field(metadata={"help": "output file: .safetensors, .parquet or .npy"})
    fasta: str | None = field(default=None, metadata={"help": "one embedding per FASTA record"})
    bed: str | None = field(default=None, metadata={"help": "BED regions (with --genome); 4th column = name, 6th = "
                                                    "strand (-: the reverse complement)"})
    genome: str | None = field(default=None, metadata={"help": "reference FASTA for --bed: plain, bgzip or gzip "
                                                       "(copied to BGZF once, beside the output)"})
    sequences: str | None = field(default=None, metadata={"help": "TSV / CSV with id and sequence columns"})
    pooling: str = field(default="mean", metadata={"choices": POOLINGS, "help": "what one vector stands for"})
    layer: int = field(default=-1, metadata={"help": "hidden state: 0 embedding layer, -1 last layer (after the norm)"})
    chunk: Size | None = field(
        default=None, metadata={"help": "bases per chunk (default: the checkpoint's training context)"})
    overlap: Size | None = field(
        default=None, metadata={"help": "bases shared by neighbouring chunks (default: chunk / 4)"})
    rc_average: bool = field(default=False, metadata={"help": "average with the reverse complement's vectors"})
    output_format: str | None = field(
        default=None, metadata={"choices": ("safetensors", "parquet", "npy"), "help": "default: from the file name"})
    rename_chroms: str | None = field(
        default=None, metadata={"help": "BED -> FASTA contig names: add-chr, strip-chr, or a two-column file"})
    batch_size: int = field(default=8, metadata={"help": "chunks per forward pass"})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, ... (default: CUDA if available)"})
    quiet: bool = field(default=False, metadata={"help": "no progress bar"})


@RECORD
class EmbeddingSummary(Record):
    """What `embed` wrote: the output, its records (`sequences`) and vector width, and the settings the vectors
    depend on (`chunk` and `overlap` as used; `model`: the checkpoint's name or path, as it names itself)."""

    output: str
    sequences: int
    hidden_size: int
    pooling: str
    layer: int
    chunk: int
    overlap: int
    rc_average: bool
    model: str
    genome_bgzf_copy: str | None = optional()


@dataclass
class Sequence:
    id: str
    chrom: str | None
    start: int  # 0-based, on chrom (0 for FASTA records and TSV rows)
    sequence: str
    strand: str = "+"  # "-": `sequence` is the reverse complement of chrom[start:end]; ".": BED gave no strand

    @property
    def end(self) -> int:
        return self.start + len(self.sequence)

    def on_chrom(self, starts, ends):
        """Spans [starts, ends) of `sequence` as spans on the chromosome."""
        return (self.end - ends, self.end - starts) if self.strand == "-" else (self.start + starts, self.start + ends)


# ------------------------------------------------------------------------------------------------ inputs


def fasta_sequences(path):
    from .data.genome import iter_records

    for record in iter_records(path):
        yield Sequence(record.name, record.name, 0, record.sequence)


def bed_sequences(path, reference):
    """BED regions (0-based, half-open; optional 4th column = name, 6th = strand) cut from `reference` (an open
    `ReferenceGenome`), minus-strand ones reverse-complemented."""
    with open(path) as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.rstrip("\n").split("\t")
            if not line.strip() or fields[0].startswith(("#", "track", "browser")):
                continue
            if len(fields) < 3 or not (fields[1].isdigit() and fields[2].isdigit()) or int(fields[1]) >= int(fields[2]):
                raise ValueError(f"{path}, line {number}: expected 'chrom<TAB>start<TAB>end' with 0 <= start < end, "
                                 f"got {line.strip()[:80]!r}")
            chrom, start, end = fields[0], int(fields[1]), int(fields[2])
            name = fields[3] if len(fields) > 3 and fields[3] else f"{chrom}:{start}-{end}"
            strand = fields[5] if len(fields) > 5 else "."
            if strand not in ("+", "-", "."):
                raise ValueError(f"{path}, line {number}: the strand column (6th) must be +, - or ., got {strand!r}")
            try:
                sequence = reference.fetch(chrom, start, end)
            except (KeyError, ValueError) as err:
                raise ValueError(f"{path}, line {number}: {err}") from None
            yield Sequence(name, chrom, start, reverse_complement(sequence) if strand == "-" else sequence, strand)


def table_sequences(path):
    """`id` and `sequence` columns of a TSV (or CSV) file."""
    import pandas as pd

    path = Path(path)
    frame = pd.read_csv(path, sep="," if path.suffix == ".csv" else "\t", dtype=str, keep_default_na=False)
    missing = {"id", "sequence"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {sorted(missing)}; found {list(frame.columns)}")
    for row in frame.itertuples(index=False):
        yield Sequence(row.id, None, 0, normalize_sequence(row.sequence, f" of sequence {row.id!r} in {path}"))


# ------------------------------------------------------------------------------------------------ model


class Embedder:
    """Hidden states of one layer, chunk by chunk (see the module docstring)."""

    def __init__(self, model, tokenizer, layer: int = -1, chunk: int | None = None, overlap: int | None = None,
                 batch_size: int = 8):
        from .checkpoints import context_window

        self.encoder, self.tokenizer, self.layer = model.base_model.eval(), tokenizer, layer
        self.block = 2 ** getattr(model.config, "unet_stages", 0) if layer != -1 else 1
        self.vocabulary = DNAVocabulary(tokenizer)
        self.k = self.vocabulary.longest
        self.chunk = context_window(tokenizer, chunk, "chunks")
        self.overlap = self.chunk // 4 if overlap is None else overlap
        if not 0 <= self.overlap < self.chunk:
            raise ValueError(f"overlap must be in [0, chunk = {self.chunk}) bases, got {self.overlap}")
        self.batch_size = batch_size
        self.device = model_device(model)

    def spans(self, length: int) -> list[tuple[int, int, int, int]]:
        """(start, end, own_start, own_end) per chunk: the chunk, and the bases it contributes."""
        from .data.windows import window_spans

        spans = window_spans(length, self.chunk, self.chunk - self.overlap, frame=self.k, last_window="shifted")
        bounds = [0] + [(spans[i][1] + spans[i + 1][0]) // 2 for i in range(len(spans) - 1)] + [length]
        return [(a, b, bounds[i], bounds[i + 1]) for i, (a, b) in enumerate(spans)]

    def chunks(self, sequence: str, reverse: bool = False):
        """Per chunk, in order: (own_start, own_end, per-base vectors of the owned bases, owned tokens as
        (starts, ends, vectors), <cls> vector). `reverse`: each chunk read as its reverse complement, the
        per-base vectors flipped back onto the forward bases (tokens are then not defined)."""
        spans = self.spans(len(sequence))
        for first in range(0, len(spans), self.batch_size):
            batch = spans[first : first + self.batch_size]
            texts = [sequence[a:b] for a, b, _, _ in batch]
            encoded = self.tokenizer([reverse_complement(t) for t in texts] if reverse else texts, padding=True,
                                     return_tensors="pt")
            with torch.no_grad(), inference_autocast(self.device):
                outputs = self.encoder(**{k: v.to(self.device) for k, v in encoded.items()},
                                       output_hidden_states=self.layer != -1, return_dict=True)
            hidden = outputs.last_hidden_state if self.layer == -1 else outputs.hidden_states[self.layer]
            # a U-Net's other layers are its trunk's: one vector per block of 2**unet_stages tokens
            hidden = hidden.float().cpu().repeat_interleave(self.block, 1)[:, : encoded["input_ids"].shape[1]]
            lengths = self.vocabulary.lengths[encoded["input_ids"]] * encoded["attention_mask"]
            for row, (a, b, own_a, own_b) in enumerate(batch):
                starts = lengths[row].cumsum(0) - lengths[row]
                ends, real = starts + lengths[row], lengths[row] > 0
                per_base = hidden[row, torch.repeat_interleave(torch.nonzero(real).squeeze(1), (ends - starts)[real])]
                if reverse:
                    yield own_a, own_b, per_base.flip(0)[own_a - a : own_b - a], None, hidden[row, 0]
                    continue
                owned = real & (starts + a >= own_a) & (starts + a < own_b)
                tokens = (starts[owned] + a, ends[owned] + a, hidden[row, owned])
                yield own_a, own_b, per_base[own_a - a : own_b - a], tokens, hidden[row, 0]


def embed_pieces(embedder: Embedder, item: Sequence, pooling: str, rc_average: bool):
    """The vectors of one sequence, as pieces to write in order: (vectors, token spans or None). Pooled
    outputs are one (1, H) piece; per-token and per-nucleotide outputs come one chunk at a time."""
    if pooling == "per-token" and rc_average:
        raise ValueError("rc_average is not defined for per-token embeddings (the strands have different tokens)")
    if pooling == "cls" and len(item.sequence) > embedder.chunk:
        raise ValueError(f"{item.id}: cls pooling needs the whole sequence in one chunk ({len(item.sequence):,} "
                         f"bases > chunk {embedder.chunk:,}); raise chunk or use mean pooling")
    strands = [embedder.chunks(item.sequence)]
    if rc_average:
        strands.append(embedder.chunks(item.sequence, reverse=True))
    total = 0
    for pieces in zip(*strands):
        own_a, _, per_base, tokens, cls = pieces[0]
        if pooling == "per-token":
            yield tokens[2], torch.stack(item.on_chrom(*tokens[:2]), 1)
            continue
        per_base = sum(p[2] for p in pieces) / len(pieces)
        if pooling == "per-nucleotide":
            yield per_base, None
        elif pooling == "cls":
            yield (sum(p[4] for p in pieces) / len(pieces))[None], None
        else:
            total = total + per_base.sum(0)  # mean: a running sum, bounded memory
    if pooling == "mean":
        yield (total / max(len(item.sequence), 1))[None], None


# ------------------------------------------------------------------------------------------------ outputs


def _output_format(output: Path, output_format: str | None) -> str:
    fmt = output_format or next((f for s, f in FORMATS.items() if output.name.endswith(s)), None)
    if fmt not in FORMATS.values():
        raise ValueError(f"output format: use a {', '.join(FORMATS)} file name or output_format in "
                         f"{sorted(FORMATS.values())}, got {output.name!r} / {output_format!r}")
    return fmt


def embed(args: EmbedArguments, model=None) -> EmbeddingSummary:
    """Embed every input sequence of `args` (exactly one of `fasta`, `bed` with `genome`, `sequences`) into
    `args.output` with the checkpoint `args.model_name_or_path` (or `model`, a loaded `(model, tokenizer)` pair, in
    its place); returns a summary. A plain-gzip `genome` is read from a BGZF copy in `reference_cache/` beside the
    output (made once; the summary names it).
    """
    from tqdm.auto import tqdm

    from transformers import AutoModel

    from .checkpoints import load_checkpoint
    from .data.reference import CACHE_FOLDER, ReferenceGenome

    pooling, bed = args.pooling, args.bed
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    if sum(x is not None for x in (args.fasta, bed, args.sequences)) != 1 or (bed is None) != (args.genome is None):
        raise ValueError("give exactly one input: fasta, bed together with genome, or sequences")
    output = Path(args.output)
    fmt = _output_format(output, args.output_format)
    model, tokenizer = load_checkpoint(model or args.model_name_or_path, AutoModel, args.device)
    embedder = Embedder(model, tokenizer, args.layer, args.chunk, args.overlap, args.batch_size)
    reference = None if bed is None else ReferenceGenome(args.genome, args.rename_chroms, output.parent / CACHE_FOLDER)
    items = (fasta_sequences(args.fasta) if args.fasta is not None
             else bed_sequences(bed, reference) if bed is not None else table_sequences(args.sequences))
    settings = {"pooling": pooling, "layer": args.layer, "chunk": embedder.chunk, "overlap": embedder.overlap,
                "rc_average": args.rc_average, "model": str(getattr(model, "name_or_path", ""))}
    writer = {"safetensors": SafetensorsWriter, "parquet": ParquetWriter, "npy": NpyWriter}[fmt](output, pooling, settings)
    width = 0
    with writer, reference or contextlib.nullcontext():
        for item in tqdm(items, unit="sequence", disable=args.quiet):
            rows = 0
            for vectors, spans in embed_pieces(embedder, item, pooling, args.rc_average):
                writer.add(item, vectors.numpy().astype(np.float32), None if spans is None else spans.numpy())
                rows, width = rows + len(vectors), vectors.shape[1]
            writer.index.append((item.id, item.chrom or "", item.start, item.end, item.strand, writer.rows - rows,
                                 writer.rows))
    copy = reference.copy if reference else None
    return EmbeddingSummary(output=str(output), sequences=len(writer.index), hidden_size=width, **settings,
                            genome_bgzf_copy=str(copy) if copy else None)


class _Writer:
    """Receives the pieces of each record in order; `index` holds per record: id, chrom, start, end, strand and
    its rows [row_start, row_end) in the output."""

    def __init__(self, output: Path, pooling: str, settings: dict):
        self.output, self.pooling, self.settings = output, pooling, settings
        self.index, self.rows = [], 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close(complete=exc[0] is None)


class SafetensorsWriter(_Writer):
    """`embeddings` (rows, H), `offsets` (records + 1) and, per token, `token_spans`; ids and coordinates in
    the metadata."""

    def __init__(self, *args):
        super().__init__(*args)
        self.parts, self.token_spans = [], []

    def add(self, item, vectors, spans):
        self.parts.append(vectors)
        self.rows += len(vectors)
        if spans is not None:
            self.token_spans.append(spans)

    def close(self, complete=True):
        from safetensors.numpy import save_file

        if not complete:
            return
        width = self.parts[0].shape[1] if self.parts else 0
        tensors = {"embeddings": np.concatenate(self.parts) if self.parts else np.zeros((0, width), np.float32),
                   "offsets": np.array([0] + [r[6] for r in self.index], dtype=np.int64)}
        if self.token_spans:
            tensors["token_spans"] = np.concatenate(self.token_spans).astype(np.int64)
        metadata = {"records": json.dumps([r[:5] for r in self.index]), "fgm_embed": json.dumps(self.settings)}
        save_file(tensors, str(self.output), metadata=metadata)


class ParquetWriter(_Writer):
    """One row per record (pooled), per token (`start`, `end`) or per base (`position`), streamed."""

    def __init__(self, *args):
        super().__init__(*args)
        self.sink = None
        self.partial = self.output.with_name(self.output.name + ".partial")

    def add(self, item, vectors, spans):
        import pyarrow as pa
        import pyarrow.parquet as pq

        n = len(vectors)
        columns = {"id": [item.id] * n, "chrom": [item.chrom] * n, "strand": [item.strand] * n}
        if self.pooling == "per-token":
            columns.update(start=spans[:, 0], end=spans[:, 1])
        elif self.pooling == "per-nucleotide":
            first = self.rows - (self.index[-1][6] if self.index else 0)  # of this record's bases
            columns.update(position=item.on_chrom(np.arange(first, first + n), np.arange(first + 1, first + n + 1))[0])
        else:
            columns.update(start=[item.start], end=[item.end])
        columns["embedding"] = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1])
        table = pa.table(columns)
        if self.sink is None:
            schema = table.schema.with_metadata({b"fgm_embed": json.dumps(self.settings).encode()})
            self.sink = pq.ParquetWriter(str(self.partial), schema)
        self.sink.write_table(table.cast(self.sink.schema))
        self.rows += n

    def close(self, complete=True):
        if self.sink is not None:
            self.sink.close()
            self.partial.replace(self.output) if complete else self.partial.unlink()


class NpyWriter(_Writer):
    """`OUT.npy` (rows, H), written through a memory map, `OUT.index.tsv` and, per token, `OUT.token_spans.npy`."""

    def __init__(self, *args):
        super().__init__(*args)
        self.raw = self.output.with_name(self.output.name + ".partial")
        self.handle = open(self.raw, "wb")
        self.width, self.token_spans = 0, []

    def add(self, item, vectors, spans):
        self.width = vectors.shape[1]
        self.handle.write(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
        self.rows += len(vectors)
        if spans is not None:
            self.token_spans.append(spans.astype(np.int64))

    def close(self, complete=True):
        self.handle.close()
        if not complete:
            self.raw.unlink()
            return
        array = np.lib.format.open_memmap(self.output, mode="w+", dtype=np.float32, shape=(self.rows, self.width))
        if self.rows:
            flat = np.memmap(self.raw, dtype=np.float32, mode="r", shape=(self.rows, self.width))
            for first in range(0, self.rows, 1 << 16):
                array[first : first + (1 << 16)] = flat[first : first + (1 << 16)]
            del flat
        array.flush()
        del array
        self.raw.unlink()
        if self.token_spans:
            np.save(self.output.with_name(self.output.stem + ".token_spans.npy"), np.concatenate(self.token_spans))
        lines = ["id\tchrom\tstart\tend\tstrand\trow_start\trow_end"] + ["\t".join(map(str, r)) for r in self.index]
        self.output.with_name(self.output.stem + ".index.tsv").write_text("\n".join(lines) + "\n")
