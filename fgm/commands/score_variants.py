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

import json

from ..variants import ScoreVariantsArguments, score_variants

ARGUMENTS = (ScoreVariantsArguments,)


def run(args: ScoreVariantsArguments) -> int:
    print(json.dumps(score_variants(args).to_json(), indent=2))
    return 0
