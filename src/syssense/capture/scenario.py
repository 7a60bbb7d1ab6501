"""Scenario files: what to run under strace, how often, as whom, under which load.

A scenario is a small TOML file (DESIGN.md, "Capture and scenarios")::

    name = "recon-single"
    category = "recon"            # normal / recon / priv / cpu / mem / io / ...
    mode = "single"               # single: one traced run per command; multi: one shell session
    label = "anomalous"           # normal / anomalous / unknown (default from category)
    description = "environment probing"
    runs = 3                      # repeat count (``--runs`` overrides)
    timeout = 20                  # seconds per traced process; the tree is killed after it
    user = "nobody"               # optional; needs root
    workdir = "/some/dir"         # optional; default: a fresh scratch directory per run
    files = ["{targets}/stress_target.py"]   # copied into the scratch directory first
    setup = ["printf 'a\\nb\\n' > notes.txt"]  # untraced shell lines run in the scratch dir
    commands = ["id", "uname -a", ["ss -tan", "netstat -tan"]]   # a list = first available
    strace_flags = "-f -ttt -T -yy -s 256"   # optional

    [stressor]                    # optional background load, never traced
    kind = "cpu"                  # cpu / mem / io
    workers = 0                   # 0 = one per CPU
    mem_mb = 256                  # mem: memory per worker (capped at 1/4 of MemAvailable)
    engine = "auto"               # auto (stress-ng when installed) / builtin / stress-ng

Built-in scenarios live in ``scenarios/<set>/*.toml`` inside this package; the two sets
are ``behaviour`` and ``stress``. Placeholders ``{targets}`` (the shipped target programs)
and ``{python}`` (a system Python 3) are expanded in ``files``, ``setup`` and ``commands``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CaptureError

SCENARIO_ROOT = Path(__file__).parent / "scenarios"
TARGETS_DIR = Path(__file__).parent / "targets"
MODES = ("single", "multi")
LABELS = ("normal", "anomalous", "unknown")
STRESS_KINDS = ("cpu", "mem", "io")
STRESS_ENGINES = ("auto", "builtin", "stress-ng")

#: the PATH traced commands see (also used to decide whether a command is installed)
RUN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_KEYS = {
    "name", "category", "mode", "label", "description", "runs", "timeout", "user",
    "workdir", "files", "setup", "commands", "strace_flags", "stressor",
}
_STRESSOR_KEYS = {"kind", "workers", "mem_mb", "engine"}
_SHELL_CHARS = re.compile(r"[|&;<>()$`*?\[\]{}~\n]")


@dataclass(frozen=True)
class Command:
    """One command of a scenario: shell text, with alternatives tried in order."""

    alternatives: tuple[str, ...]

    @property
    def text(self) -> str:
        return self.alternatives[0]

    def resolve(self, path: str = RUN_PATH) -> str | None:
        """The first alternative whose program is installed, or None."""
        for alt in self.alternatives:
            if program_available(alt, path):
                return alt
        return None


@dataclass(frozen=True)
class StressorSpec:
    """Background load applied while a scenario's commands run (not traced)."""

    kind: str
    workers: int = 0
    mem_mb: int = 256
    engine: str = "auto"


@dataclass(frozen=True)
class Scenario:
    """A parsed scenario file (see the module docstring for the keys)."""

    name: str
    category: str
    mode: str
    commands: tuple[Command, ...]
    runs: int = 3
    label: str = "unknown"
    description: str = ""
    timeout: float = 30.0
    user: str | None = None
    workdir: str | None = None
    files: tuple[str, ...] = ()
    setup: tuple[str, ...] = ()
    strace_flags: tuple[str, ...] | None = None
    stressor: StressorSpec | None = None
    source: Path | None = field(default=None, compare=False)
    set: str | None = None


def default_label(category: str) -> str:
    """normal for the normal and stress categories, anomalous for recon / priv / attack."""
    if category in ("recon", "priv", "attack"):
        return "anomalous"
    if category in ("normal", "cpu", "mem", "io"):
        return "normal"
    return "unknown"


def first_word(command: str) -> str | None:
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    # skip leading VAR=value assignments
    for w in words:
        if "=" in w and not w.startswith(("/", ".")) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", w):
            continue
        return w
    return None


def program_available(command: str, path: str = RUN_PATH) -> bool:
    """Whether the program a command line starts with is installed (on ``path``)."""
    prog = first_word(command)
    if prog is None:
        return False
    if prog in ("cd", "echo", "printf", "true", "false", "test", "[", "set", "export", ":", "exit"):
        return True  # shell builtins
    if "/" in prog:
        return os.access(prog, os.X_OK) or not os.path.isabs(prog)
    return shutil.which(prog, path=path) is not None


def command_argv(command: str) -> list[str]:
    """argv for one command: run directly when it is a plain word list, else via /bin/sh."""
    if _SHELL_CHARS.search(command):
        return ["/bin/sh", "-c", command]
    words = shlex.split(command)
    if not words or words[0] in ("cd", "export", "set", ":") or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
        return ["/bin/sh", "-c", command]
    return words


def expand(text: str) -> str:
    """Expand the ``{targets}`` and ``{python}`` placeholders."""
    py = shutil.which("python3", path=RUN_PATH) or "python3"
    return text.replace("{targets}", str(TARGETS_DIR)).replace("{python}", py)


# --------------------------------------------------------------------------- loading


def _line_of(text: str, key: str, section: str | None = None) -> int | None:
    """1-based line where ``key = ...`` is set (inside ``[section]`` when given)."""
    current = None
    for i, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        m = re.match(r"^\[\s*([A-Za-z0-9_.-]+)\s*\]", s)
        if m:
            current = m.group(1)
            if key == current and section is None:
                return i
            continue
        if re.match(rf"^{re.escape(key)}\s*=", s) and current == section:
            return i
        if section is None and current is None and re.match(rf"^{re.escape(key)}\s*=", s):
            return i
    return None


def _where(path: Path | str, text: str, key: str, section: str | None = None) -> str:
    line = _line_of(text, key, section)
    return f"{path} line {line}" if line else f"{path}"


def parse_scenario(text: str, source: Path | str = "<scenario>", set_name: str | None = None) -> Scenario:
    """Parse scenario TOML text; errors name the file, the key and the line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CaptureError(f"scenario file {source} is not valid TOML: {exc}") from None

    def bad(key: str, msg: str, section: str | None = None) -> CaptureError:
        full = f"{section}.{key}" if section else key
        return CaptureError(f"scenario file {_where(source, text, key, section)}: key '{full}' {msg}")

    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise bad(unknown[0], f"is not a scenario key; use {', '.join(sorted(_KEYS))}")
    for key in ("name", "category", "mode", "commands"):
        if key not in data:
            raise CaptureError(f"scenario file {source}: required key '{key}' is missing")

    def string(key: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise bad(key, "must be a non-empty string")
        return value.strip()

    name = string("name", data["name"])
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", name):
        raise bad("name", "must use only letters, digits, '.', '_' and '-'")
    category = string("category", data["category"])
    mode = string("mode", data["mode"])
    if mode not in MODES:
        raise bad("mode", f"must be 'single' or 'multi', not '{mode}'")

    label = data.get("label", default_label(category))
    if label not in LABELS:
        raise bad("label", f"must be one of {', '.join(LABELS)}, not {label!r}")

    runs = data.get("runs", 3)
    if not isinstance(runs, int) or isinstance(runs, bool) or runs < 1:
        raise bad("runs", "must be a whole number of at least 1")
    timeout = data.get("timeout", 30.0)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        raise bad("timeout", "must be a positive number of seconds")

    commands_raw = data["commands"]
    if not isinstance(commands_raw, list) or not commands_raw:
        raise bad("commands", "must be a non-empty list of command strings")
    commands = []
    for item in commands_raw:
        alts = [item] if isinstance(item, str) else item
        if (
            not isinstance(alts, list)
            or not alts
            or not all(isinstance(a, str) and a.strip() for a in alts)
        ):
            raise bad("commands", "must hold command strings, or lists of alternative command strings")
        commands.append(Command(tuple(expand(a.strip()) for a in alts)))

    def str_list(key: str) -> tuple[str, ...]:
        v = data.get(key, [])
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
            raise bad(key, "must be a list of strings")
        return tuple(expand(s) for s in v)

    files = str_list("files")
    setup = str_list("setup")

    user = data.get("user")
    if user is not None:
        user = string("user", user)
    workdir = data.get("workdir")
    if workdir is not None:
        workdir = string("workdir", workdir)
    description = data.get("description", "")
    if not isinstance(description, str):
        raise bad("description", "must be a string")

    flags = data.get("strace_flags")
    if flags is not None:
        if isinstance(flags, str):
            flags = tuple(shlex.split(flags))
        elif isinstance(flags, list) and all(isinstance(f, str) for f in flags):
            flags = tuple(flags)
        else:
            raise bad("strace_flags", "must be a string like \"-f -ttt -T\" or a list of flags")

    stressor = None
    if "stressor" in data:
        s = data["stressor"]
        if not isinstance(s, dict):
            raise bad("stressor", "must be a table: [stressor] with kind = \"cpu\" | \"mem\" | \"io\"")
        unknown = sorted(set(s) - _STRESSOR_KEYS)
        if unknown:
            raise bad(unknown[0], f"is not a stressor key; use {', '.join(sorted(_STRESSOR_KEYS))}", "stressor")
        kind = s.get("kind")
        if kind not in STRESS_KINDS:
            raise bad("kind", f"must be one of {', '.join(STRESS_KINDS)}, not {kind!r}", "stressor")
        workers = s.get("workers", 0)
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
            raise bad("workers", "must be a whole number (0 = one per CPU)", "stressor")
        mem_mb = s.get("mem_mb", 256)
        if not isinstance(mem_mb, int) or isinstance(mem_mb, bool) or mem_mb < 1:
            raise bad("mem_mb", "must be a positive whole number of MiB", "stressor")
        engine = s.get("engine", "auto")
        if engine not in STRESS_ENGINES:
            raise bad("engine", f"must be one of {', '.join(STRESS_ENGINES)}, not {engine!r}", "stressor")
        stressor = StressorSpec(kind, workers, mem_mb, engine)

    return Scenario(
        name=name,
        category=category,
        mode=mode,
        commands=tuple(commands),
        runs=runs,
        label=label,
        description=description.strip(),
        timeout=float(timeout),
        user=user,
        workdir=workdir,
        files=files,
        setup=setup,
        strace_flags=flags,
        stressor=stressor,
        source=Path(source) if not str(source).startswith("<") else None,
        set=set_name,
    )


def _read(path: Path, set_name: str | None = None) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CaptureError(f"scenario file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise CaptureError(f"cannot read scenario file {path}: {exc.strerror}") from None
    return parse_scenario(text, path, set_name)


def builtin_sets() -> dict[str, list[Scenario]]:
    """The built-in scenario sets, by set name (``behaviour``, ``stress``)."""
    sets: dict[str, list[Scenario]] = {}
    for d in sorted(p for p in SCENARIO_ROOT.iterdir() if p.is_dir()):
        sets[d.name] = [_read(f, d.name) for f in sorted(d.glob("*.toml"))]
    return sets


def builtin_scenarios() -> dict[str, Scenario]:
    return {s.name: s for group in builtin_sets().values() for s in group}


def load_scenario(name_or_path: str | os.PathLike[str]) -> Scenario:
    """A scenario by built-in name (``recon-single``) or from a TOML file path."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.exists():
            raise CaptureError(f"scenario file {p} does not exist")
        return _read(p)
    known = builtin_scenarios()
    if str(name_or_path) in known:
        return known[str(name_or_path)]
    raise CaptureError(
        f"unknown scenario '{name_or_path}': choose a set ({', '.join(builtin_sets())}), "
        f"a built-in scenario ({', '.join(known)}) or a .toml file (see `syssense scenarios list`)"
    )


def resolve_scenarios(items: list[str] | tuple[str, ...]) -> list[Scenario]:
    """Expand set names, scenario names and file paths into scenarios (deduplicated)."""
    if not items:
        raise CaptureError("name at least one scenario set, scenario or .toml file (see `syssense scenarios list`)")
    sets = builtin_sets()
    out: list[Scenario] = []
    seen: set[str] = set()
    for item in items:
        group = sets[item] if item in sets and not Path(item).exists() else [load_scenario(item)]
        for s in group:
            if s.name not in seen:
                seen.add(s.name)
                out.append(s)
    return out
