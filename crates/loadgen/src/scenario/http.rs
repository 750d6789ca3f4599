//! `[http]` as written, and its checks: every field of `request_headers` and
//! `response_headers` against the rules of `pushbench_wire::headers`, each error naming the
//! field's line and key. The checked [`HttpPlan`] and the profiles it expands are
//! `pushbench_model::scenario`'s.

use super::{Checking, Field, HeaderProfile, HttpPlan};
use crate::LoadgenError;
use pushbench_wire::headers::{Direction, FieldError, check_fields};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

/// `[http]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpFile {
    /// `minimal` or `browser`, for requests.
    #[serde(default)]
    pub profile: Option<Spanned<HeaderProfile>>,
    /// Extra fields of every request.
    #[serde(default)]
    pub request_headers: Option<Spanned<HeaderTable>>,
    /// `minimal` or `browser`, for the server's answers.
    #[serde(default)]
    pub response_profile: Option<Spanned<HeaderProfile>>,
    /// Extra fields of every answer of a push endpoint.
    #[serde(default)]
    pub response_headers: Option<Spanned<HeaderTable>>,
}

/// A TOML table of header fields, kept in file order (the order they are sent in), each
/// value with its place in the file for errors.
#[derive(Debug, Default)]
pub struct HeaderTable(pub Vec<(String, Spanned<toml::Value>)>);

impl<'de> Deserialize<'de> for HeaderTable {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = HeaderTable;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a table of header names and string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HeaderTable, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    fields.push(entry);
                }
                Ok(HeaderTable(fields))
            }
        }
        d.deserialize_map(Fields)
    }
}

impl Checking<'_> {
    /// Checks `[http]`; every error names the line and key of the field at fault.
    pub(super) fn http(&self, f: Option<&HttpFile>) -> Result<HttpPlan, LoadgenError> {
        let Some(f) = f else {
            return Ok(HttpPlan::default());
        };
        let profile = |p: &Option<Spanned<HeaderProfile>>| {
            p.as_ref().map_or_else(Default::default, |p| *p.get_ref())
        };
        let request_headers = self.fields(
            f.request_headers.as_ref(),
            Direction::Request,
            "http.request_headers",
        )?;
        let response_headers = self.fields(
            f.response_headers.as_ref(),
            Direction::Response,
            "http.response_headers",
        )?;
        Ok(HttpPlan::new(
            profile(&f.profile),
            &request_headers,
            profile(&f.response_profile),
            &response_headers,
        ))
    }

    fn fields(
        &self,
        table: Option<&Spanned<HeaderTable>>,
        direction: Direction,
        key: &str,
    ) -> Result<Vec<Field>, LoadgenError> {
        let Some(table) = table else {
            return Ok(Vec::new());
        };
        let mut fields = Vec::with_capacity(table.get_ref().0.len());
        for (name, value) in &table.get_ref().0 {
            let at = format!("{key}.{name}");
            let Some(text) = value.get_ref().as_str() else {
                return Err(self.fail(value, &at, "expected a string value"));
            };
            fields.push((name.clone(), text.to_string()));
            // Checked one more at a time, so that an error names the field that causes it.
            let listed = fields.iter().map(|(n, v)| (n.as_str(), v.as_str()));
            match check_fields(direction, listed) {
                Ok(()) => {}
                Err(e @ (FieldError::TooMany(_) | FieldError::TooLarge(_))) => {
                    return Err(self.fail(value, key, &e.to_string()));
                }
                Err(e) => return Err(self.fail(value, &at, &e.to_string())),
            }
        }
        Ok(fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{RequestKind, request_profile, response_profile_fields};
    use pushbench_wire::headers::check_field;

    #[test]
    fn the_browser_profiles_pass_the_rules_but_for_what_the_client_owns() {
        for kind in RequestKind::ALL {
            for &(name, value) in request_profile(HeaderProfile::Browser, kind) {
                // The profile may name what a browser sends on a kept-alive connection;
                // everything else must be a field a scenario could write too.
                if name != "Connection"
                    && name != "Content-Type"
                    && name != "Sec-WebSocket-Extensions"
                {
                    check_field(Direction::Request, name, value).unwrap();
                }
            }
        }
        let response = response_profile_fields(HeaderProfile::Browser)
            .iter()
            .copied();
        check_fields(Direction::Response, response).unwrap();
    }

    const BASE: &str = "name = \"t\"\nduration = \"2s\"\n[workload]\nrate = 1\npayload_bytes = 1\n[[transports]]\nkind = \"poll\"\nclients = 1\n";

    fn parse(http: &str) -> Result<crate::scenario::Scenario, LoadgenError> {
        crate::scenario::parse(std::path::Path::new("h.toml"), &format!("{BASE}{http}"))
    }

    /// `(line, key, message)` of the error `http` causes; BASE has 8 lines, so `[http]`
    /// written first is line 9.
    fn err(http: &str) -> (usize, String, String) {
        match parse(http).unwrap_err() {
            LoadgenError::Scenario {
                line, key, message, ..
            } => (line, key, message),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn http_table_parses_in_file_order_with_profiles_by_name() {
        let s = parse(
            "[http]\nprofile = \"browser\"\nresponse_profile = \"browser\"\n[http.request_headers]\nX-B = \"2\"\nX-A = \"1\"\n[http.response_headers]\nVia = \"1.1 proxy\"\n",
        )
        .unwrap();
        let f = |n: &str, v: &str| (n.to_string(), v.to_string());
        assert_eq!(s.http.request_headers, [f("X-B", "2"), f("X-A", "1")]);
        assert_eq!(
            s.http.requests.fetch.len(),
            request_profile(HeaderProfile::Browser, RequestKind::Fetch).len() + 2
        );
        assert_eq!(
            s.http.requests.fetch
                [request_profile(HeaderProfile::Browser, RequestKind::Fetch).len()..],
            [f("X-B", "2"), f("X-A", "1")]
        );
        assert_eq!(
            s.http.responses.len(),
            response_profile_fields(HeaderProfile::Browser).len() + 1
        );
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["http"]["profile"], "browser");
        assert_eq!(
            json["http"]["requests"]["websocket"][0],
            serde_json::json!(["Pragma", "no-cache"])
        );
        assert_eq!(
            json["http"]["responses"][9],
            serde_json::json!(["Via", "1.1 proxy"])
        );
        // Without [http]: minimal, and nothing in meta.json.
        let plain = parse("").unwrap();
        assert!(plain.http.is_default());
        assert!(serde_json::to_value(&plain).unwrap().get("http").is_none());
    }

    #[test]
    fn http_errors_name_the_line_and_key() {
        let cases = [
            (
                "[http]\nprofile = \"firefox\"",
                10,
                "http.profile",
                "unknown variant",
            ),
            ("[http]\nbogus = 1", 10, "bogus", "unknown field"),
            (
                "[http.request_headers]\nHost = \"x\"",
                10,
                "http.request_headers.Host",
                "server's address",
            ),
            (
                "[http.request_headers]\nX-A = \"1\"\nContent-Length = \"9\"",
                11,
                "http.request_headers.Content-Length",
                "framing",
            ),
            (
                "[http.request_headers]\nSec-WebSocket-Key = \"k\"",
                10,
                "http.request_headers.Sec-WebSocket-Key",
                "handshake",
            ),
            (
                "[http.request_headers]\nX-A = 5",
                10,
                "http.request_headers.X-A",
                "string",
            ),
            (
                "[http.request_headers]\n\"X A\" = \"1\"",
                10,
                "http.request_headers.X A",
                "not a token",
            ),
            (
                "[http.request_headers]\nX-A = \" 1\"",
                10,
                "http.request_headers.X-A",
                "visible ASCII",
            ),
            (
                "[http.request_headers]\nX-A = \"1\"\nx-a = \"2\"",
                11,
                "http.request_headers.x-a",
                "twice",
            ),
            (
                "[http.response_headers]\nDate = \"x\"",
                10,
                "http.response_headers.Date",
                "current date",
            ),
            (
                "[http.response_headers]\nContent-Type = \"x\"",
                10,
                "http.response_headers.Content-Type",
                "its own",
            ),
            (
                "[http]\nrequest_headers = { A = \"1\", B = \"\" , Upgrade = \"h2c\" }",
                10,
                "http.request_headers.Upgrade",
                "framing",
            ),
        ];
        for (http, line, key, says) in cases {
            let (l, k, m) = err(http);
            assert_eq!((l, k.as_str()), (line, key), "{http}: {m}");
            assert!(m.contains(says), "{http}: {m}");
        }
        let big = format!("[http.request_headers]\nX-A = \"{}\"", "v".repeat(8200));
        let (l, k, m) = err(&big);
        assert_eq!((l, k.as_str()), (10, "http.request_headers"), "{m}");
        assert!(m.contains("at most 8192"), "{m}");
    }
}
