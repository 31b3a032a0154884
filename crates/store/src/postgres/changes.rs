//! Telling the other nodes of changes: `NOTIFY` inside the transaction that
//! makes the change (so it is sent only if it commits), and a dedicated
//! connection that `LISTEN`s and tells this node's watchers.

use std::sync::Arc;

use deadpool_postgres::GenericClient;
use hookd_core::store::{Change, StoreResult};

use super::conn::query;
use super::tls::Connector;
use crate::hub::Hub;

/// The channel nodes LISTEN on.
const CHANNEL: &str = "hookd_changes";

/// Announces `change` from the store tagged `origin`, in the caller's transaction.
pub(super) async fn notify(
    c: &impl GenericClient,
    origin: &str,
    change: &Change,
) -> StoreResult<()> {
    let payload = format!("{origin} {}", change.encode());
    query(c, "SELECT pg_notify($1, $2)", &[&CHANNEL, &payload]).await?;
    Ok(())
}

/// Keeps a dedicated connection LISTENing (pooled connections would lose
/// notifications between checkouts) and tells the hub of each change made
/// by another store, reconnecting after failures. Notifications missed while
/// disconnected are covered by the caches' TTLs and the claimer's polling.
/// It connects through the pool's `connector`, so with the same TLS.
pub(super) async fn listen(
    config: tokio_postgres::Config,
    connector: Connector,
    hub: Arc<Hub>,
    origin: String,
) {
    loop {
        match connector.connect(&config).await {
            Ok((client, mut connection)) => {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                let driver = tokio::spawn(async move {
                    let mut messages =
                        futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(m) = futures_util::StreamExt::next(&mut messages).await {
                        match m {
                            Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                                if tx.send(n.payload().to_string()).is_err() {
                                    break;
                                }
                            }
                            Ok(_) => {}
                            Err(_) => break,
                        }
                    }
                });
                if client
                    .batch_execute(&format!("LISTEN {CHANNEL}"))
                    .await
                    .is_ok()
                {
                    // After (re)connecting, anything may have changed meanwhile.
                    hub.emit(Change::Deliveries);
                    while let Some(payload) = rx.recv().await {
                        let Some((from, change)) = payload.split_once(' ') else {
                            continue;
                        };
                        if from == origin {
                            continue;
                        }
                        if let Some(change) = Change::decode(change) {
                            hub.emit(change);
                        }
                    }
                }
                driver.abort();
            }
            Err(e) => tracing::debug!(error = %e, "cannot connect to LISTEN for changes"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
