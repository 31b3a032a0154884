//! Portal access over HTTP: `app-portal-access` tokens (their shape, scope,
//! capabilities and validation), `expire-all`, and what the portal and the
//! dashboard pages send back without a browser (headers, sign-in, sizes).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_TOKEN, Resp, TestApp, assert_error, assert_validation, id, send, spawn_app,
    spawn_app_with,
};

async fn portal_token(app: &TestApp, app_id: &str, body: Value) -> String {
    let out = app
        .post(&format!("/api/v1/auth/app-portal-access/{app_id}"), &body)
        .await
        .expect(200);
    let url = out["url"].as_str().unwrap();
    let token = out["token"].as_str().unwrap().to_string();
    assert!(url.ends_with(&format!("/portal/#key={token}")), "{url}");
    token
}

async fn as_key(app: &TestApp, key: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
    let rb = app.request_as(key, method, path);
    send(match body {
        Some(b) => rb.json(&b),
        None => rb,
    })
    .await
}

#[tokio::test]
async fn a_portal_token_reaches_its_own_application_and_nothing_else() {
    let app = spawn_app().await;
    let mine = id(&app.create_app("mine").await);
    let other = id(&app.create_app("other").await);
    let other_ep = id(&app
        .create_endpoint(&other, json!({"url": "https://b.example.com/h"}))
        .await);
    let token = portal_token(&app, &mine, json!({})).await;

    // Its own application: read and write, by id and by uid.
    as_key(
        &app,
        &token,
        Method::GET,
        &format!("/api/v1/app/{mine}"),
        None,
    )
    .await
    .expect(200);
    as_key(&app, &token, Method::GET, "/api/v1/app/mine/endpoint", None)
        .await
        .expect(200);
    as_key(
        &app,
        &token,
        Method::POST,
        &format!("/api/v1/app/{mine}/endpoint"),
        Some(json!({"url": "https://a.example.com/h"})),
    )
    .await
    .expect(201);

    // Another application, the organisation's lists, and issuing more tokens.
    for (method, path) in [
        (Method::GET, format!("/api/v1/app/{other}")),
        (
            Method::GET,
            format!("/api/v1/app/{other}/endpoint/{other_ep}"),
        ),
        (Method::GET, "/api/v1/app/other/msg".to_string()),
        (
            Method::POST,
            format!("/api/v1/auth/app-portal-access/{mine}"),
        ),
    ] {
        let resp = as_key(&app, &token, method.clone(), &path, Some(json!({}))).await;
        assert!(
            resp.status == 403 || resp.status == 404,
            "{method} {path} with a portal token: {} {}",
            resp.status,
            resp.text
        );
        assert!(!resp.text.contains("b.example.com"), "{}", resp.text);
    }
    // The organisation's application list shows only its own application.
    let list = as_key(&app, &token, Method::GET, "/api/v1/app", None)
        .await
        .expect(200);
    assert_eq!(crate::helpers::ids(&list), vec![mine.clone()], "{list}");
    assert_eq!(
        app.get(&format!("/api/v1/app/{other}/endpoint/{other_ep}"))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn read_only_and_capabilities_limit_what_a_token_may_change() {
    let app = spawn_app().await;
    let mine = id(&app.create_app("ro").await);
    let ep = id(&app
        .create_endpoint(&mine, json!({"url": "https://a.example.com/h"}))
        .await);
    let ro = portal_token(&app, &mine, json!({"readOnly": true})).await;
    as_key(
        &app,
        &ro,
        Method::GET,
        &format!("/api/v1/app/{mine}/endpoint"),
        None,
    )
    .await
    .expect(200);
    for (method, path, body) in [
        (
            Method::POST,
            format!("/api/v1/app/{mine}/endpoint"),
            json!({"url": "https://x.example.com"}),
        ),
        (
            Method::DELETE,
            format!("/api/v1/app/{mine}/endpoint/{ep}"),
            json!({}),
        ),
        (
            Method::POST,
            format!("/api/v1/app/{mine}/endpoint/{ep}/secret/rotate"),
            json!({}),
        ),
        (
            Method::GET,
            format!("/api/v1/app/{mine}/endpoint/{ep}/secret"),
            json!({}),
        ),
    ] {
        let resp = as_key(&app, &ro, method.clone(), &path, Some(body)).await;
        assert_error(&resp, 403, "forbidden");
    }
    app.get(&format!("/api/v1/app/{mine}/endpoint/{ep}"))
        .await
        .expect(200);

    // ViewBase + ViewEndpointSecret: the secret is readable, nothing changes.
    let secret = portal_token(
        &app,
        &mine,
        json!({"capabilities": ["ViewBase", "ViewEndpointSecret"]}),
    )
    .await;
    let s = as_key(
        &app,
        &secret,
        Method::GET,
        &format!("/api/v1/app/{mine}/endpoint/{ep}/secret"),
        None,
    )
    .await
    .expect(200);
    assert!(s["key"].as_str().unwrap().starts_with("whsec_"), "{s}");
    let resp = as_key(
        &app,
        &secret,
        Method::DELETE,
        &format!("/api/v1/app/{mine}/endpoint/{ep}"),
        None,
    )
    .await;
    assert_error(&resp, 403, "forbidden");
}

#[tokio::test]
async fn bad_portal_requests_name_the_field() {
    let app = spawn_app().await;
    let mine = id(&app.create_app("v").await);
    let path = format!("/api/v1/auth/app-portal-access/{mine}");
    for (body, field) in [
        (json!({"expiry": 10}), "expiry"),
        (json!({"expiry": 10_000_000}), "expiry"),
        (json!({"capabilities": ["ManageEndpoint"]}), "capabilities"),
        (json!({"sessionId": "has spaces"}), "sessionId"),
    ] {
        assert_validation(&app.post(&path, &body).await, json!(["body", field]));
    }
    let resp = app.post(&path, &json!({"capabilities": ["Fly"]})).await;
    assert_eq!(resp.status, 422, "{}", resp.text);
    assert_error(
        &app.post("/api/v1/auth/app-portal-access/app_nope", &json!({}))
            .await,
        404,
        "not_found",
    );
    let expire = format!("/api/v1/auth/app/{mine}/expire-all");
    assert_validation(
        &app.post(&expire, &json!({"expiry": -1})).await,
        json!(["body", "expiry"]),
    );
    // No body at all is the same as `{}`.
    let resp = send(app.request(Method::POST, &path)).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
}

#[tokio::test]
async fn portal_access_can_create_the_application_by_uid() {
    let app = spawn_app().await;
    let path = "/api/v1/auth/app-portal-access/cust-42";
    assert_error(&app.post(path, &json!({})).await, 404, "not_found");
    let token = portal_token(
        &app,
        "cust-42",
        json!({"application": {"name": "Customer 42"}}),
    )
    .await;
    let a = app.get("/api/v1/app/cust-42").await.expect(200);
    assert_eq!(a["name"], "Customer 42");
    as_key(&app, &token, Method::GET, "/api/v1/app/cust-42", None)
        .await
        .expect(200);
}

#[tokio::test]
async fn expire_all_revokes_tokens_by_application_and_by_session() {
    let app = spawn_app().await;
    let a = id(&app.create_app("a").await);
    let b = id(&app.create_app("b").await);
    let s1 = portal_token(&app, &a, json!({"sessionId": "s1"})).await;
    let s2 = portal_token(&app, &a, json!({"sessionId": "s2"})).await;
    let other = portal_token(&app, &b, json!({})).await;
    let get = |key: String, app_id: String| {
        let app = &app;
        async move {
            as_key(
                app,
                &key,
                Method::GET,
                &format!("/api/v1/app/{app_id}"),
                None,
            )
            .await
            .status
        }
    };
    assert_eq!(get(s1.clone(), a.clone()).await, 200);

    app.post(
        &format!("/api/v1/auth/app/{a}/expire-all"),
        &json!({"sessionIds": ["s1"]}),
    )
    .await
    .expect_empty(204);
    assert_eq!(get(s1.clone(), a.clone()).await, 401, "s1 was expired");
    assert_eq!(get(s2.clone(), a.clone()).await, 200, "s2 was not");

    app.post(&format!("/api/v1/auth/app/{a}/expire-all"), &json!({}))
        .await
        .expect_empty(204);
    assert_eq!(get(s2, a.clone()).await, 401);
    assert_eq!(
        get(other, b).await,
        200,
        "another application's token lives on"
    );
    // The organisation key is not a portal token.
    assert_eq!(get(ADMIN_TOKEN.to_string(), a).await, 200);
}

#[tokio::test]
async fn the_portal_link_uses_public_url_and_the_pages_send_their_security_headers() {
    let app = spawn_app_with(&[
        ("public_url", "https://hooks.example.com/"),
        ("portal_frame_ancestors", "https://app.example.com"),
    ])
    .await;
    let mine = id(&app.create_app("p").await);
    let out = app
        .post(
            &format!("/api/v1/auth/app-portal-access/{mine}"),
            &json!({}),
        )
        .await
        .expect(200);
    assert!(
        out["url"]
            .as_str()
            .unwrap()
            .starts_with("https://hooks.example.com/portal/#key="),
        "{out}"
    );

    let portal = send(app.anonymous(Method::GET, "/portal")).await;
    assert_eq!(portal.status, 200, "{}", portal.text);
    let csp = portal.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.ends_with("frame-ancestors 'self' https://app.example.com"),
        "{csp}"
    );
    assert!(csp.contains("script-src 'self'"), "{csp}");
    // The dashboard may not be framed at all.
    let login = send(app.anonymous(Method::GET, "/ui/login")).await;
    assert_eq!(login.status, 200);
    let csp = login.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
}

#[tokio::test]
async fn the_dashboard_needs_a_session_and_its_assets_are_small() {
    let app = spawn_app().await;
    let mine = id(&app.create_app("d").await);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in [
        "/ui",
        &format!("/ui/app/{mine}"),
        &format!("/ui/app/{mine}/endpoints"),
    ] {
        let resp = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 303, "{path}");
        assert_eq!(resp.headers()["location"], "/ui/login", "{path}");
    }
    // Portal pages without a session: no data, a page that says so.
    let resp = client
        .get(app.url("/portal/endpoints"))
        .send()
        .await
        .unwrap();
    assert!(
        resp.status() == 401 || resp.status() == 303,
        "{}",
        resp.status()
    );

    // Signing in with a wrong key fails; the right one sets an HttpOnly cookie.
    let bad = client
        .post(app.url("/ui/login"))
        .form(&[("key", "hk_wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    assert!(bad.headers().get("set-cookie").is_none());
    let ok = client
        .post(app.url("/ui/login"))
        .form(&[("key", ADMIN_TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.starts_with("hookd_dashboard=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    assert!(
        !session.contains(ADMIN_TOKEN),
        "the session is not the API key"
    );

    let page = client
        .get(app.url(&format!("/ui/app/{mine}")))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    // Each page's weight: its HTML and everything it links.
    let mut total = html.len();
    for asset in [
        "/ui/assets/hookd.css",
        "/ui/assets/hookd.js",
        "/ui/assets/theme.css",
    ] {
        assert!(html.contains(asset), "the page links {asset}");
        let a = client.get(app.url(asset)).send().await.unwrap();
        assert_eq!(a.status(), 200, "{asset}");
        total += a.bytes().await.unwrap().len();
    }
    assert!(total < 200 * 1024, "the overview weighs {total} bytes");

    // A change without the CSRF token is refused; the app's data is untouched.
    let forged = client
        .post(app.url(&format!("/ui/app/{mine}/endpoints")))
        .header("cookie", &session)
        .form(&[("url", "https://evil.example.com/h")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let eps = app
        .get(&format!("/api/v1/app/{mine}/endpoint"))
        .await
        .expect(200);
    assert_eq!(eps["data"].as_array().unwrap().len(), 0, "{eps}");
}

#[tokio::test]
async fn whoami_names_the_organisation_and_application_and_logout_ends_a_portal_token() {
    let app = spawn_app().await;
    let mine = id(&app.create_app("who").await);
    let me = app.get("/api/v1/auth/whoami").await.expect(200);
    assert!(me["envId"].as_str().unwrap().starts_with("org_"), "{me}");
    assert!(me["appId"].is_null(), "{me}");
    assert_eq!(me["permissionSource"], "RegionalAuthToken");

    let token = portal_token(
        &app,
        &mine,
        json!({"sessionId": "s-9", "capabilities": ["ViewBase"]}),
    )
    .await;
    let who = as_key(&app, &token, Method::GET, "/api/v1/auth/whoami", None)
        .await
        .expect(200);
    assert_eq!(who["appId"], mine.as_str(), "{who}");
    assert_eq!(who["envId"], me["envId"]);
    assert_eq!(who["sessionId"], "s-9");

    // Organisation keys cannot log out; an application token can, at once.
    assert_error(
        &send(app.request(Method::POST, "/api/v1/auth/logout")).await,
        403,
        "forbidden",
    );
    let out = as_key(&app, &token, Method::POST, "/api/v1/auth/logout", None).await;
    assert_eq!(out.status, 204, "{}", out.text);
    let after = as_key(
        &app,
        &token,
        Method::GET,
        &format!("/api/v1/app/{mine}"),
        None,
    )
    .await;
    assert_error(&after, 401, "authentication_failed");
    app.get("/api/v1/auth/whoami").await.expect(200);
}

#[tokio::test]
async fn transformations_are_a_501_that_says_why() {
    let app = spawn_app().await;
    let a = id(&app.create_app("t").await);
    let ep = id(&app
        .create_endpoint(&a, json!({"url": "https://a.example.com"}))
        .await);
    let base = format!("/api/v1/app/{a}/endpoint/{ep}/transformation");
    for resp in [
        app.get(&base).await,
        app.patch(&base, &json!({"code": "function handler(w) { return w }"}))
            .await,
        app.post(&format!("{base}/simulate"), &json!({})).await,
    ] {
        let body = assert_error(&resp, 501, "not_implemented");
        assert!(
            body["detail"].as_str().unwrap().contains("sandbox"),
            "{body}"
        );
    }
}
