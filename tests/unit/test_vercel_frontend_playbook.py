"""playbooks/frontend.yml end to end: real ansible-playbook, local Vercel fake, a temp checkout."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest
import yaml

from fake_vercel import FakeVercel

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "playbooks" / "frontend.yml"
SECRET = "vault-secret-9f2c1e7d-never-in-output"
TOKEN = "vercel-token-3b8a-never-in-output"

pytestmark = pytest.mark.slow


@pytest.fixture()
def setup(tmp_path: Path) -> Iterator[Dict[str, Any]]:
    checkout = tmp_path / "web"
    checkout.mkdir()
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    with FakeVercel() as fake:
        fake.add_token(TOKEN, teams=("team_acme",))
        fake.add_team("team_acme", "acme")
        fake.add_project("web", team_id="team_acme")
        extra = tmp_path / "vars.yml"
        extra.write_text(yaml.safe_dump({
            "hearth_domain": "staging.example.com",
            "vercel_frontend_checkout": str(checkout),
            "vercel_frontend_extra_config": {
                "cleanUrls": True,
                "rewrites": [{"source": "/(.*)", "destination": "/index.html"}]},
            "vercel_frontend_project": "web",
            "vercel_frontend_team_slug": "acme",
            "vercel_frontend_token": TOKEN,
            "vercel_frontend_api_url": fake.url,
            "vercel_frontend_env": [
                {"key": "HEARTH_API_KEY", "value": SECRET},
                {"key": "NEXT_PUBLIC_API_ORIGIN", "value": "https://api.staging.example.com",
                 "type": "plain"}],
        }))
        yield {"checkout": checkout, "inventory": inventory, "vars": extra, "fake": fake}


def play(setup: Dict[str, Any], *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1",
               ANSIBLE_DEPRECATION_WARNINGS="0")
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(setup["inventory"]),
         "-e", "@" + str(setup["vars"]), str(PLAYBOOK), "-vvv", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


def recap(output: str) -> Dict[str, int]:
    match = re.search(r"localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+"
                      r"failed=(\d+)", output)
    assert match, output[-3000:]
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups())))


def test_check_apply_idempotent_and_never_prints_secrets(setup: Dict[str, Any]) -> None:
    fake: FakeVercel = setup["fake"]
    outputs = []

    checked = play(setup, "--check", "--diff")
    outputs.append(checked.stdout + checked.stderr)
    assert checked.returncode == 0, outputs[-1][-3000:]
    assert recap(checked.stdout)["changed"] == 2
    assert not (setup["checkout"] / "vercel.json").exists()
    assert fake.writes() == []
    assert '"destination": "https://api.staging.example.com/api/:path*"' in checked.stdout
    assert "HEARTH_API_KEY targets=production,preview type=sensitive" in checked.stdout

    applied = play(setup, "--diff")
    outputs.append(applied.stdout + applied.stderr)
    assert applied.returncode == 0, outputs[-1][-3000:]
    assert recap(applied.stdout)["changed"] == 2
    config = json.loads((setup["checkout"] / "vercel.json").read_text())
    assert [r["source"] for r in config["rewrites"]] == ["/api/:path*", "/llm/:path*", "/(.*)"]
    assert config["cleanUrls"] is True
    stored = {(e["key"], tuple(e["target"])): e for e in fake.envs("web", team_id="team_acme")}
    assert stored[("HEARTH_API_KEY", ("production", "preview"))]["type"] == "sensitive"
    assert stored[("HEARTH_API_KEY", ("development",))]["value"] == SECRET

    again = play(setup)
    outputs.append(again.stdout + again.stderr)
    assert recap(again.stdout)["changed"] == 0

    recheck = play(setup, "--check", "--diff")
    outputs.append(recheck.stdout + recheck.stderr)
    assert recap(recheck.stdout)["changed"] == 0

    for text in outputs:
        assert SECRET not in text and TOKEN not in text


def test_legacy_key_is_refused_before_anything_is_written(setup: Dict[str, Any]) -> None:
    broken = setup["vars"].parent / "broken.yml"
    broken.write_text(yaml.safe_dump({"vercel_frontend_extra_config": {"builds": []}}))
    result = play(setup, "-e", "@" + str(broken))
    assert result.returncode != 0
    assert "key 'builds' is not allowed in vercel.json" in result.stdout
    assert not (setup["checkout"] / "vercel.json").exists()
    assert setup["fake"].writes() == []


def test_bad_edge_host_names_the_variable(setup: Dict[str, Any]) -> None:
    result = play(setup, "-e", "vercel_frontend_edge_host=https://api.example.com")
    assert result.returncode != 0
    assert "vercel_frontend_edge_host" in result.stdout
    assert setup["fake"].requests == []
