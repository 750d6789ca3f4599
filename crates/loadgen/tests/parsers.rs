//! Property tests for the parsers the load generator runs on server output (HTTP response
//! heads, chunked bodies, WebSocket frames, and the `pushbench-wire` parsers they feed) and
//! for the scenario loader.
//!
//! Two kinds of property: no parser panics on arbitrary input, and input written by hand from
//! the protocols' own rules (RFC 9112 for chunked bodies, RFC 6455 §5.2 for frames, the
//! `docs/scenarios.md` tables for scenarios) parses back to what it was built from. Expected
//! values never come from running the code under test.
//!
//! Case counts are bounded so the file runs in a few seconds in a debug build; raise them with
//! `PROPTEST_CASES=10000 cargo test -p pushbench-loadgen --test parsers`.

use bytes::BytesMut;
use proptest::prelude::*;
use proptest::sample::Index;
use pushbench_loadgen::parsers::{
    Chunked, Head, encode_client_frame, next_event, next_frame, parse_batch, parse_head,
    parse_header,
};
use pushbench_loadgen::scenario::PollSchedule;
use pushbench_loadgen::{LoadgenError, Pattern, ServerRuntimeKind, TransportKind};
use std::path::Path;
use std::time::Duration;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        // An explicit PROPTEST_CASES in the environment wins over the bounded default.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(cases),
        // Shrunk failures are printed, not saved next to the sources.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Bytes biased towards `alphabet`, so that arbitrary input reaches past a parser's first
/// check more often than uniformly random bytes would.
fn bytes_biased(alphabet: &'static [u8], max: usize) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        1 => any::<u8>(),
        2 => prop::sample::select(alphabet),
    ];
    prop::collection::vec(byte, 0..max)
}

/// Sorted cut points in `0..=len`, for feeding a stream in pieces.
fn cuts(len: usize, raw: &[Index]) -> Vec<usize> {
    let mut c: Vec<usize> = raw.iter().map(|i| i.index(len + 1)).collect();
    c.push(len);
    c.sort_unstable();
    c
}

/// Deterministic filler for large payloads (a proptest strategy per byte is slow at 70 kB).
fn filler(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Never panics on arbitrary input.

/// Feeds `input` to a fresh decoder in the pieces given by `cut_at`, as the client does with
/// whatever each read returned, stopping at the first error. Returns the decoded bytes, the
/// final state, what is left in the source buffer, and how many input bytes were fed, or
/// `None` for that when the decoder reported an error.
fn decode_in_pieces(input: &[u8], cut_at: &[usize]) -> (Vec<u8>, Chunked, Vec<u8>, Option<usize>) {
    let mut state = Chunked::default();
    let mut src = BytesMut::new();
    let mut dst = BytesMut::new();
    let mut start = 0;
    for &end in cut_at {
        src.extend_from_slice(&input[start..end]);
        start = end;
        let before = dst.len();
        let r = state.decode(&mut src, &mut dst);
        assert!(dst.len() >= before, "decoded bytes are never taken back");
        if r.is_err() {
            return (dst.to_vec(), state, src.to_vec(), None);
        }
    }
    (dst.to_vec(), state, src.to_vec(), Some(start))
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn chunked_never_panics(
        input in bytes_biased(b"0123456789abcdefABCDEF; =\"\r\n\r\n", 256),
        raw_cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        let (dst, state, src, fed) = decode_in_pieces(&input, &cuts(input.len(), &raw_cuts));
        prop_assert!(dst.len() <= input.len(), "more data out than bytes in");
        if let Some(fed) = fed {
            prop_assert_eq!(fed, input.len());
            prop_assert!(input.ends_with(&src), "the decoder only consumes from the front");
        }
        if state == Chunked::Done {
            // Nothing more is decoded once the last chunk has been seen.
            let mut again = BytesMut::from(&b"5\r\nhello\r\n"[..]);
            let mut out = BytesMut::new();
            let mut s = state;
            prop_assert!(s.decode(&mut again, &mut out).is_ok());
            prop_assert!(out.is_empty());
            prop_assert_eq!(s, Chunked::Done);
        }
    }

    #[test]
    fn parse_head_never_panics(
        buf in bytes_biased(b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\ntransfer-encoding: chunked\r\n:", 512),
    ) {
        if let Ok(Some(head)) = parse_head(&buf) {
            prop_assert!(head.len <= buf.len());
        }
    }

    #[test]
    fn next_frame_never_panics(
        first in prop::sample::select(&[0x81u8, 0x82, 0x88, 0x89, 0x8a, 0x01, 0x80, 0xc1][..]),
        second in prop_oneof![any::<u8>(), Just(126u8), Just(127u8)],
        rest in prop::collection::vec(any::<u8>(), 0..300),
        raw in prop::collection::vec(any::<u8>(), 0..64),
        use_raw in any::<bool>(),
    ) {
        let buf = if use_raw {
            raw
        } else {
            [vec![first, second], rest].concat()
        };
        if let Ok(Some(f)) = next_frame(&buf) {
            prop_assert!(f.len <= buf.len());
            prop_assert!(f.payload.start <= f.payload.end);
            prop_assert_eq!(f.payload.end, f.len);
            prop_assert!([2, 4, 10].contains(&f.payload.start));
            prop_assert_eq!(f.opcode, buf[0] & 0x0f);
            // What the WebSocket client does with a text frame's payload.
            let _ = parse_header(&buf[f.payload]);
        }
    }

    #[test]
    fn wire_parsers_never_panic_on_decoded_bodies(
        body in bytes_biased(b"0123456789abcdef :\nid: data: \r\n", 256),
    ) {
        if let Ok((_, lines)) = parse_batch(&body) {
            for l in lines {
                let _ = parse_header(l);
            }
        }
        let mut pos = 0;
        while let Ok(Some((used, _))) = next_event(&body[pos..]) {
            prop_assert!(used > 0 && pos + used <= body.len());
            pos += used;
        }
        let _ = pushbench_wire::parse_publish(&body);
    }

    #[test]
    fn scenario_parse_never_panics_on_arbitrary_text(text in any::<String>()) {
        let _ = pushbench_loadgen::scenario::parse(Path::new("fuzz.toml"), &text);
    }

    #[test]
    fn scenario_parse_never_panics_on_mangled_scenarios(
        s in scenario(),
        edits in prop::collection::vec((any::<Index>(), 0u8..3, any::<char>()), 1..6),
    ) {
        // Random insertions, deletions and replacements of whole characters (so the text
        // stays valid UTF-8, possibly with multi-byte characters) in a valid scenario.
        let mut chars: Vec<char> = s.text().chars().collect();
        for (at, op, c) in edits {
            let i = at.index(chars.len() + 1);
            match op {
                0 => chars.insert(i, c),
                1 if i < chars.len() => {
                    chars.remove(i);
                }
                _ if i < chars.len() => chars[i] = c,
                _ => chars.push(c),
            }
        }
        let text: String = chars.into_iter().collect();
        match pushbench_loadgen::scenario::parse(Path::new("fuzz.toml"), &text) {
            Ok(_) => {}
            Err(LoadgenError::Scenario { line, .. }) => {
                prop_assert!(line >= 1 && line <= text.lines().count().max(1) + 1, "line {}", line);
            }
            Err(e) => prop_assert!(false, "unexpected error kind: {}", e),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Chunked bodies written per RFC 9112 §7.1:
//   chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//   chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//   last-chunk = 1*("0") [ chunk-ext ] CRLF, then the (empty) trailer section and CRLF.

/// One `;name[=value]` extension, with optional whitespace around `;` and `=`.
fn chunk_ext() -> impl Strategy<Value = String> {
    let ws = prop::sample::select(&["", " ", "\t", "  "][..]);
    let token = "[a-zA-Z0-9!#$%&'*+.^_`|~-]{1,8}";
    let quoted = "[ a-zA-Z0-9;=,.]{0,8}".prop_map(|s| format!("\"{s}\""));
    let value = prop_oneof![token.prop_map(String::from), quoted];
    (
        ws.clone(),
        ws.clone(),
        token,
        prop::option::of((ws.clone(), ws, value)),
    )
        .prop_map(|(w1, w2, name, value)| match value {
            Some((w3, w4, v)) => format!("{w1};{w2}{name}{w3}={w4}{v}"),
            None => format!("{w1};{w2}{name}"),
        })
}

/// How one chunk-size line is written: hex case, leading zeros, extensions.
#[derive(Debug, Clone)]
struct SizeLine {
    upper: bool,
    zeros: usize,
    exts: Vec<String>,
}

fn size_line() -> impl Strategy<Value = SizeLine> {
    (
        any::<bool>(),
        // A few leading zeros only: the decoder caps a size at 12 hex digits.
        prop_oneof![4 => Just(0usize), 1 => 1usize..4],
        prop::collection::vec(chunk_ext(), 0..3),
    )
        .prop_map(|(upper, zeros, exts)| SizeLine { upper, zeros, exts })
}

fn write_size_line(size: usize, how: &SizeLine, out: &mut Vec<u8>) {
    let hex = if how.upper {
        format!("{size:X}")
    } else {
        format!("{size:x}")
    };
    out.extend(std::iter::repeat_n(b'0', how.zeros));
    out.extend_from_slice(hex.as_bytes());
    for e in &how.exts {
        out.extend_from_slice(e.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn chunked_body_in_random_pieces_decodes_to_the_original(
        chunks in prop::collection::vec(
            (prop_oneof![8 => 1usize..64, 2 => 64usize..600, 1 => 600usize..5000], any::<u64>(), size_line()),
            0..10,
        ),
        last in size_line(),
        raw_cuts in prop::collection::vec(any::<Index>(), 0..12),
    ) {
        let mut wire = Vec::new();
        let mut want = Vec::new();
        for (size, seed, how) in &chunks {
            let data = filler(*size, *seed);
            write_size_line(*size, how, &mut wire);
            wire.extend_from_slice(&data);
            wire.extend_from_slice(b"\r\n");
            want.extend_from_slice(&data);
        }
        write_size_line(0, &last, &mut wire);
        wire.extend_from_slice(b"\r\n");

        let (got, state, left, fed) = decode_in_pieces(&wire, &cuts(wire.len(), &raw_cuts));
        prop_assert!(fed.is_some(), "decoder rejected {:?}", String::from_utf8_lossy(&wire));
        prop_assert_eq!(state, Chunked::Done);
        prop_assert!(got == want, "decoded {} bytes, sent {}", got.len(), want.len());
        // At most the CRLF that ends the (empty) trailer section is left unread.
        prop_assert!(b"\r\n".ends_with(&left), "left over: {:?}", left);
    }
}

// ---------------------------------------------------------------------------------------
// HTTP/1.1 response heads (RFC 9112 §4, §6).

#[derive(Debug, Clone)]
struct HeadSpec {
    status: u16,
    reason: String,
    content_length: Option<usize>,
    chunked: Option<String>,
    extra: Vec<(String, String)>,
    /// Position among the extra headers of Content-Length and Transfer-Encoding.
    order: (Index, Index),
}

fn head_spec() -> impl Strategy<Value = HeadSpec> {
    let name = "x-[a-z0-9-]{1,12}|server|date|content-type|cache-control|connection|upgrade";
    let value = "[ -~]{0,24}".prop_map(|v| v.trim().to_string());
    (
        100u16..600,
        "[A-Za-z ]{0,16}",
        prop::option::of(prop_oneof![
            0usize..100_000,
            Just(0),
            any::<u32>().prop_map(|n| n as usize)
        ]),
        prop::option::of(prop::sample::select(&["chunked", "Chunked", "CHUNKED"][..])),
        prop::collection::vec((name, value), 0..8),
        any::<(Index, Index)>(),
    )
        .prop_map(
            |(status, reason, content_length, chunked, extra, order)| HeadSpec {
                status,
                reason,
                content_length,
                chunked: chunked.map(String::from),
                extra,
                order,
            },
        )
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn response_head_parses_to_its_fields(
        spec in head_spec(),
        cl_name in prop::sample::select(&["Content-Length", "content-length", "CONTENT-LENGTH"][..]),
        te_name in prop::sample::select(&["Transfer-Encoding", "transfer-encoding"][..]),
        body in prop::collection::vec(any::<u8>(), 0..32),
        // RFC 9112 §5: `field-name ":" OWS field-value OWS`.
        ows in prop::sample::select(&[("", ""), (" ", ""), ("", " "), ("\t", " \t"), ("  ", "  ")][..]),
    ) {
        let (pre, post) = ows;
        let mut fields: Vec<String> =
            spec.extra.iter().map(|(n, v)| format!("{n}: {v}")).collect();
        if let Some(n) = spec.content_length {
            let at = spec.order.0.index(fields.len() + 1);
            fields.insert(at, format!("{cl_name}:{pre}{n}{post}"));
        }
        if let Some(c) = &spec.chunked {
            let at = spec.order.1.index(fields.len() + 1);
            fields.insert(at, format!("{te_name}:{pre}{c}{post}"));
        }
        let mut head = format!("HTTP/1.1 {} {}\r\n", spec.status, spec.reason);
        for f in &fields {
            head.push_str(f);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let mut buf = head.clone().into_bytes();
        buf.extend_from_slice(&body);

        let got = parse_head(&buf).map_err(|e| e.to_string());
        let want = Head {
            status: spec.status,
            len: head.len(),
            content_length: spec.content_length,
            chunked: spec.chunked.is_some(),
        };
        prop_assert_eq!(got, Ok(Some(want)), "head {:?}", head);

        // Every strict prefix is an incomplete head, not an error.
        for end in 0..head.len() {
            let got = parse_head(&buf[..end]).map_err(|e| e.to_string());
            prop_assert_eq!(got, Ok(None), "prefix {:?}", &head[..end]);
        }
    }
}

// ---------------------------------------------------------------------------------------
// WebSocket frames (RFC 6455 §5.2), built by hand.

const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// The frame header: FIN and the opcode, then the payload length in the minimal form: 7 bits
/// up to 125, `126` and 16 bits up to 65,535, `127` and 64 bits above. `mask` sets the MASK
/// bit and appends the key.
fn frame_header(opcode: u8, len: usize, mask: Option<[u8; 4]>) -> Vec<u8> {
    let m = if mask.is_some() { 0x80 } else { 0 };
    let mut h = vec![0x80 | opcode];
    if len <= 125 {
        h.push(m | len as u8);
    } else if len <= 0xffff {
        h.push(m | 126);
        h.push((len >> 8) as u8);
        h.push(len as u8);
    } else {
        h.push(m | 127);
        for shift in (0..8).rev() {
            h.push((len as u64 >> (8 * shift)) as u8);
        }
    }
    if let Some(k) = mask {
        h.extend_from_slice(&k);
    }
    h
}

/// Payload lengths covering each length form and its edges.
fn frame_len() -> impl Strategy<Value = usize> {
    prop_oneof![
        3 => 0usize..=125,
        1 => prop::sample::select(&[0usize, 1, 125, 126, 127, 65_535, 65_536, 69_999][..]),
        2 => 126usize..=65_535,
        2 => 65_536usize..70_000,
    ]
}

/// An opcode and a payload length valid for it: control frames carry at most 125 bytes
/// (RFC 6455 §5.5).
fn opcode_and_len() -> impl Strategy<Value = (u8, usize)> {
    prop_oneof![
        3 => (prop::sample::select(&[OP_TEXT, OP_BINARY][..]), frame_len()),
        1 => (prop::sample::select(&[OP_CLOSE, OP_PING, OP_PONG][..]), 0usize..=125),
    ]
}

proptest! {
    #![proptest_config(config(96))]

    #[test]
    fn server_frame_parses_to_its_opcode_length_and_payload(
        (opcode, len) in opcode_and_len(),
        seed in any::<u64>(),
        trailing in prop::collection::vec(any::<u8>(), 0..16),
        prefixes in prop::collection::vec(any::<Index>(), 1..8),
    ) {
        let payload = filler(len, seed);
        let header = frame_header(opcode, len, None);
        let expected_header = match len {
            0..=125 => 2,
            126..=65_535 => 4,
            _ => 10,
        };
        prop_assert_eq!(header.len(), expected_header);
        let mut buf = header.clone();
        buf.extend_from_slice(&payload);
        let frame_len = buf.len();
        // Whatever follows the frame in the buffer (the next frame) does not matter.
        buf.extend_from_slice(&trailing);

        let f = next_frame(&buf)
            .map_err(|e| TestCaseError::fail(e.to_string()))?
            .expect("a whole frame is in the buffer");
        prop_assert_eq!(f.opcode, opcode);
        prop_assert_eq!(f.len, frame_len);
        prop_assert_eq!(f.payload.clone(), header.len()..frame_len);
        prop_assert!(buf[f.payload] == payload[..]);

        // A frame cut short anywhere is incomplete, not an error.
        for p in prefixes {
            let end = p.index(frame_len);
            let got = next_frame(&buf[..end]).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(got.is_none(), "prefix of {} bytes of {}", end, frame_len);
        }
    }

    #[test]
    fn client_frame_is_masked_per_rfc_6455(
        (opcode, len) in opcode_and_len(),
        seed in any::<u64>(),
        mask in any::<u32>(),
    ) {
        let payload = filler(len, seed);
        let mut out = Vec::new();
        encode_client_frame(opcode, &payload, mask, &mut out);
        let key = mask.to_be_bytes();
        let header = frame_header(opcode, len, Some(key));
        prop_assert_eq!(&out[..header.len()], &header[..]);
        prop_assert_eq!(out.len(), header.len() + len);
        // §5.3: octet i of the payload is XORed with octet i mod 4 of the key.
        let unmasked: Vec<u8> = out[header.len()..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 4])
            .collect();
        prop_assert!(unmasked == payload);
    }
}

// ---------------------------------------------------------------------------------------
// Scenarios, generated from the key tables of docs/scenarios.md.

/// A duration as written in a scenario file, with the value it stands for.
#[derive(Debug, Clone)]
struct Dur {
    text: String,
    value: Duration,
}

fn dur(max_secs: u64) -> impl Strategy<Value = Dur> {
    let ms = (1u64..=max_secs * 1000).prop_map(|n| Dur {
        text: format!("{n}ms"),
        value: Duration::from_millis(n),
    });
    let s = (1u64..=max_secs).prop_map(|n| Dur {
        text: format!("{n}s"),
        value: Duration::from_secs(n),
    });
    let us = (1u64..=1_000_000).prop_map(|n| Dur {
        text: format!("{n}us"),
        value: Duration::from_micros(n),
    });
    let m_s = (0u64..=(max_secs / 60).max(1), 0u64..60).prop_map(|(m, s)| Dur {
        text: format!("{m}m {s}s"),
        value: Duration::from_secs(m * 60 + s),
    });
    prop_oneof![ms, s, us, m_s].prop_filter("above zero", |d| !d.value.is_zero())
}

#[derive(Debug, Clone)]
struct TransportGen {
    kind: TransportKind,
    clients: u32,
    label: Option<String>,
    interval: Option<Dur>,
    schedule: Option<PollSchedule>,
    timeout: Option<Dur>,
}

#[derive(Debug, Clone)]
struct ScenarioGen {
    name: String,
    duration: Dur,
    warmup: Option<Dur>,
    ramp_up: Option<Dur>,
    repeat: Option<u32>,
    pattern: Option<Pattern>,
    /// The rate as written and its value.
    rate: (String, f64),
    payload_bytes: u64,
    topics: Option<u32>,
    loadgen: Option<(Option<u32>, Option<Dur>)>,
    server: Option<(Option<u32>, Option<u32>, Option<ServerRuntimeKind>)>,
    transports: Vec<TransportGen>,
}

/// A line of a generated file and the line number (1-based) of each `clients` key.
struct Rendered {
    lines: Vec<String>,
    clients_lines: Vec<usize>,
}

impl ScenarioGen {
    fn render(&self) -> Rendered {
        let mut l = Vec::new();
        let q = |s: &str| format!("\"{s}\"");
        l.push(format!("name = {}", q(&self.name)));
        l.push(format!("duration = {}", q(&self.duration.text)));
        if let Some(d) = &self.warmup {
            l.push(format!("warmup = {}", q(&d.text)));
        }
        if let Some(d) = &self.ramp_up {
            l.push(format!("ramp_up = {}", q(&d.text)));
        }
        if let Some(r) = self.repeat {
            l.push(format!("repeat = {r}"));
        }
        l.push(String::new());
        l.push("[workload]".into());
        if let Some(p) = self.pattern {
            let p = match p {
                Pattern::Broadcast => "broadcast",
                Pattern::Echo => "echo",
            };
            l.push(format!("pattern = {}", q(p)));
        }
        l.push(format!("rate = {}", self.rate.0));
        l.push(format!("payload_bytes = {}", self.payload_bytes));
        if let Some(t) = self.topics {
            l.push(format!("topics = {t}"));
        }
        if let Some((threads, backoff)) = &self.loadgen {
            l.push(String::new());
            l.push("[loadgen]".into());
            if let Some(t) = threads {
                l.push(format!("threads = {t}"));
            }
            if let Some(b) = backoff {
                l.push(format!("reconnect_backoff = {}", q(&b.text)));
            }
        }
        if let Some((threads, ring, runtime)) = &self.server {
            l.push(String::new());
            l.push("[server]".into());
            if let Some(t) = threads {
                l.push(format!("threads = {t}"));
            }
            if let Some(r) = ring {
                l.push(format!("ring_capacity = {r}"));
            }
            if let Some(r) = runtime {
                l.push(format!("runtime = {}", q(r.name())));
            }
        }
        let mut clients_lines = Vec::new();
        for t in &self.transports {
            l.push(String::new());
            l.push("[[transports]]".into());
            l.push(format!("kind = {}", q(t.kind.name())));
            l.push(format!("clients = {}", t.clients));
            clients_lines.push(l.len());
            if let Some(label) = &t.label {
                l.push(format!("label = {}", q(label)));
            }
            if let Some(d) = &t.interval {
                l.push(format!("interval = {}", q(&d.text)));
            }
            if let Some(s) = t.schedule {
                let s = match s {
                    PollSchedule::FixedRate => "fixed-rate",
                    PollSchedule::FixedDelay => "fixed-delay",
                };
                l.push(format!("schedule = {}", q(s)));
            }
            if let Some(d) = &t.timeout {
                l.push(format!("timeout = {}", q(&d.text)));
            }
        }
        Rendered {
            lines: l,
            clients_lines,
        }
    }

    fn text(&self) -> String {
        let mut t = self.render().lines.join("\n");
        t.push('\n');
        t
    }
}

fn transport(duration: Duration) -> impl Strategy<Value = TransportGen> {
    (
        prop::sample::select(&TransportKind::ALL[..]),
        prop_oneof![1u32..=1000, Just(1), Just(1000)],
        any::<bool>(),
        prop::option::of(dur(120)),
        prop::option::of(prop::sample::select(
            &[PollSchedule::FixedRate, PollSchedule::FixedDelay][..],
        )),
        prop::option::of(dur(3600)),
    )
        .prop_map(
            move |(kind, clients, labelled, interval, schedule, timeout)| TransportGen {
                kind,
                clients,
                label: labelled.then_some(String::new()),
                // `interval` and `schedule` belong to poll only, `timeout` to long-poll only;
                // an interval must not exceed the measured duration.
                interval: interval.filter(|d| kind == TransportKind::Poll && d.value <= duration),
                schedule: schedule.filter(|_| kind == TransportKind::Poll),
                timeout: timeout.filter(|d| {
                    kind == TransportKind::LongPoll && d.value <= Duration::from_secs(3600)
                }),
            },
        )
}

fn scenario() -> impl Strategy<Value = ScenarioGen> {
    dur(60).prop_flat_map(|duration| {
        let head = (
            "[a-zA-Z0-9][a-zA-Z0-9._-]{0,15}",
            prop::option::of(dur(10)),
            prop::option::of(dur(10)),
            prop::option::of(1u32..=5),
        );
        let workload = (
            prop::option::of(prop::sample::select(
                &[Pattern::Broadcast, Pattern::Echo][..],
            )),
            prop_oneof![
                (1u32..=100_000).prop_map(|n| (n.to_string(), f64::from(n))),
                (0u32..1000).prop_map(|n| {
                    let v = f64::from(n) + 0.25;
                    (format!("{v}"), v)
                }),
            ],
            prop_oneof![0u64..=4096, Just(1 << 20)],
            prop::option::of(1u32..=100),
        );
        let sections = (
            prop::option::of((prop::option::of(1u32..=64), prop::option::of(dur(5)))),
            prop::option::of((
                prop::option::of(1u32..=1024),
                prop::option::of(1u32..=1_000_000),
                prop::option::of(prop_oneof![
                    Just(ServerRuntimeKind::Shared),
                    Just(ServerRuntimeKind::PerCore)
                ]),
            )),
        );
        let transports = prop::collection::vec(transport(duration.value), 1..6);
        (Just(duration), head, workload, sections, transports).prop_map(
            |(duration, head, workload, sections, mut transports)| {
                let (name, warmup, ramp_up, repeat) = head;
                let (pattern, rate, payload_bytes, topics) = workload;
                // Labels must be unique: a labelled entry gets one naming its position, and an
                // unlabelled one whose kind already appeared is labelled too.
                let mut seen = Vec::new();
                for (i, t) in transports.iter_mut().enumerate() {
                    if t.label.is_some() || seen.contains(&t.kind) {
                        t.label = Some(format!("{}-{i}", t.kind.name()));
                    }
                    seen.push(t.kind);
                }
                ScenarioGen {
                    name,
                    duration,
                    warmup,
                    ramp_up,
                    repeat,
                    pattern,
                    rate,
                    payload_bytes,
                    // `topics` is for broadcast only.
                    topics: topics.filter(|_| pattern != Some(Pattern::Echo)),
                    loadgen: sections.0,
                    server: sections.1,
                    transports,
                }
            },
        )
    })
}

/// The keys each table of a scenario file knows (docs/scenarios.md), by header.
const TABLES: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "name",
            "duration",
            "warmup",
            "ramp_up",
            "repeat",
            "workload",
            "loadgen",
            "server",
            "transports",
        ],
    ),
    (
        "[workload]",
        &["pattern", "rate", "payload_bytes", "topics"],
    ),
    ("[loadgen]", &["threads", "reconnect_backoff"]),
    ("[server]", &["threads", "ring_capacity", "runtime"]),
    (
        "[[transports]]",
        &[
            "kind", "label", "clients", "interval", "schedule", "timeout",
        ],
    ),
];

/// The keys the table a line inserted before `lines[at]` would belong to knows.
fn known_at(lines: &[String], at: usize) -> &'static [&'static str] {
    let header = lines[..at]
        .iter()
        .rev()
        .find(|l| l.starts_with('['))
        .map_or("", String::as_str);
    TABLES
        .iter()
        .find(|(h, _)| *h == header)
        .expect("generated headers are known")
        .1
}

/// A key to insert: a random name, or one that is known in some other table.
fn candidate_key() -> impl Strategy<Value = String> {
    let all: Vec<&str> = TABLES.iter().flat_map(|(_, k)| k.iter().copied()).collect();
    prop_oneof![
        "[a-z][a-z0-9_-]{0,11}",
        prop::sample::select(all).prop_map(String::from),
    ]
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn generated_scenarios_parse_to_what_they_say(s in scenario()) {
        let text = s.text();
        let rendered = s.render();
        let got = pushbench_loadgen::scenario::parse(Path::new("gen.toml"), &text);
        prop_assert!(got.is_ok(), "{}\n---\n{}", got.unwrap_err(), text);
        let got = got.unwrap();

        prop_assert_eq!(&got.name, &s.name);
        prop_assert_eq!(got.duration, s.duration.value);
        let or = |d: &Option<Dur>, default: Duration| d.as_ref().map_or(default, |d| d.value);
        prop_assert_eq!(got.warmup, or(&s.warmup, Duration::from_secs(1)));
        prop_assert_eq!(got.ramp_up, or(&s.ramp_up, Duration::from_secs(1)));
        prop_assert_eq!(got.repeat, s.repeat.unwrap_or(1));
        prop_assert_eq!(got.workload.pattern, s.pattern.unwrap_or(Pattern::Broadcast));
        prop_assert_eq!(got.workload.rate, s.rate.1);
        prop_assert_eq!(got.workload.payload_bytes as u64, s.payload_bytes);
        prop_assert_eq!(got.workload.topics, s.topics.unwrap_or(1));
        if let Some(Some(t)) = s.loadgen.as_ref().map(|l| l.0) {
            prop_assert_eq!(got.loadgen_threads, t as usize);
        }
        let backoff = s.loadgen.as_ref().and_then(|l| l.1.clone());
        prop_assert_eq!(got.reconnect_backoff, or(&backoff, Duration::from_millis(100)));
        prop_assert_eq!(got.server_threads, s.server.and_then(|v| v.0).map(|t| t as usize));
        prop_assert_eq!(got.ring_capacity, s.server.and_then(|v| v.1).map_or(4096, |r| r as usize));
        prop_assert_eq!(got.server_runtime, s.server.and_then(|v| v.2));

        prop_assert_eq!(got.transports.len(), s.transports.len());
        // The written order, but the baseline kind's entries first (docs/scenarios.md).
        let (first, rest): (Vec<usize>, Vec<usize>) =
            (0..s.transports.len()).partition(|&i| s.transports[i].kind == TransportKind::Raw);
        for (g, i) in got.transports.iter().zip(first.into_iter().chain(rest)) {
            let t = &s.transports[i];
            prop_assert_eq!(g.entry, i);
            prop_assert_eq!(g.kind, t.kind);
            prop_assert_eq!(g.clients, t.clients);
            prop_assert_eq!(g.clients_line, rendered.clients_lines[i]);
            let label = t.label.clone().unwrap_or_else(|| t.kind.name().to_string());
            prop_assert_eq!(&g.label, &label);
            prop_assert_eq!(g.interval, or(&t.interval, Duration::from_secs(1)));
            prop_assert_eq!(g.schedule, t.schedule.unwrap_or(PollSchedule::FixedRate));
            prop_assert_eq!(g.timeout, or(&t.timeout, Duration::from_secs(30)));
        }
    }

    #[test]
    fn unknown_key_anywhere_is_rejected_naming_it(
        s in scenario(),
        key in candidate_key(),
        value in prop::sample::select(&["1", "\"x\"", "true", "\"10s\"", "2.5", "[1, 2]"][..]),
        at in any::<Index>(),
    ) {
        let mut lines = s.render().lines;
        let at = at.index(lines.len() + 1);
        // Unknown where it lands, even if another table knows it (`threads` at the top level).
        prop_assume!(!known_at(&lines, at).contains(&key.as_str()));
        lines.insert(at, format!("{key} = {value}"));
        let text = lines.join("\n") + "\n";
        match pushbench_loadgen::scenario::parse(Path::new("dir/gen.toml"), &text) {
            Err(e @ LoadgenError::Scenario { .. }) => {
                let shown = e.to_string();
                let LoadgenError::Scenario { path, line, key: got, .. } = e else { unreachable!() };
                prop_assert_eq!(&got, &key, "{}\n---\n{}", shown, text);
                prop_assert_eq!(line, at + 1, "{}\n---\n{}", shown, text);
                prop_assert_eq!(path, Path::new("dir/gen.toml"));
                let prefix = format!("dir/gen.toml:{}: {key}:", at + 1);
                prop_assert!(shown.starts_with(&prefix), "{}", shown);
            }
            Err(e) => prop_assert!(false, "unexpected error kind: {}", e),
            Ok(_) => prop_assert!(false, "unknown key `{}` accepted:\n{}", key, text),
        }
    }
}
