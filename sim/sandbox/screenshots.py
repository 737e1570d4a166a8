"""Take the README screenshots of the sandbox with headless chromium: ``python -m sim.sandbox.screenshots [OUT_DIR]``.

Starts the server on a free port, opens the page in Debian's chromium (playwright, no downloaded browser), runs
lesson 3 and saves one PNG per view into OUT_DIR (default docs/img).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main(out_dir: str = "docs/img", chromium: str = "/usr/bin/chromium") -> list[Path]:
    from playwright.sync_api import sync_playwright

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", "from sim.sandbox.server import main; main()", "--port", "0",
                             "--no-warm", "--quiet"], stdout=subprocess.PIPE, text=True)
    written = []
    try:
        url = proc.stdout.readline().split("open ", 1)[1].split()[0]
        with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(profile, executable_path=chromium, args=FLAGS,
                                                       viewport={"width": 1500, "height": 950})
            page = ctx.new_page()
            page.goto(url)
            page.wait_for_selector("#status[data-state=ready]", timeout=60_000)
            page.click("button[data-lesson=first_hour]")
            page.wait_for_function("() => document.getElementById('status').dataset.state === 'ready' && "
                                   "window.sandbox.data.controls.treatment === 'ketamine_single'", timeout=60_000)
            page.wait_for_timeout(300)
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(out / "sandbox_page.png"))
            written.append(out / "sandbox_page.png")
            for view in ("brain", "metrics", "fc", "claims"):
                f = out / f"sandbox_{view}.png"
                loc = page.locator(f"#view-{view}")
                if view == "claims":
                    page.screenshot(path=str(f), clip={**loc.bounding_box(), "height": 900})
                else:
                    loc.screenshot(path=str(f))
                written.append(f)
            ctx.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return written


if __name__ == "__main__":
    for f in main(*sys.argv[1:]):
        print(f)
