# -*- coding: utf-8 -*-
# Copyright Hearth maintainers; Apache-2.0 (see LICENSE at the repository root).
"""Where a service's releases listen: two slots (a, b) per replica from its host_port."""
from __future__ import annotations

from typing import Any, Mapping, Optional


def slot_port(service: Mapping[str, Any], slot: str, replica: int) -> Optional[int]:
    """Host port of a replica in a slot: each service owns 2 * replicas ports from host_port."""
    if not service.get("host_port"):
        return None
    return int(service["host_port"]) + 2 * replica + (0 if slot == "a" else 1)
