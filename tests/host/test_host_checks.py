"""The host invariants' rules, on recorded command output: no host needed, so these always run."""
from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import pytest

from host_checks import (
    SECRET_FILES,
    FileStat,
    Listener,
    SecretFile,
    default_interface,
    interface_addresses,
    journal_chunks,
    leaked_sources,
    literal_ip,
    offending_listeners,
    parse_passwd,
    parse_ss,
    parse_stat,
    private_addresses,
    secret_file_problems,
    secret_values,
    secrets_from_controller,
)

SS = """\
udp   UNCONN 0      0           127.0.0.53%lo:53         0.0.0.0:*    users:(("systemd-resolve",pid=301,fd=13))
udp   UNCONN 0      0            0.0.0.0%ens3:68         0.0.0.0:*    users:(("systemd-network",pid=280,fd=22))
udp   UNCONN 0      0                       *:443              *:*    users:(("caddy",pid=912,fd=9))
tcp   LISTEN 0      4096            127.0.0.1:5432       0.0.0.0:*    users:(("postgres",pid=700,fd=6))
tcp   LISTEN 0      4096           10.19.0.10:5432       0.0.0.0:*    users:(("postgres",pid=700,fd=7))
tcp   LISTEN 0      511             127.0.0.1:6379       0.0.0.0:*    users:(("redis-server",pid=650,fd=6))
tcp   LISTEN 0      128               0.0.0.0:22         0.0.0.0:*    users:(("sshd",pid=500,fd=3),("systemd",pid=1,fd=50))
tcp   LISTEN 0      128                  [::]:22            [::]:*    users:(("sshd",pid=500,fd=4))
tcp   LISTEN 0      4096                    *:443              *:*    users:(("caddy",pid=912,fd=8))
tcp   LISTEN 0      4096                [::1]:2019          [::]:*    users:(("caddy",pid=912,fd=3))
tcp   LISTEN 0      4096                    *:9000             *:*    users:(("minio",pid=801,fd=8))
tcp   LISTEN 0      4096         192.0.2.10:11434        0.0.0.0:*    users:(("ollama",pid=880,fd=3))
tcp   LISTEN 0      4096         127.0.0.11:39661        0.0.0.0:*
"""


def test_ss_lines_become_listeners() -> None:
    listeners = parse_ss(SS)
    assert len(listeners) == 13
    assert listeners[0] == Listener("udp", "127.0.0.53", 53, ("systemd-resolve",))
    assert listeners[6] == Listener("tcp", "0.0.0.0", 22, ("sshd", "systemd"))
    assert listeners[7].address == "::" and listeners[9].address == "::1"
    assert listeners[12].processes == ()


def test_only_sshd_caddy_and_dhcp_clients_pass_beyond_loopback_and_private() -> None:
    offending = offending_listeners(parse_ss(SS), {"10.19.0.10"})
    assert [s.describe() for s in offending] == [
        "(minio) *:9000/tcp",
        "(ollama) 192.0.2.10:11434/tcp",
    ]


def test_without_a_private_address_the_private_listeners_offend() -> None:
    offending = offending_listeners(parse_ss(SS), set())
    assert "(postgres) 10.19.0.10:5432/tcp" in [s.describe() for s in offending]


def test_unknown_process_on_a_public_address_offends() -> None:
    [sock] = offending_listeners([Listener("tcp", "::", 111, ())], set())
    assert sock.describe() == "(unknown process) [::]:111/tcp"


def test_private_address_from_the_default_route_interface() -> None:
    route = "default via 172.18.0.1 dev eth0 \n"
    addrs = "27: eth0    inet 172.18.0.2/16 brd 172.18.255.255 scope global eth0\\       valid_lft forever\n"
    assert default_interface(route) == "eth0"
    assert default_interface("") is None
    assert interface_addresses(addrs) == ["172.18.0.2"]


def test_private_address_prefers_the_inventory_literal() -> None:
    assert private_addresses("10.19.0.10", ["34.120.0.5"]) == {"10.19.0.10"}
    # A template (lab inventory) or an empty value falls back to the interface's private addresses.
    assert private_addresses("{{ ansible_facts['default_ipv4']['address'] }}", ["172.18.0.2"]) == {"172.18.0.2"}
    assert private_addresses("", ["34.120.0.5"]) == set()
    assert private_addresses(None, ["172.18.0.2", "10.0.0.4"], ["10.0.0.0/8"]) == {"10.0.0.4"}
    # A container network outside hearth_private_networks is still private.
    assert private_addresses(None, ["192.168.16.2"], ["172.16.0.0/12"]) == {"192.168.16.2"}
    assert private_addresses(None, ["34.120.0.5"], ["172.16.0.0/12"]) == set()
    assert literal_ip(" 10.0.0.1 ") == "10.0.0.1" and literal_ip(["10.0.0.1"]) is None
    # ansible-inventory marks values from plugins and caches as unsafe.
    assert literal_ip({"__ansible_unsafe": "10.0.0.7"}) == "10.0.0.7"
    assert private_addresses(None, ["10.0.0.4"], [{"__ansible_unsafe": "10.0.0.0/8"}]) == {"10.0.0.4"}


SPEC = SecretFile("/etc/caddy/caddy.env", "caddy.service", "root", "caddy", 0o640)


@pytest.mark.parametrize(("owner", "group", "mode", "problems"), [
    ("root", "caddy", 0o640, []),
    ("root", "caddy", 0o600, []),
    ("root", "caddy", 0o660, ["mode 0660 allows more than 0640"]),
    ("root", "caddy", 0o644, ["mode 0644 allows more than 0640"]),
    ("caddy", "root", 0o640, ["owned by caddy:root, expected root:caddy"]),
])
def test_secret_file_rules(owner: str, group: str, mode: int, problems: list[str]) -> None:
    stat = FileStat(owner, group, mode, "regular file", "/etc/caddy/caddy.env")
    assert secret_file_problems(SPEC, stat) == [f"/etc/caddy/caddy.env: {p}" for p in problems]


def test_stat_output_is_parsed() -> None:
    out = "root|caddy|640|regular file|/etc/caddy/caddy.env\npostgres|postgres|700|directory|/var/lib/postgresql/17/main\n"
    assert parse_stat(out) == [
        FileStat("root", "caddy", 0o640, "regular file", "/etc/caddy/caddy.env"),
        FileStat("postgres", "postgres", 0o700, "directory", "/var/lib/postgresql/17/main"),
    ]


def test_secret_table_never_allows_world_access() -> None:
    assert all(spec.mode & 0o007 == 0 for spec in SECRET_FILES)


def test_secret_values_by_file_kind() -> None:
    minio = "# managed\nMINIO_VOLUMES='/var/lib/minio/data'\nMINIO_ROOT_USER='hearth-root'\nMINIO_ROOT_PASSWORD='Root-Password-123'\n"
    assert secret_values("env", minio) == ["Root-Password-123"]
    vllm = "VLLM_API_KEY=abcdefghijklmnop\nHF_TOKEN=hf_0123456789abc\nHF_HOME=/var/lib/vllm/hf\n"
    assert secret_values("env", vllm) == ["abcdefghijklmnop", "hf_0123456789abc"]
    caddy = "HEARTH_API_KEY_APP='k3y-k3y-k3y-k3y-k3y'\nCLOUDFLARE_API_TOKEN='tok-tok-tok-tok'\nSHORT='x'\n"
    assert secret_values("all-env", caddy) == ["k3y-k3y-k3y-k3y-k3y", "tok-tok-tok-tok"]
    mc = json.dumps({"aliases": {"hearth": {"accessKey": "hearth-root", "secretKey": "mc-secret-value-1"}}})
    assert secret_values("mc", mc) == ["mc-secret-value-1"]
    docker = json.dumps({"auths": {"ghcr.io": {"auth": base64.b64encode(b"bot:ghp_tokentokentoken").decode()}}})
    assert secret_values("registry-auth", docker) == ["ghp_tokentokentoken"]
    assert secret_values("registry-auth", "not json") == []


def test_controller_secrets_from_a_file_or_a_directory(tmp_path: Path) -> None:
    listing = tmp_path / "secrets.txt"
    listing.write_text("# values\nfirst-secret-value\n\nshort\nsecond-secret-value\n")
    assert secrets_from_controller(listing) == {f"{listing} line 2": ["first-secret-value"],
                                                f"{listing} line 5": ["second-secret-value"]}
    folder = tmp_path / ".secrets"
    folder.mkdir()
    (folder / "postgres_app").write_text("Pg-app-password-32\n")
    assert secrets_from_controller(folder) == {str(folder / "postgres_app"): ["Pg-app-password-32"]}


def test_leaks_are_named_by_source_and_found_across_chunks() -> None:
    secrets = {"/etc/minio/minio.env": ["Root-Password-123"], "/etc/vllm/vllm.env": ["never-logged-key"],
               "HEARTH_SECRETS_FILE line 1": ["Root-Password-123"]}
    chunks = [b"minio started with Root-Pass", b"word-123 as password\n"]
    assert leaked_sources(chunks, secrets) == ["/etc/minio/minio.env", "HEARTH_SECRETS_FILE line 1"]
    assert leaked_sources([b"nothing here"], secrets) == []
    assert leaked_sources([b"x"], {}) == []


def test_journal_arrives_gzipped_or_plain() -> None:
    text = b"line one\n" * 100_000
    assert b"".join(journal_chunks(gzip.compress(text))) == text
    assert b"".join(journal_chunks(b"plain")) == b"plain"
    assert list(journal_chunks(b"")) == []


def test_a_socket_ss_cannot_name_is_judged_by_its_owner() -> None:
    """In a container, root cannot see other users' processes: Caddy's sockets show no name."""
    output = ('tcp LISTEN 0 4096 *:443 *:* uid:999 ino:1 sk:1 cgroup:/system.slice/caddy.service\n'
              'tcp LISTEN 0 4096 *:8099 *:* uid:998 ino:2 sk:2\n')
    users = parse_passwd("root:x:0:0::/root:/bin/bash\ncaddy:x:999:999::/var/lib/caddy:/usr/sbin/nologin\n"
                         "fixture:x:998:998::/:/usr/sbin/nologin\n")
    offending = offending_listeners(parse_ss(output), {"172.17.0.2"}, users=users)
    assert [s.port for s in offending] == [8099]
