"""The HTML report: one self-contained page, rendered by a real headless Chromium.

The screenshot lands in ``test-artifacts/health-report-phone.png`` (gitignored). Without
``/usr/bin/chromium`` (Debian package ``chromium``) the Chromium test fails under CI and is
skipped elsewhere.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

from tests.harness.local_engine import unavailable
from tests.health.conftest import ENV, Stack
from zixly_stack.health.formats import to_html
from zixly_stack.health.service import report_for

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"



def degraded_report_html(stack: Stack) -> str:
    """Three runs of history (one with nextcloud down), rendered as HTML."""
    report_for(stack.root, ENV, stack.options())
    answer = stack.edge.routes.pop(("cloud.localhost", "/status.php"))
    report_for(stack.root, ENV, stack.options())
    stack.edge.routes[("cloud.localhost", "/status.php")] = answer
    stack.edge.certificate("n8n.localhost", 9)
    report = report_for(stack.root, ENV, stack.options()).report
    return to_html(report, REPO / "healthchecks" / "templates")


def png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """(width, height, decompressed scanlines) of a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def test_html_is_self_contained_and_has_a_grid(healthy_stack: Stack) -> None:
    html = degraded_report_html(healthy_stack)
    assert not re.search(r"<script|<link|<img|<iframe|@import|url\(|src=", html, re.I)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    for app in ("n8n", "metabase", "nextcloud", "warehouse"):
        assert f'id="app-{app}"' in html
    assert "uptime 66.7% over 3 runs" in html  # nextcloud: one critical run of three
    assert "<polyline points=" in html  # response-time sparkline
    assert 'class="app warning" id="app-n8n"' in html  # certificate near expiry


def test_html_renders_in_headless_chromium(healthy_stack: Stack, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        unavailable(f"{CHROMIUM} missing (apt-get install -y chromium)")
    page = tmp_path / "report.html"
    page.write_text(degraded_report_html(healthy_stack), encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "health-report-phone.png"
    shot.unlink(missing_ok=True)
    profile = tmp_path / "chromium-profile"
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", f"--screenshot={shot}", "--window-size=412,900", page.as_uri()]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    shutil.rmtree(profile, ignore_errors=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.is_file(), res.stderr[-2000:]
    width, height, pixels = png_pixels(shot.read_bytes())
    assert (width, height) == (412, 900)
    distinct = len(set(pixels))
    assert distinct > 32, f"screenshot looks blank ({distinct} distinct byte values)"
    # Not one flat colour: the header band differs from the page background.
    row = len(pixels) // height
    assert pixels[row * 10 : row * 11] != pixels[row * 800 : row * 801]
