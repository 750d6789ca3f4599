//! `GET /echo`: a plain WebSocket echo. Every text or binary message goes back as it came,
//! with no topic hub in between, so that what a WebSocket round trip costs on its own can be
//! measured, and compared with other echo servers under the same load generator (a
//! `websocket-echo` target, `docs/targets.md`).
//!
//! This is fastwebsockets' own echo loop (its `echo_server` example): pings answered,
//! frames of up to `ws_max_message_bytes` (fragments put together), a close frame answered. On shutdown
//! the connection is closed with 1001, as `/ws` is.

use crate::body::Body;
use crate::routes::{Handled, Rejection};
use crate::state::{AppState, ConnSlot};
use fastwebsockets::{CloseCode, FragmentCollector, Frame, OpCode};
use hyper::Request;
use hyper::body::Incoming;
use std::sync::Arc;

pub(crate) fn handle(
    state: Arc<AppState>,
    slot: Arc<ConnSlot>,
    mut req: Request<Incoming>,
) -> Result<Handled, Rejection> {
    if !fastwebsockets::upgrade::is_upgrade_request(&req) {
        return Err(Rejection::bad(
            "/echo needs Connection: Upgrade and Upgrade: websocket",
        ));
    }
    let (resp, upgrade) = fastwebsockets::upgrade::upgrade(&mut req)
        .map_err(|e| Rejection::bad(format!("bad WebSocket handshake: {e}")))?;
    drop(req);
    tokio::spawn(async move {
        // Keeps the connection counted while the upgraded socket lives.
        let _slot = slot;
        let Ok(mut ws) = upgrade.await else { return };
        // A frame of this many bytes or more is refused (close 1009).
        ws.set_max_message_size(state.config.ws_max_message_bytes.saturating_add(1));
        let mut ws = FragmentCollector::new(ws);
        // read_frame is not cancel-safe; cancelling it loses only what it had read of a
        // frame, and nothing is read after a shutdown.
        loop {
            let frame = tokio::select! {
                f = ws.read_frame() => f,
                _ = state.shutdown.cancelled() => {
                    let _ = ws.write_frame(Frame::close(CloseCode::Away.into(), b"")).await;
                    return;
                }
            };
            let Ok(frame) = frame else { return };
            match frame.opcode {
                OpCode::Text | OpCode::Binary => {
                    let echo = Frame::new(true, frame.opcode, None, frame.payload);
                    if ws.write_frame(echo).await.is_err() {
                        return;
                    }
                }
                OpCode::Close => return,
                _ => {}
            }
        }
    });
    Ok(Handled::now(resp.map(|_| Body::empty())))
}
