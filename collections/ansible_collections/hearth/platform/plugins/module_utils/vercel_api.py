# -*- coding: utf-8 -*-
"""Vercel REST API client and the pure planning behind the ``vercel_env`` module.

Standard library only, so it runs inside an AnsiballZ payload and in unit tests.

Endpoints used (Vercel REST API, project environment variables):

* ``GET /v10/projects/{idOrName}/env?decrypt=true`` - list a project's variables;
* ``POST /v10/projects/{idOrName}/env?upsert=true`` - create or update one or more variables;
  answers ``201`` with ``{"created": ..., "failed": [{"error": {...}}]}``, so a 201 can still
  carry failures;
* ``DELETE /v9/projects/{idOrName}/env/{id}`` - remove one variable.

Every call takes ``teamId`` or ``slug`` in the query to act on behalf of a team.

Idempotence without reading secrets back: values of ``sensitive`` variables can never be read
again, so every value Hearth writes carries a salted PBKDF2 fingerprint in the variable's
``comment`` (``hearth:v1:<salt>:<hash>``). The next run recomputes it from the desired value
and reports ``changed`` only when it differs. Variables written by someone else have no
fingerprint: readable ones are compared by value, sensitive ones are rewritten once (and carry
a fingerprint from then on).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

DEFAULT_API_URL = "https://api.vercel.com"
TOKEN_ENV = "VERCEL_TOKEN"
USER_AGENT = "hearth-vercel/1.0"
TARGETS = ("production", "preview", "development")
SENSITIVE_TARGETS = frozenset({"production", "preview"})
TYPES = ("auto", "sensitive", "encrypted", "plain")
MARKER_PREFIX = "hearth:v1:"
PBKDF2_ITERATIONS = 100_000
COMMENT_MAX = 500
MAX_ATTEMPTS = 4
MASK = "********"


class VercelApiError(Exception):
    """An API failure with Vercel's ``error.code`` and ``message`` and the HTTP status."""

    HINTS = {
        401: "the token is missing, expired or revoked (vercel_env token / VERCEL_TOKEN)",
        403: "the token cannot act on this project; check the team scope (team_id or team_slug) "
             "and that the token belongs to a member of that team",
        404: "no such project in this scope; check the project name or id and the team scope",
    }

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def __str__(self) -> str:
        text = "Vercel API error %s (HTTP %s): %s" % (self.code, self.status, self.message)
        hint = self.HINTS.get(self.status)
        return text + (" - " + hint if hint else "")


class Response(NamedTuple):
    """What a transport returns: status, lower-cased headers and the raw body."""

    status: int
    headers: Dict[str, str]
    body: bytes


Transport = Callable[[str, str, Dict[str, str], Optional[bytes], float], Response]


def urllib_transport(method: str, url: str, headers: Dict[str, str], body: Optional[bytes],
                     timeout: float) -> Response:
    """Send one request with urllib; HTTP errors come back as responses, not exceptions."""
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:  # nosec B310
            return Response(reply.status, {k.lower(): v for k, v in reply.headers.items()},
                            reply.read())
    except urllib.error.HTTPError as err:
        return Response(err.code, {k.lower(): v for k, v in (err.headers or {}).items()},
                        err.read() or b"")


def _error_from(response: Response) -> VercelApiError:
    """Turn an error response into VercelApiError, tolerating non-JSON bodies."""
    try:
        payload = json.loads(response.body.decode("utf-8") or "{}")
    except ValueError:
        payload = {}
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return VercelApiError(response.status, str(error.get("code", "unknown")),
                              str(error.get("message", "")))
    return VercelApiError(response.status, "http_%d" % response.status,
                          response.body[:200].decode("utf-8", "replace"))


class VercelClient:
    """Thin client for the project environment endpoints, scoped to one team or account."""

    def __init__(self, token: str, team_id: Optional[str] = None, team_slug: Optional[str] = None,
                 api_url: str = DEFAULT_API_URL, timeout: float = 30.0,
                 transport: Transport = urllib_transport,
                 sleep: Callable[[float], None] = time.sleep):
        self.token = token
        self.scope = {"teamId": team_id} if team_id else ({"slug": team_slug} if team_slug else {})
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.transport = transport
        self.sleep = sleep

    def request(self, method: str, path: str, query: Optional[Mapping[str, str]] = None,
                body: Any = None) -> Any:
        """One API call with the team scope; retries 429 and 5xx a few times."""
        params = dict(query or {})
        params.update(self.scope)
        url = self.api_url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        headers = {"Authorization": "Bearer " + self.token, "Accept": "application/json",
                   "User-Agent": USER_AGENT}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        for attempt in range(1, MAX_ATTEMPTS + 1):
            response = self.transport(method, url, headers, data, self.timeout)
            retryable = response.status == 429 or response.status >= 500
            if retryable and attempt < MAX_ATTEMPTS:
                self.sleep(retry_delay(response.headers.get("retry-after"), attempt))
                continue
            if response.status >= 400:
                raise _error_from(response)
            return json.loads(response.body.decode("utf-8")) if response.body else {}
        raise AssertionError("unreachable")  # pragma: no cover

    def list_env(self, project: str) -> List[Dict[str, Any]]:
        """Every variable of the project (values decrypted where Vercel allows it)."""
        path = "/v10/projects/%s/env" % urllib.parse.quote(project, safe="")
        payload = self.request("GET", path, {"decrypt": "true"})
        if isinstance(payload, dict) and isinstance(payload.get("envs"), list):
            return payload["envs"]
        if isinstance(payload, list):
            return payload
        if isinstance(payload, dict) and "key" in payload:
            return [payload]
        raise VercelApiError(200, "unexpected_response", "list of variables has no 'envs'")

    def upsert_env(self, project: str, entries: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
        """Create or update variables in one call; a 201 listing failures raises."""
        path = "/v10/projects/%s/env" % urllib.parse.quote(project, safe="")
        payload = self.request("POST", path, {"upsert": "true"}, list(entries))
        failed = payload.get("failed") if isinstance(payload, dict) else None
        if failed:
            raise VercelApiError(201, "partial_failure", describe_failures(failed))
        return payload if isinstance(payload, dict) else {}

    def delete_env(self, project: str, env_id: str) -> None:
        """Remove one variable by id."""
        path = "/v9/projects/%s/env/%s" % (urllib.parse.quote(project, safe=""),
                                           urllib.parse.quote(env_id, safe=""))
        self.request("DELETE", path)


def retry_delay(retry_after: Optional[str], attempt: int) -> float:
    """Seconds before the next attempt: ``Retry-After`` when given, else 1, 2, 4 ... (max 30)."""
    if retry_after and retry_after.strip().isdigit():
        return min(float(retry_after.strip()), 30.0)
    return min(2.0 ** (attempt - 1), 30.0)


def describe_failures(failed: Sequence[Any]) -> str:
    """Readable summary of the ``failed`` list of a 201: key, targets, code and message."""
    parts = []
    for item in failed:
        error = item.get("error", item) if isinstance(item, dict) else {}
        key = error.get("envVarKey") or error.get("key") or "?"
        target = error.get("target")
        targets = ",".join(target) if isinstance(target, list) else (target or "?")
        parts.append("%s [%s]: %s %s" % (key, targets, error.get("code", "unknown"),
                                         error.get("message", "")))
    return "Vercel refused %d variable(s): %s" % (len(parts), "; ".join(parts))


# ---------------------------------------------------------------------------------------------
# Fingerprints kept in the comment


def fingerprint(value: str, salt: Optional[bytes] = None,
                iterations: int = PBKDF2_ITERATIONS) -> str:
    """``hearth:v1:<salt>:<hash>``: a salted, slow hash of the value (never the value)."""
    salt = salt if salt is not None else os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha256", value.encode("utf-8"), salt, iterations, dklen=18)
    return "%s%s:%s" % (MARKER_PREFIX, base64.urlsafe_b64encode(salt).decode("ascii"),
                        base64.urlsafe_b64encode(digest).decode("ascii"))


def split_comment(comment: Optional[str]) -> Tuple[str, Optional[str]]:
    """Separate a comment into the people-written part and Hearth's fingerprint (if any)."""
    text = comment or ""
    at = text.rfind(MARKER_PREFIX)
    if at == -1:
        return text, None
    return text[:at].rstrip(), text[at:].strip()


def fingerprint_matches(marker: str, value: str, iterations: int = PBKDF2_ITERATIONS) -> bool:
    """Whether a stored fingerprint was made from ``value``."""
    try:
        salt_b64, _, _ = marker[len(MARKER_PREFIX):].partition(":")
        salt = base64.urlsafe_b64decode(salt_b64.encode("ascii"))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(fingerprint(value, salt, iterations), marker)


def compose_comment(user_comment: str, value: str, iterations: int = PBKDF2_ITERATIONS) -> str:
    """The comment Hearth writes: the people-written part, then a fresh fingerprint."""
    marker = fingerprint(value, iterations=iterations)
    return (user_comment + " " + marker) if user_comment else marker


# ---------------------------------------------------------------------------------------------
# Planning: desired state vs. what the project holds


class Desired(NamedTuple):
    """One entry Hearth wants: a key for a set of targets, with one type."""

    key: str
    targets: Tuple[str, ...]
    type: str
    git_branch: Optional[str]
    comment: str
    value: str


class Action(NamedTuple):
    """One step of a plan; ``entry`` is the desired entry, ``existing`` the API's object."""

    kind: str  # create | update | delete | unchanged
    key: str
    targets: Tuple[str, ...]
    type: str
    git_branch: Optional[str]
    entry: Optional[Desired]
    existing: Optional[Dict[str, Any]]


class PlanError(ValueError):
    """Input or project state the module refuses to act on (message names the key)."""


def ordered_targets(targets: Sequence[str]) -> Tuple[str, ...]:
    """Targets in Vercel's order, without duplicates."""
    return tuple(t for t in TARGETS if t in set(targets))


def validate_variable(var: Mapping[str, Any]) -> None:
    """Checks argument specs cannot express: targets, branches, sensitive in development."""
    key = var["key"]
    targets = list(TARGETS) if var.get("targets") is None else var["targets"]
    if not key or not all(ch.isalnum() or ch == "_" for ch in key) or key[0].isdigit():
        raise PlanError("variable %r: key must be letters, digits and '_' and not start with a "
                        "digit" % key)
    unknown = sorted(set(targets) - set(TARGETS))
    if unknown or not targets:
        raise PlanError("variable %s: targets must be a non-empty subset of %s, got %r"
                        % (key, list(TARGETS), targets))
    if var.get("git_branch") and list(ordered_targets(targets)) != ["preview"]:
        raise PlanError("variable %s: git_branch applies to the preview target only; set "
                        "targets: [preview]" % key)
    if var.get("type") == "sensitive" and "development" in targets:
        raise PlanError("variable %s: Vercel cannot store sensitive variables for the "
                        "development target; use type auto (sensitive for production and "
                        "preview, encrypted for development) or drop development" % key)
    if var.get("state", "present") == "present" and var.get("value") is None:
        raise PlanError("variable %s: value is required when state is present" % key)


def desired_entries(var: Mapping[str, Any]) -> List[Desired]:
    """Split a variable into entries of one type each (``auto``: sensitive where allowed)."""
    validate_variable(var)
    targets = ordered_targets(var.get("targets") or TARGETS)
    kind = var.get("type") or "auto"
    base = dict(key=var["key"], git_branch=var.get("git_branch") or None,
                comment=var.get("comment") or "", value=str(var.get("value", "")))
    if kind != "auto":
        return [Desired(targets=targets, type=kind, **base)]
    entries = []
    secret = tuple(t for t in targets if t in SENSITIVE_TARGETS)
    plain = tuple(t for t in targets if t not in SENSITIVE_TARGETS)
    if secret:
        entries.append(Desired(targets=secret, type="sensitive", **base))
    if plain:
        entries.append(Desired(targets=plain, type="encrypted", **base))
    return entries


def _targets_of(existing: Mapping[str, Any]) -> Tuple[str, ...]:
    target = existing.get("target") or []
    return ordered_targets([target] if isinstance(target, str) else target)


def value_matches(existing: Mapping[str, Any], desired: Desired,
                  iterations: int = PBKDF2_ITERATIONS) -> bool:
    """Whether an existing entry already holds the desired value and comment."""
    user_comment, marker = split_comment(existing.get("comment"))
    if user_comment != desired.comment:
        return False
    if marker is not None:
        return fingerprint_matches(marker, desired.value, iterations)
    readable = existing.get("type") == "plain" or existing.get("decrypted") is True
    if existing.get("type") != "sensitive" and readable and "value" in existing:
        return existing.get("value") == desired.value
    return False


def plan_variable(var: Mapping[str, Any], existing: Sequence[Mapping[str, Any]],
                  iterations: int = PBKDF2_ITERATIONS) -> List[Action]:
    """Actions that make one variable as desired; raises PlanError on target conflicts."""
    state = var.get("state", "present")
    validate_variable(var)
    key = var["key"]
    branch = var.get("git_branch") or None
    wanted = ordered_targets(var.get("targets") or TARGETS)
    related = [e for e in existing
               if e.get("key") == key and (e.get("gitBranch") or None) == branch
               and set(_targets_of(e)) & set(wanted)]
    for entry in related:
        outside = set(_targets_of(entry)) - set(wanted)
        if outside:
            raise PlanError(
                "variable %s: an existing entry also covers %s, which this task does not name "
                "(it names %s); list every target of that entry or remove it first"
                % (key, ", ".join(ordered_targets(list(outside))), ", ".join(wanted)))
    if state == "absent":
        return [Action("delete", key, _targets_of(e), str(e.get("type")), branch, None, dict(e))
                for e in related]
    actions: List[Action] = []
    unmatched = list(related)
    for desired in desired_entries(var):
        twin = next((e for e in unmatched if _targets_of(e) == desired.targets
                     and e.get("type") == desired.type), None)
        if twin is None:
            actions.append(Action("create", key, desired.targets, desired.type, branch,
                                  desired, None))
            continue
        unmatched.remove(twin)
        kind = "unchanged" if value_matches(twin, desired, iterations) else "update"
        actions.append(Action(kind, key, desired.targets, desired.type, branch, desired,
                              dict(twin)))
    deletes = [Action("delete", key, _targets_of(e), str(e.get("type")), branch, None, dict(e))
               for e in unmatched]
    return deletes + actions


def request_body(desired: Desired, iterations: int = PBKDF2_ITERATIONS) -> Dict[str, Any]:
    """The POST body for one entry (value plus a fresh fingerprint in the comment)."""
    body: Dict[str, Any] = {"key": desired.key, "value": desired.value, "type": desired.type,
                            "target": list(desired.targets),
                            "comment": compose_comment(desired.comment, desired.value,
                                                       iterations)}
    if desired.git_branch:
        body["gitBranch"] = desired.git_branch
    if len(body["comment"]) > COMMENT_MAX:
        raise PlanError("variable %s: comment is too long; Vercel keeps %d characters and the "
                        "fingerprint needs %d" % (desired.key, COMMENT_MAX,
                                                  len(fingerprint("", b"x" * 12, 1)) + 1))
    return body


def describe(action: Action, after: bool) -> Optional[str]:
    """One diff line with the value masked; None when the entry is absent on that side."""
    if after and action.kind == "delete":
        return None
    if not after and action.kind == "create":
        return None
    branch = " branch=%s" % action.git_branch if action.git_branch else ""
    kind = action.type if after or action.existing is None else str(action.existing.get("type"))
    note = " (new value)" if after and action.kind in ("create", "update") else ""
    return "%s targets=%s type=%s%s value=%s%s" % (action.key, ",".join(action.targets), kind,
                                                   branch, MASK, note)


def diff_text(actions: Sequence[Action]) -> Dict[str, str]:
    """``before``/``after`` texts for Ansible's diff: keys, targets and types, values masked."""
    def side(after: bool) -> str:
        lines = sorted(filter(None, (describe(a, after) for a in actions)))
        return "".join(line + "\n" for line in lines)
    return {"before": side(False), "after": side(True)}
