//! `GET /stream?topic=T[&cursor=C]`: HTTP/1.1 chunked streaming, one chunk per message whose
//! data is the message and a newline.

use super::Exchange;
use crate::body::{Body, Framing, PushBody};
use crate::hub::Message;
use crate::routes::{Handled, Rejection, start, text_response, topic};
use hyper::StatusCode;

pub(super) fn handle(x: Exchange) -> Result<Handled, Rejection> {
    let Exchange {
        state, slot, query, ..
    } = x;
    let topic = topic(&state, &query)?;
    let (head, cursor) = start(&topic, query.cursor)?;
    let framing = Framing {
        data: Message::line,
        heartbeat: None,
    };
    let body = PushBody::new(framing, topic, head, cursor, state.clone());
    slot.pushing(body.progress());
    let mut resp = text_response(StatusCode::OK, "text/plain", Body::Push(Box::new(body)));
    state.add_response_headers(resp.headers_mut());
    Ok(Handled::now(resp))
}
