"""Make the project's plugin directories importable the way Ansible loads them.

Modules import shared code as ``ansible.module_utils.<name>``; Ansible resolves that from
``module_utils/`` in this repository. Tests get the same view by extending the package path.
"""
from __future__ import annotations

import sys
from pathlib import Path

import ansible.module_utils

ROOT = Path(__file__).resolve().parent.parent

ansible.module_utils.__path__.append(str(ROOT / "module_utils"))  # type: ignore[attr-defined]
for sub in ("filter_plugins", "library", "plugins/inventory", "bench", "tests"):
    path = str(ROOT / sub)
    if path not in sys.path:
        sys.path.insert(0, path)
