"""Filters for the backup role: pgBackRest repositories from a list of S3 endpoints.

Each repository is written as `repoN-*` options of pgbackrest.conf. The URL is parsed here so
that a mistyped endpoint (no scheme, plain HTTP, a path) fails at the start of the play with
the variable's name, not at 2 a.m. in the first scheduled backup. pgBackRest speaks S3 over TLS
only, so `https://` is required.
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
URI_STYLES = ("path", "host")
CIPHER_MIN = 20
REQUIRED = ("name", "url", "bucket", "key", "secret")
KNOWN = set(REQUIRED) | {
    "region", "prefix", "uri_style", "ca_file", "verify_tls", "offsite",
    "cipher_pass", "retention_full", "retention_diff",
}


def _err(where: str, expected: str, got: Any) -> AnsibleFilterError:
    return AnsibleFilterError(f"{where}: expected {expected}, got {got!r}")


def _positive_int(where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise _err(where, "a whole number of at least 1", value)
    number = int(value)
    if number < 1:
        raise _err(where, "a whole number of at least 1 (0 would keep no backup)", value)
    return number


def _endpoint(where: str, url: Any) -> tuple[str, int]:
    """Split https://host[:port] into host and port; anything else is an input error."""
    if not isinstance(url, str) or "://" not in url:
        raise _err(where, "a URL with its scheme, https://host[:port]", url)
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise _err(where, "an https:// URL (pgBackRest speaks S3 over TLS only)", url)
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.username:
        raise _err(where, "https://host[:port] with no path, query or credentials", url)
    try:
        port = parts.port or 443
    except ValueError:
        raise _err(where, "a port between 1 and 65535", url) from None
    return parts.hostname, port


def backup_repos(repos: Any, variable: str = "backup_postgres_repos") -> list[dict[str, Any]]:
    """Check the repository list and return it normalised, with host and port split out.

    Off-site repositories (offsite: true) must be encrypted: pgBackRest's repository cipher
    with a pass phrase of at least 20 characters. Names become metric labels and must be
    unique.
    """
    if not isinstance(repos, list) or not repos:
        raise _err(variable, "a non-empty list of repositories", repos)
    result: list[dict[str, Any]] = []
    for index, repo in enumerate(repos):
        where = f"{variable}[{index}]"
        if not isinstance(repo, dict):
            raise _err(where, "a mapping", repo)
        unknown = sorted(set(repo) - KNOWN)
        if unknown:
            raise _err(where, f"only the keys {sorted(KNOWN)}", unknown)
        for key in REQUIRED:
            if not isinstance(repo.get(key), str) or not repo.get(key):
                raise _err(f"{where}.{key}", "a non-empty string", repo.get(key, "<missing>") if key not in ("key", "secret") else "<hidden>")
        if not NAME.match(repo["name"]):
            raise _err(f"{where}.name", "lower-case letters, digits and dashes", repo["name"])
        if not BUCKET.match(repo["bucket"]):
            raise _err(f"{where}.bucket", "an S3 bucket name", repo["bucket"])
        host, port = _endpoint(f"{where}.url", repo["url"])
        uri_style = repo.get("uri_style", "path")
        if uri_style not in URI_STYLES:
            raise _err(f"{where}.uri_style", " or ".join(URI_STYLES), uri_style)
        prefix = str(repo.get("prefix", "/pgbackrest") or "/")
        if not prefix.startswith("/"):
            raise _err(f"{where}.prefix", "a path that starts with /", prefix)
        ca_file = repo.get("ca_file", "") or ""
        if ca_file and not str(ca_file).startswith("/"):
            raise _err(f"{where}.ca_file", "an absolute path on the host", ca_file)
        cipher = repo.get("cipher_pass", "") or ""
        offsite = bool(repo.get("offsite", False))
        if offsite and len(str(cipher)) < CIPHER_MIN:
            raise _err(f"{where}.cipher_pass",
                       f"a pass phrase of at least {CIPHER_MIN} characters (off-site copies are encrypted)",
                       "<hidden>")
        result.append({
            "index": index + 1,
            "name": repo["name"],
            "host": host,
            "port": port,
            "bucket": repo["bucket"],
            "region": repo.get("region", "us-east-1"),
            "prefix": prefix,
            "uri_style": uri_style,
            "ca_file": ca_file,
            "verify_tls": bool(repo.get("verify_tls", True)),
            "offsite": offsite,
            "key": repo["key"],
            "secret": repo["secret"],
            "cipher_pass": cipher,
            "retention_full": _positive_int(f"{where}.retention_full", repo.get("retention_full", 2)),
            "retention_diff": _positive_int(f"{where}.retention_diff", repo.get("retention_diff", 7)),
        })
    names = [repo["name"] for repo in result]
    if len(set(names)) != len(names):
        raise _err(variable, "unique repository names", names)
    return result


def backup_keys_match(restored: Any, recorded: Any, margin: Any = 0) -> bool:
    """Whether a restored Redis holds the key counts recorded with its snapshot.

    restored and recorded map database numbers to key counts. The snapshot job reads the counts
    just after the snapshot, with the number of writes in between (margin); each write changes
    a count by at most one, so every database must lie within margin (0: exactly equal).
    """
    if not isinstance(restored, dict) or not isinstance(recorded, dict):
        raise AnsibleFilterError(f"backup_keys_match: expected two mappings, got {restored!r} and {recorded!r}")
    allowed = int(margin)
    databases = {str(db) for db in restored} | {str(db) for db in recorded}
    counts = ({str(k): int(v) for k, v in restored.items()}, {str(k): int(v) for k, v in recorded.items()})
    return all(abs(counts[0].get(db, 0) - counts[1].get(db, 0)) <= allowed for db in databases)


class FilterModule:
    """Backup filters."""

    def filters(self) -> dict[str, Any]:
        return {"backup_repos": backup_repos, "backup_keys_match": backup_keys_match}
