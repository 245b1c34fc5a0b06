"""The reference application's pure logic, its command line's refusals and its build recipe.

examples/refapp is not on pytest's import path (it is an application, not part of the
collection), so the package is loaded from its directory by importlib. Only refapp.logic and
refapp.__main__ are imported: neither needs FastAPI, Celery, psycopg or boto3, which the
project's virtual environment does not have.
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "examples" / "refapp"
PACKAGE = APP / "refapp"
SCRIPT = ROOT / "scripts" / "build-app-images.sh"


def _package() -> ModuleType:
    """Load examples/refapp/refapp as the package `refapp` (once per test run)."""
    if "refapp" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "refapp", PACKAGE / "__init__.py", submodule_search_locations=[str(PACKAGE)])
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["refapp"] = module
        spec.loader.exec_module(module)
    return sys.modules["refapp"]


_package()
logic = importlib.import_module("refapp.logic")
cli = importlib.import_module("refapp.__main__")

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# --- settings ---------------------------------------------------------------------------------

FULL_ENV = {
    "DATABASE_URL": "postgresql://app:pw@db.lab:5432/app?sslmode=require",
    "REDIS_URL": "redis://app:pw@redis.lab:6379/0",
    "S3_ENDPOINT_URL": "https://s3.lab.example",
    "AWS_ACCESS_KEY_ID": "key",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "S3_BUCKET": "app",
    "OPENAI_BASE_URL": "https://api.lab.example/llm/v1",
    "OPENAI_API_KEY": "sk-lab",
    "LLM_MODEL": "hearth-tiny",
    "APP_VERSION": "2",
    "PORT": "8080",
    "BEAT_INTERVAL": "0.5",
}


def test_settings_read_every_variable() -> None:
    s = logic.Settings.from_env(FULL_ENV)
    assert (s.version, s.port, s.beat_interval) == ("2", 8080, 0.5)
    assert s.need("database_url") == FULL_ENV["DATABASE_URL"]
    assert s.need("s3_bucket") == "app" and s.aws_region == "us-east-1"
    assert s.llm_embed_model == "hearth-tiny", "LLM_EMBED_MODEL defaults to LLM_MODEL"
    assert s.ca_bundle is None and not s.broken


def test_settings_defaults_and_embed_model() -> None:
    s = logic.Settings.from_env({"LLM_MODEL": "chat", "LLM_EMBED_MODEL": "embed", "PORT": " "})
    assert (s.version, s.port, s.beat_interval) == ("dev", 8000, 2.0)
    assert s.llm_embed_model == "embed"


def test_secrets_stay_out_of_repr() -> None:
    text = repr(logic.Settings.from_env(FULL_ENV))
    assert "pw" not in text and "secret" not in text and "sk-lab" not in text


@pytest.mark.parametrize("attribute,variable", [
    ("database_url", "DATABASE_URL"), ("redis_url", "REDIS_URL"), ("s3_bucket", "S3_BUCKET"),
    ("openai_base_url", "OPENAI_BASE_URL"), ("llm_embed_model", "LLM_EMBED_MODEL (or LLM_MODEL)"),
])
def test_need_names_the_missing_variable(attribute: str, variable: str) -> None:
    with pytest.raises(logic.ConfigError, match=r"^%s is not set$" % variable.replace("(", r"\(").replace(")", r"\)")):
        logic.Settings.from_env({"DATABASE_URL": ""}).need(attribute)


@pytest.mark.parametrize("raw,message", [
    ("http", "PORT must be a number"), ("0", "between 1 and 65535"), ("70000", "between 1 and 65535"),
])
def test_bad_port(raw: str, message: str) -> None:
    with pytest.raises(logic.ConfigError, match=message):
        logic.Settings.from_env({"PORT": raw})


@pytest.mark.parametrize("raw", ["0", "-1", "nan", "inf", "3601", "soon"])
def test_bad_beat_interval(raw: str) -> None:
    with pytest.raises(logic.ConfigError, match="BEAT_INTERVAL"):
        logic.Settings.from_env({"BEAT_INTERVAL": raw})


@pytest.mark.parametrize("env,expected", [
    ({}, None),
    ({"AWS_CA_BUNDLE": "/ca/aws.pem"}, "/ca/aws.pem"),
    ({"REQUESTS_CA_BUNDLE": "/ca/req.pem", "AWS_CA_BUNDLE": "/ca/aws.pem"}, "/ca/req.pem"),
    ({"SSL_CERT_FILE": "/ca/ssl.pem", "REQUESTS_CA_BUNDLE": "/ca/req.pem"}, "/ca/ssl.pem"),
    ({"SSL_CERT_FILE": "", "AWS_CA_BUNDLE": "/ca/aws.pem"}, "/ca/aws.pem"),
])
def test_ca_bundle(env: dict[str, str], expected: str | None) -> None:
    assert logic.Settings.from_env(env).ca_bundle == expected


# --- request bounds ---------------------------------------------------------------------------

@pytest.mark.parametrize("raw,expected", [("0", 0), ("250", 250), (" 10000 ", 10000), (42, 42)])
def test_ms_in_bounds(raw: object, expected: int) -> None:
    assert logic.parse_ms(raw) == expected


@pytest.mark.parametrize("raw", ["-1", "10001", "1.5", "", "fast", None, True])
def test_ms_out_of_bounds(raw: object) -> None:
    with pytest.raises(logic.BoundsError, match="ms must be"):
        logic.parse_ms(raw)


@pytest.mark.parametrize("raw,expected", [("0", 0.0), ("0.5", 0.5), ("600", 600.0)])
def test_seconds_in_bounds(raw: str, expected: float) -> None:
    assert logic.parse_seconds(raw) == expected


@pytest.mark.parametrize("raw", ["-0.1", "600.5", "nan", "inf", "x"])
def test_seconds_out_of_bounds(raw: str) -> None:
    with pytest.raises(logic.BoundsError, match="seconds must be"):
        logic.parse_seconds(raw)


@pytest.mark.parametrize("raw,ok", [("1", True), ("3", True), ("50", True), ("0", False), ("51", False)])
def test_k_bounds(raw: str, ok: bool) -> None:
    if ok:
        assert logic.parse_k(raw) == int(raw)
    else:
        with pytest.raises(logic.BoundsError, match="k must be between 1 and 50"):
            logic.parse_k(raw)


@pytest.mark.parametrize("text", ["", "   ", None, 3, "x" * (logic.MAX_TEXT_CHARS + 1)])
def test_text_is_refused(text: object) -> None:
    with pytest.raises(logic.BoundsError):
        logic.validate_text(text)


def test_text_is_kept_as_given() -> None:
    assert logic.validate_text("  pgvector  ") == "  pgvector  "


# --- payloads ---------------------------------------------------------------------------------

def test_root_payload_per_version() -> None:
    assert logic.root_payload("1", "web-a") == {"version": "1", "host": "web-a"}
    assert logic.root_payload("2", "web-b") == {"version": "2", "host": "web-b", "features": ["search-v2"]}
    assert logic.root_payload("dev", "h") == {"version": "dev", "host": "h"}


def test_up_payload() -> None:
    assert logic.up_payload("1", {"postgres": None, "redis": None, "s3": None}) == (
        200, {"status": "ok", "version": "1"})
    status, body = logic.up_payload("2", {"postgres": None, "redis": "ConnectionError: refused", "s3": None})
    assert status == 503 and body["failed"] == {"redis": "ConnectionError: refused"}


def test_version_3_is_always_broken() -> None:
    healthy = {"postgres": None, "redis": None, "s3": None}
    assert logic.up_payload("3", healthy) == (503, {"status": "broken", "version": "3"})
    assert logic.Settings.from_env({"APP_VERSION": "3"}).broken


# --- LLM, vectors, keys, URLs -----------------------------------------------------------------

@pytest.mark.parametrize("base,url", [
    ("https://api.lab.example/llm/v1", "https://api.lab.example/llm/v1/embeddings"),
    ("https://api.lab.example/llm/v1/", "https://api.lab.example/llm/v1/embeddings"),
    ("http://127.0.0.1:11434/v1", "http://127.0.0.1:11434/v1/embeddings"),
])
def test_embeddings_url(base: str, url: str) -> None:
    assert logic.embeddings_url(base) == url


@pytest.mark.parametrize("base", ["api.lab.example/v1", "ftp://x/v1", "https://"])
def test_embeddings_url_refuses_non_http(base: str) -> None:
    with pytest.raises(logic.ConfigError, match="OPENAI_BASE_URL"):
        logic.embeddings_url(base)


def test_embeddings_body() -> None:
    assert logic.embeddings_body("m", "hi") == b'{"model": "m", "input": "hi"}'


def test_parse_embedding() -> None:
    payload = {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -1, 2]}]}
    assert logic.parse_embedding(payload) == [0.5, -1.0, 2.0]


@pytest.mark.parametrize("payload,message", [
    ({"error": {"message": "model not found"}}, "model not found"),
    ({"data": []}, "no data"),
    ({"data": [{"embedding": []}]}, "empty"),
    ({"data": [{"embedding": [1, "x"]}]}, "not a finite number"),
    ({"data": [{"embedding": [1, float("nan")]}]}, "not a finite number"),
    ([1, 2], "no data"),
])
def test_parse_embedding_refuses(payload: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        logic.parse_embedding(payload)


def test_vector_literal() -> None:
    assert logic.vector_literal([1, 0.25, -3e-05]) == "[1.0,0.25,-3e-05]"
    with pytest.raises(ValueError):
        logic.vector_literal([])


def test_document_key() -> None:
    assert logic.document_key(42) == "documents/42.txt"


@pytest.mark.parametrize("url,shown", [
    ("postgresql://app:s3cret@db.lab:5432/app?sslmode=require", "postgresql://app@db.lab:5432/app"),
    ("redis://app:s3cret@[::1]:6379/0", "redis://app@[::1]:6379/0"),
    ("postgresql://db.lab/app", "postgresql://db.lab/app"),
    ("postgresql://app@db.lab:99999/app", "<unparsable URL>"),
])
def test_redact_url(url: str, shown: str) -> None:
    assert logic.redact_url(url) == shown
    assert "s3cret" not in logic.redact_url(url)


# --- process commands -------------------------------------------------------------------------

def test_commands() -> None:
    assert logic.web_argv("/usr/bin/python3", 8000) == [
        "/usr/bin/python3", "-m", "uvicorn", "refapp.web:app", "--host", "0.0.0.0", "--port", "8000"]
    worker = logic.worker_argv("abc123")
    assert worker[0] == "worker" and "--concurrency=2" in worker
    assert worker[worker.index("--hostname") + 1] == "celery@abc123" == logic.worker_node_name("abc123")
    beat = logic.beat_argv()
    assert beat[0] == "beat" and beat[beat.index("--schedule") + 1].startswith("/tmp/")
    assert logic.ready_url(8000) == "http://127.0.0.1:8000/up"


def test_beat_schedule_carries_the_beat_id() -> None:
    schedule = logic.beat_schedule("beat-7f3a", 2.0)
    entry = schedule["tick"]
    assert entry["task"] == "refapp.tasks.tick" and entry["args"] == ("beat-7f3a",)
    assert entry["schedule"] == 2.0 and entry["options"]["expires"] == logic.TICK_EXPIRES


@pytest.mark.parametrize("value,expected", [
    (1_700_000_000.25, 1_700_000_000.25), ("1700000000", 1_700_000_000.0),
    (None, None), ("soon", None), (True, None), (-5, None), (0, None), (float("nan"), None),
    (1_700_000_100.0, None),  # later than now (plus a minute of clock skew)
])
def test_tick_send_time(value: object, expected: float | None) -> None:
    assert logic.sent_at(value, now=1_700_000_030.0) == expected


@pytest.mark.parametrize("argv,message", [
    (["serve"], "python3 -m refapp"),
    (["ready", "beat"], "unknown process kind 'beat'"),
    (["ready"], "python3 -m refapp"),
    (["migrate"], "migrate: DATABASE_URL is not set"),
    (["worker"], "worker: REDIS_URL is not set"),
    (["beat"], "beat: REDIS_URL is not set"),
    (["web"], "web: PORT must be a number"),
])
def test_cli_refuses_before_any_service(argv: list[str], message: str, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    for variable in list(logic.ENVIRONMENT.values()) + ["PORT"]:
        monkeypatch.delenv(variable, raising=False)
    if argv == ["web"]:
        monkeypatch.setenv("PORT", "eighty")
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


# --- beat overlap -----------------------------------------------------------------------------

def test_handover_without_overlap() -> None:
    ranges = [logic.BeatRange("b", at(10), at(20), 6), logic.BeatRange("a", at(0), at(9), 5)]
    summary = logic.beat_summary(ranges)
    assert summary["count"] == 11 and summary["distinct"] == 2
    assert summary["beat_ids"] == ["a", "b"] and summary["overlap"] is False and summary["overlaps"] == []
    assert summary["ranges"][0] == {"beat_id": "a", "first": at(0).isoformat(), "last": at(9).isoformat(),
                                    "count": 5}


def test_touching_ranges_do_not_overlap() -> None:
    assert logic.overlapping_beats([logic.BeatRange("a", at(0), at(10), 2),
                                    logic.BeatRange("b", at(10), at(12), 2)]) == []


def test_two_beats_at_once_overlap() -> None:
    ranges = [logic.BeatRange("a", at(0), at(10), 6), logic.BeatRange("b", at(8), at(20), 7),
              logic.BeatRange("c", at(30), at(30), 1), logic.BeatRange("d", at(5), at(5), 1)]
    assert sorted(logic.overlapping_beats(ranges)) == [("a", "b"), ("a", "d")]
    assert logic.beat_summary(ranges)["overlap"] is True


def test_no_ticks() -> None:
    assert logic.beat_summary([]) == {"count": 0, "beat_ids": [], "distinct": 0, "overlap": False,
                                      "overlaps": [], "ranges": []}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 20)), max_size=8))
def test_overlap_matches_the_definition(spans: list[tuple[int, int]]) -> None:
    """The sorted scan finds exactly the pairs whose open intervals intersect."""
    ranges = [logic.BeatRange(f"b{i}", at(start), at(start + length), 1) for i, (start, length) in enumerate(spans)]
    found = {frozenset(p) for p in logic.overlapping_beats(ranges)}
    expected = {frozenset((a.beat_id, b.beat_id)) for i, a in enumerate(ranges) for b in ranges[i + 1:]
                if a.first < b.last and b.first < a.last}
    assert found == expected


# --- what the image and the build rely on -----------------------------------------------------

def test_pure_modules_import_only_the_standard_library() -> None:
    for name in ("logic.py", "__main__.py", "__init__.py"):
        tree = ast.parse((PACKAGE / name).read_text())
        top = {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
        top |= {node.module.split(".")[0] for node in tree.body
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
        assert top - set(sys.stdlib_module_names) <= {"refapp"}, (name, top)


def test_dockerfile_contract() -> None:
    text = (APP / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["/usr/bin/tini", "--", "python3", "-m", "refapp"]' in text
    assert 'CMD ["web"]' in text and "USER 10001" in text
    for needed in ("APP_VERSION=${VERSION}", "PYTHONPATH=/app", "PYTHONUNBUFFERED=1",
                   "org.opencontainers.image.version", "org.opencontainers.image.source"):
        assert needed in text
    # What depends on the version comes after the code, so the versions share their layers.
    assert text.index("COPY refapp") < text.index("ARG VERSION")


def test_build_script_pulls_nothing() -> None:
    text = SCRIPT.read_text()
    assert "set -euo pipefail" in text
    assert "docker pull" not in text and "--pull=false" in text
    include = next(line for line in text.splitlines() if line.startswith("INCLUDE="))
    for package in ("python3", "python3-fastapi", "python3-uvicorn", "python3-celery", "python3-redis",
                    "python3-psycopg", "python3-boto3", "ca-certificates", "tini"):
        assert package in include.split("=", 1)[1].split(",")
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
