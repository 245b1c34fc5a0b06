#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright Hearth maintainers; Apache-2.0 (see LICENSE at the repository root).
"""Resolve an image tag to the digest a registry serves for it, and pull that digest."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: app_image
short_description: Resolve a container image tag to its digest and pull it by digest
version_added: "1.0.0"
author: Hearth maintainers
description:
  - Asks the registry (the Docker Registry HTTP API v2 that ghcr.io and every OCI registry
    serve) which manifest digest a tag points to, without pulling, so a deploy in check mode
    can say exactly which digest it would run.
  - Authenticates with the credentials the engine uses (the C(auths) entries of
    C(~/.docker/config.json) that the C(ghcr_auth) role writes), answering both Basic and
    Bearer token challenges.
  - With O(pull=true) and outside check mode, pulls C(repository@digest) so that what runs is
    exactly what was resolved, even if the tag moves during the deploy.
options:
  image:
    description: An image reference with a tag, a digest, or both (C(ghcr.io/org/app:1.2), C(app@sha256:...)).
    type: str
    required: true
  pull:
    description: Pull the resolved digest into the local engine.
    type: bool
    default: true
  docker_config:
    description: The engine's credentials file.
    type: path
    default: /root/.docker/config.json
  insecure_registries:
    description: Registries reached over plain HTTP. Loopback registries always are, as Docker does.
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds for each registry request.
    type: int
    default: 30
"""

EXAMPLES = r"""
- name: Resolve the web image
  hearth.platform.app_image:
    image: ghcr.io/acme/web:1.4.2
  register: web_image
# web_image.image is ghcr.io/acme/web@sha256:...
"""

RETURN = r"""
image:
  description: The reference that runs, C(repository@sha256:...).
  type: str
  returned: always
digest:
  description: The manifest digest.
  type: str
  returned: always
repository:
  description: The repository without tag or digest.
  type: str
  returned: always
pulled:
  description: Whether the digest was pulled by this run (false when it was already local).
  type: bool
  returned: always
"""

import base64
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hearth.platform.plugins.module_utils import image_ref

MANIFEST_TYPES = ", ".join((
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
))
CHALLENGE_RE = re.compile(r'(\w+)="([^"]*)"')


def split_reference(image: str) -> tuple[str, str, str, str | None, str | None]:
    """(registry, path, repository, tag, digest), with Docker Hub's registry and library/ filled in."""
    registry, path, repository, tag, digest = image_ref.split_reference(image)
    if registry is None:
        registry, path = image_ref.DOCKER_HUB, path if "/" in path else f"library/{path}"
    return registry, path, repository, tag, digest


def registry_scheme(registry: str, insecure: list[str]) -> str:
    """http for loopback and listed registries (Docker's own rule), https for everything else."""
    host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
    if registry in insecure or host in ("localhost", "127.0.0.1", "[::1]"):
        return "http"
    return "https"


def basic_credentials(config: dict[str, Any], registry: str) -> str | None:
    """The base64 user:password the engine would send to registry, from config.json ``auths``."""
    auths = config.get("auths") or {}
    for key in (registry, f"https://{registry}", f"http://{registry}", f"https://{registry}/v1/"):
        entry = auths.get(key)
        if isinstance(entry, dict):
            if entry.get("auth"):
                return str(entry["auth"])
            if entry.get("username") and entry.get("password"):
                return base64.b64encode(f"{entry['username']}:{entry['password']}".encode()).decode()
    return None


def _request(url: str, method: str, headers: dict[str, str], timeout: int) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (registry URL)
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def _token(challenge: str, basic: str | None, timeout: int) -> str:
    params = dict(CHALLENGE_RE.findall(challenge))
    realm = params.pop("realm", "")
    if not realm:
        raise RuntimeError(f"the registry asked for a token without a realm: {challenge}")
    headers = {"Authorization": f"Basic {basic}"} if basic else {}
    status, _, body = _request(f"{realm}?{urllib.parse.urlencode(params)}", "GET", headers, timeout)
    if status != 200:
        raise RuntimeError(f"the token service {realm} answered {status}: check the registry credentials")
    data = json.loads(body or b"{}")
    return str(data.get("token") or data.get("access_token") or "")


def resolve_digest(image: str, config: dict[str, Any], insecure: list[str], timeout: int) -> str:
    """The manifest digest the registry serves for image's tag (a HEAD, nothing pulled)."""
    registry, path, _, tag, digest = split_reference(image)
    if digest:
        return digest
    url = f"{registry_scheme(registry, insecure)}://{registry}/v2/{path}/manifests/{tag}"
    headers = {"Accept": MANIFEST_TYPES}
    status, answer, _ = _request(url, "HEAD", headers, timeout)
    if status == 401:
        challenge = answer.get("www-authenticate", "")
        basic = basic_credentials(config, registry)
        if challenge.lower().startswith("bearer"):
            headers["Authorization"] = f"Bearer {_token(challenge, basic, timeout)}"
        elif basic:
            headers["Authorization"] = f"Basic {basic}"
        else:
            raise RuntimeError(f"{registry} wants credentials and the engine has none for it (see ghcr_auth)")
        status, answer, _ = _request(url, "HEAD", headers, timeout)
    if status == 404:
        raise RuntimeError(f"{registry} has no {path}:{tag}")
    if status != 200:
        raise RuntimeError(f"{registry} answered {status} for {path}:{tag}")
    found = answer.get("docker-content-digest", "")
    if not image_ref.DIGEST_RE.match(found):
        raise RuntimeError(f"{registry} did not say which digest {path}:{tag} is (Docker-Content-Digest missing)")
    return found


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "image": {"type": "str", "required": True},
            "pull": {"type": "bool", "default": True},
            "docker_config": {"type": "path", "default": "/root/.docker/config.json"},
            "insecure_registries": {"type": "list", "elements": "str", "default": []},
            "timeout": {"type": "int", "default": 30},
        },
        supports_check_mode=True,
    )
    image = module.params["image"]
    registry, _, repository, tag, digest = split_reference(image)
    if not tag and not digest:
        module.fail_json(msg=f"image {image} names neither a tag nor a digest")
    if digest and not image_ref.DIGEST_RE.match(digest):
        module.fail_json(msg=f"image {image}: {digest} is not a sha256 digest")
    try:
        with open(module.params["docker_config"], encoding="utf-8") as handle:
            config = json.load(handle)
    except FileNotFoundError:
        config = {}
    except ValueError as err:
        module.fail_json(msg=f"{module.params['docker_config']} is not JSON: {err}")
    try:
        digest = resolve_digest(image, config, module.params["insecure_registries"], module.params["timeout"])
    except (RuntimeError, OSError, ValueError) as err:
        module.fail_json(msg=f"cannot resolve {image}: {err}")
    pinned = f"{repository}@{digest}"
    pulled = False
    if module.params["pull"] and not module.check_mode:
        rc, _, _ = module.run_command(["docker", "image", "inspect", pinned])
        if rc != 0:
            rc, out, err = module.run_command(["docker", "pull", "--quiet", pinned])
            if rc != 0:
                module.fail_json(msg=f"docker pull {pinned} failed: {(err or out).strip()}")
            pulled = True
    module.exit_json(changed=pulled, image=pinned, digest=digest, repository=repository, pulled=pulled,
                     registry=registry)


if __name__ == "__main__":
    main()
