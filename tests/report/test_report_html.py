#!/usr/bin/env python3
"""test_report_html.py BIN SAMPLES — `smtpsift report --html` rendered by
headless Chromium: four samples plus a generated session full of markup
(make_hostile.py) are ingested, the report is written, and the DOM Chromium
renders must show the exact counts, a subject, an attachment's SHA-256, a
message's detail view, the hostile strings as text only (no <img> element
anywhere), and the marker the page's script adds when it finished without
an error. Needs the chromium package (.ci/deps.sh installs it)."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
binary, samples = os.path.abspath(sys.argv[1]), sys.argv[2]
fails = []


def check(name, cond, detail=""):
    if not cond:
        fails.append(f"{name} {detail}")


def chromium():
    for c in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(c)
        if p:
            return p
    return None


def render(browser, url, tmp):
    r = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--disable-extensions", "--no-first-run", f"--user-data-dir={tmp}/chrome",
                        "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", "--dump-dom", url],
                       capture_output=True, text=True, timeout=120, env=dict(os.environ, HOME=tmp))
    return r.stdout, r.stderr


def main():
    browser = chromium()
    if not browser:
        print("FAIL: chromium is not installed; run .ci/deps.sh (Debian package chromium)")
        return 1
    tmp = tempfile.mkdtemp(prefix="sift_html_")
    try:
        hostile = os.path.join(tmp, "hostile.pcap")
        subprocess.run([sys.executable, os.path.join(here, "make_hostile.py"), hostile], check=True)
        db = os.path.join(tmp, "r.db")
        caps = [os.path.join(samples, f) for f in
                ("attachments.pcap", "basic.pcap", "multi_txn.pcap", "multi_rcpt_reject.pcap")] + [hostile]
        subprocess.run([binary, "ingest", "-q", "-d", db] + caps, check=True)
        out = os.path.join(tmp, "report.html")
        r = subprocess.run([binary, "report", "--html", out, "-d", db], capture_output=True, text=True)
        check("report exit 0", r.returncode == 0, r.stderr)
        html = open(out, encoding="utf-8").read()
        # self-contained: nothing fetched from anywhere
        check("no external resources", not re.search(r'(src|href)\s*=\s*"(https?:|//)', html))
        check("hostile subject never raw in the file", "</script><img" not in html)

        dom, err = render(browser, "file://" + out, tmp)
        check("render marker", 'id="render-ok"' in dom, "(the page script did not finish)")
        m = re.search(r'id="render-ok"[^>]*data-messages="(\d+)"', dom)
        check("messages counted by the page", m and m.group(1) == "7", m and m.group(1))
        card = re.search(r'id="ov-messages"><div class="n">([^<]*)</div>', dom)
        check("overview messages card", card and card.group(1) == "7", card and card.group(1))
        card = re.search(r'id="ov-attachments"><div class="n">([^<]*)</div>', dom)
        check("overview attachments card", card and card.group(1) == "3", card and card.group(1))
        check("subject shown", "Grüße – Quartalsbericht" in dom)
        check("attachment hash shown", "f8e0cdd30b4bc93570308670ea7906b0f638eff0e6ca21445120f8a593d83f4b" in dom)
        check("attachment name shown", "Übersicht-Q3.pdf" in dom)
        check("refused recipient shown", "mrr-three@example.test" in dom)
        check("hostile subject as text", "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in dom)
        check("hostile file name as text", "&lt;img src=x onerror=alert(2)&gt;.txt" in dom)
        check("no <img> element", "<img" not in dom)
        check("no element with an onload/onerror attribute", not re.search(r"<[a-z]+[^>]*\son(load|error)=", dom))
        check("hostile EHLO as text", "&lt;svg onload=alert(4)&gt;" in dom)
        check("no uncaught script error", "Uncaught" not in err, err[-500:])

        # the detail view of the message with attachments (id 1: first capture given)
        dom2, err2 = render(browser, "file://" + out + "#m1", tmp)
        detail = dom2.split('id="detail"', 1)[1] if 'id="detail"' in dom2 else ""
        check("detail rendered", "Session commands" in detail)
        check("detail header", "attachments.20250106@client.example.test" in detail)
        check("detail part hash", "0bf874f0434ac6b27d569d5f02f80231dd32418103bcbd8e45bd8401ee52930a" in detail)
        check("detail queue id", "4E8771103FE" in detail)
        check("detail marker", 'id="render-ok"' in dom2)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for f in fails:
        print("FAIL:", f)
    if not fails:
        print("report --html: rendered in Chromium, counts, subject, hashes, detail view and escaping checked")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
