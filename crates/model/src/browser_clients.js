// The reference browser client of each pushbench transport (docs/protocol.md), with the
// browser's own APIs. Defined once (pushbench_model::client::BROWSER_CLIENTS_JS) and inlined
// by the live page (GET /) and by the load generator's browser pages (client = "browser").
//
// Each transport drives a counter object `c` the including page defines:
//   c.topic            the topic to subscribe to
//   c.cursor()         the newest sequence number seen, or null before the first (then the
//                      URL has no cursor and the server starts at the topic's head)
//   c.message(text)    one message as text (an envelope)
//   c.batch(body)      a poll or long-poll answer; returns its cursor line's number
//   c.error(why)       a failure; c.requests, c.reconnects, c.errors, c.state, c.note
//                      are counted or set as the transports go.

/** `&cursor=N` after the newest number seen, or nothing before the first. */
const at = (c) => (c.cursor() === null ? "" : `&cursor=${c.cursor()}`);

// ---------------------------------------------------------------- the envelope
// "<seq:16 hex> <sent_ns:16 hex> <payload>", printable ASCII (docs/protocol.md). `sent_ns` is
// the message's scheduled publish time on the server's CLOCK_MONOTONIC. A double holds the
// 64-bit values to within 2^-52 of them: a sequence number exactly up to 2^53, a time to
// well under a microsecond.
const HEX16 = /^[0-9a-f]{16}$/;

function parseEnvelope(text) {
  if (text.length < 34 || text[16] !== " " || text[33] !== " ") return null;
  const seq = text.slice(0, 16), sent = text.slice(17, 33);
  if (!HEX16.test(seq) || !HEX16.test(sent)) return null;
  return { seq: parseInt(seq, 16), sentMs: parseInt(sent, 16) / 1e6 };
}

// ---------------------------------------------------------------- the clock
// The browser cannot read CLOCK_MONOTONIC. GET /clock answers the server's reading; taken
// between two readings of performance.now() (t0, t1), it was read at (t0 + t1) / 2 give or
// take half the round trip. Of several tries the one with the smallest round trip bounds the
// error best (Cristian's algorithm, as NTP filters its samples).
const clock = { offsetMs: null, rttMs: null, samples: 0 };

async function estimateClock(tries = 8) {
  let best = null;
  for (let i = 0; i < tries; i++) {
    const t0 = performance.now();
    const res = await fetch("/clock", { cache: "no-store" });
    const text = await res.text();
    const t1 = performance.now();
    const serverMs = parseInt(text.trim(), 16) / 1e6;
    if (!res.ok || !Number.isFinite(serverMs)) throw new Error(`/clock answered ${res.status}`);
    if (best === null || t1 - t0 < best.rtt) best = { rtt: t1 - t0, offset: serverMs - (t0 + t1) / 2 };
  }
  Object.assign(clock, { offsetMs: best.offset, rttMs: best.rtt, samples: tries });
}

const sleep = (ms, signal) => new Promise((done) => {
  const id = setTimeout(done, ms);
  signal.addEventListener("abort", () => { clearTimeout(id); done(); }, { once: true });
});

/** A GET whose answer must be 200; the body as text. */
async function getText(url, signal) {
  const res = await fetch(url, { signal, cache: "no-store" });
  const text = await res.text();
  if (!res.ok) throw new Error(`${res.status}: ${text.trim()}`);
  return text;
}

// ---------------------------------------------------------------- the transports
// Each runs until `signal` aborts and resumes from the newest number it has after every
// failure, so nothing is skipped unnoticed: a gap shows as lost.

/** Timed polling: setInterval + fetch. A tick while the previous fetch is still out is
 * skipped, since two polls in flight would both ask after the same cursor. */
function poll(c, signal, intervalMs) {
  let busy = false;
  const tick = async () => {
    if (busy || signal.aborted) return;
    busy = true;
    c.requests++;
    try {
      const cursor = c.batch(await getText(`/poll?topic=${c.topic}${at(c)}`, signal));
      c.state = "live";
      if (cursor !== null && cursor < c.cursor()) c.error(`cursor went back to ${cursor}`);
    } catch (e) {
      if (!signal.aborted) c.error(e.message);
    } finally {
      busy = false;
    }
  };
  const id = setInterval(tick, intervalMs);
  signal.addEventListener("abort", () => clearInterval(id), { once: true });
  tick();
}

/** Long polling: a fetch loop. The server holds each request until a message after the
 * cursor exists (or `timeout` ms pass, then the answer is the cursor line alone). */
async function longPoll(c, signal, timeoutMs = 25000) {
  while (!signal.aborted) {
    c.requests++;
    try {
      c.state = "live";
      c.batch(await getText(`/longpoll?topic=${c.topic}${at(c)}&timeout=${timeoutMs}`, signal));
    } catch (e) {
      if (signal.aborted) return;
      c.error(e.message); c.reconnects++;
      await sleep(1000, signal);
    }
  }
}

/** Chunked streaming: one fetch whose body is read as it arrives. A message may be split
 * across reads (and a read may hold several), so text is cut at newlines and the remainder
 * kept. A body that ends without its last chunk (the server cut a slow consumer) makes
 * read() reject; either way the stream is asked for again after the newest number. */
async function stream(c, signal) {
  while (!signal.aborted) {
    c.requests++;
    try {
      const res = await fetch(`/stream?topic=${c.topic}${at(c)}`, { signal, cache: "no-store" });
      if (!res.ok) throw new Error(`${res.status}: ${(await res.text()).trim()}`);
      c.state = "live";
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let rest = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        rest += value;
        let nl;
        while ((nl = rest.indexOf("\n")) >= 0) {
          c.message(rest.slice(0, nl));
          rest = rest.slice(nl + 1);
        }
      }
      c.note = "the stream ended";
    } catch (e) {
      if (signal.aborted) return;
      c.error(e.message);
    }
    c.state = "connecting"; c.reconnects++;
    await sleep(1000, signal);
  }
}

/** Server-Sent Events. EventSource cannot send Last-Event-ID on its first request, so the
 * starting point goes in the URL (`cursor`); on its own reconnects it sends the id of the
 * last event it saw, which the server prefers to the URL's cursor. When the browser gives
 * up (readyState CLOSED: an answer that is not a 200 event stream), a new EventSource
 * starts after the newest number. */
function sse(c, signal) {
  if (signal.aborted) return;
  c.requests++;
  const es = new EventSource(`/sse?topic=${c.topic}${at(c)}`);
  signal.addEventListener("abort", () => es.close(), { once: true });
  es.onopen = () => { c.state = "live"; };
  es.onmessage = (e) => c.message(e.data);
  es.onerror = () => {
    if (es.readyState === EventSource.CONNECTING) {
      // The browser reconnects by itself, after the stream's `retry:` (or its default).
      c.state = "connecting"; c.reconnects++; c.requests++;
      c.note = "EventSource reconnecting";
    } else {
      es.close();
      c.error("EventSource closed; starting a new one");
      c.state = "connecting"; c.reconnects++;
      sleep(1000, signal).then(() => sse(c, signal));
    }
  };
}

/** WebSocket: one text frame per message. The close code says why a socket ended: 1001 the
 * server is shutting down, 1008 this client fell too far behind (a slow consumer), 1006
 * the connection broke without a close frame. Each is counted; the socket is opened again
 * after the newest number. */
function webSocket(c, signal) {
  if (signal.aborted) return;
  c.requests++;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws?topic=${c.topic}${at(c)}`);
  signal.addEventListener("abort", () => ws.close(1000), { once: true });
  ws.onopen = () => { c.state = "live"; };
  ws.onmessage = (e) => c.message(e.data);
  ws.onclose = (e) => {
    if (signal.aborted) return;
    c.note = `closed ${e.code}${e.reason ? " " + e.reason : ""}`;
    if (e.code !== 1000) c.errors++;
    c.state = "connecting"; c.reconnects++;
    sleep(1000, signal).then(() => webSocket(c, signal));
  };
}

