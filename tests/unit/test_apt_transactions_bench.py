"""bench/apt_transactions.py's pure parts: reading apt's history and what each variant installs.

The timing runs on fresh lab hosts (see the module's docstring); here only the parsing that
decides which packages both variants install, against a history.log written as apt writes it.
"""
from __future__ import annotations

import apt_transactions as bench

HISTORY = """
Start-Date: 2026-12-01  10:00:00
Commandline: /usr/bin/apt-get install -y systemd
Install: systemd:amd64 (257.9-1), libsystemd-shared:amd64 (257.9-1, automatic)
End-Date: 2026-12-01  10:00:04

Start-Date: 2026-12-02  05:14:00
Install: postgresql-17:amd64 (17.6-0+deb13u1), libpq5:amd64 (17.6-0+deb13u1, automatic)
End-Date: 2026-12-02  05:14:21

Start-Date: 2026-12-02  05:14:30
Purge: oldthing:amd64 (1.0)
End-Date: 2026-12-02  05:14:31

Start-Date: 2026-12-02  05:15:00
Install: redis-server:amd64 (5:8.0.2-3), libpq5:amd64 (17.6-0+deb13u1, automatic)
End-Date: 2026-12-02  05:15:09
"""


def test_parse_history_keeps_installs_with_every_package_and_their_seconds() -> None:
    transactions = bench.parse_history(HISTORY)
    assert [t.packages for t in transactions] == [
        ("systemd", "libsystemd-shared"),
        ("postgresql-17", "libpq5"),
        ("redis-server", "libpq5"),
    ]
    assert [t.seconds for t in transactions] == [4, 21, 9]


def test_since_drops_what_the_image_recorded() -> None:
    image = bench.parse_history(HISTORY.split("\n\n")[1])
    assert [t.packages[0] for t in bench.since(bench.parse_history(HISTORY), image)] == [
        "postgresql-17", "redis-server"]


def test_union_installs_each_package_once_in_first_order() -> None:
    transactions = bench.parse_history(HISTORY)[1:]
    assert bench.union(transactions) == ["postgresql-17", "libpq5", "redis-server"]


def test_without_leaves_out_transactions_of_test_fixtures() -> None:
    transactions = bench.parse_history(HISTORY)
    assert [t.packages[0] for t in bench.without(transactions, {"libpq5"})] == ["systemd"]
