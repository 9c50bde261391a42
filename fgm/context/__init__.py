"""The long-context study: does more context make a better genomic model?

`context_scan` (masked-LM loss against context size at fixed positions, with Markov baselines),
`context_study` (one model per training context, same token budget, scanned and reported together) and
`long_range_probe` (a synthetic task whose label needs two motifs a given distance apart).
"""

from .probe import long_range_probe
from .scan import context_scan
from .study import context_study

__all__ = ["context_scan", "context_study", "long_range_probe"]
