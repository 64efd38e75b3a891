//! PostgreSQL: audit batches go in by `COPY … FROM STDIN` on a small native pool of their own,
//! because the `Any` driver cannot `COPY` and the trail must keep up with tens of thousands of
//! rows a second (a multi-row INSERT through `Any` managed ~15k rows/s here and filled the
//! statement cache with one huge statement per batch size).

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolCopyExt, PgPoolOptions};

use super::AuditEvent;
use crate::store::StoreError;
use crate::store::recycle::Recycler;

/// Its connection is retired like the main pool's (see `recycle`): a COPY on a session opened
/// read-only would otherwise fail for as long as the connection lives.
pub(in crate::store) fn copy_pool(
    url: &str,
    acquire_timeout: Duration,
    recycler: &Recycler,
) -> Result<PgPool, StoreError> {
    let (on_acquire, on_release) = (recycler.clone(), recycler.clone());
    Ok(PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(acquire_timeout)
        .before_acquire(move |_, meta| Box::pin(std::future::ready(Ok(on_acquire.keep(meta.age)))))
        .after_release(move |_, meta| Box::pin(std::future::ready(Ok(on_release.keep(meta.age)))))
        .connect_lazy(url)?)
}

/// The caller classifies the error (`Store::note`).
pub(super) async fn insert(pool: &PgPool, events: &[AuditEvent]) -> Result<(), sqlx::Error> {
    let mut copy = pool
        .copy_in_raw(
            "COPY audit_events (at_ms, event, client_id, customer_id, source, request_id, \
             detail) FROM STDIN",
        )
        .await?;
    let mut buf = String::with_capacity(events.len() * 160);
    for e in events {
        buf.push_str(&e.at_ms.to_string());
        for field in [
            Some(&*e.event),
            e.client_id.as_deref(),
            e.customer_id.as_deref(),
            e.source.as_deref(),
            e.request_id.as_deref(),
            e.detail.as_deref(),
        ] {
            buf.push('\t');
            copy_text_field(&mut buf, field);
        }
        buf.push('\n');
    }
    copy.send(buf.into_bytes()).await?;
    copy.finish().await?;
    Ok(())
}

/// One field of PostgreSQL's COPY text format: `\N` for NULL, and backslash, tab, newline and
/// carriage return escaped so no value can break out of its column or row.
fn copy_text_field(buf: &mut String, value: Option<&str>) {
    let Some(v) = value else {
        buf.push_str("\\N");
        return;
    };
    for c in v.chars() {
        match c {
            '\\' => buf.push_str("\\\\"),
            '\t' => buf.push_str("\\t"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            c => buf.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_fields_cannot_break_out_of_their_column() {
        let mut buf = String::new();
        copy_text_field(&mut buf, Some("a\tb\\c\nd"));
        buf.push('|');
        copy_text_field(&mut buf, None);
        assert_eq!(buf, "a\\tb\\\\c\\nd|\\N");
    }
}
