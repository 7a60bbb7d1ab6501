"""The strace line grammar and the stateful, line-by-line parser (the reference path).

:class:`StraceStreamParser` reads any line strace 6 prints and turns it into
:class:`StraceEvent` tuples: system calls (an ``<unfinished ...>`` call and its
``<... NAME resumed>`` continuation joined into one event stamped with the start time),
signals, exits, kills, attach/detach messages, ``-k`` stack lines (attached to the event
before them), hex dumps (``-e write=``), and the ``-c``/``-C`` summary table (kept apart,
never as events). A line it does not understand becomes a ``kind="unparsed"`` event.

State is bounded: one pending entry per process with an unfinished call, one event held
back until the next line shows it has no continuation (``-k``/hexdump lines), and the
summary table when one is printed.

The fast column-wise path (:mod:`._fast`) handles the common complete-call lines of a
file in bulk and hands every other line to this parser, so both share one grammar.
"""

from __future__ import annotations

import json
import re
import signal as _signal
from typing import Any, NamedTuple

# --------------------------------------------------------------------------- the event


class StraceEvent(NamedTuple):
    """One event: the columns of ``EVENT_SCHEMA`` except ``trace_id``."""

    seq: int
    line: int | None
    pid: int | None
    tid: int | None
    ts: float | None
    syscall: str | None
    args: str | None
    ret: int | None
    errno: str | None
    duration: float | None
    kind: str
    fd_paths: str | None
    ret_path: str | None
    note: str | None
    unfinished: bool | None
    stack: str | None
    raw: str | None
    nr: int | None = None  # -n syscall number
    ip: str | None = None  # -i instruction pointer
    comm: str | None = None  # -Y process name


FIELDS = StraceEvent._fields
# indices into the mutable list used while an event is assembled
(_SEQ, _LINE, _PID, _TID, _TS, _SYSCALL, _ARGS, _RET, _ERRNO, _DUR, _KIND, _FDP, _RETP, _NOTE,
 _UNF, _STACK, _RAW, _NR, _IP, _COMM) = range(len(FIELDS))

# --------------------------------------------------------------------------- the grammar

#: pid prefix (``1234  `` in -o files, ``[pid  1234] `` on stderr, ``1234<comm> `` with -Y),
#: timestamp (-t/-tt/-ttt/-r, us or ns), -n syscall number, -i instruction pointer.
PREFIX_RE = re.compile(
    r"(?:\[pid +(?P<bpid>\d+)(?:<(?P<bcomm>[^>]*)>)?\] +|(?P<pid>\d+)(?:<(?P<comm>[^>]*)>)? +)?"
    r"(?:(?P<hh>\d\d):(?P<mm>\d\d):(?P<ss>\d\d(?:\.\d+)?) +| *(?P<num>\d+\.\d+) +)?"
    r"(?:\[ *(?P<nr>\d+)\] +)?"
    r"(?:\[(?P<ip>[0-9a-f?]{8,16})\] +)?"
)

#: a -y/-yy decoded descriptor path ``<...>``: '>' is escaped by strace, but socket
#: decodings such as ``TCP:[1.2.3.4:5->6.7.8.9:10]`` hold '->' inside brackets.
PATH_PAT = r"(?:<[^<>\n]*>|[^>\[\n]|\[[^\]\n]*\])*"  # -yy nests: 3</dev/null<char 1:3>>

#: everything after the argument list of a completed call.
TAIL_PAT = (
    r"\) *= (?:(?P<ret>-?\d+|0x[0-9a-fA-F]+)(?:<(?P<rpath>" + PATH_PAT + r")>)?|\?)"
    r"(?: (?P<errno>E[A-Z0-9_?]+) \((?P<errmsg>[^()]*)\))?"
    r"(?P<notes>(?: \((?:[^()]|\([^()]*\))*\))*)"
    r"(?: <(?P<dur>\d+\.\d+|unavailable)>)?$"
)
COMPLETE_RE = re.compile(r"(?P<args>.*)" + TAIL_PAT, re.S)
CALL_RE = re.compile(r"(?P<name>[A-Za-z_]\w*)\((?P<rest>.*)$", re.S)
RESUMED_RE = re.compile(r"<\.\.\. (?P<name>[A-Za-z_]\w*) resumed> ?(?P<rest>.*)$", re.S)
SIGNAL_RE = re.compile(r"--- (?P<sig>SIG\w+|\S+) (?P<info>.*?) ?---$", re.S)
STOPPED_RE = re.compile(r"--- stopped by (?P<sig>\S+) ---$")
EXITED_RE = re.compile(r"\+\+\+ exited with (?P<code>-?\d+) \+\+\+$")
KILLED_RE = re.compile(r"\+\+\+ killed by (?P<sig>\S+?)(?: \((?P<core>core dumped)\))? \+\+\+$")
SUPERSEDED_RE = re.compile(r"\+\+\+ superseded by execve in pid (?P<pid>\d+) \+\+\+$")
PROCESS_RE = re.compile(r"(?:\S*/)?strace: Process (?P<pid>\d+) (?P<what>attached|detached)\b(?P<more>.*)$")
EMBEDDED_PROCESS_RE = re.compile(r"(?:(?:/[^\s/>]+)*/)?strace: Process \d+ (?:attached|detached)")
STRACE_MSG_RE = re.compile(r"(?:\S*/)?strace: ")
PERSONALITY_RE = re.compile(r"\[ Process PID=(?P<pid>\d+) runs in (?P<mode>.+?) mode\. \]$")
FDPATH_RE = re.compile(r"(?<![\w<])(\d+|AT_FDCWD)<(" + PATH_PAT + r")>")
STRING_RE = re.compile(r'"(?:[^"\\\n]|\\.)*"')
SUMMARY_HEADER_RE = re.compile(r"^ *(?:% time|syscall|calls)\b[%a-z/ -]*$")
SUMMARY_SEP_RE = re.compile(r"^-+(?: +-+)+ *$")
SUMMARY_TITLE_RE = re.compile(r"^System call usage summary for .*:$")

UNFINISHED = " <unfinished ...>"
DETACHED = " <detached ...>"

_SIGNUM = {s.name: int(s) for s in _signal.Signals}


def signal_number(name: str) -> int | None:
    """The number of a signal name (SIGSEGV -> 11), None when unknown."""
    return _SIGNUM.get(name)


def fd_paths_json(args: str | None) -> str | None:
    """JSON object text of the ``-y``/``-yy`` descriptor decodings in ``args``.

    String literals are blanked first so a quoted ``3<x>`` is not mistaken for one.
    """
    if not args or "<" not in args:
        return None
    text = STRING_RE.sub('""', args) if '"' in args else args
    found = FDPATH_RE.findall(text)
    if not found:
        return None
    return json.dumps(dict(found), ensure_ascii=False)


def _hex_or_int(text: str) -> int:
    v = int(text, 16) if text.startswith("0x") else int(text)
    if v >= 1 << 63:  # unsigned 64-bit printed in hex: two's complement, as the kernel means it
        v -= 1 << 64
    return v


# --------------------------------------------------------------------------- the summary


def _parse_number(text: str) -> int | float | None:
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return None


class _Summary:
    """Accumulates a ``-c``/``-C`` summary table: header, dashes, rows, dashes, total."""

    def __init__(self) -> None:
        self.calls: dict[str, dict[str, Any]] = {}
        self.total: dict[str, Any] | None = None
        self.titles: list[str] = []
        self.header: str | None = None
        self.spans: list[tuple[int, int]] | None = None
        self.names: list[str] | None = None
        self.in_table = False

    def start(self, header: str, sep: str) -> None:
        spans = [(m.start(), m.end()) for m in re.finditer(r"-+", sep)]
        names = []
        for a, b in spans:
            # the header text over each column, right-aligned numbers / left-aligned name
            names.append(header[a:b].strip() or header[a:].split()[0] if header[a:].strip() else "")
        # header words may overflow the dashes; re-derive from the header tokens when counts agree
        tokens = header.replace("% time", "%time").split()
        if len(tokens) == len(spans):
            names = tokens
        self.names = ["%time" if n in ("% time", "%") else n for n in names]
        self.spans = spans
        self.in_table = True

    def row(self, line: str) -> bool:
        assert self.spans is not None and self.names is not None
        cells: dict[str, Any] = {}
        name = None
        last = len(self.spans) - 1
        for i, ((a, b), col) in enumerate(zip(self.spans, self.names, strict=True)):
            # the last column runs to the end of the line
            text = line[a:] if i == last else line[a:b]
            if col == "syscall":
                name = text.strip()
            else:
                cells[col] = _parse_number(text)
        if not name:
            return False
        if name == "total":
            self.total = cells
        else:
            prev = self.calls.get(name)
            if prev is None:
                self.calls[name] = cells
            else:  # a second table (another personality): add the counts
                for k, v in cells.items():
                    if isinstance(v, int | float) and isinstance(prev.get(k), int | float):
                        prev[k] = prev[k] + v if k in ("calls", "errors", "seconds") else prev[k]
        return True

    def to_json(self) -> str | None:
        if not self.calls and self.total is None:
            return None
        out: dict[str, Any] = {"calls": self.calls, "total": self.total}
        if self.titles:
            out["titles"] = self.titles
        return json.dumps(out)


# --------------------------------------------------------------------------- the parser


class StraceStreamParser:
    """Stateful strace parser: ``feed(line)`` returns the events completed so far.

    Events come out in completion order: a joined unfinished/resumed call when it
    resumes, every other event when the next line shows it has no continuation (``-k``
    stack or hex-dump lines follow the event they belong to). :meth:`close` returns what
    is left, including unfinished calls that never resumed (``unfinished=True``).

    ``pid`` is used for lines without a pid prefix (``-ff`` files). Timestamps of ``-r``
    logs are made cumulative (seconds since the first line); ``-t``/``-tt`` clock times
    are seconds since midnight.
    """

    def __init__(self, pid: int | None = None, *, first_line: int = 1) -> None:
        self.default_pid = pid
        self.line_no = first_line - 1
        self.seq = 0
        self.n_lines = 0
        self.n_unparsed = 0
        self.n_events = 0
        self.ts_format: str | None = None
        self._rel_clock = 0.0
        self._pending: dict[int | None, list[Any]] = {}
        self._held: list[Any] | None = None  # last event, until we know no continuation follows
        self._held_line: int | None = None  # line of the last non-continuation line seen
        self._summary = _Summary()
        self._maybe_header: str | None = None
        self.messages: list[str] = []
        self.personality: list[str] = []
        self.first_exit: tuple[int | None, str, int | None] | None = None  # (pid, kind, value)
        self.first_pid: int | None = None  # the traced command's pid: its exit is the run's
        self.first_pid_set = False
        self.start_ts: float | None = None
        # (target line, kind, text) for continuation lines whose event the caller holds
        self.orphan_continuations: list[tuple[int, str, str]] = []
        self._last_seen: int | None = None
        self._last_was_cont = False
        self._cont_target: list[Any] | int | None = None
        self._cut: tuple[int | None, int] | None = None  # a call cut by an strace message

    # ----------------------------------------------------------------- public API

    @property
    def summary_json(self) -> str | None:
        return self._summary.to_json()

    def feed(self, line: str, line_no: int | None = None) -> list[StraceEvent]:
        """Parse one line (with or without its newline); return completed events."""
        if line_no is None:
            self.line_no += 1
            line_no = self.line_no
        else:
            self.line_no = line_no
        self.n_lines += 1
        if line.endswith("\n"):
            line = line[:-1]
        if line.endswith("\r"):
            line = line[:-1]
        out: list[StraceEvent] = []
        self._line(line, line_no, out)
        self._last_seen = line_no
        return out

    def close(self) -> list[StraceEvent]:
        """End of input: flush the held event and every call that never resumed."""
        out: list[StraceEvent] = []
        self._release(out)
        for ev in sorted(self._pending.values(), key=lambda e: e[_LINE] or 0):
            ev[_UNF] = True
            ev[_FDP] = fd_paths_json(ev[_ARGS])
            self._emit(ev, out)
        self._pending.clear()
        return out

    def trace_row(self) -> dict[str, Any]:
        """What this log says about its trace (counts, exit status, summary, notes)."""
        meta: dict[str, Any] = {}
        if self.ts_format:
            meta["ts_format"] = self.ts_format
        if self.messages:
            meta["messages"] = self.messages
        if self.personality:
            meta["personality"] = self.personality
        exit_status = None
        if self.first_exit is not None:
            _, kind, value = self.first_exit
            if kind == "exit":
                exit_status = value
            elif value is not None:
                exit_status = 128 + value
        return {
            "format": "strace",
            "tracer": "strace",
            "n_lines": self.n_lines,
            "n_unparsed": self.n_unparsed,
            "n_events": self.n_events,
            "summary": self.summary_json,
            "exit_status": exit_status,
            "start_time": self.start_ts if self.ts_format == "unix" else None,
            "meta": json.dumps(meta) if meta else None,
        }

    # ----------------------------------------------------------------- internals

    def _emit(self, ev: list[Any], out: list[StraceEvent]) -> None:
        ev[_SEQ] = self.seq
        self.seq += 1
        self.n_events += 1
        if ev[_KIND] == "unparsed":
            self.n_unparsed += 1
        out.append(StraceEvent(*ev))

    def _hold(self, ev: list[Any], out: list[StraceEvent]) -> None:
        self._release(out)
        self._held = ev

    def _release(self, out: list[StraceEvent]) -> None:
        if self._held is not None:
            self._emit(self._held, out)
            self._held = None

    def _new(self, line_no: int, kind: str, pid: int | None, ts: float | None) -> list[Any]:
        ev: list[Any] = [None] * len(FIELDS)
        ev[_LINE] = line_no
        ev[_KIND] = kind
        ev[_PID] = pid
        ev[_TID] = pid
        ev[_TS] = ts
        return ev

    def _unparsed(self, line: str, line_no: int, out: list[StraceEvent]) -> None:
        ev = self._new(line_no, "unparsed", None, None)
        ev[_RAW] = line
        self._hold(ev, out)
        self._cont_target = None

    def _continuation(self, line: str, line_no: int, kind: str, out: list[StraceEvent]) -> None:
        """A ``-k`` stack line or hex-dump line: belongs to the event of the line above."""
        text = line[3:] if kind == "stack" else line[1:]
        if self._last_seen == line_no - 1 and self._last_was_cont or self._last_seen == line_no - 1:
            target = self._cont_target
        else:
            target = line_no - 1  # the line above was handled by the caller's fast path
        self._last_was_cont = True
        if isinstance(target, list):
            field = _STACK if kind == "stack" else _NOTE
            target[field] = text if target[field] is None else target[field] + "\n" + text
        elif isinstance(target, int):
            self._cont_target = target
            self.orphan_continuations.append((target, kind, text))
        else:
            self._unparsed(line, line_no, out)

    def _ts(self, m: re.Match[str]) -> float | None:
        num = m.group("num")
        if num is not None:
            v = float(num)
            if self.ts_format is None:
                self.ts_format = "relative" if v < 1e8 else "unix"
            if self.ts_format == "relative":
                self._rel_clock += v
                v = self._rel_clock
            if self.start_ts is None:
                self.start_ts = v
            return v
        hh = m.group("hh")
        if hh is not None:
            if self.ts_format is None:
                self.ts_format = "clock"
            return int(hh) * 3600 + int(m.group("mm")) * 60 + float(m.group("ss"))
        return None

    def _line(self, line: str, line_no: int, out: list[StraceEvent]) -> None:
        # continuation lines first (they start with a space, like -r timestamps)
        if line.startswith(" > "):
            self._continuation(line, line_no, "stack", out)
            return
        if line.startswith(" | ") and re.match(r" \| [0-9a-f]{5} ", line):
            self._continuation(line, line_no, "dump", out)
            return
        self._last_was_cont = False
        if self._cut is not None:
            cut_pid, cut_line = self._cut
            self._cut = None
            if cut_line == line_no - 1 and self._continue_cut(cut_pid, line, out):
                return
        if not line.strip():
            self.n_lines -= 1  # blank lines are not counted as log lines
            self._cont_target = None
            return
        if self._summary_line(line, line_no, out):
            self._cont_target = None
            return
        m = PREFIX_RE.match(line)
        body = line[m.end():] if m else line
        pid_text = m.group("pid") or m.group("bpid") if m else None
        pid = int(pid_text) if pid_text else self.default_pid
        saved = (self.ts_format, self._rel_clock, self.start_ts)
        ts = self._ts(m) if m else None
        unparsed_before = self.n_unparsed + sum(1 for e in out if e.kind == "unparsed")
        if not self.first_pid_set and CALL_RE.match(body):
            self.first_pid, self.first_pid_set = pid, True
        ev = self._body(body, line, line_no, pid, ts, m, out)
        if not self.first_pid_set and ev is not None and ev[_KIND] != "unparsed":
            self.first_pid, self.first_pid_set = ev[_PID], True
        if ev is None and ts is not None and self._held is not None and self._held[_KIND] == "unparsed" \
                and self._held[_LINE] == line_no and unparsed_before >= 0:
            # a line we could not read says nothing about the timestamp format
            self.ts_format, self._rel_clock, self.start_ts = saved
        self._cont_target = ev

    def _decorate(self, ev: list[Any], m: re.Match[str] | None) -> None:
        if m is None:
            return
        nr = m.group("nr")
        if nr is not None:
            ev[_NR] = int(nr)
        ev[_IP] = m.group("ip")
        ev[_COMM] = m.group("comm") or m.group("bcomm")

    def _body(
        self, body: str, line: str, line_no: int, pid: int | None, ts: float | None,
        m: re.Match[str] | None, out: list[StraceEvent],
    ) -> list[Any] | None:
        c = body[:1]
        if c == "-":
            sm = SIGNAL_RE.match(body)
            if sm:
                st = STOPPED_RE.match(body)
                ev = self._new(line_no, "signal", pid, ts)
                if st:
                    ev[_SYSCALL] = st.group("sig")
                    ev[_NOTE] = "stopped"
                else:
                    ev[_SYSCALL] = sm.group("sig")
                    ev[_ARGS] = sm.group("info")
                self._decorate(ev, m)
                self._hold(ev, out)
                return ev
        elif c == "+":
            em = EXITED_RE.match(body)
            km = KILLED_RE.match(body) if em is None else None
            sm = SUPERSEDED_RE.match(body) if em is None and km is None else None
            if em or km or sm:
                ev = self._new(line_no, "exit" if em or sm else "killed", pid, ts)
                if em:
                    ev[_RET] = int(em.group("code"))
                elif km:
                    ev[_SYSCALL] = km.group("sig")
                    ev[_NOTE] = km.group("core")
                else:
                    ev[_NOTE] = f"superseded by execve in pid {sm.group('pid')}"  # type: ignore[union-attr]
                if self.first_exit is None and pid == self.first_pid and not sm:
                    value = ev[_RET] if em else signal_number(ev[_SYSCALL])
                    self.first_exit = (pid, ev[_KIND], value)
                self._decorate(ev, m)
                self._hold(ev, out)
                return ev
        elif c == "<":
            rm = RESUMED_RE.match(body)
            if rm:
                return self._resumed(rm.group("name"), rm.group("rest"), line, line_no, pid, ts, m, out)
        elif STRACE_MSG_RE.match(body):
            pm = PROCESS_RE.match(body)
            if pm:
                kind = "attach" if pm.group("what") == "attached" else "detach"
                p = int(pm.group("pid"))
                ev = self._new(line_no, kind, p, ts)
                if pm.group("more"):
                    ev[_NOTE] = pm.group("more").strip()
                self._hold(ev, out)
                return ev
            self._message(body)
            return None
        elif c == "[":
            pm = PERSONALITY_RE.match(body)
            if pm:
                self.personality.append(f"{pm.group('pid')}: {pm.group('mode')}")
                return None
        cm = CALL_RE.match(body)
        if cm:
            ev = self._call(cm.group("name"), cm.group("rest"), line, line_no, pid, ts, m, out)
            if ev is not None:
                return ev
        # a line interrupted by strace's own message (stderr output without -o)
        em2 = EMBEDDED_PROCESS_RE.search(line)
        if em2 and em2.start() > 0:
            before, after = line[: em2.start()], line[em2.start():]
            self._partial(before, line_no, pid, out)
            return self._body(after, line, line_no, None, None, None, out)
        self._unparsed(line, line_no, out)
        return None

    def _message(self, text: str) -> None:
        if len(self.messages) < 100:
            self.messages.append(text)

    def _partial(self, before: str, line_no: int, pid: int | None, out: list[StraceEvent]) -> None:
        """The start of a call cut by an interleaved strace message: an implicit unfinished."""
        m = PREFIX_RE.match(before)
        body = before[m.end():] if m else before
        pid_text = (m.group("pid") or m.group("bpid")) if m else None
        p = int(pid_text) if pid_text else pid
        cm = CALL_RE.match(body)
        if cm is None:
            self._unparsed(before, line_no, out)
            return
        ev = self._new(line_no, "syscall", p, self._ts(m) if m else None)
        ev[_SYSCALL] = cm.group("name")
        ev[_ARGS] = cm.group("rest")
        self._decorate(ev, m)
        self._park(p, ev, out)
        self._cut = (p, line_no)

    def _continue_cut(self, pid: int | None, line: str, out: list[StraceEvent]) -> bool:
        """The line after a call cut by ``strace: Process N attached``: its rest, if it is."""
        ev = self._pending.get(pid)
        if ev is None:
            return False
        stripped = line.strip()
        if stripped == "<detached ...>":
            del self._pending[pid]
            ev[_ARGS] = ev[_ARGS].rstrip(" ")
            ev[_UNF] = True
            ev[_NOTE] = "detached"
            ev[_FDP] = fd_paths_json(ev[_ARGS])
            self._hold(ev, out)
            self._cont_target = ev
            return True
        m = PREFIX_RE.match(line)
        body = line[m.end():] if m else line
        if CALL_RE.match(body) or body.startswith(("<... ", "--- ", "+++ ", "[")) or STRACE_MSG_RE.match(body):
            return False
        if line.endswith("<unfinished ...>"):
            ev[_ARGS] += line[: -len(UNFINISHED)] if line.endswith(UNFINISHED) else line[:-16]
            return True
        if self._complete(ev, line):
            del self._pending[pid]
            self._hold(ev, out)
            self._cont_target = ev
            return True
        return False

    def _park(self, pid: int | None, ev: list[Any], out: list[StraceEvent]) -> None:
        old = self._pending.pop(pid, None)
        if old is not None:  # a second unfinished call for one pid: the first never resumed
            old[_UNF] = True
            old[_FDP] = fd_paths_json(old[_ARGS])
            self._emit(old, out)
        self._pending[pid] = ev

    def _complete(self, ev: list[Any], rest: str) -> bool:
        """Fill return fields from ``rest`` (``ARGS) = RET ...``); False if it does not fit."""
        tm = COMPLETE_RE.match(rest)
        if tm is None:
            return False
        args = tm.group("args")
        prev = ev[_ARGS]
        ev[_ARGS] = args if prev is None else prev + args
        ret = tm.group("ret")
        notes = []
        if ret is not None:
            ev[_RET] = _hex_or_int(ret)
            ev[_RETP] = tm.group("rpath")
        ev[_ERRNO] = tm.group("errno")
        n = tm.group("notes")
        if n:
            notes.append(n.strip())
        dur = tm.group("dur")
        if dur is not None:
            if dur == "unavailable":
                notes.append("<unavailable>")
            else:
                ev[_DUR] = float(dur)
        if notes:
            ev[_NOTE] = " ".join(notes) if ev[_NOTE] is None else ev[_NOTE] + " " + " ".join(notes)
        ev[_FDP] = fd_paths_json(ev[_ARGS])
        return True

    def _call(
        self, name: str, rest: str, line: str, line_no: int, pid: int | None, ts: float | None,
        m: re.Match[str] | None, out: list[StraceEvent],
    ) -> list[Any] | None:
        ev = self._new(line_no, "syscall", pid, ts)
        ev[_SYSCALL] = name
        self._decorate(ev, m)
        if rest.endswith("<unfinished ...>"):
            args = rest[: -len(UNFINISHED)] if rest.endswith(UNFINISHED) else rest[: -len(UNFINISHED) + 1]
            ev[_ARGS] = args
            self._park(pid, ev, out)
            return ev
        if rest.endswith("<detached ...>"):
            args = rest[: -len(DETACHED)] if rest.endswith(DETACHED) else rest[: -len(DETACHED) + 1]
            ev[_ARGS] = args.rstrip(" ")
            ev[_UNF] = True
            ev[_NOTE] = "detached"
            ev[_FDP] = fd_paths_json(ev[_ARGS])
            self._hold(ev, out)
            return ev
        if self._complete(ev, rest):
            self._hold(ev, out)
            return ev
        return None

    def _resumed(
        self, name: str, rest: str, line: str, line_no: int, pid: int | None, ts: float | None,
        m: re.Match[str] | None, out: list[StraceEvent],
    ) -> list[Any] | None:
        ev = self._pending.get(pid)
        if ev is None or ev[_SYSCALL] != name:
            # execve in a thread resumes under the leader's pid: match by name
            cands = [p for p, e in self._pending.items() if e[_SYSCALL] == name]
            if ev is None and len(cands) >= 1 and (name == "execve" or name == "execveat" or len(cands) == 1):
                ev = self._pending[cands[0]]
                pid_key: int | None = cands[0]
            else:
                ev = None
                pid_key = None
        else:
            pid_key = pid
        if ev is None:
            # a resumption whose start we never saw (attached mid-call, or a cut log)
            ev = self._new(line_no, "syscall", pid, ts)
            ev[_SYSCALL] = name
            ev[_NOTE] = "resumed without start"
            self._decorate(ev, m)
            if rest.endswith("<unfinished ...>"):
                ev[_ARGS] = rest[: -len(UNFINISHED)] if rest.endswith(UNFINISHED) else rest[:-16]
                self._park(pid, ev, out)
                return ev
            if self._complete(ev, rest):
                self._hold(ev, out)
                return ev
            if rest.endswith("<detached ...>"):
                ev[_ARGS] = rest[: -len(DETACHED)].rstrip(" ")
                ev[_UNF] = True
                ev[_NOTE] = "resumed without start; detached"
                self._hold(ev, out)
                return ev
            self._unparsed(line, line_no, out)
            return None
        if rest.endswith("<unfinished ...>"):
            # resumed and suspended again (rare): keep collecting arguments
            more = rest[: -len(UNFINISHED)] if rest.endswith(UNFINISHED) else rest[:-16]
            ev[_ARGS] = (ev[_ARGS] or "") + more
            return ev
        if rest.endswith("<detached ...>"):
            del self._pending[pid_key]
            ev[_ARGS] = ((ev[_ARGS] or "") + rest[: -len(DETACHED)]).rstrip(" ")
            ev[_UNF] = True
            ev[_NOTE] = "detached"
            ev[_FDP] = fd_paths_json(ev[_ARGS])
            self._hold(ev, out)
            return ev
        if not self._complete(ev, rest):
            self._unparsed(line, line_no, out)
            return None
        del self._pending[pid_key]
        if pid_key != pid and pid is not None:
            ev[_NOTE] = f"resumed in pid {pid}" if ev[_NOTE] is None else ev[_NOTE] + f"; resumed in pid {pid}"
        self._hold(ev, out)
        return ev

    def _summary_line(self, line: str, line_no: int, out: list[StraceEvent]) -> bool:
        s = self._summary
        if s.in_table:
            if SUMMARY_SEP_RE.match(line):
                return True
            if s.row(line):
                if line[s.spans[-1][0]:].strip() == "total":  # type: ignore[index]
                    s.in_table = False
                return True
            s.in_table = False
            return False
        if SUMMARY_TITLE_RE.match(line):
            s.titles.append(line)
            return True
        if self._maybe_header is not None:
            header, self._maybe_header = self._maybe_header, None
            if SUMMARY_SEP_RE.match(line):
                s.start(header, line)
                return True
            self._unparsed(header, line_no - 1, out)  # it was not a table header after all
        if SUMMARY_HEADER_RE.match(line) and ("calls" in line and "syscall" in line):
            self._maybe_header = line
            return True
        return False
