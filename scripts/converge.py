#!/usr/bin/env python3
"""Run a playbook through ansible-runner and summarise the run from its structured events.

The lab (scripts/lab.sh converge) and the converge benchmark (bench/converge.py) both converge
site.yml through this module. ansible-runner prints the same readable output ansible-playbook
would (its display callback wraps the default one) and, alongside, hands us one event per task
result with the host, role, task, duration and whether it changed; the summary is built from
those events and from the final playbook_on_stats event, never by reading the printed recap.

    scripts/converge.py [-i INVENTORY] [--playbook site.yml] [--summary FILE.json] [-- ARGS...]

ARGS go to ansible-playbook unchanged (for example `-- --diff --limit data`). The exit status is
ansible-playbook's.

Mitogen is opt-in: `--mitogen` (or HEARTH_MITOGEN=1) runs the play with its mitogen_linear
strategy, and `--mitogen-env` prints the two settings for a shell that calls ansible-playbook
itself. It accelerates the short connection names only (`ssh`, `docker`, `local`), which is why
the lab inventory says `docker`.
"""
from __future__ import annotations

import argparse
import configparser
import contextlib
import io
import json
import os
import re
import shlex
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Where ansible-runner keeps its artifacts (stdout, events, command) for the last few runs.
DATA_DIR = ROOT / ".cache" / "converge"
KEEP_ARTIFACTS = 5
TOP = 10
NO_ROLE = "(play)"

# Events that carry one task's result on one host, and the status each one means.
RESULT_EVENTS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_skipped": "skipped",
    "runner_on_unreachable": "unreachable",
}
COUNTERS = ("ok", "changed", "failures", "skipped", "dark", "rescued", "ignored")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
CHANGED_LINE = re.compile(r"^\r?changed: \[", re.M)


@dataclass(frozen=True)
class TaskResult:
    """One task's result on one host, as a runner_on_* event reports it."""

    host: str
    role: str
    task: str
    status: str  # ok, failed, ignored (failed with ignore_errors), skipped, unreachable
    changed: bool
    seconds: float

    @property
    def label(self) -> str:
        """`role : task`, as ansible-playbook names a task."""
        return self.task if self.role == NO_ROLE else f"{self.role} : {self.task}"

    def to_json(self) -> dict[str, Any]:
        """Plain fields for JSON output."""
        return {"host": self.host, "role": self.role, "task": self.task, "status": self.status,
                "changed": self.changed, "seconds": round(self.seconds, 2)}


@dataclass(frozen=True)
class HostCounts:
    """The PLAY RECAP counters for one host, taken from playbook_on_stats."""

    ok: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    unreachable: int = 0
    rescued: int = 0
    ignored: int = 0


@dataclass(frozen=True)
class ConvergeSummary:
    """What one converge did: exit status, counters per host, and where the time went."""

    rc: int
    status: str
    wall_seconds: float
    hosts: dict[str, HostCounts]
    role_seconds: dict[str, float]
    slowest: tuple[TaskResult, ...]
    slowest_unchanged: tuple[TaskResult, ...]
    failures: tuple[TaskResult, ...]
    artifact_dir: str = field(default="", compare=False)

    @property
    def changed_per_host(self) -> dict[str, int]:
        """Changed task count per host."""
        return {host: counts.changed for host, counts in sorted(self.hosts.items())}

    @property
    def totals(self) -> dict[str, int]:
        """Counters summed over hosts; tasks = ok + failed + skipped (ok includes changed)."""
        total = {name: sum(getattr(c, name) for c in self.hosts.values())
                 for name in ("ok", "changed", "failed", "skipped", "unreachable")}
        total["tasks"] = total["ok"] + total["failed"] + total["skipped"]
        return total

    @property
    def changed(self) -> int:
        """Changed tasks over all hosts."""
        return self.totals["changed"]

    @property
    def tasks(self) -> int:
        """Task results over all hosts (ok + failed + skipped)."""
        return self.totals["tasks"]

    @property
    def failed(self) -> bool:
        """True when ansible-playbook failed or any host failed or was unreachable."""
        totals = self.totals
        return self.rc != 0 or totals["failed"] > 0 or totals["unreachable"] > 0

    def to_json(self) -> dict[str, Any]:
        """Plain fields for JSON output (lab summary file, benchmark results)."""
        return {
            "rc": self.rc,
            "status": self.status,
            "wall_seconds": round(self.wall_seconds, 2),
            **self.totals,
            "changed_per_host": self.changed_per_host,
            "hosts": {host: asdict(counts) for host, counts in sorted(self.hosts.items())},
            "role_seconds": self.role_seconds,
            "slowest_tasks": [t.to_json() for t in self.slowest],
            "slowest_unchanged_tasks": [t.to_json() for t in self.slowest_unchanged],
            "failures": [t.to_json() for t in self.failures],
        }


class UnixNewlines(io.TextIOBase):
    """A text stream that passes writes on with the pseudo-terminal's CR LF turned into LF.

    ansible-runner runs Ansible in a pseudo-terminal and copies its output, CRs included, to
    sys.stdout; a log written through `tee` would otherwise carry them.
    """

    def __init__(self, stream: Any) -> None:
        super().__init__()
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(text.replace("\r\n", "\n"))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return bool(self._stream.isatty())


def result_changed(event: Mapping[str, Any]) -> bool:
    """Whether a runner_on_ok/failed event reports a change.

    The result says so in res.changed, except under no_log, where the display callback replaces
    res with a censored placeholder; then the event's own output ("changed: [host]", after the
    task banner the callback may print with it) tells.
    """
    data = event.get("event_data") or {}
    res = data.get("res")
    if isinstance(res, Mapping) and "changed" in res:
        return bool(res["changed"])
    return bool(CHANGED_LINE.search(ANSI.sub("", str(event.get("stdout") or ""))))


def task_result(event: Mapping[str, Any]) -> TaskResult | None:
    """The TaskResult a runner_on_* event carries; None for every other event."""
    status = RESULT_EVENTS.get(str(event.get("event")))
    if status is None:
        return None
    data = event.get("event_data") or {}
    if status == "failed" and data.get("ignore_errors"):
        status = "ignored"
    return TaskResult(
        host=str(data.get("host") or ""),
        role=str(data.get("role") or NO_ROLE),
        task=str(data.get("task") or ""),
        status=status,
        changed=status in ("ok", "failed", "ignored") and result_changed(event),
        seconds=float(data.get("duration") or 0.0),
    )


def task_results(events: Iterable[Mapping[str, Any]]) -> list[TaskResult]:
    """Every task result in the run, in the order the events came."""
    return [r for r in (task_result(e) for e in events) if r is not None]


def host_counts(events: Iterable[Mapping[str, Any]]) -> dict[str, HostCounts]:
    """Counters per host from the last playbook_on_stats event ({} when the run never got there)."""
    stats: Mapping[str, Any] = {}
    for event in events:
        if event.get("event") == "playbook_on_stats":
            stats = event.get("event_data") or {}
    per_counter = {name: stats.get(name) or {} for name in COUNTERS}
    hosts = sorted({h for counter in per_counter.values() for h in counter})
    return {
        host: HostCounts(
            ok=int(per_counter["ok"].get(host, 0)),
            changed=int(per_counter["changed"].get(host, 0)),
            failed=int(per_counter["failures"].get(host, 0)),
            skipped=int(per_counter["skipped"].get(host, 0)),
            unreachable=int(per_counter["dark"].get(host, 0)),
            rescued=int(per_counter["rescued"].get(host, 0)),
            ignored=int(per_counter["ignored"].get(host, 0)),
        )
        for host in hosts
    }


def role_seconds(results: Iterable[TaskResult]) -> dict[str, float]:
    """Seconds spent per role, summed over tasks and hosts, slowest role first.

    Summed over hosts because each host runs its tasks in parallel: on one host this is wall
    time, on several it is host time, which is what a slow role costs.
    """
    totals: dict[str, float] = defaultdict(float)
    for result in results:
        totals[result.role] += result.seconds
    return {role: round(sec, 2) for role, sec in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))}


def slowest(results: Iterable[TaskResult], count: int = TOP, unchanged_only: bool = False) -> tuple[TaskResult, ...]:
    """The `count` slowest task results; with unchanged_only, only those that changed nothing.

    The no-change list is what a re-run of a converged host spends its time on.
    """
    pool = [r for r in results if not unchanged_only or (r.status in ("ok", "skipped") and not r.changed)]
    return tuple(sorted(pool, key=lambda r: (-r.seconds, r.host, r.label))[:count])


def summarise(events: Sequence[Mapping[str, Any]], rc: int, status: str, wall_seconds: float,
              artifact_dir: str = "") -> ConvergeSummary:
    """Build the summary of a run from its events, exit status and wall time."""
    results = task_results(events)
    return ConvergeSummary(
        rc=rc,
        status=status,
        wall_seconds=wall_seconds,
        hosts=host_counts(events),
        role_seconds=role_seconds(results),
        slowest=slowest(results),
        slowest_unchanged=slowest(results, unchanged_only=True),
        failures=tuple(r for r in results if r.status in ("failed", "unreachable")),
        artifact_dir=artifact_dir,
    )


def host_key_checking(config_text: str) -> bool:
    """The host_key_checking setting of an ansible.cfg text (Ansible's default: on)."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read_string(config_text)
    return parser.getboolean("defaults", "host_key_checking", fallback=True)


def runner_env(config: Path, bin_dir: Path, environ: Mapping[str, str], colour: bool) -> dict[str, str]:
    """Environment for ansible-runner that keeps the run what ansible-playbook would do here.

    ansible-runner otherwise turns host key checking off when the environment does not set it,
    and it runs Ansible in a pseudo-terminal, so Ansible would colour output written to a file
    or pipe; the project's ansible.cfg and the interpreter's own bin directory are named outright.
    """
    env = {
        "ANSIBLE_CONFIG": str(config),
        "PATH": f"{bin_dir}{os.pathsep}{environ.get('PATH', os.defpath)}",
    }
    if "ANSIBLE_HOST_KEY_CHECKING" not in environ:
        text = config.read_text() if config.is_file() else ""
        env["ANSIBLE_HOST_KEY_CHECKING"] = str(host_key_checking(text))
    forced = environ.get("ANSIBLE_FORCE_COLOR", "").lower() in ("1", "true", "yes", "on")
    if not colour and not forced:
        env["ANSIBLE_NOCOLOR"] = "1"
    return env


def inventory_arguments(inventory: str, bases: Sequence[Path]) -> tuple[str | None, list[str]]:
    """ansible-runner's inventory argument and extra command-line words for an inventory.

    A path (absolute, or relative to the first of `bases` that holds it) becomes an absolute
    inventory argument; a host list such as "localhost," goes on the command line, since
    ansible-runner would write any other string into an inventory file of its own.
    """
    path = Path(inventory)
    for candidate in ([path] if path.is_absolute() else [base / path for base in bases]):
        if candidate.exists():
            return str(candidate.resolve()), []
    return None, ["-i", inventory]


def run_converge(inventory: str, playbook: str = "site.yml", extra_args: Sequence[str] = (),
                 project_dir: Path = ROOT, data_dir: Path = DATA_DIR, config: Path = ROOT / "ansible.cfg",
                 quiet: bool = False, environ: Mapping[str, str] | None = None) -> ConvergeSummary:
    """Run `playbook` against `inventory` with ansible-runner and return its summary.

    Output goes to the terminal as ansible-playbook prints it unless quiet; the events, stdout and
    command of the last runs stay under data_dir/artifacts/.
    """
    import ansible_runner  # imported here so the pure functions above load without it

    environ = os.environ if environ is None else environ
    # ansible-runner finds ansible-playbook on the PATH it is given: this interpreter's first.
    bin_dir = Path(sys.executable).parent
    inventory_arg, inventory_words = inventory_arguments(inventory, [Path.cwd(), project_dir])
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    events: list[dict[str, Any]] = []

    def keep(event: dict[str, Any]) -> bool:
        events.append(event)
        return True

    colour = not quiet and sys.stdout.isatty()
    start = time.monotonic()
    with contextlib.redirect_stdout(UnixNewlines(sys.stdout)):
        runner = ansible_runner.run(
            private_data_dir=str(data_dir),
            project_dir=str(project_dir),
            playbook=playbook,
            inventory=inventory_arg,
            cmdline=shlex.join([*inventory_words, *extra_args]) or None,
            # ansible-runner starts from this process's environment; `environ` and our settings go on top.
            envvars={**environ, **runner_env(config, bin_dir, environ, colour=colour)},
            # Keep the fact cache ansible.cfg names instead of a fresh one per run.
            fact_cache_type="",
            rotate_artifacts=KEEP_ARTIFACTS,
            suppress_env_files=True,
            event_handler=keep,
            quiet=quiet,
        )
    wall = time.monotonic() - start
    rc = runner.rc if isinstance(runner.rc, int) else 1
    return summarise(events, rc, str(runner.status), wall, artifact_dir=str(runner.config.artifact_dir))


def format_summary(summary: ConvergeSummary) -> str:
    """A short readable report of a summary, printed after Ansible's own output."""
    totals = summary.totals
    lines = [
        f"CONVERGE SUMMARY: rc={summary.rc} ({summary.status}), {totals['tasks']} task results, "
        f"{totals['changed']} changed, {totals['failed']} failed, {totals['unreachable']} unreachable, "
        f"{summary.wall_seconds:.1f} s",
        "  changed per host: " + (", ".join(f"{h}={n}" for h, n in summary.changed_per_host.items()) or "none"),
        "  seconds per role: " + (", ".join(f"{r} {s:.1f}" for r, s in summary.role_seconds.items()) or "none"),
    ]
    for title, tasks in (("slowest tasks", summary.slowest), ("slowest tasks that changed nothing", summary.slowest_unchanged),
                         ("failed", summary.failures)):
        if tasks:
            lines.append(f"  {title}:")
            lines.extend(f"    {t.seconds:7.2f} s  {t.host}  {t.label}" + ("  (changed)" if t.changed else "")
                         for t in tasks)
    return "\n".join(lines)


def mitogen_settings(package_dir: Path) -> dict[str, str]:
    """The environment that selects Mitogen's linear strategy from an installed ansible_mitogen.

    Mitogen ships its strategies inside its package rather than as a collection, so Ansible is
    pointed at that directory; everything else about the run stays as configured.
    """
    strategies = package_dir / "plugins" / "strategy"
    if not (strategies / "mitogen_linear.py").is_file():
        raise SystemExit(f"no Mitogen strategy plugins under {strategies}; install the pinned `mitogen` "
                         "from requirements.txt (make venv)")
    return {"ANSIBLE_STRATEGY_PLUGINS": str(strategies), "ANSIBLE_STRATEGY": "mitogen_linear"}


def mitogen_environ() -> dict[str, str]:
    """mitogen_settings() for the ansible_mitogen this Python imports; exits with a hint when absent."""
    import importlib.util

    spec = importlib.util.find_spec("ansible_mitogen")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("Mitogen is not installed in this Python; run `make venv` (requirements.txt pins it)")
    return mitogen_settings(Path(list(spec.submodule_search_locations)[0]))


def strategy_environ(base: Mapping[str, str], mitogen: Mapping[str, str] | None) -> dict[str, str]:
    """The base environment without any strategy it inherited, plus Mitogen's settings when given.

    A shell that ran `--mitogen-env` exports the strategy; a run that must use Ansible's own
    strategy (a test's converge, a benchmark's default variant) drops it here.
    """
    env = {k: v for k, v in base.items() if k not in ("ANSIBLE_STRATEGY", "ANSIBLE_STRATEGY_PLUGINS")}
    env.update(mitogen or {})
    return env


def wants_mitogen(flag: bool, environ: Mapping[str, str]) -> bool:
    """Mitogen is used when asked on the command line or with HEARTH_MITOGEN set to a true value."""
    return flag or environ.get("HEARTH_MITOGEN", "").lower() in ("1", "true", "yes", "on")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: converge, print the summary, optionally write it as JSON, exit with Ansible's rc."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-i", "--inventory", default="inventories/lab", help="inventory path or host list")
    parser.add_argument("--playbook", default="site.yml", help="playbook, relative to the repository")
    parser.add_argument("--summary", type=Path, help="write the summary as JSON here")
    parser.add_argument("--quiet", action="store_true", help="do not print Ansible's output")
    parser.add_argument("--mitogen", action="store_true", help="run with Mitogen's linear strategy (opt-in)")
    parser.add_argument("--mitogen-env", action="store_true",
                        help="print the shell exports that select Mitogen, and exit")
    parser.add_argument("ansible_args", nargs=argparse.REMAINDER, help="-- then arguments for ansible-playbook")
    args = parser.parse_args(argv)
    extra = args.ansible_args[1:] if args.ansible_args[:1] == ["--"] else args.ansible_args
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # stream through `| tee` as it happens

    if args.mitogen_env:
        print("\n".join(f"export {name}={shlex.quote(value)}" for name, value in mitogen_environ().items()))
        return 0
    environ = dict(os.environ)
    if wants_mitogen(args.mitogen, environ):
        environ.update(mitogen_environ())
    summary = run_converge(args.inventory, playbook=args.playbook, extra_args=extra, quiet=args.quiet,
                           environ=environ)
    print(format_summary(summary), flush=True)
    if args.summary:
        args.summary.parent.mkdir(parents=True, exist_ok=True)
        args.summary.write_text(json.dumps(summary.to_json(), indent=2) + "\n")
    return summary.rc


if __name__ == "__main__":
    sys.exit(main())
