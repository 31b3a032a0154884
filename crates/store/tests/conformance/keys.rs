//! Organisations and API keys.

use hookd_core::model::{Capability, KeyKind, NewToken, Scope};
use hookd_core::store::StoreError;
use hookd_core::time::Timestamp;

use crate::support::*;

conformance! {
    async fn ensure_org_is_idempotent(cx) {
        let s = &cx.store;
        let a = s.ensure_org("acme").await.unwrap();
        let again = s.ensure_org("acme").await.unwrap();
        let other = s.ensure_org("globex").await.unwrap();
        assert_eq!(a.id, again.id);
        assert_eq!(a.created_at, again.created_at);
        assert_eq!(a.name, "acme");
        assert!(a.id.starts_with("org_"));
        assert_ne!(a.id, other.id);
    }

    async fn concurrent_ensure_org_agrees(cx) {
        // Two nodes starting at once must end up with one organisation.
        let nodes = [cx.store.clone(), cx.reopen()];
        let mut tasks = Vec::new();
        for i in 0..8 {
            let s = nodes[i % 2].clone();
            tasks.push(tokio::spawn(async move { s.ensure_org("default").await.unwrap().id }));
        }
        let mut ids = Vec::new();
        for t in tasks {
            ids.push(t.await.unwrap());
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "{ids:?}");
    }

    async fn api_keys_create_find_list_revoke(cx) {
        let s = &cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let app = s.create_app(app(&org.id, None)).await.unwrap();
        let k1 = s
            .create_api_key(&org.id, Scope::Org, Some("ci".into()), [1; 32])
            .await
            .unwrap();
        let k2 = s
            .create_api_key(&org.id, Scope::App(app.id.clone()), None, [2; 32])
            .await
            .unwrap();
        assert!(k1.id.starts_with("key_"));
        assert_eq!(k1.org_id, org.id);
        assert_eq!(k1.org_name, "acme");
        assert_eq!(k1.name.as_deref(), Some("ci"));
        assert_eq!(k1.scope, Scope::Org);
        assert_eq!(k1.revoked_at, None);
        assert_eq!(k2.scope, Scope::App(app.id.clone()));
        assert_eq!(k2.name, None);

        let found = s.find_api_key([1; 32], Timestamp::now()).await.unwrap().unwrap();
        assert_eq!(found.id, k1.id);
        assert_eq!(found.org_name, "acme");
        assert_eq!(found.scope, Scope::Org);
        let found = s.find_api_key([2; 32], Timestamp::now()).await.unwrap().unwrap();
        assert_eq!(found.scope, Scope::App(app.id.clone()));
        assert!(s.find_api_key([3; 32], Timestamp::now()).await.unwrap().is_none());

        let listed: Vec<String> = s.list_api_keys().await.unwrap().into_iter().map(|k| k.id).collect();
        assert_eq!(listed, vec![k1.id.clone(), k2.id.clone()]);

        assert!(s.revoke_api_key(&k1.id).await.unwrap());
        assert!(!s.revoke_api_key(&k1.id).await.unwrap(), "revoking twice");
        assert!(!s.revoke_api_key("key_doesnotexist").await.unwrap());
        assert!(s.find_api_key([1; 32], Timestamp::now()).await.unwrap().is_none());
        assert!(s.find_api_key([2; 32], Timestamp::now()).await.unwrap().is_some());
        let listed = s.list_api_keys().await.unwrap();
        let revoked = listed.iter().find(|k| k.id == k1.id).unwrap();
        assert!(revoked.revoked_at.is_some());
    }

    async fn duplicate_key_hash_is_an_error_not_a_conflict(cx) {
        let s = &cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        s.create_api_key(&org.id, Scope::Org, None, [7; 32]).await.unwrap();
        let err = s.create_api_key(&org.id, Scope::Org, None, [7; 32]).await.unwrap_err();
        assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
        assert_eq!(s.list_api_keys().await.unwrap().len(), 1);
    }

    async fn tokens_expire_keep_their_capabilities_and_stay_out_of_the_key_list(cx) {
        let s = &cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap().id;
        let b = s.create_app(app(&org.id, None)).await.unwrap().id;
        let now = Timestamp::now();
        let token = |app: &str, hash: u8, session: Option<&str>, caps: Option<Vec<Capability>>| NewToken {
            org_id: org.id.clone(),
            scope: Scope::App(app.to_string()),
            kind: KeyKind::Portal,
            name: Some("portal".into()),
            hash: [hash; 32],
            expires_at: Timestamp(now.0 + 3_600_000),
            capabilities: caps,
            session_id: session.map(str::to_string),
        };
        let t1 = s
            .issue_token(token(&a, 1, Some("s1"), Some(vec![Capability::ViewBase, Capability::ViewEndpointSecret])))
            .await
            .unwrap();
        s.issue_token(token(&a, 2, Some("s2"), None)).await.unwrap();
        s.issue_token(token(&b, 3, None, None)).await.unwrap();
        assert_eq!(t1.kind, KeyKind::Portal);
        let found = s.find_api_key([1; 32], now).await.unwrap().unwrap();
        assert_eq!(found.id, t1.id);
        assert_eq!(found.scope, Scope::App(a.clone()));
        assert_eq!(found.capabilities, Some(vec![Capability::ViewBase, Capability::ViewEndpointSecret]));
        assert_eq!(found.session_id.as_deref(), Some("s1"));
        assert_eq!(found.expires_at, Some(Timestamp(now.0 + 3_600_000)));
        // Past its expiry the token is not found.
        assert!(s.find_api_key([1; 32], Timestamp(now.0 + 3_600_001)).await.unwrap().is_none());
        assert!(s.list_api_keys().await.unwrap().is_empty(), "tokens are not API keys");

        // Expiring one session, then the rest of the application.
        assert_eq!(s.expire_portal_tokens(&a, now, Some(&["s1".to_string()])).await.unwrap(), 1);
        assert!(s.find_api_key([1; 32], Timestamp(now.0 + 1)).await.unwrap().is_none());
        assert!(s.find_api_key([2; 32], Timestamp(now.0 + 1)).await.unwrap().is_some());
        assert_eq!(s.expire_portal_tokens(&a, now, None).await.unwrap(), 1);
        assert!(s.find_api_key([2; 32], Timestamp(now.0 + 1)).await.unwrap().is_none());
        assert!(s.find_api_key([3; 32], Timestamp(now.0 + 1)).await.unwrap().is_some(), "b's token lives");
        // A later expiry never extends a token.
        assert_eq!(s.expire_portal_tokens(&b, Timestamp(now.0 + 9_000_000), None).await.unwrap(), 0);
    }

    async fn ping_answers(cx) {
        cx.store.ping().await.unwrap();
    }

    async fn reopening_keeps_data_and_schema(cx) {
        let org = cx.store.ensure_org("acme").await.unwrap();
        let a = cx.store.create_app(app(&org.id, Some("kept"))).await.unwrap();
        // Opening again runs the migrations again: they must be no-ops.
        let again = cx.reopen();
        assert_eq!(again.get_app(&org.id, "kept").await.unwrap(), Some(a));
        assert_eq!(again.ensure_org("acme").await.unwrap().id, org.id);
    }
}
