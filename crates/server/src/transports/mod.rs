//! The push endpoints, one file per transport kind. [`handle`] is their registry: the one
//! place the server decides by kind (which path is whose is the kind's descriptor,
//! `pushbench_model::transport`). A new transport is a file here and a line in [`handle`].
//!
//! Each handler checks its request and starts its answer synchronously, so that the
//! request (which holds on to hyper's read buffer) is dropped before anything waits; what
//! waits is in the future it returns ([`Handled::later`]).

mod longpoll;
mod poll;
mod raw;
mod sse;
mod stream;
mod websocket;

use crate::routes::{Handled, Query, Rejection};
use crate::state::{AppState, ConnSlot};
use hyper::Request;
use hyper::body::Incoming;
use pushbench_model::transport::TransportKind;
use std::sync::Arc;

/// A request to a push endpoint, with what its handler may need.
pub(crate) struct Exchange {
    pub(crate) state: Arc<AppState>,
    /// The connection the request came on.
    pub(crate) slot: Arc<ConnSlot>,
    /// Its query parameters.
    pub(crate) query: Query,
    pub(crate) req: Request<Incoming>,
}

/// Answers a request to `kind`'s endpoint.
pub(crate) fn handle(kind: TransportKind, x: Exchange) -> Result<Handled, Rejection> {
    match kind {
        TransportKind::Raw => raw::handle(x),
        TransportKind::Poll => poll::handle(x),
        TransportKind::LongPoll => longpoll::handle(x),
        TransportKind::Stream => stream::handle(x),
        TransportKind::Sse => sse::handle(x),
        TransportKind::WebSocket => websocket::handle(x),
    }
}
