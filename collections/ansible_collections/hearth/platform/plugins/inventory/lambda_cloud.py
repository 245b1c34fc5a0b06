# -*- coding: utf-8 -*-
"""Inventory plugin: the instances of a Lambda Cloud account as Ansible hosts."""
from __future__ import annotations

DOCUMENTATION = r"""
---
name: lambda_cloud
short_description: Lambda Cloud instances as inventory hosts
description:
  - Lists the account's instances through the Lambda Cloud API. Instances with status
    C(active) become hosts; the others (booting, unhealthy, terminating...) are reported
    in a warning and left out.
  - Host name is the instance name (the instance ID when it has none or the name is taken).
  - Groups C(region_<region>) and C(type_<instance type>); C(env_<value>) from the
    C(hearth-env) tag; and, from the C(hearth-role) tag (comma-separated), the role names
    themselves as groups (C(gpu), C(data), C(edge), C(apps)), which is what Hearth's
    playbooks target.
  - Host variables C(ansible_host) (public IP), C(ansible_user), C(hearth_private_ip) and
    C(lambda_private_ip) (private IP), C(lambda_id), C(lambda_region), C(lambda_instance_type),
    C(lambda_gpu) (count, model and machine specs of the type), C(lambda_tags), C(lambda_status),
    C(lambda_hostname), C(lambda_file_systems).
  - Results are kept in Ansible's inventory cache when caching is on; Jupyter credentials
    of instances are never cached.
  - The configuration file must be named C(*.lambda_cloud.yml), C(*.lambda_cloud.yaml),
    C(lambda_cloud.yml) or C(lambda_cloud.yaml).
version_added: "1.0.0"
author: Hearth maintainers
extends_documentation_fragment:
  - constructed
  - inventory_cache
  - hearth.platform.lambda_api
options:
  plugin:
    description: Marks the file as this plugin's configuration.
    required: true
    choices: [hearth.platform.lambda_cloud]
  api_key:
    env:
      - name: LAMBDA_API_KEY
  api_url:
    env:
      - name: LAMBDA_API_URL
  tag_filters:
    description:
      - "Only instances carrying all these tags (key and value) become hosts, for example
        C(hearth-env: production), so one environment's inventory never lists another's."
    type: dict
    default: {}
  ansible_user:
    description: Login user set as C(ansible_user) (Lambda Stack images use C(ubuntu)).
    type: str
    default: ubuntu
  role_groups:
    description: Put hosts into the groups named by their C(hearth-role) tag.
    type: bool
    default: true
"""

EXAMPLES = r"""
# inventories/production/lambda_cloud.yml; the key comes from LAMBDA_API_KEY.
plugin: hearth.platform.lambda_cloud
tag_filters:
  hearth-env: production
cache: true
cache_timeout: 300
keyed_groups:
  - key: lambda_gpu.count | string
    prefix: gpus
compose:
  ansible_python_interpreter: "'/usr/bin/python3'"
"""

import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible.errors import AnsibleError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible_collections.hearth.platform.plugins.module_utils import lambda_cloud as api

CONFIG_NAME = re.compile(r"(^|[./])lambda_cloud\.ya?ml$")


def safe_group(name: str) -> str:
    """A group name Ansible accepts without warnings (letters, digits, underscores)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def matches(tags: Mapping[str, str], wanted: Mapping[str, Any]) -> bool:
    """True when every wanted tag is present with the wanted value."""
    return all(tags.get(str(k)) == str(v) for k, v in wanted.items())


def host_vars(instance: Mapping[str, Any], user: str) -> Dict[str, Any]:
    """The variables Hearth's playbooks read for one instance."""
    tags = api.tags_to_dict(instance.get("tags"))
    return {
        "ansible_host": instance.get("ip"),
        "ansible_user": user,
        "hearth_private_ip": instance.get("private_ip"),
        "lambda_private_ip": instance.get("private_ip"),
        "lambda_id": instance["id"],
        "lambda_region": instance["region"]["name"],
        "lambda_instance_type": instance["instance_type"]["name"],
        "lambda_gpu": api.gpu_facts(instance["instance_type"]),
        "lambda_tags": tags,
        "lambda_status": instance["status"],
        "lambda_hostname": instance.get("hostname"),
        "lambda_file_systems": list(instance.get("file_system_names") or []),
    }


def host_groups(instance: Mapping[str, Any], role_groups: bool) -> List[str]:
    """Groups for one instance: region, type, environment and Hearth roles."""
    tags = api.tags_to_dict(instance.get("tags"))
    groups = ["region_" + safe_group(instance["region"]["name"]),
              "type_" + safe_group(instance["instance_type"]["name"])]
    if tags.get(api.ENV_TAG):
        groups.append("env_" + safe_group(tags[api.ENV_TAG]))
    if role_groups:
        groups.extend(safe_group(role) for role in api.role_groups(tags))
    return groups


def select(instances: Sequence[Mapping[str, Any]], tag_filters: Mapping[str, Any]
           ) -> Tuple[List[Tuple[str, Mapping[str, Any]]], List[str]]:
    """(host name, instance) pairs for active matching instances, and notes on those left out."""
    hosts: List[Tuple[str, Mapping[str, Any]]] = []
    skipped: List[str] = []
    taken = set()
    for instance in sorted(instances, key=lambda i: (i.get("name") or "", i["id"])):
        if not matches(api.tags_to_dict(instance.get("tags")), tag_filters):
            continue
        label = instance.get("name") or instance["id"]
        if instance["status"] != "active" or not instance.get("ip"):
            if instance["status"] not in ("terminated",):
                skipped.append("%s (%s) is %s" % (label, instance["id"], instance["status"]))
            continue
        name = label if label not in taken else instance["id"]
        taken.add(name)
        hosts.append((name, instance))
    return hosts, skipped


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """Lambda Cloud instances → hosts, groups and variables."""

    NAME = "hearth.platform.lambda_cloud"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and bool(CONFIG_NAME.search(path))

    def _fetch(self) -> List[Dict[str, Any]]:
        try:
            client = api.LambdaClient(self.get_option("api_key") or "", self.get_option("api_url"),
                                      timeout=self.get_option("api_timeout"),
                                      request_interval=self.get_option("request_interval"),
                                      launch_interval=self.get_option("launch_interval"))
            return [api.public_view(i) for i in client.list_instances()]
        except api.LambdaApiError as err:
            raise AnsibleError("lambda_cloud inventory: %s" % err) from err

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        update_cache = self.get_option("cache") and not cache
        instances: Optional[List[Dict[str, Any]]] = None
        if use_cache:
            try:
                instances = self._cache[cache_key]
            except KeyError:
                update_cache = True
        if instances is None:
            instances = self._fetch()
        if update_cache:
            self._cache[cache_key] = instances
        self._populate(instances)

    def _populate(self, instances: List[Dict[str, Any]]) -> None:
        hosts, skipped = select(instances, self.get_option("tag_filters") or {})
        for note in skipped:
            self.display.warning("lambda_cloud inventory: %s; not added until it is active" % note)
        strict = self.get_option("strict")
        for name, instance in hosts:
            self.inventory.add_host(name)
            variables = host_vars(instance, self.get_option("ansible_user"))
            for key, value in variables.items():
                self.inventory.set_variable(name, key, value)
            for group in host_groups(instance, self.get_option("role_groups")):
                self.inventory.add_group(group)
                self.inventory.add_child(group, name)
            self._set_composite_vars(self.get_option("compose"), variables, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), variables, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), variables, name, strict=strict)
