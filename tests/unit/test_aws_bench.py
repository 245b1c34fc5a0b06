"""bench/scan.py works end to end on a small tree (no timing is asserted)."""
from __future__ import annotations

import json
from pathlib import Path

import scan as bench_scan


def test_generator_and_both_tools_run_on_a_small_tree(tmp_path: Path) -> None:
    out = tmp_path / "scan.json"
    assert bench_scan.main(["--files", "200", "--reps", "1", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    tree = result["tree"]
    assert tree["files"] == 200 and tree["aws_files"] >= 1
    # Vendored files are skipped; binary files are read (and then skipped) like any other.
    assert tree["scanned_files"] == 200 + max(1, 200 // 500)
    assert result["scanner"]["findings"] >= tree["aws_files"]
    assert result["grep"]["matching_lines"] >= tree["aws_files"]
    assert result["scanner"]["files_per_s"] > 0 and result["grep"]["mb_per_s"] > 0
    assert result["ratio_scanner_over_grep_time"] > 0


def test_grep_patterns_match_what_the_scanner_finds(tmp_path: Path) -> None:
    core = bench_scan.load_core()
    for n, line in enumerate(bench_scan.AWS_LINES):
        path = tmp_path / f"f{n}.env"
        path.write_text(line.format(n=n) + "\n")
        assert core.scan_text(path.read_text(), path.name), line
    proc = bench_scan.subprocess.run(bench_scan.grep_command(tmp_path, []),
                                     capture_output=True, check=False)
    assert proc.stdout.count(b"\n") == len(bench_scan.AWS_LINES)
