# -*- coding: utf-8 -*-
"""Filters for the AWS purge: scan text, summarise and render findings, clean docker configs.

``aws_scan_text`` runs the scanner of ``plugins/module_utils/aws_scan/`` on one string;
``aws_findings_summary`` and ``aws_findings_markdown`` turn the ``aws_scan`` module's findings
into counts and a Markdown report; ``aws_docker_config_ecr`` and ``aws_docker_config_purge``
find and drop the ECR credential helpers and logins in a Docker ``config.json``. All are pure.
"""
from __future__ import annotations

import base64
import json
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from ansible.errors import AnsibleFilterError
from ansible_collections.hearth.platform.plugins.module_utils import aws_scan as _core

ECR_HELPER = "ecr-login"
FindingsInput = Union[Mapping[str, Any], Sequence[Mapping[str, Any]]]


def _findings(value: FindingsInput) -> List[Mapping[str, Any]]:
    """Accept the module's whole result or its ``findings`` list."""
    if isinstance(value, Mapping):
        if "findings" not in value:
            raise AnsibleFilterError("expected the aws_scan result (a dict with 'findings') or "
                                     f"a list of findings, got a dict with keys {sorted(value)}")
        value = value["findings"]
    if not isinstance(value, (list, tuple)):
        raise AnsibleFilterError(f"expected a list of findings, got {type(value).__name__}")
    for item in value:
        if not isinstance(item, Mapping) or not {"path", "kind", "fixable"} <= set(item):
            raise AnsibleFilterError("each finding must be a dict with path, kind and fixable, "
                                     f"got {item!r}")
    return list(value)


def aws_scan_text(text: str, path: str = "input.txt", ghcr_owner: str = "") -> List[Dict]:
    """Findings in one string, as if it were the file ``path`` (the name picks the rules)."""
    if not isinstance(text, str):
        raise AnsibleFilterError(f"aws_scan_text expects a string, got {type(text).__name__}")
    opts = _core.Options(ghcr_owner=ghcr_owner)
    return [f.to_dict() for f in _core.scan_text(text, path, opts)]


def aws_findings_summary(value: FindingsInput) -> Dict[str, Any]:
    """Counts: total, fixable, manual, files, by_kind, by_service."""
    findings = _findings(value)
    for item in findings:
        if "service" not in item:
            raise AnsibleFilterError(f"finding without 'service': {item!r}")
    return _core.summarize(findings)


def aws_findings_markdown(value: FindingsInput, title: str = "AWS remnants",
                          applied: Optional[Mapping[str, Any]] = None) -> str:
    """A Markdown report: counts by kind, then fixable and manual findings as tables.

    ``applied`` (the module result of an apply run) adds the files changed and deleted and the
    backup location. The same renderer writes ``hearth-aws-scan --format markdown``.
    """
    return _core.markdown(_findings(value), title, applied=applied)


def _docker_config(config: Any) -> Mapping[str, Any]:
    if not isinstance(config, Mapping):
        raise AnsibleFilterError("expected a Docker config.json as a dict, got "
                                 f"{type(config).__name__}")
    return config


def _is_ecr_registry(name: str) -> bool:
    """The scanner's own ECR pattern, so hosts and checkouts agree on what ECR is."""
    return _core.is_ecr_host(name)


def aws_docker_config_ecr(config: Any) -> List[str]:
    """The ECR entries of a Docker config: credsStore, credHelpers and ECR logins in auths."""
    cfg = _docker_config(config)
    found = []
    if cfg.get("credsStore") == ECR_HELPER:
        found.append("credsStore")
    helpers = cfg.get("credHelpers") or {}
    found += [f"credHelpers.{k}" for k, v in sorted(helpers.items())
              if v == ECR_HELPER or _is_ecr_registry(k)]
    auths = cfg.get("auths") or {}
    found += [f"auths.{k}" for k in sorted(auths) if _is_ecr_registry(k)]
    return found


def aws_docker_config_purge(config: Any) -> Dict[str, Any]:
    """A copy of the config without its ECR entries; empty sections are dropped."""
    cfg = dict(_docker_config(config))
    if cfg.get("credsStore") == ECR_HELPER:
        del cfg["credsStore"]
    for section, drop in (("credHelpers", lambda k, v: v == ECR_HELPER or _is_ecr_registry(k)),
                          ("auths", lambda k, v: _is_ecr_registry(k))):
        if section in cfg:
            kept = {k: v for k, v in (cfg[section] or {}).items() if not drop(k, v)}
            if kept:
                cfg[section] = kept
            else:
                del cfg[section]
    return cfg


def aws_docker_configs_found(slurped: Any) -> List[Dict[str, Any]]:
    """From a looped ``slurp`` over ``stat`` results: the configs that hold ECR entries.

    Each item: path, entries (what goes), purged (the config without them) and the file's
    owner, group and mode, ready for ``copy``. A file that is not JSON is an error naming it.
    """
    results = slurped.get("results") if isinstance(slurped, Mapping) else slurped
    if not isinstance(results, (list, tuple)):
        raise AnsibleFilterError("aws_docker_configs_found expects the registered result of a "
                                 "looped slurp")
    found = []
    for result in results:
        if result.get("skipped") or "content" not in result:
            continue
        stat = result["item"]["stat"]
        try:
            config = json.loads(base64.b64decode(result["content"]).decode("utf-8") or "{}")
        except ValueError as exc:
            raise AnsibleFilterError(f"{stat['path']} is not valid JSON: {exc}") from exc
        entries = aws_docker_config_ecr(config)
        if entries:
            found.append({"path": stat["path"], "entries": entries,
                          "purged": aws_docker_config_purge(config), "mode": stat["mode"],
                          "owner": stat["pw_name"], "group": stat["gr_name"]})
    return found


class FilterModule:
    """Ansible entry point."""

    def filters(self) -> Dict[str, Any]:
        return {
            "aws_scan_text": aws_scan_text,
            "aws_findings_summary": aws_findings_summary,
            "aws_findings_markdown": aws_findings_markdown,
            "aws_docker_config_ecr": aws_docker_config_ecr,
            "aws_docker_config_purge": aws_docker_config_purge,
            "aws_docker_configs_found": aws_docker_configs_found,
        }
