"""roles/ghcr_auth refuses bad input before touching the host (check mode on localhost)."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Dict

import pytest
from check_play import run_check_play

GOOD = {"ghcr_auth_username": "hearth-bot",
        "ghcr_auth_token": "ghp_TestTokenOnly0123456789abcdefghij"}

pytestmark = pytest.mark.slow


def run_role(tmp_path: Path, overrides: Dict[str, object]) -> subprocess.CompletedProcess:
    variables = dict(GOOD, **overrides)
    # A file path inside tmp_path: even a wrong success could not touch the real home.
    variables.setdefault("ghcr_auth_file", str(tmp_path / "auth" / "config.json"))
    return run_check_play(tmp_path, [{
        "name": "Apply ghcr_auth", "hosts": "localhost", "connection": "local",
        "gather_facts": False, "vars": variables, "roles": ["ghcr_auth"]}])


@pytest.mark.parametrize("overrides,needle", [
    ({"ghcr_auth_token": ""}, "ghcr_auth_token must be a GitHub personal access token"),
    ({"ghcr_auth_username": "not a user"}, "ghcr_auth_username must be a GitHub user"),
    ({"ghcr_auth_engine": "containerd"}, "ghcr_auth_engine"),
    ({"ghcr_auth_file": "relative/config.json"}, "ghcr_auth_file must be empty"),
    ({"ghcr_auth_user": "no-such-user-hearth"}, "ghcr_auth_user 'no-such-user-hearth'"),
])
def test_bad_input_fails_with_the_variable_name(tmp_path: Path, overrides: Dict[str, object],
                                                needle: str) -> None:
    result = run_role(tmp_path, overrides)
    assert result.returncode != 0
    assert needle in result.stdout, result.stdout[-2000:]
    assert not (tmp_path / "auth").exists()
    assert GOOD["ghcr_auth_token"] not in result.stdout


def test_good_input_in_check_mode_changes_nothing(tmp_path: Path) -> None:
    result = run_role(tmp_path, {})
    assert result.returncode == 0, result.stdout[-2000:]
    assert not (tmp_path / "auth").exists()
    assert GOOD["ghcr_auth_token"] not in result.stdout
