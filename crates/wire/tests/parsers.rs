//! Property tests for the parsers in `pushbench-wire`: poll batches, envelope headers, publish
//! bodies, Server-Sent Events and the raw stream's lines.
//!
//! Two kinds of property: no parser panics on arbitrary bytes, and input written by hand from
//! the rules of `docs/protocol.md` (and the WHATWG event-stream syntax) parses back to what it
//! was built from. The expected values never come from running the encoder under test, except
//! where the property is precisely that the encoder writes the documented bytes.
//!
//! Case counts are bounded so the file runs in a few seconds in a debug build; raise them with
//! `PROPTEST_CASES=10000 cargo test -p pushbench-wire --test parsers`.

use bytes::BytesMut;
use proptest::prelude::*;
use pushbench_wire::raw;
use pushbench_wire::sse::{Event, HEARTBEAT, encode_event, next_event};
use pushbench_wire::{
    HEADER_LEN, Header, PUBLISH_HEADER_LEN, WireError, encode_batch_head, encode_message,
    encode_publish, parse_batch, parse_decimal, parse_header, parse_publish,
};

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

/// Printable ASCII (0x20-0x7e): what a payload, and so a whole message, is made of.
fn printable(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0x20u8..0x7f, 0..max)
}

/// Bytes biased towards the characters the parsers look for, so that arbitrary input reaches
/// past the first check more often than uniformly random bytes would.
fn wire_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => any::<u8>(),
        2 => prop::sample::select(&b"\n\r: 0123456789abcdefidat"[..]),
    ];
    prop::collection::vec(byte, 0..max)
}

/// `u64`s with the edges (0, 1, all ones, powers of 16) more likely than uniform sampling.
fn any_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => any::<u64>(),
        1 => 0u64..1000,
        1 => (0u32..64).prop_map(|s| 1u64 << s),
        1 => Just(u64::MAX),
    ]
}

/// The envelope written from the table in `docs/protocol.md`: 16 lowercase hex digits, a
/// space, 16 more, a space, the payload.
fn message_by_hand(seq: u64, sent_ns: u64, payload: &[u8]) -> Vec<u8> {
    let mut m = format!("{seq:016x} {sent_ns:016x} ").into_bytes();
    m.extend_from_slice(payload);
    m
}

// ---------------------------------------------------------------------------------------
// Never panics on arbitrary input.

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn parse_batch_never_panics(body in wire_bytes(256)) {
        if let Ok((_, lines)) = parse_batch(&body) {
            for line in lines {
                prop_assert!(!line.is_empty());
                prop_assert!(!line.contains(&b'\n'));
                // A batch line is handed straight to the envelope parser.
                let _ = parse_header(line);
            }
        }
    }

    #[test]
    fn parse_header_never_panics(msg in wire_bytes(80)) {
        match parse_header(&msg) {
            Ok(_) => prop_assert!(msg.len() >= HEADER_LEN),
            Err(WireError::Short(n)) => prop_assert_eq!(n, msg.len()),
            Err(_) => {}
        }
    }

    #[test]
    fn parse_publish_never_panics(body in wire_bytes(80)) {
        if parse_publish(&body).is_ok() {
            prop_assert!(body.len() >= PUBLISH_HEADER_LEN);
            prop_assert!(body.iter().all(|b| (0x20..0x7f).contains(b)));
        }
    }

    #[test]
    fn parse_decimal_agrees_with_std(digits in wire_bytes(21)) {
        // `str::parse::<u64>` also takes a leading `+`, which the protocol does not.
        let std = std::str::from_utf8(&digits)
            .ok()
            .filter(|s| !s.starts_with('+'))
            .and_then(|s| s.parse::<u64>().ok());
        prop_assert_eq!(parse_decimal(&digits), std);
    }

    #[test]
    fn next_event_never_panics(buf in wire_bytes(256)) {
        // Walk the whole buffer as the SSE client does: each event starts where the last ended.
        let mut pos = 0;
        while let Ok(Some((used, event))) = next_event(&buf[pos..]) {
            prop_assert!(used > 0, "an event takes up at least its blank line");
            prop_assert!(pos + used <= buf.len());
            if let Some(data) = event.data {
                prop_assert!(!data.contains(&b'\n'));
            }
            pos += used;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Envelope and publish bodies.

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn envelope_header_round_trips(seq in any_u64(), sent_ns in any_u64(), payload in printable(64)) {
        let msg = message_by_hand(seq, sent_ns, &payload);
        prop_assert_eq!(msg.len(), HEADER_LEN + payload.len());
        prop_assert_eq!(parse_header(&msg), Ok(Header { seq, sent_ns }));

        // The encoder writes exactly the documented bytes.
        let mut out = BytesMut::new();
        encode_message(seq, sent_ns, &payload, &mut out);
        prop_assert_eq!(&out[..], &msg[..]);
    }

    #[test]
    fn envelope_header_with_a_non_hex_digit_is_rejected(
        seq in any_u64(),
        sent_ns in any_u64(),
        at in prop_oneof![0usize..16, 17usize..33],
        bad in any::<u8>().prop_filter("not lowercase hex", |b| !matches!(b, b'0'..=b'9' | b'a'..=b'f')),
    ) {
        let mut msg = message_by_hand(seq, sent_ns, b"x");
        msg[at] = bad;
        let field = if at < 16 { "seq" } else { "sent_ns" };
        prop_assert_eq!(parse_header(&msg), Err(WireError::BadField(field)));
    }

    #[test]
    fn publish_body_round_trips(sent_ns in any_u64(), payload in printable(64)) {
        let mut body = format!("{sent_ns:016x} ").into_bytes();
        body.extend_from_slice(&payload);
        prop_assert_eq!(parse_publish(&body), Ok(sent_ns));

        let mut out = BytesMut::new();
        encode_publish(sent_ns, &payload, &mut out);
        prop_assert_eq!(&out[..], &body[..]);

        // The server stores `<seq> ` + body as the message.
        let mut msg = format!("{:016x} ", 7).into_bytes();
        msg.extend_from_slice(&body);
        prop_assert_eq!(parse_header(&msg), Ok(Header { seq: 7, sent_ns }));
    }
}

// ---------------------------------------------------------------------------------------
// Poll and long-poll batches.

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn batch_round_trips(
        cursor in any_u64(),
        messages in prop::collection::vec((any_u64(), any_u64(), printable(48)), 0..12),
    ) {
        // `<cursor in decimal>\n` then every message followed by `\n` (docs/protocol.md).
        let mut body = format!("{cursor}\n").into_bytes();
        let mut want = Vec::new();
        for (seq, sent_ns, payload) in &messages {
            let mut m = BytesMut::new();
            encode_message(*seq, *sent_ns, payload, &mut m);
            body.extend_from_slice(&m);
            body.push(b'\n');
            want.push(m.to_vec());
        }
        let (got_cursor, lines) = parse_batch(&body).expect("a well-formed batch parses");
        prop_assert_eq!(got_cursor, cursor);
        let got: Vec<Vec<u8>> = lines.map(<[u8]>::to_vec).collect();
        prop_assert_eq!(&got, &want);
        for (line, (seq, sent_ns, _)) in got.iter().zip(&messages) {
            prop_assert_eq!(parse_header(line), Ok(Header { seq: *seq, sent_ns: *sent_ns }));
        }

        // The encoder writes the same cursor line.
        let mut head = BytesMut::new();
        encode_batch_head(cursor, &mut head);
        let line = format!("{cursor}\n");
        prop_assert_eq!(&head[..], line.as_bytes());
    }

    #[test]
    fn batch_cursor_line_must_be_plain_decimal(
        // At most 20 bytes: the longest u64 in decimal.
        first in wire_bytes(21).prop_map(|l| l.into_iter().filter(|&b| b != b'\n').collect::<Vec<u8>>()),
        rest in wire_bytes(64),
    ) {
        let decimal = (!first.is_empty() && first.iter().all(u8::is_ascii_digit))
            .then(|| std::str::from_utf8(&first).ok()?.parse::<u64>().ok())
            .flatten();
        let mut body = first.clone();
        body.push(b'\n');
        body.extend_from_slice(&rest);
        match (parse_batch(&body), decimal) {
            (Ok((cursor, _)), Some(want)) => prop_assert_eq!(cursor, want),
            (Err(e), None) => prop_assert_eq!(e, WireError::BadCursor),
            (got, want) => prop_assert!(false, "cursor line {:?}: got {:?}, want {:?}",
                String::from_utf8_lossy(&first), got.map(|(c, _)| c), want),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Server-Sent Events.

/// One item of an event stream as the server may send it.
#[derive(Debug, Clone)]
enum Item {
    /// `id: <seq>` and `data: <message>`.
    Event { seq: u64, message: Vec<u8> },
    /// The `:` comment block pushbench sends as heartbeat.
    Heartbeat,
}

/// How one event is written; each choice is one the event-stream syntax allows.
#[derive(Debug, Clone)]
struct Style {
    /// `\r\n` instead of `\n` after each line (one flag per line: id, data, blank).
    crlf: [bool; 3],
    /// Whether to write the optional space after the colon (only when the value does not
    /// itself start with a space, where dropping it would change the value).
    space: [bool; 2],
    /// `data` before `id`: field order within an event does not matter.
    data_first: bool,
    /// A comment line at the start of the event, which receivers ignore.
    comment: Option<Vec<u8>>,
}

fn style() -> impl Strategy<Value = Style> {
    (
        any::<[bool; 3]>(),
        any::<[bool; 2]>(),
        any::<bool>(),
        prop::option::weighted(0.2, printable(12)),
    )
        .prop_map(|(crlf, space, data_first, comment)| Style {
            crlf,
            space,
            data_first,
            comment,
        })
}

fn item() -> impl Strategy<Value = (Item, Style)> {
    let item = prop_oneof![
        // A real message is at least an envelope header; any printable bytes will do here.
        4 => (any_u64(), printable(80)).prop_map(|(seq, message)| Item::Event { seq, message }),
        1 => Just(Item::Heartbeat),
    ];
    (item, style())
}

fn eol(crlf: bool) -> &'static [u8] {
    if crlf { b"\r\n" } else { b"\n" }
}

/// Writes one item per the WHATWG event-stream syntax.
fn write_item(item: &Item, style: &Style, out: &mut Vec<u8>) {
    if let Some(c) = &style.comment {
        out.push(b':');
        out.extend_from_slice(c);
        out.extend_from_slice(eol(style.crlf[0]));
    }
    match item {
        Item::Heartbeat => {
            out.push(b':');
            out.extend_from_slice(eol(style.crlf[1]));
        }
        Item::Event { seq, message } => {
            let mut id = b"id:".to_vec();
            if style.space[0] {
                id.push(b' ');
            }
            id.extend_from_slice(seq.to_string().as_bytes());
            id.extend_from_slice(eol(style.crlf[0]));
            let mut data = b"data:".to_vec();
            if style.space[1] || message.first() == Some(&b' ') {
                data.push(b' ');
            }
            data.extend_from_slice(message);
            data.extend_from_slice(eol(style.crlf[1]));
            if style.data_first {
                out.extend_from_slice(&data);
                out.extend_from_slice(&id);
            } else {
                out.extend_from_slice(&id);
                out.extend_from_slice(&data);
            }
        }
    }
    out.extend_from_slice(eol(style.crlf[2]));
}

/// Cut points in `0..=len`, sorted, for feeding a stream in pieces.
fn cuts(len: usize, raw: &[prop::sample::Index]) -> Vec<usize> {
    let mut c: Vec<usize> = raw.iter().map(|i| i.index(len + 1)).collect();
    c.sort_unstable();
    c
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn sse_events_split_anywhere_come_back_in_order(
        items in prop::collection::vec(item(), 0..12),
        raw_cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..16),
    ) {
        let mut stream = Vec::new();
        for (item, style) in &items {
            write_item(item, style, &mut stream);
        }
        let want: Vec<(Option<u64>, Option<Vec<u8>>)> = items
            .iter()
            .map(|(item, _)| match item {
                Item::Event { seq, message } => (Some(*seq), Some(message.clone())),
                Item::Heartbeat => (None, None),
            })
            .collect();

        // Feed the stream in pieces, consuming complete events after each, as the SSE client
        // does with the de-chunked body.
        let mut buf = Vec::new();
        let mut got = Vec::new();
        let mut start = 0;
        for end in cuts(stream.len(), &raw_cuts).into_iter().chain([stream.len()]) {
            buf.extend_from_slice(&stream[start..end]);
            start = end;
            loop {
                let next = next_event(&buf);
                prop_assert!(next.is_ok(), "error {:?} on {:?}", next, String::from_utf8_lossy(&buf));
                let Some((used, Event { id, data })) = next.unwrap() else { break };
                prop_assert!(used <= buf.len());
                got.push((id, data.map(<[u8]>::to_vec)));
                buf.drain(..used);
            }
        }
        prop_assert!(buf.is_empty(), "left over: {:?}", String::from_utf8_lossy(&buf));
        prop_assert_eq!(got, want);
    }

    #[test]
    fn encoder_writes_the_documented_event(seq in any_u64(), message in printable(64)) {
        let mut out = BytesMut::new();
        encode_event(seq, &message, &mut out);
        let mut want = format!("id: {seq}\ndata: ").into_bytes();
        want.extend_from_slice(&message);
        want.extend_from_slice(b"\n\n");
        prop_assert_eq!(&out[..], &want[..]);
        prop_assert_eq!(HEARTBEAT, b":\n\n");
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// The raw stream: a message is the envelope and one newline, `34 + n + 1` bytes for a
    /// payload of `n`, and nothing else.
    #[test]
    fn raw_encoder_writes_the_message_and_one_newline(
        seq in any_u64(), sent_ns in any_u64(), payload in printable(64),
    ) {
        let mut out = BytesMut::new();
        raw::encode(seq, sent_ns, &payload, &mut out);
        let mut want = message_by_hand(seq, sent_ns, &payload);
        want.push(b'\n');
        prop_assert_eq!(out.len(), 34 + payload.len() + 1);
        prop_assert_eq!(raw::frame_len(34 + payload.len()), out.len());
        prop_assert_eq!(&out[..], &want[..]);
    }

    #[test]
    fn raw_messages_split_anywhere_come_back_in_order(
        messages in prop::collection::vec((any_u64(), any_u64(), printable(48)), 0..12),
        raw_cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..16),
    ) {
        // Written by hand from docs/protocol.md: each message, then `\n`.
        let want: Vec<Vec<u8>> = messages
            .iter()
            .map(|(seq, sent, payload)| message_by_hand(*seq, *sent, payload))
            .collect();
        let stream: Vec<u8> = want.iter().flat_map(|m| m.iter().copied().chain([b'\n'])).collect();
        // Fed in pieces, consuming whole messages after each, as the raw client does.
        let mut lines = raw::Lines::new(HEADER_LEN + 48);
        let mut buf = Vec::new();
        let mut got = Vec::new();
        let mut start = 0;
        for end in cuts(stream.len(), &raw_cuts).into_iter().chain([stream.len()]) {
            buf.extend_from_slice(&stream[start..end]);
            start = end;
            while let Some(n) = lines.next(&buf).expect("no message is too long") {
                got.push(buf[..n].to_vec());
                buf.drain(..=n);
            }
        }
        prop_assert!(buf.is_empty(), "left over: {:?}", String::from_utf8_lossy(&buf));
        prop_assert_eq!(got, want);
    }

    #[test]
    fn raw_lines_never_panic(buf in wire_bytes(256), max in 0usize..300) {
        let mut lines = raw::Lines::new(max);
        let mut buf = buf;
        while let Ok(Some(n)) = lines.next(&buf) {
            prop_assert_eq!(buf[n], b'\n');
            buf.drain(..=n);
        }
    }
}
