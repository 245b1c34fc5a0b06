"""Filters that turn nvidia-smi output into the ``hearth_gpu`` fact.

The nvidia_driver role runs three read-only commands on a GPU host and hands their text to
these filters:

* ``nvidia-smi --query-gpu=<NVIDIA_SMI_QUERY_FIELDS> --format=csv,noheader,nounits``
  -> :func:`nvidia_smi_gpus` (one dict per GPU),
* ``nvidia-smi`` (the summary table; only its header is read)
  -> :func:`nvidia_smi_versions` (driver and CUDA versions; CUDA is only printed there),
* ``nvidia-smi topo -m`` -> :func:`nvidia_smi_topology` (the GPU-to-GPU link matrix).

:func:`nvidia_gpu_fact` combines them into the one dict other roles read (ollama, vllm).
Parsing lives here, not in a module, so that it is pure and tested against recorded outputs
of real machines (tests/fixtures/gpu/).
"""
from __future__ import annotations

import re
from typing import Any

from ansible.errors import AnsibleFilterError

# The columns the role asks for, in order. Kept here so the role and the parser agree.
NVIDIA_SMI_QUERY_FIELDS = (
    "index",
    "name",
    "uuid",
    "memory.total",
    "driver_version",
    "mig.mode.current",
    "persistence_mode",
    "pci.bus_id",
)

# nvidia-smi prints these for values a GPU does not support or cannot report.
_NOT_AVAILABLE = {"[N/A]", "N/A", "[Not Supported]", "Not Supported", ""}

# Compute capability by product name, most specific first. nvidia-smi's `compute_cap` field
# is missing on older drivers (and asking for it makes the whole query fail there), so the
# name is the portable key. Used for dtype choice (bf16 needs 8.0+) and reporting.
_ARCHITECTURES: tuple[tuple[str, str, str], ...] = (
    (r"\bGB?200\b|\bB200\b|\bB100\b", "blackwell", "10.0"),
    (r"RTX PRO \d+ Blackwell|RTX 50\d0", "blackwell", "12.0"),
    (r"\bGH200\b|\bH200\b|\bH100\b|\bH800\b|\bH20\b", "hopper", "9.0"),
    (r"\bL40S?\b|\bL4\b|\bL20\b|RTX \d+ Ada|RTX 40\d0", "ada", "8.9"),
    (r"\bA100\b|\bA800\b|\bA30\b", "ampere", "8.0"),
    (r"\bA10G?\b|\bA40\b|\bA16\b|\bA2\b|RTX A\d+|RTX 30\d0", "ampere", "8.6"),
    (r"\bT4\b|Quadro RTX|RTX 20\d0|TITAN RTX", "turing", "7.5"),
    (r"\bV100\b|TITAN V", "volta", "7.0"),
    (r"\bP100\b", "pascal", "6.0"),
    (r"\bP40\b|\bP4\b|GTX 10\d0", "pascal", "6.1"),
)

_LINK_CELL = re.compile(r"^(NV\d+|X|SYS|NODE|PHB|PXB|PIX|SOC|CPU)$")


def _text(value: Any, what: str) -> str:
    if isinstance(value, (list, tuple)):  # a registered result's stdout_lines
        return "\n".join(str(line) for line in value)
    if not isinstance(value, str):
        raise AnsibleFilterError(f"{what} must be the text nvidia-smi printed, got {type(value).__name__}")
    return value


def _optional(value: str) -> str | None:
    value = value.strip()
    return None if value in _NOT_AVAILABLE else value


def gpu_architecture(name: str) -> dict[str, str | None]:
    """Return {'architecture', 'compute_capability'} for a product name; None when unknown."""
    for pattern, arch, capability in _ARCHITECTURES:
        if re.search(pattern, name):
            return {"architecture": arch, "compute_capability": capability}
    return {"architecture": None, "compute_capability": None}


def nvidia_smi_gpus(text: Any, fields: Any = NVIDIA_SMI_QUERY_FIELDS) -> list[dict[str, Any]]:
    """Parse ``--query-gpu`` CSV (noheader, nounits) into one dict per GPU.

    Each dict has index (int), name, uuid, memory_mib (int), driver_version, mig_mode
    ('Enabled'/'Disabled'/None when the GPU has no MIG), persistence (bool), pci_bus_id,
    architecture and compute_capability. Names may contain spaces but never commas, so a plain
    split on ', ' is exact.
    """
    body = _text(text, "nvidia-smi --query-gpu output")
    names = list(fields)
    gpus: list[dict[str, Any]] = []
    for number, raw in enumerate(body.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        cells = [cell.strip() for cell in line.split(",")]
        if len(cells) != len(names):
            raise AnsibleFilterError(
                f"nvidia-smi --query-gpu line {number} has {len(cells)} columns, expected {len(names)} "
                f"({', '.join(names)}): {line!r}. Is nvidia-smi answering with an error?"
            )
        row = dict(zip(names, cells))
        try:
            index = int(row["index"])
            memory = int(float(row["memory.total"]))
        except (KeyError, ValueError):
            raise AnsibleFilterError(f"nvidia-smi --query-gpu line {number} is not a GPU record: {line!r}") from None
        gpu: dict[str, Any] = {
            "index": index,
            "name": row.get("name", ""),
            "uuid": row.get("uuid", ""),
            "memory_mib": memory,
            "driver_version": _optional(row.get("driver_version", "")),
            "mig_mode": _optional(row.get("mig.mode.current", "")),
            "persistence": row.get("persistence_mode", "").lower() == "enabled",
            "pci_bus_id": _optional(row.get("pci.bus_id", "")),
        }
        gpu.update(gpu_architecture(gpu["name"]))
        gpus.append(gpu)
    return sorted(gpus, key=lambda gpu: gpu["index"])


_DRIVER = re.compile(r"(?:Driver|KMD) Version:\s*([0-9][0-9.]*)")
_CUDA = re.compile(r"CUDA(?: UMD)? Version:\s*([0-9][0-9.]*)")
_SMI = re.compile(r"NVIDIA-SMI\s+([0-9][0-9.]*)")


def nvidia_smi_versions(text: Any) -> dict[str, str | None]:
    """Read driver and CUDA versions from the header of plain ``nvidia-smi`` output.

    Understands both the classic header (``Driver Version: … CUDA Version: …``) and the one
    drivers from R610 print (``KMD Version: … CUDA UMD Version: …``). The CUDA version is the
    newest CUDA runtime the driver supports, which is what decides which wheels can run.
    """
    body = _text(text, "nvidia-smi output")
    driver = _DRIVER.search(body) or _SMI.search(body)
    cuda = _CUDA.search(body)
    if not driver:
        first = body.strip().splitlines()[0] if body.strip() else "(no output)"
        raise AnsibleFilterError(f"nvidia-smi printed no driver version; it said: {first}")
    return {"driver_version": driver.group(1), "cuda_version": cuda.group(1) if cuda else None}


def nvidia_smi_topology(text: Any) -> dict[str, Any]:
    """Parse the GPU block of ``nvidia-smi topo -m`` into a link matrix and a summary.

    Returns {'gpus': n, 'matrix': [[cell, ...], ...] (GPU rows x GPU columns, 'X' on the
    diagonal), 'links': {cell: pair count}, 'nvlink_all_pairs': bool, 'nvlink_pairs': int,
    'pairs': int, 'summary': str}. NIC rows and columns, CPU/NUMA affinity and the legend are
    ignored. An empty text (a single GPU where topo was not run) yields a one-GPU topology.
    """
    body = _text(text, "nvidia-smi topo -m output")
    header: list[str] | None = None
    rows: dict[int, list[str]] = {}
    for raw in body.splitlines():
        if not raw.strip():
            if header is not None and rows:
                break  # the legend follows the first blank line after the matrix
            continue
        cells = [cell.strip() for cell in raw.split("\t")] if "\t" in raw else raw.split()
        if header is None:
            if any(re.fullmatch(r"GPU\d+", cell) for cell in cells):
                header = cells
            continue
        label = cells[0]
        match = re.fullmatch(r"GPU(\d+)", label)
        if not match:
            continue
        rows[int(match.group(1))] = cells[1:]
    if header is None:
        if body.strip():
            raise AnsibleFilterError("nvidia-smi topo -m output has no GPU header row")
        return _topology_summary([["X"]])
    columns = [index for index, cell in enumerate(header) if re.fullmatch(r"GPU\d+", cell)]
    # Tab-separated output starts with an empty cell; whitespace-split output does not.
    offset = 1 if header and header[0] == "" else 0
    count = len(columns)
    if sorted(rows) != list(range(count)):
        raise AnsibleFilterError(
            f"nvidia-smi topo -m lists {count} GPU columns but rows for GPUs {sorted(rows)}"
        )
    matrix: list[list[str]] = []
    for gpu in range(count):
        cells = rows[gpu]
        row = []
        for column in columns:
            position = column - offset
            cell = cells[position].strip() if position < len(cells) else ""
            if not _LINK_CELL.match(cell):
                raise AnsibleFilterError(f"nvidia-smi topo -m: GPU{gpu} has an unknown link type {cell!r}")
            row.append(cell)
        matrix.append(row)
    return _topology_summary(matrix)


def _topology_summary(matrix: list[list[str]]) -> dict[str, Any]:
    count = len(matrix)
    links: dict[str, int] = {}
    nvlink_pairs = 0
    for i in range(count):
        for j in range(i + 1, count):
            cell = matrix[i][j]
            links[cell] = links.get(cell, 0) + 1
            if cell.startswith("NV"):
                nvlink_pairs += 1
    pairs = count * (count - 1) // 2
    all_pairs = pairs > 0 and nvlink_pairs == pairs
    if count == 1:
        summary = "1 GPU"
    elif all_pairs and len(links) == 1:
        summary = f"{count} GPUs, all pairs {next(iter(links))}"
    else:
        parts = ", ".join(f"{cell} x{n}" for cell, n in sorted(links.items()))
        summary = f"{count} GPUs, {nvlink_pairs}/{pairs} pairs over NVLink ({parts})"
    return {
        "gpus": count,
        "matrix": matrix,
        "links": links,
        "pairs": pairs,
        "nvlink_pairs": nvlink_pairs,
        "nvlink_all_pairs": all_pairs,
        "summary": summary,
    }


def nvidia_gpu_fact(
    gpus: Any, versions: Any = None, topology: Any = None, source: str = "preinstalled"
) -> dict[str, Any]:
    """Combine parsed outputs into ``hearth_gpu``.

    Keys: present, count, models (distinct names), model (the first), memory_mib (smallest
    GPU's; what sizing must fit), memory_total_mib, driver_version, cuda_version,
    architecture, compute_capability (lowest across GPUs), mig {enabled, gpus}, persistence
    (all GPUs), nvlink {all_pairs, pairs, nvlink_pairs, links, summary, matrix}, source, gpus.
    """
    if not isinstance(gpus, list):
        raise AnsibleFilterError("nvidia_gpu_fact expects the list from nvidia_smi_gpus")
    if source not in ("lambda_stack", "preinstalled", "installed"):
        raise AnsibleFilterError(f"source must be lambda_stack, preinstalled or installed, got {source!r}")
    versions = versions or {}
    if not gpus:
        return empty_gpu_fact()
    topo = topology or _topology_summary([["X" if i == j else "SYS" for j in range(len(gpus))] for i in range(len(gpus))])
    if topo["gpus"] != len(gpus):
        raise AnsibleFilterError(
            f"nvidia-smi reports {len(gpus)} GPUs but its topology matrix has {topo['gpus']}"
        )
    models = list(dict.fromkeys(gpu["name"] for gpu in gpus))
    capabilities = [gpu["compute_capability"] for gpu in gpus]
    known = [c for c in capabilities if c]
    lowest = min(known, key=lambda c: tuple(int(p) for p in c.split("."))) if len(known) == len(capabilities) else None
    architectures = list(dict.fromkeys(gpu["architecture"] for gpu in gpus))
    mig_gpus = [gpu["index"] for gpu in gpus if gpu["mig_mode"] == "Enabled"]
    return {
        "present": True,
        "count": len(gpus),
        "models": models,
        "model": models[0],
        "memory_mib": min(gpu["memory_mib"] for gpu in gpus),
        "memory_total_mib": sum(gpu["memory_mib"] for gpu in gpus),
        "driver_version": versions.get("driver_version") or gpus[0]["driver_version"],
        "cuda_version": versions.get("cuda_version"),
        "architecture": architectures[0] if len(architectures) == 1 else None,
        "compute_capability": lowest,
        "mig": {"enabled": bool(mig_gpus), "gpus": mig_gpus},
        "persistence": all(gpu["persistence"] for gpu in gpus),
        "nvlink": {
            "all_pairs": topo["nvlink_all_pairs"],
            "pairs": topo["pairs"],
            "nvlink_pairs": topo["nvlink_pairs"],
            "links": topo["links"],
            "summary": topo["summary"],
            "matrix": topo["matrix"],
        },
        "source": source,
        "gpus": gpus,
    }


def empty_gpu_fact() -> dict[str, Any]:
    """The ``hearth_gpu`` of a host without GPUs: same keys, nothing present (CPU fallback)."""
    return {
        "present": False,
        "count": 0,
        "models": [],
        "model": None,
        "memory_mib": 0,
        "memory_total_mib": 0,
        "driver_version": None,
        "cuda_version": None,
        "architecture": None,
        "compute_capability": None,
        "mig": {"enabled": False, "gpus": []},
        "persistence": False,
        "nvlink": {"all_pairs": False, "pairs": 0, "nvlink_pairs": 0, "links": {}, "summary": "no GPU", "matrix": []},
        "source": None,
        "gpus": [],
    }


def nvidia_smi_query_fields(_: Any = None) -> str:
    """The comma-joined field list for ``--query-gpu`` (so the role never drifts from the parser)."""
    return ",".join(NVIDIA_SMI_QUERY_FIELDS)


class FilterModule:
    """nvidia-smi parsers for the nvidia_driver role."""

    def filters(self) -> dict[str, Any]:
        return {
            "nvidia_smi_gpus": nvidia_smi_gpus,
            "nvidia_smi_versions": nvidia_smi_versions,
            "nvidia_smi_topology": nvidia_smi_topology,
            "nvidia_smi_query_fields": nvidia_smi_query_fields,
            "nvidia_gpu_fact": nvidia_gpu_fact,
            "nvidia_gpu_architecture": gpu_architecture,
        }
