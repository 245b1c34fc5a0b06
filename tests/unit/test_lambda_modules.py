"""lambda_instance, lambda_ssh_key and lambda_filesystem run in-process against the fake API.

Each test drives a module's ``main()`` with AnsibleModule arguments, as Ansible does, and
checks both the module result and what the fake account saw.
"""
from __future__ import annotations

import pytest
from ansible_collections.hearth.platform.plugins.modules import lambda_filesystem, lambda_instance, lambda_ssh_key

from fake_lambda.fixtures import fake, fast_args, run_module  # noqa: F401 - fake is a fixture

GPU = {"name": "prod-gpu-1", "instance_type": "gpu_1x_gh200", "regions": ["us-west-1", "us-east-1"],
       "ssh_key": "ops", "tags": {"hearth-env": "production", "hearth-role": "gpu,data"},
       "poll_interval": 0.0, "wait_timeout": 5}


def instance(fake, **args):  # noqa: F811
    return run_module(lambda_instance.main, fast_args(fake, **dict(GPU, **args)))


# lambda_instance -------------------------------------------------------------------------------

def test_launch_waits_for_active_and_returns_no_secrets(fake) -> None:  # noqa: F811
    fake.boot_polls = 3
    failed, result = instance(fake, user_data="#cloud-config\npackages: [htop]\n")
    assert not failed, result
    assert result["changed"] is True
    assert result["region"] == "us-west-1"
    assert result["instance"]["status"] == "active" and result["instance"]["ip"]
    assert "jupyter_token" not in result["instance"] and "jupyter_url" not in result["instance"]
    [sent] = fake.calls("POST", "/instance-operations/launch")
    assert sent["ssh_key_names"] == ["ops"] and sent["name"] == "prod-gpu-1"
    assert sent["tags"] == [{"key": "hearth-env", "value": "production"}, {"key": "hearth-role", "value": "gpu,data"}]
    assert sent["user_data"].startswith("#cloud-config")
    assert fake.calls("GET", "/instance-types"), "instance types are read before launching"


def test_second_run_changes_nothing(fake) -> None:  # noqa: F811
    assert instance(fake)[1]["changed"] is True
    failed, result = instance(fake)
    assert not failed and result["changed"] is False
    assert len(fake.calls("POST", "/instance-operations/launch")) == 1


def test_existing_instance_with_other_type_is_left_alone_with_a_warning(fake, monkeypatch) -> None:  # noqa: F811
    # Where a warning ends up depends on whether controller code is loaded in this process,
    # so record what the module warns about directly.
    warned = []
    monkeypatch.setattr(lambda_instance.AnsibleModule, "warn", lambda self, msg: warned.append(msg))
    fake.add_instance("prod-gpu-1", "gpu_1x_a10", "us-west-1")
    failed, result = instance(fake)
    assert not failed and result["changed"] is False
    assert any("gpu_1x_a10, not gpu_1x_gh200" in w for w in warned)
    assert fake.calls("POST", "/instance-operations/launch") == []


def test_check_mode_plans_without_launching(fake) -> None:  # noqa: F811
    fake.capacity["gpu_1x_gh200"] = ["us-east-1"]
    failed, result = instance(fake, _ansible_check_mode=True)
    assert not failed and result["changed"] is True
    assert result["region"] == "us-east-1"
    assert fake.calls("POST", "/instance-operations/launch") == []
    assert fake.instances == {}


def test_first_region_without_capacity_falls_back_to_the_next(fake) -> None:  # noqa: F811
    fake.capacity["gpu_1x_gh200"] = ["us-east-1", "us-south-1"]
    failed, result = instance(fake)
    assert not failed and result["region"] == "us-east-1"
    assert [c["region_name"] for c in fake.calls("POST", "/instance-operations/launch")] == ["us-east-1"]


def test_launch_refused_for_capacity_moves_to_the_next_preferred_region(fake) -> None:  # noqa: F811
    fake.capacity["gpu_1x_gh200"] = ["us-west-1", "us-east-1"]
    fake.launch_refused.add(("gpu_1x_gh200", "us-west-1"))
    failed, result = instance(fake)
    assert not failed, result
    assert result["tried_regions"] == ["us-west-1"] and result["region"] == "us-east-1"
    assert [c["region_name"] for c in fake.calls("POST", "/instance-operations/launch")] == ["us-west-1", "us-east-1"]


def test_no_capacity_in_preferred_regions_lists_regions_that_have_it(fake) -> None:  # noqa: F811
    fake.capacity["gpu_1x_gh200"] = ["us-south-1", "europe-central-1"]
    failed, result = instance(fake)
    assert failed
    assert "no capacity for gpu_1x_gh200 in the preferred regions (us-west-1, us-east-1)" in result["msg"]
    assert "Regions with capacity now: us-south-1, europe-central-1" in result["msg"]
    assert result["regions_with_capacity"] == ["us-south-1", "europe-central-1"]
    assert fake.calls("POST", "/instance-operations/launch") == []


def test_every_preferred_region_refusing_fails_with_current_capacity(fake) -> None:  # noqa: F811
    fake.capacity["gpu_1x_gh200"] = ["us-west-1", "us-east-1", "us-south-1"]
    fake.launch_refused |= {("gpu_1x_gh200", "us-west-1"), ("gpu_1x_gh200", "us-east-1")}
    failed, result = instance(fake)
    assert failed
    assert result["tried_regions"] == ["us-west-1", "us-east-1"]
    assert "launch refused in us-west-1, us-east-1" in result["msg"]
    assert "us-south-1" in result["msg"]


def test_instance_that_stays_booting_fails_after_the_timeout(fake) -> None:  # noqa: F811
    fake.boot_polls = None
    failed, result = instance(fake, wait_timeout=0)
    assert failed and result["changed"] is True
    assert "is still booting after 0 s" in result["msg"]
    assert result["instance"]["status"] == "booting"
    [only] = fake.instances.values()
    assert only["status"] == "booting", "the instance is left running for the next run"


def test_terminate_then_absent_is_a_no_op(fake) -> None:  # noqa: F811
    fake.add_instance("prod-gpu-1")
    failed, result = instance(fake, state="absent")
    assert not failed and result["changed"] is True
    [inst] = fake.instances.values()
    assert inst["status"] == "terminated"
    failed, result = instance(fake, state="absent")
    assert not failed and result["changed"] is False
    assert len(fake.calls("POST", "/instance-operations/terminate")) == 1


def test_terminated_instance_frees_its_name(fake) -> None:  # noqa: F811
    fake.add_instance("prod-gpu-1", status="terminated")
    failed, result = instance(fake)
    assert not failed and result["changed"] is True
    assert len(fake.calls("POST", "/instance-operations/launch")) == 1


def test_check_mode_terminate_changes_nothing(fake) -> None:  # noqa: F811
    fake.add_instance("prod-gpu-1")
    failed, result = instance(fake, state="absent", _ansible_check_mode=True)
    assert not failed and result["changed"] is True
    assert fake.calls("POST", "/instance-operations/terminate") == []


def test_restart_waits_until_active_again(fake) -> None:  # noqa: F811
    fake.add_instance("prod-gpu-1")
    fake.boot_polls = 2
    failed, result = instance(fake, state="restarted")
    assert not failed and result["changed"] is True
    assert result["instance"]["status"] == "active"
    assert len(fake.calls("POST", "/instance-operations/restart")) == 1


def test_restart_of_a_missing_instance_fails(fake) -> None:  # noqa: F811
    failed, result = instance(fake, state="restarted")
    assert failed and "exactly one live instance named prod-gpu-1" in result["msg"]


def test_restart_conflict_surfaces_the_api_error(fake) -> None:  # noqa: F811
    fake.add_instance("prod-gpu-1", status="booting")
    fake.boot_polls = None
    failed, result = instance(fake, state="restarted")
    assert failed
    assert result["api_error"]["code"] == "global/conflict"


def test_bad_key_fails_with_code_message_and_suggestion(fake) -> None:  # noqa: F811
    failed, result = instance(fake, api_key="not-the-key")
    assert failed
    assert result["api_error"]["code"] == "global/invalid-api-key"
    assert "global/invalid-api-key" in result["msg"] and "Suggestion:" in result["msg"]
    assert "not-the-key" not in str(result)


def test_throttled_requests_are_retried(fake) -> None:  # noqa: F811
    fake.throttle = ["0", "0"]
    failed, result = instance(fake)
    assert not failed and result["changed"] is True


def test_unknown_instance_type_lists_known_types(fake) -> None:  # noqa: F811
    failed, result = instance(fake, instance_type="gpu_9x_imaginary")
    assert failed and "gpu_1x_a10" in result["msg"]


def test_file_systems_pin_the_region(fake) -> None:  # noqa: F811
    fake.add_filesystem("models", "us-east-1")
    failed, result = instance(fake, file_systems=["models"])
    assert not failed and result["region"] == "us-east-1"
    assert fake.calls("POST", "/instance-operations/launch")[0]["file_system_names"] == ["models"]


def test_missing_file_system_fails_before_launching(fake) -> None:  # noqa: F811
    failed, result = instance(fake, file_systems=["nope"])
    assert failed and "file_systems nope do not exist" in result["msg"]
    assert fake.calls("POST", "/instance-operations/launch") == []


def test_firewall_rulesets_are_resolved_by_name_in_the_launch_region(fake) -> None:  # noqa: F811
    ruleset = fake.add_ruleset("web", "us-west-1")
    failed, result = instance(fake, firewall_rulesets=["web"])
    assert not failed, result
    assert fake.calls("POST", "/instance-operations/launch")[0]["firewall_rulesets"] == [{"id": ruleset["id"]}]


def test_bad_tag_key_is_refused_before_any_request(fake) -> None:  # noqa: F811
    failed, result = instance(fake, tags={"Hearth Env": "x"})
    assert failed and "tags key 'Hearth Env'" in result["msg"]
    assert fake.log == []


def test_launch_without_required_options_names_them(fake) -> None:  # noqa: F811
    failed, result = run_module(lambda_instance.main, fast_args(fake, name="x"))
    assert failed and "instance_type, regions, ssh_key" in result["msg"]


def test_launch_payload_is_minimal_without_optional_options() -> None:
    params = dict(GPU, file_systems=[], hostname=None, image_id=None, image_family="lambda-stack-24-04",
                  user_data=None)
    body = lambda_instance.launch_payload(params, "us-west-1", [])
    assert body["image"] == {"family": "lambda-stack-24-04"}
    assert "firewall_rulesets" not in body and "user_data" not in body and "hostname" not in body


# lambda_ssh_key --------------------------------------------------------------------------------

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDeployKeyForTests deploy@ci"


def ssh_key(fake, **args):  # noqa: F811
    return run_module(lambda_ssh_key.main, fast_args(fake, **dict({"name": "deploy", "public_key": KEY}, **args)))


def test_ssh_key_is_added_once(fake) -> None:  # noqa: F811
    assert ssh_key(fake)[1]["changed"] is True
    failed, result = ssh_key(fake, public_key=KEY.replace("deploy@ci", "other comment"))
    assert not failed and result["changed"] is False
    assert len(fake.calls("POST", "/ssh-keys")) == 1


def test_ssh_key_with_new_material_is_replaced(fake) -> None:  # noqa: F811
    fake.add_ssh_key("deploy", "ssh-ed25519 AAAAOLD old")
    failed, result = ssh_key(fake)
    assert not failed and result["changed"] is True and result["action"] == "replace"
    assert [k["public_key"] for k in fake.ssh_keys.values() if k["name"] == "deploy"] == [KEY]


def test_ssh_key_check_mode_and_absent(fake) -> None:  # noqa: F811
    failed, result = ssh_key(fake, _ansible_check_mode=True)
    assert not failed and result["changed"] is True
    assert fake.calls("POST", "/ssh-keys") == []
    failed, result = ssh_key(fake, state="absent", public_key=None)
    assert not failed and result["changed"] is False
    failed, result = ssh_key(fake, state="absent", public_key=None, name="ops")
    assert not failed and result["changed"] is True
    assert fake.ssh_keys == {}


def test_ssh_key_present_needs_public_key(fake) -> None:  # noqa: F811
    failed, result = ssh_key(fake, public_key=None)
    assert failed and "public_key" in result["msg"]


# lambda_filesystem -----------------------------------------------------------------------------

def filesystem(fake, **args):  # noqa: F811
    args = dict({"name": "models", "region": "us-east-1"}, **args)
    return run_module(lambda_filesystem.main, fast_args(fake, **args))


def test_filesystem_is_created_once(fake) -> None:  # noqa: F811
    failed, result = filesystem(fake)
    assert not failed and result["changed"] is True
    assert result["filesystem"]["mount_point"] == "/lambda/nfs/models"
    failed, result = filesystem(fake)
    assert not failed and result["changed"] is False
    assert len(fake.calls("POST", "/filesystems")) == 1


def test_filesystem_in_another_region_is_not_duplicated(fake) -> None:  # noqa: F811
    fake.add_filesystem("models", "us-west-1")
    failed, result = filesystem(fake)
    assert failed and "already exists in us-west-1, not us-east-1" in result["msg"]
    assert fake.calls("POST", "/filesystems") == []


def test_filesystem_check_mode_changes_nothing(fake) -> None:  # noqa: F811
    failed, result = filesystem(fake, _ansible_check_mode=True)
    assert not failed and result["changed"] is True
    assert fake.filesystems == {}


def test_filesystem_in_use_cannot_be_deleted(fake) -> None:  # noqa: F811
    fake.add_filesystem("models", "us-east-1")
    assert instance(fake, file_systems=["models"])[1]["changed"] is True
    failed, result = filesystem(fake, state="absent")
    assert failed and result["api_error"]["code"] == "filesystems/filesystem-in-use"
    assert result["api_error"]["suggestion"]
    instance(fake, state="absent")
    failed, result = filesystem(fake, state="absent")
    assert not failed and result["changed"] is True
    assert fake.filesystems == {}


@pytest.mark.parametrize("name", ["1models", "models_v2", "x" * 61])
def test_filesystem_name_is_checked_locally(fake, name) -> None:  # noqa: F811
    failed, result = filesystem(fake, name=name)
    assert failed and "must start with letters" in result["msg"]
    assert fake.log == []


def test_filesystem_present_needs_a_region(fake) -> None:  # noqa: F811
    failed, result = filesystem(fake, region=None)
    assert failed and "region is required with state=present" in result["msg"]
    assert fake.log == []


def test_existing_booting_instance_is_waited_for_without_a_change(fake) -> None:  # noqa: F811
    fake.add_instance("prod-gpu-1", "gpu_1x_gh200", status="booting")
    fake.boot_polls = None
    failed, result = instance(fake, wait_timeout=0)
    assert failed and result["changed"] is False
    assert "is still booting" in result["msg"]
    fake.boot_polls = 1
    failed, result = instance(fake)
    assert not failed and result["changed"] is False and result["instance"]["status"] == "active"
    assert fake.calls("POST", "/instance-operations/launch") == []
