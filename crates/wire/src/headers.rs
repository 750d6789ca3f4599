//! Extra HTTP header fields: what a scenario may add to the load generator's requests
//! (`[http] request_headers`) and to the server's answers (`response_headers` of
//! `POST /control/workload`). Both sides check them with the same rules, defined once here:
//! a field must be a plain `Name: value` line whose bytes on the wire are exactly
//! [`field_bytes`], and it must not be one the connection itself depends on.

use thiserror::Error;

/// At most this many extra fields in one list.
pub const MAX_FIELDS: usize = 64;

/// At most this many bytes of extra fields in one list, counted as on the wire
/// ([`field_bytes`]): far below the server's 16 KiB request-head limit, so a request with
/// every extra field still fits beside its request line and the client's own fields.
pub const MAX_FIELD_BYTES: usize = 8192;

/// Which message the fields go into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A request of the load generator.
    Request,
    /// An answer of the server.
    Response,
    /// A request of the load generator to a target (a server pushbench did not write),
    /// whose protocol may need fields pushbench's own does not: `TE: chunked` to ask nchan
    /// for a chunked stream, a publish's `Content-Type`.
    TargetRequest,
}

/// Why a list of extra fields is refused; one line, for a scenario error or a `400` reason.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FieldError {
    /// The name is not an HTTP token.
    #[error(
        "header name {0:?} is not a token (RFC 9110 §5.6.2: letters, digits and !#$%&'*+-.^_`|~)"
    )]
    BadName(String),
    /// The value holds something other than visible ASCII and inner spaces.
    #[error(
        "header {0}: expected a value of visible ASCII characters and spaces, without a space at either end"
    )]
    BadValue(String),
    /// The connection itself sets this field.
    #[error("header {name}: {why}")]
    Owned {
        /// The name as given.
        name: String,
        /// Who sets it instead.
        why: &'static str,
    },
    /// The same name twice (only Set-Cookie may repeat).
    #[error("header {0} is given twice")]
    Twice(String),
    /// More than [`MAX_FIELDS`] fields.
    #[error("{0} header fields; at most {MAX_FIELDS}")]
    TooMany(usize),
    /// More than [`MAX_FIELD_BYTES`] bytes.
    #[error("header fields of {0} bytes; at most {MAX_FIELD_BYTES}")]
    TooLarge(usize),
}

/// Bytes the line `Name: value\r\n` takes on the wire.
pub fn field_bytes(name: &str, value: &str) -> usize {
    name.len() + 2 + value.len() + 2
}

const FRAMING: &str =
    "the connection's own framing or hop-by-hop field (RFC 9110 §7.6.1), set by HTTP itself";

/// The fields a list may not hold, with the reason; names in lowercase.
fn owner(direction: Direction, name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    let framing = [
        "connection",
        "content-length",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ];
    let asks_for_chunks = direction == Direction::TargetRequest && lower == "te";
    if framing.contains(&lower.as_str()) && !asks_for_chunks {
        return Some(FRAMING);
    }
    if lower.starts_with("sec-websocket-") {
        return Some("part of the WebSocket handshake, which the client and server write");
    }
    match (direction, lower.as_str()) {
        (Direction::Request | Direction::TargetRequest, "host") => {
            Some("the client writes the server's address")
        }
        (Direction::Request | Direction::TargetRequest, "expect") => {
            Some("the client never waits for 100 Continue")
        }
        (Direction::Request, "content-type") => {
            Some("the publisher labels its body itself (text/plain)")
        }
        (Direction::Request, "last-event-id") => Some("the SSE client resumes with it"),
        (Direction::Response, "content-type") => Some("each endpoint sets its own"),
        (Direction::Response, "date") => Some("the server writes the current date on every answer"),
        _ => None,
    }
}

/// Checks one field: a token for a name (RFC 9110 §5.6.2), visible ASCII and inner spaces
/// for a value (no tabs, no obs-text, no space at either end, so the line's length is
/// exactly [`field_bytes`] however a parser trims), and not a field the connection owns.
pub fn check_field(direction: Direction, name: &str, value: &str) -> Result<(), FieldError> {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(tchar) {
        return Err(FieldError::BadName(name.to_string()));
    }
    let visible = value.bytes().all(|b| (0x20..=0x7e).contains(&b));
    if !visible || value.starts_with(' ') || value.ends_with(' ') {
        return Err(FieldError::BadValue(name.to_string()));
    }
    match owner(direction, name) {
        Some(why) => Err(FieldError::Owned {
            name: name.to_string(),
            why,
        }),
        None => Ok(()),
    }
}

/// Checks a whole list: every field ([`check_field`]), no name twice (case-insensitive;
/// Set-Cookie may repeat in answers, one per cookie, RFC 6265 §3), and the bounds
/// [`MAX_FIELDS`] and [`MAX_FIELD_BYTES`].
pub fn check_fields<'a>(
    direction: Direction,
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(), FieldError> {
    let mut seen: Vec<&str> = Vec::new();
    let (mut count, mut bytes) = (0, 0);
    for (name, value) in fields {
        check_field(direction, name, value)?;
        let repeatable =
            direction == Direction::Response && name.eq_ignore_ascii_case("set-cookie");
        if !repeatable && seen.iter().any(|s| s.eq_ignore_ascii_case(name)) {
            return Err(FieldError::Twice(name.to_string()));
        }
        seen.push(name);
        count += 1;
        bytes += field_bytes(name, value);
    }
    if count > MAX_FIELDS {
        return Err(FieldError::TooMany(count));
    }
    if bytes > MAX_FIELD_BYTES {
        return Err(FieldError::TooLarge(bytes));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{Request, Response};

    #[test]
    fn a_line_costs_name_colon_space_value_crlf() {
        assert_eq!(field_bytes("X-A", "b"), "X-A: b\r\n".len());
    }

    #[test]
    fn names_must_be_tokens_and_values_visible_ascii() {
        assert!(check_field(Request, "X-Trace_1", "a b;c=\"d\"").is_ok());
        assert!(check_field(Request, "X-Empty", "").is_ok());
        for bad in ["", "X A", "X:A", "Ü", "X(1)"] {
            assert_eq!(
                check_field(Request, bad, "v"),
                Err(FieldError::BadName(bad.into()))
            );
        }
        for bad in [" v", "v ", "a\tb", "a\r\nb", "é"] {
            assert_eq!(
                check_field(Request, "X", bad),
                Err(FieldError::BadValue("X".into()))
            );
        }
    }

    #[test]
    fn fields_the_connection_owns_are_refused_by_direction() {
        for name in [
            "Content-Length",
            "transfer-encoding",
            "Connection",
            "Upgrade",
            "TE",
        ] {
            for d in [Request, Response] {
                assert!(matches!(
                    check_field(d, name, "x"),
                    Err(FieldError::Owned { .. })
                ));
            }
        }
        for name in [
            "Host",
            "Sec-WebSocket-Key",
            "sec-websocket-version",
            "Last-Event-ID",
        ] {
            assert!(matches!(
                check_field(Request, name, "x"),
                Err(FieldError::Owned { .. })
            ));
        }
        assert!(check_field(Response, "Host", "x").is_ok());
        for name in ["Date", "Content-Type", "Sec-WebSocket-Accept"] {
            assert!(matches!(
                check_field(Response, name, "x"),
                Err(FieldError::Owned { .. })
            ));
        }
        assert!(check_field(Request, "Cookie", "a=b").is_ok());
        assert!(check_field(Response, "Cache-Control", "no-cache").is_ok());
    }

    #[test]
    fn lists_are_bounded_and_names_unique() {
        let twice = [("X-A", "1"), ("x-a", "2")];
        assert_eq!(
            check_fields(Request, twice),
            Err(FieldError::Twice("x-a".into()))
        );
        let cookies = [("Set-Cookie", "a=1"), ("set-cookie", "b=2")];
        assert!(check_fields(Response, cookies).is_ok());
        assert!(check_fields(Request, [("Set-Cookie", "a"), ("Set-Cookie", "b")]).is_err());
        let names: Vec<String> = (0..=MAX_FIELDS).map(|i| format!("X-{i}")).collect();
        let many = names.iter().map(|n| (n.as_str(), "v"));
        assert_eq!(
            check_fields(Request, many),
            Err(FieldError::TooMany(MAX_FIELDS + 1))
        );
        let big = "v".repeat(MAX_FIELD_BYTES);
        assert_eq!(
            check_fields(Request, [("X", big.as_str())]),
            Err(FieldError::TooLarge(MAX_FIELD_BYTES + 5))
        );
    }
}
