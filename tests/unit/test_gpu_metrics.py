"""The nvidia_driver role's GPU metrics collector (files/hearth-gpu-metrics).

The script is loaded as a module for its pure functions and run as a program against a fake
nvidia-smi. Its nvidia-smi inputs are the synthesized tests/fixtures/gpu/*.metrics.csv (same
GPUs as the recorded *.query.csv) and xid.dmesg.txt. Output is read back with the small
text-format parser below, which also checks the exposition rules node_exporter enforces.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import math
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "roles" / "nvidia_driver" / "files" / "hearth-gpu-metrics"
FIXTURES = ROOT / "tests" / "fixtures" / "gpu"
MACHINES = ["h100x8", "a100-80x8-mig", "a10x1", "rtx6000ada-x2"]
MIB = 1024 * 1024

PER_GPU = [
    "hearth_gpu_temperature_celsius",
    "hearth_gpu_utilization_ratio",
    "hearth_gpu_memory_used_bytes",
    "hearth_gpu_memory_total_bytes",
    "hearth_gpu_power_watts",
    "hearth_gpu_ecc_uncorrected_errors",
    "hearth_gpu_ecc_corrected_errors",
]


def load_collector() -> ModuleType:
    """Import the script (it has no .py suffix, so the loader is named explicitly)."""
    name = "hearth_gpu_metrics"
    loader = importlib.machinery.SourceFileLoader(name, str(SCRIPT))
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve annotations through sys.modules
    loader.exec_module(module)
    return module


gm = load_collector()


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


# --- A tiny Prometheus text-format (0.0.4) parser ------------------------------------------

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{(.*)\}})? (\S+)$")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_labels(text: str) -> dict[str, str]:
    """Parse `a="x",b="y\\"z"` with the format's escapes (\\\\, \\", \\n)."""
    labels: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = _LABEL_NAME.match(text, position)
        assert match, f"bad label name at {text[position:]!r}"
        name = match.group(0)
        position = match.end()
        assert text[position:position + 2] == '="', f"expected =\" after {name} in {text!r}"
        position += 2
        value: list[str] = []
        while True:
            char = text[position]
            if char == "\\":
                escaped = text[position + 1]
                assert escaped in '\\"n', f"bad escape \\{escaped} in {text!r}"
                value.append("\n" if escaped == "n" else escaped)
                position += 2
            elif char == '"':
                position += 1
                break
            else:
                assert char != "\n"
                value.append(char)
                position += 1
        assert name not in labels, f"label {name} twice in {text!r}"
        labels[name] = "".join(value)
        if position < len(text):
            assert text[position] == ",", f"expected , in {text!r}"
            position += 1
    return labels


def parse_exposition(text: str) -> tuple[dict[str, dict[str, str]], Samples]:
    """Families (name -> help, type) and samples ((name, labels) -> value) of a .prom text.

    Asserts what node_exporter's parser would reject or what would make the file misleading:
    samples before their TYPE, HELP or TYPE twice, a family split in two, duplicate series.
    """
    assert text.endswith("\n"), "the file must end with a newline"
    families: dict[str, dict[str, str]] = {}
    samples: Samples = {}
    finished: set[str] = set()
    current = ""
    for line in text.splitlines():
        assert line, "no blank lines"
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            _, keyword, name, rest = line.split(" ", 3)
            assert re.fullmatch(_NAME, name)
            family = families.setdefault(name, {})
            assert keyword.lower() not in family, f"{keyword} {name} twice"
            assert name not in finished, f"{name} split in two"
            if keyword == "TYPE":
                assert rest in {"gauge", "counter", "untyped"}, rest
            family[keyword.lower()] = rest
            if current and current != name:
                finished.add(current)
            current = name
            continue
        assert not line.startswith("#"), line
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, label_text, value = match.groups()
        assert name == current and "type" in families[name], f"{name} sample without its TYPE just before"
        key = (name, frozenset(parse_labels(label_text or "").items()))
        assert key not in samples, f"duplicate series {line!r}"
        samples[key] = float(value)
    return families, samples


def series(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: value for (sample_name, labels), value in samples.items() if sample_name == name}


def by_gpu(samples: Samples, name: str) -> dict[int, float]:
    return {int(dict(labels)["gpu"]): value for labels, value in series(samples, name).items()}


def read_prom(directory: Path) -> tuple[dict[str, dict[str, str]], Samples]:
    return parse_exposition((directory / "hearth_gpu.prom").read_text())


def query_gpus(machine: str) -> list[tuple[int, str, str]]:
    """(index, uuid, name) from the recorded --query-gpu CSV (index, name, uuid, ...)."""
    rows = [[cell.strip() for cell in line.split(",")] for line in fixture(f"{machine}.query.csv").splitlines() if line]
    return [(int(row[0]), row[2], row[1]) for row in rows]


# --- Fake nvidia-smi ------------------------------------------------------------------------

TEMPERATURE_REPORT = """
==============NVSMI LOG==============

Timestamp                                 : Tue Mar 11 14:02:17 2025
Driver Version                            : 535.129.03
CUDA Version                              : 12.2

Attached GPUs                             : {count}
{sections}"""

TEMPERATURE_SECTION = """GPU 00000000:{bus:02X}:00.0
    Temperature
        GPU Current Temp                  : 61 C
        GPU T.Limit Temp                  : 24 C
        GPU Shutdown T.Limit Temp         : -7 C
        GPU Slowdown T.Limit Temp         : -2 C
        GPU Max Operating T.Limit Temp    : 0 C
        GPU Shutdown Temp                 : 92 C
        GPU Slowdown Temp                 : {slowdown}
        GPU Max Operating Temp            : 85 C
        GPU Target Temperature            : N/A
        Memory Current Temp               : 70 C
        Memory Max Operating Temp         : 95 C

"""


def temperature_report(slowdowns: list[str]) -> str:
    sections = "".join(TEMPERATURE_SECTION.format(bus=16 + 16 * i, slowdown=value) for i, value in enumerate(slowdowns))
    return TEMPERATURE_REPORT.format(count=len(slowdowns), sections=sections)


def fake_nvidia_smi(tmp_path: Path, csv: str = "", *, report: str = "", legacy_only: bool = False,
                    fail: int = 0, sleep: float = 0) -> Path:
    """A shell-script nvidia-smi that answers the collector's two questions from files.

    legacy_only: reject clocks_event_reasons the way drivers from before the rename do.
    fail: exit with this status and the message of a host whose driver is gone.
    """
    (tmp_path / "query.csv").write_text(csv)
    (tmp_path / "temperature.txt").write_text(report)
    query = gm.query_fields(legacy=legacy_only)
    lines = ["#!/bin/sh"]
    if sleep:
        lines.append(f"exec sleep {sleep}")
    if fail:
        lines += [f"echo \"{fixture('no-driver.smi.txt').strip()}\"", f"exit {fail}"]
    lines += [
        'case "$*" in',
        f'  "--query-gpu={query} --format=csv,noheader,nounits") exec /bin/cat "{tmp_path}/query.csv" ;;',
        f'  "-q -d TEMPERATURE") exec /bin/cat "{tmp_path}/temperature.txt" ;;',
        '  --query-gpu=*) echo "Field \\"clocks_event_reasons.active\\" is not a valid field to query."; exit 2 ;;',
        '  *) echo "fake nvidia-smi: unsupported arguments: $*" >&2; exit 2 ;;',
        "esac",
    ]
    path = tmp_path / "nvidia-smi"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o755)
    return path


# --- Parsing --------------------------------------------------------------------------------

@pytest.mark.parametrize("machine", MACHINES)
def test_every_fixture_parses_into_the_recorded_gpus(machine: str) -> None:
    records = gm.parse_gpu_csv(fixture(f"{machine}.metrics.csv"))
    assert [(r.index, r.uuid, r.name) for r in records] == query_gpus(machine)
    recorded_mib = [int(line.split(",")[3]) for line in fixture(f"{machine}.query.csv").splitlines() if line]
    assert [r.memory_total_bytes for r in records] == [mib * MIB for mib in recorded_mib]
    for record in records:
        assert record.temperature_celsius is not None and 20 <= record.temperature_celsius <= 95
        assert record.memory_used_bytes is not None and 0 <= record.memory_used_bytes <= record.memory_total_bytes
        assert record.utilization_ratio is None or 0 <= record.utilization_ratio <= 1
        assert record.clocks_event_reasons is not None


def test_h100_values_are_converted_to_base_units() -> None:
    records = gm.parse_gpu_csv(fixture("h100x8.metrics.csv"))
    first, faulty = records[0], records[3]
    assert first.temperature_celsius == 61
    assert first.utilization_ratio == pytest.approx(0.97)
    assert first.memory_used_bytes == 74391 * MIB
    assert first.power_watts == pytest.approx(612.47)
    assert first.clocks_event_reasons == 0x4  # SW power cap
    assert (faulty.ecc_uncorrected_errors, faulty.ecc_corrected_errors) == (2, 41)


@pytest.mark.parametrize("machine, missing", [
    ("a10x1", {"power_watts", "ecc_uncorrected_errors", "ecc_corrected_errors"}),
    ("rtx6000ada-x2", {"ecc_uncorrected_errors", "ecc_corrected_errors"}),
])
def test_na_and_not_supported_cells_become_none(machine: str, missing: set[str]) -> None:
    for record in gm.parse_gpu_csv(fixture(f"{machine}.metrics.csv")):
        assert {field for field in gm.GpuRecord.__dataclass_fields__ if getattr(record, field) is None} == missing


def test_mig_gpus_report_no_utilization() -> None:
    records = gm.parse_gpu_csv(fixture("a100-80x8-mig.metrics.csv"))
    assert [r.index for r in records if r.utilization_ratio is None] == [0, 1]


@pytest.mark.parametrize("cell", ["[N/A]", "[Not Supported]", "", " ", "N/A", "[Unknown Error]",
                                  "[GPU requires reset]"])
def test_unavailable_cells_are_none_not_zero(cell: str) -> None:
    assert gm.parse_number(cell) is None


def test_a_word_where_a_number_belongs_is_an_error() -> None:
    with pytest.raises(ValueError):
        gm.parse_number("Disabled")


@pytest.mark.parametrize("text, message", [
    (fixture("no-driver.smi.txt"), "columns"),
    (fixture("no-devices.smi.txt"), "columns"),
    ("", "no GPUs"),
    (fixture("h100x8.query.csv"), "columns"),  # the role's other query: wrong fields
    ("zero, GPU-1, X, 1, 1, 1, 1, 1, 1, 1, 0x0", "not a GPU record"),
    ("0, GPU-1, X, warm, 1, 1, 1, 1, 1, 1, 0x0", "not a GPU record"),
    ("0, , X, 1, 1, 1, 1, 1, 1, 1, 0x0", "no GPU UUID"),
])
def test_text_that_is_not_gpu_records_is_rejected(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        gm.parse_gpu_csv(text)


def test_records_are_sorted_by_index_and_blank_lines_ignored() -> None:
    lines = fixture("rtx6000ada-x2.metrics.csv").splitlines()
    records = gm.parse_gpu_csv("\n".join([lines[1], "", lines[0], ""]))
    assert [r.index for r in records] == [0, 1]


def test_query_fields_and_the_legacy_name() -> None:
    assert gm.query_fields() == (
        "index,uuid,name,temperature.gpu,utilization.gpu,memory.used,memory.total,power.draw,"
        "ecc.errors.uncorrected.volatile.total,ecc.errors.corrected.volatile.total,clocks_event_reasons.active")
    assert gm.query_fields(legacy=True) == gm.query_fields().replace("clocks_event_reasons", "clocks_throttle_reasons")


def test_slowdown_temperature_is_read_per_gpu_and_not_confused_with_t_limit() -> None:
    report = temperature_report(["87 C", "N/A", "90 C"])
    assert gm.parse_slowdown_temperatures(report) == [87, None, 90]
    assert gm.parse_slowdown_temperatures("No devices were found") == []


def test_xids_in_the_dmesg_fixture_are_counted_by_code() -> None:
    assert gm.parse_xid_counts(fixture("xid.dmesg.txt").splitlines()) == {13: 3, 79: 1}


def test_journal_lines_without_timestamps_count_the_same() -> None:
    journal = [re.sub(r"^\[[ 0-9.]+\] ", "", line) for line in fixture("xid.dmesg.txt").splitlines()]
    journal = [line for line in journal if "NVRM: Xid" in line]  # what journalctl --grep returns
    assert gm.parse_xid_counts(journal) == {13: 3, 79: 1}


def test_no_xid_lines_count_nothing() -> None:
    assert gm.parse_xid_counts([]) == {}
    assert gm.parse_xid_counts(["NVRM: GPU 0000:18:00.0: GPU has fallen off the bus.", "Xid 79 mentioned"]) == {}


def fake_kernel_log(tmp_path: Path, *, grep: tuple[int, str, str] | None, tail: str = "",
                    dmesg: tuple[int, str] = (0, "")) -> Path:
    """A bin directory with journalctl (absent when grep is None) and dmesg stand-ins.

    grep is journalctl --grep's (status, stdout, stderr); tail is what `journalctl -n 1` prints.
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    outputs = {"grep.out": grep[1] if grep else "", "grep.err": grep[2] if grep else "", "tail.out": tail,
               "dmesg.out": dmesg[1]}
    for name, text in outputs.items():
        (tmp_path / name).write_text(text)
    scripts = {"dmesg": f'/bin/cat "{tmp_path}/dmesg.out"; exit {dmesg[0]}'}
    if grep is not None:
        scripts["journalctl"] = "\n".join([
            'case "$*" in',
            f'  *--grep*) /bin/cat "{tmp_path}/grep.out"; /bin/cat "{tmp_path}/grep.err" >&2; exit {grep[0]} ;;',
            f'  *"-n 1"*) /bin/cat "{tmp_path}/tail.out"; exit 0 ;;',
            "esac",
            "exit 64",
        ])
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return bin_dir


JOURNAL_XIDS = [re.sub(r"^\[[ 0-9.]+\] ", "", line) for line in fixture("xid.dmesg.txt").splitlines()
                if "NVRM: Xid" in line]


@pytest.mark.parametrize("case, grep, tail, dmesg, expected", [
    ("journal has xids", (0, "\n".join(JOURNAL_XIDS) + "\n", ""), "", (1, ""), {13: 3, 79: 1}),
    ("journal has none", (1, "", ""), "Linux version 6.8.0-52-generic\n", (0, fixture("xid.dmesg.txt")), {}),
    ("journal is empty", (1, "", ""), "", (0, fixture("xid.dmesg.txt")), {13: 3, 79: 1}),
    ("no pattern support", (1, "", "Compiled without pattern matching support"), "", (0, fixture("xid.dmesg.txt")),
     {13: 3, 79: 1}),
    ("no journalctl", None, "", (0, fixture("xid.dmesg.txt")), {13: 3, 79: 1}),
])
def test_xids_come_from_the_journal_else_dmesg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str,
                                               grep: tuple[int, str, str] | None, tail: str, dmesg: tuple[int, str],
                                               expected: dict[int, int]) -> None:
    monkeypatch.setenv("PATH", str(fake_kernel_log(tmp_path, grep=grep, tail=tail, dmesg=dmesg)))
    lines = gm.kernel_xid_lines(5)
    assert lines is not None and gm.parse_xid_counts(lines) == expected, case


def test_xids_are_unknown_when_neither_journal_nor_dmesg_answers(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(fake_kernel_log(tmp_path, grep=None, dmesg=(1, "dmesg: read kernel buffer failed"))))
    assert gm.kernel_xid_lines(5) is None


def test_a_run_counts_xids_from_the_kernel_log_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    smi = fake_nvidia_smi(tmp_path, fixture("a10x1.metrics.csv"))
    monkeypatch.setenv("PATH", str(fake_kernel_log(tmp_path, grep=None, dmesg=(0, fixture("xid.dmesg.txt")))))
    assert gm.main(["--dir", str(tmp_path), "--nvidia-smi", str(smi)]) == 0
    _, samples = read_prom(tmp_path)
    assert {dict(labels)["xid"]: value for labels, value in series(samples, "hearth_gpu_xid_errors_total").items()} == {
        "13": 3, "79": 1}


# --- Rendering ------------------------------------------------------------------------------

def test_label_values_are_escaped_per_the_text_format() -> None:
    assert gm.escape_label_value('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    assert gm.escape_label_value("NVIDIA H100 80GB HBM3") == "NVIDIA H100 80GB HBM3"


def test_an_awkward_name_survives_a_round_trip() -> None:
    name = 'Odd "GPU" \\ with\nnewline'
    record = gm.GpuRecord(0, "GPU-x", name, 50.0, 0.5, 1.0, 2.0, 3.0, 0.0, 0.0, 0)
    _, samples = parse_exposition(gm.render([record], up=True, last_success=1.0))
    ((labels, value),) = series(samples, "hearth_gpu_temperature_celsius").items()
    assert dict(labels) == {"gpu": "0", "uuid": "GPU-x", "name": name}
    assert value == 50


@pytest.mark.parametrize("value, text", [
    (0.0, "0"), (81559.0 * MIB, "85520809984"), (0.97, "0.97"), (612.47, "612.47"),
    (1741701737.123, "1741701737.123"), (math.nan, "NaN"), (math.inf, "+Inf"), (-math.inf, "-Inf"),
])
def test_values_are_written_the_way_prometheus_reads_them(value: float, text: str) -> None:
    assert gm.format_value(value) == text


def test_h100x8_renders_every_series_with_the_right_labels_and_types() -> None:
    records = gm.parse_gpu_csv(fixture("h100x8.metrics.csv"))
    xids = gm.parse_xid_counts(fixture("xid.dmesg.txt").splitlines())
    text = gm.render(records, up=True, last_success=1741701737.5, xids=xids, slowdown=[87.0] * 8)
    families, samples = parse_exposition(text)

    assert list(families) == PER_GPU + [
        "hearth_gpu_slowdown_temperature_celsius", "hearth_gpu_xid_errors_total",
        "hearth_gpu_collector_last_success_timestamp_seconds", "hearth_gpu_collector_up"]
    assert all(family["help"] for family in families.values())
    assert families["hearth_gpu_xid_errors_total"]["type"] == "counter"
    assert {f["type"] for name, f in families.items() if name != "hearth_gpu_xid_errors_total"} == {"gauge"}

    for name in PER_GPU + ["hearth_gpu_slowdown_temperature_celsius"]:
        label_names = {frozenset(dict(labels)) for labels in series(samples, name)}
        expected = {"gpu", "uuid", "name"} if name == "hearth_gpu_temperature_celsius" else {"gpu", "uuid"}
        assert label_names == {frozenset(expected)}, name
        assert sorted(by_gpu(samples, name)) == list(range(8)), name
    uuids = {int(dict(labels)["gpu"]): dict(labels)["uuid"]
             for labels in series(samples, "hearth_gpu_utilization_ratio")}
    assert uuids == {index: uuid for index, uuid, _ in query_gpus("h100x8")}

    assert by_gpu(samples, "hearth_gpu_ecc_uncorrected_errors")[3] == 2
    assert by_gpu(samples, "hearth_gpu_memory_total_bytes")[0] == 81559 * MIB
    assert by_gpu(samples, "hearth_gpu_utilization_ratio")[1] == pytest.approx(0.98)
    assert {dict(labels)["xid"]: value for labels, value in series(samples, "hearth_gpu_xid_errors_total").items()} == {
        "13": 3, "79": 1}
    assert samples[("hearth_gpu_collector_up", frozenset())] == 1
    assert samples[("hearth_gpu_collector_last_success_timestamp_seconds", frozenset())] == 1741701737.5


def test_unreported_values_are_left_out_not_written_as_zero() -> None:
    families, samples = parse_exposition(gm.render(gm.parse_gpu_csv(fixture("a10x1.metrics.csv")), up=True,
                                                   last_success=1.0))
    for name in ["hearth_gpu_power_watts", "hearth_gpu_ecc_uncorrected_errors", "hearth_gpu_ecc_corrected_errors"]:
        assert name not in families and not series(samples, name)
    assert by_gpu(samples, "hearth_gpu_temperature_celsius") == {0: 47}

    _, mig = parse_exposition(gm.render(gm.parse_gpu_csv(fixture("a100-80x8-mig.metrics.csv")), up=True,
                                        last_success=1.0))
    assert sorted(by_gpu(mig, "hearth_gpu_utilization_ratio")) == [2, 3, 4, 5, 6, 7]
    assert by_gpu(mig, "hearth_gpu_memory_used_bytes")[0] == 39018 * MIB

    _, rtx = parse_exposition(gm.render(gm.parse_gpu_csv(fixture("rtx6000ada-x2.metrics.csv")), up=True,
                                        last_success=1.0))
    assert by_gpu(rtx, "hearth_gpu_power_watts") == {0: pytest.approx(287.31), 1: pytest.approx(22.49)}
    assert not series(rtx, "hearth_gpu_ecc_corrected_errors")


def test_optional_series_appear_only_when_known() -> None:
    records = gm.parse_gpu_csv(fixture("rtx6000ada-x2.metrics.csv"))
    families, _ = parse_exposition(gm.render(records, up=True, last_success=None, xids={79: 0}))
    assert "hearth_gpu_xid_errors_total" not in families
    assert "hearth_gpu_slowdown_temperature_celsius" not in families
    assert "hearth_gpu_collector_last_success_timestamp_seconds" not in families
    # A slowdown list that does not line up with the GPUs is not guessed at.
    families, _ = parse_exposition(gm.render(records, up=True, last_success=None, slowdown=[87.0]))
    assert "hearth_gpu_slowdown_temperature_celsius" not in families
    _, samples = parse_exposition(gm.render(records, up=True, last_success=None, slowdown=[None, 88.0]))
    assert by_gpu(samples, "hearth_gpu_slowdown_temperature_celsius") == {1: 88}


def test_a_failed_run_renders_only_the_collector_state_and_xids() -> None:
    families, samples = parse_exposition(gm.render([], up=False, last_success=1700000000.25, xids={79: 2}))
    assert list(families) == ["hearth_gpu_xid_errors_total", "hearth_gpu_collector_last_success_timestamp_seconds",
                              "hearth_gpu_collector_up"]
    assert samples[("hearth_gpu_collector_up", frozenset())] == 0
    assert samples[("hearth_gpu_collector_last_success_timestamp_seconds", frozenset())] == 1700000000.25


# --- Files ----------------------------------------------------------------------------------

def test_atomic_write_replaces_the_file_with_mode_0644_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "hearth_gpu.prom"
    target.write_text("old\n")
    target.chmod(0o600)
    old_umask = os.umask(0o077)
    try:
        gm.write_atomic(target, "new\n")
    finally:
        os.umask(old_umask)
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hearth_gpu.prom"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    target = tmp_path / "hearth_gpu.prom"
    target.write_text("old\n")
    seen: list[str] = []

    def refuse(source: Any, destination: Any) -> None:
        seen.append(Path(source).name)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gm.os, "replace", refuse)
    with pytest.raises(OSError):
        gm.write_atomic(target, "new\n")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hearth_gpu.prom"]
    # The temp file is a hidden sibling whose name node_exporter's *.prom glob never matches.
    assert seen and seen[0].startswith(".hearth_gpu.prom.") and seen[0].endswith(".tmp")


def test_previous_last_success_is_read_back(tmp_path: Path) -> None:
    target = tmp_path / "hearth_gpu.prom"
    assert gm.previous_last_success(target) is None
    target.write_text(gm.render([], up=False, last_success=1741701737.125))
    assert gm.previous_last_success(target) == 1741701737.125
    target.write_text(gm.render([], up=False, last_success=None))
    assert gm.previous_last_success(target) is None


# --- Runs -----------------------------------------------------------------------------------

def test_failed_nvidia_smi_writes_up_0_and_keeps_the_last_success(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    smi = fake_nvidia_smi(tmp_path, fail=9)
    out = tmp_path / "textfile"
    out.mkdir()
    (out / "hearth_gpu.prom").write_text(gm.render(gm.parse_gpu_csv(fixture("a10x1.metrics.csv")), up=True,
                                                   last_success=1741701737.5))
    status = gm.main(["--dir", str(out), "--nvidia-smi", str(smi), "--kernel-log", str(FIXTURES / "xid.dmesg.txt")])

    assert status == 1
    stderr = capsys.readouterr().err
    assert "exited with status 9" in stderr and "couldn't communicate with the NVIDIA driver" in stderr
    families, samples = read_prom(out)
    assert samples[("hearth_gpu_collector_up", frozenset())] == 0
    assert samples[("hearth_gpu_collector_last_success_timestamp_seconds", frozenset())] == 1741701737.5
    assert not any(name in families for name in PER_GPU)  # no stale GPU readings
    assert len(series(samples, "hearth_gpu_xid_errors_total")) == 2


def test_first_failure_without_a_previous_file_writes_no_last_success(tmp_path: Path) -> None:
    smi = fake_nvidia_smi(tmp_path, fail=9)
    assert gm.main(["--dir", str(tmp_path), "--nvidia-smi", str(smi), "--kernel-log", os.devnull]) == 1
    families, samples = read_prom(tmp_path)
    assert list(families) == ["hearth_gpu_collector_up"]
    assert samples[("hearth_gpu_collector_up", frozenset())] == 0


def test_missing_nvidia_smi_is_a_failure_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert gm.main(["--dir", str(tmp_path), "--nvidia-smi", str(tmp_path / "absent"), "--kernel-log", os.devnull]) == 1
    assert "cannot run" in capsys.readouterr().err
    assert read_prom(tmp_path)[1][("hearth_gpu_collector_up", frozenset())] == 0


def test_a_hung_nvidia_smi_is_abandoned_after_the_timeout(tmp_path: Path) -> None:
    smi = fake_nvidia_smi(tmp_path, fixture("a10x1.metrics.csv"), sleep=30)
    started = time.monotonic()
    status = gm.main(["--dir", str(tmp_path), "--nvidia-smi", str(smi), "--timeout", "0.5",
                      "--kernel-log", os.devnull])
    assert status == 1
    assert time.monotonic() - started < 10
    assert read_prom(tmp_path)[1][("hearth_gpu_collector_up", frozenset())] == 0


def test_older_drivers_are_asked_for_throttle_reasons_instead(tmp_path: Path) -> None:
    smi = fake_nvidia_smi(tmp_path, fixture("rtx6000ada-x2.metrics.csv"), legacy_only=True,
                          report=temperature_report(["91 C", "91 C"]))
    assert gm.main(["--dir", str(tmp_path), "--nvidia-smi", str(smi), "--kernel-log", os.devnull]) == 0
    _, samples = read_prom(tmp_path)
    assert by_gpu(samples, "hearth_gpu_power_watts")[0] == pytest.approx(287.31)
    assert by_gpu(samples, "hearth_gpu_slowdown_temperature_celsius") == {0: 91, 1: 91}


def test_a_failing_temperature_report_only_drops_the_slowdown_series(tmp_path: Path) -> None:
    smi = fake_nvidia_smi(tmp_path, fixture("a10x1.metrics.csv"))
    script = smi.read_text()
    broken = script.replace(f'exec /bin/cat "{tmp_path}/temperature.txt"', "exit 3")
    assert broken != script
    smi.write_text(broken)
    assert gm.main(["--dir", str(tmp_path), "--nvidia-smi", str(smi), "--kernel-log", os.devnull]) == 0
    families, samples = read_prom(tmp_path)
    assert "hearth_gpu_slowdown_temperature_celsius" not in families
    assert samples[("hearth_gpu_collector_up", frozenset())] == 1


def test_an_unwritable_directory_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    smi = fake_nvidia_smi(tmp_path, fixture("a10x1.metrics.csv"))
    missing = tmp_path / "no-such-dir"
    assert gm.main(["--dir", str(missing), "--nvidia-smi", str(smi), "--kernel-log", os.devnull]) == 2
    assert "cannot write" in capsys.readouterr().err


def run_script(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], input=stdin, capture_output=True, text=True,
                          timeout=60, check=False, env={**os.environ, "JOURNAL_STREAM": ""})


def test_end_to_end_with_a_fake_nvidia_smi(tmp_path: Path) -> None:
    smi = fake_nvidia_smi(tmp_path, fixture("h100x8.metrics.csv"), report=temperature_report(["87 C"] * 8))
    out = tmp_path / "node-exporter"
    out.mkdir()
    before = time.time()
    proc = run_script("--dir", str(out), "--nvidia-smi", str(smi), "--kernel-log", str(FIXTURES / "xid.dmesg.txt"))

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""
    assert sorted(p.name for p in out.iterdir()) == ["hearth_gpu.prom"]
    assert stat.S_IMODE((out / "hearth_gpu.prom").stat().st_mode) == 0o644
    families, samples = read_prom(out)
    assert len(families) == 11
    assert len(series(samples, "hearth_gpu_temperature_celsius")) == 8
    assert by_gpu(samples, "hearth_gpu_slowdown_temperature_celsius") == dict.fromkeys(range(8), 87)
    assert by_gpu(samples, "hearth_gpu_ecc_uncorrected_errors")[3] == 2
    assert samples[("hearth_gpu_collector_up", frozenset())] == 1
    last_success = samples[("hearth_gpu_collector_last_success_timestamp_seconds", frozenset())]
    assert before - 1 <= last_success <= time.time() + 1

    # The next run fails: the file says so and keeps the time of the last good run.
    broken = fake_nvidia_smi(tmp_path, fail=9)
    proc = run_script("--dir", str(out), "--nvidia-smi", str(broken), "--kernel-log", str(FIXTURES / "xid.dmesg.txt"))
    assert proc.returncode == 1
    assert proc.stderr.startswith("hearth-gpu-metrics: nvidia-smi --query-gpu exited with status 9")
    _, samples = read_prom(out)
    assert samples[("hearth_gpu_collector_up", frozenset())] == 0
    assert samples[("hearth_gpu_collector_last_success_timestamp_seconds", frozenset())] == last_success


def test_stdin_csv_hook_needs_no_nvidia_smi(tmp_path: Path) -> None:
    proc = run_script("--dir", str(tmp_path), "--nvidia-smi", str(tmp_path / "absent"), "--stdin-csv",
                      "--kernel-log", os.devnull, stdin=fixture("a100-80x8-mig.metrics.csv"))
    assert proc.returncode == 0, proc.stderr
    _, samples = read_prom(tmp_path)
    assert len(series(samples, "hearth_gpu_memory_used_bytes")) == 8


def test_journal_priority_prefix_only_under_systemd(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--dir", str(tmp_path), "--nvidia-smi",
                           str(tmp_path / "absent"), "--kernel-log", os.devnull],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "JOURNAL_STREAM": "8:12345"})
    assert proc.returncode == 1
    assert proc.stderr.startswith("<3>hearth-gpu-metrics: cannot run")
