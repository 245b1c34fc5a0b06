# -*- coding: utf-8 -*-
"""Walk a checkout and scan its files: the whole tree, or only the files a diff touched.

Speed comes from what is never done: vendored and generated directories are not entered,
symbolic links are not followed, a file is read with one ``os.read`` and no ``stat``, binary
files and files that fail the prefilter are never decoded. A large tree can be shared by
several processes (``Options.jobs``); the walk itself stays in one.
"""
from __future__ import annotations

import os
import posixpath
import subprocess
from dataclasses import replace
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

from .model import Finding, Options, ScanStats
from .scan import might_contain_aws, needs_prefilter, scan_text

SNIFF_BYTES = 8192
READ_CHUNK = 1 << 16
# Below this many files a pool costs more than it saves.
PARALLEL_MIN_FILES = 2000
CHUNK_FILES = 256


def iter_files(root: str, opts: Options, stats: ScanStats) -> Iterator[Tuple[str, str]]:
    """Yield (absolute path, relative path) of the regular files to scan.

    Symbolic links are never followed, to files or directories, so nothing outside ``root``
    is read and nothing inside is read twice; they are counted as skipped.
    """
    stack = [root]
    prefix = len(os.path.join(root, ""))
    skip = opts.skip_dirs
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as listing:
                entries = list(listing)
        except OSError:
            stats.unreadable += 1
            continue
        for entry in entries:
            if entry.is_symlink():
                stats.skipped_symlinks += 1
            elif entry.is_dir(follow_symlinks=False):
                if entry.name in skip:
                    # .hearth holds our own reports: not counted, so a rescan reports the same
                    stats.skipped_dirs += entry.name != ".hearth"
                else:
                    stack.append(entry.path)
            elif entry.is_file(follow_symlinks=False):
                yield entry.path, entry.path[prefix:]


_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def read_limited(path: str, limit: int) -> Optional[bytes]:
    """The file's bytes, or None when it is longer than ``limit``; no ``stat`` needed.

    Most files fit in the first read; only a full first read goes on reading.
    """
    fd = os.open(path, _OPEN_FLAGS)
    try:
        first = READ_CHUNK if READ_CHUNK <= limit else limit + 1
        data = os.read(fd, first)
        if len(data) < first:
            return data
        parts = [data]
        size = len(data)
        while size <= limit:
            more = os.read(fd, min(READ_CHUNK * 16, limit + 1 - size))
            if not more:
                break
            parts.append(more)
            size += len(more)
        return None if size > limit else b"".join(parts)
    finally:
        os.close(fd)


def read_candidate(path: str, rel: str, opts: Options, stats: ScanStats) -> Optional[str]:
    """The file's text when it is text, small enough and passes the prefilter, else None."""
    try:
        data = read_limited(path, opts.max_file_size)
    except OSError:
        stats.unreadable += 1
        return None
    if data is None:
        stats.skipped_large += 1
        return None
    stats.files_scanned += 1
    stats.bytes_scanned += len(data)
    if data.find(b"\0", 0, SNIFF_BYTES) >= 0:
        stats.skipped_binary += 1
        return None
    if needs_prefilter(rel) and not might_contain_aws(data, rel):
        return None
    return data.decode("utf-8", errors="surrogateescape")


def scan_files(files: Iterable[Tuple[str, str]], opts: Options,
               stats: ScanStats) -> List[Finding]:
    """Scan (absolute, relative) pairs in this process."""
    findings: List[Finding] = []
    for path, rel in files:
        text = read_candidate(path, rel, opts, stats)
        if text is None:
            continue
        found = scan_text(text, rel.replace(os.sep, "/"), opts)
        if found:
            stats.files_matched += 1
            findings.extend(found)
    return findings


def _scan_chunk(args: Tuple[Sequence[Tuple[str, str]], Options]
                ) -> Tuple[List[Finding], ScanStats]:
    files, opts = args
    stats = ScanStats()
    return scan_files(files, opts, stats), stats


def _scan_parallel(files: List[Tuple[str, str]], opts: Options,
                   stats: ScanStats) -> Optional[List[Finding]]:
    """Share the files among ``opts.jobs`` forked processes; None when forking is not possible."""
    try:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        context = multiprocessing.get_context("fork")
    except (ImportError, ValueError):
        return None
    chunks = [(files[i:i + CHUNK_FILES], opts) for i in range(0, len(files), CHUNK_FILES)]
    findings: List[Finding] = []
    counted = ScanStats()  # folded in only on success: a fallback rescans from scratch
    try:
        with ProcessPoolExecutor(max_workers=opts.jobs, mp_context=context) as pool:
            for found, part in pool.map(_scan_chunk, chunks):
                findings.extend(found)
                counted.add(part)
    except (OSError, RuntimeError):  # RuntimeError: BrokenProcessPool, a worker died
        return None
    stats.add(counted)
    return findings


def resolve_jobs(jobs: int) -> int:
    """``jobs`` as given, or the number of usable CPUs for 0."""
    if jobs > 0:
        return jobs
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _check_root(root: str) -> str:
    root = os.path.abspath(root)
    if not os.path.isdir(root):
        raise ValueError(f"not a directory: {root}")
    return root


def scan_tree(root: str, opts: Optional[Options] = None
              ) -> Tuple[List[Finding], ScanStats]:
    """Scan every eligible file under ``root``; findings sorted by path and position."""
    opts = opts or Options()
    root = _check_root(root)
    stats = ScanStats()
    walk = iter_files(root, opts, stats)
    findings: Optional[List[Finding]] = None
    jobs = resolve_jobs(opts.jobs)
    if jobs > 1:
        files = list(walk)
        if len(files) >= PARALLEL_MIN_FILES:
            findings = _scan_parallel(files, replace(opts, jobs=jobs), stats)
        walk = iter(files)
    if findings is None:
        findings = scan_files(walk, opts, stats)
    findings.sort(key=lambda f: (f.path, f.line, f.column, f.kind))
    return findings, stats


def _relative(root: str, path: str) -> str:
    """``path`` (absolute, ``./``-prefixed or plain) as a normalised path under ``root``, or
    '' when it points outside it."""
    if os.path.isabs(path):
        path = os.path.relpath(path, root)
    rel = posixpath.normpath(path.replace(os.sep, "/"))
    return "" if rel in (".", "..") or rel.startswith(("../", "/")) else rel


def scan_paths(root: str, relpaths: Iterable[str], opts: Optional[Options] = None
               ) -> Tuple[List[Finding], ScanStats]:
    """Scan only the named files under ``root`` (a diff's files), with the walk's rules.

    Paths outside ``root``, inside skipped directories, missing (deleted by the diff) or
    reached through a symbolic link are left out, exactly as the walk would leave them.
    """
    opts = opts or Options()
    root = _check_root(root)
    stats = ScanStats()
    chosen: List[Tuple[str, str]] = []
    for rel in sorted({_relative(root, p) for p in relpaths} - {""}):
        parts = rel.split("/")
        if any(p in opts.skip_dirs for p in parts[:-1]):
            continue
        path = os.path.join(root, *parts)
        if any(os.path.islink(os.path.join(root, *parts[:i + 1])) for i in range(len(parts))):
            stats.skipped_symlinks += 1
            continue
        if os.path.isfile(path):
            chosen.append((path, rel))
    findings = scan_files(chosen, opts, stats)
    findings.sort(key=lambda f: (f.path, f.line, f.column, f.kind))
    return findings, stats


def changed_files(root: str, base: str) -> List[str]:
    """Files added, copied, modified or renamed since ``base`` (``git diff base...HEAD``),
    plus uncommitted and untracked ones, relative to ``root``.

    Raises ValueError with git's own message when ``root`` is not in a git checkout or
    ``base`` is not a known revision.
    """
    root = _check_root(root)
    if not base or base.startswith("-"):
        raise ValueError(f"--diff-base must name a revision, got {base!r}")

    def git(*args: str) -> List[str]:
        proc = subprocess.run(["git", "-C", root, *args], capture_output=True, text=True,
                              check=False)
        if proc.returncode != 0:
            raise ValueError(f"git {' '.join(args)}: {proc.stderr.strip() or 'failed'}")
        return [line for line in proc.stdout.split("\0") if line]

    names = git("diff", "--name-only", "-z", "--relative", "--diff-filter=ACMRT",
                f"{base}...HEAD")
    names += git("diff", "--name-only", "-z", "--relative", "--diff-filter=ACMRT", "HEAD")
    names += git("ls-files", "-z", "--others", "--exclude-standard")
    return sorted(set(names))
