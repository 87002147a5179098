"""The status pages in a real browser: Debian's headless Chromium, sized as a phone.

The screenshots are kept in tests/artifacts/ (git-ignored), where a person or CI can look at
them after the run: pytest's tmp_path would bury them in a temporary directory that is
cleaned up after a few runs."""

import re
import struct
from pathlib import Path

from tests.browser import chromium, needs_chromium
from tests.status.conftest import ALPHA_TOKEN, INTERNAL_NOTE, PARTNER_UPDATE, Seeded

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
PHONE = (412, 915)

pytestmark = needs_chromium


def visible_text(dom: str) -> str:
    """The words of a dumped DOM, without its markup and style sheet."""
    dom = re.sub(r"<style.*?</style>", " ", dom, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", dom).split())


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_a_phone_browser_shows_the_status_and_incident_pages(seeded: Seeded, tmp_path: Path):
    base = seeded.service.url
    page_url = f"{base}/status/alpha?token={ALPHA_TOKEN}"
    dom = chromium(tmp_path / "profile", "--dump-dom", page_url)
    text = visible_text(dom)
    assert "Alpha & Co <Research>" in text.replace("&amp;", "&").replace("&lt;", "<").replace(
        "&gt;", ">"
    )
    assert "Open incidents" in text and "Alpha hub down" in text and "Identified" in text
    assert "P1-Outage" in text and "Started (UTC)" in text and "ongoing" in text
    assert INTERNAL_NOTE not in dom and "<script" not in dom

    # Tap through to the incident, as a phone user follows the page's own link.
    found = re.search(rf'href="(/status/alpha/incidents/{seeded.alpha_open}\?token=[^"]+)"', dom)
    assert found, dom
    incident_url = base + found.group(1).replace("&amp;", "&")
    dom = chromium(tmp_path / "profile", "--dump-dom", incident_url)
    text = visible_text(dom)
    assert "Alpha hub down" in text and "Updates" in text and PARTNER_UPDATE in text
    assert INTERNAL_NOTE not in dom and "hunter2" not in dom

    ARTIFACTS.mkdir(exist_ok=True)
    for name, url in (("status-page", page_url), ("status-incident", incident_url)):
        shot = ARTIFACTS / f"{name}-phone.png"
        shot.unlink(missing_ok=True)
        chromium(
            tmp_path / "profile",
            f"--screenshot={shot}",
            f"--window-size={PHONE[0]},{PHONE[1]}",
            url,
        )
        assert png_size(shot) == PHONE
        print(f"screenshot: {shot}")
