"""Converges are summarised from ansible-runner's events, for the lab and the converge benchmark.

The event dicts below are trimmed copies of what ansible-runner 2.4 recorded for a real run
(job_events/*.json): task results per host with role, duration and res, then playbook_on_stats.
The last test runs a throwaway playbook on localhost through the same code path the lab uses.
"""
from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

import converge as bench

runner = bench.runner

NO_LOG = "the output has been hidden due to the fact that 'no_log: true' was specified for this result"


def result(event: str, host: str, task: str, seconds: float, role: str | None = None,
           res: dict[str, Any] | None = None, stdout: str = "", **extra: Any) -> dict[str, Any]:
    """A runner_on_* event as ansible-runner records it (fields the summary does not read left out)."""
    data: dict[str, Any] = {"host": host, "task": task, "duration": seconds, "res": res, **extra}
    if role is not None:
        data["role"] = role
    return {"event": event, "stdout": stdout, "event_data": data}


EVENTS: list[dict[str, Any]] = [
    {"event": "playbook_on_start", "stdout": "", "event_data": {}},
    {"event": "playbook_on_task_start", "stdout": "", "event_data": {"task": "Install packages", "role": "common"}},
    {"event": "runner_on_start", "stdout": "", "event_data": {"host": "lab-1", "task": "Install packages", "role": "common"}},
    result("runner_on_ok", "lab-1", "Install packages", 12.5, "common", {"changed": True},
           "\r\nTASK [common : Install packages] ****\r\n\x1b[0;33mchanged: [lab-1]\x1b[0m"),
    result("runner_on_ok", "lab-2", "Install packages", 3.25, "common", {"changed": False}, "ok: [lab-2]"),
    # no_log hides res; only the printed line says it changed.
    result("runner_on_ok", "lab-1", "Set the admin password", 0.75, "postgres", {"censored": NO_LOG},
           "\r\nTASK [postgres : Set the admin password] ****\r\nchanged: [lab-1]"),
    result("runner_on_ok", "lab-2", "Set the admin password", 0.5, "postgres", {"censored": NO_LOG}, "ok: [lab-2]"),
    result("runner_on_skipped", "lab-1", "Hold the driver", 0.01, "nvidia_driver"),
    result("runner_on_failed", "lab-2", "Probe the GPU", 1.0, "nvidia_driver", {"changed": False, "msg": "no"},
           ignore_errors=True),
    {"event": "runner_item_on_ok", "stdout": "ok: [lab-1] => (item=a)",
     "event_data": {"host": "lab-1", "task": "Create users", "role": "common", "res": {"changed": True}}},
    result("runner_on_ok", "lab-1", "Create users", 2.0, "common", {"changed": False, "msg": "All items completed"}),
    result("runner_on_ok", "lab-1", "Check the platform answers", 4.0, None, {"changed": False}),
    result("runner_on_failed", "lab-2", "Start redis", 6.0, "redis", {"changed": False, "msg": "failed"}),
    result("runner_on_unreachable", "lab-3", "Gathering Facts", 10.0, None, {"unreachable": True}),
    {"event": "playbook_on_stats", "stdout": "\r\nPLAY RECAP ****",
     "event_data": {"ok": {"lab-1": 5, "lab-2": 3}, "changed": {"lab-1": 2}, "failures": {"lab-2": 1},
                    "skipped": {"lab-1": 1}, "dark": {"lab-3": 1}, "rescued": {}, "ignored": {"lab-2": 1},
                    "processed": {"lab-1": 1, "lab-2": 1, "lab-3": 1}}},
]


def test_task_results_come_from_runner_on_events_only() -> None:
    results = runner.task_results(EVENTS)
    assert [(r.host, r.label, r.status) for r in results] == [
        ("lab-1", "common : Install packages", "ok"),
        ("lab-2", "common : Install packages", "ok"),
        ("lab-1", "postgres : Set the admin password", "ok"),
        ("lab-2", "postgres : Set the admin password", "ok"),
        ("lab-1", "nvidia_driver : Hold the driver", "skipped"),
        ("lab-2", "nvidia_driver : Probe the GPU", "ignored"),
        ("lab-1", "common : Create users", "ok"),
        ("lab-1", "Check the platform answers", "ok"),
        ("lab-2", "redis : Start redis", "failed"),
        ("lab-3", "Gathering Facts", "unreachable"),
    ]


def test_changed_is_read_from_res_and_from_the_line_when_no_log_hides_res() -> None:
    changed = {(r.host, r.task) for r in runner.task_results(EVENTS) if r.changed}
    assert changed == {("lab-1", "Install packages"), ("lab-1", "Set the admin password")}


def test_counters_per_host_come_from_playbook_on_stats() -> None:
    summary = runner.summarise(EVENTS, rc=2, status="failed", wall_seconds=30.0)
    assert summary.changed_per_host == {"lab-1": 2, "lab-2": 0, "lab-3": 0}
    assert summary.hosts["lab-2"] == runner.HostCounts(ok=3, failed=1, ignored=1)
    assert summary.totals == {"ok": 8, "changed": 2, "failed": 1, "skipped": 1, "unreachable": 1, "tasks": 10}
    assert summary.failed


def test_role_time_is_summed_over_tasks_and_hosts_slowest_first() -> None:
    summary = runner.summarise(EVENTS, rc=0, status="successful", wall_seconds=30.0)
    assert summary.role_seconds == {"common": 17.75, "(play)": 14.0, "redis": 6.0, "postgres": 1.25,
                                    "nvidia_driver": 1.01}


def test_slowest_lists_all_results_and_the_unchanged_ones_apart() -> None:
    summary = runner.summarise(EVENTS, rc=0, status="successful", wall_seconds=30.0)
    assert [t.seconds for t in summary.slowest] == [12.5, 10.0, 6.0, 4.0, 3.25, 2.0, 1.0, 0.75, 0.5, 0.01]
    # Failed, ignored, unreachable and changed results are not "no-change" time.
    assert [(t.host, t.task) for t in summary.slowest_unchanged] == [
        ("lab-1", "Check the platform answers"), ("lab-2", "Install packages"), ("lab-1", "Create users"),
        ("lab-2", "Set the admin password"), ("lab-1", "Hold the driver"),
    ]
    assert [(t.host, t.status) for t in summary.failures] == [("lab-2", "failed"), ("lab-3", "unreachable")]


def test_slowest_keeps_ten() -> None:
    many = [result("runner_on_ok", "h", f"t{i}", float(i), None, {"changed": False}) for i in range(25)]
    summary = runner.summarise(many, rc=0, status="successful", wall_seconds=1.0)
    assert [t.task for t in summary.slowest] == [f"t{i}" for i in range(24, 14, -1)]
    assert summary.slowest_unchanged == summary.slowest


def test_a_run_without_stats_has_no_hosts_and_no_tasks() -> None:
    summary = runner.summarise([], rc=4, status="failed", wall_seconds=0.5)
    assert summary.totals["tasks"] == 0 and summary.hosts == {} and summary.failed


def test_summary_json_keeps_the_recap_fields_and_adds_timings() -> None:
    data = runner.summarise(EVENTS, rc=0, status="successful", wall_seconds=30.0).to_json()
    assert {"ok", "changed", "failed", "skipped", "unreachable", "tasks", "changed_per_host", "role_seconds",
            "slowest_tasks", "slowest_unchanged_tasks", "wall_seconds", "rc"} <= set(data)
    assert data["slowest_unchanged_tasks"][0] == {"host": "lab-1", "role": "(play)", "task": "Check the platform answers",
                                                  "status": "ok", "changed": False, "seconds": 4.0}
    json.dumps(data)


def test_benchmark_record_keeps_earlier_fields() -> None:
    record = bench.run_record(runner.summarise(EVENTS, rc=0, status="successful", wall_seconds=5.0))
    assert {k: record[k] for k in ("seconds", "ok", "changed", "failed", "skipped", "unreachable", "tasks",
                                   "tasks_per_second")} == {
        "seconds": 5.0, "ok": 8, "changed": 2, "failed": 1, "skipped": 1, "unreachable": 1, "tasks": 10,
        "tasks_per_second": 2.0}
    assert list(record["role_seconds"])[0] == "common"
    assert len(record["slowest_unchanged_tasks"]) == 5


def test_benchmark_medians_over_reruns() -> None:
    runs = [{"seconds": s, "role_seconds": roles, "slowest_unchanged_tasks": [s]}
            for s, roles in ((3.0, {"a": 1.0, "b": 2.0}), (1.0, {"a": 3.0}), (2.0, {"a": 2.0, "b": 1.0}))]
    assert bench.median_role_seconds(runs) == {"a": 2.0, "b": 1.0}
    assert bench.median_run(runs)["seconds"] == 2.0


def test_environment_names_the_config_and_this_interpreter(tmp_path: Path) -> None:
    config = tmp_path / "ansible.cfg"
    config.write_text("[defaults]\nhost_key_checking = true\n")
    env = runner.runner_env(config, Path("/venv/bin"), {"PATH": "/usr/bin"}, colour=False)
    assert env == {"ANSIBLE_CONFIG": str(config), "PATH": "/venv/bin:/usr/bin",
                   "ANSIBLE_HOST_KEY_CHECKING": "True", "ANSIBLE_NOCOLOR": "1"}
    forced = runner.runner_env(config, Path("/b"), {"ANSIBLE_FORCE_COLOR": "1", "ANSIBLE_HOST_KEY_CHECKING": "0"},
                               colour=False)
    assert "ANSIBLE_NOCOLOR" not in forced and "ANSIBLE_HOST_KEY_CHECKING" not in forced


def test_host_key_checking_follows_ansible_cfg() -> None:
    assert runner.host_key_checking("[defaults]\nhost_key_checking = false\n") is False
    assert runner.host_key_checking("") is True


def test_inventory_paths_become_absolute_and_host_lists_go_on_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "inventories" / "lab").mkdir(parents=True)
    assert runner.inventory_arguments("inventories/lab", [Path("/nonexistent"), tmp_path]) == (
        str(tmp_path / "inventories" / "lab"), [])
    assert runner.inventory_arguments("localhost,", [tmp_path]) == (None, ["-i", "localhost,"])


PLAYBOOK = """\
---
- name: Throwaway play
  hosts: all
  gather_facts: false
  tasks:
    - name: Say which Python runs ansible-playbook
      ansible.builtin.debug:
        msg: "{{ ansible_playbook_python }}"

    - name: Pretend to change something
      ansible.builtin.debug:
        msg: changed
      changed_when: true
"""


def test_runs_a_playbook_on_localhost_with_the_project_config(tmp_path: Path) -> None:
    """The lab's code path end to end, against localhost instead of containers (a few seconds)."""
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    summary = runner.run_converge("localhost,", playbook="play.yml", extra_args=["-c", "local"],
                                  project_dir=tmp_path, data_dir=tmp_path / "runner", quiet=True)
    assert (summary.rc, summary.status, summary.failed) == (0, "successful", False)
    assert summary.tasks == 2
    assert summary.changed_per_host == {"localhost": 1}
    assert [t.task for t in summary.slowest_unchanged] == ["Say which Python runs ansible-playbook"]
    assert set(summary.role_seconds) == {"(play)"} and summary.wall_seconds > 0
    output = (Path(summary.artifact_dir) / "stdout").read_text()
    # ansible-playbook ran from this interpreter's environment ...
    assert f"msg: {Path(sys.executable).parent}/python" in output
    # ... with the project's ansible.cfg: YAML results and the profile_tasks recap ...
    assert "TASKS RECAP" in output and "\x1b[" not in output
    # ... its fact cache and host key checking, which ansible-runner would otherwise replace.
    env = json.loads((Path(summary.artifact_dir) / "command").read_text())["env"]
    assert not env.get("ANSIBLE_CACHE_PLUGIN_CONNECTION", "").startswith(str(tmp_path))
    assert env["ANSIBLE_HOST_KEY_CHECKING"] == os.environ.get("ANSIBLE_HOST_KEY_CHECKING", "True")


def test_mitogen_runs_the_same_playbook_on_localhost(tmp_path: Path) -> None:
    """The opt-in path end to end: Mitogen's strategy loads, runs modules and reports the same."""
    (tmp_path / "play.yml").write_text(PLAYBOOK + """
    - name: Run a module in Mitogen's interpreter
      ansible.builtin.stat:
        path: /

    - name: Say which strategy runs the play
      ansible.builtin.debug:
        msg: "strategy={{ lookup('ansible.builtin.config', 'DEFAULT_STRATEGY') }}"
""")
    environ = {**os.environ, **runner.mitogen_environ()}
    # Mitogen starts the interpreter itself: a real one, not a version manager's shell shim.
    summary = runner.run_converge("localhost,", playbook="play.yml",
                                  extra_args=["-c", "local", "-e", f"ansible_python_interpreter={sys.executable}"],
                                  project_dir=tmp_path, data_dir=tmp_path / "runner", quiet=True, environ=environ)
    assert (summary.rc, summary.status, summary.failed) == (0, "successful", False)
    assert summary.tasks == 4 and summary.changed_per_host == {"localhost": 1}
    assert "strategy=mitogen_linear" in (Path(summary.artifact_dir) / "stdout").read_text()


def test_terminal_line_ends_are_unix_ones_in_output() -> None:
    sink = io.StringIO()
    stream = runner.UnixNewlines(sink)
    stream.write("\r\nTASK [x] ***\r\nok: [h]")
    stream.write("\n")
    assert sink.getvalue() == "\nTASK [x] ***\nok: [h]\n"


def test_command_line_passes_what_follows_double_dash_to_ansible(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def fake_run(inventory: str, **kwargs: Any) -> Any:
        seen.update(inventory=inventory, **kwargs)
        return runner.summarise(EVENTS[-1:], rc=0, status="successful", wall_seconds=1.0)

    monkeypatch.setattr(runner, "run_converge", fake_run)
    out = tmp_path / "summary.json"
    assert runner.main(["--inventory", "inventories/lab", "--summary", str(out), "--", "--diff", "-e", "a=b"]) == 0
    assert seen["inventory"] == "inventories/lab" and seen["extra_args"] == ["--diff", "-e", "a=b"]
    assert json.loads(out.read_text())["changed"] == 2


def test_mitogen_settings_point_at_the_package_strategies(tmp_path: Path) -> None:
    strategies = tmp_path / "plugins" / "strategy"
    strategies.mkdir(parents=True)
    (strategies / "mitogen_linear.py").write_text("")
    assert runner.mitogen_settings(tmp_path) == {
        "ANSIBLE_STRATEGY_PLUGINS": str(strategies), "ANSIBLE_STRATEGY": "mitogen_linear"}


def test_mitogen_settings_refuse_a_package_without_its_strategies(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no Mitogen strategy plugins"):
        runner.mitogen_settings(tmp_path)


def test_the_pinned_mitogen_is_installed_and_found() -> None:
    settings = runner.mitogen_environ()
    assert Path(settings["ANSIBLE_STRATEGY_PLUGINS"], "mitogen_linear.py").is_file()


@pytest.mark.parametrize(("flag", "value", "expected"), [
    (False, "", False), (False, "0", False), (False, "1", True), (False, "yes", True), (True, "", True)])
def test_mitogen_is_opt_in(flag: bool, value: str, expected: bool) -> None:
    assert runner.wants_mitogen(flag, {"HEARTH_MITOGEN": value}) is expected


def test_variant_summary_compares_medians_and_per_task_cost_with_the_baseline() -> None:
    def run(seconds: float, tasks: int = 100) -> dict[str, Any]:
        return {"seconds": seconds, "tasks": tasks, "tasks_per_second": round(tasks / seconds, 2), "changed": 0,
                "role_seconds": {"caddy": seconds / 2}, "slowest_unchanged_tasks": [{"task": str(seconds)}]}
    summary = bench.variant_summary([run(30), run(40), run(20)], baseline_median=90.0)
    assert summary["median_seconds"] == 30
    assert summary["speedup"] == 3.0
    assert summary["seconds_per_task"] == 0.3
    assert summary["reruns_changed"] == [0, 0, 0]
    assert summary["role_seconds"] == {"caddy": 15.0}
    assert summary["slowest_tasks"] == [{"task": "30"}]
    assert bench.variant_summary([run(90)], baseline_median=90.0)["speedup"] == 1.0


def test_variants_are_checked_and_the_baseline_always_runs_first() -> None:
    assert bench.parse_variants("ssh,docker-mitogen") == ["docker", "ssh", "docker-mitogen"]
    assert bench.parse_variants("ssh, docker, ssh") == ["docker", "ssh"]
    with pytest.raises(SystemExit, match="unknown sshh; known: docker"):
        bench.parse_variants("ssh,sshh")


def test_variant_settings_change_only_what_the_variant_names(tmp_path: Path) -> None:
    env = {"PATH": "/bin"}
    full = ["-e", "converge_state_skip_unchanged=false"]
    assert bench.variant_settings("docker", env, None) == (env, "inventories/lab", full)
    assert bench.variant_settings("docker-unpipelined", env, None) == (
        {**env, "ANSIBLE_PIPELINING": "False"}, "inventories/lab", full)
    assert bench.variant_settings("docker-unprobed", env, None) == (
        env, "inventories/lab", full + ["-e", "hearth_package_probe=false"])
    settings, inventory, extra = bench.variant_settings("ssh-mitogen", env, tmp_path)
    assert settings["ANSIBLE_STRATEGY"] == "mitogen_linear" and inventory == str(tmp_path) and extra == full
    assert "ANSIBLE_PIPELINING" not in settings
    # As shipped: an unchanged platform is skipped, so nothing turns the skip off.
    assert bench.variant_settings("docker-skip", env, None) == (env, "inventories/lab", [])
    settings, inventory, extra = bench.variant_settings("ssh-mitogen-skip", env, tmp_path)
    assert settings["ANSIBLE_STRATEGY"] == "mitogen_linear" and inventory == str(tmp_path) and extra == []


def test_the_ssh_inventory_keeps_the_lab_groups_and_changes_only_the_connection() -> None:
    lab = {"all": {"vars": {"ansible_connection": "docker"}, "children": {"data": {"hosts": {"lab-1": None}}}}}
    copy = bench.over_ssh(lab, "lab-1", "172.17.0.2", Path("/k/id"), Path("/k/known"))
    assert copy["all"]["children"] == lab["all"]["children"] and copy["all"]["vars"] == lab["all"]["vars"]
    assert copy["all"]["hosts"]["lab-1"] == {
        "ansible_connection": "ssh", "ansible_host": "172.17.0.2", "ansible_ssh_private_key_file": "/k/id",
        "ansible_ssh_common_args": "-o UserKnownHostsFile=/k/known"}
    assert "hosts" not in lab["all"]


def test_results_are_written_after_each_round_with_the_baseline_under_its_earlier_names(tmp_path: Path) -> None:
    def run(seconds: float) -> dict[str, Any]:
        return {"seconds": seconds, "tasks": 10, "tasks_per_second": 1.0, "changed": 0, "role_seconds": {},
                "slowest_unchanged_tasks": []}
    output = tmp_path / "converge.json"
    bench.write_results(output, None, {"docker": [run(60.0), run(50.0)], "ssh": [run(100.0)]})
    data = json.loads(output.read_text())
    assert data["no_change_median_seconds"] == 55.0 and data["reruns_changed"] == [0, 0]
    assert data["first_to_rerun_ratio"] is None
    assert data["variants"]["ssh"]["speedup"] == 0.55
    assert data["variants"]["docker"]["speedup"] == 1.0
