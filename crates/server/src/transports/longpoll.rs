//! `GET /longpoll?topic=T&cursor=C&timeout=MS`: HTTP long polling. An answer with the
//! messages after the cursor as soon as there is one, or the empty answer when the timeout
//! passes.

use super::Exchange;
use crate::hub::Topic;
use crate::routes::{Handled, Rejection, Resp, batch, check_cursor, topic};
use crate::state::AppState;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub(super) fn handle(x: Exchange) -> Result<Handled, Rejection> {
    let (state, q) = (x.state, x.query);
    let topic = topic(&state, &q)?;
    let Some(cursor) = q.cursor else {
        return Ok(Handled::now(batch(&state, &topic, topic.head()).1));
    };
    let cursor = check_cursor(&topic, cursor)?;
    let timeout = q
        .timeout_ms
        .map_or(state.config.longpoll_timeout, Duration::from_millis);
    // Subscribe before the first read so a publish in between still wakes us.
    let head = topic.subscribe();
    let (n, resp) = batch(&state, &topic, cursor);
    if n > 0 {
        return Ok(Handled::now(resp));
    }
    Ok(Handled::later(hold(state, topic, head, cursor, timeout)))
}

/// Holds a long poll until a message after `cursor` is published, `timeout` passes or the
/// server shuts down, and answers with what there is then.
async fn hold(
    state: Arc<AppState>,
    topic: Arc<Topic>,
    mut head: watch::Receiver<u64>,
    cursor: u64,
    timeout: Duration,
) -> Result<Resp, Rejection> {
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            biased;
            _ = state.shutdown.cancelled() => break,
            _ = &mut deadline => break,
            changed = head.changed() => {
                if changed.is_err() {
                    break;
                }
                let (n, resp) = batch(&state, &topic, cursor);
                if n > 0 {
                    return Ok(resp);
                }
            }
        }
    }
    Ok(batch(&state, &topic, cursor).1)
}
