//! `GET /ws?topic=T[&cursor=C]`: the WebSocket upgrade. The session that follows it, one
//! unmasked text frame per message and client text frames published, is `crate::ws`.

use super::Exchange;
use crate::body::Body;
use crate::routes::{Handled, Rejection, start, topic};
use crate::ws::WsSession;

pub(super) fn handle(x: Exchange) -> Result<Handled, Rejection> {
    let Exchange {
        state,
        slot,
        query,
        mut req,
    } = x;
    let topic = topic(&state, &query)?;
    if !fastwebsockets::upgrade::is_upgrade_request(&req) {
        return Err(Rejection::bad(
            "/ws needs Connection: Upgrade and Upgrade: websocket",
        ));
    }
    let (resp, upgrade) = fastwebsockets::upgrade::upgrade(&mut req)
        .map_err(|e| Rejection::bad(format!("bad WebSocket handshake: {e}")))?;
    drop(req);
    // Like /stream, a reconnecting client may name the last message it saw.
    let (head, cursor) = start(&topic, query.cursor)?;
    let mut resp = resp.map(|_| Body::empty());
    state.add_response_headers(resp.headers_mut());
    let session = WsSession {
        upgrade,
        topic,
        head,
        cursor,
        state,
        slot,
    };
    tokio::spawn(session.run());
    Ok(Handled::now(resp))
}
