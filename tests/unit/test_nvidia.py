"""nvidia-smi parsing for the nvidia_driver role, over outputs recorded from real machine types."""
from __future__ import annotations

from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.hearth.platform.plugins.filter.nvidia import (
    NVIDIA_SMI_QUERY_FIELDS,
    empty_gpu_fact,
    gpu_architecture,
    nvidia_gpu_fact,
    nvidia_smi_gpus,
    nvidia_smi_query_fields,
    nvidia_smi_topology,
    nvidia_smi_versions,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "gpu"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def fact_for(machine: str, source: str = "preinstalled") -> dict:
    return nvidia_gpu_fact(
        nvidia_smi_gpus(fixture(f"{machine}.query.csv")),
        nvidia_smi_versions(fixture(f"{machine}.smi.txt")),
        nvidia_smi_topology(fixture(f"{machine}.topo.txt")),
        source,
    )


def test_query_fields_match_the_parser_columns() -> None:
    assert nvidia_smi_query_fields() == ",".join(NVIDIA_SMI_QUERY_FIELDS)
    assert nvidia_smi_query_fields().startswith("index,name,uuid,memory.total,")


def test_eight_h100_sxm_parse_into_one_record_each() -> None:
    gpus = nvidia_smi_gpus(fixture("h100x8.query.csv"))
    assert [gpu["index"] for gpu in gpus] == list(range(8))
    first = gpus[0]
    assert first["name"] == "NVIDIA H100 80GB HBM3"
    assert first["memory_mib"] == 81559
    assert first["driver_version"] == "535.129.03"
    assert first["mig_mode"] == "Disabled"
    assert first["persistence"] is True
    assert first["pci_bus_id"] == "00000000:18:00.0"
    assert first["uuid"].startswith("GPU-")
    assert (first["architecture"], first["compute_capability"]) == ("hopper", "9.0")


def test_gpu_without_mig_reports_none_not_the_placeholder() -> None:
    (gpu,) = nvidia_smi_gpus(fixture("a10x1.query.csv"))
    assert gpu["mig_mode"] is None
    assert (gpu["architecture"], gpu["compute_capability"]) == ("ampere", "8.6")


def test_stdout_lines_are_accepted_like_stdout() -> None:
    text = fixture("h100x8.query.csv")
    assert nvidia_smi_gpus(text.splitlines()) == nvidia_smi_gpus(text)


def test_an_error_message_instead_of_csv_is_rejected_with_its_text() -> None:
    with pytest.raises(AnsibleFilterError, match="couldn't communicate"):
        nvidia_smi_gpus(fixture("no-driver.smi.txt"))


def test_classic_header_gives_driver_and_cuda() -> None:
    assert nvidia_smi_versions(fixture("h100x8.smi.txt")) == {"driver_version": "535.129.03", "cuda_version": "12.2"}
    assert nvidia_smi_versions(fixture("h100x1.smi.txt")) == {"driver_version": "570.86.15", "cuda_version": "12.8"}


def test_r610_header_with_kmd_and_umd_versions_is_understood() -> None:
    assert nvidia_smi_versions(fixture("b200-r610.smi.txt")) == {"driver_version": "610.43.02", "cuda_version": "13.3"}


@pytest.mark.parametrize("name", ["no-driver.smi.txt", "no-devices.smi.txt"])
def test_failure_texts_raise_with_what_nvidia_smi_said(name: str) -> None:
    first_line = fixture(name).splitlines()[0]
    with pytest.raises(AnsibleFilterError, match=first_line[:30].replace("(", r"\(")):
        nvidia_smi_versions(fixture(name))


def test_hgx_h100_topology_is_all_pairs_nv18_and_ignores_nics() -> None:
    topo = nvidia_smi_topology(fixture("h100x8.topo.txt"))
    assert topo["gpus"] == 8
    assert topo["pairs"] == 28
    assert topo["links"] == {"NV18": 28}
    assert topo["nvlink_all_pairs"] is True
    assert topo["summary"] == "8 GPUs, all pairs NV18"
    assert all(topo["matrix"][i][i] == "X" for i in range(8))
    assert all(len(row) == 8 for row in topo["matrix"])


def test_whitespace_aligned_topology_parses_like_tab_separated() -> None:
    tabbed = fixture("h100x8.topo.txt")
    spaced = "\n".join("    ".join(cell.strip() or "" for cell in line.split("\t")) for line in tabbed.splitlines())
    assert nvidia_smi_topology(spaced)["matrix"] == nvidia_smi_topology(tabbed)["matrix"]


def test_pcie_only_pair_has_no_nvlink() -> None:
    topo = nvidia_smi_topology(fixture("rtx6000ada-x2.topo.txt"))
    assert topo["links"] == {"SYS": 1}
    assert topo["nvlink_all_pairs"] is False
    assert topo["nvlink_pairs"] == 0


def test_bridged_pairs_are_a_partial_nvlink_topology() -> None:
    topo = nvidia_smi_topology(fixture("v100x4.topo.txt"))
    assert topo["nvlink_pairs"] == 2
    assert topo["nvlink_all_pairs"] is False
    assert topo["summary"] == "4 GPUs, 2/6 pairs over NVLink (NV2 x2, PHB x2, SYS x2)"


def test_single_gpu_topology_and_empty_text() -> None:
    assert nvidia_smi_topology(fixture("a10x1.topo.txt"))["summary"] == "1 GPU"
    assert nvidia_smi_topology("")["gpus"] == 1


def test_topology_with_a_missing_row_is_rejected() -> None:
    broken = "\n".join(line for line in fixture("h100x8.topo.txt").splitlines() if not line.startswith("GPU3"))
    with pytest.raises(AnsibleFilterError, match="rows for GPUs"):
        nvidia_smi_topology(broken)


def test_h100x8_fact_carries_everything_other_roles_read() -> None:
    fact = fact_for("h100x8", "lambda_stack")
    assert fact["present"] is True
    assert fact["count"] == 8
    assert fact["models"] == ["NVIDIA H100 80GB HBM3"]
    assert fact["memory_mib"] == 81559
    assert fact["memory_total_mib"] == 8 * 81559
    assert (fact["driver_version"], fact["cuda_version"]) == ("535.129.03", "12.2")
    assert (fact["architecture"], fact["compute_capability"]) == ("hopper", "9.0")
    assert fact["mig"] == {"enabled": False, "gpus": []}
    assert fact["persistence"] is True
    assert fact["nvlink"]["all_pairs"] is True
    assert fact["source"] == "lambda_stack"


def test_mig_enabled_gpus_are_listed() -> None:
    fact = fact_for("a100-80x8-mig")
    assert fact["mig"] == {"enabled": True, "gpus": [0, 1]}
    assert fact["nvlink"]["summary"] == "8 GPUs, all pairs NV12"


def test_persistence_is_true_only_when_every_gpu_has_it() -> None:
    assert fact_for("rtx6000ada-x2")["persistence"] is False
    assert fact_for("a10x1")["persistence"] is True


def test_gpu_count_and_topology_must_agree() -> None:
    with pytest.raises(AnsibleFilterError, match="8 GPUs but its topology matrix has 1"):
        nvidia_gpu_fact(
            nvidia_smi_gpus(fixture("h100x8.query.csv")), {}, nvidia_smi_topology(fixture("h100x1.topo.txt"))
        )


def test_unknown_source_is_rejected() -> None:
    with pytest.raises(AnsibleFilterError, match="source must be"):
        nvidia_gpu_fact(nvidia_smi_gpus(fixture("a10x1.query.csv")), source="magic")


def test_no_gpus_give_the_empty_fact_with_the_same_keys() -> None:
    assert nvidia_gpu_fact([]) == empty_gpu_fact()
    assert set(empty_gpu_fact()) == set(fact_for("a10x1"))


@pytest.mark.parametrize(
    ("name", "architecture", "capability"),
    [
        ("NVIDIA H100 80GB HBM3", "hopper", "9.0"),
        ("NVIDIA H100 PCIe", "hopper", "9.0"),
        ("NVIDIA GH200 480GB", "hopper", "9.0"),
        ("NVIDIA B200", "blackwell", "10.0"),
        ("NVIDIA A100-SXM4-40GB", "ampere", "8.0"),
        ("NVIDIA A10", "ampere", "8.6"),
        ("NVIDIA RTX A6000", "ampere", "8.6"),
        ("NVIDIA L40S", "ada", "8.9"),
        ("Tesla V100-SXM2-16GB", "volta", "7.0"),
        ("Tesla T4", "turing", "7.5"),
        ("Some Future GPU", None, None),
    ],
)
def test_architecture_from_product_name(name: str, architecture: str | None, capability: str | None) -> None:
    assert gpu_architecture(name) == {"architecture": architecture, "compute_capability": capability}
