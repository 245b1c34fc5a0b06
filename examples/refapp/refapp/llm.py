"""Embeddings from the platform's OpenAI-compatible endpoint, with the standard library only.

OPENAI_BASE_URL points at Caddy's /llm/v1 route (Ollama or vLLM behind it); the bearer key is
OPENAI_API_KEY. A private CA bundle named by SSL_CERT_FILE, REQUESTS_CA_BUNDLE or AWS_CA_BUNDLE
is trusted on top of the system's certificates.
"""
from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Optional

from refapp import logic

TIMEOUT = 60


class LLMError(Exception):
    """The embeddings endpoint could not be reached or answered something unusable."""


def tls_context(ca_bundle: Optional[str]) -> ssl.SSLContext:
    """The system's trust store, plus the private CA bundle when one is named."""
    context = ssl.create_default_context()
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context


def embed(settings: logic.Settings, text: str) -> list[float]:
    """The embedding of text by LLM_EMBED_MODEL (LLM_MODEL when unset)."""
    url = logic.embeddings_url(settings.need("openai_base_url"))
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if settings.openai_api_key:
        headers["Authorization"] = f"Bearer {settings.openai_api_key}"
    request = urllib.request.Request(
        url, data=logic.embeddings_body(settings.need("llm_embed_model"), text), headers=headers,
        method="POST")
    try:
        context = tls_context(settings.ca_bundle) if url.startswith("https:") else None
        with urllib.request.urlopen(request, timeout=TIMEOUT, context=context) as response:
            payload = json.load(response)
    except urllib.error.HTTPError as error:
        body = error.read(500).decode(errors="replace")
        raise LLMError(f"{url} answered {error.code}: {body}") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise LLMError(f"{url}: {error}") from None
    try:
        return logic.parse_embedding(payload)
    except ValueError as error:
        raise LLMError(f"{url}: {error}") from None
