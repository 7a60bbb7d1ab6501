"""Hypothesis: garbage, truncated lines and random bytes never crash the strace parser."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syssense.errors import InputFormatError
from syssense.parse._stream import StraceStreamParser
from syssense.parse.strace import parse_strace

DATA = Path(__file__).parent / "data" / "strace"
REAL = [ln for p in sorted(DATA.glob("*.log")) for ln in p.read_text().splitlines() if ln.strip()]

garbage = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=120)
truncated = st.builds(lambda ln, k: ln[: k % (len(ln) + 1)], st.sampled_from(REAL), st.integers(0, 400))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(garbage, truncated, st.sampled_from(REAL)), max_size=30))
def test_stream_parser_never_crashes(lines: list[str]) -> None:
    p = StraceStreamParser()
    events = []
    for ln in lines:
        events += p.feed(ln)
    events += p.close()
    assert p.n_unparsed == sum(1 for e in events if e.kind == "unparsed")
    for e in events:
        if e.kind == "unparsed":
            assert e.raw is not None and e.line is not None


@settings(max_examples=200, deadline=None)
@given(garbage.filter(lambda s: s.strip() and "(" not in s and "+++" not in s and "---" not in s
                      and "strace:" not in s and "[ Process" not in s and "<..." not in s))
def test_garbage_lines_come_back_unparsed(text: str) -> None:
    p = StraceStreamParser()
    ev = p.feed(text) + p.close()
    assert [e.kind for e in ev] in (["unparsed"], [])  # [] only for summary-table header words
    if ev:
        assert ev[0].raw == text.rstrip("\r")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2000), st.lists(st.sampled_from(REAL), max_size=20))
def test_random_bytes_in_files(tmp_path_factory, blob: bytes, real: list[str]) -> None:
    d = tmp_path_factory.mktemp("fz")
    p = d / "x.log"
    p.write_bytes("\n".join(real).encode() + b"\n" + blob)
    try:
        ds = parse_strace(p)
    except InputFormatError:
        return  # empty, binary or not strace at all: one clear sentence
    ev = ds.events
    kinds = ev.column("kind").to_pylist()
    assert ds.traces.column("n_unparsed").to_pylist() == [kinds.count("unparsed")]
    assert ev.column("seq").to_pylist() == list(range(ev.num_rows))
