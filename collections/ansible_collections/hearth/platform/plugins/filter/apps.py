"""Filters for the apps role: check the team's service list and build what each container gets.

Users declare their containers in ``apps_services``, one list per environment. The role runs
:func:`apps_services_checked` before it touches any host, so a typo fails with the path of the
bad value (``apps_services[1] (web).image``) and what was expected, instead of with a half
deployed release. The other filters turn checked services into container settings:

* :func:`apps_connection_env` builds the connection variables the platform injects (database,
  Redis, S3, LLM) with every credential percent-encoded into its URL;
* :func:`apps_gpu_plan` gives each GPU service its own range of GPUs on the host;
* :func:`apps_gpu_device_args` turns one such range into ``docker run`` arguments, for CDI or
  for the NVIDIA container runtime.

Secrets stay in the vault: services name the vault variable (``vault_<name>``) that holds a
secret, and checked services carry that name, never the value, so they can be shown in diffs
and error messages.
"""
from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import KeysView, Mapping
from typing import Any
from urllib.parse import quote

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.hearth.platform.plugins.module_utils.image_ref import DIGEST_RE, split_reference

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
SITE_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
VAULT_NAME_RE = re.compile(r"^vault_[a-z0-9_]+$")
VOLUME_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
ABSOLUTE_PATH_RE = re.compile(r"^/[^\s:,]*$")
HTTP_PATH_RE = re.compile(r"^/[^\s]*$")
MEMORY_RE = re.compile(r"^\d+(\.\d+)?[bkmgBKMG]?$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# One path component of an image name (the OCI distribution grammar: lowercase, separators inside).
IMAGE_COMPONENT_RE = re.compile(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$")
REGISTRY_RE = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*"
                         r"|\[[0-9A-Fa-f:]+\])(:[0-9]{1,5})?$")
HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
URL_RE = re.compile(r"^https?://[^\s/?#]+(/[^\s]*)?$")

KINDS = ("web", "worker", "scheduler", "job", "gpu")
PLATFORM_GROUPS = ("postgres", "redis", "s3", "llm")
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
GPU_MODES = ("auto", "cdi", "runtime")

# Variables the platform sets in every container (apps_connection_env, and PORT for the
# container port): a service may not set them itself, or it would silently point elsewhere.
PLATFORM_ENV = (
    "DATABASE_URL",
    "REDIS_URL",
    "S3_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "S3_BUCKET",
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY",
    "LLM_MODEL",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "AWS_CA_BUNDLE",
    "PORT",
)

SERVICE_KEYS = frozenset({
    "name", "kind", "image", "command", "replicas", "port", "host_port", "site", "health", "env",
    "secrets", "volumes", "gpus", "memory", "cpus", "stop_grace", "stop_first", "platform",
    "redis_db", "keep", "before",
})
HEALTH_KEYS = frozenset({"http", "command", "none", "interval", "timeout", "retries", "start_period", "deadline"})
HEALTH_TYPES = ("http", "command", "none")
VOLUME_KEYS = frozenset({"source", "target", "readonly"})

# Seconds a container gets between SIGTERM and SIGKILL. A worker finishes its current task
# (Celery's warm shutdown), so it gets as long as the longest task; a GPU server frees its memory.
STOP_GRACE = {"web": 30, "worker": 600, "scheduler": 10, "job": 10, "gpu": 60}
# Stop the old container before the new one starts: a second scheduler would fire every beat
# twice, and a second GPU server would not fit next to the first in GPU memory.
STOP_FIRST = {"web": False, "worker": False, "scheduler": True, "job": False, "gpu": True}
# Seconds; (default, lowest allowed).
HEALTH_TIMINGS = {
    "interval": (1, 1),
    "timeout": (2, 1),
    "retries": (3, 1),
    "start_period": (0, 0),
    "deadline": (60, 1),
}
WEB_PORT = 8000
WEB_HEALTH_PATH = "/up"
KEEP = 3
PORTS_PER_REPLICA = 2  # blue and green: the new release starts beside the old one


def _err(where: str, message: str) -> AnsibleFilterError:
    return AnsibleFilterError(f"{where}: {message}")


def _mapping(where: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _err(where, f"expected a mapping, got {type(value).__name__}")
    return value


def _list(where: str, value: Any) -> list[Any]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple)):
        raise _err(where, f"expected a list, got {type(value).__name__}")
    return list(value)


def _unknown_keys(where: str, value: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(str(key) for key in set(value) - allowed)
    if unknown:
        raise _err(where, f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _match(where: str, value: Any, pattern: re.Pattern[str], shape: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise _err(where, f"expected {shape}, got {value!r}")
    return value


def _int(where: str, value: Any, low: int, high: int | None = None) -> int:
    """An integer in [low, high]; digit strings count (templated values arrive as text)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise _err(where, f"expected an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise _err(where, f"expected an integer {bounds}, got {value}")
    return value


def _bool(where: str, value: Any) -> bool:
    try:
        return boolean(value, strict=True)
    except TypeError:
        raise _err(where, f"expected true or false, got {value!r}") from None


def _argv(where: str, value: Any) -> list[str]:
    """A command as an argument list: a string is split like a shell would, without running one."""
    if isinstance(value, str):
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise _err(where, f"cannot split {value!r} into arguments: {exc}") from None
    else:
        words = []
        for index, word in enumerate(_list(where, value)):
            if isinstance(word, bool) or not isinstance(word, (str, int, float)):
                raise _err(f"{where}[{index}]", f"expected a string, got {type(word).__name__}")
            words.append(str(word))
    if not words:
        raise _err(where, "expected a non-empty command (a list of arguments or a string)")
    return words


def _names(value: Any) -> set[str] | None:
    """The defined variable names, from a list of names or a mapping of variables (its keys)."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return {str(key) for key in value.keys()}
    if isinstance(value, (set, frozenset, KeysView)):
        return {str(name) for name in value}
    return {str(name) for name in _list("defined variables", value)}


def _image(where: str, value: Any) -> dict[str, str | None]:
    """Split an image reference into repo, tag and digest; it must pin a tag or a digest.

    An image without either pulls whatever ``latest`` is on the day of the deploy, so two hosts
    (or a rollback) could run different code under one release.
    """
    shape = "an image reference such as ghcr.io/org/app:1.2.3"
    if not isinstance(value, str) or not value or any(ch.isspace() for ch in value):
        raise _err(where, f"expected {shape}, got {value!r}")
    registry, path, name_tag, tag, digest = split_reference(value)
    if digest and not DIGEST_RE.match(digest):
        raise _err(where, f"expected a digest of the form sha256:<64 lowercase hex digits>, got {digest!r}")
    if tag is not None and not TAG_RE.match(tag):
        raise _err(where, f"expected a tag of letters, digits, _ . and - (at most 128), got {tag!r}")
    if registry is not None and not REGISTRY_RE.match(registry):
        raise _err(where, f"expected a registry host (and :port) before the first /, got {registry!r}")
    if not all(IMAGE_COMPONENT_RE.match(part) for part in path.split("/")):
        raise _err(where, f"expected {shape} (lowercase name parts separated by /), got {value!r}")
    if tag is None and not digest:
        raise _err(where, f"{value!r} must name a tag or a digest (ghcr.io/org/app:1.2.3 or …@sha256:…)")
    return {"image": value, "image_repo": name_tag, "image_tag": tag, "image_digest": digest or None}


def _health(where: str, value: Any, kind: str, has_port: bool) -> dict[str, Any]:
    """Normalise a health check to {type, path, command, interval, ... deadline}.

    A web service must have one: a new release only takes traffic once it answers healthy.
    """
    mapping = _mapping(where, {} if value is None else value)
    _unknown_keys(where, mapping, HEALTH_KEYS)
    given = [key for key in HEALTH_TYPES if key in mapping]
    if len(given) > 1:
        raise _err(where, f"give one of http, command or none, not {' and '.join(given)}")
    check = given[0] if given else ("http" if kind == "web" else "none")
    result: dict[str, Any] = {"type": check, "path": None, "command": None}
    if check == "http":
        if not has_port:
            raise _err(f"{where}.http", "an http check needs the service's port; use command for this kind")
        result["path"] = _match(f"{where}.http", mapping.get("http", WEB_HEALTH_PATH), HTTP_PATH_RE,
                                "a path starting with /, such as /up")
    elif check == "command":
        if kind == "job":
            raise _err(f"{where}.command", "a job runs to completion and has no health check")
        result["command"] = _argv(f"{where}.command", mapping["command"])
    else:
        if "none" in mapping and _bool(f"{where}.none", mapping["none"]) is not True:
            raise _err(f"{where}.none", "only none: true is meaningful; give http or command for a check")
        if kind == "web":
            raise _err(where, "a web service needs a health check: a release only takes traffic once it "
                              f"answers healthy (default http: {WEB_HEALTH_PATH})")
        timed = sorted(key for key in HEALTH_TIMINGS if key in mapping)
        if timed:
            raise _err(where, f"{', '.join(timed)} only apply to a check; add http: /path or command: ...")
    for key, (default, low) in HEALTH_TIMINGS.items():
        result[key] = _int(f"{where}.{key}", mapping[key], low) if key in mapping else default
    return result


def _env(where: str, value: Any) -> dict[str, str]:
    """Plain environment variables; values are not shown in errors (some teams put tokens here)."""
    result: dict[str, str] = {}
    for name, val in _mapping(where, {} if value is None else value).items():
        _match(f"{where} names", name, ENV_NAME_RE, "a variable name of letters, digits and _")
        if name in PLATFORM_ENV:
            raise _err(f"{where}.{name}", "the platform injects this variable; remove it from env "
                                          "(choose the connections with platform: [...])")
        if isinstance(val, bool):
            result[name] = "true" if val else "false"
        elif isinstance(val, (str, int, float)):
            result[name] = str(val)
        else:
            raise _err(f"{where}.{name}", f"expected a string, number or boolean (use \"\" for empty), "
                                          f"got {type(val).__name__}")
    return result


def _secrets(where: str, value: Any, defined: set[str] | None) -> dict[str, str]:
    """Map variable names to vault variable NAMES; the values stay in the vault until the host."""
    result: dict[str, str] = {}
    for name, var in _mapping(where, {} if value is None else value).items():
        _match(f"{where} names", name, ENV_NAME_RE, "a variable name of letters, digits and _")
        if name in PLATFORM_ENV:
            raise _err(f"{where}.{name}", "the platform injects this variable; remove it from secrets")
        if not isinstance(var, str) or not VAULT_NAME_RE.match(var):
            # The value may be the secret itself, pasted in by mistake: it is never shown.
            raise _err(f"{where}.{name}", "expected the name of a vault variable (vault_<name>) "
                                          "(value not shown)")
        if defined is not None and var not in defined:
            raise _err(f"{where}.{name}", f"names {var}, which the inventory does not define: add it to "
                                          "group_vars/all/vault.yml")
        result[name] = var
    return result


def _path_or_volume(where: str, value: Any) -> str:
    if isinstance(value, str) and value.startswith("/"):
        return _match(where, value, ABSOLUTE_PATH_RE, "an absolute path without spaces, : or ,")
    return _match(where, value, VOLUME_NAME_RE, "an absolute host path or a volume name (letters, digits, _ . -)")


def _volumes(where: str, value: Any) -> list[dict[str, Any]]:
    """Mounts as [{source, target, readonly}], from "source:target[:ro]" or mappings."""
    result: list[dict[str, Any]] = []
    targets: dict[str, int] = {}
    for index, entry in enumerate(_list(where, [] if value is None else value)):
        here = f"{where}[{index}]"
        if isinstance(entry, str):
            parts = entry.split(":")
            if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
                raise _err(here, f"expected source:target or source:target:ro, got {entry!r}")
            mount = {"source": parts[0], "target": parts[1], "readonly": parts[2:] == ["ro"]}
        else:
            mapping = _mapping(here, entry)
            _unknown_keys(here, mapping, VOLUME_KEYS)
            mount = {"source": mapping.get("source"), "target": mapping.get("target"),
                     "readonly": _bool(f"{here}.readonly", mapping.get("readonly", False))}
        _path_or_volume(f"{here}.source", mount["source"])
        target = _match(f"{here}.target", mount["target"], ABSOLUTE_PATH_RE,
                        "an absolute path in the container without spaces, : or ,")
        if target == "/":
            raise _err(f"{here}.target", "cannot mount over the container's root")
        if target in targets:
            raise _err(f"{here}.target", f"{target} is already mounted by {where}[{targets[target]}]")
        targets[target] = index
        result.append(mount)
    return result


def _platform(where: str, value: Any) -> list[str]:
    result: list[str] = []
    for index, group in enumerate(_list(where, value)):
        if group not in PLATFORM_GROUPS:
            raise _err(f"{where}[{index}]", f"expected one of {', '.join(PLATFORM_GROUPS)}, got {group!r}")
        if group not in result:
            result.append(group)
    return result


def _gpu_fact(where: str, value: Any) -> Mapping[str, Any] | None:
    if value is None:
        return None
    fact = _mapping(where, value)
    if not isinstance(fact.get("present", False), bool):
        raise _err(where, "expected the hearth_gpu fact (nvidia_gpu_fact): present must be true or false")
    return fact


def _gpu_count(fact: Mapping[str, Any] | None) -> int:
    if not fact or not fact.get("present"):
        return 0
    return _int("hearth_gpu.count", fact.get("count", 0), 0)


def _host_gpus(fact: Mapping[str, Any] | None) -> str:
    """The host's GPUs in words, for error messages."""
    count = _gpu_count(fact)
    if not count:
        return "the host has no GPU (hearth_gpu.present is false)"
    model = f" ({fact.get('model')})" if fact and fact.get("model") else ""
    return f"the host has {count}{model}"


def _mig_gpus(fact: Mapping[str, Any] | None) -> set[int]:
    mig = (fact or {}).get("mig") or {}
    return {int(index) for index in mig.get("gpus") or []} if mig.get("enabled") else set()


def _span(first: int, count: int) -> str:
    return str(first) if count == 1 else f"{first}-{first + count - 1}"


def _service(index: int, item: Any, defined: set[str] | None, fact: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check one service and fill in every default; cross-service rules are left to the caller."""
    item = _mapping(f"apps_services[{index}]", item)
    raw_name = item.get("name")
    label = f"apps_services[{index}]" + (f" ({raw_name})" if isinstance(raw_name, str) and raw_name else "")
    _unknown_keys(label, item, SERVICE_KEYS)
    name = _match(f"apps_services[{index}].name", raw_name, NAME_RE,
                  "a name of lowercase letters, digits and - (starting with a letter, at most 31)")
    where = f"apps_services[{index}] ({name})"
    kind = item.get("kind")
    if kind not in KINDS:
        raise _err(f"{where}.kind", f"expected one of {', '.join(KINDS)}, got {kind!r}")
    if "image" not in item:
        raise _err(f"{where}.image", "required: the image to run, such as ghcr.io/org/app:1.2.3")
    service: dict[str, Any] = {"name": name, "kind": kind, **_image(f"{where}.image", item["image"])}
    service["command"] = _argv(f"{where}.command", item["command"]) if item.get("command") is not None else None

    replicas = _int(f"{where}.replicas", item.get("replicas", 1), 1)
    if kind == "scheduler" and replicas > 1:
        raise _err(f"{where}.replicas", f"a scheduler runs exactly once per environment (one host, one "
                                        f"container), or every timed task fires {replicas} times; got {replicas}")
    if kind == "job" and replicas != 1:
        raise _err(f"{where}.replicas", f"a job runs once per deploy; expected 1, got {replicas}")
    service["replicas"] = replicas

    if kind in ("worker", "scheduler", "job"):
        for key in ("port", "host_port"):
            if key in item:
                raise _err(f"{where}.{key}", f"a {kind} takes no traffic; ports are for web and gpu services")
    port = item.get("port", WEB_PORT if kind == "web" else None)
    service["port"] = _int(f"{where}.port", port, 1, 65535) if port is not None else None
    if service["port"] is not None:
        if "host_port" not in item:
            raise _err(f"{where}.host_port", f"required for a {kind} service with a port: the first of "
                                             f"{PORTS_PER_REPLICA} host ports per replica (blue/green)")
        host_port = _int(f"{where}.host_port", item["host_port"], 1024, 65535)
        last = host_port + PORTS_PER_REPLICA * replicas - 1
        if last > 65535:
            raise _err(f"{where}.host_port", f"the block {host_port}-{last} ({PORTS_PER_REPLICA} ports per "
                                             "replica) runs past 65535")
        service["host_port"] = host_port
    elif "host_port" in item:
        raise _err(f"{where}.host_port", "only meaningful with port (the container port it forwards to)")
    else:
        service["host_port"] = None

    if kind == "web":
        service["site"] = _match(f"{where}.site", item.get("site", name), SITE_RE,
                                 "a DNS label of lowercase letters, digits and - (the Caddy subdomain)")
    elif "site" in item:
        raise _err(f"{where}.site", "only web services get a Caddy site")
    else:
        service["site"] = None

    service["health"] = _health(f"{where}.health", item.get("health"), kind, service["port"] is not None)
    service["env"] = _env(f"{where}.env", item.get("env"))
    service["secrets"] = _secrets(f"{where}.secrets", item.get("secrets"), defined)
    both = sorted(set(service["env"]) & set(service["secrets"]))
    if both:
        raise _err(f"{where}.secrets", f"{', '.join(both)} also set in env; give each variable once")
    service["volumes"] = _volumes(f"{where}.volumes", item.get("volumes"))

    gpus = _int(f"{where}.gpus", item.get("gpus", 1 if kind == "gpu" else 0), 1 if kind == "gpu" else 0)
    if gpus and fact is not None and _gpu_count(fact) < gpus:
        raise _err(f"{where}.gpus", f"asks for {gpus} GPU(s) per container but {_host_gpus(fact)}")
    service["gpus"] = gpus

    memory = item.get("memory")
    service["memory"] = None if memory is None else _match(
        f"{where}.memory", str(memory), MEMORY_RE, "a size such as 512m or 4g")
    cpus = item.get("cpus")
    if cpus is not None:
        try:
            cpus = float(cpus) if not isinstance(cpus, bool) else None
        except (TypeError, ValueError):
            cpus = None
        if cpus is None or not cpus > 0:
            raise _err(f"{where}.cpus", f"expected a number of CPUs greater than 0, got {item['cpus']!r}")
    service["cpus"] = cpus

    service["stop_grace"] = _int(f"{where}.stop_grace", item.get("stop_grace", STOP_GRACE[kind]), 1)
    stop_first = _bool(f"{where}.stop_first", item.get("stop_first", STOP_FIRST[kind]))
    if kind == "scheduler" and not stop_first:
        raise _err(f"{where}.stop_first", "a scheduler must stop before its new release starts, or both "
                                          "fire the same timed tasks")
    service["stop_first"] = stop_first
    service["platform"] = _platform(f"{where}.platform", item.get("platform", list(PLATFORM_GROUPS)))
    service["redis_db"] = _int(f"{where}.redis_db", item.get("redis_db", 0), 0, 15)
    service["keep"] = _int(f"{where}.keep", item.get("keep", KEEP), 1)
    before = _list(f"{where}.before", item.get("before") or [])
    for position, job in enumerate(before):
        _match(f"{where}.before[{position}]", job, NAME_RE, "the name of a job service")
    service["before"] = list(dict.fromkeys(before))
    return service


def _check_before(services: list[dict[str, Any]]) -> None:
    """Each ``before`` names a job of the list, and jobs do not wait on each other in a circle."""
    kinds = {service["name"]: service["kind"] for service in services}
    waits = {service["name"]: service["before"] for service in services}
    for index, service in enumerate(services):
        where = f"apps_services[{index}] ({service['name']}).before"
        for position, job in enumerate(service["before"]):
            if job == service["name"]:
                raise _err(f"{where}[{position}]", "a service cannot run before itself")
            if kinds.get(job) != "job":
                found = f"is a {kinds[job]}" if job in kinds else "is not in apps_services"
                raise _err(f"{where}[{position}]", f"expected the name of a job service, but {job} {found}")
    done: set[str] = set()

    def circle_from(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return path[path.index(name):] + [name]
        if name in done:
            return None
        for job in waits.get(name, []):
            circle = circle_from(job, path + [name])
            if circle:
                return circle
        done.add(name)
        return None

    for name in waits:
        circle = circle_from(name, [])
        if circle:
            raise _err("apps_services", f"jobs wait on each other in a circle: {' -> '.join(circle)}")


def _ports(where: str, value: Any) -> list[int]:
    return [_int(f"{where}[{i}]", port, 1, 65535) for i, port in enumerate(_list(where, value or []))]


def _check_host_ports(services: list[dict[str, Any]], reserved: list[int]) -> None:
    """Host port blocks must not overlap each other or the ports other roles use on the host."""
    blocks = []
    for index, service in enumerate(services):
        if service["host_port"] is None:
            continue
        first = service["host_port"]
        last = first + PORTS_PER_REPLICA * service["replicas"] - 1
        where = f"apps_services[{index}] ({service['name']})"
        for port in reserved:
            if first <= port <= last:
                raise _err(f"{where}.host_port", f"the block {first}-{last} ({PORTS_PER_REPLICA} per replica, "
                                                 f"blue/green) includes port {port}, which another role on the "
                                                 "host uses")
        for other_where, other_first, other_last in blocks:
            if first <= other_last and other_first <= last:
                raise _err(f"{where}.host_port", f"the block {first}-{last} overlaps {other_where}'s block "
                                                 f"{other_first}-{other_last} at port {max(first, other_first)}"
                                                 f" (each service reserves {PORTS_PER_REPLICA} host ports per "
                                                 "replica for blue/green slots)")
        blocks.append((where, first, last))


def apps_services_checked(
    services: Any, defined_vars: Any = None, gpu_fact: Any = None, reserved_ports: Any = None
) -> list[dict[str, Any]]:
    """Check ``apps_services`` and return it normalised: every key present, every default filled.

    defined_vars: the variable names the host has (a list, or a mapping such as hostvars), to
    check that each secret names a vault variable that exists; None skips that check.
    gpu_fact: the host's ``hearth_gpu``, to check GPU requests against; None skips that check.
    reserved_ports: host ports other roles use (Postgres, Redis, ...), which no block may cover.
    """
    if services in (None, ""):
        return []
    items = _list("apps_services", services)
    defined = _names(defined_vars)
    fact = _gpu_fact("hearth_gpu", gpu_fact)
    reserved = _ports("reserved_ports", reserved_ports)
    result: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    sites: dict[str, str] = {}
    for index, item in enumerate(items):
        service = _service(index, item, defined, fact)
        name = service["name"]
        if name in seen:
            raise _err(f"apps_services[{index}] ({name}).name", f"{name} is already the name of "
                                                                f"apps_services[{seen[name]}]")
        seen[name] = index
        if service["site"] is not None:
            if service["site"] in sites:
                raise _err(f"apps_services[{index}] ({name}).site", f"{service['site']} is already the site "
                                                                    f"of {sites[service['site']]}")
            sites[service["site"]] = name
        result.append(service)
    _check_before(result)
    _check_host_ports(result, reserved)
    return result


def _text(where: str, value: Any, pattern: re.Pattern[str] | None = None, shape: str = "") -> str:
    """A required, non-empty string field (numbers count: ports and passwords may look like them)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or str(value) == "":
        raise _err(where, "required (missing or empty)")
    text = str(value)
    if pattern is not None and not pattern.match(text):
        raise _err(where, f"expected {shape}, got {text!r}")
    return text


def _secret(where: str, value: Any) -> str:
    """A required credential; never shown in an error."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or str(value) == "":
        raise _err(where, "required (missing or empty)")
    return str(value)


def _netloc(user: str, password: str, host: str, port: int) -> str:
    """user:password@host:port with the credentials percent-encoded and IPv6 hosts bracketed."""
    try:
        host = f"[{ipaddress.IPv6Address(host)}]"
    except ValueError:
        pass
    return f"{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}"


def _host(where: str, value: Any) -> str:
    text = _text(where, value)
    try:
        ipaddress.ip_address(text)
        return text
    except ValueError:
        return _match(where, text, HOST_RE, "a host name or IP address")


def _endpoint(endpoints: Mapping[str, Any], group: str) -> Mapping[str, Any] | None:
    value = endpoints.get(group)
    return None if value is None else _mapping(f"apps_endpoints.{group}", value)


def _account(accounts: Mapping[str, Any], group: str) -> Mapping[str, Any]:
    value = accounts.get(group)
    return {} if value is None else _mapping(f"apps_accounts.{group}", value)


def apps_connection_env(endpoints: Any, accounts: Any, wanted: Any = None) -> dict[str, str]:
    """The connection variables a container gets, as {NAME: value}.

    endpoints: {postgres: {host, port, database, sslmode}, redis: {host, port, tls},
    s3: {url, region, bucket}, llm: {base_url, model}, ca_file}; a group that is absent or None
    is not offered here and gets no variables. accounts: the service's credentials
    {postgres: {user, password}, redis: {user, password, db}, s3: {access_key, secret_key},
    llm: {key}}. wanted: the groups the service asked for (its ``platform``); None means all.

    Credentials are percent-encoded, so a password holding @ : / ? # or % still parses back to
    itself. ca_file (the path of the CA bundle inside the container) becomes SSL_CERT_FILE and
    friends, which replace the default trust store: it must hold the public roots as well as
    the platform's CA.
    """
    endpoints = _mapping("apps_endpoints", endpoints or {})
    accounts = _mapping("apps_accounts", accounts or {})
    groups = list(PLATFORM_GROUPS) if wanted is None else _platform("platform", wanted)
    env: dict[str, str] = {}
    ca_file = endpoints.get("ca_file")
    if ca_file is not None:
        ca_file = _match("apps_endpoints.ca_file", ca_file, ABSOLUTE_PATH_RE, "an absolute path in the container")

    postgres = _endpoint(endpoints, "postgres") if "postgres" in groups else None
    if postgres is not None:
        account = _account(accounts, "postgres")
        where = "apps_endpoints.postgres"
        sslmode = postgres.get("sslmode")
        query = ""
        if sslmode is not None:
            if sslmode not in SSLMODES:
                raise _err(f"{where}.sslmode", f"expected one of {', '.join(SSLMODES)}, got {sslmode!r}")
            query = f"?sslmode={sslmode}"
            if ca_file and sslmode in ("verify-ca", "verify-full"):
                query += f"&sslrootcert={quote(ca_file, safe='/')}"
        netloc = _netloc(_secret("apps_accounts.postgres.user", account.get("user")),
                         _secret("apps_accounts.postgres.password", account.get("password")),
                         _host(f"{where}.host", postgres.get("host")),
                         _int(f"{where}.port", postgres.get("port"), 1, 65535))
        database = quote(_text(f"{where}.database", postgres.get("database")), safe="")
        env["DATABASE_URL"] = f"postgresql://{netloc}/{database}{query}"

    redis = _endpoint(endpoints, "redis") if "redis" in groups else None
    if redis is not None:
        account = _account(accounts, "redis")
        where = "apps_endpoints.redis"
        scheme = "rediss" if _bool(f"{where}.tls", redis.get("tls", False)) else "redis"
        netloc = _netloc(_secret("apps_accounts.redis.user", account.get("user")),
                         _secret("apps_accounts.redis.password", account.get("password")),
                         _host(f"{where}.host", redis.get("host")),
                         _int(f"{where}.port", redis.get("port"), 1, 65535))
        database = _int("apps_accounts.redis.db", account.get("db", 0), 0, 15)
        env["REDIS_URL"] = f"{scheme}://{netloc}/{database}"

    s3 = _endpoint(endpoints, "s3") if "s3" in groups else None
    if s3 is not None:
        account = _account(accounts, "s3")
        where = "apps_endpoints.s3"
        url = _text(f"{where}.url", s3.get("url"), URL_RE, "an http(s):// URL")
        env["S3_ENDPOINT_URL"] = url
        env["AWS_ENDPOINT_URL_S3"] = url
        env["AWS_ACCESS_KEY_ID"] = _secret("apps_accounts.s3.access_key", account.get("access_key"))
        env["AWS_SECRET_ACCESS_KEY"] = _secret("apps_accounts.s3.secret_key", account.get("secret_key"))
        env["AWS_DEFAULT_REGION"] = _text(f"{where}.region", s3.get("region"))
        env["S3_BUCKET"] = _text(f"{where}.bucket", s3.get("bucket"))

    llm = _endpoint(endpoints, "llm") if "llm" in groups else None
    if llm is not None:
        account = _account(accounts, "llm")
        where = "apps_endpoints.llm"
        env["OPENAI_BASE_URL"] = _text(f"{where}.base_url", llm.get("base_url"), URL_RE, "an http(s):// URL")
        env["OPENAI_API_KEY"] = _secret("apps_accounts.llm.key", account.get("key"))
        env["LLM_MODEL"] = _text(f"{where}.model", llm.get("model"))

    if ca_file:
        for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "AWS_CA_BUNDLE"):
            env[name] = ca_file
    return env


def apps_gpu_device_args(
    count: Any, gpu_fact: Any, mode: Any = "auto", first_index: Any = 0, cdi_available: Any = False,
    where: str = "gpus",
) -> list[str]:
    """``docker run`` arguments giving a container GPUs first_index .. first_index + count - 1.

    mode: cdi (``--device nvidia.com/gpu=N``, the container toolkit's CDI specs), runtime
    (``--runtime nvidia --gpus "device=..."``) or auto (CDI when the host has its specs).
    Whole GPUs only: a GPU in MIG mode is refused, since only its MIG devices can be handed out.
    where: the variable path to name in errors.
    """
    count = _int(where, count, 0)
    first = _int("first_index", first_index, 0)
    if mode not in GPU_MODES:
        raise _err("apps_gpu_mode", f"expected one of {', '.join(GPU_MODES)}, got {mode!r}")
    if count == 0:
        return []
    fact = _gpu_fact("hearth_gpu", gpu_fact)
    available = _gpu_count(fact)
    if not available:
        raise _err(where, f"asks for {count} GPU(s) but {_host_gpus(fact)}")
    indexes = list(range(first, first + count))
    if indexes[-1] >= available:
        raise _err(where, f"asks for GPU(s) {_span(first, count)} but {_host_gpus(fact)} "
                          f"(indexes {_span(0, available)})")
    mig = sorted(_mig_gpus(fact) & set(indexes))
    if mig:
        raise _err(where, f"GPU(s) {', '.join(map(str, mig))} are in MIG mode: whole-GPU assignment is refused; "
                          "MIG devices must be named instead (or disable MIG with nvidia-smi -mig 0)")
    use_cdi = mode == "cdi" or (mode == "auto" and _bool("cdi_available", cdi_available))
    if use_cdi:
        return [arg for index in indexes for arg in ("--device", f"nvidia.com/gpu={index}")]
    # --gpus takes CSV: the quotes keep "device=0,1" one field (no shell runs, so they stay).
    return ["--runtime", "nvidia", "--gpus", f'"device={",".join(map(str, indexes))}"']


def apps_gpu_plan(services: Any, gpu_fact: Any) -> dict[str, int]:
    """Give each service with gpus > 0 its own GPUs: {name: first_index}, in list order.

    A service takes gpus x replicas GPUs in one run; replica r uses first_index + r * gpus. GPUs
    in MIG mode are skipped (whole GPUs only), so no two containers share a GPU's memory.
    """
    wanting = [(service["name"], _int(f"apps_services ({service['name']}).gpus", service.get("gpus", 0), 0),
                _int(f"apps_services ({service['name']}).replicas", service.get("replicas", 1), 1))
               for service in _list("apps_services", services or []) if service.get("gpus")]
    if not wanting:
        return {}
    fact = _gpu_fact("hearth_gpu", gpu_fact)
    available = _gpu_count(fact)
    mig = _mig_gpus(fact)
    whole = available - len(mig & set(range(available)))
    need = sum(gpus * replicas for _, gpus, replicas in wanting)
    parts = ", ".join(f"{name} {gpus}" + (f" x {replicas} replicas" if replicas > 1 else "")
                      for name, gpus, replicas in wanting)
    if need > whole:
        have = _host_gpus(fact)
        if whole < available:
            have = f"the host has {whole} whole GPU(s) and {available - whole} in MIG mode"
        raise _err("apps_services", f"the GPU services need {need} GPUs ({parts}) but {have}")
    plan: dict[str, int] = {}
    cursor = 0
    for name, gpus, replicas in wanting:
        size = gpus * replicas
        start = cursor
        while start + size <= available and mig & set(range(start, start + size)):
            start += 1
        if start + size > available:
            raise _err(f"apps_services ({name}).gpus", f"no {size} adjacent GPUs without MIG mode are left "
                                                      f"(from GPU {cursor} on; MIG: {sorted(mig)})")
        plan[name] = start
        cursor = start + size
    return plan


class FilterModule:
    """Filters of the apps role."""

    def filters(self) -> dict[str, Any]:
        return {
            "apps_services_checked": apps_services_checked,
            "apps_connection_env": apps_connection_env,
            "apps_gpu_device_args": apps_gpu_device_args,
            "apps_gpu_plan": apps_gpu_plan,
        }
