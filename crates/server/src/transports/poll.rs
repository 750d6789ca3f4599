//! `GET /poll?topic=T&cursor=C`: timed polling. The answer comes at once: every retained
//! message after the cursor, or without a cursor the head alone (how a client starts).

use super::Exchange;
use crate::routes::{Handled, Rejection, batch, check_cursor, topic};

pub(super) fn handle(x: Exchange) -> Result<Handled, Rejection> {
    let topic = topic(&x.state, &x.query)?;
    let cursor = match x.query.cursor {
        Some(c) => check_cursor(&topic, c)?,
        None => topic.head(),
    };
    Ok(Handled::now(batch(&x.state, &topic, cursor).1))
}
