#!/usr/bin/env python3
"""Package transactions benchmark: what one apt transaction per host would save on a first converge.

A first converge installs each role's packages in the role's own apt task: one transaction per
role (more where a role installs in steps). The alternative is one transaction per host for every
role's packages. Rather than rewire the roles to measure it, this replays the lab's own first
converge: it reads the transactions a converged lab host made from /var/log/apt/history.log, and
on fresh hosts from the lab image (the same flags, the same cached .deb files, so nothing is
downloaded) installs exactly the same packages, either

- `per_role`: transaction by transaction, in the converge's order (what Hearth does), or
- `one`: all of them in one transaction,

taking turns in every round. Each transaction installs the full list the converge's did (requested
and automatic), without recommends, so both variants end with the same packages. Results go to
bench/results/apt_transactions.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGE = os.environ.get("HEARTH_LAB_IMAGE", "hearth/debian-systemd:13")
CACHE = Path(os.environ.get("HEARTH_CACHE", Path.home() / ".cache" / "hearth"))
HOST = "hearth-bench-apt"


@dataclass(frozen=True)
class Transaction:
    """One apt transaction from history.log: when it ran and every package it installed."""

    start: str
    seconds: int
    packages: tuple[str, ...]


def _packages(field: str) -> tuple[str, ...]:
    """Package names from an `Install:` field: `name:arch (version[, automatic]), ...`."""
    names = []
    for entry in field.split("), "):
        name = entry.strip().split(" ", 1)[0]
        if name:
            names.append(name.split(":", 1)[0])
    return tuple(names)


def _seconds(start: str, end: str) -> int:
    """Whole seconds between history.log's `YYYY-MM-DD  HH:MM:SS` stamps."""
    fmt = "%Y-%m-%d  %H:%M:%S"
    return int((datetime.strptime(end, fmt) - datetime.strptime(start, fmt)).total_seconds())


def parse_history(text: str) -> list[Transaction]:
    """The transactions in an apt history.log that installed something, oldest first."""
    transactions = []
    for block in text.split("\n\n"):
        fields = {}
        for line in block.strip().splitlines():
            key, _, value = line.partition(": ")
            fields[key] = value
        if "Install" in fields and "Start-Date" in fields and "End-Date" in fields:
            transactions.append(Transaction(
                start=fields["Start-Date"],
                seconds=_seconds(fields["Start-Date"], fields["End-Date"]),
                packages=_packages(fields["Install"]),
            ))
    return transactions


def since(transactions: list[Transaction], base: list[Transaction]) -> list[Transaction]:
    """The transactions after those the image itself already records (its build's)."""
    return transactions[len(base):]


def without(transactions: list[Transaction], excluded: set[str]) -> list[Transaction]:
    """The transactions that installed none of the excluded packages (test fixtures, not site.yml)."""
    return [t for t in transactions if not excluded & set(t.packages)]


def union(transactions: list[Transaction]) -> list[str]:
    """Every package of every transaction, once, in first-installed order."""
    return list(dict.fromkeys(name for t in transactions for name in t.packages))


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], check=check, text=True, capture_output=True)


def _exec(*args: str) -> str:
    return _docker("exec", "-e", "DEBIAN_FRONTEND=noninteractive", HOST, *args).stdout


def start_host() -> None:
    """A fresh host from the lab image with the lab's flags and its cached .deb files."""
    _docker("rm", "-f", HOST, check=False)
    archives = CACHE / "apt-archives"
    _docker("run", "-d", "--name", HOST, "--hostname", HOST, "--label", "hearth.bench=1",
            "--stop-signal", "SIGRTMIN+3", "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN",
            "--cgroupns=host", "--security-opt", "seccomp=unconfined",
            "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
            "--tmpfs", "/var/lib/docker:exec,size=6g",
            "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "-v", f"{archives}:/var/cache/apt/archives:rw",
            IMAGE, "/sbin/init")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = _docker("exec", HOST, "systemctl", "is-system-running", check=False).stdout.strip()
        if state in ("running", "degraded"):
            break
        time.sleep(0.5)
    _exec("apt-get", "update", "-q")


def install(packages: list[str] | tuple[str, ...]) -> float:
    """Seconds one `apt-get install` of these packages takes on the bench host."""
    began = time.monotonic()
    _exec("apt-get", "install", "-y", "-q", "--no-install-recommends", *packages)
    return time.monotonic() - began


def run_variant(variant: str, transactions: list[Transaction]) -> float:
    """Seconds the variant's installs take on a fresh host (host start and apt update excluded)."""
    start_host()
    try:
        if variant == "one":
            return install(union(transactions))
        return sum(install(t.packages) for t in transactions)
    finally:
        _docker("rm", "-f", HOST, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab-host", default="hearth-lab-1", help="converged lab host to read")
    parser.add_argument("--history", type=Path, help="a copy of its history.log to read instead")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--exclude", nargs="*", default=["docker-registry"],
                        help="leave out transactions that installed any of these (the lab's GHCR "
                             "stand-in is prepared by scripts/lab.sh, not by site.yml)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "apt_transactions.json")
    args = parser.parse_args()

    converged = parse_history(args.history.read_text() if args.history else
                              _docker("exec", args.lab_host, "cat", "/var/log/apt/history.log").stdout)
    image = parse_history(_docker("run", "--rm", "--entrypoint", "cat", IMAGE,
                                  "/var/log/apt/history.log", check=False).stdout)
    transactions = without(since(converged, image), set(args.exclude))
    if not transactions:
        print(f"{args.lab_host} records no transactions beyond the image's", file=sys.stderr)
        return 1
    times: dict[str, list[float]] = {"per_role": [], "one": []}
    for round_ in range(args.rounds):
        for variant in (("per_role", "one") if round_ % 2 == 0 else ("one", "per_role")):
            seconds = run_variant(variant, transactions)
            times[variant].append(round(seconds, 1))
            print(f"round {round_ + 1} {variant}: {seconds:.1f} s", flush=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "transactions": [{"start": t.start, "seconds_in_converge": t.seconds, "packages": list(t.packages)}
                         for t in transactions],
        "packages": len(union(transactions)),
        "rounds": args.rounds,
        "seconds": times,
        "median_seconds": medians,
        "saved_seconds": round(medians["per_role"] - medians["one"], 1),
        "ratio_one_to_per_role": round(medians["one"] / medians["per_role"], 3),
        "seconds_in_converge": sum(t.seconds for t in transactions),
        "environment": {"cpus": os.cpu_count(), "python": platform.python_version(), "image": IMAGE},
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("packages", "median_seconds", "saved_seconds",
                                             "ratio_one_to_per_role", "seconds_in_converge")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
