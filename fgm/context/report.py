"""How the context instruments write their reports: intervals as text, markdown tables, and figures."""

from __future__ import annotations

from contextlib import contextmanager

from ..results import Interval


def interval_text(value: Interval, digits: int = 4, sign: str = "") -> str:
    """"estimate [low, high]"; `sign="+"` writes the sign of differences."""
    return f"{value.estimate:{sign}.{digits}f} [{value.low:{sign}.{digits}f}, {value.high:{sign}.{digits}f}]"


def share_text(value: Interval) -> str:
    """A share as a percentage with its interval."""
    return f"{100 * value.estimate:.1f}% [{100 * value.low:.1f}, {100 * value.high:.1f}]"


def markdown_table(caption: str, columns: list[str], rows: list[list[str]]) -> str:
    """`caption`, then a markdown table with one line per row of cells."""
    lines = [caption, "", "| " + " | ".join(columns) + " |", "| --- " * len(columns) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


@contextmanager
def saved_figure(path, size=(6.0, 4.0)):
    """A matplotlib axis (no display needed) whose figure, with its legend, is written to `path` when the block ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=size)
    try:
        yield axis
        axis.legend(fontsize=8)
        figure.tight_layout()
        figure.savefig(path, dpi=120)
    finally:
        plt.close(figure)


def input_text(rule: str | None) -> str:
    """A caption's sentence on how windows were fitted to the model's input rules (nothing when none applied)."""
    return f" Input: {rule}." if rule else ""


def scored_how(causal: bool | None) -> str:
    """How an instrument's model scored a base, for its captions."""
    return "each from the bases before it (a causal LM)" if causal else "each with its token masked"
