"""`fgm score-variants`: zero-shot effect scores for every variant of a VCF.

    fgm score-variants --model CKPT --genome REF.fa.gz --vcf IN.vcf.gz --output scores.tsv
    fgm score-variants --model CKPT --genome REF.fa --vcf IN.vcf --output scored.vcf.gz --rename_chroms add-chr

score = ln P(alt) - ln P(ref) at the variant base: the masked LM's k-mer softmax at the masked token
holding the variant, marginalized to the variant's offset in it; in a window of the reference centred on
the variant; mean over the k window starts (--frames all) or one (--frames center), and over both
strands. SNVs are scored; indels, MNPs, symbolic and * alleles are written with an empty score and a
reason. Output: TSV (default), parquet or VCF (INFO FGM_LLR, FGM_REASON), chosen by the file name or
--output_format; a summary goes to OUTPUT.summary.json. --resume continues an interrupted run. A plain-gzip
reference is read from a BGZF copy made once in reference_cache/ beside the output (the summary names it).
"""

from dataclasses import dataclass, field

from ..checkpoints import checkpoint_argument
from ..variants.scoring import FRAMES, STRANDS
from . import Size


@dataclass
class ScoreVariantsArguments:
    model_name_or_path: str = checkpoint_argument("FGM masked-LM checkpoint folder or Hub id")
    genome: str = field(metadata={"help": "reference FASTA: plain, bgzip (a .fai / .gzi index is built if missing) "
                                  "or gzip (copied to BGZF once, beside the output)"})
    vcf: str = field(metadata={"help": "variants: VCF or BCF, plain, gzip or bgzip"})
    output: str = field(metadata={"help": "output file: .tsv, .parquet, .vcf, .vcf.gz or .bcf"})
    window: Size | None = field(
        default=None, metadata={"help": "bases of context around each variant (default: the checkpoint's training "
                                "context)"})
    frames: str = field(default="all", metadata={"choices": FRAMES, "help": "k-mer frames averaged (see above)"})
    strands: str = field(default="both", metadata={"choices": STRANDS, "help": "strands scored (both: their mean)"})
    output_format: str | None = field(
        default=None, metadata={"choices": ("tsv", "parquet", "vcf"), "help": "default: from the output file name"})
    skip_ref_mismatch: bool = field(
        default=False, metadata={"help": "write records whose REF differs from the FASTA with the reason "
                                 "ref_mismatch instead of stopping"})
    skip_unknown_contigs: bool = field(
        default=False, metadata={"help": "write records on a contig the FASTA lacks with the reason unknown_contig "
                                 "instead of stopping"})
    rename_chroms: str | None = field(
        default=None, metadata={"help": "VCF -> FASTA contig names: add-chr, strip-chr, or a two-column file"})
    batch_size: int = field(default=8, metadata={"help": "windows per forward pass"})
    resume: bool = field(default=False, metadata={"help": "continue an interrupted run with the same settings"})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, cuda:1, ... (default: CUDA if available)"})
    quiet: bool = field(default=False, metadata={"help": "no progress bar"})


ARGUMENTS = (ScoreVariantsArguments,)


def run(args: ScoreVariantsArguments) -> int:
    import json

    from ..variants import score_variants

    summary = score_variants(
        args.model_name_or_path, args.genome, args.vcf, args.output, window=args.window, frames=args.frames,
        strands=args.strands, output_format=args.output_format, skip_ref_mismatch=args.skip_ref_mismatch,
        skip_unknown_contigs=args.skip_unknown_contigs, rename_chroms=args.rename_chroms, batch_size=args.batch_size,
        resume=args.resume, device=args.device, progress=not args.quiet,
    )
    print(json.dumps(summary, indent=2))
    return 0
