"""Derive ``vllm serve`` arguments from the host's GPUs and the model's config.json.

vLLM refuses to start when the model does not fit, when the tensor-parallel size does not
divide the attention heads, or when the KV cache cannot hold one sequence of ``max_model_len``
tokens, and it only says so after minutes of loading weights. Working the numbers out before
the service starts turns those into a clear message at converge time, and gives every
environment settings that match its hardware without hand tuning. Every derived value can be
overridden; overrides are checked against the same rules.

Inputs: ``hearth_gpu`` (from the nvidia_driver role; see plugins/filter/nvidia.py) and the
model's Hugging Face ``config.json`` as a dict. The estimate counts weights of a decoder-only
transformer (embeddings, attention, gated MLP, optional experts) and the KV cache per token;
it errs on the safe side with a fixed per-GPU reserve for CUDA context and activations.
"""
from __future__ import annotations

import math
from typing import Any

from ansible.errors import AnsibleFilterError

MIB = 1024 * 1024
# Per GPU, outside what vLLM may claim: CUDA context, NCCL buffers, other processes.
HEADROOM_MIB = 3072
# Inside vLLM's share, before the KV cache: peak activations while profiling, CUDA graphs.
ACTIVATION_RESERVE_MIB = 2048
UTILIZATION_MIN = 0.5
UTILIZATION_MAX = 0.92
# Our estimate is approximate; keep a margin so vLLM's own profile agrees with it.
KV_SAFETY = 0.9
# A model whose KV cache cannot hold this many tokens is not worth serving on those GPUs.
MIN_MODEL_LEN = 2048
MODEL_LEN_STEP = 1024
DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "half": 2, "float32": 4, "float": 4}
OVERRIDE_KEYS = ("tensor_parallel_size", "gpu_memory_utilization", "max_model_len", "dtype")
CLI_ORDER = ("tensor_parallel_size", "dtype", "gpu_memory_utilization", "max_model_len")


def _config_int(config: dict[str, Any], key: str, default: int | None = None) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise AnsibleFilterError(
            f"model config.json: {key} must be a positive integer, got {value!r} "
            "(vllm_model_config must be the model's Hugging Face config.json as a dict)"
        )
    return value


def model_shape(config: Any) -> dict[str, Any]:
    """Extract the numbers the derivation needs from a config.json dict (text_config aware)."""
    if not isinstance(config, dict):
        raise AnsibleFilterError(f"vllm_model_config must be a dict (config.json), got {type(config).__name__}")
    # Multimodal wrappers keep the language model's shape under text_config.
    text_config = config.get("text_config")
    source: dict[str, Any] = text_config if isinstance(text_config, dict) else config
    merged = {**config, **source}
    heads = _config_int(merged, "num_attention_heads")
    hidden = _config_int(merged, "hidden_size")
    return {
        "heads": heads,
        "kv_heads": _config_int(merged, "num_key_value_heads", heads),
        "hidden": hidden,
        "layers": _config_int(merged, "num_hidden_layers"),
        "head_dim": _config_int(merged, "head_dim") if merged.get("head_dim") else hidden // heads,
        "intermediate": _config_int(merged, "intermediate_size", 4 * hidden),
        "vocab": _config_int(merged, "vocab_size"),
        "max_position": _config_int(merged, "max_position_embeddings"),
        "experts": int(merged.get("num_local_experts") or merged.get("num_experts") or 1),
        "tied": bool(merged.get("tie_word_embeddings", False)),
        "torch_dtype": str(merged.get("torch_dtype") or merged.get("dtype") or "bfloat16"),
        "quantization": merged.get("quantization_config") or {},
    }


def parameter_count(shape: dict[str, Any]) -> int:
    """Weights of a decoder-only transformer with grouped-query attention and a gated MLP."""
    hidden, head_dim = shape["hidden"], shape["head_dim"]
    attention = hidden * shape["heads"] * head_dim * 2 + hidden * shape["kv_heads"] * head_dim * 2
    mlp = 3 * hidden * shape["intermediate"] * shape["experts"]
    router = hidden * shape["experts"] if shape["experts"] > 1 else 0
    per_layer = attention + mlp + router + 2 * hidden
    embeddings = shape["vocab"] * hidden * (1 if shape["tied"] else 2)
    return shape["layers"] * per_layer + embeddings + hidden


def bytes_per_weight(shape: dict[str, Any], dtype: str) -> float:
    """Bytes per stored weight: the quantisation's width when config.json declares one."""
    quant = shape["quantization"]
    if isinstance(quant, dict) and quant:
        bits = quant.get("bits") or quant.get("w_bit")
        if bits:
            return int(bits) / 8 * 1.1  # scales and zero points
        if "fp8" in str(quant.get("quant_method", "")).lower():
            return 1.0
    return float(DTYPE_BYTES.get(dtype, 2))


def kv_bytes_per_token(shape: dict[str, Any], dtype: str) -> int:
    """KV cache bytes for one token across all layers (keys and values)."""
    return 2 * shape["layers"] * shape["kv_heads"] * shape["head_dim"] * DTYPE_BYTES.get(dtype, 2)


def _capability(gpu: dict[str, Any]) -> tuple[int, int] | None:
    value = gpu.get("compute_capability")
    if not value:
        return None
    major, _, minor = str(value).partition(".")
    return int(major), int(minor or 0)


def pick_dtype(gpu: dict[str, Any], shape: dict[str, Any]) -> str:
    """bfloat16 on Ampere and newer (8.0+); float16 on older or unknown GPUs.

    A model published in float16 stays float16: converting to bfloat16 loses mantissa bits.
    """
    capability = _capability(gpu)
    if capability is None or capability < (8, 0) or shape["torch_dtype"] in ("float16", "half"):
        return "float16"
    return "bfloat16"


def pick_utilization(memory_mib: int) -> float:
    """Leave HEADROOM_MIB per GPU outside vLLM, within [UTILIZATION_MIN, UTILIZATION_MAX]."""
    share = 1 - HEADROOM_MIB / memory_mib
    return max(UTILIZATION_MIN, min(UTILIZATION_MAX, math.floor(share * 100) / 100))


def tensor_parallel_candidates(shape: dict[str, Any], gpus: int) -> list[int]:
    """Sizes that split attention heads and KV heads evenly and fit on the host's GPUs."""
    return [size for size in range(1, gpus + 1) if shape["heads"] % size == 0 and shape["kv_heads"] % size == 0]


def _plan(shape: dict[str, Any], memory_mib: int, utilization: float, size: int, dtype: str) -> dict[str, Any]:
    weights_mib = parameter_count(shape) * bytes_per_weight(shape, dtype) / MIB
    budget_mib = memory_mib * utilization
    kv_mib = budget_mib - weights_mib / size - ACTIVATION_RESERVE_MIB
    kv_per_token_per_gpu = kv_bytes_per_token(shape, dtype) / size
    tokens = int(max(0.0, kv_mib) * MIB * KV_SAFETY / kv_per_token_per_gpu)
    return {
        "weights_mib": round(weights_mib),
        "weights_mib_per_gpu": round(weights_mib / size),
        "budget_mib_per_gpu": round(budget_mib),
        "kv_cache_mib_per_gpu": round(max(0.0, kv_mib)),
        "kv_cache_tokens": tokens,
    }


def _check_overrides(overrides: Any) -> dict[str, Any]:
    if overrides is None:
        return {}
    if not isinstance(overrides, dict):
        raise AnsibleFilterError(f"vLLM overrides must be a dict with keys {', '.join(OVERRIDE_KEYS)}")
    unknown = sorted(set(overrides) - set(OVERRIDE_KEYS))
    if unknown:
        raise AnsibleFilterError(f"unknown vLLM override(s) {unknown}; allowed: {', '.join(OVERRIDE_KEYS)}")
    # Empty strings and None mean "derive it" (role defaults are '' for every override).
    return {key: value for key, value in overrides.items() if value not in (None, "", 0)}


def vllm_serving_args(gpu: Any, config: Any, overrides: Any = None) -> dict[str, Any]:
    """Return {tensor_parallel_size, dtype, gpu_memory_utilization, max_model_len, basis}.

    gpu: the ``hearth_gpu`` fact. config: the model's config.json as a dict. overrides: any of
    the four settings to impose (validated). ``basis`` explains the numbers (weights per GPU,
    KV cache tokens, the rule that chose the tensor-parallel size).
    """
    if not isinstance(gpu, dict) or not gpu.get("present") or int(gpu.get("count") or 0) < 1:
        raise AnsibleFilterError(
            "vLLM needs NVIDIA GPUs: hearth_gpu reports none on this host. Run the nvidia_driver role "
            "first (playbooks/gpu.yml) or serve with hearth_llm_engine: ollama."
        )
    fixed = _check_overrides(overrides)
    shape = model_shape(config)
    count = int(gpu["count"])
    memory = int(gpu["memory_mib"])
    if gpu.get("mig", {}).get("enabled") and "tensor_parallel_size" not in fixed:
        raise AnsibleFilterError(
            f"MIG mode is enabled on GPUs {gpu['mig'].get('gpus')}; vLLM sizing assumes whole GPUs. "
            "Disable MIG or set vllm_tensor_parallel_size (and the device list) yourself."
        )

    dtype = str(fixed.get("dtype") or pick_dtype(gpu, shape))
    if dtype not in ("auto", *DTYPE_BYTES):
        raise AnsibleFilterError(f"vllm_dtype must be one of auto, {', '.join(DTYPE_BYTES)}; got {dtype!r}")
    capability = _capability(gpu)
    if dtype == "bfloat16" and capability is not None and capability < (8, 0):
        raise AnsibleFilterError(
            f"vllm_dtype bfloat16 needs compute capability 8.0+; {gpu.get('model')} is {gpu.get('compute_capability')}"
        )
    sizing_dtype = shape["torch_dtype"] if dtype == "auto" else dtype

    utilization = fixed.get("gpu_memory_utilization", pick_utilization(memory))
    try:
        utilization = float(utilization)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"vllm_gpu_memory_utilization must be a number in (0, 1], got {utilization!r}") from None
    if not 0 < utilization <= 1:
        raise AnsibleFilterError(f"vllm_gpu_memory_utilization must be in (0, 1], got {utilization}")

    candidates = tensor_parallel_candidates(shape, count)
    nvlink = count == 1 or bool(gpu.get("nvlink", {}).get("all_pairs"))
    if "tensor_parallel_size" in fixed:
        size = int(fixed["tensor_parallel_size"])
        if size < 1 or size > count:
            raise AnsibleFilterError(f"vllm_tensor_parallel_size must be between 1 and the GPU count {count}, got {size}")
        if shape["heads"] % size:
            raise AnsibleFilterError(
                f"vllm_tensor_parallel_size {size} does not divide the model's {shape['heads']} attention heads"
            )
        rule = "set by vllm_tensor_parallel_size"
    else:
        fitting = [
            size for size in candidates
            if _plan(shape, memory, utilization, size, sizing_dtype)["kv_cache_tokens"] >= MIN_MODEL_LEN
        ]
        if not fitting:
            best = _plan(shape, memory, utilization, max(candidates), sizing_dtype)
            raise AnsibleFilterError(
                f"the model does not fit on {count}x {gpu.get('model')} ({memory} MiB each): "
                f"{best['weights_mib']} MiB of weights, {best['weights_mib_per_gpu']} MiB per GPU at tensor "
                f"parallel {max(candidates)}, {best['budget_mib_per_gpu']} MiB usable per GPU, room for "
                f"{best['kv_cache_tokens']} KV-cache tokens (need {MIN_MODEL_LEN}). Use more or larger GPUs "
                "or a quantised model."
            )
        # With NVLink between every pair, splitting across all usable GPUs costs little and
        # buys KV cache and bandwidth; over PCIe the all-reduce dominates, so use as few as fit.
        size = max(fitting) if nvlink else min(fitting)
        rule = (
            "largest size that divides the heads (all GPU pairs on NVLink)" if nvlink and count > 1
            else "single GPU" if count == 1
            else "smallest size that fits (GPUs not all on NVLink)"
        )

    plan = _plan(shape, memory, utilization, size, sizing_dtype)
    fitted = min(shape["max_position"], plan["kv_cache_tokens"] // MODEL_LEN_STEP * MODEL_LEN_STEP)
    if "max_model_len" in fixed:
        length = int(fixed["max_model_len"])
        if length > shape["max_position"]:
            raise AnsibleFilterError(
                f"vllm_max_model_len {length} exceeds the model's max_position_embeddings {shape['max_position']}"
            )
    else:
        length = fitted
        if length < MIN_MODEL_LEN:
            raise AnsibleFilterError(
                f"at tensor parallel {size} the KV cache holds only {plan['kv_cache_tokens']} tokens "
                f"(need {MIN_MODEL_LEN}); raise vllm_gpu_memory_utilization or vllm_tensor_parallel_size"
            )
    return {
        "tensor_parallel_size": size,
        "dtype": dtype,
        "gpu_memory_utilization": utilization,
        "max_model_len": length,
        "basis": {
            **plan,
            "parameters": parameter_count(shape),
            "kv_bytes_per_token": kv_bytes_per_token(shape, sizing_dtype),
            "tensor_parallel_candidates": candidates,
            "tensor_parallel_rule": rule,
            "max_position_embeddings": shape["max_position"],
        },
    }


def vllm_cli_args(args: Any, extra: Any = None) -> list[str]:
    """Render derived settings (and extra flags) as ``vllm serve`` arguments, in a stable order."""
    if not isinstance(args, dict):
        raise AnsibleFilterError("vllm_cli_args expects the dict from vllm_serving_args")
    rendered: list[str] = []
    for key in CLI_ORDER:
        if key in args and args[key] not in (None, ""):
            rendered += [f"--{key.replace('_', '-')}", str(args[key])]
    for flag in extra or []:
        if not isinstance(flag, str) or not flag.startswith("--"):
            raise AnsibleFilterError(f"vllm_extra_args entries must be strings starting with --, got {flag!r}")
        rendered.append(flag)
    return rendered


class FilterModule:
    """vLLM serving-argument derivation."""

    def filters(self) -> dict[str, Any]:
        return {"vllm_serving_args": vllm_serving_args, "vllm_cli_args": vllm_cli_args}
