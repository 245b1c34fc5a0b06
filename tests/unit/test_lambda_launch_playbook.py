"""playbooks/launch.yml end to end: ansible-playbook against the fake API with a temporary inventory."""
from __future__ import annotations

from pathlib import Path

import pytest

from fake_lambda.fixtures import ROOT, ansible_env, fake, recap, run_cli  # noqa: F401 - fake is a fixture

pytestmark = pytest.mark.slow

LAUNCH_VARS = """\
hearth_env: production
lambda_request_interval: 0
lambda_launch_interval: 0
lambda_poll_interval: 0
lambda_wait_timeout: 30
lambda_ssh_key_name: deploy
lambda_ssh_public_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDeployKeyForTests deploy@ci
lambda_regions: [us-west-1, us-east-1]
lambda_filesystems:
  - name: prod-models
    region: us-east-1
lambda_machines:
  - name: prod-gpu-1
    instance_type: gpu_1x_gh200
    roles: [gpu, data]
    file_systems: [prod-models]
  - name: prod-edge
    instance_type: gpu_1x_a10
    roles: [edge, apps]
    tags:
      team: web
"""


def make_inventory(tmp_path: Path, launch_vars: str = LAUNCH_VARS) -> Path:
    inv = tmp_path / "inventory"
    (inv / "group_vars" / "all").mkdir(parents=True)
    (inv / "group_vars" / "all" / "launch.yml").write_text("---\n" + launch_vars)
    (inv / "lambda_cloud.yml").write_text("plugin: hearth.platform.lambda_cloud\ntag_filters:\n  hearth-env: production\n")
    return inv


def launch(tmp_path: Path, fake, inv: Path, *args: str, key: str = ""):  # noqa: F811
    env = ansible_env(tmp_path, LAMBDA_API_KEY=key or fake.api_key, LAMBDA_API_URL=fake.url)
    return run_cli("ansible-playbook", ["-i", str(inv), str(ROOT / "playbooks" / "launch.yml"), *args], env)


def test_launch_is_idempotent_and_check_mode_is_clean(fake, tmp_path) -> None:  # noqa: F811
    inv = make_inventory(tmp_path)
    fake.capacity["gpu_1x_gh200"] = ["us-east-1"]

    planned = launch(tmp_path, fake, inv, "--check")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert recap(planned.stdout)["changed"] == 3  # key, file system, machines (tasks)
    assert [m for m, _, _ in fake.log if m != "GET"] == [], "check mode sends no change"

    first = launch(tmp_path, fake, inv)
    assert first.returncode == 0, first.stdout + first.stderr
    assert recap(first.stdout)["changed"] == 3
    machines = {i["name"]: i for i in fake.instances.values()}
    assert sorted(machines) == ["prod-edge", "prod-gpu-1"]
    assert all(i["status"] == "active" for i in machines.values())
    assert machines["prod-gpu-1"]["region"]["name"] == "us-east-1"
    assert machines["prod-gpu-1"]["tags"] == [{"key": "hearth-env", "value": "production"},
                                              {"key": "hearth-role", "value": "gpu,data"}]
    assert {"key": "team", "value": "web"} in machines["prod-edge"]["tags"]
    assert machines["prod-edge"]["ip"] in first.stdout

    again = launch(tmp_path, fake, inv)
    assert again.returncode == 0, again.stdout
    assert recap(again.stdout)["changed"] == 0
    checked = launch(tmp_path, fake, inv, "--check")
    assert checked.returncode == 0, checked.stdout
    assert recap(checked.stdout)["changed"] == 0
    assert len(fake.calls("POST", "/instance-operations/launch")) == 2

    secrets = [fake.api_key] + [i["jupyter_token"] for i in fake.instances.values()]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not any(s in text for s in secrets), "%s holds a secret" % path


def test_terminating_through_the_list(fake, tmp_path) -> None:  # noqa: F811
    fake.add_ssh_key("deploy", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDeployKeyForTests deploy@ci")
    fake.add_instance("prod-old", tags={"hearth-env": "production"})
    inv = make_inventory(tmp_path, LAUNCH_VARS.split("lambda_filesystems:")[0]
                         + "lambda_machines:\n  - name: prod-old\n    state: absent\n")
    run = launch(tmp_path, fake, inv)
    assert run.returncode == 0, run.stdout + run.stderr
    assert recap(run.stdout)["changed"] == 1
    assert [i["status"] for i in fake.instances.values()] == ["terminated"]


def test_bad_machine_list_fails_before_any_api_call(fake, tmp_path) -> None:  # noqa: F811
    inv = make_inventory(tmp_path, LAUNCH_VARS.replace("    instance_type: gpu_1x_a10\n", ""))
    run = launch(tmp_path, fake, inv)
    assert run.returncode != 0
    assert "lambda_machines must be a list of" in run.stdout
    assert [m for m, p, _ in fake.log if "/instances" not in p] == [], "only the inventory plugin read the API"


def test_bad_key_surfaces_the_api_error(fake, tmp_path) -> None:  # noqa: F811
    run = launch(tmp_path, fake, make_inventory(tmp_path), key="wrong-key")
    assert run.returncode != 0
    assert "global/invalid-api-key" in run.stdout
    assert "wrong-key" not in run.stdout + run.stderr
