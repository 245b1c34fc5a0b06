"""Every role refuses malformed input with a message naming the variable, before anything changes.

One table of cases for all roles. Each case applies one role to the controller itself
(connection local, check mode, no facts gathered by the play) with the role's good base
settings plus one bad variable, as extra vars. The play must fail in the role's argument-spec
check or in a task of its tasks/validate.yml, print the expected text, report changed=0 and
leave nothing behind in the test's directory (where paths such as ghcr_auth_file point).
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from check_play import ROOT, run_check_play

pytestmark = pytest.mark.slow

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHearthTestKeyOnly0123456789abcdefghijklmnopq ops@example"
GHCR_TOKEN = "ghp_TestTokenOnly0123456789abcdefghij"
# Values that must never appear in a play's output.
SECRETS = [GHCR_TOKEN]


# What every play of the platform has (the hearth role requires it).
PLATFORM = {"hearth_env": "lab"}


def base_vars(role: str, tmp_path: Path) -> dict[str, Any]:
    """Settings that pass the role's validation, so a case fails on its one bad variable."""
    return PLATFORM | {
        "backup": {"backup_postgres_enabled": True, "hearth_domain": "lab.hearth.test",
                   "hearth_offers": {"postgres": {"name": "postgres"}},
                   "backup_minio_key": "pgbackrest", "backup_minio_secret": "a-long-minio-secret"},
        "common": {"ansible_user": "operator"},
        "ghcr_auth": {"ghcr_auth_username": "hearth-bot", "ghcr_auth_token": GHCR_TOKEN,
                      # Inside tmp_path: even a wrong success could not touch the real home.
                      "ghcr_auth_file": str(tmp_path / "auth" / "config.json")},
        "monitoring": {"vault_grafana_admin_password": "a-long-grafana-password"},
        "minio": {"minio_root_user": "hearth-admin", "minio_root_password": "a-long-root-password"},
        "postgres": {"postgres_roles": [], "postgres_databases": []},
        "redis": {"redis_admin_password": "a-long-enough-admin-password", "redis_users": []},
        "vercel_frontend": {"vercel_frontend_checkout": str(tmp_path / "web"),
                            "vercel_frontend_edge_host": "api.example.com"},
        "vllm": {"vllm_api_key": "a-long-enough-api-key"},
    }.get(role, {})


def text(literal: str) -> re.Pattern[str]:
    """Expected text given literally."""
    return re.compile(re.escape(literal))


def pattern(regex: str) -> re.Pattern[str]:
    """Expected text given as a regular expression (may span lines)."""
    return re.compile(regex, re.S)


# role, bad variables, what the failure message must contain (naming the variable)
CASES: list[tuple[str, dict[str, Any], re.Pattern[str]]] = [
    ("apps", {"apps_services": [{"name": "web", "kind": "lambda", "image": "ghcr.io/acme/web:1"}]},
     pattern(r"apps_services\[0\] \(web\)\.kind")),
    ("apps", {"apps_services": [{"name": "web", "kind": "web", "image": "ghcr.io/acme/web", "host_port": 18000}]},
     pattern(r"apps_services\[0\] \(web\)\.image.*tag or a digest")),
    ("apps", {"apps_services": [{"name": "a", "kind": "web", "image": "x/a:1", "host_port": 18000},
                                {"name": "b", "kind": "web", "image": "x/b:1", "host_port": 18001}]},
     pattern(r"apps_services\[1\] \(b\)\.host_port.*18001")),
    ("apps", {"apps_services": [{"name": "web", "kind": "web", "image": "x/a:1", "host_port": 18000,
                                 # Split so the inventory tests do not take it for a real secret's name.
                                 "secrets": {"STRIPE_KEY": "vault" + "_not_in_this_inventory"}}]},
     pattern(r"apps_services\[0\] \(web\)\.secrets\.STRIPE_KEY.*does not define")),
    ("apps", {"apps_services": [{"name": "beat", "kind": "scheduler", "image": "x/a:1", "replicas": 2}]},
     pattern(r"apps_services\[0\] \(beat\)\.replicas")),
    ("docker", {"docker_source": "snap"}, text("docker_source")),
    ("aws_purge", {"aws_purge_dry_run": "maybe"}, text("argument 'aws_purge_dry_run' is of type str")),
    ("aws_purge", {"aws_purge_homes": ["relative"]}, text("aws_purge_homes must be a list of absolute paths")),
    ("aws_purge", {"aws_purge_env_dirs": ["/etc"]}, text("aws_purge_env_dirs must be a list of absolute paths")),
    ("backup", {"backup_offsite_url": "b2.example.com", "backup_offsite_bucket": "acme-backups",
                "backup_offsite_key": "k", "backup_offsite_secret": "s", "backup_offsite_cipher_pass": "p" * 24},
     text("backup_postgres_repos[1].url: expected a URL with its scheme, https://host[:port]")),
    ("backup", {"backup_offsite_url": "https://b2.example.com", "backup_offsite_bucket": "acme-backups",
                "backup_offsite_key": "k", "backup_offsite_secret": "s", "backup_offsite_cipher_pass": ""},
     text("backup_postgres_repos[1].cipher_pass: expected a pass phrase of at least 20 characters")),
    ("backup", {"backup_minio_retention_full": 0},
     text("backup_postgres_repos[0].retention_full: expected a whole number of at least 1 (0 would keep no backup)")),
    ("backup", {"backup_postgres_archive_timeout": 0}, text("backup_postgres_archive_timeout")),
    ("backup", {"backup_postgres_calendar": "every tuesday"}, text("backup_postgres_calendar must be a systemd OnCalendar")),
    ("caddy", {"caddy_admin_address": "0.0.0.0:2019"}, text("caddy_admin_address must stay on localhost")),
    ("caddy", {"caddy_environment": {"lower_case": "x"}}, text("caddy_environment must map UPPER_CASE names")),
    ("common", {"common_admin_users": [{"ssh_keys": [KEY]}]},
     text("missing required arguments: name found in common_admin_users")),
    ("common", {"common_admin_users": [{"name": "ops", "ssh_keys": ["not-a-key AAAA"]}]}, text("common_admin_users[0]")),
    ("common", {"common_admin_users": [{"name": "ops", "ssh_keys": KEY}]}, text("common_admin_users[0]")),
    ("common", {"common_admin_users": [{"name": "Ops!", "ssh_keys": [KEY]}]}, text("common_admin_users[0]")),
    ("common", {"common_admin_users": [{"name": "ops", "shell": "bash"}]}, text("common_admin_users[0]")),
    ("common", {"common_admin_users": [{"name": "ops"}, {"name": "ops"}]}, text("common_admin_users has duplicate names")),
    ("common", {"common_admin_users": [{"name": "ubuntu", "state": "absent"}]},
     text("entry 'ubuntu' would remove, lock or replace")),
    ("common", {"common_admin_users": [{"name": "ubuntu", "shell": "/usr/sbin/nologin"}]}, text("entry 'ubuntu' would remove")),
    ("common", {"common_admin_users": [{"name": "operator", "ssh_keys": [KEY], "exclusive_keys": True}]},
     text("entry 'operator' would remove, lock or replace")),
    ("common", {"common_admin_users": [{"name": "ops", "groups": ["no-such-group-hearth"]}]},
     text("names groups that do not exist on localhost: no-such-group-hearth")),
    ("common", {"common_sysctl_extra_settings": {"not a key": 1}}, text("common_sysctl_settings and common_sysctl_extra_settings")),
    ("common", {"common_ssh_permit_root_login": "maybe"}, text("common_ssh_permit_root_login")),
    ("firewall", {"hearth_private_networks": ["10.0.0.1/8"]},
     text("firewall_private_networks (default hearth_private_networks)[0]")),
    ("firewall", {"hearth_private_networks": ["10.0.0.0/8", "fd00::/64", "10.1"]},
     text("hearth_private_networks)[2] must be a network in CIDR")),
    ("firewall", {"firewall_private_tcp_ports": [5432, 70000]}, text("integers from 1 to 65535")),
    ("firewall", {"firewall_container_interfaces": ["a-very-long-interface-name"]},
     text("firewall_container_interfaces")),
    ("hearth", {"hearth_env": "prod"}, pattern(r"hearth_env.*lab, dev, staging, production")),
    ("hearth", {"hearth_private_networks": ["10.0.0.1/8"]}, text("hearth_private_networks[0]: expected a network in CIDR")),
    ("hearth", {"hearth_private_ip": "10.0.0.300"}, text("hearth_private_ip: expected an IP address")),
    ("hearth", {"hearth_domain": "Not_A_Domain"}, text("hearth_domain must be a lower-case DNS name")),
    ("ghcr_auth", {"ghcr_auth_token": ""}, text("ghcr_auth_token must be a GitHub personal access token")),
    ("ghcr_auth", {"ghcr_auth_username": "not a user"}, text("ghcr_auth_username must be a GitHub user")),
    ("ghcr_auth", {"ghcr_auth_engine": "containerd"}, text("ghcr_auth_engine")),
    ("ghcr_auth", {"ghcr_auth_file": "relative/config.json"}, text("ghcr_auth_file must be empty")),
    ("ghcr_auth", {"ghcr_auth_user": "no-such-user-hearth"}, text("ghcr_auth_user 'no-such-user-hearth'")),
    ("minio", {"minio_api_port": 9001, "minio_console_port": 9001},
     text("minio_api_port and minio_console_port must differ")),
    ("minio", {"minio_root_password": "short"}, text("minio_root_password 8-40 characters")),
    ("monitoring", {"monitoring_extra_targets": [{"host": "not-in-inventory", "port": 9400, "job": "dcgm"}]},
     text("monitoring_extra_targets[0].host: 'not-in-inventory' is not a host of this inventory")),
    ("monitoring", {"monitoring_alert_receivers": [{"name": "pager", "webhook": {"url": "http://127.0.0.1:9199/hook"}}],
                    "monitoring_alert_routes": [{"matchers": ['severity="page"']}]},
     text("monitoring_alert_routes[0].receiver: every route needs a receiver")),
    ("monitoring", {"monitoring_retention_time": "0d"}, text("monitoring_retention_time: expected a positive duration")),
    ("monitoring", {"monitoring_retention_size": "0GB"}, text("monitoring_retention_size: expected a positive size")),
    ("monitoring", {"monitoring_extra_rules": {"Bad Name": {"groups": []}}}, text("monitoring_extra_rules.Bad Name")),
    ("monitoring", {"monitoring_journal_receive": True, "monitoring_journal_max_use": "lots"},
     text("monitoring_journal_max_use and monitoring_journal_keep_free must be journald sizes")),
    ("monitoring", {"vault_grafana_admin_password": "short"},
     text("monitoring_grafana_admin_password_secret must name a vault variable holding at least 12 characters")),
    ("nvidia_driver", {"nvidia_driver_branch": "latest"}, text('nvidia_driver_branch must be a driver branch such as "570"')),
    ("ollama", {"ollama_version": "v0.17.4"}, text("ollama_version must be a release number")),
    ("postgres", {"postgres_roles": [{"password": "x" * 20}]}, pattern(r"postgres_roles.*name")),
    ("postgres", {"postgres_databases": [{"name": "app", "extensions": ["vectr"]}]},
     pattern(r"postgres_databases\[0\].*unknown: vectr")),
    ("postgres", {"postgres_memory_share": "lots"}, text("postgres_memory_share")),
    ("postgres", {"postgres_memory_share": 1.5}, text("postgres_memory_share must be a fraction")),
    ("postgres", {"postgres_hba_extra_rules": [{"type": "host", "address": "10.0.0.0/8", "method": "md5"}]},
     pattern(r"postgres_hba_rules\[\d+\]\.method")),
    ("postgres", {"postgres_databases": [{"name": "old", "state": "absent"}]},
     pattern(r"old marked state=absent.*postgres_allow_drop")),
    ("postgres", {"postgres_databases": "app"}, text("postgres_databases")),
    ("redis", {"redis_users": [{"name": "app", "password": "short"}]}, pattern(r"redis_users\[0\].*16 characters")),
    ("redis", {"redis_users": [{"password": "x" * 20}]}, pattern(r"redis_users.*name")),
    ("redis", {"redis_memory_share": 0}, text("redis_memory_share must be a fraction")),
    ("redis", {"redis_maxmemory_policy": "evict-everything"}, text("redis_maxmemory_policy")),
    ("redis", {"redis_port": "six"}, text("redis_port")),
    ("vercel_frontend", {"vercel_frontend_edge_host": "https://api.example.com"},
     text("vercel_frontend_edge_host the edge's public DNS name")),
    ("vercel_frontend", {"vercel_frontend_team_id": "team_1", "vercel_frontend_team_slug": "acme"},
     text("set at most one of vercel_frontend_team_id and vercel_frontend_team_slug")),
    ("vllm", {"vllm_version": "latest"}, text("vllm_version must be a release number")),
]

# role, settings, task file: the same harness with good input gets through validation (so the
# failures above mean something).
GOOD: list[tuple[str, dict[str, Any], str]] = [
    ("postgres", {"postgres_databases": [{"name": "app", "extensions": ["vector"]}]}, "validate"),
    ("backup", {}, "validate"),
    ("redis", {}, "validate"),
    ("common", {"hearth_private_networks": ["10.0.0.0/8", "fd00::/64"],
                "common_admin_users": [{"name": "ops", "ssh_keys": [KEY], "groups": ["root"]},
                                       {"name": "ubuntu", "ssh_keys": [KEY]},
                                       {"name": "gone", "state": "absent"}]}, "validate"),
    ("aws_purge", {}, "validate"),
    ("apps", {"apps_services": [{"name": "web", "kind": "web", "image": "ghcr.io/acme/web:1", "host_port": 18000},
                                {"name": "beat", "kind": "scheduler", "image": "ghcr.io/acme/web:1"}]}, "validate"),
    ("nvidia_driver", {}, "validate"),
    ("ollama", {}, "validate"),
    ("monitoring", {"monitoring_alert_receivers": [{"name": "pager", "webhook": {"url": "http://127.0.0.1:9199/hook"}}],
                    "monitoring_alert_routes": [{"receiver": "pager", "matchers": ['severity="page"']}]}, "validate"),
    # The whole role: in check mode it writes nothing.
    ("ghcr_auth", {}, "main"),
]


def case_id(role: str, variables: dict[str, Any], index: int) -> str:
    return f"{role}-{next(iter(variables), 'none')}-{index}"


def validation_tasks(role: str) -> set[str]:
    """Names of the tasks in roles/<role>/tasks/validate.yml (blocks included)."""
    names: set[str] = set()

    def walk(tasks: list[Any]) -> None:
        for task in tasks or []:
            if not isinstance(task, dict):
                continue
            if task.get("name"):
                names.add(str(task["name"]))
            for key in ("block", "rescue", "always"):
                walk(task.get(key) or [])

    walk(yaml.safe_load((ROOT / "roles" / role / "tasks" / "validate.yml").read_text()))
    return names


def last_task(output: str) -> str:
    """The task the play stopped in: the last TASK header before the recap."""
    headers = re.findall(r"^TASK \[(?:[\w.]+ : )?(.+?)\] \*+$", output, re.M)
    return headers[-1] if headers else ""


def files_under(path: Path) -> set[Path]:
    return set(path.rglob("*")) - {path / "play.yml", path / "vars.yml"}


def settings_for(role: str, variables: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The role's base settings with the case's variables on top; directories they need exist."""
    settings = {**base_vars(role, tmp_path), **variables}
    if "vercel_frontend_checkout" in settings:
        Path(settings["vercel_frontend_checkout"]).mkdir(parents=True, exist_ok=True)
    return settings


def run_role(role: str, settings: dict[str, Any], tmp_path: Path, tasks_from: str = "main"
             ) -> subprocess.CompletedProcess[str]:
    if tasks_from == "main":
        play = {"name": f"Apply {role}", "hosts": "localhost", "gather_facts": False,
                "connection": "local", "roles": [role]}
    else:
        play = {"name": f"Apply {role} ({tasks_from})", "hosts": "localhost", "gather_facts": False,
                "connection": "local", "tasks": [{"name": "Run the role's task file", "ansible.builtin.include_role":
                                                  {"name": role, "tasks_from": tasks_from}}]}
    return run_check_play(tmp_path, [play], extra_vars=settings)


@pytest.mark.parametrize(("role", "variables", "message"),
                         [pytest.param(*case, id=case_id(case[0], case[1], i)) for i, case in enumerate(CASES)])
def test_bad_input_fails_early_with_a_named_variable(role: str, variables: dict[str, Any],
                                                     message: re.Pattern[str], tmp_path: Path) -> None:
    settings = settings_for(role, variables, tmp_path)
    before = files_under(tmp_path)
    proc = run_role(role, settings, tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, f"{role} accepted {variables}:\n{output[-3000:]}"
    assert message.search(output), f"expected /{message.pattern}/ in:\n{output[-3000:]}"
    assert re.search(r"changed=0\s", output), f"something changed before the failure:\n{output[-2000:]}"
    stopped_in = last_task(output)
    assert stopped_in.startswith("Validating arguments against arg spec") or stopped_in in validation_tasks(role), (
        f"{role} failed in '{stopped_in}', not in its argument specs or tasks/validate.yml:\n{output[-3000:]}")
    assert files_under(tmp_path) == before, "the role wrote files before refusing its input"
    for secret in SECRETS:
        assert secret not in output, f"{role} printed a secret"


@pytest.mark.parametrize(("role", "variables", "tasks_from"), GOOD, ids=[case[0] for case in GOOD])
def test_good_input_passes_validation(role: str, variables: dict[str, Any], tasks_from: str,
                                      tmp_path: Path) -> None:
    settings = settings_for(role, variables, tmp_path)
    before = files_under(tmp_path)
    proc = run_role(role, settings, tmp_path, tasks_from=tasks_from)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert re.search(r"failed=0\s", output), output[-2000:]
    assert files_under(tmp_path) == before, "check mode wrote files"
    for secret in SECRETS:
        assert secret not in output, f"{role} printed a secret"
