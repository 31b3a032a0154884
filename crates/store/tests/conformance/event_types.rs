//! Event types: create, conflicts, archive and re-create, listing, modify, delete,
//! imports, and the changes every write announces.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookd_core::store::{Change, Conflict, StoreError};
use hookd_core::time::Timestamp;
use serde_json::json;

use crate::support::*;

conformance! {
    async fn create_and_get(cx) {
        let s = &cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let other = s.ensure_org("globex").await.unwrap();
        let mut et = event_type(&org.id, "invoice.paid");
        et.schemas = Some(json!({"1": {"type": "object", "properties": {"z": {}, "a": {"type": "number"}}}}));
        et.feature_flags = Some(strings(&["beta"]));
        et.group_name = Some("billing".into());
        et.deprecated = true;
        let created = s.create_event_type(et.clone()).await.unwrap();
        assert_eq!(created, et);
        assert_eq!(s.get_event_type(&org.id, "invoice.paid").await.unwrap(), Some(et.clone()));
        assert_eq!(s.get_event_type(&other.id, "invoice.paid").await.unwrap(), None);
        assert_eq!(s.get_event_type(&org.id, "invoice.PAID").await.unwrap(), None, "names are case-sensitive");
        // The same name in another organisation is another event type.
        s.create_event_type(event_type(&other.id, "invoice.paid")).await.unwrap();
    }

    async fn an_active_name_conflicts(cx) {
        let s = &cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let et = s.create_event_type(event_type(&org.id, "user.created")).await.unwrap();
        let mut again = event_type(&org.id, "user.created");
        again.description = "should not stick".into();
        let err = s.create_event_type(again).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(Conflict::EventTypeName)), "{err:?}");
        assert_eq!(s.get_event_type(&org.id, "user.created").await.unwrap(), Some(et));
    }

    async fn concurrent_creates_have_one_winner(cx) {
        let nodes = [cx.store.clone(), cx.reopen()];
        let org = nodes[0].ensure_org("acme").await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let s = nodes[i % 2].clone();
            let mut et = event_type(&org.id, "race");
            et.description = format!("writer {i}");
            tasks.push(tokio::spawn(async move { s.create_event_type(et).await }));
        }
        let mut won = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                Ok(et) => won.push(et.description),
                Err(StoreError::Conflict(_)) => {}
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        assert_eq!(won.len(), 1, "{won:?}");
        let stored = nodes[0].get_event_type(&org.id, "race").await.unwrap().unwrap();
        assert_eq!(stored.description, won[0]);
    }

    async fn recreating_an_archived_type_unarchives_it(cx) {
        let s = &cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let mut first = event_type(&org.id, "order.shipped");
        first.created_at = Timestamp(1_000);
        first.updated_at = Timestamp(1_000);
        s.create_event_type(first).await.unwrap();
        s.modify_event_type(&org.id, "order.shipped", Box::new(|e| e.archived = true))
            .await
            .unwrap()
            .unwrap();
        let mut second = event_type(&org.id, "order.shipped");
        second.description = "new description".into();
        second.schemas = Some(json!({"1": {"type": "object"}}));
        second.created_at = Timestamp(2_000);
        second.updated_at = Timestamp(2_000);
        let created = s.create_event_type(second).await.unwrap();
        assert!(!created.archived);
        assert_eq!(created.created_at, Timestamp(1_000), "the original creation time is kept");
        assert_eq!(created.updated_at, Timestamp(2_000));
        assert_eq!(created.description, "new description");
        assert_eq!(s.get_event_type(&org.id, "order.shipped").await.unwrap(), Some(created));
    }

    async fn list_with_and_without_archived_in_bytewise_order(cx) {
        let s = &cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let other = s.ensure_org("globex").await.unwrap();
        // Bytewise: digits < upper case < '_' < lower case, '-' < '.'.
        // A locale collation would order these differently.
        let names = ["9z", "A-1", "A.1", "Z", "_x", "a", "b.B", "b.a"];
        for n in names.iter().rev() {
            s.create_event_type(event_type(&org.id, n)).await.unwrap();
        }
        s.create_event_type(event_type(&other.id, "other.org")).await.unwrap();
        s.modify_event_type(&org.id, "Z", Box::new(|e| e.archived = true)).await.unwrap();
        s.modify_event_type(&org.id, "a", Box::new(|e| e.archived = true)).await.unwrap();

        let want = strings(&names);
        let org_id = &org.id;
        check_pagination(&want, move |q| async move {
            s.list_event_types(org_id, &q, true).await.unwrap().map(|e| e.name)
        })
        .await;
        let active = strings(&["9z", "A-1", "A.1", "_x", "b.B", "b.a"]);
        check_pagination(&active, move |q| async move {
            s.list_event_types(org_id, &q, false).await.unwrap().map(|e| e.name)
        })
        .await;
    }

    async fn modify_and_delete(cx) {
        let s = &cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let other = s.ensure_org("globex").await.unwrap();
        s.create_event_type(event_type(&org.id, "a.b")).await.unwrap();
        let modified = s
            .modify_event_type(&org.id, "a.b", Box::new(|e| {
                e.description = "changed".into();
                e.deprecated = true;
                e.schemas = Some(json!({"1": {"required": ["b", "a"]}}));
                e.feature_flags = Some(vec!["f1".into(), "f0".into()]);
                e.group_name = Some("g".into());
                e.updated_at = Timestamp(e.updated_at.0 + 5);
            }))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.get_event_type(&org.id, "a.b").await.unwrap(), Some(modified.clone()));
        assert_eq!(modified.feature_flags, Some(strings(&["f1", "f0"])));
        assert_eq!(
            s.modify_event_type(&other.id, "a.b", Box::new(|e| e.deprecated = false)).await.unwrap(),
            None
        );
        assert_eq!(
            s.modify_event_type(&org.id, "missing", Box::new(|e| e.deprecated = false)).await.unwrap(),
            None
        );

        assert!(!s.delete_event_type(&other.id, "a.b").await.unwrap());
        assert!(s.delete_event_type(&org.id, "a.b").await.unwrap());
        assert!(!s.delete_event_type(&org.id, "a.b").await.unwrap());
        assert_eq!(s.get_event_type(&org.id, "a.b").await.unwrap(), None);
        // Expunged for good: the name is free again, with a new creation time.
        let mut fresh = event_type(&org.id, "a.b");
        fresh.created_at = Timestamp(5);
        assert_eq!(s.create_event_type(fresh).await.unwrap().created_at, Timestamp(5));
    }

    async fn imports_write_once_keep_schedules_and_archive_the_rest(cx) {
        let s = &cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let other = s.ensure_org("globex").await.unwrap();
        let mut kept = event_type(&org.id, "a.kept");
        kept.retry_schedule = Some(vec![1, 60]);
        kept.created_at = Timestamp(1_000);
        kept.updated_at = Timestamp(1_000);
        s.create_event_type(kept.clone()).await.unwrap();
        s.create_event_type(event_type(&org.id, "b.unnamed")).await.unwrap();
        s.create_event_type(event_type(&other.id, "c.elsewhere")).await.unwrap();

        let mut changed = event_type(&org.id, "a.kept");
        changed.description = "from the document".into();
        changed.schemas = Some(json!({"1": {"type": "object"}}));
        let imported = vec![changed, event_type(&org.id, "d.new")];
        let now = Timestamp(9_000);
        let plan = s.import_event_types(&org.id, imported.clone(), true, now).await.unwrap();
        let names = |v: &[hookd_core::model::EventType]| v.iter().map(|e| e.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&plan.upserts), ["a.kept", "d.new"]);
        assert_eq!(names(&plan.archived), ["b.unnamed"]);

        let a = s.get_event_type(&org.id, "a.kept").await.unwrap().unwrap();
        assert_eq!(a.description, "from the document");
        assert_eq!(a.schemas, Some(json!({"1": {"type": "object"}})));
        assert_eq!(a.retry_schedule, Some(vec![1, 60]), "the document has no schedule to replace");
        assert_eq!((a.created_at, a.updated_at), (Timestamp(1_000), now));
        let d = s.get_event_type(&org.id, "d.new").await.unwrap().unwrap();
        assert_eq!((d.created_at, d.archived), (now, false));
        assert!(s.get_event_type(&org.id, "b.unnamed").await.unwrap().unwrap().archived);
        assert!(!s.get_event_type(&other.id, "c.elsewhere").await.unwrap().unwrap().archived, "other organisations are untouched");

        // The same document again changes nothing.
        let again = s.import_event_types(&org.id, imported, true, Timestamp(10_000)).await.unwrap();
        assert_eq!(again.writes().count(), 0, "{again:?}");
        let listed = s.list_event_types(&org.id, &asc(50), true).await.unwrap();
        assert_eq!(listed.data.len(), 3);
        assert_eq!(s.get_event_type(&org.id, "a.kept").await.unwrap().unwrap().updated_at, now);
    }

    async fn every_write_announces_the_event_type(cx) {
        let s = &cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let seen: Arc<Mutex<Vec<Change>>> = Arc::default();
        let sink = seen.clone();
        s.watch_changes(Box::new(move |c| {
            if let Change::EventType(..) = c {
                sink.lock().unwrap().push(c);
            }
        }));
        let change = |name: &str| Change::EventType(org.id.clone(), name.to_string());
        s.create_event_type(event_type(&org.id, "x.one")).await.unwrap();
        s.modify_event_type(&org.id, "x.one", Box::new(|e| e.retry_schedule = Some(vec![5]))).await.unwrap().unwrap();
        s.import_event_types(&org.id, vec![event_type(&org.id, "x.two")], false, Timestamp(1)).await.unwrap();
        assert!(s.delete_event_type(&org.id, "x.one").await.unwrap());
        // Nothing written, nothing announced.
        assert!(!s.delete_event_type(&org.id, "x.none").await.unwrap());
        assert!(s.modify_event_type(&org.id, "x.none", Box::new(|_| {})).await.unwrap().is_none());
        let want = vec![change("x.one"), change("x.one"), change("x.two"), change("x.one")];
        for _ in 0..100 {
            if seen.lock().unwrap().len() >= want.len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(*seen.lock().unwrap(), want);
    }
}
