#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: an SSH public key registered with Lambda Cloud, identified by name."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: lambda_ssh_key
short_description: Register or remove an SSH public key in a Lambda Cloud account
description:
  - Makes sure the account has an SSH key named O(name) holding O(public_key) (V(present)),
    or no key of that name (V(absent)). Idempotent by name.
  - Keys are compared without their comment. The API cannot edit a key, so a different key
    under the same name is replaced (deleted, then added); instances launched earlier keep
    the key they booted with.
  - The module never asks the API to generate a key pair, so no private key passes through
    Ansible output.
version_added: "1.0.0"
author: Hearth maintainers
extends_documentation_fragment:
  - hearth.platform.lambda_api
options:
  name:
    description: Key name (1 to 64 characters), as O(hearth.platform.lambda_instance#module:ssh_key) refers to it.
    type: str
    required: true
  public_key:
    description: OpenSSH public key, for example the contents of C(~/.ssh/id_ed25519.pub). Required when V(present).
    type: str
  state:
    description: Whether the key should exist.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Supports check mode.
seealso:
  - module: hearth.platform.lambda_instance
"""

EXAMPLES = r"""
- name: Register the operators' key
  hearth.platform.lambda_ssh_key:
    name: ops
    public_key: "{{ lookup('ansible.builtin.file', '~/.ssh/id_ed25519.pub') }}"

- name: Remove an old key
  hearth.platform.lambda_ssh_key:
    name: laptop-2019
    state: absent
"""

RETURN = r"""
ssh_key:
  description: The key as stored (C(id), C(name), C(public_key)); empty when absent.
  returned: always
  type: dict
  sample: {"id": "ddf9a910ceb744a0bb95242cbba6cb50", "name": "ops", "public_key": "ssh-ed25519 AAAA... ops"}
api_error:
  description: The API's error (C(status), C(code), C(message), C(suggestion)) when a call failed.
  returned: on API failure
  type: dict
"""

from typing import Any, Dict, Mapping, Optional

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hearth.platform.plugins.module_utils.lambda_cloud import (
    LambdaApiError,
    LambdaClient,
    api_argument_spec,
    client_from_params,
    find_named,
    normalize_public_key,
)


def plan(existing: Optional[Mapping[str, Any]], state: str, public_key: Optional[str]) -> str:
    """What to do: ``none``, ``add``, ``replace`` or ``delete``."""
    if state == "absent":
        return "delete" if existing else "none"
    if existing is None:
        return "add"
    if normalize_public_key(existing["public_key"]) != normalize_public_key(public_key or ""):
        return "replace"
    return "none"


def apply(client: LambdaClient, params: Mapping[str, Any], check_mode: bool) -> Dict[str, Any]:
    """Bring the account's key named ``params['name']`` to the wanted state."""
    found = find_named(client.list_ssh_keys(), params["name"])
    existing = dict(found[0]) if found else None
    action = plan(existing, params["state"], params.get("public_key"))
    wanted = {"name": params["name"], "public_key": (params.get("public_key") or "").strip()}
    if action == "none":
        return {"changed": False, "ssh_key": existing or {}}
    if check_mode:
        return {"changed": True, "ssh_key": {} if action == "delete" else wanted, "action": action}
    if action in ("delete", "replace"):
        for key in found:
            client.delete_ssh_key(key["id"])
    if action == "delete":
        return {"changed": True, "ssh_key": {}, "action": action}
    stored = client.add_ssh_key(wanted["name"], wanted["public_key"])
    stored.pop("private_key", None)
    return {"changed": True, "ssh_key": stored, "action": action}


def main() -> None:
    spec = api_argument_spec()
    spec.update(
        name={"type": "str", "required": True},
        public_key={"type": "str", "no_log": False},
        state={"type": "str", "default": "present", "choices": ["present", "absent"]},
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    if not 1 <= len(module.params["name"]) <= 64:
        module.fail_json(msg="name must be 1 to 64 characters, got %d" % len(module.params["name"]))
    if module.params["state"] == "present" and not (module.params["public_key"] or "").strip():
        module.fail_json(msg="public_key is required with state=present (an OpenSSH public key line)")
    try:
        result = apply(client_from_params(module.params), module.params, module.check_mode)
    except LambdaApiError as err:
        module.fail_json(msg=str(err), api_error=err.to_dict())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
