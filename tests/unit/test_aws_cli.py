"""``hearth-aws-scan``, the scanner as a CI command: exit codes, reports, scope, jobs, fixes.

A team's CI acts on the exit status and reads the reports, so both are contracts: 0 clean,
1 findings (as ``--fail-on`` counts them), 2 bad usage; JSON findings carry paths relative to
the scanned root; one run writes several formats. ``--diff-base`` and ``--files-from`` must
scan only what changed, ``--jobs`` must not change what is found, and ``--fix`` must keep a
backup and leave nothing fixable behind. The command is called in-process (``cli.main``);
one subprocess test installs the package into a fresh virtual environment, without Ansible,
to prove the packaging in ``pyproject.toml`` works on its own.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest

from ansible_collections.hearth.platform.plugins.module_utils.aws_scan import cli, walk

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "aws"
PACKAGE = Path(cli.__file__).resolve().parent
Doc = Dict[str, Any]
Result = Tuple[int, str, str]

ECR_DOCKERFILE = "FROM 123456789012.dkr.ecr.us-east-1.amazonaws.com/team/api:1.2\n"
MANUAL_ONLY = "SRC = 's3a://lake/raw/'\n"  # an s3-uri finding, never fixable
CLEAN = "print('hello')\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    """``hearth-aws-scan ARGV`` in this process: (exit status, stdout, stderr)."""
    capsys.readouterr()
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Tuple[int, Doc]:
    status, out, _ = run(capsys, "--format", "json", "--jobs", "1", *argv)
    doc: Doc = json.loads(out)
    return status, doc


def write(root: Path, files: Dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def copy_fixture(name: str, dest: Path) -> Path:
    shutil.copytree(FIXTURES / name, dest, symlinks=True)
    return dest


def keyed(findings: Sequence[Doc]) -> List[Tuple[Any, ...]]:
    return sorted((f["path"], f["line"], f["column"], f["kind"], f["evidence"]) for f in findings)


def tree_bytes(root: Path) -> Dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


# ---------------------------------------------------------------------------------------------
# Exit status
# ---------------------------------------------------------------------------------------------
def test_clean_tree_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, str(FIXTURES / "clean"))
    assert status == 0 and err == ""
    assert "0 finding(s)" in out


@pytest.mark.parametrize("tree", ["app", "legacy"])
def test_findings_exit_1(capsys: pytest.CaptureFixture[str], tree: str) -> None:
    status, _, err = run(capsys, "--jobs", "1", str(FIXTURES / tree))
    assert status == 1 and err == ""


def test_a_missing_path_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, out, err = run(capsys, str(tmp_path / "nope"))
    assert status == 2 and out == ""
    assert "PATH must be an existing directory" in err


def test_a_file_as_path_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = write(tmp_path, {"Dockerfile": ECR_DOCKERFILE}) / "Dockerfile"
    assert run(capsys, str(target))[0] == 2


@pytest.mark.parametrize("exclude", ["a/b", ""])
def test_a_bad_exclude_exits_2(capsys: pytest.CaptureFixture[str], exclude: str) -> None:
    status, out, err = run(capsys, "--exclude", exclude, str(FIXTURES / "app"))
    assert status == 2 and out == ""
    assert "--exclude takes directory names" in err


@pytest.mark.parametrize("argv", [["--jobs", "-1"], ["--max-file-size", "0"]])
def test_bad_numbers_exit_2(capsys: pytest.CaptureFixture[str], argv: List[str]) -> None:
    assert run(capsys, *argv, str(FIXTURES / "clean"))[0] == 2


def test_argparse_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    listing = write(tmp_path, {"list.txt": "a\n"}) / "list.txt"
    for argv in (["--format", "xml"], ["--fail-on", "some"],
                 ["--diff-base", "HEAD", "--files-from", str(listing)]):
        with pytest.raises(SystemExit) as exc:
            cli.main([*argv, str(FIXTURES / "clean")])
        assert exc.value.code == 2, argv
    capsys.readouterr()


def test_exclude_skips_a_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    write(tmp_path, {"third_party/a.py": MANUAL_ONLY, "src/ok.py": CLEAN})
    assert run(capsys, "--exclude", "third_party", str(tmp_path))[0] == 0
    assert run(capsys, str(tmp_path))[0] == 1


def test_fix_without_owner_exits_2_and_changes_nothing(capsys: pytest.CaptureFixture[str],
                                                       tmp_path: Path) -> None:
    repo = copy_fixture("app", tmp_path / "repo")
    before = tree_bytes(repo)
    status, out, err = run(capsys, "--fix", "--backup-dir", str(tmp_path / "bk"), str(repo))
    assert status == 2 and out == ""
    assert "--ghcr-owner is needed" in err
    assert tree_bytes(repo) == before
    assert not (tmp_path / "bk").exists()


# ---------------------------------------------------------------------------------------------
# --fail-on
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("files,fail_on,expected", [
    ({"jobs.py": MANUAL_ONLY}, "any", 1),
    ({"jobs.py": MANUAL_ONLY}, "fixable", 0),
    ({"jobs.py": MANUAL_ONLY}, "never", 0),
    ({"Dockerfile": ECR_DOCKERFILE}, "fixable", 1),
    ({"Dockerfile": ECR_DOCKERFILE}, "never", 0),
    ({"main.py": CLEAN}, "any", 0),
])
def test_fail_on(capsys: pytest.CaptureFixture[str], tmp_path: Path, files: Dict[str, str],
                 fail_on: str, expected: int) -> None:
    write(tmp_path, files)
    assert run(capsys, "--fail-on", fail_on, str(tmp_path))[0] == expected


def test_fail_on_never_still_reports(capsys: pytest.CaptureFixture[str]) -> None:
    status, doc = run_json(capsys, "--fail-on", "never", str(FIXTURES / "app"))
    assert status == 0 and doc["summary"]["total"] > 0


def test_fail_on_fixable_counts_the_fixture(capsys: pytest.CaptureFixture[str]) -> None:
    status, doc = run_json(capsys, "--fail-on", "fixable", str(FIXTURES / "legacy"))
    assert doc["summary"]["fixable"] > 0 and status == 1


# ---------------------------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tree", ["app", "legacy"])
def test_json_findings_are_relative_to_the_root(capsys: pytest.CaptureFixture[str],
                                                tree: str) -> None:
    root = FIXTURES / tree
    status, doc = run_json(capsys, str(root))
    assert status == 1
    assert doc["tool"]["name"] == "hearth-aws-scan"
    assert doc["root"] == str(root)
    assert "scanned_paths" not in doc and "applied" not in doc
    findings = doc["findings"]
    assert doc["summary"]["total"] == len(findings) > 0
    for f in findings:
        assert {"path", "line", "kind", "evidence", "fixable", "suggestion"} <= set(f)
        assert not os.path.isabs(f["path"]) and ".." not in f["path"].split("/")
        assert (root / f["path"]).is_file(), f["path"]
        assert isinstance(f["line"], int) and f["line"] >= 1
        assert isinstance(f["fixable"], bool)
        assert f["kind"] and f["evidence"] and f["suggestion"]


def test_json_paths_do_not_depend_on_the_working_directory(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    _, absolute = run_json(capsys, str(FIXTURES / "legacy"))
    monkeypatch.chdir(FIXTURES)
    _, relative = run_json(capsys, "legacy")
    assert keyed(relative["findings"]) == keyed(absolute["findings"])
    assert relative["root"] == str(FIXTURES / "legacy")


def test_json_hides_the_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "--format", "json", str(FIXTURES / "app"))
    assert "AKIAIOSFODNN7EXAMPLE" not in out and "wJalrXUtnFEMI" not in out
    assert "AKIA****PLE" in out


def test_markdown_is_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--jobs", "1", str(FIXTURES / "app"))
    _, doc = run_json(capsys, str(FIXTURES / "app"))
    summary = doc["summary"]
    assert status == 1
    assert out.startswith("# AWS remnants\n")
    assert (f"{summary['total']} finding(s) in {summary['files']} file(s): "
            f"{summary['fixable']} fixable, {summary['manual']} for a person.") in out
    assert "| kind | what | count |" in out
    assert "## Fixable (mechanical rewrite)" in out and "## Needs a person" in out
    assert "| file | line | kind | evidence | suggestion |" in out
    assert "| Dockerfile | 1 | ecr-image |" in out
    assert "AKIAIOSFODNN7EXAMPLE" not in out and "wJalrXUtnFEMI" not in out


def test_several_formats_in_one_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    json_file, sarif_file, md_file = (tmp_path / "r.json", tmp_path / "r.sarif",
                                      tmp_path / "r.md")
    status, out, err = run(capsys, "--jobs", "1", "--json", str(json_file), "--sarif",
                           str(sarif_file), "--markdown", str(md_file), str(FIXTURES / "legacy"))
    assert status == 1 and err == ""
    assert out.startswith("# AWS remnants\n")
    assert md_file.read_text(encoding="utf-8") == out
    doc = json.loads(json_file.read_text(encoding="utf-8"))
    log = json.loads(sarif_file.read_text(encoding="utf-8"))
    results = log["runs"][0]["results"]
    assert len(results) == len(doc["findings"]) > 0
    located = sorted((r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
                      r["locations"][0]["physicalLocation"]["region"]["startLine"],
                      r["ruleId"]) for r in results)
    assert located == sorted((f["path"], f["line"], f["kind"]) for f in doc["findings"])
    assert log["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"] == \
        (FIXTURES / "legacy").as_uri() + "/"


def test_output_goes_to_a_file_not_stdout(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    target = tmp_path / "out.sarif"
    status, out, _ = run(capsys, "--format", "sarif", "--output", str(target),
                         str(FIXTURES / "clean"))
    assert status == 0 and out == ""
    log = json.loads(target.read_text(encoding="utf-8"))
    assert log["version"] == "2.1.0" and log["runs"][0]["results"] == []


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("hearth-aws-scan ")


# ---------------------------------------------------------------------------------------------
# Scope: --files-from and --diff-base
# ---------------------------------------------------------------------------------------------
SCOPED_TREE = {
    "Dockerfile": ECR_DOCKERFILE,
    "jobs.py": MANUAL_ONLY,
    "main.py": CLEAN,
    "deploy/login.sh": "aws ecr get-login-password | docker login --username AWS x\n",
}


def test_files_from_scans_only_the_listed_files(capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path) -> None:
    root = write(tmp_path / "repo", SCOPED_TREE)
    listing = write(tmp_path, {"list.txt": "jobs.py\n\nmain.py\ngone.py\n"}) / "list.txt"
    status, doc = run_json(capsys, "--files-from", str(listing), str(root))
    assert status == 1
    assert doc["scanned_paths"] == ["jobs.py", "main.py", "gone.py"]
    assert {f["path"] for f in doc["findings"]} == {"jobs.py"}
    assert doc["stats"]["files_scanned"] == 2


def test_files_from_stdin(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    root = write(tmp_path, SCOPED_TREE)
    monkeypatch.setattr(sys, "stdin", io.StringIO("main.py\n"))
    status, doc = run_json(capsys, "--files-from", "-", str(root))
    assert status == 0 and doc["findings"] == [] and doc["scanned_paths"] == ["main.py"]


def test_files_from_leaves_out_skipped_dirs_and_escapes(capsys: pytest.CaptureFixture[str],
                                                        tmp_path: Path) -> None:
    root = write(tmp_path / "repo", {**SCOPED_TREE, "node_modules/x/a.py": MANUAL_ONLY})
    write(tmp_path, {"outside.py": MANUAL_ONLY})
    listing = write(tmp_path, {"list.txt": "node_modules/x/a.py\n../outside.py\nmain.py\n"})
    status, doc = run_json(capsys, "--files-from", str(listing / "list.txt"), str(root))
    assert status == 0 and doc["findings"] == []


def test_files_from_a_missing_list_exits_2(capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    status, _, err = run(capsys, "--files-from", str(tmp_path / "nope.txt"), str(tmp_path))
    assert status == 2 and "nope.txt" in err


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` with a fixed identity and no user or system configuration."""
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.invalid"}
    proc = subprocess.run(["git", "-C", str(repo), *args], env=env, check=True,
                          capture_output=True, text=True)
    return proc.stdout.strip()


def git_repo(root: Path) -> str:
    """A repository whose first commit holds a clean file and an old AWS remnant; returns
    that commit. Then: a committed new file, an uncommitted edit, an untracked file and an
    ignored one, all with remnants."""
    root.mkdir()
    git(root, "init", "-q")
    write(root, {"main.py": CLEAN, "old/legacy.py": MANUAL_ONLY, ".gitignore": "ignored/\n"})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    base = git(root, "rev-parse", "HEAD")
    write(root, {"deploy/Dockerfile": ECR_DOCKERFILE})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "add a Dockerfile")
    write(root, {"main.py": CLEAN + "URL = 'https://bkt.s3.amazonaws.com/k'\n",
                 "new/worker.py": MANUAL_ONLY, "ignored/x.py": MANUAL_ONLY})
    return base


def test_diff_base_scans_only_changed_and_untracked_files(capsys: pytest.CaptureFixture[str],
                                                          tmp_path: Path) -> None:
    root = tmp_path / "repo"
    base = git_repo(root)
    status, doc = run_json(capsys, "--diff-base", base, str(root))
    assert status == 1
    assert sorted(doc["scanned_paths"]) == ["deploy/Dockerfile", "main.py", "new/worker.py"]
    assert {f["path"] for f in doc["findings"]} == {"deploy/Dockerfile", "main.py",
                                                    "new/worker.py"}
    _, whole = run_json(capsys, str(root))
    assert {"old/legacy.py", "ignored/x.py"} <= {f["path"] for f in whole["findings"]}
    status, out, _ = run(capsys, "--diff-base", base, str(root))
    assert out.startswith("# AWS remnants in the changed files\n")


def test_diff_base_in_a_subdirectory_is_relative_to_it(capsys: pytest.CaptureFixture[str],
                                                       tmp_path: Path) -> None:
    root = tmp_path / "repo"
    base = git_repo(root)
    status, doc = run_json(capsys, "--diff-base", base, str(root / "deploy"))
    assert status == 1
    assert [f["path"] for f in doc["findings"]] == ["Dockerfile"]


def test_diff_base_with_nothing_changed_exits_0(capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path) -> None:
    root = tmp_path / "repo"
    git_repo(root)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "everything")
    status, doc = run_json(capsys, "--diff-base", "HEAD", str(root))
    assert status == 0 and doc["scanned_paths"] == [] and doc["findings"] == []


@pytest.mark.parametrize("where", ["bad-ref", "not-a-repo"])
def test_diff_base_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    if where == "bad-ref":
        root = tmp_path / "repo"
        git_repo(root)
        ref = "no-such-ref"
    else:
        root = write(tmp_path / "plain", {"main.py": CLEAN})
        ref = "HEAD"
    # Keeps git from finding a repository above tmp_path.
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    status, out, err = run(capsys, "--diff-base", ref, str(root))
    assert status == 2 and out == ""
    assert err.startswith("hearth-aws-scan: git ")


# ---------------------------------------------------------------------------------------------
# --jobs
# ---------------------------------------------------------------------------------------------
def big_tree(root: Path, count: int) -> None:
    """``count`` small files in 50 directories; every 7th one holds a remnant."""
    samples = (ECR_DOCKERFILE, MANUAL_ONLY, "DB = 'x.abc.us-east-1.rds.amazonaws.com'\n",
               "import boto3\n")
    for i in range(count):
        folder = root / f"pkg{i % 50:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        text = samples[(i // 7) % len(samples)] if i % 7 == 0 else f"value_{i} = {i}\n"
        (folder / f"mod{i:05d}.py").write_text(text, encoding="utf-8")


def test_jobs_2_finds_the_same_as_jobs_1(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    count = max(2500, walk.PARALLEL_MIN_FILES + 1)
    big_tree(tmp_path, count)
    runs: List[Optional[List[Any]]] = []
    parallel = walk._scan_parallel

    def recording(*args: Any) -> Optional[List[Any]]:
        found = parallel(*args)
        runs.append(found)
        return found

    monkeypatch.setattr(walk, "_scan_parallel", recording)
    serial_status, serial = run_json(capsys, str(tmp_path))
    assert runs == []
    status, out, _ = run(capsys, "--format", "json", "--jobs", "2", str(tmp_path))
    shared = json.loads(out)
    assert len(runs) == 1 and runs[0] is not None, "the parallel scan did not run"
    assert status == serial_status == 1
    assert len(serial["findings"]) >= count // 7
    assert shared["findings"] == serial["findings"]
    assert shared["summary"] == serial["summary"]
    assert shared["stats"] == serial["stats"]
    assert serial["stats"]["files_scanned"] == count


# ---------------------------------------------------------------------------------------------
# --fix
# ---------------------------------------------------------------------------------------------
def test_fix_rewrites_with_a_backup_then_rescan_is_clean(capsys: pytest.CaptureFixture[str],
                                                         tmp_path: Path) -> None:
    repo = copy_fixture("app", tmp_path / "repo")
    before = tree_bytes(repo)
    backup = tmp_path / "backup"
    status, doc = run_json(capsys, "--fix", "--ghcr-owner", "acme", "--backup-dir",
                           str(backup), str(repo))
    applied = doc["applied"]
    assert applied["backup_dir"] == str(backup)
    touched = applied["changed_files"] + applied["deleted_files"]
    assert "Dockerfile" in applied["changed_files"] and "serverless.yml" in applied["deleted_files"]
    assert status == 1  # the manual findings still count with --fail-on any
    for rel in touched:
        assert (backup / "files" / rel).read_bytes() == before[rel]
    for rel in applied["deleted_files"]:
        assert not (repo / rel).exists()
    for rel in applied["changed_files"]:
        assert (repo / rel).read_bytes() != before[rel]
    assert json.loads((backup / "MANIFEST.json").read_text(encoding="utf-8")) == {
        "changed": applied["changed_files"], "deleted": applied["deleted_files"]}
    assert "ghcr.io/acme/" in (repo / "Dockerfile").read_text(encoding="utf-8")
    untouched = set(before) - set(touched)
    assert {rel: before[rel] for rel in untouched} == \
        {rel: (repo / rel).read_bytes() for rel in untouched}

    status, after = run_json(capsys, "--fail-on", "fixable", str(repo))
    assert status == 0
    assert after["summary"]["fixable"] == 0 and after["summary"]["manual"] > 0
    assert run(capsys, str(repo))[0] == 1


def test_fix_markdown_names_the_backup(capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    root = write(tmp_path / "repo", {"Dockerfile": ECR_DOCKERFILE})
    status, out, _ = run(capsys, "--fix", "--ghcr-owner", "acme", str(root))
    assert status == 0  # the only finding was fixed
    backups = list((root / ".hearth" / "purge-backup").iterdir())
    assert len(backups) == 1
    assert "## Applied" in out and f"Backup: `{backups[0]}`" in out
    assert "- changed `Dockerfile`" in out
    assert (backups[0] / "files" / "Dockerfile").read_text(encoding="utf-8") == ECR_DOCKERFILE
    # The backup under .hearth is never scanned again.
    status, doc = run_json(capsys, "--fail-on", "any", str(root))
    assert status == 0 and doc["findings"] == [] and doc["stats"]["skipped_dirs"] == 0


def test_fix_with_nothing_fixable_writes_no_backup(capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    root = write(tmp_path / "repo", {"jobs.py": MANUAL_ONLY})
    status, doc = run_json(capsys, "--fix", "--ghcr-owner", "acme", str(root))
    assert status == 1
    assert doc["applied"] == {"changed_files": [], "deleted_files": [], "backup_dir": ""}
    assert not (root / ".hearth").exists()


# ---------------------------------------------------------------------------------------------
# Packaging: pip install into a fresh virtual environment, without Ansible
# ---------------------------------------------------------------------------------------------
def clean_env() -> Dict[str, str]:
    """This environment without anything that points Python at the repository or its venv."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}


def copy_project(dest: Path) -> Path:
    """pyproject.toml, its readme, the licence and the package, in the repository's layout."""
    package_rel = PACKAGE.relative_to(REPO)
    dest.mkdir()
    shutil.copy2(REPO / "pyproject.toml", dest / "pyproject.toml")
    shutil.copy2(REPO / "LICENSE", dest / "LICENSE")
    (dest / "docs").mkdir()
    shutil.copy2(REPO / "docs" / "aws-purge.md", dest / "docs" / "aws-purge.md")
    shutil.copytree(PACKAGE, dest / package_rel,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


@pytest.mark.slow
def test_pip_install_gives_a_command_that_needs_no_ansible(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    venv = tmp_path / "venv"
    env = clean_env()

    def call(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(argv), cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=180, check=check)

    call(sys.executable, "-m", "venv", str(venv))
    call(str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(project))

    proc = call(str(venv / "bin" / "hearth-aws-scan"), "--format", "sarif", "--jobs", "1",
                str(FIXTURES / "legacy"), check=False)
    assert proc.returncode == 1, proc.stderr
    log = json.loads(proc.stdout)
    assert log["version"] == "2.1.0" and log["runs"][0]["results"]

    python = str(venv / "bin" / "python")
    no_ansible = call(python, "-c", "import ansible", check=False)
    assert no_ansible.returncode != 0 and "ModuleNotFoundError" in no_ansible.stderr
    where = call(python, "-c", "import hearth_aws_scan, sys; print(hearth_aws_scan.__file__); "
                 "print('ansible_collections' in sys.modules)").stdout.split()
    assert where[0].startswith(str(venv)) and where[1] == "False"


def test_listed_paths_are_normalised_and_deduplicated(tmp_path: Path) -> None:
    """./x, x and /abs/x are one file; a path outside the root is left out."""
    from ansible_collections.hearth.platform.plugins.module_utils import aws_scan as core

    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.py").write_text("U = 's3://bucket/key'\n")
    (tmp_path.parent / "outside.py").write_text("U = 's3://bucket/key'\n")
    listed = ["./sub/x.py", "sub/x.py", str(tmp_path / "sub" / "x.py"), "sub/../sub/x.py",
              "../outside.py", str(tmp_path.parent / "outside.py")]
    findings, _ = core.scan_paths(str(tmp_path), listed)
    assert [(f.path, f.kind) for f in findings] == [("sub/x.py", "s3-uri")]


def test_sarif_paths_can_be_made_relative_to_the_repository_root(tmp_path: Path) -> None:
    """A scan of a subdirectory still gives code scanning repository-relative paths."""
    (tmp_path / "services" / "api").mkdir(parents=True)
    (tmp_path / "services" / "api" / "x.py").write_text("U = 's3://bucket/key'\n")
    out = tmp_path / "scan.sarif"
    status = cli.main(["--format", "json", "-o", str(tmp_path / "scan.json"), "--sarif",
                       str(out), "--sarif-base", str(tmp_path), str(tmp_path / "services")])
    assert status == 1
    result = json.loads(out.read_text())["runs"][0]["results"][0]
    uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "services/api/x.py"
    assert json.loads((tmp_path / "scan.json").read_text())["findings"][0]["path"] == "api/x.py"
    assert cli.main(["--sarif-base", str(tmp_path / "services" / "api"),
                     str(tmp_path / "services")]) == 2


def test_an_unwritable_report_is_status_2_not_a_finding(tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text("U = 's3://bucket/key'\n")
    assert cli.main(["--format", "json", "-o", str(tmp_path / "missing" / "r.json"),
                     str(tmp_path)]) == 2


def test_ghcr_owner_is_checked_before_anything_is_written(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM 123456789012.dkr.ecr.eu-west-1.amazonaws.com/a:1\n")
    assert cli.main(["--fix", "--ghcr-owner", "acme corp", str(tmp_path)]) == 2
    assert "amazonaws" in (tmp_path / "Dockerfile").read_text()


def test_a_diff_base_is_never_read_as_an_option(tmp_path: Path) -> None:
    from ansible_collections.hearth.platform.plugins.module_utils import aws_scan as core

    with pytest.raises(ValueError, match="revision"):
        core.changed_files(str(tmp_path), "--output=/tmp/x")
