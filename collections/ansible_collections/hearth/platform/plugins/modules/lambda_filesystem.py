#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: a Lambda Cloud persistent file system, identified by name."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: lambda_filesystem
short_description: Create or delete a Lambda Cloud persistent file system
description:
  - Makes sure a file system named O(name) exists in O(region) (V(present)) or does not
    exist (V(absent)). Idempotent by name.
  - A file system cannot move between regions; when one of that name lives elsewhere the
    module fails instead of creating a second one.
  - Deleting a file system that an instance mounts fails with the API's
    C(filesystems/filesystem-in-use) error; terminate the instances first.
version_added: "1.0.0"
author: Hearth maintainers
extends_documentation_fragment:
  - hearth.platform.lambda_api
options:
  name:
    description: File system name (letters first, then letters, digits and dashes; at most 60 characters).
    type: str
    required: true
  region:
    description: Region to create it in. Required when V(present).
    type: str
  state:
    description: Whether the file system should exist.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Supports check mode.
  - Deleting a file system destroys its data; the API offers no undo.
seealso:
  - module: hearth.platform.lambda_instance
"""

EXAMPLES = r"""
- name: Keep model weights on a persistent file system
  hearth.platform.lambda_filesystem:
    name: models
    region: us-east-1

- name: Delete a scratch file system
  hearth.platform.lambda_filesystem:
    name: scratch
    state: absent
"""

RETURN = r"""
filesystem:
  description:
    - The file system as the API describes it (C(id), C(name), C(mount_point), C(region), ...).
    - Empty when absent.
  returned: always
  type: dict
  sample: {"id": "398578a2336b49079e74043f0bd2cfe8", "name": "models", "mount_point": "/lambda/nfs/models",
           "region": {"name": "us-east-1", "description": "Virginia, USA"}, "is_in_use": false}
api_error:
  description: The API's error (C(status), C(code), C(message), C(suggestion)) when a call failed.
  returned: on API failure
  type: dict
"""

import re
from typing import Any, Dict, Mapping

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hearth.platform.plugins.module_utils.lambda_cloud import (
    LambdaApiError,
    LambdaClient,
    api_argument_spec,
    client_from_params,
    find_named,
)

NAME = re.compile(r"^[a-zA-Z]+[0-9a-zA-Z-]*$")


class WrongRegion(Exception):
    """A file system of that name exists in another region."""


def apply(client: LambdaClient, params: Mapping[str, Any], check_mode: bool) -> Dict[str, Any]:
    """Bring the file system named ``params['name']`` to the wanted state."""
    found = find_named(client.list_filesystems(), params["name"])
    existing = dict(found[0]) if found else None
    if params["state"] == "absent":
        if existing is None:
            return {"changed": False, "filesystem": {}}
        if not check_mode:
            client.delete_filesystem(existing["id"])
        return {"changed": True, "filesystem": {}}
    if existing is not None:
        if existing["region"]["name"] != params["region"]:
            raise WrongRegion("file system %s already exists in %s, not %s; file systems cannot move "
                              "between regions" % (params["name"], existing["region"]["name"], params["region"]))
        return {"changed": False, "filesystem": existing}
    if check_mode:
        return {"changed": True, "filesystem": {"name": params["name"], "region": {"name": params["region"]}}}
    return {"changed": True, "filesystem": client.create_filesystem(params["name"], params["region"])}


def main() -> None:
    spec = api_argument_spec()
    spec.update(
        name={"type": "str", "required": True},
        region={"type": "str"},
        state={"type": "str", "default": "present", "choices": ["present", "absent"]},
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    name = module.params["name"]
    if module.params["state"] == "present" and not module.params["region"]:
        module.fail_json(msg="region is required with state=present (for example us-east-1)")
    if len(name) > 60 or not NAME.match(name):
        module.fail_json(msg="name %r must start with letters, then letters, digits or dashes "
                             "(at most 60 characters)" % name)
    try:
        result = apply(client_from_params(module.params), module.params, module.check_mode)
    except LambdaApiError as err:
        module.fail_json(msg=str(err), api_error=err.to_dict())
    except WrongRegion as err:
        module.fail_json(msg=str(err))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
