"""The backup role's repository checks and its host-side job (metrics, type choice, schedule)."""
from __future__ import annotations

import importlib.machinery
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.hearth.platform.plugins.filter.backup import backup_keys_match, backup_repos

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "roles" / "backup" / "files" / "hearth_backup.py"


def load_job() -> Any:
    loader = importlib.machinery.SourceFileLoader("hearth_backup", str(SCRIPT))
    spec = importlib.util.spec_from_loader("hearth_backup", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


job = load_job()


def repo(**changes: Any) -> dict[str, Any]:
    base = {"name": "minio", "url": "https://s3.lab.hearth.test", "bucket": "pgbackrest",
            "key": "pgbackrest", "secret": "s3cret-s3cret"}
    base.update(changes)
    return base


def offsite(**changes: Any) -> dict[str, Any]:
    return repo(**{"name": "offsite", "url": "https://s3.us-west-004.backblazeb2.com:443", "bucket": "acme-backups",
                   "offsite": True, "cipher_pass": "x" * 24, **changes})


def test_repositories_are_numbered_and_split_into_host_and_port() -> None:
    repos = backup_repos([repo(), offsite(url="https://offsite.hearth.test:9900")])
    assert [(r["index"], r["name"], r["host"], r["port"]) for r in repos] == [
        (1, "minio", "s3.lab.hearth.test", 443), (2, "offsite", "offsite.hearth.test", 9900)]
    assert repos[0]["cipher_pass"] == "" and repos[1]["cipher_pass"] == "x" * 24
    assert repos[0]["retention_full"] == 2 and repos[0]["uri_style"] == "path"


@pytest.mark.parametrize(("bad", "message"), [
    (repo(url="s3.lab.hearth.test"), r"backup_postgres_repos\[0\]\.url: expected a URL with its scheme, https://"),
    (repo(url="http://minio:9000"), r"backup_postgres_repos\[0\]\.url: expected an https:// URL"),
    (repo(url="https://minio/bucket"), r"\.url: expected https://host\[:port\] with no path"),
    (repo(url="https://minio:99999"), r"\.url: expected a port between 1 and 65535"),
    (repo(retention_full=0), r"\[0\]\.retention_full: expected a whole number of at least 1 \(0 would keep no backup\)"),
    (repo(retention_diff="-1"), r"\[0\]\.retention_diff: expected a whole number"),
    (repo(bucket="Bad_Bucket"), r"\[0\]\.bucket: expected an S3 bucket name"),
    (repo(secret=""), r"\[0\]\.secret: expected a non-empty string, got '<hidden>'"),
    (repo(uri_style="virtual"), r"\[0\]\.uri_style: expected path or host"),
    (repo(ca_file="certs/ca.pem"), r"\[0\]\.ca_file: expected an absolute path"),
    (repo(colour="blue"), r"\[0\]: expected only the keys"),
])
def test_bad_repositories_name_the_variable_and_what_was_expected(bad: dict, message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=message):
        backup_repos([bad])


def test_an_offsite_repository_must_be_encrypted_and_the_pass_phrase_is_never_printed() -> None:
    with pytest.raises(AnsibleFilterError, match=r"\[1\]\.cipher_pass: expected a pass phrase of at least 20") as err:
        backup_repos([repo(), offsite(cipher_pass="short-secret")])
    assert "short-secret" not in str(err.value)


def test_names_must_be_unique_and_the_list_not_empty() -> None:
    with pytest.raises(AnsibleFilterError, match="unique repository names"):
        backup_repos([repo(), repo()])
    with pytest.raises(AnsibleFilterError, match="a non-empty list"):
        backup_repos([], "backup_postgres_repos")


def test_a_success_keeps_the_last_failure_and_a_failure_keeps_the_last_success() -> None:
    first = job.merge_outcome({}, ok=True, now=100.0, duration=5.0, size=2048.0, schedule=86400.0)
    failed = job.merge_outcome(first, ok=False, now=200.0, duration=1.0, size=None, schedule=86400.0)
    assert failed["last_success_timestamp_seconds"] == 100.0
    assert failed["last_failure_timestamp_seconds"] == 200.0
    assert failed["last_size_bytes"] == 2048.0
    again = job.merge_outcome(failed, ok=True, now=300.0, duration=4.0, size=4096.0, schedule=86400.0)
    assert again["last_failure_timestamp_seconds"] == 200.0
    assert again["last_success_timestamp_seconds"] == 300.0


def test_metrics_round_trip_through_the_textfile(tmp_path: Path) -> None:
    job.write_outcome(str(tmp_path), "postgres-minio", ok=True, now=1_700_000_000.0, duration=4.2,
                      size=123456.0, schedule=86400.0)
    job.write_outcome(str(tmp_path), "postgres-minio", ok=False, now=1_700_000_100.0, duration=1.0,
                      size=None, schedule=86400.0)
    text = (tmp_path / "hearth_backup_postgres-minio.prom").read_text()
    assert 'hearth_backup_last_success_timestamp_seconds{backup="postgres-minio"} 1700000000' in text
    assert 'hearth_backup_last_failure_timestamp_seconds{backup="postgres-minio"} 1700000100' in text
    assert 'hearth_backup_last_size_bytes{backup="postgres-minio"} 123456' in text
    # Samples only: a HELP line that differs from another writer's makes node_exporter drop both.
    assert "#" not in text
    assert not list(tmp_path.glob("*.tmp"))


def test_a_first_failure_writes_no_success_time() -> None:
    text = job.render_metrics("postgres-offsite", job.merge_outcome(
        {}, ok=False, now=5.0, duration=1.0, size=None, schedule=3600.0))
    assert "last_success" not in text and "last_failure_timestamp_seconds" in text


def info(*backups: tuple[str, float]) -> list[dict[str, Any]]:
    return [{"backup": [{"type": kind, "timestamp": {"start": stop - 10, "stop": stop},
                         "info": {"repository": {"delta": 1000 + i}}} for i, (kind, stop) in enumerate(backups)]}]


@pytest.mark.parametrize(("backups", "days_later", "expected"), [
    ((), 0, "full"),
    ((("full", 1000.0),), 6.9, "diff"),
    ((("full", 1000.0), ("diff", 90_000.0)), 6.9, "diff"),
    ((("full", 1000.0), ("diff", 500_000.0)), 7, "full"),
])
def test_a_full_backup_replaces_the_chain_after_full_every_days(backups: tuple, days_later: float, expected: str) -> None:
    assert job.choose_type(info(*backups), now=1000.0 + days_later * 86400, full_every_days=7) == expected


def test_the_size_is_the_newest_backups_repository_delta() -> None:
    assert job.newest_backup_size(info(("full", 10.0), ("diff", 20.0))) == 1001.0
    assert job.newest_backup_size([]) is None


CALENDAR_UTC = """  Original form: *-*-* 02:00:00
Normalized form: *-*-* 02:00:00
    Next elapse: Tue 2026-12-01 02:00:00 UTC
       From now: 6h left
   Iteration #2: Wed 2026-12-02 02:00:00 UTC
       From now: 1 day 6h left
"""
CALENDAR_LOCAL = """  Original form: hourly
Normalized form: *-*-* *:00:00
    Next elapse: Mon 2026-11-30 21:00:00 CET
       (in UTC): Mon 2026-11-30 20:00:00 UTC
       From now: 20min left
   Iteration #2: Mon 2026-11-30 22:00:00 CET
       (in UTC): Mon 2026-11-30 21:00:00 UTC
"""


def test_the_schedule_is_read_from_systemds_next_two_elapses() -> None:
    assert job.schedule_seconds(CALENDAR_UTC) == 86400
    assert job.schedule_seconds(CALENDAR_LOCAL) == 3600
    assert job.schedule_seconds("garbage", fallback=42.0) == 42.0


def test_the_job_backs_up_every_repository_and_counts_failures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    class Done:
        def __init__(self, rc: int, out: str = "") -> None:
            self.returncode, self.stdout, self.stderr = rc, out, ""

    def fake_run(argv: list[str], **_: Any) -> Done:
        calls.append(argv)
        if argv[0] == "systemd-analyze":
            return Done(0, CALENDAR_UTC)
        if argv[-1] == "info":
            return Done(0, json.dumps(info(("full", 1.0))))
        return Done(0 if "--repo=1" in argv else 55)

    monkeypatch.setattr(job.subprocess, "run", fake_run)
    config = {"textfile_dir": str(tmp_path), "postgres": {
        "stanza": "main", "user": "postgres", "calendar": "*-*-* 02:00:00", "full_every_days": 7,
        "repos": [{"index": 1, "name": "minio"}, {"index": 2, "name": "offsite"}]}}
    assert job.backup_postgres(config, None) == 1
    backups = [c for c in calls if c[-1] == "backup"]
    assert [c[6] for c in backups] == ["--repo=1", "--repo=2"]
    assert "last_success" in (tmp_path / "hearth_backup_postgres-minio.prom").read_text()
    offsite_text = (tmp_path / "hearth_backup_postgres-offsite.prom").read_text()
    assert "last_failure" in offsite_text and "last_success" not in offsite_text


def test_keyspace_and_fields_are_read_from_info_replies() -> None:
    reply = "OK\nQUEUED\nQUEUED\nBackground saving started\n# Keyspace\ndb0:keys=12,expires=3,avg_ttl=0\ndb2:keys=5,expires=0,avg_ttl=0\n"
    assert job.parse_keyspace(reply) == {"0": 12, "2": 5}
    assert job.info_field("rdb_bgsave_in_progress:0\r\nrdb_last_bgsave_status:ok\r\n", "rdb_last_bgsave_status") == "ok"
    assert job.info_field("", "missing") == ""


def test_copies_land_under_the_targets_bucket() -> None:
    target = {"name": "offsite", "bucket": "acme-backups", "offsite": True}
    assert job.target_url(target, "redis", "db1", "20261130T020000Z.rdb") == "offsite:acme-backups/redis/db1/20261130T020000Z.rdb"
    assert job.target_url(target, "minio", "app") == "offsite:acme-backups/minio/app"


def test_restored_keys_must_equal_the_snapshots_unless_writes_came_between() -> None:
    assert backup_keys_match({"0": 50, "1": 7}, {"0": 50, "1": 7}, 0)
    assert not backup_keys_match({"0": 49, "1": 7}, {"0": 50, "1": 7}, 0)
    assert not backup_keys_match({"0": 50}, {"0": 50, "1": 7}, 0)
    assert backup_keys_match({"0": 48, "1": 7}, {"0": 50, "1": 7}, 2)
    assert not backup_keys_match({"0": 47}, {"0": 50}, 2)
    with pytest.raises(AnsibleFilterError):
        backup_keys_match([], {}, 0)
