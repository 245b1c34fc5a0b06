#!/usr/bin/env python3
"""Converge benchmark: how long the lab takes to converge from scratch and to re-run unchanged.

Records the wall time of the first converge of site.yml on fresh lab hosts, then no-change re-runs
in several ways of reaching the same host, taking turns in every round so that all see the machine
at the same moment:

- `docker`: the lab as shipped (the docker connection, ansible.cfg's pipelining);
- `docker-unpipelined`: the same with pipelining off (five round trips per task instead of one),
  the A/B of that one setting;
- `docker-unprobed`: the same with `hearth_package_probe=false`, so every role's apt task runs
  (the A/B of the once-per-run package probe);
- `ssh`: over SSH into the same lab host, with ansible.cfg's ControlPersist and pipelining, as
  users reach real machines (the benchmark authorises a key of its own for root, and writes a
  copy of the lab's inventory that differs only in how the host is reached);
- `docker-mitogen` and `ssh-mitogen`: Mitogen's strategy (opt-in for users);
- `docker-skip`, `ssh-skip`, `docker-mitogen-skip`, `ssh-mitogen-skip`: site.yml as shipped,
  which ends every play at once when nothing changed since the last full converge through the
  same inventory (roles/converge_state). The other variants run with
  `converge_state_skip_unchanged=false`, so that every role runs; each of them records its full
  converge, so a `-skip` variant placed after a full one of the same inventory measures the skip.

For each: the median, tasks per second, the per-task cost, the ratio to `docker`, the median
seconds per role and the ten slowest tasks that changed nothing. Results go to
bench/results/converge.json after every round, so a stopped run keeps what it measured. Each
converge goes through scripts/converge.py, which reads ansible-runner's events. Re-creating the lab
destroys its data, so the benchmark refuses to start while lab hosts exist unless --recreate.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _load_runner() -> ModuleType:
    """scripts/converge.py as a module (both files are called converge, so it is loaded by path)."""
    spec = importlib.util.spec_from_file_location("hearth_converge_runner", ROOT / "scripts" / "converge.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


runner = _load_runner()


def run_record(summary: Any) -> dict[str, Any]:
    """One converge's entry in the results: the recap counters and rate, then where time went.

    Keeps the fields earlier results have (seconds, ok, changed, failed, skipped, unreachable,
    tasks, tasks_per_second) so results stay comparable across versions.
    """
    totals = summary.totals
    seconds = round(summary.wall_seconds, 2)
    return {
        "seconds": seconds,
        **{name: totals[name] for name in ("ok", "changed", "failed", "skipped", "unreachable", "tasks")},
        "tasks_per_second": round(totals["tasks"] / seconds, 2) if seconds else 0.0,
        "changed_per_host": summary.changed_per_host,
        "role_seconds": summary.role_seconds,
        "slowest_unchanged_tasks": [t.to_json() for t in summary.slowest_unchanged],
    }


def median_role_seconds(records: list[dict[str, Any]]) -> dict[str, float]:
    """Per role, the median of its seconds over several runs (0 where a run lacks the role)."""
    roles = {role for record in records for role in record["role_seconds"]}
    medians = {role: round(statistics.median(r["role_seconds"].get(role, 0.0) for r in records), 2) for role in roles}
    return dict(sorted(medians.items(), key=lambda kv: (-kv[1], kv[0])))


LAB = "inventories/lab"


def converge(env: dict[str, str], inventory: str = LAB, extra_args: list[str] | None = None) -> dict[str, Any]:
    """Converge site.yml on the lab once and return its record; stop the benchmark if it fails."""
    summary = runner.run_converge(inventory, quiet=True, environ=env, extra_args=extra_args or [])
    if summary.failed:
        stdout = Path(summary.artifact_dir) / "stdout"
        sys.stderr.write(stdout.read_text(errors="replace")[-6000:] if stdout.is_file() else "")
        sys.stderr.write(runner.format_summary(summary) + "\n")
        raise SystemExit(f"converge failed (rc={summary.rc})")
    return run_record(summary)


def median_run(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose wall time is the (lower) median of several."""
    ordered = sorted(records, key=lambda r: r["seconds"])
    return ordered[(len(ordered) - 1) // 2]


BASES = ("docker", "docker-unpipelined", "docker-unprobed", "ssh", "docker-mitogen", "ssh-mitogen")
SKIP = "-skip"
VARIANTS = BASES + tuple(name + SKIP for name in ("docker", "ssh", "docker-mitogen", "ssh-mitogen"))
BASELINE = "docker"


def parse_variants(text: str) -> list[str]:
    """The comma-separated variant names, checked, in the order given, the baseline first."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        raise SystemExit(f"--variants: unknown {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    return [BASELINE] + [name for name in dict.fromkeys(names) if name != BASELINE]


def variant_summary(records: list[dict[str, Any]], baseline_median: float | None) -> dict[str, Any]:
    """One variant's re-runs with their median, rate, per-task cost and ratio to the baseline.

    The per-task cost is wall time over tasks run, so variants are compared on the same work;
    `speedup` is the baseline's median over this one's (above 1: faster than the lab as shipped).
    """
    median = statistics.median(r["seconds"] for r in records)
    tasks = statistics.median(r["tasks"] for r in records)
    return {
        "median_seconds": median,
        "median_tasks_per_second": statistics.median(r["tasks_per_second"] for r in records),
        "seconds_per_task": round(median / tasks, 3) if tasks else 0.0,
        "speedup": round(baseline_median / median, 2) if baseline_median and median else None,
        "reruns_changed": [r["changed"] for r in records],
        "role_seconds": median_role_seconds(records),
        "slowest_tasks": median_run(records)["slowest_unchanged_tasks"],
        "reruns": records,
    }


def ssh_inventory(host: str, work: Path, keys: Path, lab: Path = ROOT / LAB) -> Path:
    """A copy of the lab's inventory that reaches `host` over SSH at its container address.

    The copy lives two levels below the repository, like inventories/lab, and links the lab's
    group_vars and generated secrets, so every path the lab derives from inventory_dir (the
    secrets, the test model) is the same file. Host variables beat the lab's group variables,
    so only the connection changes. The key (in `keys`, apart, since Ansible reads every file of
    an inventory directory) is the benchmark's own, authorised for root on the host, and the host
    key is pinned with ssh-keyscan, so host key checking stays on.
    """
    work.mkdir(parents=True, exist_ok=True, mode=0o700)
    keys.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = keys / "id_ed25519"
    if not key.is_file():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hearth-converge-bench", "-f", str(key)],
                       check=True)
    public = key.with_suffix(".pub").read_text().strip()
    subprocess.run(["docker", "exec", host, "sh", "-c",
                    'install -d -m 700 /root/.ssh && touch /root/.ssh/authorized_keys && '
                    'grep -qxF "$1" /root/.ssh/authorized_keys || echo "$1" >> /root/.ssh/authorized_keys',
                    "sh", public], check=True)
    address = subprocess.run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                              host], capture_output=True, text=True, check=True).stdout.split()[0]
    known_hosts = keys / "known_hosts"
    scan = subprocess.run(["ssh-keyscan", "-T", "10", address], capture_output=True, text=True, check=True).stdout
    known_hosts.write_text(scan)
    for name in ("group_vars", ".secrets"):
        link = work / name
        if not link.is_symlink():
            link.symlink_to(lab / name)
    inventory = over_ssh(yaml.safe_load((lab / "hosts.yml").read_text()), host, address, key, known_hosts)
    (work / "hosts.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
    return work


def over_ssh(inventory: dict[str, Any], host: str, address: str, key: Path, known_hosts: Path) -> dict[str, Any]:
    """The lab's inventory with `host` reached over SSH: its groups as they are, four host variables added."""
    copy = json.loads(json.dumps(inventory))
    copy["all"]["hosts"] = {host: {
        "ansible_connection": "ssh",
        "ansible_host": address,
        "ansible_ssh_private_key_file": str(key),
        "ansible_ssh_common_args": f"-o UserKnownHostsFile={known_hosts}",
    }}
    return copy


def variant_settings(name: str, env: dict[str, str], ssh: Path | None) -> tuple[dict[str, str], str, list[str]]:
    """The environment, inventory and extra ansible-playbook arguments of one variant.

    Variants named `-skip` run site.yml as shipped, which skips every host when nothing changed
    since the last full converge through the same inventory; the others turn that off, so every
    role runs and the re-run measures the roles themselves.
    """
    settings = dict(env)
    skip = name.endswith(SKIP)
    base = name[:-len(SKIP)] if skip else name
    extra = [] if skip else ["-e", "converge_state_skip_unchanged=false"]
    if base.endswith("-mitogen"):
        settings.update(runner.mitogen_environ())
    if base == "docker-unpipelined":
        settings["ANSIBLE_PIPELINING"] = "False"
    if base == "docker-unprobed":
        return settings, LAB, extra + ["-e", "hearth_package_probe=false"]
    if base.startswith("ssh"):
        assert ssh is not None
        return settings, str(ssh), extra
    return settings, LAB, extra


def lab_hosts() -> list[str]:
    """The lab containers (running or not), by name; the benchmark would destroy them."""
    out = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}", "--filter", "label=hearth.lab=1"],
                         capture_output=True, text=True, check=True).stdout
    return sorted(out.split())


def main() -> int:
    """Recreate the lab hosts, converge once, re-run unchanged in every variant, write the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reruns", type=int, default=3,
                        help="no-change re-runs per variant (median reported); 0 measures the first converge only")
    parser.add_argument("--first-variant", default=BASELINE, choices=[name for name in BASES if name != "docker-unprobed"],
                        help="how the first converge reaches the fresh host (ssh-mitogen: the fastest supported path)")
    parser.add_argument("--variants", default="docker,docker-skip,docker-mitogen-skip,ssh,ssh-skip,docker-mitogen",
                        help=f"comma-separated, from {', '.join(VARIANTS)}; docker always runs first. A -skip "
                             "variant skips only after a full run through the same inventory (ssh's is a copy)")
    parser.add_argument("--recreate", action="store_true", help="destroy existing lab hosts first")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "converge.json")
    parser.add_argument("--reuse", action="store_true",
                        help="re-run on the lab as it is (converged already): no first converge is measured")
    args = parser.parse_args()
    variants = parse_variants(args.variants)

    hosts = lab_hosts()
    if args.reuse and not hosts:
        print("--reuse needs a converged lab (make lab)")
        return 2
    if hosts and not (args.recreate or args.reuse):
        print("lab hosts exist and hold data; run with --recreate (make bench RECREATE=1) to destroy them, "
              "or --reuse to measure re-runs on them as they are")
        return 2
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}:{env['PATH']}"
    if args.reuse:
        # The lab is converged already: every measured run is a no-change run (reruns_changed shows it).
        first = None
    else:
        subprocess.run(["scripts/lab.sh", "down"], cwd=ROOT, env=env, check=True)
        subprocess.run(["scripts/lab.sh", "hosts"], cwd=ROOT, env=env, check=True)
        hosts = lab_hosts()
    ssh = None
    if any(name.startswith("ssh") for name in [*variants, args.first_variant]):
        if len(hosts) != 1:
            raise SystemExit(f"the ssh variants measure a one-host lab; found {hosts}")
        ssh = ssh_inventory(hosts[0], ROOT / ".cache" / "bench-ssh", ROOT / ".cache" / "bench-ssh-keys")
    if not args.reuse:
        first = converge(*variant_settings(args.first_variant, env, ssh))
        first["variant"] = args.first_variant
        print(f"first converge ({args.first_variant}): {first['seconds']} s, {first['tasks']} task results", flush=True)
        if args.reruns == 0:
            write_results(args.output, first, {BASELINE: []})
    records: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for round_number in range(1, args.reruns + 1):
        for name in variants:
            settings, inventory, extra = variant_settings(name, env, ssh)
            records[name].append(converge(settings, inventory, extra))
            print(f"round {round_number} {name}: {records[name][-1]['seconds']} s, "
                  f"changed {records[name][-1]['changed']}", flush=True)
        write_results(args.output, first, records)
    print(args.output.read_text())
    return 0


def write_results(output: Path, first: dict[str, Any] | None, records: dict[str, list[dict[str, Any]]]) -> None:
    """Write what the rounds so far measured; the baseline's fields keep their earlier names."""
    reruns = records[BASELINE]
    result: dict[str, Any] = {
        "benchmark": "lab converge of site.yml" + ("" if reruns else ", first converge only"),
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "first_converge": first,
    }
    if reruns:
        baseline_median = statistics.median(r["seconds"] for r in reruns)
        result |= {
            "no_change_reruns": reruns,
            "no_change_median_seconds": baseline_median,
            "no_change_median_tasks_per_second": statistics.median(r["tasks_per_second"] for r in reruns),
            "first_to_rerun_ratio": round(first["seconds"] / baseline_median, 2) if first else None,
            "reruns_changed": [r["changed"] for r in reruns],
            "no_change_role_seconds": median_role_seconds(reruns),
            "no_change_slowest_tasks": median_run(reruns)["slowest_unchanged_tasks"],
            "variants": {name: variant_summary(runs, baseline_median) for name, runs in records.items() if runs},
        }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
