"""Role READMEs are generated from meta/argument_specs.yml and kept in step with it."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "role-docs.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("role_docs", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


role_docs = load_script()


def test_every_role_readme_matches_its_argument_specs() -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, (
        "Role READMEs are stale (or a role file is unreadable); run `make role-docs`.\n" + proc.stderr)


def test_render_lists_options_with_defaults_from_spec_or_defaults_file() -> None:
    specs = {
        "main": {
            "short_description": "Example service",
            "description": ["First paragraph.", "Second with C(code)."],
            "options": {
                "example_port": {"type": "int", "description": "TCP port."},
                "example_mode": {"type": "str", "choices": ["a", "b"], "default": "a",
                                 "description": "Mode | kind."},
                "example_token": {"type": "str", "required": True, "no_log": True,
                                  "description": "Token."},
                "example_users": {"type": "list", "elements": "dict", "description": "Users.",
                                  "options": {"name": {"type": "str", "required": True,
                                                       "description": "Login."}}},
            },
        },
        "extra": {"short_description": "Another entry point"},
    }
    meta = {"galaxy_info": {"license": "Apache-2.0", "galaxy_tags": ["demo"],
                            "platforms": [{"name": "Debian", "versions": ["trixie"]}]}}
    defaults = {"example_port": 8080, "example_mode": "b", "example_users": []}
    text = role_docs.render("example", specs, meta, {"main": defaults, "extra": defaults})
    lines = text.splitlines()

    assert lines[0] == role_docs.MARKER
    assert "`make role-docs`; do not edit" in lines[0]
    assert "# example" in lines and "Example service" in lines
    assert "Second with `code`." in lines
    assert "- Platforms: Debian (trixie)" in lines
    assert "- Tags: `demo`" in lines
    assert "- Licence: Apache-2.0" in lines
    assert "| `example_port` | int | `8080` | no | TCP port. |" in lines
    # A default in the spec wins over defaults/main.yml; pipes cannot break the table.
    assert "| `example_mode` | str | `a` | no | Mode \\| kind. Choices: `a`, `b`. |" in lines
    assert "| `example_token` | str |  | yes | Token. Secret (never logged). |" in lines
    assert "| `example_users` | list of dict | `[]` | no | Users. |" in lines
    assert "| `example_users[].name` | str |  | yes | Login. |" in lines
    assert lines.index("## Entry point `main`") < lines.index("## Entry point `extra`")
    assert "Another entry point" in lines and "No options." in lines
    assert text.endswith("|\n") or text.endswith("No options.\n")


def test_long_defaults_point_to_the_defaults_file() -> None:
    assert role_docs.render_default(list(range(100))) == "see `defaults/main.yml`"
    assert role_docs.render_default("") == '`""`'
    assert role_docs.render_default({"a": 1}) == '`{"a": 1}`'


def test_check_mode_names_stale_readmes(tmp_path: Path) -> None:
    role = tmp_path / "roles" / "demo"
    (role / "meta").mkdir(parents=True)
    (role / "meta" / "argument_specs.yml").write_text(
        "argument_specs:\n  main:\n    short_description: Demo\n    options: {}\n")
    roles = ["--roles-dir", str(tmp_path / "roles")]
    assert role_docs.main([*roles, "--check"]) == 1
    assert not (role / "README.md").exists()
    assert role_docs.main(roles) == 0
    assert role_docs.main([*roles, "--check"]) == 0
    (role / "README.md").write_text("edited by hand\n")
    assert role_docs.main([*roles, "--check"]) == 1
