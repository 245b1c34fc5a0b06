"""The fake Lambda Cloud API: in-memory state behind ``http.server`` on 127.0.0.1.

State and behaviour follow the OpenAPI document; knobs on ``FakeLambda`` set up the
scenarios the tests need (no capacity, throttling, an instance that never finishes booting).
"""
from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Set, Tuple
from urllib.parse import parse_qs, urlsplit

from .contract import Contract, load_contract

PREFIX = "/api/v1"
REGIONS = {
    "us-west-1": "California, USA",
    "us-east-1": "Virginia, USA",
    "us-south-1": "Texas, USA",
    "europe-central-1": "Germany",
}
INSTANCE_TYPES = {
    "gpu_1x_a10": ("1x A10 (24 GB PCIe)", "A10 (24 GB PCIe)", 75, 30, 200, 1400, 1),
    "gpu_1x_gh200": ("1x GH200 (96 GB)", "GH200 (96 GB)", 149, 64, 432, 4096, 1),
    "gpu_8x_h100_sxm5": ("8x H100 (80 GB SXM5)", "H100 (80 GB SXM5)", 2392, 208, 1800, 22528, 8),
}
ACTIONS = ("migrate", "rebuild", "restart", "cold_reboot", "terminate")


def error(code: str, message: str, suggestion: Optional[str] = None) -> Dict[str, Any]:
    """An API error envelope."""
    body: Dict[str, Any] = {"code": code, "message": message}
    if suggestion is not None:
        body["suggestion"] = suggestion
    return {"error": body}


class ApiFailure(Exception):
    """Raised inside a handler to answer with an error envelope."""

    def __init__(self, status: int, body: Dict[str, Any], headers: Optional[Dict[str, str]] = None):
        super().__init__(body)
        self.status = status
        self.body = body
        self.headers = headers or {}


class FakeLambda:
    """In-memory Lambda Cloud account served over HTTP, checked against the contract."""

    def __init__(self, api_key: str = "test-key-0123456789", contract: Optional[Contract] = None):
        self.contract = contract or load_contract()
        self.api_keys: Set[str] = {api_key}
        self.api_key = api_key
        self.lock = threading.RLock()
        self.capacity: Dict[str, List[str]] = {t: ["us-west-1", "us-east-1"] for t in INSTANCE_TYPES}
        self.launch_refused: Set[Tuple[str, str]] = set()  # listed with capacity, launch still fails
        self.boot_polls: Optional[int] = 1  # reads of a booting instance before it is active
        self.throttle: List[Optional[str]] = []  # Retry-After values of the next 429 answers
        self.instances: Dict[str, Dict[str, Any]] = {}
        self.ssh_keys: Dict[str, Dict[str, Any]] = {}
        self.filesystems: Dict[str, Dict[str, Any]] = {}
        self.rulesets: Dict[str, Dict[str, Any]] = {}
        self.log: List[Tuple[str, str, Any]] = []  # (method, path, parsed body) of valid requests
        self.violations: List[str] = []
        self._polls: Dict[str, int] = {}
        self._next_ip = 10
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # Lifecycle -----------------------------------------------------------------------------
    def start(self) -> "FakeLambda":
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return "http://127.0.0.1:%d" % self._server.server_address[1]

    # Fixtures ------------------------------------------------------------------------------
    def calls(self, method: str, path: str) -> List[Any]:
        """Bodies of the valid requests made to ``method path`` (path after /api/v1)."""
        with self.lock:
            return [body for m, p, body in self.log if m == method and p == PREFIX + path]

    def add_ssh_key(self, name: str, public_key: str) -> Dict[str, Any]:
        key = {"id": uuid.uuid4().hex, "name": name, "public_key": public_key}
        self.ssh_keys[key["id"]] = key
        return key

    def add_filesystem(self, name: str, region: str) -> Dict[str, Any]:
        fs: Dict[str, Any] = {"id": uuid.uuid4().hex, "name": name, "mount_point": "/lambda/nfs/%s" % name,
              "created": "2025-01-01T00:00:00+00:00",
              "created_by": {"id": uuid.uuid4().hex, "email": "ops@example.com", "status": "active"},
              "is_in_use": False, "region": self.region(region), "bytes_used": 0}
        self.filesystems[fs["id"]] = fs
        return fs

    def add_ruleset(self, name: str, region: str) -> Dict[str, Any]:
        rs: Dict[str, Any] = {"id": uuid.uuid4().hex, "name": name, "region": self.region(region),
              "rules": [{"protocol": "tcp", "port_range": [22, 22], "source_network": "0.0.0.0/0",
                         "description": "SSH"}],
              "created": "2025-01-01T00:00:00+00:00", "instance_ids": []}
        self.rulesets[rs["id"]] = rs
        return rs

    def add_instance(self, name: str, instance_type: str = "gpu_1x_a10", region: str = "us-west-1",
                     status: str = "active", tags: Optional[Dict[str, str]] = None,
                     ssh_key: str = "ops") -> Dict[str, Any]:
        """Put an instance straight into the account (as if launched earlier)."""
        inst = self._new_instance({"name": name, "instance_type_name": instance_type,
                                   "region_name": region, "ssh_key_names": [ssh_key],
                                   "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]})
        inst["status"] = status
        if status == "active":
            self._assign_ips(inst)
        return inst

    @staticmethod
    def region(name: str) -> Dict[str, str]:
        return {"name": name, "description": REGIONS[name]}

    @staticmethod
    def instance_type(name: str) -> Dict[str, Any]:
        desc, gpu, price, vcpus, mem, disk, gpus = INSTANCE_TYPES[name]
        return {"name": name, "description": desc, "gpu_description": gpu,
                "price_cents_per_hour": price,
                "specs": {"vcpus": vcpus, "memory_gib": mem, "storage_gib": disk, "gpus": gpus}}

    def _assign_ips(self, inst: Dict[str, Any]) -> None:
        self._next_ip += 1
        inst["ip"] = "198.51.100.%d" % self._next_ip
        inst["private_ip"] = "10.19.0.%d" % self._next_ip
        inst["hostname"] = inst["ip"].replace(".", "-")

    def _new_instance(self, req: Dict[str, Any]) -> Dict[str, Any]:
        fs_names = req.get("file_system_names", [])
        fs_by_name = {fs["name"]: fs for fs in self.filesystems.values()}
        inst: Dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "name": req.get("name", ""),
            "status": "booting",
            "ssh_key_names": list(req["ssh_key_names"]),
            "file_system_names": list(fs_names),
            "file_system_mounts": [{"mount_point": fs_by_name[n]["mount_point"],
                                    "file_system_id": fs_by_name[n]["id"]} for n in fs_names],
            "region": self.region(req["region_name"]),
            "instance_type": self.instance_type(req["instance_type_name"]),
            "jupyter_token": uuid.uuid4().hex,
            "jupyter_url": "https://jupyter.example.invalid/?token=secret",
            "actions": {a: {"available": True} for a in ACTIONS},
            "tags": [{"key": t["key"], "value": t["value"]} for t in req.get("tags", [])],
            "firewall_rulesets": [{"id": r["id"]} for r in req.get("firewall_rulesets", [])],
        }
        self.instances[inst["id"]] = inst
        self._polls[inst["id"]] = 0
        return inst

    def _advance(self, inst: Dict[str, Any]) -> None:
        """A read of a booting instance moves it towards ``active``."""
        if inst["status"] != "booting" or self.boot_polls is None:
            return
        self._polls[inst["id"]] = self._polls.get(inst["id"], 0) + 1
        if self._polls[inst["id"]] >= self.boot_polls:
            inst["status"] = "active"
            if "ip" not in inst:
                self._assign_ips(inst)

    def _in_use(self, fs_name: str) -> bool:
        return any(fs_name in i["file_system_names"] for i in self.instances.values()
                   if i["status"] not in ("terminated", "terminating"))

    # Operations (called with the lock held) ---------------------------------------------------
    def handle(self, method: str, template: str, ids: List[str], body: Any) -> Tuple[int, Any]:
        key = (method, template[len(PREFIX):])
        if key == ("GET", "/instances"):
            for inst in self.instances.values():
                self._advance(inst)
            return 200, {"data": list(self.instances.values())}
        if key == ("GET", "/instances/{id}"):
            inst = self._instance(ids[0])
            self._advance(inst)
            return 200, {"data": inst}
        if key == ("GET", "/instance-types"):
            return 200, {"data": {name: {"instance_type": self.instance_type(name),
                                         "regions_with_capacity_available":
                                             [self.region(r) for r in self.capacity.get(name, [])]}
                                  for name in INSTANCE_TYPES}}
        if key == ("POST", "/instance-operations/launch"):
            return 200, {"data": {"instance_ids": [self._launch(body)["id"]]}}
        if key == ("POST", "/instance-operations/terminate"):
            found = [self._instance(i) for i in body["instance_ids"]]
            for inst in found:
                inst["status"] = "terminated"
                inst["actions"] = {a: {"available": False, "reason_code": "vm-is-terminating"}
                                   for a in ACTIONS}
            return 200, {"data": {"terminated_instances": found}}
        if key == ("POST", "/instance-operations/restart"):
            found = [self._instance(i) for i in body["instance_ids"]]
            for inst in found:
                if inst["status"] != "active":
                    raise ApiFailure(409, error("global/conflict", "Instance %s is %s."
                                                % (inst["id"], inst["status"])))
            for inst in found:
                inst["status"] = "booting"
                self._polls[inst["id"]] = 0
            return 200, {"data": {"restarted_instances": found}}
        if key == ("GET", "/ssh-keys"):
            return 200, {"data": list(self.ssh_keys.values())}
        if key == ("POST", "/ssh-keys"):
            if any(k["name"] == body["name"] for k in self.ssh_keys.values()):
                raise ApiFailure(400, error("global/invalid-parameters",
                                            "SSH key %s already exists." % body["name"]))
            if "public_key" not in body:
                raise ApiFailure(400, error("global/invalid-parameters",
                                            "This fake does not generate key pairs."))
            return 200, {"data": self.add_ssh_key(body["name"], body["public_key"])}
        if key == ("DELETE", "/ssh-keys/{id}"):
            if ids[0] not in self.ssh_keys:
                raise ApiFailure(404, error("global/not-found", "SSH key not found."))
            del self.ssh_keys[ids[0]]
            return 200, {"data": {}}
        if key == ("GET", "/file-systems"):
            for fs in self.filesystems.values():
                fs["is_in_use"] = self._in_use(fs["name"])
            return 200, {"data": list(self.filesystems.values())}
        if key == ("POST", "/filesystems"):
            if any(f["name"] == body["name"] for f in self.filesystems.values()):
                raise ApiFailure(400, error("global/duplicate", "Filesystem %s already exists."
                                            % body["name"]))
            if body["region"] not in REGIONS:
                raise ApiFailure(400, error("global/invalid-parameters", "Unknown region."))
            return 200, {"data": self.add_filesystem(body["name"], body["region"])}
        if key == ("DELETE", "/filesystems/{id}"):
            fs_found = self.filesystems.get(ids[0])
            if fs_found is None:
                raise ApiFailure(404, error("global/object-does-not-exist", "Filesystem was not found."))
            fs = fs_found
            if self._in_use(fs["name"]):
                raise ApiFailure(400, error("filesystems/filesystem-in-use",
                                            "Filesystem %s is in use." % fs["name"],
                                            "Terminate the instances using it first."))
            del self.filesystems[fs["id"]]
            return 200, {"data": {"deleted_ids": [fs["id"]]}}
        if key == ("GET", "/firewall-rulesets"):
            return 200, {"data": list(self.rulesets.values())}
        raise ApiFailure(404, error("global/not-found", "Not implemented by the fake."))

    def _instance(self, instance_id: str) -> Dict[str, Any]:
        inst = self.instances.get(instance_id)
        if inst is None:
            raise ApiFailure(404, error("global/object-does-not-exist", "Specified instance does not exist."))
        return inst

    def _launch(self, req: Dict[str, Any]) -> Dict[str, Any]:
        type_name, region = req["instance_type_name"], req["region_name"]
        not_found = "global/object-does-not-exist"
        if len(req["ssh_key_names"]) != 1:
            raise ApiFailure(400, error("global/invalid-parameters", "Exactly one SSH key must be specified."))
        if req["ssh_key_names"][0] not in {k["name"] for k in self.ssh_keys.values()}:
            raise ApiFailure(404, error(not_found, "SSH key not found.", "Add the SSH key first."))
        if type_name not in INSTANCE_TYPES or region not in REGIONS:
            raise ApiFailure(404, error(not_found, "Instance type or region not found.",
                                        "List instance types with GET /instance-types."))
        fs_by_name = {fs["name"]: fs for fs in self.filesystems.values()}
        for name in req.get("file_system_names", []):
            if name not in fs_by_name:
                raise ApiFailure(404, error(not_found, "Filesystem %s not found." % name,
                                            "Create the filesystem first."))
            if fs_by_name[name]["region"]["name"] != region:
                raise ApiFailure(400, error("instance-operations/launch/file-system-in-wrong-region",
                                            "Filesystem %s is not in %s." % (name, region)))
        for rs in req.get("firewall_rulesets", []):
            if rs["id"] not in self.rulesets or self.rulesets[rs["id"]]["region"]["name"] != region:
                raise ApiFailure(404, error(not_found, "Firewall ruleset %s not found in %s."
                                            % (rs["id"], region), "Check the ruleset's region."))
        if region not in self.capacity.get(type_name, []) or (type_name, region) in self.launch_refused:
            raise ApiFailure(400, error("instance-operations/launch/insufficient-capacity",
                                        "Not enough capacity to fulfill launch request.",
                                        "Try a different region or instance type."))
        return self._new_instance(req)


class _Handler(BaseHTTPRequestHandler):
    """Routes a request through the contract checks into ``FakeLambda.handle``."""

    fake: FakeLambda
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Keep test output quiet."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def _serve(self, method: str) -> None:
        fake = self.fake
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        route = fake.contract.route(method, parts.path)
        headers: Dict[str, str] = {}
        with fake.lock:
            try:
                status, payload = self._answer(method, parts, raw, route, headers)
            except ApiFailure as failure:
                status, payload = failure.status, failure.body
                headers.update(failure.headers)
            problems = fake.contract.response_errors(route, status, payload)
            fake.violations.extend("%s %s -> %s" % (method, parts.path, p) for p in problems)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _answer(self, method: str, parts: Any, raw: bytes, route: Any, headers: Dict[str, str]) -> Tuple[int, Any]:
        fake = self.fake
        if route is None:
            fake.violations.append("%s %s is not a documented operation" % (method, parts.path))
            raise ApiFailure(404, error("global/not-found", "The requested resource was not found."))
        shaped, valid = fake.contract.auth_ok(self.headers.get("Authorization"), fake.api_keys)
        if not shaped:
            fake.violations.append("%s %s sent no documented Authorization header" % (method, parts.path))
        if not valid:
            raise ApiFailure(401, error("global/invalid-api-key", "API key was invalid, expired, or deleted.",
                                        "Check your API key or create a new one, then try again."))
        if fake.throttle:
            retry_after = fake.throttle.pop(0)
            if retry_after is not None:
                headers["Retry-After"] = retry_after
            raise ApiFailure(429, error("global/rate-limited", "Too many requests.", "Slow down."))
        problems = fake.contract.request_errors(route, parse_qs(parts.query), raw,
                                                self.headers.get("Content-Type"))
        if problems:
            fake.violations.extend("%s %s -> %s" % (method, parts.path, p) for p in problems)
            raise ApiFailure(400, error("global/invalid-parameters", "; ".join(problems)))
        body = json.loads(raw) if raw else None
        fake.log.append((method, parts.path, body))
        ids = list(route.regex.match(parts.path).groups())
        return fake.handle(method, route.template, ids, body)
