#!/usr/bin/python
"""Declarative MinIO buckets, policies, users and service accounts through `mc --json`.

One call converges everything the minio role declares, so the role reads as data and a second
run reports changed=false. mc is used (rather than an S3 SDK) because users, policies and
service accounts live in MinIO's admin API, which only mc and madmin speak.
"""
from __future__ import annotations

import json
import os
import tempfile
import urllib.parse
from typing import Any, Callable

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
---
module: hearth_minio
short_description: Converge MinIO buckets, policies, users and service accounts
description:
  - Reads the current state with C(mc --json) and applies only the differences, so repeated
    runs report no change. Supports check mode.
  - Buckets are created and configured (versioning, object lock at creation, lifecycle expiry)
    but never deleted; removing data is left to a person.
  - Secret keys are checked by signing a request with them, so a changed secret in the
    inventory is applied, and an unchanged one is not rewritten.
options:
  mc:
    description: Path of the mc binary (Debian names it minio-client).
    type: path
    required: true
  alias:
    description: mc alias (in I(config_dir)) holding the root credentials.
    type: str
    default: hearth
  config_dir:
    description: mc configuration directory holding the alias.
    type: path
    required: true
  endpoint:
    description: S3 endpoint used to test user and service-account secrets.
    type: str
    default: http://127.0.0.1:9000
  buckets:
    description: Buckets to create and configure.
    type: list
    elements: dict
    default: []
    suboptions:
      name: {description: Bucket name., type: str, required: true}
      versioning: {description: Enable (true) or suspend (false) versioning; omit to leave it., type: bool}
      object_lock: {description: Create the bucket with object lock (only possible at creation)., type: bool, default: false}
      lifecycle:
        description: Expiry rules; the bucket's lifecycle configuration becomes exactly this list.
        type: list
        elements: dict
        suboptions:
          id: {description: Rule name., type: str, required: true}
          prefix: {description: Object key prefix., type: str, default: ""}
          expire_days: {description: Delete current objects after this many days., type: int}
          noncurrent_expire_days: {description: Delete old versions after this many days., type: int}
  policies:
    description: IAM policies (name and policy document).
    type: list
    elements: dict
    default: []
    suboptions:
      name: {description: Policy name., type: str, required: true}
      document: {description: IAM policy document., type: dict, required: true}
  users:
    description: Users with their attached policies.
    type: list
    elements: dict
    default: []
    suboptions:
      access_key: {description: User name (access key)., type: str, required: true}
      secret_key: {description: Secret key (8-40 characters)., type: str, no_log: true}
      policies: {description: Policies attached to the user (exactly these)., type: list, elements: str, default: []}
      state: {description: present or absent., type: str, choices: [present, absent], default: present}
  service_accounts:
    description: Service accounts (access keys for applications) under a parent user.
    type: list
    elements: dict
    default: []
    suboptions:
      access_key: {description: Access key., type: str, required: true}
      secret_key: {description: Secret key., type: str, required: true, no_log: true}
      user: {description: Parent user., type: str, required: true}
      policy: {description: Policy narrowing the parent's rights; omit to inherit them., type: dict}
author: Hearth
"""

EXAMPLES = r"""
- name: Converge MinIO objects
  hearth.platform.hearth_minio:
    mc: /usr/bin/minio-client
    config_dir: /root/.mc
    buckets:
      - name: uploads
        versioning: true
        lifecycle: [{id: expire-tmp, prefix: tmp/, expire_days: 7}]
    policies:
      - name: uploads-rw
        document:
          Version: "2012-10-17"
          Statement:
            - {Effect: Allow, Action: ["s3:*"], Resource: ["arn:aws:s3:::uploads", "arn:aws:s3:::uploads/*"]}
    users:
      - {access_key: app, secret_key: "{{ vault_minio_app_secret_key }}", policies: [uploads-rw]}
  no_log: true
"""

RETURN = r"""
actions:
  description: What was (or in check mode, would be) done, one line each; never contains secrets.
  returned: always
  type: list
  elements: str
  sample: ["create bucket uploads", "attach policy uploads-rw to user app"]
"""

BAD_SECRET_CODES = {"SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidClientTokenId"}


class McError(Exception):
    """An mc command failed; the message never includes arguments (they may hold secrets)."""


def parse_json_lines(text: str) -> list[dict[str, Any]]:
    """mc --json prints one JSON object per line; anything else (warnings) is skipped."""
    records = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records


def error_code(record: dict[str, Any]) -> str:
    """The S3/admin error code of an mc error record ('' when none)."""
    cause = (record.get("error") or {}).get("cause") or {}
    return str((cause.get("error") or {}).get("Code") or "")


def error_message(record: dict[str, Any]) -> str:
    """A readable message from an mc error record."""
    err = record.get("error") or {}
    cause = (err.get("cause") or {}).get("message") or ""
    return f"{err.get('message', 'mc failed')} {cause}".strip()


def canonical(value: Any) -> Any:
    """Order-insensitive form of a policy document: strings in lists sorted, scalars as lists.

    IAM treats `"Action": "s3:GetObject"` and `["s3:GetObject"]` alike, and list order does
    not matter; comparing canonical forms avoids rewriting a policy that has not changed.
    """
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items() if k not in ("Sid",) or v}
    if isinstance(value, list):
        items = [canonical(v) for v in value]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    return value


def policies_equal(current: Any, desired: Any) -> bool:
    """Whether two IAM policy documents grant the same thing (modulo ordering and scalars)."""
    def lists(doc: Any) -> Any:
        if isinstance(doc, dict):
            return {k: ([lists(v)] if k in ("Action", "Resource", "NotAction", "NotResource") and isinstance(v, str)
                        else lists(v)) for k, v in doc.items()}
        if isinstance(doc, list):
            return [lists(v) for v in doc]
        return doc
    return canonical(lists(current)) == canonical(lists(desired))


def lifecycle_document(rules: list[dict[str, Any]]) -> dict[str, Any]:
    """S3 lifecycle configuration for the role's expiry rules."""
    result = []
    for rule in rules:
        entry: dict[str, Any] = {"ID": rule["id"], "Status": "Enabled", "Filter": {"Prefix": rule.get("prefix") or ""}}
        if rule.get("expire_days"):
            entry["Expiration"] = {"Days": int(rule["expire_days"])}
        if rule.get("noncurrent_expire_days"):
            entry["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(rule["noncurrent_expire_days"])}
        result.append(entry)
    return {"Rules": result}


def lifecycle_summary(document: dict[str, Any] | None) -> list[tuple[str, str, str, int, int]]:
    """The parts of a lifecycle configuration this module manages, in a comparable form."""
    summary = []
    for rule in (document or {}).get("Rules") or []:
        filt = rule.get("Filter") or {}
        prefix = filt.get("Prefix", rule.get("Prefix", "")) or ""
        days = int((rule.get("Expiration") or {}).get("Days") or 0)
        noncurrent = int((rule.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays") or 0)
        summary.append((str(rule.get("ID", "")), str(rule.get("Status", "")), prefix, days, noncurrent))
    return sorted(summary)


def secret_accepted(records: list[dict[str, Any]]) -> bool:
    """Whether a request signed with a key pair was accepted (access denied still proves the key)."""
    return not any(r.get("status") == "error" and error_code(r) in BAD_SECRET_CODES for r in records)


def check_specs(params: dict[str, Any]) -> list[str]:
    """Input problems the argument spec cannot express; [] when fine."""
    problems = []
    for index, bucket in enumerate(params["buckets"]):
        name = bucket["name"]
        if not (3 <= len(name) <= 63) or not all(c.islower() or c.isdigit() or c in ".-" for c in name) \
                or not name[0].isalnum() or not name[-1].isalnum():
            problems.append(f"buckets[{index}].name: expected 3-63 lowercase letters, digits, '.' or '-', got {name!r}")
        for rindex, rule in enumerate(bucket.get("lifecycle") or []):
            if not rule.get("expire_days") and not rule.get("noncurrent_expire_days"):
                problems.append(f"buckets[{index}].lifecycle[{rindex}]: needs expire_days or noncurrent_expire_days")
    for index, user in enumerate(params["users"]):
        if user["state"] == "present" and not (8 <= len(user.get("secret_key") or "") <= 40):
            problems.append(f"users[{index}].secret_key ({user['access_key']}): expected 8-40 characters")
    for index, account in enumerate(params["service_accounts"]):
        if not (3 <= len(account["access_key"]) <= 20):
            problems.append(f"service_accounts[{index}].access_key: expected 3-20 characters")
        if not (8 <= len(account["secret_key"]) <= 40):
            problems.append(f"service_accounts[{index}].secret_key ({account['access_key']}): expected 8-40 characters")
    return problems


class Minio:
    """Runs mc against one alias; collects the actions taken."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.p = module.params
        self.actions: list[str] = []
        self.env = {"MC_CONFIG_DIR": self.p["config_dir"], "MC_DISABLE_PAGER": "1", "NO_COLOR": "1"}

    def mc(self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None,
           ok_codes: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Run mc --json; raise McError unless it succeeded or failed with one of ok_codes."""
        rc, out, err = self.module.run_command(
            [self.p["mc"], "--json", *args], data=stdin, binary_data=True,
            environ_update={**self.env, **(env or {})},
        )
        records = parse_json_lines(out)
        errors = [r for r in records if r.get("status") == "error"]
        if errors and all(error_code(r) in ok_codes for r in errors):
            return records
        if rc != 0 or errors:
            detail = error_message(errors[0]) if errors else (err.strip() or out.strip())[:500]
            raise McError(f"mc {' '.join(args[:2])} failed: {detail}")
        return records

    def act(self, description: str, run: Callable[..., Any]) -> None:
        self.actions.append(description)
        if not self.module.check_mode:
            run()

    def policy_file(self, document: dict[str, Any]) -> str:
        handle, path = tempfile.mkstemp(prefix="hearth-minio-", suffix=".json")
        with os.fdopen(handle, "w") as stream:
            json.dump(document, stream)
        self.module.add_cleanup_file(path)
        return path

    def key_works(self, access_key: str, secret_key: str) -> bool:
        url = urllib.parse.urlsplit(self.p["endpoint"])
        host = f"{url.scheme}://{urllib.parse.quote(access_key, safe='')}:{urllib.parse.quote(secret_key, safe='')}@{url.netloc}"
        records = self.mc("ls", "hearthcheck", env={"MC_HOST_hearthcheck": host},
                          ok_codes=("AccessDenied", *BAD_SECRET_CODES))
        return secret_accepted(records)

    # --- policies -------------------------------------------------------------------------
    def policies(self) -> None:
        alias = self.p["alias"]
        for policy in self.p["policies"]:
            records = self.mc("admin", "policy", "info", alias, policy["name"], ok_codes=("XMinioAdminNoSuchPolicy",))
            current = next((r for r in records if r.get("status") == "success"), None)
            doc = ((current or {}).get("policyInfo") or {}).get("Policy")
            if current is not None and policies_equal(doc, policy["document"]):
                continue
            verb = "create" if current is None else "update"
            self.act(f"{verb} policy {policy['name']}", lambda p=policy: self.mc(
                "admin", "policy", "create", alias, p["name"], self.policy_file(p["document"])))

    # --- buckets --------------------------------------------------------------------------
    def buckets(self) -> None:
        alias = self.p["alias"]
        existing = {r["key"].rstrip("/") for r in self.mc("ls", alias) if r.get("type") == "folder"}
        for bucket in self.p["buckets"]:
            name = bucket["name"]
            target = f"{alias}/{name}"
            created = name not in existing
            if created:
                args = ["mb", *(["--with-lock"] if bucket["object_lock"] else []), target]
                self.act(f"create bucket {name}" + (" with object lock" if bucket["object_lock"] else ""),
                         lambda a=args: self.mc(*a))
            elif bucket["object_lock"]:
                lock = self.mc("retention", "info", "--default", target, ok_codes=("",))
                if not any(r.get("enabled") == "Enabled" for r in lock):
                    raise McError(f"bucket {name}: object lock can only be enabled when a bucket is created")
            if bucket.get("versioning") is not None and not (created and bucket["object_lock"]):
                status = "" if created else next(
                    ((r.get("versioning") or {}).get("status", "") for r in self.mc("version", "info", target)), "")
                wanted = "Enabled" if bucket["versioning"] else "Suspended"
                if status != wanted and not (status == "" and wanted == "Suspended"):
                    verb = "enable" if bucket["versioning"] else "suspend"
                    self.act(f"{verb} versioning on {name}", lambda t=target, v=verb: self.mc("version", v, t))
            if bucket.get("lifecycle") is not None:
                self.lifecycle(target, name, bucket["lifecycle"], created)

    def lifecycle(self, target: str, name: str, rules: list[dict[str, Any]], created: bool) -> None:
        desired = lifecycle_document(rules)
        current: dict[str, Any] | None = None
        if not created:
            rc, out, _ = self.module.run_command([self.p["mc"], "ilm", "export", target], environ_update=self.env)
            current = json.loads(out) if rc == 0 and out.strip().startswith("{") else None
        if lifecycle_summary(current) == lifecycle_summary(desired):
            return
        if rules:
            self.act(f"set lifecycle of {name} ({len(rules)} rule(s))",
                     lambda: self.mc("ilm", "import", target, stdin=json.dumps(desired)))
        else:
            self.act(f"remove lifecycle rules of {name}", lambda: self.mc("ilm", "rule", "rm", "--all", "--force", target))

    # --- users ----------------------------------------------------------------------------
    def users(self) -> None:
        alias = self.p["alias"]
        for user in self.p["users"]:
            key = user["access_key"]
            records = self.mc("admin", "user", "info", alias, key, ok_codes=("XMinioAdminNoSuchUser",))
            info = next((r for r in records if r.get("status") == "success"), None)
            if user["state"] == "absent":
                if info is not None:
                    self.act(f"remove user {key}", lambda k=key: self.mc("admin", "user", "rm", alias, k))
                continue
            if info is None:
                self.act(f"create user {key}", lambda u=user: self.mc("admin", "user", "add", alias, u["access_key"], u["secret_key"]))
                attached: set[str] = set()
            else:
                if not self.key_works(key, user["secret_key"]):
                    self.act(f"set new secret for user {key}",
                             lambda u=user: self.mc("admin", "user", "add", alias, u["access_key"], u["secret_key"]))
                attached = {p for p in str(info.get("policyName") or "").split(",") if p}
            wanted = set(user["policies"])
            for policy in sorted(wanted - attached):
                self.act(f"attach policy {policy} to user {key}",
                         lambda p=policy, k=key: self.mc("admin", "policy", "attach", alias, p, "--user", k))
            for policy in sorted(attached - wanted):
                self.act(f"detach policy {policy} from user {key}",
                         lambda p=policy, k=key: self.mc("admin", "policy", "detach", alias, p, "--user", k))

    def service_accounts(self) -> None:
        alias = self.p["alias"]
        for account in self.p["service_accounts"]:
            key = account["access_key"]
            records = self.mc("admin", "user", "svcacct", "info", alias, key, ok_codes=("XMinioInvalidIAMCredentials",))
            info = next((r for r in records if r.get("status") == "success"), None)
            wants_policy = bool(account.get("policy"))

            def args(base: list[str], a: dict[str, Any] = account) -> list[str]:
                return [*base, *(["--policy", self.policy_file(a["policy"])] if a.get("policy") else [])]

            if info is None:
                self.act(f"create service account {key} for {account['user']}", lambda a=account: self.mc(*args(
                    ["admin", "user", "svcacct", "add", "--access-key", a["access_key"], "--secret-key", a["secret_key"],
                     alias, a["user"]], a)))
                continue
            if info.get("parentUser") != account["user"]:
                raise McError(f"service account {key} belongs to {info.get('parentUser')}, not {account['user']}")
            if not self.key_works(key, account["secret_key"]):
                self.act(f"set new secret for service account {key}", lambda a=account: self.mc(
                    "admin", "user", "svcacct", "edit", "--secret-key", a["secret_key"], alias, a["access_key"]))
            implied = bool(info.get("impliedPolicy"))
            if wants_policy and (implied or not policies_equal(info.get("policy"), account["policy"])):
                self.act(f"set policy of service account {key}", lambda a=account: self.mc(*args(
                    ["admin", "user", "svcacct", "edit", alias, a["access_key"]], a)))


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "mc": {"type": "path", "required": True},
            "alias": {"type": "str", "default": "hearth"},
            "config_dir": {"type": "path", "required": True},
            "endpoint": {"type": "str", "default": "http://127.0.0.1:9000"},
            "buckets": {"type": "list", "elements": "dict", "default": [], "options": {
                "name": {"type": "str", "required": True},
                "versioning": {"type": "bool"},
                "object_lock": {"type": "bool", "default": False},
                "lifecycle": {"type": "list", "elements": "dict", "options": {
                    "id": {"type": "str", "required": True},
                    "prefix": {"type": "str", "default": ""},
                    "expire_days": {"type": "int"},
                    "noncurrent_expire_days": {"type": "int"},
                }},
            }},
            "policies": {"type": "list", "elements": "dict", "default": [], "options": {
                "name": {"type": "str", "required": True},
                "document": {"type": "dict", "required": True},
            }},
            "users": {"type": "list", "elements": "dict", "default": [], "options": {
                "access_key": {"type": "str", "required": True},
                "secret_key": {"type": "str", "no_log": True},
                "policies": {"type": "list", "elements": "str", "default": []},
                "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            }},
            "service_accounts": {"type": "list", "elements": "dict", "default": [], "options": {
                "access_key": {"type": "str", "required": True},
                "secret_key": {"type": "str", "required": True, "no_log": True},
                "user": {"type": "str", "required": True},
                "policy": {"type": "dict"},
            }},
        },
        supports_check_mode=True,
    )
    problems = check_specs(module.params)
    if problems:
        module.fail_json(msg="hearth_minio: " + "; ".join(problems))
    minio = Minio(module)
    try:
        minio.policies()
        minio.buckets()
        minio.users()
        minio.service_accounts()
    except McError as exc:
        module.fail_json(msg=str(exc), actions=minio.actions)
    module.exit_json(changed=bool(minio.actions), actions=minio.actions)


if __name__ == "__main__":
    main()
