//! Endpoints: create, uid rules, lookups, listing, modify, delete.

use std::collections::BTreeMap;

use hookd_core::model::OldSecret;
use hookd_core::store::{AttemptFilter, Conflict, NextStep, StoreError};
use hookd_core::time::Timestamp;

use crate::support::*;

conformance! {
    async fn create_and_get_by_id_and_uid(cx) {
        let s = &cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        let b = s.create_app(app(&org.id, None)).await.unwrap();
        let mut e = endpoint(&a.id);
        e.uid = Some("primary".into());
        e.description = "Ünïcode – and \"quotes\"".into();
        e.rate_limit = Some(7);
        e.filter_types = Some(strings(&["user.created", "user.deleted"]));
        e.channels = Some(strings(&["eu", "us"]));
        e.metadata = BTreeMap::from([("team".into(), "payments".into())]);
        e.headers = BTreeMap::from([("X-Api-Key".into(), "abc".into())]);
        e.old_secrets = vec![OldSecret { key: "whsec_old".into(), expires_at: Timestamp(42) }];
        e.version = 3;
        let created = s.create_endpoint(e.clone()).await.unwrap();
        assert_eq!(created, e);
        assert_eq!(s.get_endpoint(&a.id, &e.id).await.unwrap(), Some(e.clone()));
        assert_eq!(s.get_endpoint(&a.id, "primary").await.unwrap(), Some(e.clone()));
        assert_eq!(s.get_endpoint_by_id(&e.id).await.unwrap(), Some(e.clone()));
        assert_eq!(s.get_endpoint(&b.id, &e.id).await.unwrap(), None, "scoped by app");
        assert_eq!(s.get_endpoint(&b.id, "primary").await.unwrap(), None);
        assert_eq!(s.get_endpoint(&a.id, "other").await.unwrap(), None);
    }

    async fn uid_is_unique_per_app(cx) {
        let s = &cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        let b = s.create_app(app(&org.id, None)).await.unwrap();
        let mut e = endpoint(&a.id);
        e.uid = Some("hook".into());
        s.create_endpoint(e.clone()).await.unwrap();
        let mut dup = endpoint(&a.id);
        dup.uid = Some("hook".into());
        let err = s.create_endpoint(dup).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(Conflict::EndpointUid)), "{err:?}");
        let mut elsewhere = endpoint(&b.id);
        elsewhere.uid = Some("hook".into());
        s.create_endpoint(elsewhere).await.unwrap();
        s.create_endpoint(endpoint(&a.id)).await.unwrap();
        s.create_endpoint(endpoint(&a.id)).await.unwrap();
        assert_eq!(s.list_endpoints(&a.id, &asc(10)).await.unwrap().data.len(), 3);
    }

    async fn list_paginates_both_ways_in_both_orders(cx) {
        let s = &cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        let b = s.create_app(app(&org.id, None)).await.unwrap();
        let mut want = Vec::new();
        for _ in 0..5 {
            want.push(s.create_endpoint(endpoint(&a.id)).await.unwrap().id);
            s.create_endpoint(endpoint(&b.id)).await.unwrap();
        }
        let app_id = &a.id;
        check_pagination(&want, move |q| async move {
            s.list_endpoints(app_id, &q).await.unwrap().map(|e| e.id)
        })
        .await;
    }

    async fn modify_secrets_headers_and_filters(cx) {
        let s = &cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        let mut e = endpoint(&a.id);
        e.uid = Some("hook".into());
        let e = s.create_endpoint(e).await.unwrap();
        let other = s.create_endpoint({
            let mut o = endpoint(&a.id);
            o.uid = Some("taken".into());
            o
        })
        .await
        .unwrap();

        let old = e.secret.clone();
        let modified = s
            .modify_endpoint(&a.id, "hook", Box::new(move |e| {
                e.old_secrets.push(OldSecret { key: old, expires_at: Timestamp(1_000) });
                e.secret = "whsec_bmV3IHNlY3JldCBieXRlcyBoZXJl".into();
                e.headers.insert("X-One".into(), "1".into());
                e.headers.insert("x-two".into(), "deux".into());
                e.filter_types = Some(vec!["a.b".into()]);
                e.channels = None;
                e.disabled = true;
                e.url = "https://elsewhere.example/".into();
                e.version += 1;
            }))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(modified.secret, "whsec_bmV3IHNlY3JldCBieXRlcyBoZXJl");
        assert_eq!(modified.old_secrets, vec![OldSecret { key: e.secret.clone(), expires_at: Timestamp(1_000) }]);
        assert_eq!(s.get_endpoint(&a.id, &e.id).await.unwrap(), Some(modified.clone()));

        // Headers removed, secret history trimmed.
        let m2 = s
            .modify_endpoint(&a.id, &e.id, Box::new(|e| {
                e.headers.clear();
                e.old_secrets.clear();
                e.disabled = false;
            }))
            .await
            .unwrap()
            .unwrap();
        assert!(m2.headers.is_empty() && m2.old_secrets.is_empty() && !m2.disabled);
        assert_eq!(s.get_endpoint_by_id(&e.id).await.unwrap(), Some(m2.clone()));

        let err = s
            .modify_endpoint(&a.id, &e.id, Box::new(|e| {
                e.uid = Some("taken".into());
                e.description = "should not stick".into();
            }))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(Conflict::EndpointUid)), "{err:?}");
        assert_eq!(s.get_endpoint(&a.id, &e.id).await.unwrap(), Some(m2));
        assert_eq!(s.get_endpoint(&a.id, "taken").await.unwrap(), Some(other));
        assert_eq!(
            s.modify_endpoint(&a.id, "nope", Box::new(|e| e.disabled = true)).await.unwrap(),
            None
        );
    }

    async fn delete_removes_its_deliveries_and_attempts(cx) {
        let s = &cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        let b = s.create_app(app(&org.id, None)).await.unwrap();
        let e1 = s.create_endpoint(endpoint(&a.id)).await.unwrap();
        let e2 = s.create_endpoint(endpoint(&a.id)).await.unwrap();
        let (m, d) = s.create_message(&a.id, held("x")).await.unwrap();
        assert_eq!(d.len(), 2);
        let r = attempt(&a.id, &m.id, &e1.id, 503, Timestamp::now(), NextStep::Retry(Timestamp::now()));
        let att = r.attempt.id.clone();
        s.record_attempt(r).await.unwrap();

        assert!(!s.delete_endpoint(&b.id, &e1.id).await.unwrap(), "scoped by app");
        assert!(s.delete_endpoint(&a.id, &e1.id).await.unwrap());
        assert!(!s.delete_endpoint(&a.id, &e1.id).await.unwrap(), "deleting twice");
        assert_eq!(s.get_endpoint(&a.id, &e1.id).await.unwrap(), None);
        let dests = s.list_destinations(&a.id, &m.id, &asc(10)).await.unwrap();
        let ids: Vec<_> = dests.data.iter().map(|(e, _)| e.id.clone()).collect();
        assert_eq!(ids, vec![e2.id.clone()]);
        assert!(s.get_attempt(&a.id, &m.id, &att).await.unwrap().is_none());
        let atts = s
            .list_attempts_by_message(&a.id, &m.id, &asc(10), &AttemptFilter::default())
            .await
            .unwrap();
        assert!(atts.data.is_empty());
        assert!(s.get_message(&a.id, &m.id).await.unwrap().is_some(), "the message stays");
        let queued = s.queued_deliveries(Timestamp::now()).await.unwrap();
        assert_eq!(queued.len(), 1);
        assert_eq!(queued[0].endpoint_id, e2.id);
    }

    async fn disabled_endpoints_are_counted(cx) {
        let s = &*cx.store;
        assert_eq!(s.count_disabled_endpoints().await.unwrap(), 0);
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        let e1 = s.create_endpoint(endpoint(&a.id)).await.unwrap();
        s.create_endpoint(endpoint(&a.id)).await.unwrap();
        s.modify_endpoint(&a.id, &e1.id, Box::new(|e| e.disabled = true)).await.unwrap();
        assert_eq!(s.count_disabled_endpoints().await.unwrap(), 1);
        s.delete_endpoint(&a.id, &e1.id).await.unwrap();
        assert_eq!(s.count_disabled_endpoints().await.unwrap(), 0);
    }
}
