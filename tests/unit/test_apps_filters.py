"""Tests for plugins/filter/apps.py: service checks, connection variables and GPU assignment."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.hearth.platform.plugins.filter.apps import (
    KINDS,
    PLATFORM_ENV,
    PLATFORM_GROUPS,
    SERVICE_KEYS,
    FilterModule,
    apps_connection_env,
    apps_gpu_device_args,
    apps_gpu_plan,
    apps_services_checked,
)
from ansible_collections.hearth.platform.plugins.filter.nvidia import (
    empty_gpu_fact,
    nvidia_gpu_fact,
    nvidia_smi_gpus,
    nvidia_smi_topology,
    nvidia_smi_versions,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "gpu"
DIGEST = "sha256:" + "0123456789abcdef" * 4
IMAGE = "ghcr.io/acme/app:1.2.3"
NORMALISED_KEYS = SERVICE_KEYS | {"image_repo", "image_tag", "image_digest"}


def fact_for(machine: str) -> dict[str, Any]:
    def text(suffix: str) -> str:
        return (FIXTURES / f"{machine}.{suffix}").read_text()

    return nvidia_gpu_fact(
        nvidia_smi_gpus(text("query.csv")), nvidia_smi_versions(text("smi.txt")), nvidia_smi_topology(text("topo.txt"))
    )


def web(**overrides: Any) -> dict[str, Any]:
    return {"name": "web", "kind": "web", "image": IMAGE, "host_port": 9000, **overrides}


def worker(**overrides: Any) -> dict[str, Any]:
    return {"name": "worker", "kind": "worker", "image": IMAGE, **overrides}


def check(*services: dict[str, Any], **kwargs: Any) -> list[dict[str, Any]]:
    return apps_services_checked(list(services), **kwargs)


def one(service: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return check(service, **kwargs)[0]


def refused(where: str, message: str, *services: dict[str, Any], **kwargs: Any) -> str:
    """Check the services, expecting an error at `where` whose text matches `message`."""
    with pytest.raises(AnsibleFilterError) as info:
        check(*services, **kwargs)
    text = str(info.value.message)
    assert text.startswith(f"{where}: "), text
    assert re.search(message, text), text
    return text


# --- the list itself ------------------------------------------------------------------------


@pytest.mark.parametrize("empty", [None, "", []])
def test_no_services_is_an_empty_list(empty: Any) -> None:
    assert apps_services_checked(empty) == []


def test_services_must_be_a_list_of_mappings() -> None:
    with pytest.raises(AnsibleFilterError, match=r"^apps_services: expected a list, got dict"):
        apps_services_checked({"web": web()})
    refused(r"apps_services[0]", "expected a mapping, got str", "web")  # type: ignore[arg-type]


def test_every_kind_normalises_to_the_same_keys() -> None:
    services = check(
        web(), worker(), {"name": "beat", "kind": "scheduler", "image": IMAGE},
        {"name": "migrate", "kind": "job", "image": IMAGE}, {"name": "batch", "kind": "gpu", "image": IMAGE},
    )
    assert [s["kind"] for s in services] == list(KINDS)
    assert all(set(s) == NORMALISED_KEYS for s in services)


def test_web_defaults() -> None:
    assert one(web()) == {
        "name": "web", "kind": "web", "image": IMAGE, "image_repo": "ghcr.io/acme/app", "image_tag": "1.2.3",
        "image_digest": None, "command": None, "replicas": 1, "port": 8000, "host_port": 9000, "site": "web",
        "health": {"type": "http", "path": "/up", "command": None, "interval": 1, "timeout": 2, "retries": 3,
                   "start_period": 0, "deadline": 60},
        "env": {}, "secrets": {}, "volumes": [], "gpus": 0, "memory": None, "cpus": None, "stop_grace": 30,
        "stop_first": False, "platform": ["postgres", "redis", "s3", "llm"], "redis_db": 0, "keep": 3,
        "before": [],
    }


def test_unknown_keys_are_listed_with_the_allowed_ones() -> None:
    text = refused(r"apps_services[0] (worker)", r"unknown key\(s\) replica; allowed: before, ", worker(replica=2))
    assert "replicas" in text


def test_unknown_keys_are_reported_even_without_a_name() -> None:
    refused(r"apps_services[0]", r"unknown key\(s\) nmae", {"nmae": "web", "kind": "web", "image": IMAGE})


# --- name and kind --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "web-2", "x" * 31])
def test_good_names(name: str) -> None:
    assert one(worker(name=name))["name"] == name


@pytest.mark.parametrize("name", [None, "", "Web", "2web", "web_app", "x" * 32, 7])
def test_bad_names(name: Any) -> None:
    refused(r"apps_services[0].name", "expected a name of lowercase letters", worker(name=name))


def test_names_are_unique() -> None:
    refused(r"apps_services[1] (worker).name", r"already the name of apps_services\[0\]", worker(), worker())


def test_unknown_kind_lists_the_kinds() -> None:
    refused(r"apps_services[0] (worker).kind", "expected one of web, worker, scheduler, job, gpu, got 'api'",
            worker(kind="api"))


# --- image ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("image", "repo", "tag", "digest"), [
    ("ghcr.io/acme/app:1.2.3", "ghcr.io/acme/app", "1.2.3", None),
    ("app:1", "app", "1", None),
    (f"app@{DIGEST}", "app", None, DIGEST),
    (f"ghcr.io/acme/app:1.2.3@{DIGEST}", "ghcr.io/acme/app", "1.2.3", DIGEST),
    ("localhost:5000/org/app:1", "localhost:5000/org/app", "1", None),
    ("registry:5000/org/my_app__x:v2-rc.1", "registry:5000/org/my_app__x", "v2-rc.1", None),
])
def test_images_with_a_tag_or_digest(image: str, repo: str, tag: str | None, digest: str | None) -> None:
    service = one(worker(image=image))
    assert (service["image"], service["image_repo"], service["image_tag"], service["image_digest"]) == (
        image, repo, tag, digest)


@pytest.mark.parametrize("image", ["app", "ghcr.io/acme/app", "localhost:5000/org/app"])
def test_image_without_tag_or_digest_is_refused(image: str) -> None:
    refused(r"apps_services[0] (worker).image",
            re.escape("must name a tag or a digest (ghcr.io/org/app:1.2.3 or …@sha256:…)"), worker(image=image))


@pytest.mark.parametrize(("image", "message"), [
    ("App:1", "lowercase name parts"),
    ("app:1 ", "expected an image reference"),
    ("app:b:c", "lowercase name parts"),
    ("app@sha256:abc", "sha256:<64 lowercase hex digits>"),
    ("app:-x", "expected a tag"),
    (None, "expected an image reference"),
])
def test_malformed_images_are_refused(image: Any, message: str) -> None:
    refused(r"apps_services[0] (worker).image", re.escape(message), worker(image=image))


def test_image_is_required() -> None:
    refused(r"apps_services[0] (worker).image", "required", {"name": "worker", "kind": "worker"})


# --- command and replicas -------------------------------------------------------------------


def test_command_string_is_split_like_a_shell() -> None:
    assert one(worker(command="celery -A app worker --queues 'a b'"))["command"] == [
        "celery", "-A", "app", "worker", "--queues", "a b"]
    assert one(worker(command=["gunicorn", "--workers", 4]))["command"] == ["gunicorn", "--workers", "4"]


@pytest.mark.parametrize(("command", "where", "message"), [
    ("run 'unterminated", "command", "cannot split"),
    ("", "command", "non-empty command"),
    ([], "command", "non-empty command"),
    (["ok", {"x": 1}], "command[1]", "expected a string"),
])
def test_bad_commands(command: Any, where: str, message: str) -> None:
    refused(rf"apps_services[0] (worker).{where}", message, worker(command=command))


def test_replicas_default_and_bounds() -> None:
    assert one(worker(replicas="3"))["replicas"] == 3
    refused(r"apps_services[0] (worker).replicas", "at least 1, got 0", worker(replicas=0))
    refused(r"apps_services[0] (worker).replicas", "expected an integer", worker(replicas=True))


def test_scheduler_runs_once_per_environment() -> None:
    refused(r"apps_services[0] (beat).replicas", "exactly once per environment",
            {"name": "beat", "kind": "scheduler", "image": IMAGE, "replicas": 2})


def test_job_runs_once() -> None:
    refused(r"apps_services[0] (migrate).replicas", "expected 1, got 2",
            {"name": "migrate", "kind": "job", "image": IMAGE, "replicas": 2})


# --- ports and sites ------------------------------------------------------------------------


def test_web_port_defaults_to_8000_and_can_be_set() -> None:
    assert one(web())["port"] == 8000
    assert one(web(port=3000))["port"] == 3000
    refused(r"apps_services[0] (web).port", "between 1 and 65535", web(port=70000))


@pytest.mark.parametrize("kind", ["worker", "scheduler", "job"])
@pytest.mark.parametrize("key", ["port", "host_port"])
def test_services_without_traffic_take_no_ports(kind: str, key: str) -> None:
    refused(rf"apps_services[0] (worker).{key}", f"a {kind} takes no traffic", worker(kind=kind, **{key: 9000}))


def test_web_needs_a_host_port_in_range() -> None:
    service = web()
    del service["host_port"]
    refused(r"apps_services[0] (web).host_port", "required for a web service", service)
    refused(r"apps_services[0] (web).host_port", "between 1024 and 65535, got 80", web(host_port=80))
    refused(r"apps_services[0] (web).host_port", "runs past 65535", web(host_port=65535))


def test_gpu_service_with_a_port_needs_a_host_port() -> None:
    llm = {"name": "llm", "kind": "gpu", "image": IMAGE, "port": 8000}
    refused(r"apps_services[0] (llm).host_port", "required for a gpu service with a port", llm)
    assert one({**llm, "host_port": 9100})["host_port"] == 9100
    refused(r"apps_services[0] (llm).host_port", "only meaningful with port",
            {"name": "llm", "kind": "gpu", "image": IMAGE, "host_port": 9100})
    assert one({"name": "llm", "kind": "gpu", "image": IMAGE})["port"] is None


def test_two_services_on_one_host_port_name_both() -> None:
    text = refused(r"apps_services[1] (api).host_port", r"overlaps apps_services\[0\] \(web\)'s block 9000-9001 "
                   "at port 9000", web(), web(name="api"))
    assert "blue/green" in text


def test_blocks_grow_with_replicas() -> None:
    refused(r"apps_services[1] (api).host_port", "at port 9004",
            web(replicas=3), web(name="api", host_port=9004))
    assert len(check(web(replicas=2), web(name="api", host_port=9004))) == 2


def test_host_ports_other_roles_use_are_refused() -> None:
    refused(r"apps_services[0] (web).host_port", "includes port 5432, which another role", web(host_port=5431),
            reserved_ports=[5432, 6379])
    assert one(web(host_port=5433), reserved_ports=[5432])["host_port"] == 5433
    refused(r"reserved_ports[0]", "expected an integer", web(), reserved_ports=["ssh"])


def test_site_defaults_to_the_name_and_belongs_to_web_only() -> None:
    assert one(web(site="www"))["site"] == "www"
    assert one(worker())["site"] is None
    refused(r"apps_services[0] (worker).site", "only web services", worker(site="x"))
    refused(r"apps_services[0] (web).site", "a DNS label", web(site="-bad"))
    refused(r"apps_services[1] (api).site", "www is already the site of web",
            web(site="www"), web(name="api", site="www", host_port=9100))


# --- health ---------------------------------------------------------------------------------


def test_health_forms_and_timings() -> None:
    health = one(web(health={"http": "/healthz?full=1", "interval": 5, "deadline": "120"}))["health"]
    assert (health["type"], health["path"], health["interval"], health["deadline"]) == ("http", "/healthz?full=1",
                                                                                        5, 120)
    health = one(worker(health={"command": "celery inspect ping"}))["health"]
    assert (health["type"], health["command"], health["path"]) == ("command", ["celery", "inspect", "ping"], None)
    assert one(worker())["health"]["type"] == "none"
    assert one(worker(health={"none": True}))["health"]["type"] == "none"


@pytest.mark.parametrize(("service", "where", "message"), [
    (web(health={"none": True}), "web).health", "a web service needs a health check"),
    (web(health={"http": "up"}), "web).health.http", "a path starting with /"),
    (web(health={"http": "/up", "command": "true"}), "web).health", "not http and command"),
    (web(health={"interval": 0}), "web).health.interval", "at least 1, got 0"),
    (web(health={"start_period": -1}), "web).health.start_period", "at least 0"),
    (web(health={"retry": 3}), "web).health", "unknown key"),
    (worker(health={"http": "/up"}), "worker).health.http", "needs the service's port"),
    (worker(health={"interval": 5}), "worker).health", "interval only apply to a check"),
    (worker(health={"none": False}), "worker).health.none", "only none: true"),
    (worker(kind="job", health={"command": "true"}), "worker).health.command", "runs to completion"),
])
def test_bad_health_checks(service: dict[str, Any], where: str, message: str) -> None:
    refused(rf"apps_services[0] ({where}", re.escape(message), service)


# --- env and secrets ------------------------------------------------------------------------


def test_env_values_are_strings() -> None:
    env = one(worker(env={"DEBUG": True, "WORKERS": 4, "RATIO": 0.5, "NAME": "x", "EMPTY": ""}))["env"]
    assert env == {"DEBUG": "true", "WORKERS": "4", "RATIO": "0.5", "NAME": "x", "EMPTY": ""}


@pytest.mark.parametrize("name", PLATFORM_ENV)
def test_env_may_not_set_what_the_platform_injects(name: str) -> None:
    refused(rf"apps_services[0] (worker).env.{name}", "the platform injects this variable", worker(env={name: "x"}))


def test_bad_env_names_and_values() -> None:
    refused(r"apps_services[0] (worker).env names", "a variable name", worker(env={"1X": "y"}))
    text = refused(r"apps_services[0] (worker).env.X", "got NoneType", worker(env={"X": None}))
    refused(r"apps_services[0] (worker).env", "expected a mapping", worker(env=["X=1"]))
    assert '""' in text


def test_secrets_keep_the_vault_variable_name() -> None:
    service = one(worker(secrets={"STRIPE_KEY": "vault_stripe_key"}), defined_vars=["vault_stripe_key"])
    assert service["secrets"] == {"STRIPE_KEY": "vault_stripe_key"}
    assert one(worker(secrets={"A": "vault_a"}), defined_vars={"vault_a": "s3cret"})["secrets"] == {"A": "vault_a"}
    assert one(worker(secrets={"A": "vault_a"}))["secrets"] == {"A": "vault_a"}  # no inventory: no lookup


def test_secret_without_a_vault_entry() -> None:
    refused(r"apps_services[0] (worker).secrets.STRIPE_KEY", "names vault_stripe_key, which the inventory does not "
            "define: add it to group_vars/all/vault.yml", worker(secrets={"STRIPE_KEY": "vault_stripe_key"}),
            defined_vars=["vault_other"])


def test_a_secret_value_pasted_as_name_is_not_shown() -> None:
    text = refused(r"apps_services[0] (worker).secrets.STRIPE_KEY", "value not shown",
                   worker(secrets={"STRIPE_KEY": "sk_live_abcdef123"}))
    assert "sk_live" not in text


def test_secrets_may_not_repeat_env_or_platform_names() -> None:
    refused(r"apps_services[0] (worker).secrets", "A also set in env",
            worker(env={"A": "1"}, secrets={"A": "vault_a"}))
    refused(r"apps_services[0] (worker).secrets.DATABASE_URL", "the platform injects",
            worker(secrets={"DATABASE_URL": "vault_db"}))


# --- volumes --------------------------------------------------------------------------------


def test_volume_forms() -> None:
    volumes = one(worker(volumes=["/srv/data:/data", "cache:/cache:ro",
                                  {"source": "models", "target": "/models", "readonly": True}]))["volumes"]
    assert volumes == [
        {"source": "/srv/data", "target": "/data", "readonly": False},
        {"source": "cache", "target": "/cache", "readonly": True},
        {"source": "models", "target": "/models", "readonly": True},
    ]


@pytest.mark.parametrize(("volume", "where", "message"), [
    ("/srv:data", "[0].target", "an absolute path"),
    ("/srv", "[0]", "source:target"),
    ("/srv:/data:rx", "[0]", "source:target"),
    ("../up:/data", "[0].source", "an absolute host path or a volume name"),
    ({"source": "xy", "target": "/"}, "[0].target", "root"),
    ({"source": "xy", "target": "/d", "mode": "ro"}, "[0]", "unknown key"),
])
def test_bad_volumes(volume: Any, where: str, message: str) -> None:
    refused(rf"apps_services[0] (worker).volumes{where}", message, worker(volumes=[volume]))


def test_one_target_is_mounted_once() -> None:
    refused(r"apps_services[0] (worker).volumes[1].target", r"already mounted by .*volumes\[0\]",
            worker(volumes=["a1:/data", "b1:/data"]))


# --- resources ------------------------------------------------------------------------------


def test_gpus_default_by_kind() -> None:
    assert one(worker())["gpus"] == 0
    assert one({"name": "llm", "kind": "gpu", "image": IMAGE})["gpus"] == 1
    assert one(worker(gpus=2))["gpus"] == 2
    refused(r"apps_services[0] (llm).gpus", "at least 1, got 0", {"name": "llm", "kind": "gpu", "image": IMAGE,
                                                                  "gpus": 0})


def test_gpus_are_checked_against_the_host() -> None:
    h100 = fact_for("h100x1")
    assert one(worker(gpus=1), gpu_fact=h100)["gpus"] == 1
    refused(r"apps_services[0] (worker).gpus", r"asks for 2 GPU\(s\) per container but the host has 1 "
            r"\(NVIDIA H100", worker(gpus=2), gpu_fact=h100)
    refused(r"apps_services[0] (worker).gpus", "the host has no GPU", worker(gpus=1), gpu_fact=empty_gpu_fact())
    assert one(worker(), gpu_fact=empty_gpu_fact())["gpus"] == 0


def test_memory_and_cpus() -> None:
    service = one(worker(memory="4g", cpus="1.5"))
    assert (service["memory"], service["cpus"]) == ("4g", 1.5)
    assert one(worker(memory=1073741824))["memory"] == "1073741824"
    refused(r"apps_services[0] (worker).memory", "a size such as 512m", worker(memory="4 GB"))
    for cpus in (0, -1, "many", True):
        refused(r"apps_services[0] (worker).cpus", "greater than 0", worker(cpus=cpus))


@pytest.mark.parametrize(("kind", "grace", "stop_first"), [
    ("web", 30, False), ("worker", 600, False), ("scheduler", 10, True), ("job", 10, False), ("gpu", 60, True),
])
def test_stop_defaults_by_kind(kind: str, grace: int, stop_first: bool) -> None:
    service = one({"name": "svc", "kind": kind, "image": IMAGE, **({"host_port": 9000} if kind == "web" else {})})
    assert (service["stop_grace"], service["stop_first"]) == (grace, stop_first)


def test_stop_settings_can_be_changed_within_limits() -> None:
    assert one(worker(stop_grace=3600, stop_first="yes"))["stop_grace"] == 3600
    assert one(worker(stop_first="yes"))["stop_first"] is True
    refused(r"apps_services[0] (worker).stop_grace", "at least 1", worker(stop_grace=0))
    refused(r"apps_services[0] (worker).stop_first", "true or false", worker(stop_first="maybe"))
    refused(r"apps_services[0] (beat).stop_first", "must stop before its new release",
            {"name": "beat", "kind": "scheduler", "image": IMAGE, "stop_first": False})


def test_platform_groups() -> None:
    assert one(worker(platform=["redis", "postgres", "redis"]))["platform"] == ["redis", "postgres"]
    assert one(worker(platform=[]))["platform"] == []
    refused(r"apps_services[0] (worker).platform[1]", "expected one of postgres, redis, s3, llm, got 'mysql'",
            worker(platform=["redis", "mysql"]))
    refused(r"apps_services[0] (worker).platform", "expected a list", worker(platform="redis"))


def test_redis_db_and_keep() -> None:
    service = one(worker(redis_db=15, keep=10))
    assert (service["redis_db"], service["keep"]) == (15, 10)
    refused(r"apps_services[0] (worker).redis_db", "between 0 and 15, got 16", worker(redis_db=16))
    refused(r"apps_services[0] (worker).keep", "at least 1, got 0", worker(keep=0))


# --- before ---------------------------------------------------------------------------------


def migrate(**overrides: Any) -> dict[str, Any]:
    return {"name": "migrate", "kind": "job", "image": IMAGE, **overrides}


def test_before_names_jobs() -> None:
    services = check(web(before=["migrate"]), migrate(), migrate(name="seed", before=["migrate"]))
    assert services[0]["before"] == ["migrate"] and services[2]["before"] == ["migrate"]


@pytest.mark.parametrize(("before", "message"), [
    (["worker"], "but worker is a worker"),
    (["nothing"], "but nothing is not in apps_services"),
    (["web"], "cannot run before itself"),
    (["Bad"], "the name of a job service"),
])
def test_before_must_name_another_job(before: list[str], message: str) -> None:
    refused(r"apps_services[0] (web).before[0]", message, web(before=before), worker(), migrate())


def test_jobs_may_not_wait_on_each_other_in_a_circle() -> None:
    refused("apps_services", "in a circle: migrate -> seed -> migrate",
            migrate(before=["seed"]), migrate(name="seed", before=["migrate"]))


# --- every bad input is refused by path ----------------------------------------------------


@pytest.mark.parametrize(("services", "kwargs", "where"), [
    ([worker(kind="api")], {}, "apps_services[0] (worker).kind"),
    ([worker(image="ghcr.io/acme/app")], {}, "apps_services[0] (worker).image"),
    ([web(), web(name="api")], {}, "apps_services[1] (api).host_port"),
    ([worker(secrets={"TOKEN": "vault_token"})], {"defined_vars": []}, "apps_services[0] (worker).secrets.TOKEN"),
    ([{"name": "beat", "kind": "scheduler", "image": IMAGE, "replicas": 3}], {}, "apps_services[0] (beat).replicas"),
], ids=["unknown-kind", "untagged-image", "shared-host-port", "secret-not-in-vault", "two-schedulers"])
def test_bad_input_is_refused_naming_the_variable(services: list[dict[str, Any]], kwargs: dict[str, Any],
                                                  where: str) -> None:
    with pytest.raises(AnsibleFilterError) as info:
        apps_services_checked(services, **kwargs)
    assert str(info.value.message).startswith(f"{where}: ")


# --- connection variables -------------------------------------------------------------------


ENDPOINTS: dict[str, Any] = {
    "postgres": {"host": "10.0.0.2", "port": 5432, "database": "app", "sslmode": "require"},
    "redis": {"host": "10.0.0.2", "port": "6379", "tls": False},
    "s3": {"url": "http://10.0.0.2:9000", "region": "us-east-1", "bucket": "app"},
    "llm": {"base_url": "https://api.example.com/llm/v1", "model": "qwen2.5"},
    "ca_file": None,
}
ACCOUNTS: dict[str, Any] = {
    "postgres": {"user": "app", "password": "pg-pass"},
    "redis": {"user": "app", "password": "redis-pass", "db": 2},
    "s3": {"access_key": "AKEY", "secret_key": "SKEY"},
    "llm": {"key": "llm-key"},
}


def test_connection_env_for_every_group() -> None:
    assert apps_connection_env(ENDPOINTS, ACCOUNTS) == {
        "DATABASE_URL": "postgresql://app:pg-pass@10.0.0.2:5432/app?sslmode=require",
        "REDIS_URL": "redis://app:redis-pass@10.0.0.2:6379/2",
        "S3_ENDPOINT_URL": "http://10.0.0.2:9000",
        "AWS_ENDPOINT_URL_S3": "http://10.0.0.2:9000",
        "AWS_ACCESS_KEY_ID": "AKEY",
        "AWS_SECRET_ACCESS_KEY": "SKEY",
        "AWS_DEFAULT_REGION": "us-east-1",
        "S3_BUCKET": "app",
        "OPENAI_BASE_URL": "https://api.example.com/llm/v1",
        "OPENAI_API_KEY": "llm-key",
        "LLM_MODEL": "qwen2.5",
    }


def test_connection_env_names_are_the_platform_names() -> None:
    env = apps_connection_env({**ENDPOINTS, "ca_file": "/etc/ssl/hearth/ca-bundle.pem"}, ACCOUNTS)
    assert set(env) | {"PORT"} == set(PLATFORM_ENV)


def test_passwords_are_percent_encoded() -> None:
    accounts = {**ACCOUNTS, "postgres": {"user": "a@b", "password": "p@ss:w/rd?#%"}}
    url = apps_connection_env(ENDPOINTS, accounts, ["postgres"])["DATABASE_URL"]
    assert url == "postgresql://a%40b:p%40ss%3Aw%2Frd%3F%23%25@10.0.0.2:5432/app?sslmode=require"


def test_only_present_and_wanted_groups_are_built() -> None:
    assert set(apps_connection_env({"redis": ENDPOINTS["redis"]}, ACCOUNTS)) == {"REDIS_URL"}
    assert set(apps_connection_env(ENDPOINTS, ACCOUNTS, ["llm"])) == {"OPENAI_BASE_URL", "OPENAI_API_KEY", "LLM_MODEL"}
    assert apps_connection_env(ENDPOINTS, ACCOUNTS, []) == {}
    assert apps_connection_env({}, {}) == {}
    with pytest.raises(AnsibleFilterError, match=r"^platform\[0\]: expected one of"):
        apps_connection_env(ENDPOINTS, ACCOUNTS, ["mysql"])


def test_tls_ipv6_ca_bundle_and_default_db() -> None:
    endpoints = {
        "postgres": {"host": "fd00::2", "port": 5432, "database": "app", "sslmode": "verify-full"},
        "redis": {"host": "redis.internal", "port": 6380, "tls": "true"},
        "ca_file": "/etc/ssl/hearth/ca-bundle.pem",
    }
    accounts = {**ACCOUNTS, "redis": {"user": "app", "password": "x"}}
    env = apps_connection_env(endpoints, accounts)
    assert env["DATABASE_URL"] == ("postgresql://app:pg-pass@[fd00::2]:5432/app?sslmode=verify-full"
                                   "&sslrootcert=/etc/ssl/hearth/ca-bundle.pem")
    assert env["REDIS_URL"] == "rediss://app:x@redis.internal:6380/0"
    assert env["SSL_CERT_FILE"] == env["REQUESTS_CA_BUNDLE"] == env["AWS_CA_BUNDLE"] == endpoints["ca_file"]
    assert urlsplit(env["DATABASE_URL"]).hostname == "fd00::2"


@pytest.mark.parametrize(("group", "field"), [
    ("postgres", "user"), ("postgres", "password"), ("redis", "user"), ("redis", "password"),
    ("s3", "access_key"), ("s3", "secret_key"), ("llm", "key"),
])
def test_missing_account_fields_are_named(group: str, field: str) -> None:
    for value in (None, ""):
        accounts = {**ACCOUNTS, group: {**ACCOUNTS[group], field: value}}
        with pytest.raises(AnsibleFilterError, match=rf"^apps_accounts\.{group}\.{field}: required"):
            apps_connection_env(ENDPOINTS, accounts)
    with pytest.raises(AnsibleFilterError, match=rf"^apps_accounts\.{group}\.[a-z_]+: required"):
        apps_connection_env({group: ENDPOINTS[group]}, {})


def test_credentials_never_appear_in_errors() -> None:
    accounts = {**ACCOUNTS, "postgres": {"user": "app", "password": "hunter2-secret"}}
    with pytest.raises(AnsibleFilterError) as info:
        apps_connection_env({**ENDPOINTS, "postgres": {**ENDPOINTS["postgres"], "port": "x"}}, accounts)
    assert "apps_endpoints.postgres.port" in str(info.value) and "hunter2" not in str(info.value)


@pytest.mark.parametrize(("endpoints", "where"), [
    ({"postgres": {"host": "db", "port": 5432, "database": "app", "sslmode": "on"}}, "apps_endpoints.postgres.sslmode"),
    ({"postgres": {"host": "db", "port": 5432}}, "apps_endpoints.postgres.database"),
    ({"redis": {"host": "a b", "port": 6379}}, "apps_endpoints.redis.host"),
    ({"s3": {"url": "10.0.0.2:9000", "region": "r", "bucket": "b"}}, "apps_endpoints.s3.url"),
    ({"llm": {"base_url": "https://x/v1"}}, "apps_endpoints.llm.model"),
    ({"ca_file": "ca.pem"}, "apps_endpoints.ca_file"),
])
def test_bad_endpoints_are_named(endpoints: dict[str, Any], where: str) -> None:
    with pytest.raises(AnsibleFilterError, match=rf"^{re.escape(where)}: "):
        apps_connection_env(endpoints, ACCOUNTS)


@given(user=st.text(min_size=1), password=st.text(min_size=1), database=st.text(min_size=1))
def test_credentials_round_trip_through_a_url_parser(user: str, password: str, database: str) -> None:
    endpoints = {"postgres": {**ENDPOINTS["postgres"], "database": database}, "redis": ENDPOINTS["redis"]}
    accounts = {"postgres": {"user": user, "password": password}, "redis": {"user": user, "password": password}}
    env = apps_connection_env(endpoints, accounts)
    for name in ("DATABASE_URL", "REDIS_URL"):
        parts = urlsplit(env[name])
        assert unquote(parts.username or "") == user
        assert unquote(parts.password or "") == password
        assert parts.hostname == "10.0.0.2"
    parts = urlsplit(env["DATABASE_URL"])
    assert unquote(parts.path[1:]) == database
    assert parse_qs(parts.query) == {"sslmode": ["require"]}


# --- GPUs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("machine", "count", "cdi", "runtime"), [
    ("h100x1", 1, ["--device", "nvidia.com/gpu=0"], ["--runtime", "nvidia", "--gpus", '"device=0"']),
    ("h100x8", 8, [arg for i in range(8) for arg in ("--device", f"nvidia.com/gpu={i}")],
     ["--runtime", "nvidia", "--gpus", '"device=0,1,2,3,4,5,6,7"']),
])
def test_device_args_for_recorded_hosts(machine: str, count: int, cdi: list[str], runtime: list[str]) -> None:
    fact = fact_for(machine)
    assert apps_gpu_device_args(count, fact, "cdi") == cdi
    assert apps_gpu_device_args(count, fact, "auto", 0, True) == cdi
    assert apps_gpu_device_args(count, fact, "runtime", 0, True) == runtime
    assert apps_gpu_device_args(count, fact, "auto", 0, False) == runtime


def test_device_args_from_a_first_index() -> None:
    fact = fact_for("h100x8")
    assert apps_gpu_device_args(2, fact, "cdi", 6) == ["--device", "nvidia.com/gpu=6", "--device", "nvidia.com/gpu=7"]
    assert apps_gpu_device_args(2, fact, "runtime", 4) == ["--runtime", "nvidia", "--gpus", '"device=4,5"']


def test_no_gpus_needs_no_arguments_and_no_gpu() -> None:
    assert apps_gpu_device_args(0, None) == []
    assert apps_gpu_device_args(0, empty_gpu_fact(), "runtime") == []


def test_mig_gpus_are_refused_whole() -> None:
    fact = fact_for("a100-80x8-mig")
    with pytest.raises(AnsibleFilterError, match=r"^gpus: GPU\(s\) 0, 1 are in MIG mode: whole-GPU assignment is "
                                                 "refused; MIG devices must be named"):
        apps_gpu_device_args(2, fact, "cdi")
    assert apps_gpu_device_args(1, fact, "cdi", 2) == ["--device", "nvidia.com/gpu=2"]


def test_asking_beyond_the_host() -> None:
    with pytest.raises(AnsibleFilterError, match=r"asks for GPU\(s\) 0-1 but the host has 1 \(NVIDIA H100"):
        apps_gpu_device_args(2, fact_for("h100x1"), "cdi")
    with pytest.raises(AnsibleFilterError, match=r"^apps_services\[0\] \(llm\)\.gpus: asks for GPU\(s\) 7-8 .*0-7"):
        apps_gpu_device_args(2, fact_for("h100x8"), "runtime", 7, where="apps_services[0] (llm).gpus")
    for fact in (None, empty_gpu_fact()):
        with pytest.raises(AnsibleFilterError, match="the host has no GPU"):
            apps_gpu_device_args(1, fact)


def test_gpu_mode_is_checked() -> None:
    with pytest.raises(AnsibleFilterError, match=r"^apps_gpu_mode: expected one of auto, cdi, runtime"):
        apps_gpu_device_args(1, fact_for("h100x1"), "docker")


def gpu(name: str, gpus: int, replicas: int = 1) -> dict[str, Any]:
    return {"name": name, "kind": "gpu", "image": IMAGE, "gpus": gpus, "replicas": replicas}


def test_gpu_plan_gives_disjoint_ranges_in_order() -> None:
    services = check(worker(), gpu("llm", 4), gpu("embed", 1, replicas=2), gpu("rerank", 1))
    assert apps_gpu_plan(services, fact_for("h100x8")) == {"llm": 0, "embed": 4, "rerank": 6}
    assert apps_gpu_plan(check(worker()), None) == {}


def test_gpu_plan_refuses_more_than_the_host_has() -> None:
    services = check(gpu("llm", 8), gpu("embed", 1, replicas=2))
    with pytest.raises(AnsibleFilterError, match=r"^apps_services: the GPU services need 10 GPUs \(llm 8, embed 1 x 2 "
                                                 r"replicas\) but the host has 8"):
        apps_gpu_plan(services, fact_for("h100x8"))
    with pytest.raises(AnsibleFilterError, match="need 1 GPUs .* the host has no GPU"):
        apps_gpu_plan(check(gpu("llm", 1)), empty_gpu_fact())


def test_gpu_plan_skips_mig_gpus() -> None:
    fact = fact_for("a100-80x8-mig")
    plan = apps_gpu_plan(check(gpu("llm", 4), gpu("embed", 2)), fact)
    assert plan == {"llm": 2, "embed": 6}
    assert apps_gpu_device_args(4, fact, "cdi", plan["llm"])[-1] == "nvidia.com/gpu=5"
    with pytest.raises(AnsibleFilterError, match="has 6 whole GPU.* and 2 in MIG mode"):
        apps_gpu_plan(check(gpu("llm", 7)), fact)


def test_filters_are_registered() -> None:
    assert set(FilterModule().filters()) == {
        "apps_services_checked", "apps_connection_env", "apps_gpu_device_args", "apps_gpu_plan"}
    assert PLATFORM_GROUPS == ("postgres", "redis", "s3", "llm")
