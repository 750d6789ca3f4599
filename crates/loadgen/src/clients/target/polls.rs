//! Timed and long polling of a target: requests on one keep-alive connection, each answer
//! complete (`Content-Length`, or a status without a body such as nchan's 304), scanned for
//! messages; the client's place is carried from each answer into the next request by the
//! subscription's cursor rules.

use super::{Place, TargetClient, wanted_fields};
use crate::clients::polling::closed_before_answer;
use crate::clients::{Client, idle, sleep_until_ns};
use crate::conn::Conn;
use crate::error::ClientError;
use crate::http::read_response_with;
use crate::scenario::{PollSchedule, TransportOption};
use crate::stats::SeqState;
use bytes::Buf;
use pushbench_wire::now_ns;

/// What the requests of one client share.
struct Asker<'a> {
    client: &'a Client,
    target: &'a TargetClient,
    /// The request target without the place.
    path: Vec<u8>,
    /// The header fields the cursor rules read, in rule order.
    wanted: Vec<&'a str>,
    /// Where the head held them in the last answer.
    found: Vec<Option<std::ops::Range<usize>>>,
    /// The request being sent.
    req: Vec<u8>,
}

pub(super) async fn session(
    client: &Client,
    target: &TargetClient,
    seq: &mut SeqState,
    place: &mut Place,
) -> Result<(), ClientError> {
    let plan = &*client.plan;
    let mut conn = Conn::connect(client, false).await?;
    let wanted = wanted_fields(&target.sub);
    let mut asker = Asker {
        client,
        target,
        path: target.request_target(client),
        found: vec![None; wanted.len()],
        wanted,
        req: Vec::with_capacity(512),
    };
    // Timed polling waits between polls; long polling asks again at once.
    let timed = plan.kind.takes(TransportOption::Interval) && !plan.interval.is_zero();
    let interval_ns = plan.interval.as_nanos() as u64;
    let mut next = now_ns();
    // Whether this connection has answered before, so may have been closed while idle.
    let mut answered = false;
    let mut first = true;
    loop {
        if timed && !first {
            match plan.schedule {
                PollSchedule::FixedRate => {
                    next += interval_ns;
                    sleep_until_ns(next).await;
                }
                PollSchedule::FixedDelay => tokio::time::sleep(plan.interval).await,
            }
        }
        first = false;
        loop {
            if client.meter.draining() {
                return idle().await;
            }
            asker.build(place);
            let found = match asker.ask(&mut conn, seq, place).await {
                // A server may close a keep-alive connection that sat idle or served its
                // quota of requests (nginx's keepalive_requests); RFC 9112 §9.3.1 lets a
                // client send a request that got no byte of an answer again on a new
                // connection. Counted as a reconnect, with its bytes, but not as a failure.
                Err(e) if answered && conn.buf.is_empty() && closed_before_answer(&e) => {
                    client.meter.reconnect();
                    conn = Conn::connect(client, false).await?;
                    asker.ask(&mut conn, seq, place).await?
                }
                r => r?,
            };
            answered = true;
            // A server that answers one message per poll (nchan) is asked again at once
            // until it has nothing new, when the target says so.
            if !(timed && target.sub.until_empty && found > 0) {
                break;
            }
        }
    }
}

impl Asker<'_> {
    /// The next request: the path and the place's query, the `[http]` profile's fields,
    /// the subscription's, the place's.
    fn build(&mut self, place: &Place) {
        let plan = &*self.client.plan;
        let block = plan.heads.get(plan.kind.descriptor().request_kind);
        let req = &mut self.req;
        req.clear();
        req.extend_from_slice(b"GET ");
        req.extend_from_slice(&self.path);
        place.write_query(&self.target.sub, req);
        req.extend_from_slice(b" HTTP/1.1\r\n");
        req.extend_from_slice(block);
        req.extend_from_slice(&self.target.extra);
        place.write_headers(&self.target.sub, req);
        req.extend_from_slice(b"\r\n");
    }

    /// Sends the request built last, reads its answer, records its messages and takes the
    /// place from it; returns how many messages it carried.
    async fn ask(
        &mut self,
        conn: &mut Conn,
        seq: &mut SeqState,
        place: &mut Place,
    ) -> Result<usize, ClientError> {
        let meter = &self.client.meter;
        let sent = conn.send(&self.req, false).await?;
        meter.request(sent);
        let (head, body_len, t) = read_response_with(conn, &self.wanted, &mut self.found).await?;
        meter.round_trip(sent, t);
        let sub = &self.target.sub;
        let body = &conn.buf[head.len..head.len + body_len];
        let mut count = 0;
        if head.status == 200 {
            pushbench_wire::scan::scan(body, &self.client.plan.payload, |h| {
                meter.message(seq, h, t);
                count += 1;
            });
        } else if !sub.nothing_new.contains(&head.status) {
            return Err(ClientError::Status(head.status));
        }
        place.update(sub, &conn.buf, &self.found, body);
        if count == 0 {
            meter.empty_response(t);
        }
        conn.buf.advance(head.len + body_len);
        Ok(count)
    }
}
