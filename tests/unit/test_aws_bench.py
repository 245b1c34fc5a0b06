"""bench/scan.py: runs end to end on a small tree, and its two counts are comparable.

The benchmark compares distinct (relative path, line) pairs found by the scanner and by
``grep -rEnI``; these tests hold the generated tree to that: every planted line is found by
both tools in every suffix it is planted in, no noise line is found by either, and the two
sets are equal (and equal to the planted ground truth) on a generated tree. No timing is
asserted.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path
from typing import Set, Tuple

import pytest

import scan as bench_scan

Hit = Tuple[str, int]


def grep_tree(root: Path) -> Set[Hit]:
    proc = subprocess.run(bench_scan.grep_command(root, sorted(bench_scan.load_core().SKIP_DIRS)),
                          stdout=subprocess.PIPE, env=dict(os.environ, LC_ALL="C"), check=False)
    assert proc.returncode in (0, 1)
    return bench_scan.grep_hits(proc.stdout, root)


def scan_tree(root: Path) -> Set[Hit]:
    core = bench_scan.load_core()
    findings, _ = core.scan_tree(str(root), core.Options(jobs=1))
    return bench_scan.scanner_hits(findings)


def test_small_tree_end_to_end_with_equal_counts(tmp_path: Path) -> None:
    out = tmp_path / "scan.json"
    assert bench_scan.main(["--files", "300", "--reps", "1", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    tree, counts = result["tree"], result["counts"]
    assert tree["files"] == 300 and tree["aws_files"] >= 1
    assert sum(tree["planted_by_class"].values()) == tree["aws_files"]
    # Vendored files are skipped by both; binary files are read (and then skipped).
    assert tree["scanned_files"] == 300 + tree["binary_files"]
    assert counts["equal"] is True, counts
    assert counts["symmetric_difference"] == 0
    assert counts["scanner_unique_path_lines"] == counts["grep_unique_path_lines"] \
        == counts["planted_unique_path_lines"] == tree["aws_files"]
    assert counts["scanner_equals_planted"] and counts["grep_equals_planted"]
    assert counts["jobs_auto_equals_jobs1"]
    assert counts["scanner_findings"] >= counts["scanner_unique_path_lines"]
    assert "comparability" in result and "(path, line)" in result["comparability"]
    for mode in ("jobs1", "jobs_auto"):
        assert len(result["scanner"][mode]["runs_s"]) == 1
        assert result["scanner"][mode]["files_per_s"] > 0
        assert result["ratio_scanner_over_grep_time"][mode] > 0
        assert isinstance(result["goal"][f"{mode}_met"], bool)
    assert result["goal"]["max_ratio"] == 1.5
    assert result["grep"]["mb_per_s"] > 0
    assert set(result["machine"]) >= {"python", "cpus", "grep", "loadavg_1m_at_end"}


def test_generated_tree_sets_match_the_planted_lines(tmp_path: Path) -> None:
    # A larger share than the default so that most classes are planted in a small tree.
    _, planted = bench_scan.generate_tree(tmp_path, 400, avg_bytes=512, aws_share=0.5, seed=3)
    assert len(planted) > 100
    assert scan_tree(tmp_path) == planted
    assert grep_tree(tmp_path) == planted


def test_compare_hits_reports_the_difference() -> None:
    same = {("a.py", 1), ("b.sh", 4)}
    assert bench_scan.compare_hits(same, set(same))["equal"] is True
    diff = bench_scan.compare_hits({("a.py", 1), ("a.py", 2), ("c.go", 7)},
                                   {("a.py", 1), ("b.md", 3)})
    assert diff["equal"] is False
    assert diff["scanner_unique_path_lines"] == 3 and diff["grep_unique_path_lines"] == 2
    assert diff["symmetric_difference"] == 3
    assert diff["only_scanner_examples"] == ["a.py:2", "c.go:7"]
    assert diff["only_grep_examples"] == ["b.md:3"]
    many = bench_scan.compare_hits({(f"f{i:02d}", 1) for i in range(25)}, set())
    assert many["symmetric_difference"] == 25 and len(many["only_scanner_examples"]) == 10


def test_grep_output_is_parsed_into_relative_path_and_line(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    out = (f"{root}/pkg/a.py:12:x = 's3://b/k'\n{root}/pkg/a.py:12:again\n"
           f"{root}/b.sh:3:aws s3 ls s3://x: y:z\n").encode()
    assert bench_scan.grep_hits(out, root) == {("pkg/a.py", 12), ("b.sh", 3)}


@pytest.mark.parametrize("plant", bench_scan.PLANTS, ids=lambda p: p.name)
def test_each_planted_line_is_found_by_both_tools_in_its_suffixes(tmp_path: Path,
                                                                  plant: bench_scan.Plant) -> None:
    expected = set()
    for suffix in sorted(plant.suffixes):
        name = f"f000123{suffix}"
        (tmp_path / name).write_text("# one\nvalue = result(token)\n"
                                     + plant.template.format(n=123) + "\n# end\n")
        expected.add((name, 3))
    assert plant.suffixes <= bench_scan.ALL_SUFFIXES
    assert scan_tree(tmp_path) == expected, plant
    assert grep_tree(tmp_path) == expected, plant


def test_every_generated_suffix_gets_some_plant() -> None:
    for suffix in bench_scan.ALL_SUFFIXES:
        assert bench_scan.plants_for(suffix), suffix


def test_noise_lines_match_neither_tool(tmp_path: Path) -> None:
    pool = bench_scan.noise_pool(random.Random(7))
    text = "\n".join(pool) + "\n"
    for suffix in sorted(bench_scan.ALL_SUFFIXES):
        (tmp_path / f"noise{suffix}").write_text(text)
    assert scan_tree(tmp_path) == set()
    assert grep_tree(tmp_path) == set()
