#!/usr/bin/env python3
"""Benchmark the AWS scanner against ``grep -rE`` with an equivalent pattern set.

Generates a synthetic repository (default 50,000 files of mixed source, about 3 KB each, with
one AWS line planted in about 1 % of them, plus a vendored ``node_modules`` tree and some
binary files, which both tools skip) in a temporary directory. After one warm-up run of each
(so all read from the page cache) it times, in the same loop and in a rotating order, the
scanner in one process (``Options(jobs=1)``), the scanner with one process per CPU
(``Options(jobs=0)``) and ``LC_ALL=C grep -rEnI`` (one process). Medians of seconds, files/s
and MB/s, the ratio scanner / grep for both scanner modes against the goal (at most 1.5) and
the comparison of what the tools found go to ``bench/results/scan.json``.

How the two counts are made comparable
--------------------------------------
Both sides are reduced to the same unit: the set of distinct (relative path, line) pairs.
The scanner's findings become ``{(f.path, f.line)}`` (several findings on one line, e.g. an ECR
login and its registry, count once); grep's ``-n`` output ``path:line:text`` becomes
``{(path without the root prefix, line)}`` (the generated paths hold no colon). The JSON
records both counts, whether the sets are equal, the size of their symmetric difference with
up to ten examples from each side, and the set of planted lines as the ground truth.

On the generated tree the sets are equal by construction, not by coincidence:

* the noise lines hold none of the words either tool looks for (``aws``, ``s3``, ``boto``,
  ``amazon``, key prefixes), so neither reports them (a unit test checks the whole pool);
* each grep pattern is the ERE form of one scanner regular expression (lookarounds become
  ``(^|[^...])`` / ``([^...]|$)``, ``\\d \\w \\s`` become POSIX classes), so a line that the
  scanner's rule matches, grep's pattern matches too (the dependency rules, which parse
  manifests section by section, are approximated by line-start patterns; the tree has no
  manifests);
* grep applies every pattern to every file, while some scanner rules only look at some file
  types (``AWS_*`` variables in env/compose/workflow files, SDK imports per language, AWS CLI
  calls in shell-like files, CloudFormation in YAML/JSON). Each planted line is therefore
  only put into files of the suffixes where the scanner reports it (``PLANTS`` lists them;
  ``.env`` files exist for the ``AWS_*`` class), so grep's lack of file types
  adds no match here. Rules that need a file name the tree does not have (manifests, Terraform,
  workflows, ECS task definitions) keep their grep pattern, which costs grep time and matches
  nothing, just as those scanner rules cost nothing and find nothing;
* every planted line is a single line and planted once per file (whole-file kinds such as
  CloudFormation report one line per file).

    .venv/bin/python bench/scan.py                  # full run
    .venv/bin/python bench/scan.py --files 2000     # quick look
"""
from __future__ import annotations

import argparse
import gc
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
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, NamedTuple, Sequence, Set, Tuple

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "scan.json"
GOAL_RATIO = 1.5

Hit = Tuple[str, int]


def load_core() -> Any:
    """The scanner package (stdlib only, no Ansible needed).

    ``make venv`` installs this checkout's scanner as ``hearth_aws_scan`` (editable, so it is
    the same files); under pytest the collection path works too.
    """
    try:
        import hearth_aws_scan as aws_scan  # type: ignore[import-not-found]
    except ImportError:
        from ansible_collections.hearth.platform.plugins.module_utils import aws_scan
    return aws_scan


# One ERE per scanner rule (the scanner's regular expression in grep's dialect). grep has no
# per-file-type logic: it applies all of them everywhere (see the module docstring).
_REGION = r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]"
_NOT_W = "[^A-Za-z0-9_]"
GREP_PATTERNS = [
    # rules_endpoints: ECR private and public, S3 URI / virtual host / path style, RDS, cache
    r"(^|[^A-Za-z0-9_.-])[0-9]{12}\.dkr\.ecr(-fips)?\." + _REGION + r"\.amazonaws\.com",
    r"(^|[^A-Za-z0-9_.-])public\.ecr\.aws/[a-z0-9][a-z0-9_-]*/[a-z0-9]",
    r"(^|[^A-Za-z0-9_+.-])[Ss]3[AaNn]?://",
    r"(^|[^A-Za-z0-9_.-])[a-z0-9][a-z0-9.-]+[a-z0-9]\.s3(-accelerate)?([.-](dualstack\.)?"
    + _REGION + r")?(\.dualstack)?\.amazonaws\.com(\.cn)?([^A-Za-z0-9_.-]|$)",
    r"(^|[^A-Za-z0-9_.-])s3([.-](dualstack\.)?" + _REGION
    + r")?\.amazonaws\.com(\.cn)?/[a-z0-9][a-z0-9.-]+[a-z0-9]",
    r"[A-Za-z0-9-]\.([Rr][Dd][Ss]|[Cc][Aa][Cc][Hh][Ee])\.[Aa][Mm][Aa][Zz][Oo][Nn][Aa][Ww][Ss]"
    r"\.[Cc][Oo][Mm](\.[Cc][Nn])?([^A-Za-z0-9_.-]|$)",
    # rules_credentials: ARNs, access key IDs, secret access keys, AWS_* variables
    r"(^|[^A-Za-z0-9_-])arn:aws(-cn|-us-gov|-iso(-[a-z])?)?:[a-z0-9-]+:[a-z0-9-]*:"
    r"([0-9]{12}|aws)?:[^][:space:]\"'<>`,;){}=$]",
    r"(^|[^A-Za-z0-9])(AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}([^A-Za-z0-9]|$)",
    r"([Aa][Ww][Ss]_?[Ss][Ee][Cc][Rr][Ee][Tt]_?([Aa][Cc][Cc][Ee][Ss][Ss]_?)?|"
    r"[Ss][Ee][Cc][Rr][Ee][Tt]_?[Aa][Cc][Cc][Ee][Ss][Ss]_?)[Kk][Ee][Yy][\"']?[[:space:]]*"
    r"[:=][[:space:]]*[\"']?[A-Za-z0-9/+=]{40}([^A-Za-z0-9/+=]|$)",
    r"(^|" + _NOT_W + r")AWS_[A-Z0-9_]+(" + _NOT_W + r"|$)",
    # rules_code: SDK imports in Python, JavaScript/TypeScript, Go, Java
    r"^[[:blank:]]*(import|from)[[:blank:]]+(boto3|botocore|boto|aioboto3|aiobotocore|s3fs|"
    r"s3transfer|awswrangler|pulumi_awsx?|aws_[a-z0-9_]+|mypy_boto3_[A-Za-z0-9_]+|"
    r"requests_aws4auth)([^A-Za-z0-9_]|$)",
    r"(\<from[[:blank:]]*|\<require[[:blank:]]*\([[:blank:]]*|\<import[[:blank:]]*\([[:blank:]]*|"
    r"^[[:blank:]]*import[[:blank:]]+)[\"'`](@aws-[A-Za-z0-9_-]+/|aws-sdk|aws-cdk-lib|"
    r"@pulumi/awsx?|aws-amplify|aws-lambda|@types/aws-lambda|aws4|aws-xray-sdk|"
    r"aws-serverless-express)",
    r"\"github\.com/(aws/aws-[A-Za-z0-9_.-]+|pulumi/pulumi-aws)",
    r"^[[:blank:]]*import[[:blank:]]+(static[[:blank:]]+)?(software\.amazon\.(awssdk|awscdk)|"
    r"com\.amazonaws)",
    # rules_ci: aws-actions steps, AWS CLI calls (ECR logins included)
    r"uses:[[:space:]]*[\"']?aws-actions/[A-Za-z0-9_.-]",
    r"(^|[^A-Za-z0-9_/.$-])aws([[:blank:]]+--[A-Za-z0-9_-]+([ =][^[:space:]|;&-][^[:space:]]*)?)*"
    r"[[:blank:]]+[a-z][a-z0-9-]+[[:blank:]]+[a-z]",
    # rules_iac: Terraform (resources, providers, modules, state), CloudFormation/SAM,
    # Serverless, Pulumi, ECS task definitions
    r"^[[:space:]]*(provider[[:space:]]+\"aws\"|(resource|data)[[:space:]]+\"aws_[A-Za-z0-9_]+\"|"
    r"source[[:space:]]*=[[:space:]]*\"[^\"]*(hashicorp/aws\"|/aws(//[^\"]*)?(\?[^\"]*)?\"|"
    r"terraform-aws-))",
    r"^[[:space:]]*(backend[[:space:]]+\"s3\"|backend[[:space:]]*=[[:space:]]*\"s3\"|"
    r"dynamodb_table[[:space:]]*=|dynamodb_endpoint[[:space:]]*=)",
    r"^[[:space:]{]*[\"']?AWSTemplateFormatVersion[\"']?[[:space:]]*:|"
    r"^[[:space:]{,]*[\"']?Transform[\"']?[[:space:]]*:[[:space:]]*[\"']?AWS::Serverless",
    r"^provider:[[:blank:]]*([\"']?aws(" + _NOT_W + r"|$)|$)",
    r"^[[:space:]]*[\"']?aws:[A-Za-z0-9_-]",
    r"\"containerDefinitions\"[[:space:]]*:",
    # rules_dependencies: manifest lines naming an AWS SDK or AWS tool
    r"^[[:space:]]*(gem[[:space:]]+)?[\"']?(boto3|botocore|boto|aioboto3|aiobotocore|s3fs|"
    r"s3transfer|awswrangler|awscli|aws-sam-cli|aws-sam-translator|aws-cdk|aws-sdk|aws-amplify|"
    r"aws-lambda|aws-xray-sdk|aws4|aws-requests-auth|requests-aws4auth|serverless|zappa|"
    r"chalice|mangum|cfn-lint|sagemaker|dynamoose|amazon-cognito-identity-js|prefect-aws|"
    r"dagster-aws|apache-airflow-providers-amazon|@aws-|@pulumi/aws|pulumi-aws|mypy-boto3-|"
    r"types-boto3|types-aiobotocore|@vendia/serverless-express)([^A-Za-z0-9_]|$|[.-])",
    r"^[[:space:]]*(require[[:space:]]+)?github\.com/(aws/aws-|aws/constructs-go|"
    r"pulumi/pulumi-aws)",
    r"software\.amazon\.(awssdk|awscdk)|com\.amazonaws",
]

WORDS = ("request response handler config value result items index user account order "
         "payload buffer stream token session cache client server query record event "
         "message worker queue batch status error retry timeout limit offset").split()
SUFFIXES = [".py", ".py", ".js", ".ts", ".go", ".md", ".yml", ".json", ".txt", ".sh"]
# One file in every hundred is an environment file (the only type the AWS_* rule reads);
# they get AWS lines more often so that class is present in the tree.
ENV_EVERY, ENV_AT, ENV_SUFFIX, ENV_AWS_SHARE = 100, 50, ".env", 0.2
ALL_SUFFIXES: FrozenSet[str] = frozenset(SUFFIXES) | {ENV_SUFFIX}


class Plant(NamedTuple):
    """One AWS line and the suffixes of the files it is planted in (where the scanner reads
    it; grep finds it anywhere)."""

    name: str
    template: str
    suffixes: FrozenSet[str]


PLANTS = [
    Plant("ecr-image", 'IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/api:{n}"',
          ALL_SUFFIXES),
    Plant("s3-endpoint", 'BUCKET_URL = "https://acme-{n}.s3.eu-west-1.amazonaws.com/data"',
          ALL_SUFFIXES),
    Plant("s3-uri", "RAW = 's3://acme-raw-{n}/landing/'", ALL_SUFFIXES),
    Plant("rds-endpoint",
          "DATABASE_URL=postgres://app:pw@db{n}.c1x.us-east-1.rds.amazonaws.com:5432/app",
          ALL_SUFFIXES),
    Plant("elasticache-endpoint",
          "REDIS_URL=redis://cache{n}.ab12cd.0001.euw1.cache.amazonaws.com:6379/0",
          ALL_SUFFIXES),
    Plant("arn", 'ROLE = "arn:aws:iam::123456789012:role/worker-{n}"', ALL_SUFFIXES),
    Plant("ecr-public-image", "FROM public.ecr.aws/acme/base-{n}:1", ALL_SUFFIXES),
    Plant("access-key-id", "key_id = AKIAIOSFODNN7EXAMPLE", ALL_SUFFIXES),
    Plant("secret-access-key", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
          ALL_SUFFIXES),
    Plant("aws-env-var", "AWS_DEFAULT_REGION=eu-west-{n}", frozenset({ENV_SUFFIX})),
    Plant("aws-env-var-key", "AWS_ACCESS_KEY_ID=minio-{n}", frozenset({ENV_SUFFIX})),
    Plant("sdk-import-py", "import boto3", frozenset({".py"})),
    Plant("sdk-import-py-from", "from botocore.exceptions import ClientError",
          frozenset({".py"})),
    Plant("sdk-import-js", 'import {{ S3Client }} from "@aws-sdk/client-s3";',
          frozenset({".js", ".ts"})),
    Plant("sdk-import-js-require", "const AWS = require('aws-sdk');", frozenset({".js", ".ts"})),
    Plant("sdk-import-go", '\t"github.com/aws/aws-sdk-go-v2/service/s3"', frozenset({".go"})),
    Plant("aws-cli-call", "aws s3 sync ./dist s3://acme-site-{n}/ --delete", frozenset({".sh"})),
    Plant("ecr-login", "aws ecr get-login-password --region us-east-1 | docker login "
                       "--username AWS --password-stdin 123456789012.dkr.ecr.us-east-1"
                       ".amazonaws.com", frozenset({".sh"})),
    Plant("cloudformation-yaml", 'AWSTemplateFormatVersion: "2010-09-09"', frozenset({".yml"})),
    Plant("cloudformation-json", '"AWSTemplateFormatVersion": "2010-09-09",',
          frozenset({".json"})),
]
# The planted lines as templates (older callers used this name).
AWS_LINES = [p.template for p in PLANTS]

COMPARABILITY = (
    "Both counts are distinct (relative path, line) pairs: the scanner's findings reduced "
    "to {(path, line)}, grep's -n output 'path:line:text' reduced to {(path, line)}. The "
    "generated tree makes them equal by construction: noise lines hold no word either tool "
    "looks for; each grep pattern is the ERE form of a scanner regular expression (manifest "
    "rules approximated; the tree has no manifests); and each "
    "planted AWS line is put only into files of the suffixes where the scanner's rule reads "
    "it (AWS_* variables only in .env files, SDK imports only in their language, AWS CLI "
    "calls only in .sh, CloudFormation only in .yml/.json), because grep applies every "
    "pattern to every file. One planted line per file; vendored node_modules and binary "
    "files are skipped by both. 'planted' is the ground truth both sets are checked against.")


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


def noise_pool(rng: random.Random, size: int = 4000) -> List[str]:
    """The lines every generated file is made of (none of them is an AWS remnant)."""
    return [_line(rng) for _ in range(size)]


def file_suffix(i: int) -> str:
    """The suffix of the i-th generated file."""
    return ENV_SUFFIX if i % ENV_EVERY == ENV_AT else SUFFIXES[i % len(SUFFIXES)]


def plants_for(suffix: str) -> List[Plant]:
    """The AWS lines that may be planted in a file with this suffix."""
    return [p for p in PLANTS if suffix in p.suffixes]


def generate_tree(root: Path, files: int, avg_bytes: int = 3072, aws_share: float = 0.01,
                  seed: int = 7) -> Tuple[Dict[str, Any], Set[Hit]]:
    """Write the synthetic repository.

    Returns counts (files, bytes, AWS files, vendored, planted lines by class) and the set of
    planted (relative path, line) pairs, the ground truth for both tools.
    """
    rng = random.Random(seed)
    pool = noise_pool(rng)
    per_dir = 100
    total = 0
    planted: Set[Hit] = set()
    by_class: Dict[str, int] = {p.name: 0 for p in PLANTS}
    for i in range(files):
        rel_dir = f"pkg{i // (per_dir * 20):03d}/mod{(i // per_dir) % 20:02d}"
        sub = root / rel_dir
        if i % per_dir == 0:
            sub.mkdir(parents=True, exist_ok=True)
        suffix = file_suffix(i)
        name = f"f{i:06d}{suffix}"
        target = int(rng.uniform(0.3, 1.7) * avg_bytes)
        lines: List[str] = []
        size = 0
        while size < target:
            line = pool[rng.randrange(len(pool))]
            lines.append(line)
            size += len(line) + 1
        if rng.random() < (ENV_AWS_SHARE if suffix == ENV_SUFFIX else aws_share):
            plant = rng.choice(plants_for(suffix))
            at = rng.randrange(len(lines))
            lines.insert(at, plant.template.format(n=i))
            planted.add((f"{rel_dir}/{name}", at + 1))
            by_class[plant.name] += 1
        text = "\n".join(lines) + "\n"
        (sub / name).write_text(text)
        total += len(text)
    vendored = root / "node_modules" / "aws-sdk"
    vendored.mkdir(parents=True)
    for i in range(max(1, files // 100)):
        (vendored / f"v{i}.js").write_text("// s3://vendored/x AKIAIOSFODNN7EXAMPLE\n" * 50)
    binaries = root / "assets"
    binaries.mkdir()
    for i in range(max(1, files // 500)):
        (binaries / f"b{i}.bin").write_bytes(b"\x00\x01s3://bin/x" + bytes(range(256)) * 8)
    info = {"files": files, "bytes": total, "aws_files": len(planted),
            "env_files": sum(1 for i in range(files) if file_suffix(i) == ENV_SUFFIX),
            "vendored_files": max(1, files // 100), "binary_files": max(1, files // 500),
            "planted_by_class": by_class}
    return info, planted


def scanner_hits(findings: Iterable[Any]) -> Set[Hit]:
    """The scanner's findings as distinct (relative path, line) pairs."""
    return {(f.path, f.line) for f in findings}


def grep_hits(output: bytes, root: Path) -> Set[Hit]:
    """grep ``-rn`` output (``path:line:text``) as distinct (relative path, line) pairs."""
    prefix = os.fsencode(os.path.join(str(root), ""))
    hits: Set[Hit] = set()
    for raw in output.splitlines():
        if raw.startswith(prefix):
            raw = raw[len(prefix):]
        path, _, rest = raw.partition(b":")
        number, _, _ = rest.partition(b":")
        hits.add((os.fsdecode(path).replace(os.sep, "/"), int(number)))
    return hits


def compare_hits(scanner: Set[Hit], grep: Set[Hit], examples: int = 10) -> Dict[str, Any]:
    """Counts of both sides, whether they are equal, and their symmetric difference."""
    only_scanner = sorted(scanner - grep)
    only_grep = sorted(grep - scanner)
    return {"scanner_unique_path_lines": len(scanner), "grep_unique_path_lines": len(grep),
            "equal": scanner == grep,
            "symmetric_difference": len(only_scanner) + len(only_grep),
            "only_scanner_examples": [f"{p}:{n}" for p, n in only_scanner[:examples]],
            "only_grep_examples": [f"{p}:{n}" for p, n in only_grep[:examples]]}


def run_scanner(core: Any, root: Path, jobs: int) -> Dict[str, Any]:
    """One scanner pass: seconds, findings, files and bytes read."""
    opts = core.Options(jobs=jobs)
    gc.collect()
    start = time.perf_counter()
    findings, stats = core.scan_tree(str(root), opts)
    return {"seconds": time.perf_counter() - start, "findings": findings,
            "files": stats.files_scanned, "bytes": stats.bytes_scanned}


def grep_command(root: Path, skip_dirs: Sequence[str]) -> List[str]:
    cmd = ["grep", "-rEnI"] + [f"--exclude-dir={d}" for d in sorted(skip_dirs)]
    for pattern in GREP_PATTERNS:
        cmd += ["-e", pattern]
    return cmd + [str(root)]


def run_grep(root: Path, skip_dirs: Sequence[str]) -> Dict[str, Any]:
    """One grep pass (C locale, output kept for the comparison): seconds and output."""
    gc.collect()
    start = time.perf_counter()
    proc = subprocess.run(grep_command(root, skip_dirs), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=dict(os.environ, LC_ALL="C"),
                          check=False)
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"grep failed with {proc.returncode}: {proc.stderr.decode()[:500]}")
    return {"seconds": seconds, "output": proc.stdout,
            "matching_lines": proc.stdout.count(b"\n")}


def summarize_runs(runs: Sequence[Dict[str, Any]], files: int, nbytes: int) -> Dict[str, Any]:
    """Median seconds, files/s and MB/s of repeated runs."""
    secs = statistics.median(r["seconds"] for r in runs)
    return {"runs_s": [round(r["seconds"], 4) for r in runs], "median_s": round(secs, 4),
            "files_per_s": round(files / secs, 1), "mb_per_s": round(nbytes / 1e6 / secs, 2)}


def bench(root: Path, files: int, avg_bytes: int, reps: int) -> Dict[str, Any]:
    """Generate, warm up, time the three runs interleaved; the result document."""
    core = load_core()
    load_start = round(os.getloadavg()[0], 2)
    tree, planted = generate_tree(root, files, avg_bytes)
    skip = sorted(core.SKIP_DIRS)
    runners: List[Tuple[str, Callable[[], Dict[str, Any]]]] = [
        ("jobs1", lambda: run_scanner(core, root, 1)),
        ("grep", lambda: run_grep(root, skip)),
        ("jobs_auto", lambda: run_scanner(core, root, 0)),
    ]
    warm = {name: run() for name, run in runners}
    runs: Dict[str, List[Dict[str, Any]]] = {name: [] for name, _ in runners}
    for rep in range(reps):  # interleaved, rotating the order, so background load hits all
        shift = rep % len(runners)
        for name, run in runners[shift:] + runners[:shift]:
            runs[name].append(run())

    hits1 = scanner_hits(warm["jobs1"]["findings"])
    hits_auto = scanner_hits(warm["jobs_auto"]["findings"])
    hits_grep = grep_hits(warm["grep"]["output"], root)
    counts = compare_hits(hits1, hits_grep)
    counts.update({
        "scanner_findings": len(warm["jobs1"]["findings"]),
        "grep_matching_lines": warm["grep"]["matching_lines"],
        "planted_unique_path_lines": len(planted),
        "scanner_equals_planted": hits1 == planted, "grep_equals_planted": hits_grep == planted,
        "jobs_auto_equals_jobs1": hits_auto == hits1 and
        len(warm["jobs_auto"]["findings"]) == len(warm["jobs1"]["findings"]),
    })

    scanned_files, scanned_bytes = warm["jobs1"]["files"], warm["jobs1"]["bytes"]
    summary = {name: summarize_runs(runs[name], scanned_files, scanned_bytes) for name in runs}
    grep_median = summary["grep"]["median_s"]
    ratios = {name: round(summary[name]["median_s"] / grep_median, 2)
              for name in ("jobs1", "jobs_auto")}
    paired = {name: round(statistics.median(s["seconds"] / g["seconds"]
                                            for s, g in zip(runs[name], runs["grep"])), 2)
              for name in ("jobs1", "jobs_auto")}
    grep_version = subprocess.run(["grep", "--version"], capture_output=True, text=True,
                                  check=False).stdout.splitlines()[0]
    return {
        "tree": {**tree, "scanned_files": scanned_files, "scanned_bytes": scanned_bytes},
        "repetitions": reps,
        "scanner": {
            "jobs1": {**summary["jobs1"], "options": "Options(jobs=1)"},
            "jobs_auto": {**summary["jobs_auto"], "options": "Options(jobs=0)",
                          "processes": core.walk.resolve_jobs(0)
                          if hasattr(core, "walk") else None},
        },
        "grep": {**summary["grep"],
                 "command": "LC_ALL=C grep -rEnI --exclude-dir=<scanner skip list> "
                            f"-e <{len(GREP_PATTERNS)} patterns>",
                 "patterns": GREP_PATTERNS},
        "counts": counts,
        "comparability": COMPARABILITY,
        "ratio_scanner_over_grep_time": ratios,
        "ratio_paired_median": paired,
        "goal": {"max_ratio": GOAL_RATIO,
                 "jobs1_met": ratios["jobs1"] <= GOAL_RATIO,
                 "jobs_auto_met": ratios["jobs_auto"] <= GOAL_RATIO},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "grep": grep_version, "platform": platform.platform(),
                    "loadavg_1m_at_start": load_start,
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
    print(json.dumps({k: v for k, v in result.items() if k != "grep"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
