//! Request routing, the control and publish endpoints of docs/protocol.md, and what the push
//! endpoints (`crate::transports`) share: answers, refusals, query parameters, topics and
//! cursors, poll batches.

use crate::body::Body;
use crate::failure::Failure;
use crate::group::{self, Forward, Scope};
use crate::hub::Topic;
use crate::publisher;
use crate::state::{AppState, ConnSlot, Publisher};
use crate::transports::{self, Exchange};
use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{
    AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, WWW_AUTHENTICATE,
};
use hyper::{Method, Request, Response, StatusCode};
use pushbench_model::protocol::{
    CLOCK_PATH, ECHO_PATH, HEADS_AT_HEADER, MAX_PAYLOAD, PAGE_PATH, PUBLISH_PATH, START_HEADER,
    STATS_PATH, STOP_AT_HEADER, STOP_PATH, StatsDoc, WORKLOAD_PATH, WorkloadDoc,
};
use pushbench_model::transport::TransportKind;
use pushbench_wire::{PUBLISH_HEADER_LEN, encode_batch_head, parse_decimal, parse_publish};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};
use tokio::sync::watch;

/// The largest request body read: a publish body with the largest payload a workload allows.
const MAX_BODY: usize = PUBLISH_HEADER_LEN + MAX_PAYLOAD as usize;

/// An answer.
pub(crate) type Resp = Response<Body>;

/// Answers one request; every failure is an HTTP answer, never an error for hyper.
pub(crate) fn handle(state: Arc<AppState>, slot: Arc<ConnSlot>, req: Request<Incoming>) -> Handled {
    let route_of = Route::of(req.uri().path());
    slot.classify(route_of.and_then(Route::transport));
    route(state, slot, route_of, req).unwrap_or_else(|r| Handled::now(r.into_response()))
}

/// The answer to a request as hyper polls it: ready at once for most requests, a boxed
/// future for those that wait (a held long poll, a request body being read, a workload
/// change). hyper keeps one slot the size of this type for as long as the connection
/// lives, so the state of a waiting request is allocated only while it waits: an `async`
/// handler would make every connection, even an idle stream, hold room for the largest.
pub(crate) enum Handled {
    Now(Option<Resp>),
    Later(Pin<Box<dyn Future<Output = Resp> + Send>>),
}

impl Handled {
    /// An answer ready now.
    pub(crate) fn now(resp: Resp) -> Self {
        Handled::Now(Some(resp))
    }

    /// An answer `answer` makes when it is polled.
    pub(crate) fn later(
        answer: impl Future<Output = Result<Resp, Rejection>> + Send + 'static,
    ) -> Self {
        Handled::Later(Box::pin(async move {
            answer.await.unwrap_or_else(Rejection::into_response)
        }))
    }
}

impl Future for Handled {
    type Output = Result<Resp, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Handled::Now(resp) => Poll::Ready(Ok(resp
                .take()
                .expect("hyper polls a request's answer only until it is ready"))),
            Handled::Later(answer) => answer.as_mut().poll(cx).map(Ok),
        }
    }
}

/// A request the server refuses, with the one-line reason it gives.
pub(crate) struct Rejection(StatusCode, String);

impl Rejection {
    /// A `400 Bad Request` with `reason`.
    pub(crate) fn bad(reason: impl Into<String>) -> Self {
        Rejection(StatusCode::BAD_REQUEST, reason.into())
    }

    /// A `502 Bad Gateway`: a peer of a multi-process server failed a forwarded request.
    pub(crate) fn peer(reason: impl Into<String>) -> Self {
        Rejection(StatusCode::BAD_GATEWAY, reason.into())
    }

    fn into_response(self) -> Resp {
        let Rejection(status, mut reason) = self;
        reason.push('\n');
        let mut resp = text_response(status, "text/plain", Body::full(reason));
        if status == StatusCode::UNAUTHORIZED {
            // RFC 9110 §11.6.1: a 401 names the scheme that would be accepted.
            resp.headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// An answer with `body` of `content_type`.
pub(crate) fn text_response(status: StatusCode, content_type: &'static str, body: Body) -> Resp {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    // hyper keeps a response's header map for the connection's next request, and a map
    // left to grow on its own reserves room for six: sized for this content type and SSE's
    // cache-control, it holds a third of that on every streaming connection.
    let mut headers = HeaderMap::with_capacity(2);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    *resp.headers_mut() = headers;
    resp
}

/// The endpoints; the variant decides the method and the handler.
#[derive(Clone, Copy)]
enum Route {
    /// A push endpoint, one per transport kind, at the kind's path.
    Transport(TransportKind),
    Publish,
    Workload,
    Stop,
    Stats,
    Echo,
    /// The live page, and the clock it reads (`crate::page`).
    Page,
    Clock,
}

impl Route {
    fn of(path: &str) -> Option<Route> {
        if let Some(kind) = TransportKind::from_path(path) {
            return Some(Route::Transport(kind));
        }
        Some(match path {
            PUBLISH_PATH => Route::Publish,
            WORKLOAD_PATH => Route::Workload,
            STOP_PATH => Route::Stop,
            STATS_PATH => Route::Stats,
            ECHO_PATH => Route::Echo,
            PAGE_PATH => Route::Page,
            CLOCK_PATH => Route::Clock,
            _ => return None,
        })
    }

    /// The kind a connection whose first request is this one is counted under in
    /// `/stats` (`None`: other).
    fn transport(self) -> Option<TransportKind> {
        match self {
            Route::Transport(kind) => Some(kind),
            _ => None,
        }
    }

    fn method(self) -> Method {
        match self {
            Route::Publish | Route::Workload | Route::Stop => Method::POST,
            _ => Method::GET,
        }
    }

    /// The `/control/*` endpoints, which a configured `control_token` guards.
    fn is_control(self) -> bool {
        matches!(self, Route::Workload | Route::Stop)
    }
}

/// Checks the request and starts its answer. Synchronous, so that the request (which holds
/// on to hyper's read buffer) is dropped before anything waits.
fn route(
    state: Arc<AppState>,
    slot: Arc<ConnSlot>,
    route: Option<Route>,
    req: Request<Incoming>,
) -> Result<Handled, Rejection> {
    let Some(route) = route else {
        let reason = format!("no such path: {}", req.uri().path());
        return Err(Rejection(StatusCode::NOT_FOUND, reason));
    };
    if req.method() != route.method() {
        let reason = format!(
            "{} takes {}, not {}",
            req.uri().path(),
            route.method(),
            req.method()
        );
        return Err(Rejection(StatusCode::METHOD_NOT_ALLOWED, reason));
    }
    if let (true, Some(token)) = (route.is_control(), &state.config.control_token) {
        authorize(&req, token)
            .inspect_err(|f| state.stats.failed(f))
            .map_err(|f| Rejection(StatusCode::UNAUTHORIZED, f.to_string()))?;
    }
    let q = Query::parse(req.uri().query().unwrap_or(""))?;
    match route {
        Route::Transport(kind) => transports::handle(
            kind,
            Exchange {
                state,
                slot,
                query: q,
                req,
            },
        ),
        Route::Publish => Ok(Handled::later(publish(state, q, req))),
        Route::Workload => Ok(Handled::later(workload(state, req))),
        Route::Stop => {
            let scope = Scope::of(&state, req.headers());
            let at = group::instant(req.headers(), STOP_AT_HEADER)?;
            Ok(Handled::later(stop(state, scope, at)))
        }
        Route::Stats => {
            let at = group::instant(req.headers(), HEADS_AT_HEADER)?;
            match Scope::of(&state, req.headers()) {
                Scope::Group => Ok(Handled::later(group_stats(state, at))),
                _ => match at {
                    Some(at) => Ok(Handled::later(stats_at(state, at))),
                    None => Ok(Handled::now(json_response(&state.stats_doc_at(None)))),
                },
            }
        }
        Route::Echo => crate::echo::handle(state, slot, req),
        Route::Page => Ok(Handled::now(crate::page::page())),
        Route::Clock => Ok(Handled::now(crate::page::clock())),
    }
}

/// Checks `Authorization: Bearer <token>` (RFC 6750 §2.1).
fn authorize(req: &Request<Incoming>, token: &str) -> Result<(), Failure> {
    let Some(value) = req.headers().get(AUTHORIZATION) else {
        return Err(Failure::Unauthorized(
            "control endpoints need Authorization: Bearer <token>",
        ));
    };
    let given = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    match given {
        Some(t) if same_secret(t.as_bytes(), token.as_bytes()) => Ok(()),
        Some(_) => Err(Failure::Unauthorized("wrong control token")),
        None => Err(Failure::Unauthorized(
            "control endpoints need Authorization: Bearer <token>",
        )),
    }
}

/// Compares without stopping at the first difference, so the answer time does not tell a
/// guesser how much of the token it got right.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// The query parameters the endpoints use; others are ignored.
#[derive(Default, Clone, Copy)]
pub(crate) struct Query {
    /// `topic`.
    pub(crate) topic: Option<u64>,
    /// `cursor`: the last message the client has seen.
    pub(crate) cursor: Option<u64>,
    /// `timeout`, ms (long polls).
    pub(crate) timeout_ms: Option<u64>,
}

impl Query {
    fn parse(query: &str) -> Result<Self, Rejection> {
        let mut q = Query::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match name {
                "topic" => &mut q.topic,
                "cursor" => &mut q.cursor,
                "timeout" => &mut q.timeout_ms,
                _ => continue,
            };
            let n = parse_decimal(value.as_bytes()).ok_or_else(|| {
                Rejection::bad(format!("{name} must be a decimal number, got {value:?}"))
            })?;
            *slot = Some(n);
        }
        Ok(q)
    }
}

/// The topic named by the request, which must exist in the current workload.
pub(crate) fn topic(state: &AppState, q: &Query) -> Result<Arc<Topic>, Rejection> {
    let t = q
        .topic
        .ok_or_else(|| Rejection::bad("missing topic parameter"))?;
    let topics = state.topics();
    usize::try_from(t)
        .ok()
        .and_then(|i| topics.get(i).cloned())
        .ok_or_else(|| {
            Rejection::bad(format!(
                "topic {t} out of range: the workload has {} topics",
                topics.len()
            ))
        })
}

/// A cursor must not be ahead of the head: it would name messages that do not exist.
pub(crate) fn check_cursor(topic: &Topic, cursor: u64) -> Result<u64, Rejection> {
    let head = topic.head();
    if cursor > head {
        return Err(Rejection::bad(format!(
            "cursor {cursor} is beyond the head {head}"
        )));
    }
    Ok(cursor)
}

/// A poll or long-poll answer: the cursor line and every message after `cursor`, each
/// message a shared buffer, so the answer copies no message bytes.
pub(crate) fn batch(state: &AppState, topic: &Topic, cursor: u64) -> (usize, Resp) {
    let mut parts = VecDeque::new();
    parts.push_back(Bytes::new()); // the cursor line, known only after the read
    let new_cursor = topic.read_after(cursor, |m| parts.push_back(m.line().clone()));
    let mut head = BytesMut::with_capacity(21);
    encode_batch_head(new_cursor, &mut head);
    parts[0] = head.freeze();
    let messages = parts.len() - 1;
    if messages > 0 {
        // Poll bodies have no per-message framing: the whole body carried the messages.
        let bytes = parts.iter().map(|p| p.len() as u64).sum();
        state.stats.wrote(messages as u64, bytes);
    }
    let body = Body::from_parts(parts);
    let mut resp = text_response(StatusCode::OK, "text/plain", body);
    state.add_response_headers(resp.headers_mut());
    (messages, resp)
}

/// The cursor a push transport starts from, and a receiver subscribed before it was read.
pub(crate) fn start(
    topic: &Topic,
    cursor: Option<u64>,
) -> Result<(watch::Receiver<u64>, u64), Rejection> {
    let head = topic.subscribe();
    let cursor = match cursor {
        Some(c) => check_cursor(topic, c)?,
        None => *head.borrow(),
    };
    Ok((head, cursor))
}

async fn read_body(req: Request<Incoming>, limit: usize) -> Result<Bytes, Rejection> {
    Limited::new(req.into_body(), limit)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                let reason = format!("request body larger than {limit} bytes");
                Rejection(StatusCode::PAYLOAD_TOO_LARGE, reason)
            } else {
                Rejection::bad(format!("cannot read the request body: {e}"))
            }
        })
}

async fn publish(
    state: Arc<AppState>,
    q: Query,
    req: Request<Incoming>,
) -> Result<Resp, Rejection> {
    let topic = topic(&state, &q)?;
    // The topic's payload limit keeps its ring within the server's memory budget.
    let limit = MAX_BODY.min(PUBLISH_HEADER_LEN.saturating_add(topic.max_payload()));
    let body = read_body(req, limit).await?;
    let sent_ns =
        parse_publish(&body).map_err(|e| Rejection::bad(format!("not a publish body: {e}")))?;
    topic.publish(sent_ns, &body[PUBLISH_HEADER_LEN..]);
    state.stats.messages_published.fetch_add(1, Relaxed);
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    state.add_response_headers(resp.headers_mut());
    Ok(resp)
}

async fn workload(state: Arc<AppState>, req: Request<Incoming>) -> Result<Resp, Rejection> {
    let scope = Scope::of(&state, req.headers());
    let start = group::instant(req.headers(), START_HEADER)?;
    let body = read_body(req, MAX_BODY).await?;
    let w: WorkloadDoc = serde_json::from_slice(&body)
        .map_err(|e| Rejection::bad(format!("bad workload JSON: {e}")))?;
    w.validate().map_err(|e| Rejection::bad(e.to_string()))?;
    publisher::check_memory(&w, &state.config).map_err(Rejection::bad)?;
    let headers = header_map(&w.response_headers)?;
    let start_ns = match (scope, start) {
        (_, Some(ns)) => ns,
        (Scope::Group, None) => group::start_ns(),
        (_, None) => pushbench_wire::now_ns(),
    };
    set_workload(&state, &w, headers, start_ns).await;
    if scope == Scope::Group {
        let f = Forward {
            method: Method::POST,
            path: WORKLOAD_PATH,
            instant: Some((START_HEADER, start_ns)),
            body,
        };
        group::forward(&state, f).await?;
    }
    Ok(json_response(&w))
}

/// Replaces the topics and starts the workload's publisher on a schedule from `start_ns`.
async fn set_workload(state: &Arc<AppState>, w: &WorkloadDoc, headers: HeaderMap, start_ns: u64) {
    let mut current = state.publisher.lock().await;
    stop_publisher(current.take()).await;
    // Bounded by validate(): at most 100,000.
    let topics = state.replace_topics(w.topics as usize);
    state.set_response_headers(Some(headers));
    crate::state::release_free_memory();
    pushbench_wire::process::reset_peak_rss();
    let scheduled = (w.rate > 0.0).then_some(start_ns);
    state.publisher_stats.reset(w.payload_bytes, scheduled);
    if w.rate > 0.0 {
        let stop = state.shutdown.child_token();
        let stop_at_ns = Arc::new(AtomicU64::new(u64::MAX));
        let schedule = publisher::Schedule {
            start_ns,
            rate: w.rate,
            stop_at_ns: stop_at_ns.clone(),
        };
        let (publisher_state, publisher_stop) = (state.clone(), stop.clone());
        let payload_bytes = w.payload_bytes as usize;
        let task = tokio::task::spawn_blocking(move || {
            publisher::run(
                publisher_state,
                topics,
                schedule,
                payload_bytes,
                publisher_stop,
            )
        });
        *current = Some(Publisher {
            stop,
            stop_at_ns,
            start_ns,
            rate: w.rate,
            task,
        });
    }
    // Counted once the topics are replaced and the publisher runs, so that a reader who
    // sees the count knows the workload is in place.
    state.stats.workloads.fetch_add(1, Relaxed);
}

/// The workload's extra answer fields as hyper writes them; names and values were checked
/// by `WorkloadDoc::validate`, so a conversion failure is only a defence.
fn header_map(fields: &[(String, String)]) -> Result<HeaderMap, Rejection> {
    let mut map = HeaderMap::with_capacity(fields.len());
    for (name, value) in fields {
        let bad = |_| Rejection::bad(format!("response_headers: cannot send header {name}"));
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(bad)?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            Rejection::bad(format!("response_headers: cannot send the value of {name}"))
        })?;
        map.append(name, value);
    }
    Ok(map)
}

/// Stops the publisher: at once in a server of one process; in a group, after the ticks due
/// before one instant the process that received the request chose for all.
async fn stop(state: Arc<AppState>, scope: Scope, at: Option<u64>) -> Result<Resp, Rejection> {
    let at = match (scope, at) {
        (_, Some(ns)) => Some(ns),
        (Scope::Group, None) => Some(group::stop_at_ns()),
        (_, None) => None,
    };
    let forwarded = async {
        match (scope, at) {
            (Scope::Group, Some(ns)) => {
                let f = Forward {
                    method: Method::POST,
                    path: STOP_PATH,
                    instant: Some((STOP_AT_HEADER, ns)),
                    body: Bytes::new(),
                };
                group::forward(&state, f).await.map(drop)
            }
            _ => Ok(()),
        }
    };
    let local = async {
        let mut current = state.publisher.lock().await;
        match (at, current.take()) {
            (Some(ns), Some(p)) => {
                // The publisher ends by itself once its next tick is due at or after `ns`.
                p.stop_at_ns.store(ns, Relaxed);
                let _ = p.task.await;
                overshoot(&state, (p.start_ns, p.rate), ns)
            }
            (_, p) => {
                stop_publisher(p).await;
                Ok(())
            }
        }
    };
    let (forwarded, local) = tokio::join!(forwarded, local);
    forwarded?;
    local?;
    Ok(text_response(
        StatusCode::OK,
        "text/plain",
        Body::full("stopped\n"),
    ))
}

/// A process that got the group's stop after its instant had passed may have published a
/// tick due at or after it, which the other processes did not: its subscribers would get
/// one message more. Said, so that the run fails instead of counting it silently.
fn overshoot(
    state: &AppState,
    (start_ns, rate): (u64, f64),
    stop_at_ns: u64,
) -> Result<(), Rejection> {
    let ticks = state.publisher_stats.ticks();
    let last_due = ticks
        .checked_sub(1)
        .map(|k| publisher::tick_ns(start_ns, k, rate));
    match last_due {
        Some(due) if due >= stop_at_ns => Err(Rejection(
            StatusCode::CONFLICT,
            format!(
                "the stop arrived {} µs after the group's stop instant: this process published a tick the others did not",
                pushbench_wire::now_ns().saturating_sub(stop_at_ns) / 1_000
            ),
        )),
        _ => Ok(()),
    }
}

/// Stops a publisher and waits for it, so nothing is published once the answer is out.
pub(crate) async fn stop_publisher(publisher: Option<Publisher>) {
    if let Some(p) = publisher {
        p.stop.cancel();
        let _ = p.task.await;
    }
}

/// `/stats` of this process with its topic heads as of `at`, once its publisher has
/// reached that instant.
async fn own_stats_at(state: &AppState, at: u64) -> StatsDoc {
    state.publisher_stats.reached(at).await;
    state.stats_doc_at(Some(at))
}

async fn stats_at(state: Arc<AppState>, at: u64) -> Result<Resp, Rejection> {
    Ok(json_response(&own_stats_at(&state, at).await))
}

/// `/stats` of every process of the group (`group::sum`).
async fn group_stats(state: Arc<AppState>, at: Option<u64>) -> Result<Resp, Rejection> {
    // Every process reports its topic heads as of one instant, the one the request names
    // or its arrival here: a loaded host can delay a peer's answer past the next tick, and
    // a reading at a window's edge must not count that tick (the load generator's
    // `messages_published`).
    let at = at.unwrap_or_else(pushbench_wire::now_ns);
    let f = Forward {
        method: Method::GET,
        path: STATS_PATH,
        instant: Some((HEADS_AT_HEADER, at)),
        body: Bytes::new(),
    };
    let bodies = group::forward(&state, f).await?;
    // The counters read after the peers answered, so this process's part is no older than
    // theirs.
    let own = own_stats_at(&state, at).await;
    let peers = bodies
        .iter()
        .map(|b| serde_json::from_slice::<StatsDoc>(b))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Rejection::peer(format!("a peer's /stats is not a stats document: {e}")))?;
    Ok(json_response(&group::sum(own, peers)))
}

fn json_response(value: &impl serde::Serialize) -> Resp {
    let json = serde_json::to_vec(value).expect("serialising plain structs cannot fail");
    text_response(StatusCode::OK, "application/json", Body::full(json))
}
