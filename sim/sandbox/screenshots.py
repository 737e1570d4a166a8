"""Take the README screenshots of the sandbox with headless chromium: ``python -m sim.sandbox.screenshots [OUT_DIR]``.

Starts the server on a free port, opens the page in Debian's chromium (playwright, no downloaded browser), runs
lesson 3 and saves into OUT_DIR (default docs/img): the first screen at three sizes (``sandbox_phone.png`` 390x844
as the page opens, ``sandbox_laptop.png`` 1280x800 and ``sandbox_wide.png`` 1920x1080 during lesson 3) and, at the
wide size, one PNG per view (``sandbox_<view>.png``), the time courses in simulated mode with the noise band.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SIZES = {"phone": (390, 844), "laptop": (1280, 800), "wide": (1920, 1080)}
READY = ("() => document.getElementById('status').dataset.state === 'ready' && "
         "+document.body.dataset.claims === window.sandbox.seq")


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
                                                       viewport={"width": 1920, "height": 1080})
            page = ctx.new_page()
            page.set_viewport_size({"width": 390, "height": 844})  # a phone opens the page: plots first
            page.goto(url)
            page.wait_for_function(READY, timeout=120_000)
            page.wait_for_timeout(300)
            f = out / "sandbox_phone.png"
            page.screenshot(path=str(f))
            written.append(f)
            page.set_viewport_size({"width": 1920, "height": 1080})
            page.evaluate("document.getElementById('lessons-panel').open = true; "
                          "document.getElementById('controls-panel').open = true")
            page.click("button[data-lesson=first_hour]")
            page.wait_for_function(READY + " && window.sandbox.data.controls.treatment === 'ketamine_single'",
                                   timeout=120_000)
            for name, (w, h) in list(SIZES.items())[1:]:
                page.set_viewport_size({"width": w, "height": h})
                page.wait_for_timeout(400)
                page.evaluate("window.scrollTo(0, 0)")
                f = out / f"sandbox_{name}.png"
                page.screenshot(path=str(f))
                written.append(f)
            page.set_viewport_size({"width": 1920, "height": 1080})
            page.wait_for_timeout(300)
            for view in ("brain", "fc", "claims"):
                f = out / f"sandbox_{view}.png"
                loc = page.locator(f"#view-{view}")
                if view == "claims":  # the table (the contradiction pairs are above it)
                    box = page.evaluate("(() => { const v = document.getElementById('view-claims')"
                                        ".getBoundingClientRect(), t = document.querySelector('table.claims')"
                                        ".getBoundingClientRect(); return {x: v.left, y: t.top + scrollY - 40, "
                                        "width: v.width, height: Math.min(t.height + 40, 800)}; })()")
                    page.screenshot(path=str(f), full_page=True, clip=box)
                else:
                    loc.screenshot(path=str(f))
                written.append(f)
            page.select_option("#ctl-engine", "simulated")
            page.wait_for_function(READY + " && window.sandbox.data.cohort.engine === 'simulated'", timeout=300_000)
            page.wait_for_timeout(300)
            f = out / "sandbox_metrics.png"
            page.locator("#view-metrics").screenshot(path=str(f))
            written.append(f)
            ctx.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return written


if __name__ == "__main__":
    for f in main(*sys.argv[1:]):
        print(f)
