#!/usr/bin/env python3
"""Benchmark the AWS scanner against ``grep -rE`` with an equivalent pattern set.

Generates a synthetic repository (default 50,000 files of mixed source, about 3 KB each, with
AWS references in about 1 % of them, plus a vendored ``node_modules`` tree and some binary
files) in a temporary directory, then times ``scan_tree`` and ``grep -rEnI`` over it several
times each (interleaved), after one warm-up run of each so both read from the page cache. Medians of files/s
and MB/s and the ratio of the two go to ``bench/results/scan.json``.

    .venv/bin/python bench/scan.py                  # full run
    .venv/bin/python bench/scan.py --files 2000     # quick look
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "scan.json"
SCANNER = (ROOT / "collections" / "ansible_collections" / "hearth" / "platform" / "plugins"
           / "module_utils" / "aws_scan.py")


def load_core() -> Any:
    """The scanner from the collection's module_utils, loaded by path (no Ansible needed)."""
    spec = importlib.util.spec_from_file_location("hearth_aws_scan_bench", SCANNER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# Extended regular expressions equivalent to the scanner's content rules (grep has no
# per-file-type logic, so the file-name rules are approximated by their content markers).
GREP_PATTERNS = [
    r"[0-9]{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com",
    r"public\.ecr\.aws/[a-z0-9]",
    r"s3[an]?://",
    r"[a-z0-9]\.s3([.-][a-z0-9-]+)?\.amazonaws\.com",
    r"(^|[^a-z0-9.-])s3([.-][a-z0-9-]+)?\.amazonaws\.com/",
    r"\.(rds|cache)\.amazonaws\.com",
    r"arn:aws(-[a-z-]+)?:[a-z0-9-]+:",
    r"(AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}",
    r"[Aa][Ww][Ss]_?[Ss][Ee][Cc][Rr][Ee][Tt]_?([Aa][Cc][Cc][Ee][Ss][Ss]_?)?[Kk][Ee][Yy]",
    r"AWS_[A-Z0-9_]+",
    r"aws-actions/",
    r"provider +\"aws\"|(resource|data) +\"aws_|AWSTemplateFormatVersion|AWS::Serverless",
    r"\"containerDefinitions\"",
    r"(boto3|botocore|aioboto3|aiobotocore|awscli|s3fs|s3transfer|aws-sdk|@aws-sdk/|aws-cdk|"
    r"aws-amplify|pulumi[-_]aws|serverless)",
    r"(^|[^a-z/.$-])aws +[a-z0-9-]+ +[a-z]",
]

WORDS = ("request response handler config value result items index user account order "
         "payload buffer stream token session cache client server query record event "
         "message worker queue batch status error retry timeout limit offset").split()
AWS_LINES = [
    'IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/api:{n}"',
    'BUCKET_URL = "https://acme-{n}.s3.eu-west-1.amazonaws.com/data"',
    "RAW = 's3://acme-raw-{n}/landing/'",
    "DATABASE_URL=postgres://app:pw@db{n}.c1x.us-east-1.rds.amazonaws.com:5432/app",
    'ROLE = "arn:aws:iam::123456789012:role/worker-{n}"',
    "FROM public.ecr.aws/acme/base-{n}:1",
    "key_id = AKIAIOSFODNN7EXAMPLE",
]
SUFFIXES = [".py", ".py", ".js", ".ts", ".go", ".md", ".yml", ".json", ".txt", ".sh"]


def _line(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(3, 9))
    kind = rng.random()
    if kind < 0.3:
        return f"    {words[0]}_{words[1]} = {words[2]}({', '.join(words[3:])})"
    if kind < 0.5:
        return f"# {' '.join(words)}"
    if kind < 0.7:
        return f'  "{words[0]}": "{" ".join(words[1:])}",'
    return f"{' '.join(words)};"


def generate_tree(root: Path, files: int, avg_bytes: int = 3072, aws_share: float = 0.01,
                  seed: int = 7) -> Dict[str, int]:
    """Write the synthetic repository; returns counts (files, bytes, AWS files, vendored)."""
    rng = random.Random(seed)
    pool = [_line(rng) for _ in range(4000)]
    per_dir = 100
    total = aws_files = 0
    for i in range(files):
        sub = root / f"pkg{i // (per_dir * 20):03d}" / f"mod{(i // per_dir) % 20:02d}"
        if i % per_dir == 0:
            sub.mkdir(parents=True, exist_ok=True)
        target = int(rng.uniform(0.3, 1.7) * avg_bytes)
        lines: List[str] = []
        size = 0
        while size < target:
            line = pool[rng.randrange(len(pool))]
            lines.append(line)
            size += len(line) + 1
        if rng.random() < aws_share:
            aws_files += 1
            lines.insert(rng.randrange(len(lines)), rng.choice(AWS_LINES).format(n=i))
        text = "\n".join(lines) + "\n"
        (sub / f"f{i:06d}{SUFFIXES[i % len(SUFFIXES)]}").write_text(text)
        total += len(text)
    vendored = root / "node_modules" / "aws-sdk"
    vendored.mkdir(parents=True)
    for i in range(max(1, files // 100)):
        (vendored / f"v{i}.js").write_text("// s3://vendored/x AKIAIOSFODNN7EXAMPLE\n" * 50)
    binaries = root / "assets"
    binaries.mkdir()
    for i in range(max(1, files // 500)):
        (binaries / f"b{i}.bin").write_bytes(b"\x00\x01s3://bin/x" + bytes(range(256)) * 8)
    return {"files": files, "bytes": total, "aws_files": aws_files,
            "vendored_files": max(1, files // 100)}


def run_scanner(core: Any, root: Path) -> Dict[str, Any]:
    """One scanner pass: seconds, findings, files and bytes read."""
    start = time.perf_counter()
    findings, stats = core.scan_tree(str(root))
    return {"seconds": time.perf_counter() - start, "findings": len(findings),
            "files": stats.files_scanned, "bytes": stats.bytes_scanned}


def grep_command(root: Path, skip_dirs: Sequence[str]) -> List[str]:
    cmd = ["grep", "-rEnI"] + [f"--exclude-dir={d}" for d in sorted(skip_dirs)]
    for pattern in GREP_PATTERNS:
        cmd += ["-e", pattern]
    return cmd + [str(root)]


def run_grep(root: Path, skip_dirs: Sequence[str]) -> Dict[str, Any]:
    """One grep pass (C locale, output counted, not kept): seconds and matching lines."""
    start = time.perf_counter()
    proc = subprocess.run(grep_command(root, skip_dirs), stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, env=dict(os.environ, LC_ALL="C"),
                          check=False)
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"grep failed with {proc.returncode}")
    return {"seconds": seconds, "matching_lines": proc.stdout.count(b"\n")}


def summarize_runs(runs: Sequence[Dict[str, Any]], files: int, nbytes: int) -> Dict[str, Any]:
    """Median seconds, files/s and MB/s of repeated runs."""
    secs = statistics.median(r["seconds"] for r in runs)
    return {"runs_s": [round(r["seconds"], 4) for r in runs], "median_s": round(secs, 4),
            "files_per_s": round(files / secs, 1), "mb_per_s": round(nbytes / 1e6 / secs, 2)}


def bench(root: Path, files: int, avg_bytes: int, reps: int) -> Dict[str, Any]:
    """Generate, warm up, time both tools; the result document."""
    core = load_core()
    gen = generate_tree(root, files, avg_bytes)
    skip = sorted(core.SKIP_DIRS)
    run_scanner(core, root)
    run_grep(root, skip)
    scans, greps = [], []
    for _ in range(reps):  # interleaved, so background load hits both alike
        scans.append(run_scanner(core, root))
        greps.append(run_grep(root, skip))
    scanned_files, scanned_bytes = scans[0]["files"], scans[0]["bytes"]
    scanner = summarize_runs(scans, scanned_files, scanned_bytes)
    grep = summarize_runs(greps, scanned_files, scanned_bytes)
    grep_version = subprocess.run(["grep", "--version"], capture_output=True, text=True,
                                  check=False).stdout.splitlines()[0]
    return {
        "tree": {**gen, "scanned_files": scanned_files, "scanned_bytes": scanned_bytes},
        "repetitions": reps,
        "scanner": {**scanner, "findings": scans[0]["findings"]},
        "grep": {**grep, "matching_lines": greps[0]["matching_lines"],
                 "command": "LC_ALL=C grep -rEnI --exclude-dir=<scanner skip list> "
                            f"-e <{len(GREP_PATTERNS)} patterns>"},
        "ratio_scanner_over_grep_time": round(scanner["median_s"] / grep["median_s"], 2),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "grep": grep_version, "platform": platform.platform(),
                    "loadavg_1m_at_end": round(os.getloadavg()[0], 2)},
    }


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--avg-bytes", type=int, default=3072)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(list(argv) or None)
    tmp = Path(tempfile.mkdtemp(prefix="hearth-scan-bench-"))
    try:
        result = bench(tmp / "repo", args.files, args.avg_bytes, args.reps)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
