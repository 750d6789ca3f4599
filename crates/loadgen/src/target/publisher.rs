//! The load generator as a target's publisher: one task per topic, on a thread of its own,
//! publishing `rate` messages per second on the open-loop schedule pushbench's own server
//! follows. Message `k` (from 0) of a topic is due at `phase start + k / rate`, carries
//! that time as `sent_ns` and the number `k + 1`, and goes out on the topic's keep-alive
//! connection as soon as the previous answer is in, so a server that answers late shows
//! up as latency, not as a slower schedule. Its bytes are the load generator's, not the
//! subscribers': they are reported with the control requests'.

use super::TargetRun;
use crate::LoadgenError;
use crate::clients::push_decimal;
use crate::clients::sleep_until_ns;
use crate::http::parse_head;
use crate::stats::Window;
use bytes::{Buf, BytesMut};
use pushbench_model::result::{ErrorCounts, ErrorKind};
use pushbench_model::target::{Part, RequestPlan, Var};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::thread::JoinHandle;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// What a phase's publishing did.
#[derive(Debug, Default)]
pub(crate) struct Published {
    /// Per topic, the messages due inside the measured window that the server accepted.
    pub(crate) in_window: Vec<u64>,
    /// Publishes that failed, by kind (a failed message's number is skipped, so its
    /// subscribers count it as lost).
    pub(crate) errors: ErrorCounts,
    /// Bytes the publishing connections carried, both directions.
    pub(crate) bytes: u64,
}

/// What the publisher thread needs.
pub(crate) struct PublishSpec {
    pub(crate) addr: SocketAddr,
    pub(crate) request: RequestPlan,
    pub(crate) topics: u32,
    pub(crate) rate: f64,
    pub(crate) payload: bytes::Bytes,
    pub(crate) phase: String,
    pub(crate) window: Window,
    pub(crate) cancel: CancellationToken,
}

/// Starts the publisher thread.
pub(crate) fn start(
    spec: PublishSpec,
) -> Result<JoinHandle<Result<Published, LoadgenError>>, LoadgenError> {
    std::thread::Builder::new()
        .name("pushbench-publisher".into())
        .spawn(move || run(spec))
        .map_err(|e| LoadgenError::Worker(format!("publisher: {e}")))
}

fn run(spec: PublishSpec) -> Result<Published, LoadgenError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| LoadgenError::Worker(format!("publisher: {e}")))?;
    let spec = Rc::new(spec);
    let published = Rc::new(RefCell::new(Published {
        in_window: vec![0; spec.topics as usize],
        ..Published::default()
    }));
    let local = tokio::task::LocalSet::new();
    for topic in 0..spec.topics {
        let (spec, published) = (spec.clone(), published.clone());
        local.spawn_local(async move {
            // A server that stops answering holds a publish until the phase closes.
            tokio::select! {
                _ = publish_topic(&spec, topic, &published) => {}
                _ = sleep_until_ns(spec.window.close) => {}
                _ = spec.cancel.cancelled() => {}
            }
        });
    }
    rt.block_on(local);
    let published = Rc::try_unwrap(published)
        .map_err(|_| LoadgenError::Worker("publisher tasks outlived their thread".into()))?;
    Ok(published.into_inner())
}

/// Publishes one topic's messages until the window ends.
async fn publish_topic(spec: &PublishSpec, topic: u32, published: &RefCell<Published>) {
    let head = request_head(spec, topic);
    let topic_text = topic.to_string();
    let period_ns = 1e9 / spec.rate;
    let mut conn = Exchange::new(spec.addr);
    let (mut body, mut req) = (BytesMut::with_capacity(256), Vec::with_capacity(512));
    for k in 0u64.. {
        let due = spec.window.phase_start + (k as f64 * period_ns) as u64;
        if due >= spec.window.end {
            break;
        }
        sleep_until_ns(due).await;
        body.clear();
        write_body(spec, topic_text.as_bytes(), k + 1, due, &mut body);
        req.clear();
        req.extend_from_slice(&head);
        req.extend_from_slice(b"content-length: ");
        push_decimal(&mut req, body.len() as u64);
        req.extend_from_slice(b"\r\n\r\n");
        req.extend_from_slice(&body);
        let outcome = conn.send(&req).await;
        let mut p = published.borrow_mut();
        p.bytes += std::mem::take(&mut conn.bytes);
        match outcome {
            Ok(status) if spec.request.success.contains(&status) => {
                if (spec.window.start..spec.window.end).contains(&due) {
                    p.in_window[topic as usize] += 1;
                }
            }
            Ok(_) => p.errors.0[ErrorKind::Status as usize] += 1,
            Err(kind) => p.errors.0[kind as usize] += 1,
        }
    }
}

/// The request line and fields of a topic's publishes, up to `content-length`.
fn request_head(spec: &PublishSpec, topic: u32) -> Vec<u8> {
    let path = spec
        .request
        .url
        .after_base()
        .expect("checked: URLs start with {base}");
    let path = path.expand(|v| match v {
        Var::Topic => topic.to_string(),
        Var::Phase => spec.phase.clone(),
        other => unreachable!("checked: {{{}}} is not a publish URL's", other.name()),
    });
    let mut head = format!(
        "{} {path} HTTP/1.1\r\nhost: {}\r\n",
        spec.request.method, spec.addr
    );
    for (name, value) in &spec.request.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.into_bytes()
}

/// The body of message number `number` of `topic`, due at `due`.
fn write_body(spec: &PublishSpec, topic: &[u8], number: u64, due: u64, out: &mut BytesMut) {
    for part in spec.request.body.parts() {
        match part {
            Part::Text(t) => out.extend_from_slice(t.as_bytes()),
            Part::Var(Var::Message) => {
                pushbench_wire::scan::encode_marked(number, due, &spec.payload, out)
            }
            Part::Var(Var::Publish) => pushbench_wire::encode_publish(due, &spec.payload, out),
            Part::Var(Var::Topic) => out.extend_from_slice(topic),
            Part::Var(Var::Phase) => out.extend_from_slice(spec.phase.as_bytes()),
            Part::Var(v) => unreachable!("checked: {{{}}} is not a publish body's", v.name()),
        }
    }
}

/// One keep-alive connection to the server for whole request/answer exchanges, opened
/// again after a failure.
pub(crate) struct Exchange {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: BytesMut,
    /// Bytes carried since the caller last took them.
    pub(crate) bytes: u64,
}

impl Exchange {
    pub(crate) fn new(addr: SocketAddr) -> Exchange {
        Exchange {
            addr,
            stream: None,
            buf: BytesMut::with_capacity(1024),
            bytes: 0,
        }
    }

    /// Sends a whole request and reads its whole answer; returns its status. After a
    /// failure the connection is dropped and the next request opens a new one.
    pub(crate) async fn send(&mut self, req: &[u8]) -> Result<u16, ErrorKind> {
        let result = self.exchange(req).await;
        if result.is_err() {
            self.stream = None;
            self.buf.clear();
        }
        result
    }

    async fn exchange(&mut self, req: &[u8]) -> Result<u16, ErrorKind> {
        if self.stream.is_none() {
            let s = TcpStream::connect(self.addr)
                .await
                .map_err(|_| ErrorKind::Connect)?;
            s.set_nodelay(true).map_err(|_| ErrorKind::Connect)?;
            self.stream = Some(s);
        }
        let s = self.stream.as_mut().expect("connected above");
        s.write_all(req).await.map_err(|_| ErrorKind::Io)?;
        self.bytes += req.len() as u64;
        loop {
            if let Some(head) = parse_head(&self.buf).map_err(|_| ErrorKind::Protocol)? {
                let body = match head.content_length {
                    Some(n) if !head.chunked => n,
                    _ if head.status == 204 || head.status == 304 => 0,
                    _ => return Err(ErrorKind::Protocol),
                };
                if self.buf.len() >= head.len + body {
                    self.buf.advance(head.len + body);
                    return Ok(head.status);
                }
            }
            let n = s.read_buf(&mut self.buf).await.map_err(|_| ErrorKind::Io)?;
            if n == 0 {
                return Err(ErrorKind::Closed);
            }
            self.bytes += n as u64;
        }
    }
}

/// Sends the target's request before a phase; returns the bytes it carried.
pub(crate) async fn before_phase(
    target: &TargetRun,
    request: &RequestPlan,
    topics: u32,
    payload_bytes: usize,
    phase: &str,
) -> Result<u64, LoadgenError> {
    let value = |v: Var| match v {
        Var::Phase => phase.to_string(),
        Var::Topics => topics.to_string(),
        Var::PayloadBytes => payload_bytes.to_string(),
        other => unreachable!("checked: {{{}}} is not before_phase's", other.name()),
    };
    let path = request
        .url
        .after_base()
        .expect("checked: URLs start with {base}")
        .expand(value);
    let body = request.body.expand(value);
    let mut req = format!(
        "{} {path} HTTP/1.1\r\nhost: {}\r\n",
        request.method, target.addr
    );
    for (name, v) in &request.headers {
        req.push_str(&format!("{name}: {v}\r\n"));
    }
    req.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    let mut conn = Exchange::new(target.addr);
    let outcome = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        conn.send(req.as_bytes()),
    )
    .await;
    let why = match outcome {
        Ok(Ok(status)) if request.success.contains(&status) => return Ok(conn.bytes),
        Ok(Ok(status)) => format!("answered {status}, expected one of {:?}", request.success),
        Ok(Err(kind)) => format!("failed ({})", kind.name()),
        Err(_) => "no answer within 10 s".to_string(),
    };
    Err(LoadgenError::TargetRequest {
        name: target.plan.name.clone(),
        request: format!("before_phase {} {path}", request.method),
        why,
    })
}
