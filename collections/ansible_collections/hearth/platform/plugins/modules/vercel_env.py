#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: upsert a Vercel project's environment variables."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: vercel_env
short_description: Create, update or remove environment variables of a Vercel project
description:
  - Makes a Vercel project's environment variables match the list given, per target
    (C(production), C(preview), C(development)), through Vercel's REST API
    (C(GET /v10/projects/{idOrName}/env), C(POST /v10/projects/{idOrName}/env?upsert=true),
    C(DELETE /v9/projects/{idOrName}/env/{id})).
  - Type C(auto) stores a variable as C(sensitive) for production and preview and as
    C(encrypted) for development, the one target where Vercel does not allow sensitive values.
  - Values are never printed. Every value Hearth writes carries a salted PBKDF2 fingerprint in
    the variable's comment (C(hearth:v1:...)); later runs compare fingerprints, so unchanged
    variables report C(changed=false) even when Vercel cannot return their value. Variables
    created elsewhere without a fingerprint are compared by value when Vercel returns it,
    otherwise rewritten once.
  - A variable owns the targets it names. Entries of the same key whose targets all lie within
    them are replaced as needed (for example one C(encrypted) entry for all targets becomes a
    C(sensitive) and an C(encrypted) entry); an entry that also covers other targets is a
    conflict and fails before anything changes.
  - A C(201) answer that lists C(failed) variables is an error.
version_added: "1.0.0"
author: Hearth maintainers
options:
  project:
    description: Project id (C(prj_...)) or name.
    type: str
    required: true
  token:
    description:
      - Vercel access token. Defaults to the C(VERCEL_TOKEN) environment variable.
    type: str
    required: true
  team_id:
    description: Act on behalf of this team (C(team_...)). Mutually exclusive with I(team_slug).
    type: str
  team_slug:
    description: Act on behalf of the team with this URL slug.
    type: str
  api_url:
    description: Base URL of the API (change only for a local test double).
    type: str
    default: https://api.vercel.com
  timeout:
    description: Seconds to wait for each API call.
    type: int
    default: 30
  variables:
    description: The variables to manage; keys not listed are left alone.
    type: list
    elements: dict
    required: true
    suboptions:
      key:
        description: Variable name (letters, digits, C(_)).
        type: str
        required: true
      value:
        description: Value; required when I(state=present). Never logged.
        type: str
      targets:
        description: Environments the variable applies to.
        type: list
        elements: str
        choices: [production, preview, development]
        default: [production, preview, development]
      type:
        description:
          - C(auto) - C(sensitive) for production and preview, C(encrypted) for development.
          - C(sensitive) is refused together with the development target.
        type: str
        choices: [auto, sensitive, encrypted, plain]
        default: auto
      git_branch:
        description: Limit a preview variable to one Git branch (I(targets) must be C([preview])).
        type: str
      comment:
        description: Note shown in the dashboard; Hearth appends the value fingerprint.
        type: str
        default: ""
      state:
        description: C(absent) removes the key from the named targets.
        type: str
        choices: [present, absent]
        default: present
notes:
  - Supports check mode and diff mode; the diff lists keys, targets and types, values masked.
  - Changes apply to new deployments only; redeploy to pick them up.
"""

EXAMPLES = r"""
- name: Give the frontend the API origin and its keys
  hearth.platform.vercel_env:
    project: web
    team_slug: acme
    token: "{{ vault_vercel_token }}"
    variables:
      - key: NEXT_PUBLIC_API_ORIGIN
        value: "https://api.{{ hearth_domain }}"
        type: plain
      - key: HEARTH_API_KEY
        value: "{{ vault_frontend_api_key }}"
        targets: [production, preview]
      - key: LEGACY_S3_BUCKET
        state: absent
"""

RETURN = r"""
variables:
  description: What happened to each entry (no values).
  returned: always
  type: list
  elements: dict
  sample:
    - key: HEARTH_API_KEY
      targets: [production, preview]
      type: sensitive
      git_branch: null
      action: unchanged
"""

from typing import Any, Dict, List

from ansible.module_utils.basic import AnsibleModule, env_fallback
from ansible_collections.hearth.platform.plugins.module_utils.vercel_api import (
    DEFAULT_API_URL, TARGETS, TOKEN_ENV, TYPES, Action, PlanError, VercelApiError, VercelClient, diff_text,
    plan_variable, request_body, validate_variable)

ARGUMENT_SPEC: Dict[str, Any] = dict(
    project=dict(type="str", required=True),
    token=dict(type="str", required=True, no_log=True, fallback=(env_fallback, [TOKEN_ENV])),
    team_id=dict(type="str"),
    team_slug=dict(type="str"),
    api_url=dict(type="str", default=DEFAULT_API_URL),
    timeout=dict(type="int", default=30),
    variables=dict(type="list", elements="dict", required=True, options=dict(
        key=dict(type="str", required=True, no_log=False),
        value=dict(type="str", no_log=True),
        targets=dict(type="list", elements="str", choices=list(TARGETS), default=list(TARGETS)),
        type=dict(type="str", choices=list(TYPES), default="auto"),
        git_branch=dict(type="str"),
        comment=dict(type="str", default=""),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )),
)


def summary(action: Action) -> Dict[str, Any]:
    """One entry of the ``variables`` result: everything but the value."""
    return {"key": action.key, "targets": list(action.targets), "type": action.type,
            "git_branch": action.git_branch,
            "action": {"create": "created", "update": "updated", "delete": "deleted",
                       "unchanged": "unchanged"}[action.kind]}


def build_plan(variables: List[Dict[str, Any]], existing: List[Dict[str, Any]]) -> List[Action]:
    """Plan every variable; duplicate key/branch pairs are an input error."""
    seen = set()
    actions: List[Action] = []
    for var in variables:
        ident = (var["key"], var.get("git_branch") or None)
        if ident in seen:
            raise PlanError("variable %s is listed twice%s" % (
                var["key"], " for branch %s" % ident[1] if ident[1] else ""))
        seen.add(ident)
        actions.extend(plan_variable(var, existing))
    return actions


def apply(client: VercelClient, project: str, actions: List[Action]) -> None:
    """Deletes first (they free targets), then one upsert call for creates and updates."""
    for action in actions:
        if action.kind == "delete" and action.existing is not None:
            client.delete_env(project, str(action.existing.get("id")))
    bodies = [request_body(a.entry) for a in actions
              if a.kind in ("create", "update") and a.entry is not None]
    if bodies:
        client.upsert_env(project, bodies)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                           mutually_exclusive=[("team_id", "team_slug")])
    params = module.params
    try:
        for var in params["variables"]:
            validate_variable(var)
        client = VercelClient(params["token"], team_id=params["team_id"],
                              team_slug=params["team_slug"], api_url=params["api_url"],
                              timeout=params["timeout"])
        existing = client.list_env(params["project"])
        actions = build_plan(params["variables"], existing)
        changed = any(a.kind != "unchanged" for a in actions)
        if changed and not module.check_mode:
            apply(client, params["project"], actions)
    except PlanError as err:
        module.fail_json(msg=str(err))
    except VercelApiError as err:
        module.fail_json(msg="project %s: %s" % (params["project"], err), status=err.status,
                         code=err.code)
    except OSError as err:  # connection refused, DNS, TLS, timeouts
        module.fail_json(msg="cannot reach the Vercel API at %s: %s" % (params["api_url"], err))
    result: Dict[str, Any] = {"changed": changed, "variables": [summary(a) for a in actions]}
    if module._diff:
        result["diff"] = diff_text(actions)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
