# -*- coding: utf-8 -*-
"""What a file is, judged by its path: env template, compose file, workflow, manifest, code.

The rules consult this before they look at content, because the same text means different
things in different files: ``AWS_REGION`` in an env template is configuration to migrate, in
a Python module it is usually a string someone reads from the environment.
"""
from __future__ import annotations

import os
import re
from typing import NamedTuple, Optional

CODE_LANGS = {".py": "python", ".pyi": "python", ".js": "js", ".mjs": "js", ".cjs": "js",
              ".jsx": "js", ".ts": "js", ".tsx": "js", ".mts": "js", ".cts": "js",
              ".go": "go", ".java": "java", ".kt": "java", ".kts": "java", ".scala": "java",
              ".sh": "shell", ".bash": "shell", ".zsh": "shell"}
CONFIG_SUFFIXES = frozenset({".yml", ".yaml", ".json", ".toml", ".ini", ".cfg", ".conf",
                             ".properties", ".env"})
# Words that may follow "env" in the name of an environment file or template:
# .env.example, env.template, example.env, worker.env.sample, .env.production.local, ...
ENV_QUALIFIERS = frozenset({
    "example", "examples", "sample", "samples", "template", "tmpl", "tpl", "j2", "dist", "in",
    "orig", "local", "default", "defaults", "dev", "development", "prod", "production",
    "staging", "stage", "test", "testing", "ci", "docker", "override", "base", "shared",
})
ENV_NAMES = frozenset({".env", "env", ".envrc", ".flaskenv"})
# Files whose meaning lies in names rather than in any AWS word (``chalice``, ``zappa``,
# ``cfn-lint``, the CDK's ``cdk.json``): always read, never skipped by the prefilter.
MANIFESTS = frozenset({
    "constraints.txt", "pyproject.toml", "pipfile", "cargo.toml", "package.json", "setup.cfg",
    "setup.py", "go.mod", "gemfile", "gems.rb", "pom.xml", "build.gradle", "build.gradle.kts",
    "cdk.json", "samconfig.toml",
})
SHELL_NAMES = frozenset({"dockerfile", "containerfile", "makefile", "justfile", "procfile"})
_NAME_PARTS = re.compile(r"[._-]+")


class FileRole(NamedTuple):
    """A file's path-derived traits (see :func:`file_role`)."""

    name: str
    lower: str
    suffix: str
    env: bool
    compose: bool
    workflow: bool
    lang: Optional[str]
    config: bool
    vars: bool
    manifest: bool
    shell_like: bool


def is_env_file(lower: str) -> bool:
    """Is this (lower-cased) file name an environment file or a template of one?"""
    if lower in ENV_NAMES or lower.startswith(".env.") or lower.endswith(".env"):
        return True
    parts = _NAME_PARTS.split(lower.lstrip("."))
    stem = next((p for p in ("env", "envrc", "flaskenv") if p in parts), None)
    if stem is None:
        return False
    after = parts[parts.index(stem) + 1:]
    return bool(after) and all(part in ENV_QUALIFIERS for part in after)


def is_requirements(relpath: str) -> bool:
    """pip requirements files: requirements*.txt/.in, dev-requirements.txt, and every .txt or
    .in file in a requirements/ directory (requirements/base.txt)."""
    parts = relpath.replace(os.sep, "/").lower().split("/")
    name = parts[-1]
    return name.endswith((".txt", ".in")) and ("requirements" in name or
                                               "requirements" in parts[:-1] or
                                               name == "constraints.txt")


def is_manifest(lower: str, relpath: str = "") -> bool:
    """Dependency manifests and the few deployment files recognised by name alone."""
    return lower in MANIFESTS or is_requirements(relpath or lower)


def file_role(relpath: str) -> FileRole:
    """Describe a file by its path (relative to the scanned root, ``/`` or ``os.sep``)."""
    name = os.path.basename(relpath)
    lower = name.lower()
    suffix = os.path.splitext(lower)[1]
    parts = relpath.replace(os.sep, "/").split("/")
    env = is_env_file(lower)
    compose = lower.startswith(("docker-compose", "compose")) and suffix in (".yml", ".yaml")
    workflow = ".github" in parts and suffix in (".yml", ".yaml")
    lang = CODE_LANGS.get(suffix)
    if lower == ".envrc":  # direnv's file is a shell script
        lang = "shell"
    config = env or suffix in CONFIG_SUFFIXES
    shell_like = (lang == "shell" or workflow or lower in SHELL_NAMES or
                  lower.startswith(("dockerfile", "containerfile")) or suffix == ".mk")
    return FileRole(name, lower, suffix, env, compose, workflow, lang, config,
                    env or compose or workflow, is_manifest(lower, relpath), shell_like)
