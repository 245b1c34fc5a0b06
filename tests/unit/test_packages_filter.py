"""hearth_missing_packages: which of an apt task's packages the once-per-run probe shows missing."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.hearth.platform.plugins.filter.packages import FilterModule, hearth_missing_packages

# package_facts' shape: name to the list of installed versions.
INSTALLED = {
    "redis-server": [{"name": "redis-server", "version": "5:8.0.2-3", "arch": "amd64", "source": "apt"}],
    "grafana": [{"name": "grafana", "version": "12.1.1", "arch": "amd64", "source": "apt"}],
    "caddy": [{"name": "caddy", "version": "2.10.0-1", "arch": "amd64", "source": "apt"}],
}


def test_installed_names_are_not_missing_and_others_are() -> None:
    assert hearth_missing_packages(["redis-server", "redis-tools"], INSTALLED) == ["redis-tools"]
    assert hearth_missing_packages("redis-server", INSTALLED) == []


def test_without_a_probe_from_this_run_everything_is_missing_so_apt_decides() -> None:
    assert hearth_missing_packages(["redis-server", "curl"], None) == ["redis-server", "curl"]


def test_a_pinned_version_must_be_the_installed_one() -> None:
    assert hearth_missing_packages("grafana=12.1.1", INSTALLED) == []
    assert hearth_missing_packages("grafana=12.2.0", INSTALLED) == ["grafana=12.2.0"]
    assert hearth_missing_packages("caddy=2.10*", INSTALLED) == []
    assert hearth_missing_packages("caddy=2.9*", INSTALLED) == ["caddy=2.9*"]


def test_an_architecture_suffix_is_read_past() -> None:
    assert hearth_missing_packages("redis-server:amd64", INSTALLED) == []


@pytest.mark.parametrize("spec", ["redis-server>=5", "redis-*", "./local.deb"])
def test_forms_only_apt_can_judge_count_as_missing(spec: str) -> None:
    assert hearth_missing_packages(spec, INSTALLED) == [spec]


def test_bad_input_names_the_variable() -> None:
    with pytest.raises(AnsibleFilterError, match="common_packages: expected a package name or a list"):
        hearth_missing_packages({"name": "curl"}, INSTALLED, "common_packages")
    with pytest.raises(AnsibleFilterError, match="hearth_installed_packages: expected package_facts"):
        hearth_missing_packages("curl", ["curl"])


def test_the_filter_is_registered() -> None:
    assert FilterModule().filters()["hearth_missing_packages"] is hearth_missing_packages
