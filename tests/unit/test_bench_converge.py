"""The converge benchmark reads Ansible's recap correctly."""
from __future__ import annotations

from converge import parse_recap

RECAP = """
PLAY RECAP *********************************************************************
hearth-lab-1               : ok=52   changed=3    unreachable=0    failed=0    skipped=11   rescued=0    ignored=0
hearth-lab-2               : ok=10   changed=0    unreachable=0    failed=1    skipped=2    rescued=0    ignored=0
"""


def test_recap_totals_sum_over_hosts() -> None:
    totals = parse_recap(RECAP)
    assert totals == {"ok": 62, "changed": 3, "failed": 1, "skipped": 13, "unreachable": 0, "tasks": 76}


def test_no_recap_means_no_tasks() -> None:
    assert parse_recap("nothing ran")["tasks"] == 0
