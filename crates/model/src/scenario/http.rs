//! `[http]` as checked: the header fields of every HTTP request the clients send and of
//! every answer the server gives, beyond the few each message needs. A profile names a
//! documented set (`docs/headers.md`); extra fields are added to it. The plan keeps both the
//! profile's name and the fields it expands to, so `meta.json` records what was sent.

use serde::{Deserialize, Serialize};

/// A set of header fields named in a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeaderProfile {
    /// The fields each message needs and nothing else: pushbench's bytes before `[http]`
    /// existed.
    #[default]
    Minimal,
    /// What desktop Chromium sends (requests), or what a typical production push endpoint
    /// behind a web server answers with (responses); `docs/headers.md` lists every line.
    Browser,
}

/// One header field, name and value as sent; `["Name", "value"]` in JSON.
pub type Field = (String, String);

/// The kinds of request whose header fields differ, named after what a browser would use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// A `fetch` GET: `/poll`, `/longpoll` and `/stream`.
    Fetch,
    /// A `fetch` POST: the echo publisher's `POST /publish`.
    Publish,
    /// An `EventSource`: `/sse`.
    EventSource,
    /// A `WebSocket` handshake: `/ws`, and the raw stream's upgrade (`/raw`), which has no
    /// browser API of its own.
    WebSocket,
}

impl RequestKind {
    /// Every kind, in the order `docs/headers.md` lists them.
    pub const ALL: [RequestKind; 4] = [
        RequestKind::Fetch,
        RequestKind::Publish,
        RequestKind::EventSource,
        RequestKind::WebSocket,
    ];
}

/// The fields of each request kind besides the ones the client writes itself (request line,
/// Host, Content-Length, Last-Event-ID, the WebSocket handshake's Connection, Upgrade,
/// Sec-WebSocket-Version and Sec-WebSocket-Key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFields {
    /// Poll, long-poll and stream requests.
    pub fetch: Vec<Field>,
    /// The echo publisher's `POST /publish`.
    pub publish: Vec<Field>,
    /// SSE.
    pub event_source: Vec<Field>,
    /// The WebSocket handshake.
    pub websocket: Vec<Field>,
}

impl RequestFields {
    /// The fields of one request kind.
    pub fn get(&self, kind: RequestKind) -> &[Field] {
        match kind {
            RequestKind::Fetch => &self.fetch,
            RequestKind::Publish => &self.publish,
            RequestKind::EventSource => &self.event_source,
            RequestKind::WebSocket => &self.websocket,
        }
    }
}

/// The checked `[http]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpPlan {
    /// The request profile's name.
    pub profile: HeaderProfile,
    /// `request_headers` as written, in file order.
    pub request_headers: Vec<Field>,
    /// What every request carries: the profile with `request_headers` merged in.
    pub requests: RequestFields,
    /// The response profile's name.
    pub response_profile: HeaderProfile,
    /// `response_headers` as written, in file order.
    pub response_headers: Vec<Field>,
    /// What the server adds to every answer of a push endpoint: the response profile with
    /// `response_headers` merged in. Sent with `POST /control/workload`.
    pub responses: Vec<Field>,
}

impl Default for HttpPlan {
    fn default() -> Self {
        HttpPlan::new(HeaderProfile::Minimal, &[], HeaderProfile::Minimal, &[])
    }
}

impl HttpPlan {
    /// Expands the profiles and merges the extra fields into them: an extra field replaces
    /// the profile's field of the same name (case-insensitive) where it stands, and is
    /// added at the end otherwise.
    pub fn new(
        profile: HeaderProfile,
        request_headers: &[Field],
        response_profile: HeaderProfile,
        response_headers: &[Field],
    ) -> Self {
        let requests = |kind| merge(request_profile(profile, kind), request_headers);
        HttpPlan {
            profile,
            request_headers: request_headers.to_vec(),
            requests: RequestFields {
                fetch: requests(RequestKind::Fetch),
                publish: requests(RequestKind::Publish),
                event_source: requests(RequestKind::EventSource),
                websocket: requests(RequestKind::WebSocket),
            },
            response_profile,
            response_headers: response_headers.to_vec(),
            responses: merge(response_profile_fields(response_profile), response_headers),
        }
    }

    /// True for the plan of a scenario without `[http]`, which `meta.json` leaves out, as
    /// in runs made before it existed.
    pub fn is_default(&self) -> bool {
        *self == HttpPlan::default()
    }
}

/// Each extra field replaces at most one profile field, and never another extra field, so
/// that repeated Set-Cookie fields of an answer all go out.
fn merge(profile: &[(&str, &str)], extra: &[Field]) -> Vec<Field> {
    let mut out: Vec<Field> = profile
        .iter()
        .map(|&(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let mut replaced = vec![false; profile.len()];
    for (name, value) in extra {
        let same =
            (0..profile.len()).find(|&i| !replaced[i] && out[i].0.eq_ignore_ascii_case(name));
        match same {
            Some(i) => {
                out[i] = (name.clone(), value.clone());
                replaced[i] = true;
            }
            None => out.push((name.clone(), value.clone())),
        }
    }
    out
}

/// The profile's fields for one request kind.
pub fn request_profile(
    profile: HeaderProfile,
    kind: RequestKind,
) -> &'static [(&'static str, &'static str)] {
    match (profile, kind) {
        (HeaderProfile::Minimal, RequestKind::Fetch | RequestKind::WebSocket) => &[],
        (HeaderProfile::Minimal, RequestKind::Publish) => &[("content-type", "text/plain")],
        (HeaderProfile::Minimal, RequestKind::EventSource) => &[("accept", "text/event-stream")],
        (HeaderProfile::Browser, RequestKind::Fetch) => &browser::FETCH,
        (HeaderProfile::Browser, RequestKind::Publish) => &browser::PUBLISH,
        (HeaderProfile::Browser, RequestKind::EventSource) => &browser::EVENT_SOURCE,
        (HeaderProfile::Browser, RequestKind::WebSocket) => &browser::WEBSOCKET,
    }
}

/// The response profile's fields.
pub fn response_profile_fields(profile: HeaderProfile) -> &'static [(&'static str, &'static str)] {
    match profile {
        HeaderProfile::Minimal => &[],
        HeaderProfile::Browser => &browser::RESPONSE,
    }
}

/// The `browser` profiles. Requests: Chromium 156.0.8078.114 (Debian 12's package) on
/// desktop Linux, captured byte for byte by `scripts/browser-headers.py` from a page served
/// over HTTPS, in the order Chromium sends them, with the page's origin replaced by
/// `https://app.example.com` and its address `/live`. Responses: the default headers of
/// Spring Security 6, nginx's Server field, and a rolling session cookie. `docs/headers.md`
/// has every line, its length and where it comes from.
mod browser {
    const UA: (&str, &str) = (
        "User-Agent",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
    );
    /// Four first-party cookies, 195 bytes: a session id, a CSRF token, and Google
    /// Analytics 4's two (`docs/headers.md`).
    const COOKIE: (&str, &str) = (
        "Cookie",
        "session=Zjk0NzE1OTItMGU2Ni00YTJmLWI5ZDAtNzQwYzQ3ZTliM2Ex; csrftoken=kX9vQ2mLr7TzW4pHn8YcB3dFj6GsA1eU; _ga=GA1.1.1834629517.1750000000; _ga_K7Q2M9XW4P=GS2.1.s1750000000$o3$g1$t1750000420$j60$l0$h0",
    );
    const KEEP_ALIVE: (&str, &str) = ("Connection", "keep-alive");
    const PLATFORM: (&str, &str) = ("sec-ch-ua-platform", "\"Linux\"");
    const BRANDS: (&str, &str) = (
        "sec-ch-ua",
        "\"Not:A-Brand\";v=\"8\", \"Chromium\";v=\"156\"",
    );
    const MOBILE: (&str, &str) = ("sec-ch-ua-mobile", "?0");
    const SITE: (&str, &str) = ("Sec-Fetch-Site", "same-origin");
    const MODE: (&str, &str) = ("Sec-Fetch-Mode", "cors");
    const DEST: (&str, &str) = ("Sec-Fetch-Dest", "empty");
    const ORIGIN: (&str, &str) = ("Origin", "https://app.example.com");
    const REFERER: (&str, &str) = ("Referer", "https://app.example.com/live");
    const ENCODING: (&str, &str) = ("Accept-Encoding", "gzip, deflate, br, zstd");
    const LANGUAGE: (&str, &str) = ("Accept-Language", "en-US,en;q=0.9");
    const PRAGMA: (&str, &str) = ("Pragma", "no-cache");
    const NO_CACHE: (&str, &str) = ("Cache-Control", "no-cache");

    pub(super) const FETCH: [(&str, &str); 13] = [
        KEEP_ALIVE,
        PLATFORM,
        UA,
        BRANDS,
        MOBILE,
        ("Accept", "*/*"),
        SITE,
        MODE,
        DEST,
        REFERER,
        ENCODING,
        LANGUAGE,
        COOKIE,
    ];

    /// Chromium writes Content-Length after Connection; the client writes it last.
    pub(super) const PUBLISH: [(&str, &str); 15] = [
        KEEP_ALIVE,
        PLATFORM,
        UA,
        BRANDS,
        ("Content-Type", "text/plain;charset=UTF-8"),
        MOBILE,
        ("Accept", "*/*"),
        ORIGIN,
        SITE,
        MODE,
        DEST,
        REFERER,
        ENCODING,
        LANGUAGE,
        COOKIE,
    ];

    pub(super) const EVENT_SOURCE: [(&str, &str); 15] = [
        KEEP_ALIVE,
        PRAGMA,
        NO_CACHE,
        PLATFORM,
        UA,
        ("Accept", "text/event-stream"),
        BRANDS,
        MOBILE,
        SITE,
        MODE,
        DEST,
        REFERER,
        ENCODING,
        LANGUAGE,
        COOKIE,
    ];

    /// Without Connection, Upgrade, Sec-WebSocket-Version and Sec-WebSocket-Key, which the
    /// client writes itself. Chromium offers permessage-deflate; the pushbench server does
    /// not accept it, so frames stay uncompressed.
    pub(super) const WEBSOCKET: [(&str, &str); 8] = [
        PRAGMA,
        NO_CACHE,
        UA,
        ORIGIN,
        ENCODING,
        LANGUAGE,
        COOKIE,
        (
            "Sec-WebSocket-Extensions",
            "permessage-deflate; client_max_window_bits",
        ),
    ];

    /// Besides Date, which the server always sends.
    pub(super) const RESPONSE: [(&str, &str); 9] = [
        ("Server", "nginx"),
        (
            "Cache-Control",
            "no-cache, no-store, max-age=0, must-revalidate",
        ),
        ("Pragma", "no-cache"),
        ("Expires", "0"),
        ("X-Content-Type-Options", "nosniff"),
        (
            "Strict-Transport-Security",
            "max-age=31536000 ; includeSubDomains",
        ),
        ("X-Frame-Options", "DENY"),
        ("X-XSS-Protection", "0"),
        (
            "Set-Cookie",
            "session=Zjk0NzE1OTItMGU2Ni00YTJmLWI5ZDAtNzQwYzQ3ZTliM2Ex; Path=/; Max-Age=1800; HttpOnly; Secure; SameSite=Lax",
        ),
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_fields_replace_same_named_profile_fields_in_place() {
        let extra = vec![
            ("accept".to_string(), "*/*".to_string()),
            ("X-A".to_string(), "b".to_string()),
        ];
        let plan = HttpPlan::new(HeaderProfile::Minimal, &extra, HeaderProfile::Minimal, &[]);
        assert_eq!(plan.requests.event_source, extra);
        assert_eq!(plan.requests.fetch, extra);
        assert_eq!(plan.requests.publish[0].0, "content-type");
        let cookies = vec![
            ("Set-Cookie".to_string(), "a=1".to_string()),
            ("set-cookie".to_string(), "b=2".to_string()),
        ];
        let plan = HttpPlan::new(
            HeaderProfile::Minimal,
            &[],
            HeaderProfile::Browser,
            &cookies,
        );
        assert_eq!(plan.responses.len(), browser::RESPONSE.len() + 1);
        assert_eq!(
            plan.responses[8], cookies[0],
            "the profile's cookie, replaced"
        );
        assert_eq!(plan.responses[9], cookies[1], "the second one added");
        assert!(HttpPlan::default().is_default());
        assert!(!plan.is_default());
    }
}
