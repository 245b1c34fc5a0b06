#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: a Lambda Cloud instance, identified by name."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: lambda_instance
short_description: Launch, restart or terminate a Lambda Cloud instance by name
description:
  - Makes sure a Lambda Cloud on-demand instance with a given O(name) exists (V(present)),
    is restarted (V(restarted)) or is gone (V(absent)).
  - Idempotent by name. An existing instance is never replaced; when its type or region
    differs from the request the module warns and leaves it alone.
  - Before launching it reads C(/instance-types) and tries the preferred O(regions) that
    have capacity, in order. When a launch still fails for lack of capacity it moves on to
    the next preferred region. When none works it fails and lists the regions that do have
    capacity for the type.
  - Requests are spaced to the API's limits (about one per second; one launch per twelve
    seconds) and HTTP 429 answers are retried after C(Retry-After) (or a doubling delay).
  - Errors carry the API's C(error.code), C(message) and C(suggestion).
version_added: "1.0.0"
author: Hearth maintainers
extends_documentation_fragment:
  - hearth.platform.lambda_api
options:
  name:
    description: Instance name (at most 64 characters); the identity used for idempotence.
    type: str
    required: true
  state:
    description: V(present) launches when missing, V(restarted) restarts an existing instance, V(absent) terminates.
    type: str
    choices: [present, absent, restarted]
    default: present
  instance_type:
    description: Instance type name such as C(gpu_1x_a10). Required to launch.
    type: str
  regions:
    description: Regions to launch in, most preferred first. Required to launch.
    type: list
    elements: str
    aliases: [region]
  ssh_key:
    description: Name of the account SSH key to install (the API takes exactly one). Required to launch.
    type: str
  file_systems:
    description:
      - Names of file systems to mount. They must exist and share one region; only that
        region is then tried.
    type: list
    elements: str
    default: []
  hostname:
    description: Hostname for C(/etc/hostname) (lower-case letters, digits, dashes).
    type: str
  image_family:
    description: Image family to boot (default is the latest Lambda Stack image).
    type: str
  image_id:
    description: Image ID to boot.
    type: str
  tags:
    description:
      - Tags as a dict. Hearth's inventory reads C(hearth-env) and C(hearth-role)
        (comma-separated group names such as C(gpu,data)).
      - Keys match C(^[a-z][a-z0-9-:]+$); values are at most 128 characters.
    type: dict
    default: {}
  user_data:
    description: cloud-init user data (plain text, at most 1 MB). Never logged.
    type: str
  firewall_rulesets:
    description: Names or IDs of firewall rulesets (in the launch region) to attach.
    type: list
    elements: str
    default: []
  wait:
    description: Wait until the instance is C(active) with an IP (or gone, for V(absent)).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait before failing; the instance is left as it is.
    type: int
    default: 1200
  poll_interval:
    description: Seconds between status reads while waiting.
    type: float
    default: 10
notes:
  - Supports check mode. Reads (instances, instance types, file systems) still happen so the
    result says which region would be used.
  - The Jupyter token of an instance is never returned.
seealso:
  - module: hearth.platform.lambda_ssh_key
  - module: hearth.platform.lambda_filesystem
"""

EXAMPLES = r"""
- name: Make sure the inference machine exists
  hearth.platform.lambda_instance:
    name: prod-gpu-1
    instance_type: gpu_1x_gh200
    regions: [us-east-3, us-west-1, us-south-1]
    ssh_key: ops
    file_systems: [models]
    tags:
      hearth-env: production
      hearth-role: gpu
  register: machine

- name: Restart it
  hearth.platform.lambda_instance:
    name: prod-gpu-1
    state: restarted

- name: Terminate it
  hearth.platform.lambda_instance:
    name: prod-gpu-1
    state: absent
"""

RETURN = r"""
instance:
  description: The instance as the API describes it, without Jupyter credentials. Empty when absent.
  returned: always
  type: dict
  sample: {"id": "0920582c7ff041399e34823a0be62549", "name": "prod-gpu-1", "ip": "198.51.100.2",
           "private_ip": "10.0.2.100", "status": "active", "region": {"name": "us-west-1"}}
region:
  description: Region the instance runs in (or, in check mode, would be launched in).
  returned: when present
  type: str
  sample: us-west-1
tried_regions:
  description: Regions where a launch was refused for lack of capacity, in order.
  returned: when launched
  type: list
  elements: str
regions_with_capacity:
  description: Regions that had capacity for the instance type when the launch was planned.
  returned: when a launch was planned
  type: list
  elements: str
api_error:
  description: The API's error (C(status), C(code), C(message), C(suggestion)) when a call failed.
  returned: on API failure
  type: dict
"""

import re
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hearth.platform.plugins.module_utils.lambda_cloud import (
    GONE_STATES,
    INSUFFICIENT_CAPACITY,
    LambdaApiError,
    LambdaClient,
    api_argument_spec,
    client_from_params,
    find_named,
    live,
    public_view,
    split_region_candidates,
    tags_to_list,
)

TAG_KEY = re.compile(r"^[a-z][a-z0-9-:]+$")
HOSTNAME = re.compile(r"^[a-z0-9][0-9a-z-]{0,62}$")


class LaunchRefused(Exception):
    """Input or account state that makes a launch impossible; the message says why."""


def input_problems(params: Mapping[str, Any]) -> List[str]:
    """Problems with the module input that the API would reject, named by option."""
    problems = []
    if len(params["name"]) > 64:
        problems.append("name must be at most 64 characters, got %d" % len(params["name"]))
    for key, value in (params.get("tags") or {}).items():
        if not TAG_KEY.match(str(key)) or len(str(key)) > 55:
            problems.append("tags key %r must match ^[a-z][a-z0-9-:]+$ (at most 55 characters)" % key)
        if len(str(value)) > 128:
            problems.append("tags value for %r must be at most 128 characters" % key)
    if params.get("hostname") and not HOSTNAME.match(params["hostname"]):
        problems.append("hostname %r must match ^[a-z0-9][0-9a-z-]{0,62}$" % params["hostname"])
    return problems


def resolve_rulesets(rulesets: Sequence[Mapping[str, Any]], wanted: Sequence[str], region: str) -> List[str]:
    """IDs of the wanted rulesets (by name or ID) in ``region``; raises when one is missing."""
    ids = []
    for ref in wanted:
        hits = [r for r in rulesets if r["region"]["name"] == region and ref in (r["id"], r["name"])]
        if not hits:
            raise LaunchRefused("firewall ruleset %r does not exist in region %s" % (ref, region))
        ids.append(hits[0]["id"])
    return ids


def filesystem_region(filesystems: Sequence[Mapping[str, Any]], names: Sequence[str]) -> Optional[str]:
    """The one region holding all named file systems (None without any); raises otherwise."""
    by_name = {fs["name"]: fs for fs in filesystems}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise LaunchRefused("file_systems %s do not exist; create them with lambda_filesystem first"
                            % ", ".join(missing))
    regions = sorted({by_name[n]["region"]["name"] for n in names})
    if len(regions) > 1:
        raise LaunchRefused("file_systems %s are spread over regions %s; an instance mounts file "
                            "systems of its own region only" % (", ".join(names), ", ".join(regions)))
    return regions[0] if regions else None


def launch_payload(params: Mapping[str, Any], region: str, ruleset_ids: Sequence[str]) -> Dict[str, Any]:
    """The ``/instance-operations/launch`` request body for one region."""
    body: Dict[str, Any] = {
        "region_name": region,
        "instance_type_name": params["instance_type"],
        "ssh_key_names": [params["ssh_key"]],
        "name": params["name"],
        "file_system_names": list(params.get("file_systems") or []),
        "tags": tags_to_list(params.get("tags")),
    }
    if params.get("hostname"):
        body["hostname"] = params["hostname"]
    if params.get("image_id"):
        body["image"] = {"id": params["image_id"]}
    elif params.get("image_family"):
        body["image"] = {"family": params["image_family"]}
    if params.get("user_data"):
        body["user_data"] = params["user_data"]
    if ruleset_ids:
        body["firewall_rulesets"] = [{"id": i} for i in ruleset_ids]
    return body


def drift(instance: Mapping[str, Any], params: Mapping[str, Any]) -> List[str]:
    """Differences between an existing instance and the request that only a replacement could fix."""
    notes = []
    current_type = instance["instance_type"]["name"]
    if params.get("instance_type") and current_type != params["instance_type"]:
        notes.append("instance %s is %s, not %s; terminate it to change the type"
                     % (params["name"], current_type, params["instance_type"]))
    region = instance["region"]["name"]
    if params.get("regions") and region not in params["regions"]:
        notes.append("instance %s runs in %s, which is not among regions %s"
                     % (params["name"], region, ", ".join(params["regions"])))
    return notes


def no_capacity_message(type_name: str, preferred: Sequence[str], available: Sequence[str],
                        tried: Sequence[str]) -> str:
    """The failure text when no preferred region can take the instance."""
    text = "no capacity for %s in the preferred regions (%s)" % (type_name, ", ".join(preferred))
    if tried:
        text += "; launch refused in %s" % ", ".join(tried)
    if available:
        return text + ". Regions with capacity now: %s. Add one of them to regions." % ", ".join(available)
    return text + ". No region has capacity for %s right now; try later or another type." % type_name


def wait_for(client: LambdaClient, instance_id: str, timeout: int, interval: float,
             done: Any, clock: Any = time.monotonic, sleep: Any = time.sleep) -> Dict[str, Any]:
    """Poll an instance until ``done(instance)``; raises TimeoutError with the last state."""
    deadline = clock() + timeout
    while True:
        try:
            instance = client.get_instance(instance_id)
        except LambdaApiError as err:
            if err.status == 404:
                return {"id": instance_id, "status": "terminated"}
            raise
        if done(instance):
            return instance
        if instance["status"] in GONE_STATES:
            raise LaunchRefused("instance %s became %s while waiting" % (instance_id, instance["status"]))
        if clock() >= deadline:
            raise TimeoutError(instance)
        sleep(interval)


def is_ready(instance: Mapping[str, Any]) -> bool:
    """Active with a public IP: ready for SSH."""
    return instance["status"] == "active" and bool(instance.get("ip"))


def is_gone(instance: Mapping[str, Any]) -> bool:
    return instance["status"] in GONE_STATES


class InstanceModule:
    """The module's three states, on top of a client."""

    def __init__(self, module: AnsibleModule, client: LambdaClient):
        self.module = module
        self.client = client
        self.params = module.params

    def existing(self) -> List[Mapping[str, Any]]:
        return find_named(live(self.client.list_instances()), self.params["name"])

    def wait_ready(self, instance_id: str, changed: bool = True) -> Dict[str, Any]:
        try:
            return wait_for(self.client, instance_id, self.params["wait_timeout"],
                            self.params["poll_interval"], is_ready)
        except TimeoutError as err:
            last = err.args[0]
            self.module.fail_json(
                msg="instance %s (%s) is still %s after %d s; it keeps running. Re-run to keep "
                    "waiting, or set state=absent to remove it."
                    % (self.params["name"], instance_id, last["status"], self.params["wait_timeout"]),
                changed=changed, instance=public_view(last))
            raise  # unreachable; fail_json exits

    def present(self) -> Dict[str, Any]:
        found = self.existing()
        if len(found) > 1:
            self.module.fail_json(msg="%d instances are named %s (%s); names must be unique"
                                  % (len(found), self.params["name"], ", ".join(i["id"] for i in found)))
        if found:
            instance = dict(found[0])
            for note in drift(instance, self.params):
                self.module.warn(note)
            if self.params["wait"] and not self.module.check_mode and not is_ready(instance):
                instance = self.wait_ready(instance["id"], changed=False)
            return {"changed": False, "instance": public_view(instance), "region": instance["region"]["name"]}
        return self.launch()

    def pin_to_filesystems(self, preferred: List[str]) -> List[str]:
        """Narrow the regions to the one holding the wanted file systems."""
        filesystems = self.client.list_filesystems()
        wanted = list(self.params["file_systems"])
        if self.module.check_mode:  # an earlier task of this run may create them
            known = {fs["name"] for fs in filesystems}
            for name in [n for n in wanted if n not in known]:
                self.module.warn("file system %s does not exist yet; the launch needs it" % name)
            wanted = [n for n in wanted if n in known]
        region = filesystem_region(filesystems, wanted)
        if region is None:
            return preferred
        if region not in preferred:
            raise LaunchRefused("file_systems live in %s, which is not among regions %s"
                                % (region, ", ".join(preferred)))
        return [region]

    def launch(self) -> Dict[str, Any]:
        p = self.params
        missing = [opt for opt in ("instance_type", "regions", "ssh_key") if not p.get(opt)]
        if missing:
            self.module.fail_json(msg="state=present needs %s to launch %s" % (", ".join(missing), p["name"]))
        types = self.client.list_instance_types()
        if p["instance_type"] not in types:
            self.module.fail_json(msg="instance_type %s is unknown; known types: %s"
                                  % (p["instance_type"], ", ".join(sorted(types))))
        preferred = list(p["regions"])
        if p["file_systems"]:
            preferred = self.pin_to_filesystems(preferred)
        candidates, available = split_region_candidates(preferred, types, p["instance_type"])
        result: Dict[str, Any] = {"regions_with_capacity": available, "tried_regions": []}
        if not candidates:
            self.module.fail_json(msg=no_capacity_message(p["instance_type"], preferred, available, []), **result)
        if self.module.check_mode:
            planned = {"name": p["name"], "status": "planned", "region": {"name": candidates[0]},
                       "instance_type": types[p["instance_type"]]["instance_type"]}
            return dict(result, changed=True, instance=planned, region=candidates[0])
        rulesets = self.client.list_firewall_rulesets() if p["firewall_rulesets"] else []
        for region in candidates:
            payload = launch_payload(p, region, resolve_rulesets(rulesets, p["firewall_rulesets"], region))
            try:
                instance_id = self.client.launch_instance(payload)[0]
            except LambdaApiError as err:
                if err.code != INSUFFICIENT_CAPACITY:
                    raise
                result["tried_regions"].append(region)
                continue
            instance = self.client.get_instance(instance_id)
            if p["wait"]:
                instance = self.wait_ready(instance_id)
            return dict(result, changed=True, instance=public_view(instance), region=region)
        available = split_region_candidates(preferred, self.client.list_instance_types(), p["instance_type"])[1]
        result["regions_with_capacity"] = available
        self.module.fail_json(msg=no_capacity_message(p["instance_type"], preferred, available,
                                                      result["tried_regions"]), **result)
        return result  # unreachable

    def absent(self) -> Dict[str, Any]:
        found = self.existing()
        if not found:
            return {"changed": False, "instance": {}}
        if self.module.check_mode:
            return {"changed": True, "instance": public_view(found[0])}
        ids = [i["id"] for i in found]
        gone = self.client.terminate_instances(ids)
        last = public_view(gone[0]) if gone else {}
        if self.params["wait"]:
            for instance_id in ids:
                try:
                    last = public_view(wait_for(self.client, instance_id, self.params["wait_timeout"],
                                                self.params["poll_interval"], is_gone))
                except TimeoutError as err:
                    self.module.fail_json(msg="instance %s is still %s after %d s"
                                          % (instance_id, err.args[0]["status"], self.params["wait_timeout"]),
                                          changed=True)
        return {"changed": True, "instance": last, "terminated_ids": ids}

    def restarted(self) -> Dict[str, Any]:
        found = self.existing()
        if len(found) != 1:
            self.module.fail_json(msg="state=restarted needs exactly one live instance named %s; found %d"
                                  % (self.params["name"], len(found)))
        instance = dict(found[0])
        if self.module.check_mode:
            return {"changed": True, "instance": public_view(instance), "region": instance["region"]["name"]}
        self.client.restart_instances([instance["id"]])
        if self.params["wait"]:
            instance = self.wait_ready(instance["id"])
        return {"changed": True, "instance": public_view(instance), "region": instance["region"]["name"]}


def argument_spec() -> Dict[str, Any]:
    spec = api_argument_spec()
    spec.update(
        name={"type": "str", "required": True},
        state={"type": "str", "default": "present", "choices": ["present", "absent", "restarted"]},
        instance_type={"type": "str"},
        regions={"type": "list", "elements": "str", "aliases": ["region"]},
        ssh_key={"type": "str", "no_log": False},
        file_systems={"type": "list", "elements": "str", "default": []},
        hostname={"type": "str"},
        image_family={"type": "str"},
        image_id={"type": "str"},
        tags={"type": "dict", "default": {}},
        user_data={"type": "str", "no_log": True},
        firewall_rulesets={"type": "list", "elements": "str", "default": []},
        wait={"type": "bool", "default": True},
        wait_timeout={"type": "int", "default": 1200},
        poll_interval={"type": "float", "default": 10.0},
    )
    return spec


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           mutually_exclusive=[("image_id", "image_family")])
    problems = input_problems(module.params)
    if problems:
        module.fail_json(msg="; ".join(problems))
    try:
        client = client_from_params(module.params)
        runner = InstanceModule(module, client)
        result = getattr(runner, module.params["state"])()
    except LambdaApiError as err:
        module.fail_json(msg=str(err), api_error=err.to_dict())
    except LaunchRefused as err:
        module.fail_json(msg=str(err))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
