"""Fake of Vercel's project environment-variable endpoints, served on 127.0.0.1.

It follows the published contract of:

* ``GET /v10/projects/{idOrName}/env`` (``decrypt``, ``teamId``/``slug``) -> ``{"envs": [...]}``;
  ``sensitive`` values are never returned, ``encrypted`` ones only with ``decrypt=true``;
* ``POST /v10/projects/{idOrName}/env`` (``upsert``) with one object or a list -> ``201``
  ``{"created": ..., "failed": [{"error": {"code", "message", "key", "target"}}]}``; a single
  object that fails answers ``400``;
* ``DELETE /v9/projects/{idOrName}/env/{id}``.

Authentication is ``Authorization: Bearer <token>``: an unknown token gets ``401``, a token
without access to the requested team ``403``, an unknown project ``404``. Projects live in a
scope: the token's own account (no team parameter) or a team (``teamId`` or ``slug``).

Upsert rule the fake applies: an existing entry with the same key, Git branch and exactly the
same targets is updated; any other overlap of targets is a conflict (``ENV_CONFLICT``).
Tests can make chosen keys fail (``reject_keys``) to produce a 201 with ``failed`` entries.
"""
from __future__ import annotations

import itertools
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Set, Tuple

TARGETS = ("production", "preview", "development")
TYPES = ("encrypted", "plain", "sensitive")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class FakeVercel:
    """Thread-backed HTTP server with in-memory projects; use as a context manager."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tokens: Dict[str, Set[str]] = {}          # token -> team ids it may use
        self.teams: Dict[str, str] = {}                # slug -> team id
        self.projects: Dict[Tuple[str, str], Dict[str, Any]] = {}  # (scope, id) -> project
        self.requests: List[Dict[str, Any]] = []
        self.reject_keys: Dict[str, str] = {}          # key -> error code for POSTs
        self._ids = itertools.count(1)
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # -- set-up helpers -------------------------------------------------------------------
    def add_token(self, token: str, teams: Tuple[str, ...] = ()) -> None:
        self.tokens[token] = set(teams)

    def add_team(self, team_id: str, slug: str) -> None:
        self.teams[slug] = team_id

    def add_project(self, name: str, team_id: str = "") -> str:
        project_id = "prj_%04d" % next(self._ids)
        self.projects[(team_id, project_id)] = {"id": project_id, "name": name, "envs": []}
        return project_id

    def add_env(self, project: str, key: str, value: str, targets: List[str],
                type_: str = "encrypted", team_id: str = "", comment: str = "",
                git_branch: Optional[str] = None) -> Dict[str, Any]:
        proj = self._project(team_id, project)
        env = self._new_env({"key": key, "value": value, "target": targets, "type": type_,
                             "comment": comment, "gitBranch": git_branch})
        proj["envs"].append(env)
        return env

    def envs(self, project: str, team_id: str = "") -> List[Dict[str, Any]]:
        """Stored entries, values included (for assertions)."""
        return [dict(e) for e in self._project(team_id, project)["envs"]]

    def writes(self) -> List[Dict[str, Any]]:
        return [r for r in self.requests if r["method"] != "GET"]

    @property
    def url(self) -> str:
        assert self._server is not None
        return "http://127.0.0.1:%d" % self._server.server_address[1]

    # -- life cycle -----------------------------------------------------------------------
    def __enter__(self) -> "FakeVercel":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, payload = fake.dispatch(self.command, self.path,
                                                self.headers.get("Authorization", ""), raw)
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = do_PATCH = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- request handling -----------------------------------------------------------------
    def dispatch(self, method: str, raw_path: str, auth: str, raw: bytes) -> Tuple[int, Any]:
        parsed = urllib.parse.urlsplit(raw_path)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        body = json.loads(raw) if raw else None
        with self.lock:
            self.requests.append({"method": method, "path": parsed.path, "query": query,
                                  "body": body})
            try:
                scope = self._authorize(auth, query)
                parts = parsed.path.strip("/").split("/")
                if len(parts) == 4 and parts[0] == "v10" and parts[1] == "projects" \
                        and parts[3] == "env":
                    project = self._project(scope, urllib.parse.unquote(parts[2]))
                    if method == "GET":
                        return 200, self._list(project, query.get("decrypt") == "true")
                    if method == "POST":
                        return self._create(project, body, query.get("upsert") == "true")
                if len(parts) == 5 and parts[0] == "v9" and parts[1] == "projects" \
                        and parts[3] == "env" and method == "DELETE":
                    project = self._project(scope, urllib.parse.unquote(parts[2]))
                    return 200, self._delete(project, urllib.parse.unquote(parts[4]))
                raise ApiError(404, "not_found", "The requested path was not found")
            except ApiError as err:
                return err.status, {"error": {"code": err.code, "message": err.message}}

    def _authorize(self, auth: str, query: Dict[str, str]) -> str:
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
        if token not in self.tokens:
            raise ApiError(401, "unauthorized", "The token is invalid or has expired")
        team = query.get("teamId") or self.teams.get(query.get("slug", ""), "")
        if (query.get("teamId") or query.get("slug")) and team not in self.tokens[token]:
            raise ApiError(403, "forbidden", "Not authorized")
        return team

    def _project(self, scope: str, id_or_name: str) -> Dict[str, Any]:
        for (owner, _), project in self.projects.items():
            if owner == scope and id_or_name in (project["id"], project["name"]):
                return project
        raise ApiError(404, "not_found", "Project not found")

    def _new_env(self, item: Dict[str, Any]) -> Dict[str, Any]:
        env = {"id": "env_%06d" % next(self._ids), "key": item["key"], "value": item["value"],
               "type": item["type"], "target": [t for t in TARGETS if t in item["target"]],
               "comment": item.get("comment") or "", "createdAt": 1, "updatedAt": 1}
        if item.get("gitBranch"):
            env["gitBranch"] = item["gitBranch"]
        return env

    def _list(self, project: Dict[str, Any], decrypt: bool) -> Dict[str, Any]:
        out = []
        for env in project["envs"]:
            shown = {k: v for k, v in env.items() if k != "value"}
            if env["type"] == "plain":
                shown["value"] = env["value"]
            elif env["type"] == "encrypted":
                shown["value"] = env["value"] if decrypt else "enc:" + env["id"]
                shown["decrypted"] = decrypt
            else:  # sensitive: never readable again
                shown["decrypted"] = False
            out.append(shown)
        return {"envs": out}

    def _check(self, item: Any) -> None:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) \
                or not isinstance(item.get("value"), str):
            raise ApiError(400, "bad_request", "Each variable needs a string key and value")
        if item.get("type") not in TYPES:
            raise ApiError(400, "bad_request", "type must be one of %s" % ", ".join(TYPES))
        targets = item.get("target")
        if not isinstance(targets, list) or not targets or set(targets) - set(TARGETS):
            raise ApiError(400, "bad_request", "target must list production/preview/development")
        if item["type"] == "sensitive" and "development" in targets:
            raise ApiError(400, "bad_request",
                           "Sensitive variables cannot target the development environment")
        if item.get("gitBranch") and targets != ["preview"]:
            raise ApiError(400, "bad_request", "gitBranch requires target preview only")
        if len(item.get("comment") or "") > 500:
            raise ApiError(400, "bad_request", "comment is limited to 500 characters")
        if item["key"] in self.reject_keys:
            raise ApiError(400, self.reject_keys[item["key"]], "The variable was rejected")

    def _upsert_one(self, project: Dict[str, Any], item: Dict[str, Any],
                    upsert: bool) -> Dict[str, Any]:
        self._check(item)
        branch = item.get("gitBranch") or None
        wanted = set(item["target"])
        for env in project["envs"]:
            if env["key"] != item["key"] or (env.get("gitBranch") or None) != branch:
                continue
            overlap = set(env["target"]) & wanted
            if not overlap:
                continue
            if upsert and set(env["target"]) == wanted:
                env.update(value=item["value"], type=item["type"],
                           comment=item.get("comment") or "", updatedAt=env["updatedAt"] + 1)
                return {k: v for k, v in env.items() if k != "value"}
            raise ApiError(400, "ENV_CONFLICT", "A variable with the name %s already exists for "
                           "the target %s" % (item["key"], sorted(overlap)[0]))
        env = self._new_env(item)
        project["envs"].append(env)
        return {k: v for k, v in env.items() if k != "value"}

    def _create(self, project: Dict[str, Any], body: Any, upsert: bool) -> Tuple[int, Any]:
        if isinstance(body, dict):
            return 201, {"created": self._upsert_one(project, body, upsert), "failed": []}
        if not isinstance(body, list) or not body:
            raise ApiError(400, "bad_request", "Body must be a variable or a list of them")
        created, failed = [], []
        for item in body:
            try:
                created.append(self._upsert_one(project, item, upsert))
            except ApiError as err:
                key = item.get("key") if isinstance(item, dict) else None
                target = item.get("target") if isinstance(item, dict) else None
                failed.append({"error": {"code": err.code, "message": err.message,
                                         "key": key, "envVarKey": key, "target": target}})
        return 201, {"created": created, "failed": failed}

    def _delete(self, project: Dict[str, Any], env_id: str) -> Dict[str, Any]:
        for env in project["envs"]:
            if env["id"] == env_id:
                project["envs"].remove(env)
                return {k: v for k, v in env.items() if k != "value"}
        raise ApiError(404, "not_found", "Environment variable not found")
