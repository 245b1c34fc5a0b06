# -*- coding: utf-8 -*-
"""Shared Lambda Cloud API client for Hearth's modules and inventory plugin.

Everything here is plain Python (standard library only) so it runs inside an AnsiballZ
payload, on the controller inside the inventory plugin, and in unit tests. Side effects
(HTTP, clock, sleeping) are injected, so the rate limiter and retry logic can be tested
without waiting.

The API contract is Lambda Cloud API 1.10.0 (``tests/fixtures/lambda-cloud-openapi-1.10.0.json``):
every response is ``{"data": ...}`` on success and ``{"error": {"code", "message",
"suggestion"?}}`` on failure; requests are limited to about one per second and launches to one
per twelve seconds.
"""
from __future__ import annotations

import email.utils
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple

DEFAULT_API_URL = "https://cloud.lambda.ai"
API_PREFIX = "/api/v1"
API_KEY_ENV = "LAMBDA_API_KEY"
API_URL_ENV = "LAMBDA_API_URL"
REQUEST_INTERVAL = 1.0
LAUNCH_INTERVAL = 12.0
MAX_BACKOFF = 120.0
USER_AGENT = "hearth-lambda-cloud/1.0"

# Instances in these states are gone (or going); a name held only by them is free again.
GONE_STATES = frozenset({"terminated", "terminating", "preempted"})
# Fields of an instance that carry credentials; never returned, logged or cached.
SECRET_INSTANCE_FIELDS = ("jupyter_token", "jupyter_url")
# Tags Hearth reads to place hosts into groups.
ENV_TAG = "hearth-env"
ROLE_TAG = "hearth-role"
INSUFFICIENT_CAPACITY = "instance-operations/launch/insufficient-capacity"


class Response(NamedTuple):
    """What a transport returns: HTTP status, lower-cased headers and the raw body."""

    status: int
    headers: Dict[str, str]
    body: bytes


Transport = Callable[[str, str, Dict[str, str], Optional[bytes], float], Response]


class LambdaApiError(Exception):
    """An API failure carrying the API's own ``error.code``, ``message`` and ``suggestion``.

    ``code`` is what callers branch on (the API documents ``message`` and ``suggestion``
    as subject to change); the string form shows all three for people.
    """

    def __init__(self, status: int, code: str, message: str, suggestion: Optional[str] = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.suggestion = suggestion

    def __str__(self) -> str:
        text = "Lambda Cloud API error %s (HTTP %s): %s" % (self.code, self.status, self.message)
        if self.suggestion:
            text += " Suggestion: %s" % self.suggestion
        return text

    def to_dict(self) -> Dict[str, Any]:
        """The error as the API shaped it, plus the HTTP status, for module results."""
        return {"status": self.status, "code": self.code, "message": self.message,
                "suggestion": self.suggestion}


class RateLimiter:
    """Keeps a minimum spacing between requests, per bucket.

    The API allows about one request per second overall and one launch per twelve
    seconds; a launch therefore waits for both the ``request`` and the ``launch`` bucket.
    ``clock`` and ``sleep`` are injectable so tests can check the spacing without waiting.
    """

    def __init__(self, intervals: Mapping[str, float],
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.intervals = dict(intervals)
        self.clock = clock
        self.sleep = sleep
        self._next: Dict[str, float] = {}

    def acquire(self, buckets: Iterable[str] = ("request",)) -> float:
        """Block until every named bucket allows a request; return the seconds waited."""
        names = list(buckets)
        now = self.clock()
        due = max([self._next.get(name, now) for name in names] + [now])
        waited = due - now
        if waited > 0:
            self.sleep(waited)
        for name in names:
            self._next[name] = due + self.intervals.get(name, 0.0)
        return waited

    def defer(self, seconds: float, buckets: Iterable[str] = ("request",)) -> None:
        """Push the named buckets at least ``seconds`` into the future (after a 429)."""
        until = self.clock() + seconds
        for name in buckets:
            self._next[name] = max(self._next.get(name, until), until)


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def backoff_delay(attempt: int, retry_after: Optional[float], base: float = 1.0,
                  cap: float = MAX_BACKOFF) -> float:
    """Delay before retry number ``attempt`` (0-based): the server's word, else doubling."""
    if retry_after is not None:
        return min(retry_after, cap)
    return min(cap, base * (2 ** attempt))


def error_from_response(status: int, body: bytes) -> LambdaApiError:
    """Build the error from an API error envelope; fall back to the HTTP status."""
    try:
        payload = json.loads(body.decode("utf-8") or "null")
    except (UnicodeDecodeError, ValueError):
        payload = None
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict) and error.get("code"):
        return LambdaApiError(status, str(error["code"]), str(error.get("message", "")),
                              error.get("suggestion"))
    snippet = body[:200].decode("utf-8", "replace").strip()
    return LambdaApiError(status, "http/%d" % status, snippet or "HTTP %d without an error body" % status)


def urllib_transport(method: str, url: str, headers: Dict[str, str], body: Optional[bytes],
                     timeout: float) -> Response:
    """Send one request with urllib; HTTP error statuses come back as responses, not raises."""
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:  # nosec: URL is the API's
            return Response(reply.status, {k.lower(): v for k, v in reply.headers.items()}, reply.read())
    except urllib.error.HTTPError as err:
        return Response(err.code, {k.lower(): v for k, v in (err.headers or {}).items()}, err.read())
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise LambdaApiError(0, "client/connection-failed", "cannot reach %s: %s" % (url, reason)) from err


class LambdaClient:
    """A small, rate-limited client for the Lambda Cloud API endpoints Hearth uses."""

    def __init__(self, api_key: str, api_url: str = DEFAULT_API_URL, *, timeout: float = 30.0,
                 max_retries: int = 5, request_interval: float = REQUEST_INTERVAL,
                 launch_interval: float = LAUNCH_INTERVAL, transport: Optional[Transport] = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if not api_key:
            raise LambdaApiError(0, "client/missing-api-key",
                                 "no API key: set the api_key option or the %s environment variable"
                                 % API_KEY_ENV)
        self.api_url = (api_url or DEFAULT_API_URL).rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.transport = transport or urllib_transport
        self.sleep = sleep
        self.limiter = RateLimiter({"request": request_interval, "launch": launch_interval},
                                   clock=clock, sleep=sleep)
        self.retries = 0
        self._headers = {
            "Authorization": "Bearer %s" % api_key,
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }

    def url(self, path: str, query: Optional[Mapping[str, str]] = None) -> str:
        """Full URL for an API path such as ``/instances``."""
        full = "%s%s%s" % (self.api_url, API_PREFIX, path)
        if query:
            full += "?" + urllib.parse.urlencode(dict(query))
        return full

    def request(self, method: str, path: str, body: Optional[Mapping[str, Any]] = None,
                query: Optional[Mapping[str, str]] = None, buckets: Sequence[str] = ("request",)) -> Any:
        """Send a request, retrying on 429 after the advised delay; return the ``data`` payload."""
        headers = dict(self._headers)
        raw = None
        if body is not None:
            raw = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        attempt = 0
        while True:
            self.limiter.acquire(buckets)
            reply = self.transport(method, self.url(path, query), headers, raw, self.timeout)
            if reply.status == 429 and attempt < self.max_retries:
                delay = backoff_delay(attempt, parse_retry_after(reply.headers.get("retry-after")))
                self.retries += 1
                attempt += 1
                self.limiter.defer(delay, buckets)
                continue
            if 200 <= reply.status < 300:
                return self._data(reply)
            raise error_from_response(reply.status, reply.body)

    @staticmethod
    def _data(reply: Response) -> Any:
        try:
            payload = json.loads(reply.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            raise LambdaApiError(reply.status, "client/invalid-response", "response is not JSON") from err
        if not isinstance(payload, dict) or "data" not in payload:
            raise LambdaApiError(reply.status, "client/invalid-response", "response has no 'data' member")
        return payload["data"]

    # Endpoints, named after the document's operations.
    def list_instances(self) -> List[Dict[str, Any]]:
        return self.request("GET", "/instances")

    def get_instance(self, instance_id: str) -> Dict[str, Any]:
        return self.request("GET", "/instances/%s" % urllib.parse.quote(instance_id, safe=""))

    def list_instance_types(self) -> Dict[str, Any]:
        return self.request("GET", "/instance-types")

    def launch_instance(self, payload: Mapping[str, Any]) -> List[str]:
        data = self.request("POST", "/instance-operations/launch", payload, buckets=("request", "launch"))
        return list(data["instance_ids"])

    def terminate_instances(self, ids: Sequence[str]) -> List[Dict[str, Any]]:
        data = self.request("POST", "/instance-operations/terminate", {"instance_ids": list(ids)})
        return data["terminated_instances"]

    def restart_instances(self, ids: Sequence[str]) -> List[Dict[str, Any]]:
        data = self.request("POST", "/instance-operations/restart", {"instance_ids": list(ids)})
        return data["restarted_instances"]

    def list_ssh_keys(self) -> List[Dict[str, Any]]:
        return self.request("GET", "/ssh-keys")

    def add_ssh_key(self, name: str, public_key: str) -> Dict[str, Any]:
        return self.request("POST", "/ssh-keys", {"name": name, "public_key": public_key})

    def delete_ssh_key(self, key_id: str) -> None:
        self.request("DELETE", "/ssh-keys/%s" % urllib.parse.quote(key_id, safe=""))

    def list_filesystems(self) -> List[Dict[str, Any]]:
        return self.request("GET", "/file-systems")

    def create_filesystem(self, name: str, region: str) -> Dict[str, Any]:
        return self.request("POST", "/filesystems", {"name": name, "region": region})

    def delete_filesystem(self, fs_id: str) -> List[str]:
        data = self.request("DELETE", "/filesystems/%s" % urllib.parse.quote(fs_id, safe=""))
        return data["deleted_ids"]

    def list_firewall_rulesets(self) -> List[Dict[str, Any]]:
        return self.request("GET", "/firewall-rulesets")


# Pure helpers shared by the modules and the inventory plugin.

def live(instances: Iterable[Mapping[str, Any]]) -> List[Mapping[str, Any]]:
    """Instances that still exist (not terminated, terminating or preempted)."""
    return [i for i in instances if i.get("status") not in GONE_STATES]


def find_named(items: Iterable[Mapping[str, Any]], name: str) -> List[Mapping[str, Any]]:
    """All items whose ``name`` equals ``name`` (names are how Hearth makes calls idempotent)."""
    return [item for item in items if item.get("name") == name]


def tags_to_list(tags: Optional[Mapping[str, Any]]) -> List[Dict[str, str]]:
    """``{"k": "v"}`` → the API's ``[{"key": "k", "value": "v"}]``, sorted for stable output."""
    return [{"key": str(k), "value": str(v)} for k, v in sorted((tags or {}).items())]


def tags_to_dict(tags: Optional[Iterable[Mapping[str, Any]]]) -> Dict[str, str]:
    """The API's tag list → a plain dict."""
    return {str(t["key"]): str(t.get("value", "")) for t in (tags or [])}


def public_view(instance: Mapping[str, Any]) -> Dict[str, Any]:
    """An instance without its credential fields, safe to return, log and cache."""
    return {k: v for k, v in instance.items() if k not in SECRET_INSTANCE_FIELDS}


def regions_with_capacity(instance_types: Mapping[str, Any], type_name: str) -> List[str]:
    """Region names the ``/instance-types`` answer lists as having capacity for a type."""
    item = instance_types.get(type_name) or {}
    return [r["name"] for r in item.get("regions_with_capacity_available", [])]


def candidate_regions(preferred: Sequence[str], available: Sequence[str]) -> List[str]:
    """The preferred regions that have capacity, in the user's order of preference."""
    return [region for region in preferred if region in available]


def normalize_public_key(key: str) -> str:
    """An OpenSSH public key without its comment, for comparing keys."""
    return " ".join(key.split()[:2])


def role_groups(tags: Mapping[str, str]) -> List[str]:
    """Group names from the ``hearth-role`` tag (comma- or space-separated, e.g. ``gpu,data``)."""
    raw = tags.get(ROLE_TAG, "")
    return sorted({part.strip() for part in raw.replace(",", " ").split() if part.strip()})


def gpu_facts(instance_type: Mapping[str, Any]) -> Dict[str, Any]:
    """GPU and machine specs of an instance type, as host variables."""
    specs = instance_type.get("specs") or {}
    return {
        "count": specs.get("gpus", 0),
        "model": instance_type.get("gpu_description", ""),
        "description": instance_type.get("description", ""),
        "vcpus": specs.get("vcpus"),
        "memory_gib": specs.get("memory_gib"),
        "storage_gib": specs.get("storage_gib"),
        "price_cents_per_hour": instance_type.get("price_cents_per_hour"),
    }


def api_argument_spec() -> Dict[str, Any]:
    """Options every Lambda Cloud module takes (token, endpoint, pacing)."""
    from ansible.module_utils.basic import env_fallback

    return {
        "api_key": {"type": "str", "no_log": True, "fallback": (env_fallback, [API_KEY_ENV])},
        "api_url": {"type": "str", "default": DEFAULT_API_URL, "fallback": (env_fallback, [API_URL_ENV])},
        "api_timeout": {"type": "float", "default": 30.0},
        "request_interval": {"type": "float", "default": REQUEST_INTERVAL},
        "launch_interval": {"type": "float", "default": LAUNCH_INTERVAL},
    }


def client_from_params(params: Mapping[str, Any], **kwargs: Any) -> LambdaClient:
    """A client configured from module parameters (see :func:`api_argument_spec`)."""
    return LambdaClient(params.get("api_key") or "", params.get("api_url") or DEFAULT_API_URL,
                        timeout=params.get("api_timeout") or 30.0,
                        request_interval=params["request_interval"],
                        launch_interval=params["launch_interval"], **kwargs)


def split_region_candidates(preferred: Sequence[str], instance_types: Mapping[str, Any],
                            type_name: str) -> Tuple[List[str], List[str]]:
    """(preferred regions with capacity, all regions with capacity) for an instance type."""
    available = regions_with_capacity(instance_types, type_name)
    return candidate_regions(preferred, available), available
