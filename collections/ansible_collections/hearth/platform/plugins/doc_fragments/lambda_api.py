# -*- coding: utf-8 -*-
"""Documentation of the Lambda Cloud API options shared by the lambda_* modules and the inventory.

Every Lambda Cloud plugin takes the same key, endpoint, timeout and pacing options (see
``api_argument_spec`` in ``plugins/module_utils/lambda_cloud.py``); documenting them once keeps
their descriptions and defaults from drifting apart.
"""
from __future__ import annotations


class ModuleDocFragment:
    """Options for talking to the Lambda Cloud API: key, endpoint, timeout and request pacing."""

    DOCUMENTATION = r"""
---
options:
  api_key:
    description:
      - Lambda Cloud API key. Defaults to the E(LAMBDA_API_KEY) environment variable.
      - Prefer the environment variable or the vault to writing the key in clear text.
    type: str
  api_url:
    description:
      - API server root (paths start with C(/api/v1)). Defaults to E(LAMBDA_API_URL) or the
        public API.
    type: str
    default: https://cloud.lambda.ai
  api_timeout:
    description: Seconds before one HTTP request times out.
    type: float
    default: 30
  request_interval:
    description: Minimum seconds between API requests (the API allows about one per second).
    type: float
    default: 1
  launch_interval:
    description:
      - Minimum seconds between launch requests (the API allows one per twelve seconds).
      - Only launches wait for it; it is accepted everywhere so every Lambda Cloud plugin
        shares one set of API options.
    type: float
    default: 12
"""
