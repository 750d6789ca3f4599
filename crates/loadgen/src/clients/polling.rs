//! Timed polling and long polling: the same request/answer loop over one keep-alive
//! connection; they differ in the path and in when the next request goes out.

use super::{Client, idle, push_decimal, sleep_until_ns};
use crate::conn::Conn;
use crate::error::ClientError;
use crate::http::read_response;
use crate::scenario::{PollSchedule, TransportKind};
use crate::stats::SeqState;
use bytes::Buf;
use pushbench_wire::{now_ns, parse_batch, parse_header};

pub(crate) async fn session(client: &Client, seq: &mut SeqState) -> Result<(), ClientError> {
    let plan = &*client.plan;
    let mut conn = Conn::connect(client, false).await?;
    let suffix = match plan.kind {
        TransportKind::LongPoll => format!("&timeout={}", plan.longpoll_timeout.as_millis()),
        _ => String::new(),
    };
    let prefix = format!("GET {}?topic={}", plan.kind.path(), client.topic);
    let tail = [
        &b" HTTP/1.1\r\n"[..],
        plan.heads.get(plan.kind.descriptor().request_kind),
        b"\r\n",
    ]
    .concat();
    let mut req = Vec::with_capacity(prefix.len() + tail.len() + 64);

    // Whether this connection has answered before, so may have been closed while idle.
    let mut answered = false;
    if seq.cursor.is_none() {
        // Without a cursor the server answers at once with the head: start from there, so
        // only messages published after this client subscribed are expected.
        let path = TransportKind::Poll.path();
        req.extend_from_slice(format!("GET {path}?topic={}", client.topic).as_bytes());
        req.extend_from_slice(&tail);
        ask(&mut conn, client, seq, &req, true).await?;
        answered = true;
    }

    let interval_ns = plan.interval.as_nanos() as u64;
    let mut next = now_ns();
    loop {
        if plan.kind == TransportKind::Poll && interval_ns > 0 {
            match plan.schedule {
                PollSchedule::FixedRate => {
                    next += interval_ns;
                    sleep_until_ns(next).await;
                }
                PollSchedule::FixedDelay => tokio::time::sleep(plan.interval).await,
            }
        }
        if client.meter.draining() {
            return idle().await;
        }
        req.clear();
        req.extend_from_slice(prefix.as_bytes());
        req.extend_from_slice(b"&cursor=");
        push_decimal(&mut req, seq.cursor.unwrap_or(0));
        req.extend_from_slice(suffix.as_bytes());
        req.extend_from_slice(&tail);
        match ask(&mut conn, client, seq, &req, false).await {
            // A server may close a keep-alive connection that sat idle (a poll interval
            // longer than its idle timeout), and RFC 9112 §9.3.1 lets a client send an
            // idempotent request that got no answer byte again on a new connection. That
            // is the transport's real cost at this interval, so it is counted as a
            // reconnect (and its bytes), but it is no failure.
            Err(e) if answered && conn.buf.is_empty() && closed_before_answer(&e) => {
                client.meter.reconnect();
                conn = Conn::connect(client, false).await?;
                ask(&mut conn, client, seq, &req, false).await?;
            }
            r => r?,
        }
        answered = true;
    }
}

/// The connection ended before the server wrote a byte of the answer.
pub(crate) fn closed_before_answer(e: &ClientError) -> bool {
    match e {
        ClientError::Closed => true,
        ClientError::Io(e) => matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
        ),
        _ => false,
    }
}

/// Sends one request, reads its batch answer and records its messages.
async fn ask(
    conn: &mut Conn,
    client: &Client,
    seq: &mut SeqState,
    req: &[u8],
    first: bool,
) -> Result<(), ClientError> {
    let sent = conn.send(req, false).await?;
    client.meter.request(sent);
    let (head, body_len, t) = read_response(conn).await?;
    client.meter.round_trip(sent, t);
    if head.status != 200 {
        return Err(ClientError::Status(head.status));
    }
    let body = &conn.buf[head.len..head.len + body_len];
    let (cursor, messages) = parse_batch(body)?;
    if first {
        seq.start_at(cursor);
    }
    let mut count = 0;
    for m in messages {
        client.meter.message(seq, parse_header(m)?, t);
        count += 1;
    }
    if count == 0 && !first {
        client.meter.empty_response(t);
    }
    conn.buf.advance(head.len + body_len);
    Ok(())
}
