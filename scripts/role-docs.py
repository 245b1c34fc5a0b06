#!/usr/bin/env python3
"""Write roles/<role>/README.md from the role's meta/argument_specs.yml.

Each README gets the role's title and descriptions, one table of options per entry point
(name, type, default, required, description; a default missing from the spec is read from
defaults/<entry point>.yml, else defaults/main.yml) and the platforms and tags from
meta/main.yml. The specs stay the one place where a role's interface is written down.

Usage: scripts/role-docs.py [--check] [--roles-dir DIR]
  --check  write nothing; exit 1 listing the READMEs that are missing or stale.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
MARKER = "<!-- Generated from meta/argument_specs.yml by `make role-docs`; do not edit. -->"
# Defaults longer than this are pointed to instead of shown in the table.
MAX_DEFAULT = 100
_MISSING = object()


class MetadataError(Exception):
    """A role file that cannot be read as YAML."""


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads Ansible's tagged scalars (!vault, !unsafe) as plain text."""


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return "(vault-encrypted)" if suffix == "vault" else loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]


_Loader.add_multi_constructor("!", _tagged)


def _shown(path: Path) -> str:
    """`path` relative to the working directory when it lies below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_yaml(path: Path) -> Any:
    """The YAML document at `path`, or None when the file does not exist or is empty."""
    if not path.is_file():
        return None
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - safe subclass
    except yaml.YAMLError as error:
        raise MetadataError(f"{_shown(path)}: {' '.join(str(error).split())}") from error


def markup(text: str) -> str:
    """One line of text with Ansible's doc markup (C(), I(), B(), M()...) as Markdown."""
    line = " ".join(text.split())
    line = re.sub(r"\b[CVO]\(([^)]*)\)", r"`\1`", line)
    line = re.sub(r"\bI\(([^)]*)\)", r"*\1*", line)
    line = re.sub(r"\bB\(([^)]*)\)", r"**\1**", line)
    return re.sub(r"\b[ML]\(([^),]*)(?:,[^)]*)?\)", r"`\1`", line)


def inline(text: Any) -> str:
    """One table-safe line: doc markup as Markdown, no newlines, pipes escaped."""
    if text is None:
        return ""
    if isinstance(text, list):
        text = " ".join(str(part) for part in text)
    return markup(str(text)).replace("|", "\\|")


def paragraphs(text: Any) -> list[str]:
    """A spec description (a string or a list of them) as Markdown paragraphs."""
    if not text:
        return []
    parts = text if isinstance(text, list) else [text]
    return [markup(str(part)) for part in parts if str(part).strip()]


def code(value: str) -> str:
    """`value` as inline code, fenced with enough backticks for the value's own."""
    fence = "``" if "`" in value else "`"
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def render_default(value: Any) -> str:
    """A default as inline code; long ones point to the defaults file instead."""
    if value is _MISSING:
        return ""
    if isinstance(value, str):
        text = " ".join(value.split()) if "\n" in value.strip() else value.strip("\n")
        text = text if text else '""'
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text) > MAX_DEFAULT:
        return "see `defaults/main.yml`"
    return code(text).replace("|", "\\|")


def render_type(spec: Mapping[str, Any]) -> str:
    kind = str(spec.get("type", "str"))
    if kind == "list" and spec.get("elements"):
        return f"list of {spec['elements']}"
    return kind


def option_rows(options: Mapping[str, Any], defaults: Mapping[str, Any], prefix: str = ""
                ) -> Iterable[list[str]]:
    """Table rows for `options` and, below each, its suboptions (`parent[].child`)."""
    for name, raw in options.items():
        spec: Mapping[str, Any] = raw or {}
        default = spec["default"] if "default" in spec else defaults.get(name, _MISSING)
        notes = [inline(spec.get("description"))]
        if spec.get("choices"):
            notes.append("Choices: " + ", ".join(code(str(c)) for c in spec["choices"]) + ".")
        if spec.get("no_log"):
            notes.append("Secret (never logged).")
        if spec.get("aliases"):
            notes.append("Aliases: " + ", ".join(code(str(a)) for a in spec["aliases"]) + ".")
        full = f"{prefix}{name}"
        yield [code(full), render_type(spec), render_default(default),
               "yes" if spec.get("required") else "no", " ".join(n for n in notes if n)]
        if spec.get("options"):
            joiner = "[]." if spec.get("type") == "list" else "."
            yield from option_rows(spec["options"], {}, prefix=f"{full}{joiner}")


def render_platforms(platforms: Any) -> str:
    items = []
    for platform in platforms or []:
        versions = platform.get("versions") or []
        name = str(platform.get("name", "?"))
        items.append(f"{name} ({', '.join(str(v) for v in versions)})" if versions else name)
    return ", ".join(items)


def render(role: str, specs: Mapping[str, Any], meta: Mapping[str, Any] | None,
           defaults_for: Mapping[str, Mapping[str, Any]]) -> str:
    """The README text for one role.

    `specs` is the `argument_specs` mapping, `meta` the whole of meta/main.yml (or None), and
    `defaults_for` the defaults mapping each entry point sees, keyed by entry point name.
    """
    galaxy: Mapping[str, Any] = (meta or {}).get("galaxy_info") or {}
    entries = sorted(specs, key=lambda name: (name != "main", name))
    main: Mapping[str, Any] = specs.get("main") or {}
    lines = [MARKER, "", f"# {role}", ""]
    summary = main.get("short_description") or galaxy.get("description")
    if summary:
        lines += [markup(str(summary)), ""]
    for paragraph in paragraphs(main.get("description")):
        lines += [paragraph, ""]

    facts = []
    if galaxy.get("platforms"):
        facts.append(f"- Platforms: {render_platforms(galaxy['platforms'])}")
    if galaxy.get("galaxy_tags"):
        facts.append("- Tags: " + ", ".join(code(str(t)) for t in galaxy["galaxy_tags"]))
    if galaxy.get("min_ansible_version"):
        facts.append(f"- Minimum Ansible version: {galaxy['min_ansible_version']}")
    if galaxy.get("license"):
        facts.append(f"- Licence: {galaxy['license']}")
    dependencies = (meta or {}).get("dependencies") or []
    if dependencies:
        names = [d.get("role", d.get("name", "?")) if isinstance(d, Mapping) else str(d) for d in dependencies]
        facts.append("- Depends on: " + ", ".join(code(str(n)) for n in names))
    if facts:
        lines += facts + [""]

    for entry in entries:
        spec: Mapping[str, Any] = specs.get(entry) or {}
        lines += [f"## Entry point `{entry}`", ""]
        if entry != "main":
            if spec.get("short_description"):
                lines += [markup(str(spec["short_description"])), ""]
            for paragraph in paragraphs(spec.get("description")):
                lines += [paragraph, ""]
        options = spec.get("options") or {}
        if not options:
            lines += ["No options.", ""]
            continue
        lines += ["| Option | Type | Default | Required | Description |",
                  "|---|---|---|---|---|"]
        lines += ["| " + " | ".join(row) + " |"
                  for row in option_rows(options, defaults_for.get(entry) or {})]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def role_readme(role_dir: Path) -> str | None:
    """The README a role should have, or None when it has no meta/argument_specs.yml."""
    spec_file = role_dir / "meta" / "argument_specs.yml"
    document = load_yaml(spec_file)
    if document is None:
        return None
    specs = document.get("argument_specs") or {}
    meta = load_yaml(role_dir / "meta" / "main.yml")
    main_defaults = load_yaml(role_dir / "defaults" / "main.yml") or {}
    defaults_for: dict[str, Mapping[str, Any]] = {}
    for entry in specs:
        own = role_dir / "defaults" / f"{entry}.yml"
        defaults_for[entry] = (load_yaml(own) or {}) if own.is_file() else main_defaults
    return render(role_dir.name, specs, meta, defaults_for)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when a README is missing or stale")
    parser.add_argument("--roles-dir", type=Path, default=ROOT / "roles")
    args = parser.parse_args(argv)

    stale: list[Path] = []
    broken: list[str] = []
    for role_dir in sorted(p for p in args.roles_dir.iterdir() if p.is_dir()):
        try:
            text = role_readme(role_dir)
        except MetadataError as error:
            broken.append(str(error))
            continue
        if text is None:
            continue
        readme = role_dir / "README.md"
        current = readme.read_text(encoding="utf-8") if readme.is_file() else None
        if current == text:
            continue
        stale.append(readme)
        if not args.check:
            readme.write_text(text, encoding="utf-8")
            print(f"wrote {_shown(readme)}")
    for problem in broken:
        print(f"cannot read {problem}", file=sys.stderr)
    if args.check and stale:
        print("Role READMEs missing or out of date (run `make role-docs`):", file=sys.stderr)
        for readme in stale:
            print(f"  {_shown(readme)}", file=sys.stderr)
    return 1 if broken or (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
