//! The echo pattern's publishing side for HTTP transports: `POST /publish` on a second
//! keep-alive connection, on the client's own open-loop schedule.

use super::{Backoff, Client, idle, sleep_until_ns};
use crate::conn::Conn;
use crate::error::ClientError;
use crate::http::read_response;
use crate::scenario::RequestKind;
use bytes::Buf;
use pushbench_model::protocol::PUBLISH_PATH;

pub(crate) async fn run(client: &Client) {
    let period_ns = (1e9 / client.plan.rate) as u64;
    let mut tick = 0u64;
    let mut backoff = Backoff::new(client.plan.backoff);
    loop {
        let started = std::time::Instant::now();
        if let Err(e) = session(client, period_ns, &mut tick).await {
            client.meter.error(e.kind());
        }
        backoff.wait(started.elapsed()).await;
        client.meter.reconnect();
    }
}

async fn session(client: &Client, period_ns: u64, tick: &mut u64) -> Result<(), ClientError> {
    let plan = &*client.plan;
    let mut conn = Conn::connect(client, false).await?;
    let body_len = pushbench_wire::PUBLISH_HEADER_LEN + plan.payload.len();
    // The block holds the Content-Type of the body (text/plain).
    let head = [
        format!("POST {PUBLISH_PATH}?topic={} HTTP/1.1\r\n", client.topic).as_bytes(),
        plan.heads.get(RequestKind::Publish),
        format!("content-length: {body_len}\r\n\r\n").as_bytes(),
    ]
    .concat();
    let mut req = bytes::BytesMut::with_capacity(head.len() + body_len);
    loop {
        // Message k is due at start + k * period and carries that time, so a publisher that
        // falls behind shows up as latency rather than as a slower schedule.
        let due = client.start_ns + *tick * period_ns;
        *tick += 1;
        sleep_until_ns(due).await;
        if client.meter.draining() {
            return idle().await;
        }
        req.clear();
        req.extend_from_slice(&head);
        pushbench_wire::encode_publish(due, &plan.payload, &mut req);
        let t = conn.send(&req, false).await?;
        client.meter.request(t);
        let (h, len, _) = read_response(&mut conn).await?;
        if h.status != 204 && h.status != 200 {
            return Err(ClientError::Status(h.status));
        }
        conn.buf.advance(h.len + len);
    }
}
