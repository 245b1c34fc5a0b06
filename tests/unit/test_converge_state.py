"""Skipping an unchanged platform: the inputs' fingerprint, the host's record and drift, the decision."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.errors import AnsibleFilterError, AnsibleLookupError
from ansible.module_utils.testing import patch_module_args

from ansible_collections.hearth.platform.plugins.filter.converge_state import converge_reasons, converge_unchanged
from ansible_collections.hearth.platform.plugins.lookup import converge_inputs
from ansible_collections.hearth.platform.plugins.modules import converge_state

ROOT = Path(__file__).resolve().parents[2]
FP = "f" * 64


def project(base: Path) -> Path:
    """A small project: a role, a playbook and an inventory with a secret."""
    (base / "roles" / "r" / "tasks").mkdir(parents=True)
    (base / "roles" / "r" / "tasks" / "main.yml").write_text("- ansible.builtin.ping:\n")
    (base / "inv" / "group_vars").mkdir(parents=True)
    (base / "inv" / "hosts.yml").write_text("all: {hosts: {h: {}}}\n")
    (base / "inv" / "group_vars" / "all.yml").write_text("x: 1\n")
    return base


def inputs(base: Path, extra: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    """The lookup over `base`'s roles and inventory, with the given extra variables."""
    plugin = converge_inputs.LookupModule()
    plugin._extra_vars = lambda: dict(extra or {})  # type: ignore[method-assign]
    return plugin.run([[str(base / "roles"), str(base / "inv")]], **kwargs)[0]


def test_the_same_project_in_two_checkouts_has_one_fingerprint(tmp_path: Path) -> None:
    one, two = project(tmp_path / "a"), project(tmp_path / "b")
    assert inputs(one)["fingerprint"] == inputs(two)["fingerprint"]
    (two / "roles" / "r" / "tasks" / "main.yml").write_text("- ansible.builtin.ping: {data: x}\n")
    assert inputs(one)["fingerprint"] != inputs(two)["fingerprint"]


def test_caches_and_compiled_files_do_not_count_but_new_files_do(tmp_path: Path) -> None:
    base = project(tmp_path)
    before = inputs(base)["fingerprint"]
    (base / "roles" / "__pycache__").mkdir()
    (base / "roles" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (base / "roles" / "r" / "x.retry").write_text("h\n")
    assert inputs(base)["fingerprint"] == before
    (base / "inv" / "host_vars").mkdir()
    (base / "inv" / "host_vars" / "h.yml").write_text("y: 2\n")
    assert inputs(base)["fingerprint"] != before


def test_extra_variables_count_except_connection_and_skip_settings(tmp_path: Path) -> None:
    base = project(tmp_path)
    plain = inputs(base)["fingerprint"]
    ignored = {"ansible_connection": "ssh", "ansible_host": "10.0.0.2", "converge_state_skip_unchanged": True}
    assert inputs(base, ignored)["fingerprint"] == plain
    assert inputs(base, {"apps_version": "2"})["fingerprint"] != plain
    assert inputs(base, data={"groups": {"all": ["h"]}})["fingerprint"] != plain


def test_a_run_records_files_it_created_but_never_a_file_changed_under_it(tmp_path: Path) -> None:
    base = project(tmp_path)
    start = inputs(base)
    (base / "inv" / "secret").write_text("generated\n")
    grown = inputs(base, start=start)
    assert grown["fingerprint"] != start["fingerprint"]
    assert grown["fingerprint"] == inputs(base)["fingerprint"]
    (base / "inv" / "group_vars" / "all.yml").write_text("x: 2\n")
    assert inputs(base, start=start)["fingerprint"] == start["fingerprint"]


def test_the_lookup_names_its_options() -> None:
    with pytest.raises(AnsibleLookupError, match="takes data and start"):
        converge_inputs.LookupModule().run(["/x"], since={})
    with pytest.raises(AnsibleLookupError, match="needs the files"):
        converge_inputs.LookupModule().run([])


def test_missing_paths_count_as_absent(tmp_path: Path) -> None:
    assert converge_inputs.file_digests([str(tmp_path / "nope")]) == {"0:nope": "absent"}


def test_files_modified_after_the_record_are_found(tmp_path: Path) -> None:
    (tmp_path / "etc" / "app").mkdir(parents=True)
    (tmp_path / "etc" / "app" / "a.conf").write_text("a\n")
    (tmp_path / "etc" / "b.conf").write_text("b\n")
    since = time.time() + 0.01
    time.sleep(0.05)
    assert converge_state.newer_files([str(tmp_path / "etc")], since, 5) == []
    (tmp_path / "etc" / "app" / "a.conf").write_text("changed\n")
    assert converge_state.newer_files([str(tmp_path / "etc")], since, 5) == [str(tmp_path / "etc" / "app" / "a.conf")]
    assert converge_state.newer_files([str(tmp_path / "missing")], since, 5) == []


STATE = {"machine": {"cpus": 2, "memory_kb": "100", "kernel": "6.1", "boot": "b1", "gpus": []},
         "packages": "/var/lib/dpkg/status@1", "services": ["caddy.service", "redis.service"],
         "containers": ["web-a"]}


def test_drift_names_each_difference() -> None:
    record = {"fingerprint": FP, "state": STATE}
    assert converge_state.drift(record, STATE, [], 5) == []
    now = json.loads(json.dumps(STATE))
    now["machine"]["boot"] = "b2"
    now["packages"] = "/var/lib/dpkg/status@2"
    now["services"] = ["caddy.service", "extra.service"]
    now["containers"] = []
    found = converge_state.drift(record, now, ["/etc/caddy/Caddyfile"], 5)
    assert found == ["modified since the last converge: /etc/caddy/Caddyfile", "the machine changed (boot)",
                     "packages were installed, upgraded or removed", "services no longer running: redis.service",
                     "containers no longer running: web-a"]


def run_module(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: dict[str, Any],
               state: dict[str, Any], check: bool = False) -> dict[str, Any]:
    """converge_state's main() with `args`, the host's state replaced by `state`."""
    monkeypatch.setattr(converge_state, "host_state", lambda run: json.loads(json.dumps(state)))
    payload = dict(args, _ansible_check_mode=check)
    with patch_module_args(payload), pytest.raises(SystemExit):
        converge_state.main()
    return json.loads(capsys.readouterr().out)


def test_record_then_probe_on_a_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    record, etc = tmp_path / "state" / "converged.json", tmp_path / "etc"
    etc.mkdir()
    (etc / "a.conf").write_text("a\n")
    args = {"path": str(record), "watch": [str(etc)]}
    first = run_module(monkeypatch, capsys, args, STATE)
    assert first["recorded"] is False and first["drift"] == [] and first["changed"] is False

    checked = run_module(monkeypatch, capsys, dict(args, record=True, fingerprint=FP), STATE, check=True)
    assert checked["changed"] is False and not record.exists()
    # Bookkeeping: writing the record is never a change of the host.
    written = run_module(monkeypatch, capsys, dict(args, record=True, fingerprint=FP), STATE)
    assert written["changed"] is False and record.stat().st_mode & 0o777 == 0o600
    assert json.loads(record.read_text())["fingerprint"] == FP
    again = run_module(monkeypatch, capsys, dict(args, record=True, fingerprint="0" * 64), STATE)
    assert again["changed"] is False and again["fingerprint"] == FP
    assert json.loads(record.read_text())["fingerprint"] == "0" * 64
    run_module(monkeypatch, capsys, dict(args, record=True, fingerprint=FP), STATE)

    probe = run_module(monkeypatch, capsys, args, STATE)
    assert probe["recorded"] is True and probe["fingerprint"] == FP and probe["drift"] == []
    time.sleep(0.05)
    (etc / "a.conf").write_text("edited by hand\n")
    stopped = dict(STATE, services=["caddy.service"])
    probe = run_module(monkeypatch, capsys, args, stopped)
    assert probe["drift"] == [f"modified since the last converge: {etc / 'a.conf'}",
                              "services no longer running: redis.service"]


def test_the_record_needs_a_fingerprint(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                        tmp_path: Path) -> None:
    result = run_module(monkeypatch, capsys, {"path": str(tmp_path / "r.json"), "record": True}, STATE)
    assert result["failed"] and "fingerprint" in result["msg"]


def probe(**overrides: Any) -> dict[str, Any]:
    return dict({"changed": False, "recorded": True, "fingerprint": FP, "recorded_at": "t", "drift": []}, **overrides)


def test_reasons_say_why_a_host_converges() -> None:
    assert converge_reasons(probe(), FP) == []
    assert converge_reasons(probe(recorded=False, fingerprint=""), FP) == ["no full converge is recorded on this host"]
    assert converge_reasons(probe(fingerprint="0" * 64, drift=["x"]), FP) == [
        "the project, the inventory, the extra variables or Ansible changed since the last full converge", "x"]
    assert converge_reasons({"failed": True, "msg": "boom"}, FP) == ["the probe of the last converge failed: boom"]
    with pytest.raises(AnsibleFilterError, match="fingerprint"):
        converge_reasons(probe(), "")


def test_hosts_skip_together_or_not_at_all() -> None:
    assert converge_unchanged([probe(), probe()], FP) is True
    assert converge_unchanged([probe(), probe(drift=["services no longer running: redis.service"])], FP) is False
    assert converge_unchanged([], FP) is False
    with pytest.raises(AnsibleFilterError, match="list of probe results"):
        converge_unchanged(probe(), FP)


def plays(path: Path) -> list[dict[str, Any]]:
    return yaml.safe_load(path.read_text())


def test_site_probes_first_records_last_and_every_play_can_end_early() -> None:
    site = plays(ROOT / "site.yml")
    imported = [entry["ansible.builtin.import_playbook"] for entry in site]
    assert imported[0] == "playbooks/unchanged.yml" and imported[-1] == "playbooks/converged.yml"
    for name in imported[1:-1]:
        for play in plays(ROOT / name):
            roles = [r["role"] if isinstance(r, dict) else r for r in play.get("roles", [])]
            assert roles and roles[0] == "hearth", f"{name}: '{play['name']}' must list the hearth role first"
            assert not play.get("tasks"), f"{name}: '{play['name']}' runs tasks the skip would not end"
    first = plays(ROOT / "roles" / "hearth" / "tasks" / "main.yml")[0]
    assert first["ansible.builtin.meta"] == "end_host"
    assert "converge_state_unchanged" in first["when"]


def test_playbooks_run_alone_never_probe() -> None:
    for path in sorted((ROOT / "playbooks").glob("*.yml")):
        if path.name in {"unchanged.yml", "converged.yml"}:
            continue
        assert "converge_state" not in path.read_text(), f"{path.name} must not probe: only site.yml skips"


def test_machine_reads_this_host() -> None:
    found = converge_state.machine()
    assert found["cpus"] == os.cpu_count() and found["kernel"] == os.uname().release
