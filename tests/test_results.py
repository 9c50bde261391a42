"""The typed results (`fgm/results.py`): intervals read by name, records saved as the JSON of before and read back
into their types, and files another version wrote refused with a message that says how to redo them."""

import json
from dataclasses import dataclass, field

import numpy as np
import pytest

from fgm.context.results import InfluenceResult, RetrievalResult
from fgm.results import Interval, OutdatedResult, Record, optional
from fgm.stats import mean_interval, resamples


@dataclass(kw_only=True)
class Row(Record):
    name: str
    loss: Interval
    by_context: dict[int, Interval]
    note: str | None = optional()
    reach: int | None = None
    shares: list[float] = field(default_factory=list)


def test_an_interval_is_read_by_name_and_saved_as_a_list():
    values = np.array([0.0, 1.0, 2.0, 3.0])
    interval = mean_interval(values, resamples(len(values), 200, seed=0))
    assert interval.estimate == 1.5 and interval.low < 1.5 < interval.high
    assert interval.to_json() == [interval.estimate, interval.low, interval.high]
    assert Interval.from_json(interval.to_json()) == interval
    assert Interval(-0.3, -0.5, -0.1).below_zero and not Interval(-0.3, -0.5, 0.1).below_zero
    assert Interval(0.2, 0.1, 0.3).above_zero and Interval(1.0, 0.5, 2.0).map(np.log).low == pytest.approx(np.log(0.5))
    with pytest.raises(ValueError, match=r"\[estimate, low, high\]"):
        Interval.from_json([1.0, 2.0])


def test_a_record_round_trips_through_the_json_of_before(tmp_path):
    row = Row(name="model", loss=Interval(1.2, 1.1, 1.3), by_context={128: Interval(0.1, 0.0, 0.2)}, shares=[0.5])
    data = row.to_json()
    assert data == {"name": "model", "loss": [1.2, 1.1, 1.3], "by_context": {128: [0.1, 0.0, 0.2]}, "reach": None,
                    "shares": [0.5]}  # `note` (optional, None) left out, `reach` (None) written
    row.save(tmp_path / "row.json")
    text = (tmp_path / "row.json").read_text()
    assert json.loads(text)["by_context"] == {"128": [0.1, 0.0, 0.2]} and not (tmp_path / "row.json.tmp").exists()
    assert Row.load(tmp_path / "row.json") == row  # int keys restored, intervals typed
    assert Row.from_json({**data, "note": "kept"}).note == "kept"


def test_a_file_another_version_wrote_is_refused_saying_how_to_redo_it(tmp_path):
    good = Row(name="m", loss=Interval(1, 0, 2), by_context={}).to_json()
    cases = {"missing": {k: v for k, v in good.items() if k != "loss"}, "unknown": {**good, "n_bootstrap": 10},
             "position": {**good, "loss": [1.0, 0.0]}, "type": {**good, "name": 3}}
    for label, data in cases.items():
        (tmp_path / f"{label}.json").write_text(json.dumps(data))
        refusal = rf"{label}\.json is not a Row as this version of FGM writes it.*run the command"
        with pytest.raises(OutdatedResult, match=refusal):
            Row.load(tmp_path / f"{label}.json")


def test_saved_instrument_results_of_before_read_back_unchanged():
    influence = {"model": "m", "context": 256, "training_context": 256, "extrapolation": False, "positions": 40,
                 "seed": 0, "reach": 8, "copy": None, "intact_loss": [1.3, 1.2, 1.4],
                 "bands": [{"band": [1, 2], "bases": 2.0, "kl": [0.5, 0.4, 0.6], "loss_change": [0.1, 0.0, 0.2]}]}
    result = InfluenceResult.from_json(influence)
    assert result.bands[0].start == 1 and result.bands[0].kl.estimate == 0.5 and result.copy is None
    assert result.to_json() == influence
    retrieval = {"model": "m", "training_context": 1536, "seed": 0, "windows": 50, "copy_length": 32, "scored": 4,
                 "flank": 32, "distractor": 0, "control": "other",
                 "rows": [{"distance": 1000, "window": 1120, "extrapolation": False, "copy_loss": [1.2, 1.1, 1.3],
                           "copy_accuracy": [0.4, 0.3, 0.5], "control_loss": [1.3, 1.2, 1.4],
                           "control_accuracy": [0.3, 0.2, 0.4], "gain": [0.088, 0.073, 0.105]}]}
    assert RetrievalResult.from_json(retrieval).rows[0].gain.above_zero
    assert RetrievalResult.from_json(retrieval).to_json() == retrieval
