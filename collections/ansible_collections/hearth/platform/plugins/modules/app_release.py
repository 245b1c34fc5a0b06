#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright Hearth maintainers; Apache-2.0 (see LICENSE at the repository root).
"""Run one service's release on one host: health-gated, blue/green slots, recorded history."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: app_release
short_description: Roll one service of the apps role to a pinned image on this host
version_added: "1.0.0"
author: Hearth maintainers
description:
  - Each service runs in two slots, C(a) and C(b). A release starts in the idle slot, is checked
    for health, and only then replaces the other slot, so a release that never becomes healthy
    never takes over; its container's last log lines and health answer are in the error.
  - "O(action=start): start the new release beside the old one and wait until it is healthy
    (services behind Caddy; the caller switches Caddy's upstream, then calls O(action=retire))."
  - "O(action=retire): stop the other slot with the service's grace period (in-flight requests
    and tasks finish) and record the release."
  - "O(action=abort): remove a started release that must not take over."
  - "O(action=rollout): the whole sequence for services without upstreams: start-first for
    workers, stop-first for schedulers and GPU services (the old one comes back if the new one
    fails)."
  - "O(action=job): run a one-off container to completion (migrations); a non-zero exit fails."
  - Containers carry labels (C(hearth.app), C(hearth.slot), C(hearth.config)) and the host keeps
    C(<state_dir>/<service>.json) with the current release and the previous ones, which
    C(playbooks/rollback.yml) reads. A release whose configuration (image digest, environment
    file, arguments) is already running changes nothing; in check mode the module reports what
    would change, with a diff, and touches nothing.
options:
  service:
    description: One entry of C(apps_services) as C(hearth.platform.apps_services_checked) returns it.
    type: dict
    required: true
  image:
    description: The pinned image, C(repository@sha256:...).
    type: str
    required: true
  action:
    description: What to do (see the description).
    type: str
    choices: [status, start, retire, abort, rollout, job]
    default: rollout
  env_file:
    description: Environment file for the containers (platform connection details and secrets).
    type: path
  bind:
    description: Host addresses published ports bind to.
    type: list
    elements: str
    default: [127.0.0.1]
  extra_args:
    description: Further C(docker run) arguments (GPU devices, host names, the CA bundle mount).
    type: list
    elements: str
    default: []
  slot:
    description: The slot O(action=retire) keeps or O(action=abort) removes.
    type: str
    choices: [a, b]
  state_dir:
    description: Where release records live.
    type: path
    default: /var/lib/hearth/apps
  prune:
    description:
      - After a release succeeds (or when the recorded one already runs), remove this service's
        images pulled by digest that no release record on the host keeps (every service's
        current and previous releases) and no container uses. Tagged images are left alone.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Start the new web release beside the old one
  hearth.platform.app_release:
    service: "{{ item }}"
    image: ghcr.io/acme/web@sha256:0123...
    action: start
    env_file: /etc/hearth/apps/web.env
"""

RETURN = r"""
slot:
  description: The slot that runs (or would run) the release.
  type: str
  returned: always
ports:
  description: Host ports of the release's replicas (services with a port).
  type: list
  elements: int
  returned: always
previous:
  description: The release record before this run.
  type: dict
  returned: always
health:
  description: The last health answer of the new release.
  type: str
  returned: when a release was started
pruned:
  description: Image references removed (or, in check mode, that would be) because no record keeps them.
  type: list
  elements: str
  returned: when the release succeeded
"""

import hashlib
import json
import os
import time
import urllib.error
import urllib.request
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hearth.platform.plugins.module_utils import image_ref
from ansible_collections.hearth.platform.plugins.module_utils.app_slots import slot_port

LOG_LINES = 20


def other_slot(slot: str | None) -> str:
    """The idle slot: b after a, a after b or when nothing runs."""
    return "b" if slot == "a" else "a"


def container_name(service: dict[str, Any], slot: str, replica: int) -> str:
    return f"{service['name']}-{slot}{replica}"


def config_hash(service: dict[str, Any], image: str, env_digest: str, bind: list[str], extra: list[str]) -> str:
    """What makes two releases the same: image digest, environment, arguments (never values)."""
    keys = ("command", "port", "host_port", "replicas", "volumes", "memory", "cpus", "stop_grace", "health", "gpus")
    material = {k: service.get(k) for k in keys}
    material.update(image=image, env=env_digest, bind=sorted(bind), extra=extra)
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()[:16]


def instance_hostname(name: str, started: float) -> str:
    """A hostname unique to one start of a container (web-a0-l8k2x1): slots are reused across
    releases, and whatever names itself after its host (a Celery node, a beat's ticks) must tell
    two starts apart."""
    value, digits = int(started * 10), ""
    while value:
        value, rest = divmod(value, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[rest] + digits
    return f"{name}-{digits[-6:]}"


def run_args(service: dict[str, Any], image: str, slot: str, replica: int, config: str,
             env_file: str | None, bind: list[str], extra: list[str], started: float = 0.0) -> list[str]:
    """The ``docker run`` command line of one replica."""
    name = container_name(service, slot, replica)
    hostname = instance_hostname(name, started or time.time())
    args = ["docker", "run", "--detach", "--name", name, "--hostname", hostname,
            "--restart", "unless-stopped",
            "--label", f"hearth.app={service['name']}", "--label", f"hearth.slot={slot}",
            "--label", f"hearth.replica={replica}", "--label", f"hearth.config={config}",
            "--label", f"hearth.image={image}", "--label", f"hearth.kind={service['kind']}",
            "--stop-timeout", str(service["stop_grace"]),
            "--env", f"HEARTH_SERVICE={service['name']}", "--env", f"HEARTH_SLOT={slot}"]
    if env_file:
        args += ["--env-file", env_file]
    port = slot_port(service, slot, replica)
    if port and service.get("port"):
        args += ["--env", f"PORT={service['port']}"]
        for address in bind:
            host = f"[{address}]" if ":" in address else address
            args += ["--publish", f"{host}:{port}:{service['port']}"]
    if service.get("memory"):
        args += ["--memory", str(service["memory"])]
    if service.get("cpus"):
        args += ["--cpus", str(service["cpus"])]
    for volume in service.get("volumes") or []:
        mode = ":ro" if volume.get("readonly") else ""
        args += ["--volume", f"{volume['source']}:{volume['target']}{mode}"]
    args += list(extra)
    args.append(image)
    args += list(service.get("command") or [])
    return args


class Engine:
    """The docker CLI, through the module's run_command."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module

    def run(self, args: list[str], check: bool = True) -> tuple[int, str, str]:
        rc, out, err = self.module.run_command(args)
        if check and rc != 0:
            self.module.fail_json(msg=f"{' '.join(args[:3])} failed: {(err or out).strip()}")
        return rc, out, err

    def containers(self, service: str) -> list[dict[str, Any]]:
        """Every container of the service, running or not, with its labels."""
        _, out, _ = self.run(["docker", "ps", "--all", "--no-trunc", "--filter", f"label=hearth.app={service}",
                              "--format", "{{json .}}"])
        found = []
        for line in out.splitlines():
            entry = json.loads(line)
            labels = dict(item.split("=", 1) for item in entry.get("Labels", "").split(",") if "=" in item)
            found.append({"name": entry["Names"], "state": entry.get("State", ""), "labels": labels})
        return found

    def logs(self, name: str) -> str:
        _, out, err = self.run(["docker", "logs", "--tail", str(LOG_LINES), name], check=False)
        return (out + err).strip()

    def remove(self, names: list[str]) -> None:
        if names:
            self.run(["docker", "rm", "--force", *names], check=False)

    def stop(self, names: list[str], grace: int) -> None:
        if names:
            self.run(["docker", "stop", "--time", str(grace), *names])

    def images(self, repository: str) -> list[dict[str, str]]:
        """The repository's local images, one row per tag or digest reference."""
        _, out, _ = self.run(["docker", "images", "--digests", "--no-trunc", "--format", "{{json .}}", repository])
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def images_in_use(self) -> set[str]:
        """Image IDs of every container, running or not."""
        _, ids, _ = self.run(["docker", "ps", "--all", "--quiet", "--no-trunc"])
        if not ids.split():
            return set()
        _, out, _ = self.run(["docker", "inspect", "--format", "{{.Image}}", *ids.split()], check=False)
        return {line.strip() for line in out.splitlines() if line.strip()}

    def prune(self, repository: str, kept: set[str], apply: bool) -> list[str]:
        """Remove (when `apply`) the references prune_plan picks; report the ones removed or due."""
        doomed = prune_plan(self.images(repository), repository, kept, self.images_in_use())
        if not apply:
            return doomed
        # A reference still in use (a container started since the listing) is refused by docker.
        return [ref for ref in doomed if self.run(["docker", "image", "rm", ref], check=False)[0] == 0]


def http_health(url: str, timeout: float) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (own container)
            body = resp.read(300).decode(errors="replace")
            return 200 <= resp.status < 400, f"HTTP {resp.status} {body}".strip()
    except urllib.error.HTTPError as err:
        return False, f"HTTP {err.code} {err.read(300).decode(errors='replace')}".strip()
    except (OSError, ValueError) as err:
        return False, f"no answer: {err}"


def wait_healthy(engine: Engine, service: dict[str, Any], names: list[str], ports: list[int | None],
                 address: str) -> tuple[bool, str, str]:
    """Poll every replica until all are healthy or the deadline passes: (ok, last answer, replica)."""
    health = service["health"]
    deadline = time.monotonic() + float(health["deadline"])
    time.sleep(float(health.get("start_period") or 0))
    pending = list(zip(names, ports))
    answer, name = "not checked", names[0] if names else ""
    while pending:
        name, port = pending[0]
        state = engine.run(["docker", "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name],
                           check=False)[1].strip()
        if state.startswith(("exited", "dead")):
            return False, f"the container stopped ({state})", name
        if health["type"] == "http":
            ok, answer = http_health(f"http://{address}:{port}{health['path']}", float(health["timeout"]))
        elif health["type"] == "command":
            rc, out, err = engine.run(["docker", "exec", name, *health["command"]], check=False)
            ok, answer = rc == 0, f"exit {rc}: {(out + err).strip()[-300:]}"
        else:
            ok, answer = state.startswith("running"), state
        if ok:
            pending.pop(0)
            continue
        if time.monotonic() > deadline:
            return False, answer, name
        time.sleep(float(health["interval"]))
    return True, answer, name


def read_record(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return {}


def write_record(path: str, service: dict[str, Any], image: str, config: str, slot: str) -> dict[str, Any]:
    """Make the release current and keep the previous distinct images, newest first."""
    record = read_record(path)
    current = record.get("current")
    history = [h for h in record.get("history", []) if h.get("image") != image]
    if current and current.get("image") != image:
        history.insert(0, {"image": current["image"], "deployed_at": current.get("deployed_at")})
    record = {
        "service": service["name"],
        "current": {"image": image, "config": config, "slot": slot,
                    "deployed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        "history": history[: max(int(service.get("keep") or 3) - 1, 0)],
    }
    os.makedirs(os.path.dirname(path), mode=0o750, exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, path)
    return record


def kept_images(state_dir: str) -> set[str]:
    """Every image a release record on this host keeps: each service's current and previous ones."""
    kept: set[str] = set()
    try:
        names = sorted(os.listdir(state_dir))
    except FileNotFoundError:
        return kept
    for name in names:
        if not name.endswith(".json"):
            continue
        record = read_record(os.path.join(state_dir, name))
        for entry in [record.get("current") or {}, *record.get("history", [])]:
            if entry.get("image"):
                kept.add(entry["image"])
    return kept


def prune_plan(images: list[dict[str, str]], repository: str, kept: set[str], in_use: set[str]) -> list[str]:
    """The digest references of `repository` that no record keeps and no container uses.

    `images` are `docker images --digests --no-trunc` rows. Only untagged rows are candidates:
    releases are pulled by digest, so a tag means someone else put the image there.
    """
    doomed = set()
    for row in images:
        digest = row.get("Digest", "")
        if row.get("Repository") != repository or row.get("Tag") not in ("<none>", "") or not digest.startswith("sha256:"):
            continue
        ref = f"{repository}@{digest}"
        if ref not in kept and row.get("ID") not in in_use:
            doomed.add(ref)
    return sorted(doomed)


def failure(service: dict[str, Any], image: str, name: str, answer: str, logs: str, what: str) -> str:
    return (f"apps_services {service['name']}: release {image} {what} on this host; "
            f"last health answer from {name}: {answer}; its last log lines:\n{logs or '(none)'}")


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "service": {"type": "dict", "required": True},
            "image": {"type": "str", "required": True},
            "action": {"type": "str", "default": "rollout",
                       "choices": ["status", "start", "retire", "abort", "rollout", "job"]},
            "env_file": {"type": "path"},
            "bind": {"type": "list", "elements": "str", "default": ["127.0.0.1"]},
            "extra_args": {"type": "list", "elements": "str", "default": []},
            "slot": {"type": "str", "choices": ["a", "b"]},
            "state_dir": {"type": "path", "default": "/var/lib/hearth/apps"},
            "prune": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    p = module.params
    service, image, action = p["service"], p["image"], p["action"]
    engine = Engine(module)
    record_path = os.path.join(p["state_dir"], f"{service['name']}.json")
    record = read_record(record_path)
    env_digest = ""
    if p["env_file"] and os.path.exists(p["env_file"]):
        with open(p["env_file"], "rb") as handle:
            env_digest = hashlib.sha256(handle.read()).hexdigest()
    config = config_hash(service, image, env_digest, p["bind"], p["extra_args"])
    containers = engine.containers(service["name"])
    running = [c for c in containers if c["state"] == "running"]
    current_slot = (record.get("current") or {}).get("slot")
    replicas = int(service.get("replicas") or 1)
    result: dict[str, Any] = {"changed": False, "previous": record, "config": config}

    def done(**extra: Any) -> None:
        module.exit_json(**{**result, **extra})

    def finish(**extra: Any) -> None:
        """Succeed, after removing the service's images that no record keeps any more."""
        if p["prune"]:
            pruned = engine.prune(image_ref.split_reference(image)[2], kept_images(p["state_dir"]) | {image},
                                  not module.check_mode)
            if pruned:
                extra["changed"] = True
            extra["pruned"] = pruned
        done(**extra)

    if action == "status":
        done(slot=current_slot, containers=containers,
             ports=[slot_port(service, current_slot or "a", r) for r in range(replicas)])

    if action == "job":
        if (record.get("current") or {}).get("config") == config:
            finish(slot="", ports=[])
        result["diff"] = {"before": (record.get("current") or {}).get("image", "") + "\n", "after": image + "\n"}
        if module.check_mode:
            result["changed"] = True
            done(slot="", ports=[])
        name = f"{service['name']}-job"
        engine.remove([name])
        args = run_args(service, image, "a", 0, config, p["env_file"], [], p["extra_args"])
        args = [a for a in args if a not in ("--detach",)]
        args[args.index("--restart") + 1] = "no"
        args[args.index("--name") + 1] = name
        rc, out, err = engine.run(args, check=False)
        logs = engine.logs(name)
        engine.remove([name])
        if rc != 0:
            module.fail_json(msg=f"apps_services {service['name']}: the job {image} exited {rc}; nothing was "
                                 f"switched. Its last log lines:\n{logs or (out + err).strip()[-2000:]}", **result)
        write_record(record_path, service, image, config, "a")
        result["changed"] = True
        finish(slot="", ports=[], output=logs)

    if action == "abort":
        doomed = [c["name"] for c in containers if c["labels"].get("hearth.slot") == p["slot"]]
        if not module.check_mode:
            engine.remove(doomed)
        done(changed=bool(doomed), slot=p["slot"], ports=[], removed=doomed)

    if action == "retire":
        keep = p["slot"]
        old = [c["name"] for c in containers if c["labels"].get("hearth.slot") != keep]
        if not module.check_mode:
            engine.stop([c["name"] for c in containers if c["labels"].get("hearth.slot") != keep and c["state"] == "running"],
                        int(service["stop_grace"]))
            engine.remove(old)
            if (record.get("current") or {}).get("config") != config or record["current"].get("slot") != keep:
                write_record(record_path, service, image, config, keep)
        finish(changed=bool(old), slot=keep, retired=old,
             ports=[slot_port(service, keep, r) for r in range(replicas)])

    # start / rollout: nothing to do when the same configuration already runs in full.
    in_place = [c for c in running if c["labels"].get("hearth.config") == config
                and c["labels"].get("hearth.slot") == current_slot]
    if current_slot and len(in_place) == replicas and len(running) == replicas:
        # A web service's `start` is followed by `retire`, which prunes; a rollout ends here.
        (finish if action == "rollout" else done)(
            slot=current_slot, ports=[slot_port(service, current_slot, r) for r in range(replicas)])

    new_slot = other_slot(current_slot)
    ports = [slot_port(service, new_slot, r) for r in range(replicas)]
    result["diff"] = {
        "before": f"{service['name']}: {(record.get('current') or {}).get('image', '(nothing)')}\n",
        "after": f"{service['name']}: {image} (slot {new_slot}, config {config})\n",
    }
    if module.check_mode:
        result["changed"] = True
        done(slot=new_slot, ports=ports)

    names = [container_name(service, new_slot, r) for r in range(replicas)]
    old_running = [c["name"] for c in running if c["labels"].get("hearth.slot") != new_slot]
    # Leftovers of an interrupted release in the idle slot are never serving: clear them.
    engine.remove([c["name"] for c in containers if c["labels"].get("hearth.slot") == new_slot])
    address = p["bind"][0] if p["bind"] else "127.0.0.1"
    stop_first = bool(service.get("stop_first")) and action == "rollout"
    if stop_first:
        engine.stop(old_running, int(service["stop_grace"]))
    for replica in range(replicas):
        engine.run(run_args(service, image, new_slot, replica, config, p["env_file"], p["bind"], p["extra_args"]))
    ok, answer, name = wait_healthy(engine, service, names, ports, address)
    if not ok:
        logs = engine.logs(name)
        engine.remove(names)
        if stop_first and old_running:
            engine.run(["docker", "start", *old_running], check=False)
        what = "never became healthy" + (" (the previous release was started again)" if stop_first and old_running else
                                         " and received no traffic; the previous release keeps serving")
        module.fail_json(msg=failure(service, image, name, answer, logs, what), health=answer, **result)
    result.update(changed=True, health=answer)
    if action == "start":
        done(slot=new_slot, ports=ports, started=names)
    if not stop_first:
        engine.stop(old_running, int(service["stop_grace"]))
    engine.remove([c["name"] for c in containers if c["labels"].get("hearth.slot") != new_slot])
    write_record(record_path, service, image, config, new_slot)
    finish(slot=new_slot, ports=ports, started=names)


if __name__ == "__main__":
    main()
