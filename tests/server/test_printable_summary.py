"""The printable summary a family keeps in its care notebook renders in a real headless browser."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import struct
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from fhirbridge.engine.operations.printable import summary_html
from tests.conftest import LiveServer
from tests.server.browser import chromium
from tests.server.demo_sheets import JORDAN_EMERGENCY, JORDAN_TEAM


def screenshot_has_text(url: str, shot: Path) -> bool:
    chromium(f"--screenshot={shot}", "--window-size=900,1200", url)
    # A page with its text drawn compresses far worse than an empty white one (about 3 KB).
    return shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


@pytest.mark.usefixtures("record")
def test_the_printable_plan_renders_with_its_sections(server: LiveServer, tmp_path: Path) -> None:
    url = f"{server.url}/Patient/child-1/$summary?_format=html"
    dom = chromium("--dump-dom", url).stdout
    for heading in ("Problems", "Working care plan", "Emergency treatment plan", "Care team", "Open referrals"):
        assert f"<h2>{heading}</h2>" in dom
    assert "Cerebral palsy" in dom and "Walks with a walker at school" in dom
    assert screenshot_has_text(url, tmp_path / "summary.png")


def png_pixels(png: bytes) -> tuple[int, list[bytes]]:
    """The rows of an 8-bit RGB(A) PNG (as Chromium writes screenshots), and its bytes per pixel."""
    width, height, depth, color = struct.unpack(">IIBB", png[16:26])
    assert depth == 8 and color in (2, 6)
    step = 3 if color == 2 else 4
    data, at = b"", 8
    while at < len(png):
        length, kind = struct.unpack(">I4s", png[at : at + 8])
        if kind == b"IDAT":
            data += png[at + 8 : at + 8 + length]
        at += length + 12
    raw, stride, rows, previous = zlib.decompress(data), width * step, [], bytes(width * step)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            left, up = line[x - step] if x >= step else 0, previous[x]
            corner = previous[x - step] if x >= step else 0
            if kind == 1:
                line[x] = (line[x] + left) & 255
            elif kind == 2:
                line[x] = (line[x] + up) & 255
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 255
            elif kind == 4:
                guess = left + up - corner
                near = min((abs(guess - left), 0, left), (abs(guess - up), 1, up), (abs(guess - corner), 2, corner))
                line[x] = (line[x] + near[2]) & 255
        rows.append(bytes(line))
        previous = bytes(line)
    return step, rows


@pytest.mark.usefixtures("record")
def test_the_page_style_applies_under_the_servers_policy(server: LiveServer, tmp_path: Path) -> None:
    url = f"{server.url}/Patient/child-1/$summary?_format=html"
    page = httpx.get(url)
    style = re.search(r"<style>(.*?)</style>", page.text, re.S)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in page.headers["content-security-policy"]
    # The emergency plan's red frame is drawn only when the browser applied the stylesheet.
    shot = tmp_path / "styled.png"
    chromium(f"--screenshot={shot}", "--window-size=900,900", url)
    step, rows = png_pixels(shot.read_bytes())
    red = sum(
        1 for row in rows for x in range(0, len(row), step) if row[x] > 150 and row[x + 1] < 40 and row[x + 2] < 60
    )
    assert red > 500


def test_jordans_sheet_shows_what_the_emergency_department_needs(
    demo: httpx.Client,
    server: LiveServer,
    tmp_path: Path,
) -> None:
    url = f"{server.url}/Patient/jordan/$summary?_format=html"
    dom = html.unescape(chromium("--dump-dom", url).stdout)
    for item in (*JORDAN_EMERGENCY, *JORDAN_TEAM, "Gastrostomy status", "Eye-gaze communication device"):
        assert html.unescape(item) in dom
    assert "No medications recorded" not in dom and "Fulfill the focal request" not in dom
    assert screenshot_has_text(url, tmp_path / "jordan.png")


@pytest.mark.parametrize(
    ("child", "headings"),
    [
        ("mateo", ("Plan de tratamiento de emergencia", "Medicamentos", "Plan de cuidados", "Equipo de cuidados")),
        ("jordan", ("Emergency treatment plan", "Medications", "Working care plan", "Care team")),
        ("aisha", ("Emergency treatment plan", "Medications", "Working care plan", "Care team")),
    ],
)
def test_every_demo_childs_sheet_in_the_familys_language(
    demo: httpx.Client,
    server: LiveServer,
    tmp_path: Path,
    child: str,
    headings: tuple[str, ...],
) -> None:
    document = demo.get(f"/Patient/{child}/$summary").json()
    url = f"{server.url}/Patient/{child}/$summary?_format=html"
    # A browser sends its own Accept-Language; the family's language is what this sheet is asked in.
    language = document["entry"][0]["resource"]["language"]
    dom = html.unescape(chromium(f"--accept-lang={language}", "--dump-dom", url).stdout)
    for heading in headings:
        assert f"<h2>{heading}</h2>" in dom
    for section in document["entry"][0]["resource"]["section"]:
        for item in re.findall(r"<li>(.*?)</li>", section["text"]["div"]):
            assert html.unescape(item) in dom  # every line of every section's narrative is on the sheet
    assert screenshot_has_text(url, tmp_path / f"{child}.png")


@pytest.mark.parametrize("child", ["mateo", "jordan", "aisha"])
def test_the_emergency_part_prints_on_one_page(
    demo: httpx.Client,
    tmp_path: Path,
    child: str,
) -> None:
    document: dict[str, Any] = demo.get(f"/Patient/{child}/$summary").json()
    composition = document["entry"][0]["resource"]
    composition["section"] = [s for s in composition["section"] if s["code"]["coding"][0]["code"] == "emergency-plan"]
    assert "<li>" in composition["section"][0]["text"]["div"]
    page = tmp_path / "emergency.html"
    page.write_text(summary_html(document), encoding="utf-8")
    pdf = tmp_path / "emergency.pdf"
    chromium("--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri())
    pages = len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf.read_bytes()))
    assert pages == 1, html.escape(child)
