"""bench/molecule_steps.py: the order of strategies per round and the summary it writes."""
from __future__ import annotations

import molecule_steps as bench


def test_rounds_alternate_which_strategy_goes_first() -> None:
    assert bench.round_order(0) == ("linear", "mitogen_linear")
    assert bench.round_order(1) == ("mitogen_linear", "linear")
    assert bench.round_order(2) == bench.round_order(0)


def test_summary_takes_medians_per_step_and_strategy_and_the_ratio() -> None:
    runs = [
        {"step": "idempotence", "strategy": "linear", "seconds": s} for s in (60.0, 70.0, 65.0)
    ] + [
        {"step": "idempotence", "strategy": "mitogen_linear", "seconds": s} for s in (20.0, 30.0, 26.0)
    ] + [
        {"step": "check", "strategy": "linear", "seconds": 40.0},
    ]
    summary = bench.summarise(runs)
    assert summary["median_seconds"]["idempotence"] == {"linear": 65.0, "mitogen_linear": 26.0}
    assert summary["speedup_mitogen"] == {"idempotence": 2.5}  # check has no Mitogen run: no ratio
    assert summary["median_seconds"]["check"] == {"linear": 40.0}
