#!/usr/bin/env python3
"""Captures the request heads a real desktop Chromium sends for each request kind pushbench
makes: a same-origin fetch GET (poll, long poll, stream), a fetch POST (publish), an
EventSource (SSE) and a WebSocket handshake. The `browser` profile of docs/headers.md was
taken from this script's output.

It serves a page over HTTPS on 127.0.0.1 (as `https://localhost:PORT`, a self-signed
certificate made with openssl), starts Chromium under Xvfb (a normal desktop window, so the
User-Agent and client hints are those of desktop Chromium, not of headless mode), lets the
page make one request of each kind, and prints every request head byte for byte. HTTPS,
because a production push endpoint is served over TLS, and Chromium sends some headers
(`br`/`zstd` in Accept-Encoding, for one) only to secure origins.

Needs: chromium, xvfb (xvfb-run), openssl (Debian packages). Loopback only; bounded to 60 s.
Usage: scripts/browser-headers.py [--chromium PATH]
"""

import argparse
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading

PAGE = """<!doctype html><title>pushbench header capture</title><script>
document.cookie = "session=Zjk0NzE1OTItMGU2Ni00YTJmLWI5ZDAtNzQwYzQ3ZTliM2Ex; path=/";
document.cookie = "csrftoken=kX9vQ2mLr7TzW4pHn8YcB3dFj6GsA1eU; path=/";
document.cookie = "_ga=GA1.1.1834629517.1750000000; path=/";
document.cookie = "_ga_K7Q2M9XW4P=GS2.1.s1750000000$o3$g1$t1750000420$j60$l0$h0; path=/";
(async () => {
  await fetch("/poll?topic=0&cursor=0");
  await fetch("/publish?topic=0", {method: "POST", body: "0000000000000001 hello"});
  await new Promise((done) => {
    const es = new EventSource("/sse?topic=0");
    es.onopen = es.onerror = () => { es.close(); done(); };
  });
  await new Promise((done) => {
    const ws = new WebSocket("wss://" + location.host + "/ws?topic=0");
    ws.onopen = ws.onerror = ws.onclose = () => done();
  });
  await fetch("/done");
})();
</script>"""

KINDS = {"/poll": "fetch GET", "/publish": "fetch POST", "/sse": "EventSource",
         "/ws": "WebSocket handshake"}


def answer(path, head):
    if path == "/live":
        body = PAGE.encode()
        return (b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: %d\r\n\r\n"
                % len(body)) + body
    if path == "/sse":
        return b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: 0\r\n\r\n"
    if path == "/ws":
        return b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    return b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok"


def serve_conn(conn, heads, finished):
    buf = b""
    try:
        while True:
            while b"\r\n\r\n" not in buf:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
            head, buf = buf.split(b"\r\n\r\n", 1)
            head += b"\r\n\r\n"
            lines = head.split(b"\r\n")
            path = lines[0].split(b" ")[1].decode().split("?")[0]
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            while len(buf) < length:
                buf += conn.recv(65536)
            buf = buf[length:]
            heads.append((path, head))
            conn.sendall(answer(path, head))
            if path == "/done":
                finished.set()
            if path == "/ws":
                return
    except (OSError, ssl.SSLError):
        return
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="pushbench-headers-")
    key, cert = os.path.join(tmp, "key.pem"), os.path.join(tmp, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost"], check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    # HTTP/1.1 only: what pushbench speaks, and what Chromium uses without h2 in ALPN.
    ctx.set_alpn_protocols(["http/1.1"])
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    heads, finished = [], threading.Event()

    def accept():
        while not finished.is_set():
            try:
                raw, _ = listener.accept()
                conn = ctx.wrap_socket(raw, server_side=True)
            except (OSError, ssl.SSLError):
                continue
            threading.Thread(target=serve_conn, args=(conn, heads, finished), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    env = dict(os.environ, LANG="en_US.UTF-8", LANGUAGE="en_US")
    browser = subprocess.Popen(
        ["xvfb-run", "-a", args.chromium, "--no-sandbox", "--ignore-certificate-errors",
         "--no-first-run", "--no-default-browser-check", "--disable-extensions",
         "--user-data-dir=" + os.path.join(tmp, "profile"), f"https://localhost:{port}/live"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    ok = finished.wait(60)
    os.killpg(browser.pid, 15)
    browser.wait(10)
    shutil.rmtree(tmp, ignore_errors=True)
    if not ok:
        sys.exit("Chromium did not finish the page within 60 s")
    version = subprocess.run([args.chromium, "--version"], capture_output=True, text=True)
    print(f"# {version.stdout.strip()}, https://localhost:{port}/live")
    for path, head in heads:
        if path in KINDS:
            print(f"\n## {KINDS[path]} ({len(head)} bytes of head)\n")
            print(head.decode("latin-1").replace("\r\n", "\n").rstrip("\n"))


if __name__ == "__main__":
    main()
