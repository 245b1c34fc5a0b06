"""vLLM serving-argument derivation over recorded GPU outputs and real model configs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.hearth.platform.plugins.filter.nvidia import empty_gpu_fact, nvidia_gpu_fact, nvidia_smi_gpus, nvidia_smi_topology, nvidia_smi_versions
from ansible_collections.hearth.platform.plugins.filter.vllm_args import (
    MIN_MODEL_LEN,
    MODEL_LEN_STEP,
    UTILIZATION_MAX,
    kv_bytes_per_token,
    model_shape,
    parameter_count,
    pick_utilization,
    vllm_cli_args,
    vllm_serving_args,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "gpu"


def gpus(machine: str) -> dict:
    read = lambda suffix: (FIXTURES / f"{machine}.{suffix}").read_text()  # noqa: E731
    return nvidia_gpu_fact(
        nvidia_smi_gpus(read("query.csv")), nvidia_smi_versions(read("smi.txt")), nvidia_smi_topology(read("topo.txt"))
    )


def model(name: str) -> dict:
    return json.loads((FIXTURES / "models" / f"{name}.config.json").read_text())


LLAMA_8B = model("llama-3.1-8b-instruct")
LLAMA_70B = model("llama-3.1-70b-instruct")
QWEN_7B = model("qwen2.5-7b-instruct")


def test_parameter_counts_match_the_published_model_sizes() -> None:
    assert parameter_count(model_shape(LLAMA_8B)) == pytest.approx(8.03e9, rel=0.01)
    assert parameter_count(model_shape(LLAMA_70B)) == pytest.approx(70.6e9, rel=0.01)
    assert parameter_count(model_shape(QWEN_7B)) == pytest.approx(7.62e9, rel=0.01)


def test_kv_cache_per_token_for_grouped_query_attention() -> None:
    # 2 (K and V) x 32 layers x 8 KV heads x 128 dims x 2 bytes
    assert kv_bytes_per_token(model_shape(LLAMA_8B), "bfloat16") == 131072


def test_llama_8b_on_one_a10_is_limited_by_kv_cache() -> None:
    args = vllm_serving_args(gpus("a10x1"), LLAMA_8B)
    assert args["tensor_parallel_size"] == 1
    assert args["dtype"] == "bfloat16"
    assert args["gpu_memory_utilization"] == 0.86
    # 24 GB holds the 15 GiB of weights and a KV cache for roughly 17k tokens, not 128k.
    assert 8192 <= args["max_model_len"] < 32768
    assert args["max_model_len"] % MODEL_LEN_STEP == 0
    assert args["basis"]["tensor_parallel_rule"] == "single GPU"


def test_llama_8b_on_one_a100_40gb_gets_the_full_context() -> None:
    args = vllm_serving_args(gpus("a100-40x1"), LLAMA_8B)
    assert (args["tensor_parallel_size"], args["max_model_len"]) == (1, 131072)
    assert args["gpu_memory_utilization"] == UTILIZATION_MAX


def test_llama_8b_on_one_h100() -> None:
    args = vllm_serving_args(gpus("h100x1"), LLAMA_8B)
    assert (args["tensor_parallel_size"], args["dtype"], args["max_model_len"]) == (1, "bfloat16", 131072)


def test_llama_70b_on_eight_nvlinked_h100_uses_all_eight() -> None:
    args = vllm_serving_args(gpus("h100x8"), LLAMA_70B)
    assert args["tensor_parallel_size"] == 8
    assert args["max_model_len"] == 131072
    assert args["basis"]["weights_mib_per_gpu"] == pytest.approx(134571 / 8, abs=1)
    assert "NVLink" in args["basis"]["tensor_parallel_rule"]


def test_qwen_7b_heads_limit_tensor_parallel_to_four_of_eight_gpus() -> None:
    # 28 attention heads and 4 KV heads: 8 does not divide them, 4 is the largest that does.
    args = vllm_serving_args(gpus("h100x8"), QWEN_7B)
    assert args["tensor_parallel_size"] == 4
    assert args["basis"]["tensor_parallel_candidates"] == [1, 2, 4]
    assert args["max_model_len"] == 32768


@pytest.mark.parametrize("machine", ["a10x1", "a100-40x1", "h100x1"])
def test_llama_70b_does_not_fit_on_one_gpu_and_says_why(machine: str) -> None:
    with pytest.raises(AnsibleFilterError, match=r"does not fit on 1x .*134571 MiB of weights"):
        vllm_serving_args(gpus(machine), LLAMA_70B)


def test_without_nvlink_the_smallest_fitting_size_wins() -> None:
    args = vllm_serving_args(gpus("rtx6000ada-x2"), LLAMA_8B)
    assert args["tensor_parallel_size"] == 1
    assert "smallest" in args["basis"]["tensor_parallel_rule"]


def test_older_gpus_get_float16_and_split_when_one_is_too_small() -> None:
    args = vllm_serving_args(gpus("v100x4"), LLAMA_8B)
    assert args["dtype"] == "float16"
    assert args["tensor_parallel_size"] == 2  # 15 GiB of weights do not fit one 16 GB V100


def test_a_float16_model_stays_float16_on_hopper() -> None:
    args = vllm_serving_args(gpus("h100x1"), {**LLAMA_8B, "torch_dtype": "float16"})
    assert args["dtype"] == "float16"


def test_every_value_can_be_overridden() -> None:
    overrides = {"tensor_parallel_size": 2, "gpu_memory_utilization": 0.8, "max_model_len": 8192, "dtype": "float16"}
    args = vllm_serving_args(gpus("h100x8"), LLAMA_8B, overrides)
    assert {key: args[key] for key in overrides} == overrides
    assert args["basis"]["tensor_parallel_rule"] == "set by vllm_tensor_parallel_size"


def test_empty_overrides_mean_derive() -> None:
    derived = vllm_serving_args(gpus("h100x8"), LLAMA_8B)
    blank = vllm_serving_args(gpus("h100x8"), LLAMA_8B, dict.fromkeys(derived.keys() - {"basis"}, ""))
    assert blank == derived


def test_lower_utilization_shrinks_the_context_on_a_tight_gpu() -> None:
    tight = vllm_serving_args(gpus("a10x1"), LLAMA_8B, {"gpu_memory_utilization": 0.8})
    assert tight["max_model_len"] < vllm_serving_args(gpus("a10x1"), LLAMA_8B)["max_model_len"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"tensor_parallel_size": 3}, "does not divide the model's 32 attention heads"),
        ({"tensor_parallel_size": 16}, "between 1 and the GPU count 8"),
        ({"gpu_memory_utilization": 1.5}, r"must be in \(0, 1\]"),
        ({"gpu_memory_utilization": "lots"}, "must be a number"),
        ({"max_model_len": 262144}, "exceeds the model's max_position_embeddings 131072"),
        ({"dtype": "int3"}, "vllm_dtype must be one of"),
        ({"tensor_parallelism": 2}, "unknown vLLM override"),
    ],
)
def test_bad_overrides_are_named(overrides: dict, message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=message):
        vllm_serving_args(gpus("h100x8"), LLAMA_8B, overrides)


def test_bfloat16_is_refused_on_volta() -> None:
    with pytest.raises(AnsibleFilterError, match="needs compute capability 8.0"):
        vllm_serving_args(gpus("v100x4"), LLAMA_8B, {"dtype": "bfloat16"})


def test_no_gpu_is_a_clear_error() -> None:
    with pytest.raises(AnsibleFilterError, match="vLLM needs NVIDIA GPUs"):
        vllm_serving_args(empty_gpu_fact(), LLAMA_8B)


def test_mig_needs_an_explicit_size() -> None:
    fact = gpus("a100-80x8-mig")
    with pytest.raises(AnsibleFilterError, match=r"MIG mode is enabled on GPUs \[0, 1\]"):
        vllm_serving_args(fact, LLAMA_8B)
    assert vllm_serving_args(fact, LLAMA_8B, {"tensor_parallel_size": 1})["tensor_parallel_size"] == 1


@pytest.mark.parametrize("missing", ["num_attention_heads", "hidden_size", "num_hidden_layers", "vocab_size"])
def test_incomplete_model_config_names_the_field(missing: str) -> None:
    config = {key: value for key, value in LLAMA_8B.items() if key != missing}
    with pytest.raises(AnsibleFilterError, match=f"config.json: {missing} must be a positive integer"):
        vllm_serving_args(gpus("h100x1"), config)


def test_quantised_models_count_fewer_bytes_per_weight() -> None:
    awq = {**LLAMA_70B, "quantization_config": {"quant_method": "awq", "bits": 4}}
    # 70B in 4 bits fits two 80 GB GPUs over NVLink; unquantised it would not fit one.
    args = vllm_serving_args(gpus("h100x1"), awq)
    assert args["tensor_parallel_size"] == 1
    assert args["basis"]["weights_mib"] < 40000


def test_multimodal_configs_are_read_from_text_config() -> None:
    wrapped = {"architectures": ["LlavaForConditionalGeneration"], "text_config": LLAMA_8B}
    assert vllm_serving_args(gpus("h100x1"), wrapped)["max_model_len"] == 131072


def test_cli_args_render_in_a_stable_order_with_extra_flags() -> None:
    args = vllm_serving_args(gpus("h100x8"), LLAMA_70B)
    rendered = vllm_cli_args(args, ["--enable-prefix-caching"])
    assert rendered == [
        "--tensor-parallel-size", "8", "--dtype", "bfloat16",
        "--gpu-memory-utilization", "0.92", "--max-model-len", "131072", "--enable-prefix-caching",
    ]


def test_cli_args_refuse_flags_without_dashes() -> None:
    with pytest.raises(AnsibleFilterError, match="must be strings starting with --"):
        vllm_cli_args({"dtype": "float16"}, ["max-num-seqs=8"])


def test_utilization_leaves_fixed_headroom_on_small_gpus() -> None:
    assert pick_utilization(23028) == 0.86
    assert pick_utilization(81559) == UTILIZATION_MAX
    assert pick_utilization(4096) == 0.5


@settings(max_examples=150, deadline=None)
@given(
    count=st.sampled_from([1, 2, 4, 8]),
    memory=st.sampled_from([16384, 23028, 40960, 49140, 81559, 143771]),
    nvlink=st.booleans(),
    heads=st.sampled_from([8, 16, 28, 32, 40, 64]),
    group=st.sampled_from([1, 2, 4, 8]),
    layers=st.integers(min_value=2, max_value=96),
    hidden_per_head=st.sampled_from([64, 128]),
    max_position=st.sampled_from([4096, 32768, 131072]),
)
def test_derived_values_always_satisfy_vllm_rules(
    count: int, memory: int, nvlink: bool, heads: int, group: int, layers: int, hidden_per_head: int, max_position: int
) -> None:
    kv_heads = max(1, heads // group)
    hidden = heads * hidden_per_head
    config = {
        "num_attention_heads": heads, "num_key_value_heads": kv_heads, "hidden_size": hidden,
        "num_hidden_layers": layers, "intermediate_size": hidden * 3, "vocab_size": 32000,
        "max_position_embeddings": max_position, "torch_dtype": "bfloat16",
    }
    fact = {
        "present": True, "count": count, "memory_mib": memory, "model": "NVIDIA H100 80GB HBM3",
        "compute_capability": "9.0", "nvlink": {"all_pairs": nvlink and count > 1}, "mig": {"enabled": False},
    }
    try:
        args = vllm_serving_args(fact, config)
    except AnsibleFilterError as error:
        assert "does not fit" in str(error)
        return
    size = args["tensor_parallel_size"]
    assert 1 <= size <= count
    assert heads % size == 0 and kv_heads % size == 0
    assert MIN_MODEL_LEN <= args["max_model_len"] <= max_position
    assert args["max_model_len"] <= args["basis"]["kv_cache_tokens"]
    assert 0.5 <= args["gpu_memory_utilization"] <= UTILIZATION_MAX
