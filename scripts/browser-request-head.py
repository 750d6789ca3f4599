#!/usr/bin/env python3
"""Prints the request head headless Chromium sends for a same-origin fetch(), as the poll
and long-poll pages of browser clients send it (docs/findings.md §7): a loopback listener
serves a page that fetches /poll?topic=0&cursor=12 with cache: "no-store" (as the reference
clients' getText does) and prints that request's head, byte for byte, with its length. Needs chromium (scripts/install-chromium.sh).

    scripts/browser-request-head.py
"""
import shutil
import socket
import subprocess
import tempfile
import threading

PAGE = b"""<!doctype html><link rel="icon" href="data:,"><script>
fetch('/poll?topic=0&cursor=12', { cache: "no-store" }).then((r) => r.text());
</script>"""
done = threading.Event()


def handle(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(65536)
        if not more:
            return
        data += more
    head = data[: data.index(b"\r\n\r\n") + 4]
    if head.startswith(b"GET / "):
        conn.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n" % len(PAGE) + PAGE
        )
    elif head.startswith(b"GET /poll"):
        print(f"{len(head)} bytes:")
        print(head.decode().replace("\r\n", "\\r\\n\n"), end="")
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n12\n")
        done.set()
    conn.close()


def main():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium not found (scripts/install-chromium.sh)")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]

    def serve():
        while not done.is_set():
            conn, _ = listener.accept()
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    profile = tempfile.mkdtemp(prefix="pushbench-head-")
    try:
        browser = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
             f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom",
             f"http://127.0.0.1:{port}/"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not done.wait(60):
            raise SystemExit("Chromium sent no fetch within 60 s")
        browser.kill()
        browser.wait()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
