"""Shared pytest set-up.

Import paths come from ``pythonpath`` in pytest.ini: the plugins are imported the way Ansible
loads them, as ``ansible_collections.hearth.platform.plugins.<type>.<name>``, and the helpers
under ``tests/`` and ``bench/`` by their module names. Nothing here changes ``sys.path``.
"""
