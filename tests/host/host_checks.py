"""Pure helpers for the host invariants: parse what a host reports and decide what breaks a rule.

Kept apart from the tests that talk to hosts so that each rule is a small function with its own
unit tests (test_host_checks.py), run by a plain `pytest` without any host.
"""
from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# host.run as root (the `as_root` fixture): command with %s placeholders, then its arguments.
RunAsRoot = Callable[..., Any]
GZIP_MAGIC = b"\x1f\x8b"

# Only these may listen on every address or on a public one (the design: only Caddy faces the
# internet; sshd is how hosts are reached).
PUBLIC_PROCESSES = frozenset({"sshd", "caddy"})
# DHCP clients bind the client port on the interface to receive leases; they serve nothing.
DHCP_CLIENTS = frozenset({"systemd-network", "dhclient", "dhcpcd", "NetworkManager"})
DHCP_CLIENT_PORTS = frozenset({68, 546})
# Shorter values would match ordinary words in the journal.
MIN_SECRET_LENGTH = 12
# Environment keys whose values are secrets in files that also hold ordinary settings.
SECRET_KEY = re.compile(r"(?i)(password|passwd|secret|token|api_key|_key$|^key$|credential)")


@dataclass(frozen=True)
class Listener:
    """A listening socket as `ss -Hltnup` reports it."""

    proto: str
    address: str  # without brackets or %interface; "*" for any
    port: int
    processes: tuple[str, ...]  # empty when ss could not tell (no privileges, kernel-owned)
    uid: int | None = None  # the socket's owner (`ss -e`), which needs no access to the process

    def describe(self) -> str:
        """`(process) address:port/proto`, the form failures are listed in."""
        who = ",".join(self.processes) or "unknown process"
        where = f"[{self.address}]" if ":" in self.address else self.address
        return f"({who}) {where}:{self.port}/{self.proto}"


@dataclass(frozen=True)
class SecretFile:
    """A file (or directory) holding secrets: who must own it and the most it may allow.

    `unit`: the systemd unit whose presence means the role that writes the file ran on the host;
    None for files checked wherever they exist. `required`: the file must exist when the unit does.
    `values`: how to read secret values out of it for the journal check ("env", "all-env",
    "mc", "registry-auth", or "" when it holds none in clear text).
    """

    pattern: str  # a path, possibly with a shell glob
    unit: str | None
    owner: str
    group: str
    mode: int  # the most permissive mode allowed; group/other bits beyond it fail
    required: bool = True
    values: str = ""


# Collected from the roles' tasks and templates (mode 0600/0640/0700 and no_log tasks).
SECRET_FILES: tuple[SecretFile, ...] = (
    # caddy: API keys and DNS provider tokens (every value is secret); certificates' private keys.
    SecretFile("/etc/caddy/caddy.env", "caddy.service", "root", "caddy", 0o640, values="all-env"),
    SecretFile("/var/lib/caddy", "caddy.service", "caddy", "caddy", 0o700),
    # minio: root credentials for the server, and root's client alias.
    SecretFile("/etc/minio/minio.env", "minio.service", "root", "minio", 0o640, values="env"),
    SecretFile("/root/.mc/config.json", "minio.service", "root", "root", 0o600, required=False, values="mc"),
    SecretFile("/root/.minio-client/config.json", "minio.service", "root", "root", 0o600, required=False, values="mc"),
    # redis_exporter: its ACL user's password, read by systemd as root.
    SecretFile("/etc/default/prometheus-redis-exporter", "prometheus-redis-exporter.service", "root", "root", 0o600,
               values="env"),
    # monitoring: Alertmanager's receivers (SMTP password, webhook and Slack URLs).
    SecretFile("/etc/prometheus/alertmanager.yml", "prometheus-alertmanager.service", "root", "prometheus", 0o640),
    # redis: ACL users (hashed passwords only, so no clear values to look for).
    SecretFile("/etc/redis/users.acl", "redis-server.service", "root", "redis", 0o640),
    # postgres: who may log in how, and the cluster itself (postgres refuses looser data dirs).
    SecretFile("/etc/postgresql/*/main/pg_hba.conf", "postgresql.service", "postgres", "postgres", 0o640),
    SecretFile("/var/lib/postgresql/*/main", "postgresql.service", "postgres", "postgres", 0o700),
    # vllm: API key and Hugging Face token.
    SecretFile("/etc/vllm/vllm.env", "vllm.service", "root", "vllm", 0o640, values="env"),
    # ghcr_auth: registry credentials for root's container engine.
    SecretFile("/root/.docker/config.json", None, "root", "root", 0o600, required=False, values="registry-auth"),
    SecretFile("/root/.config/containers/auth.json", None, "root", "root", 0o600, required=False,
               values="registry-auth"),
    # migrate: the sources' keys for rclone, and the RDS password for pg_dump and the subscription.
    SecretFile("/var/lib/hearth-migrate/rclone.conf", None, "root", "root", 0o600, required=False),
    SecretFile("/var/lib/hearth-migrate/postgres/pgpass", None, "postgres", "postgres", 0o600, required=False),
    # journal shipping: the receiver's TLS key, and each uploader's client key.
    SecretFile("/etc/hearth/journal-remote/server.key", "systemd-journal-remote.service", "root",
               "systemd-journal-remote", 0o640, required=False),
    SecretFile("/etc/hearth/journal-upload/client.key", "systemd-journal-upload.service", "root",
               "systemd-journal-upload", 0o640, required=False),
    # sshd: host private keys.
    SecretFile("/etc/ssh/ssh_host_*_key", None, "root", "root", 0o600, required=False),
)


def _split_address(local: str) -> tuple[str, int]:
    """`addr:port`, `[v6]:port` or `addr%iface:port` -> (addr without brackets or zone, port)."""
    address, _, port = local.rpartition(":")
    address = address.removeprefix("[").removesuffix("]")
    address = address.split("%", 1)[0]
    if address.startswith("::ffff:") and "." in address:
        address = address.removeprefix("::ffff:")
    return address, int(port) if port.isdigit() else 0


def parse_ss(output: str) -> list[Listener]:
    """Listening TCP and UDP sockets from `ss -Hltnup` output (Netid first, no header)."""
    listeners = []
    for line in output.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[0] not in ("tcp", "udp"):
            continue
        address, port = _split_address(fields[4])
        processes = tuple(dict.fromkeys(re.findall(r'\("([^"]+)",pid=', line)))
        uid = re.search(r"\buid:(\d+)", line)
        listeners.append(Listener(fields[0], address, port, processes, int(uid.group(1)) if uid else None))
    return listeners


def is_loopback(address: str) -> bool:
    """True for 127.0.0.0/8 and ::1."""
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def parse_passwd(output: str) -> dict[int, str]:
    """uid -> user name from `getent passwd` output."""
    users = {}
    for line in output.splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[2].isdigit():
            users[int(fields[2])] = fields[0]
    return users


def offending_listeners(listeners: Iterable[Listener], private: Iterable[str],
                        public: frozenset[str] = PUBLIC_PROCESSES,
                        users: dict[int, str] | None = None) -> list[Listener]:
    """Listeners that break the rule: only loopback and the private address, but for sshd and Caddy.

    A socket whose process ss cannot name (a container's root lacks ptrace over other users'
    processes) is judged by its owner instead: Caddy runs as its own `caddy` user.
    A DHCP client on its client port is not a service and passes.
    """
    users = users or {}
    allowed = set(private)
    bad = []
    for sock in listeners:
        if is_loopback(sock.address) or sock.address in allowed:
            continue
        if public.intersection(sock.processes):
            continue
        if not sock.processes and sock.uid is not None and users.get(sock.uid) in public:
            continue
        if sock.proto == "udp" and sock.port in DHCP_CLIENT_PORTS and DHCP_CLIENTS.intersection(sock.processes):
            continue
        bad.append(sock)
    return sorted(set(bad), key=lambda s: (s.processes, s.address, s.port, s.proto))


def default_interface(route_output: str) -> str | None:
    """The interface of the first default route in `ip -4 -o route show default`."""
    match = re.search(r"^default\b.*?\bdev\s+(\S+)", route_output, re.M)
    return match.group(1) if match else None


def interface_addresses(addr_output: str) -> list[str]:
    """IPv4 addresses (without prefix length) in `ip -4 -o addr show` output."""
    return re.findall(r"\binet\s+(\d+\.\d+\.\d+\.\d+)/\d+", addr_output)


def unwrap(value: object) -> object:
    """A variable as ansible-inventory prints it, with its {"__ansible_unsafe": ...} wrappers removed."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return unwrap(value["__ansible_unsafe"])
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def literal_ip(value: object) -> str | None:
    """`value` when it is an IP address; None for templates, empty strings and anything else."""
    value = unwrap(value)
    if not isinstance(value, str):
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def private_addresses(declared: object, candidates: Sequence[str], networks: object = None) -> set[str]:
    """The host's private address(es).

    The inventory's hearth_private_ip when it is a literal address; otherwise the default-route
    interface's addresses that lie in hearth_private_networks (when literal and one matches) or
    else in private ranges, so a public address on that interface is never taken for the private one.
    """
    ip = literal_ip(declared)
    if ip:
        return {ip}
    nets = []
    networks = unwrap(networks)
    for net in networks if isinstance(networks, list) else []:
        try:
            nets.append(ipaddress.ip_network(str(net), strict=False))
        except ValueError:
            continue
    addresses = [ipaddress.ip_address(a) for a in candidates]
    in_networks = {str(a) for a in addresses if any(a in net for net in nets) and not a.is_loopback}
    return in_networks or {str(a) for a in addresses if a.is_private and not a.is_loopback}


@dataclass(frozen=True)
class FileStat:
    """Owner, group, mode and type of one path (`stat -c '%U|%G|%a|%F|%n'`)."""

    owner: str
    group: str
    mode: int
    kind: str
    path: str


def parse_stat(output: str) -> list[FileStat]:
    """FileStat per line of `stat -c '%U|%G|%a|%F|%n'` output."""
    stats = []
    for line in output.splitlines():
        parts = line.split("|", 4)
        if len(parts) == 5:
            stats.append(FileStat(parts[0], parts[1], int(parts[2], 8), parts[3], parts[4]))
    return stats


def secret_file_problems(spec: SecretFile, stat: FileStat) -> list[str]:
    """What is wrong with one secret file: owner, group, or group/other bits beyond the spec."""
    problems = []
    if (stat.owner, stat.group) != (spec.owner, spec.group):
        problems.append(f"owned by {stat.owner}:{stat.group}, expected {spec.owner}:{spec.group}")
    extra = stat.mode & 0o077 & ~spec.mode
    if extra or stat.mode & 0o007:
        problems.append(f"mode {stat.mode:04o} allows more than {spec.mode:04o}")
    return [f"{stat.path}: {p}" for p in problems]


def _env_pairs(text: str) -> Iterator[tuple[str, str]]:
    """KEY=value pairs of an environment file, quotes removed; comments and blanks skipped."""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        yield key.strip(), value


def secret_values(kind: str, text: str) -> list[str]:
    """The secret values a file of `kind` holds in clear text (see SecretFile.values)."""
    values: list[str] = []
    if kind == "all-env":
        values = [v for _k, v in _env_pairs(text)]
    elif kind == "env":
        values = [v for k, v in _env_pairs(text) if SECRET_KEY.search(k)]
    elif kind == "mc":
        try:
            aliases = json.loads(text).get("aliases", {})
        except (ValueError, AttributeError):
            aliases = {}
        values = [a.get("secretKey", "") for a in aliases.values() if isinstance(a, dict)]
    elif kind == "registry-auth":
        values = registry_secrets(text)
    return [v for v in values if len(v) >= MIN_SECRET_LENGTH]


def registry_secrets(text: str) -> list[str]:
    """Tokens in a Docker/Podman auth file: the password half of each base64 `auth`, identity tokens."""
    try:
        auths = json.loads(text).get("auths", {})
    except (ValueError, AttributeError):
        return []
    values = []
    for entry in auths.values() if isinstance(auths, dict) else []:
        if not isinstance(entry, dict):
            continue
        try:
            decoded = base64.b64decode(entry.get("auth", ""), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            decoded = ""
        if ":" in decoded:
            values.append(decoded.split(":", 1)[1])
        for key in ("identitytoken", "registrytoken", "password"):
            if isinstance(entry.get(key), str):
                values.append(entry[key])
    return values


def secrets_from_controller(path: Path) -> dict[str, list[str]]:
    """Secret values named by HEARTH_SECRETS_FILE: source name -> values.

    A file holds one value per line (blank lines and lines starting with # skipped), named by
    file and line number. A directory (such as inventories/lab/.secrets) holds one value per file.
    """
    found: dict[str, list[str]] = {}
    if path.is_dir():
        for item in sorted(p for p in path.iterdir() if p.is_file()):
            value = item.read_text(errors="replace").strip()
            if len(value) >= MIN_SECRET_LENGTH:
                found[str(item)] = [value]
        return found
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        value = line.strip()
        if value and not value.startswith("#") and len(value) >= MIN_SECRET_LENGTH:
            found[f"{path} line {number}"] = [value]
    return found


def gunzip_chunks(data: bytes, size: int = 1 << 20) -> Iterator[bytes]:
    """Decompress gzip data piece by piece, so a large journal never sits in memory whole."""
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    for start in range(0, len(data), size):
        piece = inflater.decompress(data[start:start + size])
        if piece:
            yield piece
    tail = inflater.flush()
    if tail:
        yield tail


def journal_chunks(data: bytes) -> Iterator[bytes]:
    """The journal text from `journalctl ... | gzip -c`, or as is when the host had no gzip."""
    if data.startswith(GZIP_MAGIC):
        yield from gunzip_chunks(data)
    elif data:
        yield data


def leaked_sources(chunks: Iterable[bytes], secrets: Mapping[str, Sequence[str]]) -> list[str]:
    """Names of the sources whose secret values occur in the text; the values never leave here.

    Searches chunk by chunk, keeping enough of the previous chunk that a value split across two
    chunks is still found.
    """
    needles = {v.encode() for values in secrets.values() for v in values if len(v) >= MIN_SECRET_LENGTH}
    if not needles:
        return []
    keep = max(len(n) for n in needles) - 1
    found: set[bytes] = set()
    carry = b""
    for chunk in chunks:
        window = carry + chunk
        found.update(n for n in needles - found if n in window)
        carry = window[-keep:] if keep else b""
    # A value is a leak of every source that holds it.
    return sorted(src for src, values in secrets.items() if any(v.encode() in found for v in values))
