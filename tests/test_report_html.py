"""The HTML report: sections, escaping, self-containment, and rendering in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from syssense.dataset import write_dataset
from syssense.errors import SyssenseError
from syssense.report.html import write_report
from test_report_fixtures import fixture_dataset

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
XSS = '<script>alert("x")</script>'


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    write_report(fixture_dataset(), out, ks=range(2, 8), k=6)
    return out


def test_sections_and_self_contained(report: Path) -> None:
    html = report.read_text()
    for heading in ("Dataset summary", "Call frequencies", "Coverage against window size", "Where mismatches fall",
                    "Priv/recon quadrants", "Most anomalous windows", "Method notes"):
        assert heading in html
    # every image is embedded, nothing is fetched
    srcs = re.findall(r'<img src="([^"]*)"', html)
    assert len(srcs) >= 5 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "Forrest" in html and "Warrender" in html  # citations
    assert "stronger anomalous behaviour" in html or "reconnaissance" in html


def test_trace_strings_are_escaped(report: Path) -> None:
    html = report.read_text()
    assert "<script" not in html.lower()
    # the xss trace's argument appears, escaped (in the windows it is outside the baseline's database)
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html or "&lt;script&gt;alert(\\&#34;x\\&#34;)" in html


def test_anomalous_windows_lead_back_to_the_log(report: Path) -> None:
    html = report.read_text()
    # priv fixture: reading /etc/shadow and chmod-ing a copy appear among the anomalous windows
    assert "/etc/shadow" in html or "fchmodat" in html or "chmod" in html
    assert re.search(r"lines \d+–\d+", html)
    assert "Hamming distance" in html


def test_missing_baseline_is_one_sentence(tmp_path) -> None:
    ds = fixture_dataset(["priv-0", "recon-0"])
    with pytest.raises(SyssenseError, match="no baseline traces"):
        write_report(ds, tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_cli_report_and_plot(tmp_path) -> None:
    from syssense.cli import cli

    data = write_dataset(fixture_dataset(), tmp_path / "ds")
    runner = CliRunner()
    res = runner.invoke(cli, ["report", str(data), "-o", str(tmp_path / "r.html"), "--ks", "3..5", "-k", "4"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "r.html").stat().st_size > 10_000
    res = runner.invoke(cli, ["plot", str(data), "-o", str(tmp_path / "figs"), "--ks", "3,5", "-k", "3"])
    assert res.exit_code == 0, res.output
    for name in ("coverage", "mismatch", "frequency", "quadrants"):
        assert (tmp_path / "figs" / f"{name}.png").stat().st_size > 1000
        assert (tmp_path / "figs" / f"{name}.svg").exists()
    res = runner.invoke(cli, ["report", str(data), "--ks", "x..y"])
    assert res.exit_code != 0 and "cannot read window sizes" in str(res.exception or res.output)


# --------------------------------------------------------------------------- browser


def _chromium(url: str, tmp_path: Path) -> tuple[str, str]:
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--enable-logging=stderr", "--v=0", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", url],
        capture_output=True, text=True, timeout=90,
    )
    return proc.stdout, proc.stderr


def _console(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


_CHECKER = """<script>
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const bad = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length;
  const text = document.body.innerText;
  document.body.setAttribute('data-check',
    JSON.stringify({images: imgs.length, broken: bad, scripts: document.scripts.length,
                    xss_as_text: text.includes('<script>alert(')}));
});
</script>"""


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make test installs it as root: apt-get install chromium)")
def test_renders_in_chromium(report: Path, tmp_path: Path) -> None:
    import html as htmlmod
    import json

    # the report as written: renders, no console messages (no CSP violations, no errors), no script elements
    dom, err = _chromium(report.as_uri(), tmp_path)
    assert "Most anomalous windows" in dom
    assert "<script" not in dom.lower()
    assert _console(err) == [], _console(err)
    # a copy with a checker script (the report's CSP forbids scripts, so it is relaxed in the copy only)
    page = report.read_text().replace("default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';")
    page = page.replace("</body>", _CHECKER + "</body>")
    copy = tmp_path / "checked.html"
    copy.write_text(page)
    dom, err = _chromium(copy.as_uri(), tmp_path)
    m = re.search(r'data-check="([^"]*)"', dom)
    assert m, "the checker did not run"
    check = json.loads(htmlmod.unescape(m.group(1)))
    assert check["images"] >= 5 and check["broken"] == 0
    assert check["scripts"] == 1  # only the checker: the trace's <script> is text
    assert check["xss_as_text"] is True
    assert _console(err) == []


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make test installs it as root: apt-get install chromium)")
def test_browser_check_can_fail(tmp_path: Path) -> None:
    """The checks above are able to see a broken image and a console error."""
    page = tmp_path / "bad.html"
    page.write_text('<html><body><img src="data:image/png;base64,AAAA"><script>console.error("boom")</script>'
                    + _CHECKER + "</body></html>")
    dom, err = _chromium(page.as_uri(), tmp_path)
    assert '&quot;broken&quot;:1' in dom or '"broken":1' in dom.replace("&quot;", '"')
    assert any("boom" in line for line in _console(err))
