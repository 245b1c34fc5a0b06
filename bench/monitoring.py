#!/usr/bin/env python3
"""What monitoring costs on the lab platform: series, the server's memory and CPU, probe time.

Runs on the controller against a converged lab or test host (`docker exec`; nothing leaves the
machine):

    python3 bench/monitoring.py --container hearth-lab-1 [--victoriametrics] [--window 120]

Measures, in one run and side by side:
* the number of series Prometheus holds for the platform (per job, and in all);
* Prometheus's resident memory and CPU (percent of one core) over the same window;
* the blackbox probes' own duration (median and max of probe_duration_seconds) and the
  exporter's CPU;
* with --victoriametrics: Debian's VictoriaMetrics single-node server scraping the very same
  jobs (Prometheus's rendered scrape_configs) for the same window, its memory, CPU and series,
  on loopback, started as a transient unit and removed afterwards.
Writes bench/results/monitoring.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VM_UNIT = "hearth-bench-victoriametrics"
VM_ADDRESS = "127.0.0.1:8428"
VM_DATA = "/var/tmp/hearth-bench-victoriametrics"
VM_CONFIG = "/var/tmp/hearth-bench-victoriametrics.yml"
CLOCK_TICKS = 100


def sh(container: str, script: str, check: bool = True) -> str:
    """Run a shell script in the container and return its standard output."""
    proc = subprocess.run(["docker", "exec", container, "bash", "-c", script], capture_output=True, text=True,
                          check=False, timeout=600)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{script!r} failed in {container}: {proc.stderr.strip()}")
    return proc.stdout


def query(container: str, base: str, promql: str) -> list[dict[str, Any]]:
    """An instant PromQL query against a server inside the container."""
    out = sh(container, f"curl -sf {base}/api/v1/query --data-urlencode query={json.dumps(promql)}")
    return json.loads(out)["data"]["result"]


def process_sample(container: str, unit: str) -> tuple[int, int, float]:
    """(pid, resident KiB, CPU seconds used so far) of a unit's main process."""
    out = sh(container, f"pid=$(systemctl show -p MainPID --value {unit}); echo $pid; "
                        "grep VmRSS /proc/$pid/status | tr -s ' ' | cut -d' ' -f2; cat /proc/$pid/stat")
    pid, rss, stat = out.splitlines()[:3]
    fields = stat.rsplit(")", 1)[1].split()
    return int(pid), int(rss), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def usage_over(container: str, units: list[str], window: float) -> dict[str, dict[str, float]]:
    """Memory and CPU (percent of one core) of each unit over the same window."""
    start = {u: process_sample(container, u) for u in units}
    began = time.monotonic()
    rss_samples: dict[str, list[int]] = {u: [] for u in units}
    while time.monotonic() - began < window:
        time.sleep(min(10.0, window / 6))
        for unit in units:
            rss_samples[unit].append(process_sample(container, unit)[1])
    elapsed = time.monotonic() - began
    end = {u: process_sample(container, u) for u in units}
    return {u: {"rss_mib_median": round(statistics.median(rss_samples[u]) / 1024, 1),
                "rss_mib_max": round(max(rss_samples[u]) / 1024, 1),
                "cpu_percent_of_one_core": round(100 * (end[u][2] - start[u][2]) / elapsed, 2)} for u in units}


def prometheus_url(container: str) -> str:
    """The server's URL from the monitoring offer the host recorded."""
    facts = json.loads(sh(container, "cat /etc/ansible/facts.d/hearth_offers.fact"))
    return facts["monitoring"]["connection"]["prometheus_url"]


def start_victoriametrics(container: str) -> None:
    """Install Debian's VictoriaMetrics and scrape Prometheus's own jobs with it, on loopback."""
    sh(container, "command -v victoria-metrics >/dev/null || "
                  "(apt-get install -y -qq --no-install-recommends victoria-metrics >/dev/null "
                  "&& systemctl disable --now victoria-metrics >/dev/null 2>&1 || true)")
    # Only global and scrape_configs: the same targets and relabelling, without Prometheus's
    # alerting and rules sections (parsed here: the host need not have PyYAML).
    import yaml  # imported here so --help works without it

    config = yaml.safe_load(sh(container, "cat /etc/prometheus/prometheus.yml"))
    stripped = {"global": {k: v for k, v in config["global"].items() if k != "evaluation_interval"},
                "scrape_configs": config["scrape_configs"]}
    subprocess.run(["docker", "exec", "-i", container, "bash", "-c", f"cat > {VM_CONFIG}"],
                   input=yaml.safe_dump(stripped), text=True, check=True, timeout=60)
    sh(container, f"systemctl stop {VM_UNIT} 2>/dev/null; rm -rf {VM_DATA}; "
                  f"systemd-run --unit={VM_UNIT} --collect -p User=prometheus "
                  f"/usr/bin/victoria-metrics -httpListenAddr={VM_ADDRESS} -storageDataPath={VM_DATA} "
                  f"-promscrape.config={VM_CONFIG} -retentionPeriod=1d")


def stop_victoriametrics(container: str) -> None:
    sh(container, f"systemctl stop {VM_UNIT} 2>/dev/null; rm -rf {VM_DATA} {VM_CONFIG}", check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--container", default="hearth-lab-1")
    parser.add_argument("--window", type=float, default=120.0, help="seconds to measure CPU and memory over")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds VictoriaMetrics scrapes before measuring")
    parser.add_argument("--victoriametrics", action="store_true", help="also run VictoriaMetrics side by side")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "monitoring.json"))
    args = parser.parse_args(argv)

    base = prometheus_url(args.container)
    units = ["prometheus", "prometheus-blackbox-exporter"]
    results: dict[str, Any] = {}
    try:
        if args.victoriametrics:
            start_victoriametrics(args.container)
            time.sleep(args.warmup)
            units.append(VM_UNIT)
        per_job = query(args.container, base, 'count by (job) ({__name__=~".+"})')
        results["series"] = {
            "total": int(float(query(args.container, base, 'count({__name__=~".+"})')[0]["value"][1])),
            "per_job": {r["metric"].get("job", ""): int(float(r["value"][1])) for r in per_job},
            "targets": len(query(args.container, base, "up")),
            "scrape_interval": sh(args.container, "grep -m1 scrape_interval /etc/prometheus/prometheus.yml").split()[-1],
        }
        results["usage"] = usage_over(args.container, units, args.window)
        durations = [float(r["value"][1]) for r in query(args.container, base, "probe_duration_seconds")]
        results["probes"] = {"count": len(durations),
                             "duration_ms_median": round(1000 * statistics.median(durations), 1) if durations else None,
                             "duration_ms_max": round(1000 * max(durations), 1) if durations else None}
        if args.victoriametrics:
            count = json.loads(sh(args.container, f"curl -sf http://{VM_ADDRESS}/api/v1/series/count"))
            results["victoriametrics_series"] = count.get("data", [None])[0]
    finally:
        if args.victoriametrics:
            stop_victoriametrics(args.container)
    results["environment"] = {"container": args.container, "window_s": args.window,
                              "controller": platform.platform(), "cpus": sh(args.container, "nproc").strip()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
