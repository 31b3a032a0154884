//! One delivery attempt: load what is missing, mark it in flight, sign, POST,
//! classify, record, and tell the scheduler what comes next.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hookd_core::ids::{self, Kind};
use hookd_core::model::{Attempt, DeliveryStatus, Endpoint, Message, TriggerType};
use hookd_core::retry::{Decision, Outcome, decide};
use hookd_core::store::{AttemptResult, NextStep, QueuedDelivery};
use hookd_core::time::Timestamp;
use hookd_webhooks::Key;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use tokio::time::Instant;

use super::Engine;
use super::client::Client;
use super::events::OperationalEvent;

/// A delivery in the scheduler's hands.
pub(crate) struct Job {
    pub d: QueuedDelivery,
    pub msg: Option<Arc<Message>>,
    /// In an ordered lane, where a retry waits in place: not sent before this.
    pub not_before: Option<Instant>,
}

impl Job {
    pub fn new(d: QueuedDelivery, msg: Option<Arc<Message>>) -> Job {
        // Only keep a message that really is this delivery's.
        let msg = msg.filter(|m| m.id == d.msg_id);
        Job {
            d,
            msg,
            not_before: None,
        }
    }
    pub fn endpoint_id(&self) -> &str {
        &self.d.endpoint_id
    }
    pub fn msg_id(&self) -> &str {
        &self.d.msg_id
    }
}

/// What the scheduler learns when an attempt's request is over (the lane's
/// slot is free again; recording the attempt may still be under way).
pub(crate) struct Done {
    /// Attempt again at this time.
    pub retry: Option<(Job, Instant)>,
    /// How the request went, when one was made (for the lane's window).
    pub sent: Option<(Outcome, Duration)>,
}

impl Done {
    fn nothing() -> Done {
        Done {
            retry: None,
            sent: None,
        }
    }
}

/// Delay before trying again after a store failure (the attempt did not count).
const STORE_RETRY: Duration = Duration::from_secs(2);

fn jitter() -> f64 {
    let mut b = [0u8; 8];
    hookd_core::random::fill(&mut b);
    (u64::from_le_bytes(b) as f64 / u64::MAX as f64) * 2.0 - 1.0
}

/// Builds the headers of a delivery: signature set, content type, custom headers.
pub(crate) fn delivery_headers(
    endpoint: &Endpoint,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
    svix_names: bool,
) -> HeaderMap {
    let now = Timestamp::now();
    let mut keys: Vec<Key> = Vec::with_capacity(1 + endpoint.old_secrets.len());
    if let Ok(k) = Key::parse(&endpoint.secret) {
        keys.push(k);
    }
    for old in &endpoint.old_secrets {
        if old.expires_at > now
            && let Ok(k) = Key::parse(&old.key)
        {
            keys.push(k);
        }
    }
    let signature = hookd_webhooks::sign(msg_id, timestamp, body, &keys);
    let mut h = HeaderMap::with_capacity(6 + endpoint.headers.len());
    // Custom headers first, so the ones hookd sets always win.
    for (k, v) in &endpoint.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v))
        {
            h.insert(name, value);
        }
    }
    let (id_h, ts_h, sig_h) = if svix_names {
        ("svix-id", "svix-timestamp", "svix-signature")
    } else {
        ("webhook-id", "webhook-timestamp", "webhook-signature")
    };
    let set = |h: &mut HeaderMap, name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    set(&mut h, id_h, msg_id);
    set(&mut h, ts_h, &timestamp.to_string());
    set(&mut h, sig_h, &signature);
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h
}

/// Makes one attempt. `finish` is called as soon as the request is over, so
/// the endpoint's slot is not held while the attempt is being recorded.
pub(crate) async fn attempt(
    engine: &Engine,
    client: &Client,
    mut job: Job,
    endpoint: Arc<Endpoint>,
    finish: impl FnOnce(Done),
) {
    let store = &engine.store;
    let msg = match job.msg.clone() {
        Some(m) => m,
        None => match store.get_message_by_id(&job.d.msg_id).await {
            Ok(Some(m)) => {
                let m = Arc::new(m);
                job.msg = Some(m.clone());
                m
            }
            // Deleted with its application: nothing left to deliver.
            Ok(None) => return finish(Done::nothing()),
            Err(e) => {
                tracing::warn!(error = %e.chain(), msg = %job.d.msg_id, "cannot load message; will retry");
                return finish(Done {
                    retry: Some((job, Instant::now() + STORE_RETRY)),
                    sent: None,
                });
            }
        },
    };
    // The delivery is `sending` from now until its attempt is recorded. That
    // state lives in memory only (the API shows it from there): a restart
    // re-attempts pending deliveries anyway, so persisting it would cost a
    // write per delivery and buy nothing.
    let key = (job.d.msg_id.clone(), job.d.endpoint_id.clone());
    engine.in_flight_insert(key.clone());
    let span = tracing::debug_span!(
        "delivery_attempt",
        app = %job.d.app_id,
        endpoint = %endpoint.id,
        msg = %msg.id,
        attempt = job.d.attempts + 1,
    );
    tracing::Instrument::instrument(
        send_and_record(engine, client, job, endpoint, msg, finish),
        span,
    )
    .await;
    engine.in_flight_remove(&key);
}

async fn send_and_record(
    engine: &Engine,
    client: &Client,
    job: Job,
    endpoint: Arc<Endpoint>,
    msg: Arc<Message>,
    finish: impl FnOnce(Done),
) {
    let timestamp = Timestamp::now();
    let body = Bytes::copy_from_slice(msg.payload.get().as_bytes());
    let headers = delivery_headers(
        &endpoint,
        &msg.id,
        timestamp.0 / 1000,
        &body,
        engine.config.svix_headers,
    );
    let sent_headers = hookd_core::model::logged_headers(
        headers
            .iter()
            .map(|(k, v)| (k.as_str(), String::from_utf8_lossy(v.as_bytes()))),
    );
    let sent = client.post(&endpoint.url, headers, body).await;

    engine.metrics.attempt(&sent.outcome, sent.duration);
    if sent.outcome.is_success() && !job.d.manual {
        engine.metrics.delivered(msg.timestamp);
    }
    let attempts_made = job.d.attempts as usize + 1;
    // Only a failure needs a schedule: a success asks nothing of the cache.
    let own = if sent.outcome.is_success() {
        None
    } else {
        engine
            .schedules
            .get(engine.store.as_ref(), &job.d.app_id, &msg.event_type)
            .await
    };
    let decision = decide(
        &sent.outcome,
        attempts_made,
        own.as_deref().unwrap_or(&engine.config.schedule),
        sent.retry_after,
        jitter(),
    );
    let now = Timestamp::now();
    let (next, retry_at) = match &decision {
        Decision::Success => (NextStep::Success, None),
        Decision::Retry(d) => {
            let at = Timestamp(now.0 + d.as_millis() as i64);
            (NextStep::Retry(at), Some((at, *d)))
        }
        Decision::Fail => (NextStep::Fail, None),
        Decision::Disable => (NextStep::FailAndDisable, None),
    };
    let attempt = Attempt {
        id: ids::new_id(Kind::Attempt),
        msg_id: msg.id.clone(),
        endpoint_id: endpoint.id.clone(),
        url: endpoint.url.clone(),
        response: sent.body,
        response_status_code: i32::from(sent.status),
        response_duration_ms: sent.duration.as_millis() as i64,
        status: if decision == Decision::Success {
            DeliveryStatus::Success
        } else {
            DeliveryStatus::Fail
        },
        trigger_type: if job.d.manual {
            TriggerType::Manual
        } else {
            TriggerType::Scheduled
        },
        error_class: sent.outcome.error_class().map(String::from),
        sent_headers: Some(sent_headers),
        response_headers: sent.response_headers,
        timestamp: now,
        msg: None,
    };
    tracing::debug!(
        app = %job.d.app_id, endpoint = %endpoint.id, msg = %msg.id, attempt = %attempt.id,
        status = sent.status, outcome = ?sent.outcome, "delivery attempt"
    );
    let attempt_id = attempt.id.clone();
    let result = AttemptResult {
        app_id: job.d.app_id.clone(),
        attempt,
        next,
        disable_after_ms: engine.config.disable_after.as_millis() as i64,
    };
    // Records are written in order, by one recorder, so a retry's record can
    // never land before the record of the attempt that scheduled it.
    let room = engine.record_room().await;
    let recorded = engine.record_queued(result.clone());
    let app_id = job.d.app_id.clone();
    finish(Done {
        sent: Some((sent.outcome.clone(), sent.duration)),
        retry: retry_at.map(|(at, d)| {
            let mut next = job;
            next.d.attempts = attempts_made as i64;
            next.d.manual = false;
            next.d.due = at;
            (next, Instant::now() + d)
        }),
    });
    let effects = match recorded.await {
        Ok(e) => e,
        Err(first) => {
            // The attempt happened but is not recorded yet: keep trying for a
            // while. If the store stays away, the delivery is still pending
            // there and is attempted again at the next start (at-least-once).
            let mut last = first;
            let mut effects = None;
            for backoff in [STORE_RETRY, STORE_RETRY * 5, STORE_RETRY * 15] {
                tokio::time::sleep(backoff).await;
                match engine.record_queued(result.clone()).await {
                    Ok(e) => {
                        effects = Some(e);
                        break;
                    }
                    Err(e) => last = e,
                }
            }
            match effects {
                Some(e) => e,
                None => {
                    tracing::error!(error = %last.chain(), msg = %msg.id, endpoint = %endpoint.id, "cannot record attempt");
                    return;
                }
            }
        }
    };
    drop(room);
    if effects.gone {
        return;
    }

    // Operational events.
    let failing_after = engine.config.failing_event_after;
    let last = super::events::LastAttempt {
        id: attempt_id,
        timestamp: now,
        response_status_code: i32::from(sent.status),
    };
    let op = |e: OperationalEvent| {
        let engine = engine.clone();
        let app_id = app_id.clone();
        tokio::spawn(async move {
            if let Ok(Some(app)) = engine.store.get_app_by_id(&app_id).await {
                engine.emit(&app.org_id.clone(), &app.id.clone(), e.with_app(&app));
            }
        });
    };
    match &decision {
        Decision::Fail | Decision::Disable => op(OperationalEvent::attempt(
            "message.attempt.exhausted",
            &msg,
            &endpoint,
            last.clone(),
        )),
        Decision::Retry(_) if effects.attempts == failing_after => op(OperationalEvent::attempt(
            "message.attempt.failing",
            &msg,
            &endpoint,
            last.clone(),
        )),
        Decision::Success if effects.attempts > failing_after => op(OperationalEvent::attempt(
            "message.attempt.recovered",
            &msg,
            &endpoint,
            last.clone(),
        )),
        _ => {}
    }
    if let Some(reason) = effects.disabled {
        engine.metrics.disabled(reason.as_str());
        op(OperationalEvent::endpoint_disabled(
            &endpoint,
            effects.failing_since,
            reason.as_str(),
        ));
    }
}
