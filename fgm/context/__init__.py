"""The long-context study: does more context make a better genomic model, and does a model use it?

`context_scan` (masked-LM loss against context size at fixed positions, with Markov baselines, the copy oracle
and repeat strata), `context_study` (one model per training context, same token budget, scanned and reported
together), `retrieval_benchmark` (zero-shot gain from a copy of the masked bases d bases away) and
`context_influence` (how much the masked prediction changes when bases at distance d change), `oracle_scan`
(the share of bases with a copy at each distance and the copy oracle's gain per context, with no neural model).
"""

from .influence import context_influence
from .oracle_scan import oracle_scan
from .retrieval import retrieval_benchmark
from .scan import context_scan
from .study import context_study

__all__ = ["context_influence", "context_scan", "context_study", "oracle_scan", "retrieval_benchmark"]
