//! Applications: create, uid rules, lookups, listing, modify, delete cascade.

use std::collections::BTreeMap;

use hookd_core::model::Scope;
use hookd_core::store::{AttemptFilter, Conflict, MessageFilter, NextStep, StoreError};
use hookd_core::time::Timestamp;

use crate::support::*;

conformance! {
    async fn create_and_get_by_id_and_uid(cx) {
        let s = &cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let other = s.ensure_org("globex").await.unwrap();
        let mut a = app(&org.id, Some("my-app.1"));
        a.rate_limit = Some(65535);
        a.metadata = BTreeMap::from([("tier".into(), "gold".into()), ("a".into(), "é".into())]);
        let created = s.create_app(a.clone()).await.unwrap();
        assert_eq!(created, a);
        assert_eq!(s.get_app(&org.id, &a.id).await.unwrap(), Some(a.clone()));
        assert_eq!(s.get_app(&org.id, "my-app.1").await.unwrap(), Some(a.clone()));
        assert_eq!(s.get_app_by_id(&a.id).await.unwrap(), Some(a.clone()));
        // Scoped by organisation.
        assert_eq!(s.get_app(&other.id, &a.id).await.unwrap(), None);
        assert_eq!(s.get_app(&other.id, "my-app.1").await.unwrap(), None);
        assert_eq!(s.get_app(&org.id, "nope").await.unwrap(), None);
        assert_eq!(s.get_app_by_id("app_nope").await.unwrap(), None);
    }

    async fn uid_is_unique_per_org(cx) {
        let s = &cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let other = s.ensure_org("globex").await.unwrap();
        s.create_app(app(&org.id, Some("shop"))).await.unwrap();
        let err = s.create_app(app(&org.id, Some("shop"))).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(Conflict::AppUid)), "{err:?}");
        assert_eq!(err.to_string(), "an application with this uid already exists");
        s.create_app(app(&other.id, Some("shop"))).await.unwrap();
        // Many applications may have no uid.
        s.create_app(app(&org.id, None)).await.unwrap();
        s.create_app(app(&org.id, None)).await.unwrap();
        let page = s.list_apps(&org.id, &asc(10)).await.unwrap();
        assert_eq!(page.data.len(), 3);
    }

    async fn list_paginates_both_ways_in_both_orders(cx) {
        let s = &cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let other = s.ensure_org("globex").await.unwrap();
        let mut want = Vec::new();
        for i in 0..5 {
            want.push(s.create_app(app(&org.id, Some(&format!("a{i}")))).await.unwrap().id);
            s.create_app(app(&other.id, Some(&format!("a{i}")))).await.unwrap();
        }
        let (s, org) = (s, &org.id);
        check_pagination(&want, move |q| async move {
            s.list_apps(org, &q).await.unwrap().map(|a| a.id)
        })
        .await;
    }

    async fn modify_is_atomic(cx) {
        let s = &cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, Some("one"))).await.unwrap();
        let b = s.create_app(app(&org.id, Some("two"))).await.unwrap();

        let modified = s
            .modify_app(&org.id, "one", Box::new(|a| {
                a.name = "renamed".into();
                a.uid = Some("uno".into());
                a.rate_limit = Some(10);
                a.metadata.insert("k".into(), "v".into());
                a.updated_at = Timestamp(a.updated_at.0 + 1);
            }))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(modified.id, a.id);
        assert_eq!(modified.name, "renamed");
        assert_eq!(s.get_app(&org.id, "uno").await.unwrap(), Some(modified.clone()));
        assert_eq!(s.get_app(&org.id, "one").await.unwrap(), None);

        // Taking another application's uid fails and changes nothing.
        let err = s
            .modify_app(&org.id, &b.id, Box::new(|b| {
                b.uid = Some("uno".into());
                b.name = "should not stick".into();
            }))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(Conflict::AppUid)), "{err:?}");
        assert_eq!(err.to_string(), "an application with this uid already exists");
        assert_eq!(s.get_app(&org.id, &b.id).await.unwrap(), Some(b));

        let other = s.ensure_org("globex").await.unwrap();
        assert_eq!(
            s.modify_app(&other.id, &a.id, Box::new(|a| a.name = "x".into())).await.unwrap(),
            None
        );
        assert_eq!(
            s.modify_app(&org.id, "missing", Box::new(|a| a.name = "x".into())).await.unwrap(),
            None
        );
    }

    async fn delete_cascades_to_everything_under_it(cx) {
        let s = &cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let other = s.ensure_org("globex").await.unwrap();
        let a = s.create_app(app(&org.id, Some("doomed"))).await.unwrap();
        let keep = s.create_app(app(&org.id, Some("kept"))).await.unwrap();
        let ep = s.create_endpoint(endpoint(&a.id)).await.unwrap();
        let kept_ep = s.create_endpoint(endpoint(&keep.id)).await.unwrap();
        let (m, d) = s.create_message(&a.id, msg("user.created")).await.unwrap();
        assert_eq!(d.len(), 1);
        let (km, _) = s.create_message(&keep.id, msg("user.created")).await.unwrap();
        let r = attempt(&a.id, &m.id, &ep.id, 500, Timestamp::now(), NextStep::Retry(Timestamp::now()));
        let att_id = r.attempt.id.clone();
        s.record_attempt(r).await.unwrap();
        s.record_attempt(attempt(&keep.id, &km.id, &kept_ep.id, 200, Timestamp::now(), NextStep::Success))
            .await
            .unwrap();
        s.create_api_key(&org.id, Scope::App(a.id.clone()), None, [9; 32]).await.unwrap();
        s.create_api_key(&org.id, Scope::Org, None, [8; 32]).await.unwrap();

        // Another organisation cannot delete it.
        assert!(!s.delete_app(&other.id, &a.id).await.unwrap());
        assert!(s.get_app(&org.id, &a.id).await.unwrap().is_some());

        assert!(s.delete_app(&org.id, &a.id).await.unwrap());
        assert!(!s.delete_app(&org.id, &a.id).await.unwrap(), "deleting twice");
        assert_eq!(s.get_app(&org.id, "doomed").await.unwrap(), None);
        assert_eq!(s.get_endpoint_by_id(&ep.id).await.unwrap(), None);
        assert!(s.get_message_by_id(&m.id).await.unwrap().is_none());
        assert!(s.get_attempt(&a.id, &m.id, &att_id).await.unwrap().is_none());
        assert!(s.find_api_key([9; 32], Timestamp::now()).await.unwrap().is_none(), "its key is gone");
        assert!(s.find_api_key([8; 32], Timestamp::now()).await.unwrap().is_some(), "org keys stay");
        let queued = s.queued_deliveries(Timestamp::now()).await.unwrap();
        assert!(queued.iter().all(|q| q.app_id != a.id));
        let page = s.list_messages(&a.id, &asc(10), &MessageFilter::default()).await.unwrap();
        assert!(page.data.is_empty());
        let page = s
            .list_attempts_by_endpoint(&a.id, &ep.id, &asc(10), &AttemptFilter::default())
            .await
            .unwrap();
        assert!(page.data.is_empty());
        // No row of it is left anywhere; the other application is untouched.
        for table in ["endpoints", "messages", "deliveries", "attempts"] {
            let left = cx
                .count(&format!("SELECT COUNT(*) FROM {table} WHERE app_id = '{}'", a.id))
                .await;
            assert_eq!(left, 0, "{table} rows left behind");
            let kept = cx
                .count(&format!("SELECT COUNT(*) FROM {table} WHERE app_id = '{}'", keep.id))
                .await;
            assert_eq!(kept, 1, "{table} rows of the other application");
        }
        assert_eq!(s.get_app(&org.id, "kept").await.unwrap(), Some(keep));
    }
}
