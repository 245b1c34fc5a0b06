# -*- coding: utf-8 -*-
# Copyright Hearth maintainers; Apache-2.0 (see LICENSE at the repository root).
"""Image references read the way Docker reads them: one parser for the apps filters and modules."""
from __future__ import annotations

import re
from typing import Optional, Tuple

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
DOCKER_HUB = "registry-1.docker.io"


def split_reference(image: str) -> Tuple[Optional[str], str, str, Optional[str], Optional[str]]:
    """(registry, path, repository, tag, digest) of an image reference; nothing is validated.

    A colon after the last slash starts the tag (before it, it is a registry port). The first
    component is a registry only when it has a dot or a port or is ``localhost``; otherwise the
    registry is None (Docker Hub) and the path is the repository itself.
    """
    repository, _, digest = image.partition("@")
    tag = None
    colon = repository.rfind(":")
    if colon > repository.rfind("/"):
        repository, tag = repository[:colon], repository[colon + 1:]
    first, _, rest = repository.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest, repository, tag, digest or None
    return None, repository, repository, tag, digest or None
