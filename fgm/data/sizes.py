"""Sizes in bases or tokens as the options write them: 6000, 6k, 1.5k, 1m, 100_000; the argument type of every
option dataclass that takes a size (they live beside the functions that take them, below the commands)."""

import argparse


class Size(int):
    """A whole number of bases or tokens, also written with k / m suffixes and separators: 6000, 6k, 1.5k, 1m,
    100_000."""

    def __new__(cls, text):
        if isinstance(text, int):
            return super().__new__(cls, text)
        t = text.strip().lower().replace("_", "").replace(",", "")
        scale = 1
        if t.endswith(("k", "kb")):
            scale, t = 1_000, t.rstrip("b")[:-1]
        elif t.endswith(("m", "mb")):
            scale, t = 1_000_000, t.rstrip("b")[:-1]
        try:
            value = float(t) * scale
        except ValueError:
            value = None
        if value is None or value != int(value) or value < 0:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        return super().__new__(cls, int(value))


def bases_list(values) -> list[int]:
    """Sizes in bases, space- or comma-separated: ["1k,4k", "16k"] -> [1000, 4000, 16000]."""
    values = [values] if isinstance(values, str) else values
    return [Size(part) for value in values for part in str(value).split(",") if part.strip()]
