# -*- coding: utf-8 -*-
"""Filters that move container images from ECR, Docker Hub and friends to GHCR.

``ghcr_image`` rewrites any image reference to the GitHub Container Registry name the team
publishes under; ``ghcr_workflow`` renders the GitHub Actions workflow that builds and pushes
that image. Both are pure functions: they read no files and call no network.

Reference parsing follows the distribution reference grammar (the one ``docker pull`` and
every OCI registry use)::

    reference        := name [ ":" tag ] [ "@" digest ]
    name             := [domain "/"] remote-name
    domain           := host [":" port]
    remote-name      := path-component ["/" path-component]*
    path-component   := alpha-numeric [separator alpha-numeric]*
    alpha-numeric    := /[a-z0-9]+/
    separator        := /[_.]|__|[-]+/
    tag              := /[\\w][\\w.-]{0,127}/
    digest           := algorithm ":" hex

with Docker's normalisation: a first component is a registry host only when it contains
``.`` or ``:`` or is ``localhost``; otherwise the image lives on Docker Hub, and one-component
names live under ``library/``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

import yaml

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # pragma: no cover - only without Ansible installed
    class AnsibleFilterError(Exception):  # type: ignore[no-redef]
        """Stand-in so the pure functions stay importable without Ansible."""

GHCR_HOST = "ghcr.io"
DOCKER_HUB = "docker.io"
DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io",
                                "registry.hub.docker.com"})
# Hosted registries whose first path component is the account (the equivalent of the GHCR
# owner). It is replaced by the target owner; for any other registry (ECR private, a
# self-hosted one) the whole path is kept, because the account lives in the host name.
NAMESPACED_REGISTRIES = frozenset({DOCKER_HUB, GHCR_HOST, "public.ecr.aws", "quay.io"})
NAME_TOTAL_LENGTH_MAX = 255
DEFAULT_TAG = "latest"

_PATH_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_DOMAIN_COMPONENT = re.compile(r"^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$", re.ASCII)
_DIGEST = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$")
_KNOWN_DIGESTS = {"sha256": re.compile(r"^[a-f0-9]{64}$"), "sha512": re.compile(r"^[a-f0-9]{128}$")}
# GitHub user and organisation names: alphanumerics and single hyphens, at most 39 characters.
_GITHUB_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")


@dataclass(frozen=True)
class ImageReference:
    """A parsed, normalised image reference (``domain`` is never empty)."""

    domain: str
    path: str
    tag: Optional[str]
    digest: Optional[str]

    def __str__(self) -> str:
        text = "%s/%s" % (self.domain, self.path)
        if self.tag:
            text += ":" + self.tag
        if self.digest:
            text += "@" + self.digest
        return text


def _fail(reference: Any, reason: str) -> AnsibleFilterError:
    """The one error shape for bad references: the reference, then why."""
    return AnsibleFilterError("invalid image reference %r: %s" % (reference, reason))


def _is_domain(component: str) -> bool:
    """Docker's rule: a first component names a registry if it looks like a host."""
    return "." in component or ":" in component or component == "localhost"


def _check_domain(reference: str, domain: str) -> None:
    """Validate ``host[:port]`` (IPv6 literals in brackets allowed)."""
    host, port = domain, None
    if domain.startswith("["):
        end = domain.find("]")
        if end == -1:
            raise _fail(reference, "unterminated IPv6 address in registry %r" % domain)
        host, rest = domain[1:end], domain[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise _fail(reference, "unexpected text after IPv6 address in %r" % domain)
            port = rest[1:]
        if not host or not re.match(r"^[0-9A-Fa-f:.]+$", host):
            raise _fail(reference, "registry %r is not a valid IPv6 address" % domain)
    else:
        if ":" in domain:
            host, port = domain.split(":", 1)
        for part in host.split("."):
            if not _DOMAIN_COMPONENT.match(part):
                raise _fail(reference, "registry host %r has an invalid label %r" % (host, part))
    if port is not None and not port.isdigit():
        raise _fail(reference, "registry port %r must be digits" % port)


def _check_digest(reference: str, digest: str) -> None:
    """Validate a digest; registered algorithms must have their exact encoded form."""
    if not _DIGEST.match(digest):
        raise _fail(reference, "digest %r is not algorithm:hex (at least 32 hex digits)" % digest)
    algorithm, encoded = digest.split(":", 1)
    pattern = _KNOWN_DIGESTS.get(algorithm)
    if pattern is not None and not pattern.match(encoded):
        raise _fail(reference, "%s digest must be %d lowercase hex digits" %
                    (algorithm, 64 if algorithm == "sha256" else 128))


def parse_reference(reference: Any) -> ImageReference:
    """Parse and normalise an image reference, raising AnsibleFilterError with the reason."""
    if not isinstance(reference, str):
        raise _fail(reference, "expected a string, got %s" % type(reference).__name__)
    text = reference.strip()
    if not text:
        raise _fail(reference, "it is empty")
    if "://" in text:
        raise _fail(reference, "an image reference has no URL scheme")
    if any(ch.isspace() for ch in text):
        raise _fail(reference, "it contains whitespace")

    name, digest = text, None
    if "@" in text:
        name, digest = text.split("@", 1)
        _check_digest(reference, digest)
    tag = None
    last = name.rfind(":")
    if last > name.rfind("/"):
        name, tag = name[:last], name[last + 1:]
        if not _TAG.match(tag):
            raise _fail(reference, "tag %r must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}" % tag)
    if not name:
        raise _fail(reference, "it has no repository name")

    first, sep, rest = name.partition("/")
    if sep and _is_domain(first):
        domain, path = first, rest
        _check_domain(reference, domain)
    else:
        domain, path = DOCKER_HUB, name
    if domain.lower() in DOCKER_HUB_ALIASES:
        domain = DOCKER_HUB
    if domain == DOCKER_HUB and "/" not in path:
        path = "library/" + path

    if not path:
        raise _fail(reference, "it has no repository path after the registry")
    for component in path.split("/"):
        if not component:
            raise _fail(reference, "empty path component (double or trailing '/')")
        if component.lower() != component:
            raise _fail(reference, "repository name must be lowercase (%r)" % component)
        if not _PATH_COMPONENT.match(component):
            raise _fail(reference, "path component %r must be lowercase letters and digits "
                                   "joined by '.', '_', '__' or '-'" % component)
    if len("%s/%s" % (domain, path)) > NAME_TOTAL_LENGTH_MAX:
        raise _fail(reference, "name is longer than %d characters" % NAME_TOTAL_LENGTH_MAX)
    return ImageReference(domain=domain, path=path, tag=tag, digest=digest)


def normalize_owner(owner: Any) -> str:
    """A GitHub user or organisation name, lowercased as GHCR requires."""
    if not isinstance(owner, str) or not _GITHUB_OWNER.match(owner):
        raise AnsibleFilterError(
            "ghcr_image: owner must be a GitHub user or organisation name (letters, digits, "
            "single hyphens, at most 39 characters), got %r" % (owner,))
    return owner.lower()


def ghcr_repository_path(parsed: ImageReference) -> str:
    """The repository path under the GHCR owner: drop the source account where there is one."""
    if parsed.domain in NAMESPACED_REGISTRIES:
        head, _, rest = parsed.path.partition("/")
        if parsed.domain == DOCKER_HUB and head == "library":
            return rest
        if not rest:
            raise _fail(str(parsed), "%s references need <account>/<repository>" % parsed.domain)
        return rest
    return parsed.path


def ghcr_image(reference: Any, owner: Any, default_tag: str = DEFAULT_TAG) -> str:
    """Map an image reference to ``ghcr.io/<owner>/<name>[:tag][@digest]``.

    The tag is kept (``latest`` when neither tag nor digest is given); a digest is kept as
    is, because a mirrored image keeps its manifest digest when copied by digest. Nested
    repository paths are kept below the owner.
    """
    parsed = parse_reference(reference)
    target_owner = normalize_owner(owner)
    tag = parsed.tag if parsed.tag else (None if parsed.digest else default_tag)
    if tag is not None and not _TAG.match(tag):
        raise AnsibleFilterError("ghcr_image: default_tag %r is not a valid tag" % (tag,))
    mapped = ImageReference(domain=GHCR_HOST,
                            path="%s/%s" % (target_owner, ghcr_repository_path(parsed)),
                            tag=tag, digest=parsed.digest)
    if len("%s/%s" % (mapped.domain, mapped.path)) > NAME_TOTAL_LENGTH_MAX:
        raise _fail(reference, "the GHCR name would exceed %d characters" % NAME_TOTAL_LENGTH_MAX)
    return str(mapped)


# Current major versions of the actions the workflow uses (Node 24 runtimes).
ACTION_VERSIONS: Dict[str, str] = {
    "actions/checkout": "v6",
    "docker/setup-buildx-action": "v4",
    "docker/login-action": "v4",
    "docker/metadata-action": "v6",
    "docker/build-push-action": "v7",
}
DEFAULT_TAG_RULES = (
    "type=ref,event=branch",
    "type=ref,event=pr",
    "type=semver,pattern={{version}}",
    "type=semver,pattern={{major}}.{{minor}}",
    "type=sha",
)


class _WorkflowDumper(yaml.SafeDumper):
    """Block style for multi-line strings, indented lists, no anchors: YAML as people write it."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    """A string as a plain scalar, or as a block scalar when it spans lines."""
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(data), style=style)


def _plain(value: Any) -> Any:
    """``value`` rebuilt from plain ``str``, ``list`` and ``dict``.

    Ansible hands filters subclasses of the built-in types (ansible-core 2.19 tags every value
    that came from ``-e``, a vars file or a template, for example ``_AnsibleTaggedStr``), and
    PyYAML picks representers by exact type. Normalising first keeps the rendered workflow free
    of Python-specific tags whatever the values went through.
    """
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    raise AnsibleFilterError("ghcr_workflow: cannot render a value of type %s (%r)"
                             % (type(value).__name__, value))


# Subclasses of str included: every string Ansible passes in is one (see _plain).
# PyYAML looks up exact types before multi-representers, so plain str (all _plain hands on)
# needs its own entry for the block style to take effect.
_WorkflowDumper.add_representer(str, _str_representer)


def render_workflow(document: Dict[str, Any], header: str = "",
                    dumper: type = _WorkflowDumper) -> str:
    """A workflow document as YAML text: ``header`` (as is), the document marker, the body."""
    body = yaml.dump(_plain(document), Dumper=dumper, sort_keys=False, width=100,
                     default_flow_style=False)
    prefix = header if not header or header.endswith("\n") else header + "\n"
    return prefix + "---\n" + body


def _string_list(value: Any, name: str) -> List[str]:
    """Accept one string or a list of non-empty strings."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items or \
            not all(isinstance(i, str) and i.strip() for i in items):
        raise AnsibleFilterError("ghcr_workflow: %s must be a non-empty list of strings, got %r"
                                 % (name, value))
    return list(items)


def ghcr_workflow_document(image: Any, branches: Sequence[str] = ("main",), context: str = ".",
                           dockerfile: str = "Dockerfile",
                           platforms: Sequence[str] = ("linux/amd64",),
                           tag_rules: Iterable[str] = DEFAULT_TAG_RULES,
                           versions: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """The workflow as data: build on pull requests, build and push on branches and tags."""
    parsed = parse_reference(image)
    if parsed.domain != GHCR_HOST or "/" not in parsed.path:
        raise AnsibleFilterError("ghcr_workflow: image must be ghcr.io/<owner>/<name>, got %r"
                                 % (image,))
    if parsed.tag or parsed.digest:
        raise AnsibleFilterError("ghcr_workflow: image %r must not carry a tag or digest; "
                                 "metadata-action derives the tags" % (image,))
    branch_list = _string_list(list(branches) if not isinstance(branches, str) else branches,
                               "branches")
    platform_list = _string_list(list(platforms) if not isinstance(platforms, str) else platforms,
                                 "platforms")
    rules = _string_list(list(tag_rules), "tag_rules")
    uses = dict(ACTION_VERSIONS)
    uses.update(versions or {})
    image_name = "%s/%s" % (parsed.domain, parsed.path)
    pushing = "${{ github.event_name != 'pull_request' }}"
    return {
        "name": "Build and publish %s" % image_name,
        "on": {
            "push": {"branches": branch_list, "tags": ["v*.*.*"]},
            "pull_request": {"branches": branch_list},
            "workflow_dispatch": {},
        },
        # The job token may read the code and write packages, nothing else.
        "permissions": {"contents": "read", "packages": "write"},
        "concurrency": {"group": "${{ github.workflow }}-${{ github.ref }}",
                        "cancel-in-progress": True},
        "jobs": {
            "image": {
                "runs-on": "ubuntu-latest",
                "steps": [
                    {"name": "Check out the repository",
                     "uses": "actions/checkout@" + uses["actions/checkout"]},
                    {"name": "Set up Buildx",
                     "uses": "docker/setup-buildx-action@" + uses["docker/setup-buildx-action"]},
                    {"name": "Log in to GHCR",
                     "if": "github.event_name != 'pull_request'",
                     "uses": "docker/login-action@" + uses["docker/login-action"],
                     "with": {"registry": GHCR_HOST, "username": "${{ github.actor }}",
                              "password": "${{ secrets.GITHUB_TOKEN }}"}},
                    {"name": "Derive tags and labels", "id": "meta",
                     "uses": "docker/metadata-action@" + uses["docker/metadata-action"],
                     "with": {"images": image_name, "tags": "\n".join(rules) + "\n"}},
                    {"name": "Build and push the image",
                     "uses": "docker/build-push-action@" + uses["docker/build-push-action"],
                     "with": {"context": context, "file": dockerfile,
                              "platforms": ",".join(platform_list),
                              "push": pushing,
                              "tags": "${{ steps.meta.outputs.tags }}",
                              "labels": "${{ steps.meta.outputs.labels }}",
                              "cache-from": "type=gha",
                              "cache-to": "type=gha,mode=max"}},
                ],
            },
        },
    }


def ghcr_workflow(image: Any, branches: Any = ("main",), context: str = ".",
                  dockerfile: str = "Dockerfile", platforms: Any = ("linux/amd64",),
                  tag_rules: Any = DEFAULT_TAG_RULES, versions: Optional[Dict[str, str]] = None,
                  header: str = "") -> str:
    """Render the GHCR build-and-push workflow as YAML text (``header`` is prepended as is)."""
    document = ghcr_workflow_document(image, branches=branches, context=context,
                                      dockerfile=dockerfile, platforms=platforms,
                                      tag_rules=tag_rules, versions=versions)
    return render_workflow(document, header)


class FilterModule:
    """GHCR filters: image reference mapping and the publish workflow."""

    def filters(self) -> Dict[str, Any]:
        return {"ghcr_image": ghcr_image, "ghcr_workflow": ghcr_workflow}
