//! Credentials at rest: a store opened with keys seals endpoint secrets and
//! headers before writing them, opens them when reading, seals plaintext
//! rows when it opens, and refuses to open over credentials it cannot open.

use hookd_store::Options;
use hookd_store::seal::{Key, Keys};

use crate::support::*;

const A: &str = "8f2e4c6a1b3d5f7092e4c6a8b0d2f4e6a8c0e2f4b6d8fa1c3e5a7c9eb1d3f5a7";
const B: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn keys(current: &str, previous: Option<&str>) -> Options {
    Options {
        keys: Some(Keys {
            current: Key::parse_hex(current).unwrap(),
            previous: previous.map(|p| Key::parse_hex(p).unwrap()),
        }),
    }
}

conformance! {
    async fn credentials_are_sealed_when_written_and_opened_when_read(cx) {
        let org = cx.store.ensure_org("acme").await.unwrap();
        let a = cx.store.create_app(app(&org.id, None)).await.unwrap();
        let mut plain = endpoint(&a.id);
        plain.headers.insert("authorization".into(), "Bearer t0k".into());
        let plain = cx.store.create_endpoint(plain).await.unwrap();
        let raw = format!("SELECT secret FROM endpoints WHERE id = '{}'", plain.id);
        assert_eq!(cx.text(&raw).await, plain.secret, "no key: stored as it is");

        // Opening with a key seals what was stored in plaintext.
        let s = cx.reopen_with(keys(A, None)).unwrap();
        assert!(cx.text(&raw).await.starts_with("sealed:v1:"));
        let headers = format!("SELECT headers FROM endpoints WHERE id = '{}'", plain.id);
        assert!(!cx.text(&headers).await.contains("t0k"));
        assert_eq!(s.get_endpoint(&a.id, &plain.id).await.unwrap(), Some(plain.clone()));

        // New and changed endpoints are sealed on the way in, opened on the way out.
        let created = s.create_endpoint(endpoint(&a.id)).await.unwrap();
        let raw_new = format!("SELECT secret FROM endpoints WHERE id = '{}'", created.id);
        assert!(cx.text(&raw_new).await.starts_with("sealed:v1:"));
        let changed = s
            .modify_endpoint(&a.id, &created.id, Box::new(|e| e.secret = "whsec_bmV3IHNlY3JldCBieXRlcw==".into()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(changed.secret, "whsec_bmV3IHNlY3JldCBieXRlcw==");
        let listed = s.list_endpoints(&a.id, &asc(10)).await.unwrap();
        assert_eq!(listed.data, vec![plain.clone(), changed.clone()]);
        assert_eq!(s.get_endpoint_by_id(&created.id).await.unwrap(), Some(changed));
        let (m, _) = s.create_message(&a.id, msg("a")).await.unwrap();
        let dests = s.list_destinations(&a.id, &m.id, &asc(10)).await.unwrap();
        assert_eq!(dests.data[0].0, plain);
    }

    async fn a_store_does_not_open_over_credentials_it_cannot_open(cx) {
        let org = cx.store.ensure_org("acme").await.unwrap();
        let a = cx.store.create_app(app(&org.id, None)).await.unwrap();
        let ep = cx.store.create_endpoint(endpoint(&a.id)).await.unwrap();
        drop(cx.reopen_with(keys(A, None)).unwrap());
        let wrong = cx.reopen_with(keys(B, None)).err().unwrap();
        assert!(wrong.contains("not configured"), "{wrong}");
        let none = cx.reopen_with(Options::default()).err().unwrap();
        assert!(none.contains("not configured"), "{none}");
        // Rotation: B with A as the previous key re-seals everything with B.
        let s = cx.reopen_with(keys(B, Some(A))).unwrap();
        assert_eq!(s.get_endpoint(&a.id, &ep.id).await.unwrap(), Some(ep.clone()));
        let s = cx.reopen_with(keys(B, None)).unwrap();
        assert_eq!(s.get_endpoint(&a.id, &ep.id).await.unwrap(), Some(ep));
        assert!(cx.reopen_with(keys(A, None)).is_err());
    }
}
