//! SCIM 2.0 (SPEC §12) against a real server: each operation and error from a Rust client over
//! HTTP, and the `scim2-tester` package (PyPI) run against it with no failures. The test command
//! installs scim2-tester into a virtual environment and sets `TESSERA_SCIM_TESTER_PYTHON`.

mod common;

use common::admin::admin_key;
use common::flows::{authorize_path, code_from, register};
use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const EXT: &str = "urn:tessera:params:scim:schemas:extension:profile:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

async fn with_schema() -> (TestServer, String) {
    let server = TestServer::start().await;
    server
        .profiles()
        .replace_schema(
            server.db(),
            server.clock.as_ref(),
            &json!({ "custom": [
                { "name": "department", "type": "string", "end_user": "readonly", "bearer": "readonly" },
                { "name": "contractor", "type": "boolean" },
            ] }),
            store::audit::Actor::Cli,
        )
        .await
        .expect("schema");
    let key = admin_key(&server).await;
    (server, key)
}

struct Answer {
    status: u16,
    body: Value,
    etag: Option<String>,
    content_type: String,
}

async fn scim(
    server: &(impl Site + ?Sized),
    key: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
    if_match: Option<&str>,
) -> Answer {
    let mut req = reqwest::Client::new().request(method, server.url(&format!("/scim/v2{path}")));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(m) = if_match {
        req = req.header("if-match", m);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/scim+json")
            .body(b.to_string());
    }
    let resp = req.send().await.expect("scim");
    let status = resp.status().as_u16();
    let etag = resp
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = resp.json().await.unwrap_or(Value::Null);
    if status >= 400 {
        assert_eq!(
            body["schemas"],
            json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
            "{status} {path}: {body}"
        );
        assert_eq!(body["status"], status.to_string());
    }
    Answer {
        status,
        body,
        etag,
        content_type,
    }
}

fn scim_type(a: &Answer) -> &str {
    a.body["scimType"].as_str().unwrap_or("")
}

#[tokio::test]
async fn users_over_scim() {
    let (server, key) = with_schema().await;
    let k = Some(key.as_str());

    // Discovery.
    let spc = scim(
        &server,
        k,
        Method::GET,
        "/ServiceProviderConfig",
        None,
        None,
    )
    .await;
    assert_eq!(spc.status, 200);
    assert!(spc.content_type.starts_with("application/scim+json"));
    assert_eq!(spc.body["patch"]["supported"], true);
    let schemas = scim(&server, k, Method::GET, "/Schemas", None, None).await;
    let ext = schemas.body["Resources"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["id"] == EXT))
        .expect("extension schema");
    let types: Vec<(&str, &str)> = ext["attributes"]
        .as_array()
        .expect("attributes")
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap_or(""),
                a["type"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(types, [("department", "string"), ("contractor", "boolean")]);
    let rt = scim(&server, k, Method::GET, "/ResourceTypes/User", None, None).await;
    assert_eq!(rt.body["endpoint"], "/Users");
    for (method, path, status) in [
        (Method::POST, "/Schemas", 405),
        (Method::GET, "/ResourceTypes/Nope", 404),
        (Method::GET, "/Nope", 404),
        (Method::POST, "/.search", 501),
    ] {
        let a = scim(&server, k, method.clone(), path, Some(json!({})), None).await;
        assert_eq!(a.status, status, "{method} {path}");
    }
    let a = scim(&server, None, Method::GET, "/Users", None, None).await;
    assert_eq!(a.status, 401);
    let a = scim(&server, Some("wrong"), Method::GET, "/Users", None, None).await;
    assert_eq!(a.status, 401);

    // Create.
    let created = scim(
        &server,
        k,
        Method::POST,
        "/Users",
        Some(json!({
            "schemas": [USER, EXT],
            "userName": "bjensen",
            "externalId": "hr-1001",
            "name": { "givenName": "Barbara", "familyName": "Jensen" },
            "displayName": "Babs Jensen",
            "emails": [{ "value": "BJensen@Example.com", "type": "work", "primary": true }],
            "phoneNumbers": [{ "value": "+1 415 555 0101" }],
            EXT: { "department": "Tour Operations", "contractor": false },
        })),
        None,
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let u = &created.body;
    let id = u["id"].as_str().expect("id").to_owned();
    assert_eq!(u["schemas"], json!([USER, EXT]));
    assert_eq!(u["userName"], "bjensen");
    assert_eq!(u["emails"], json!([{ "value": "bjensen@example.com" }]));
    assert_eq!(u["phoneNumbers"], json!([{ "value": "+14155550101" }]));
    assert_eq!(u["active"], true);
    assert_eq!(u[EXT]["department"], "Tour Operations");
    assert_eq!(u["meta"]["resourceType"], "User");
    assert_eq!(
        u["meta"]["location"],
        server.url(&format!("/scim/v2/Users/{id}")).as_str()
    );
    let etag = created.etag.clone().expect("etag");
    assert_eq!(u["meta"]["version"], etag.as_str());

    // The same user in the Admin API and in tokens: one account, not a copy.
    let (_, admin, _) =
        common::admin::call(&server, k, Method::GET, &format!("/users/{id}"), None).await;
    assert_eq!(admin["profile"]["given_name"], "Barbara");
    assert_eq!(
        admin["profile"]["custom_attributes"]["department"],
        "Tour Operations"
    );

    // Taken userName, bad values: SCIM errors; nothing created.
    for (body, status, kind) in [
        (
            json!({ "schemas": [USER], "userName": "BJENSEN" }),
            409,
            "uniqueness",
        ),
        (json!({ "schemas": [USER] }), 400, "invalidValue"),
        (
            json!({ "schemas": [USER], "userName": "ok", "phoneNumbers": [{ "value": "4155550101" }] }),
            400,
            "invalidValue",
        ),
        (
            json!({ "schemas": [USER], "userName": "ok", "emails": [{ "value": "nope" }] }),
            400,
            "invalidValue",
        ),
        (
            json!({ "schemas": [USER], "userName": "ok", "active": "yes" }),
            400,
            "invalidValue",
        ),
        (
            json!({ "schemas": [USER], "userName": "ok", EXT: { "salary": 1 } }),
            400,
            "invalidValue",
        ),
        (
            json!({ "schemas": [USER], "userName": "ok", EXT: { "contractor": "maybe" } }),
            400,
            "invalidValue",
        ),
    ] {
        let a = scim(&server, k, Method::POST, "/Users", Some(body.clone()), None).await;
        assert_eq!(
            (a.status, scim_type(&a)),
            (status, kind),
            "{body}: {}",
            a.body
        );
    }
    let a = scim(&server, k, Method::GET, "/Users", None, None).await;
    assert_eq!(a.body["totalResults"], 1);

    // Filters, answered from indexes.
    let second = scim(
        &server,
        k,
        Method::POST,
        "/Users",
        Some(json!({ "schemas": [USER], "userName": "jsmith@example.org", "active": false })),
        None,
    )
    .await;
    assert_eq!(second.status, 201, "{}", second.body);
    assert_eq!(
        second.body["emails"],
        json!([{ "value": "jsmith@example.org" }])
    );
    assert_eq!(second.body["active"], false);
    let second_id = second.body["id"].as_str().expect("id").to_owned();
    for (filter, expected) in [
        (r#"userName eq "BJensen""#, vec![id.as_str()]),
        (r#"userName sw "j""#, vec![second_id.as_str()]),
        (
            r#"emails.value co "example""#,
            vec![id.as_str(), second_id.as_str()],
        ),
        (r#"emails[value ew ".org"]"#, vec![second_id.as_str()]),
        (r#"externalId eq "hr-1001""#, vec![id.as_str()]),
        (r#"externalId pr"#, vec![id.as_str()]),
        (
            r#"emails pr and not (externalId pr)"#,
            vec![second_id.as_str()],
        ),
        (r#"emails pr and active eq false"#, vec![second_id.as_str()]),
        (
            r#"userName eq "bjensen" or userName eq "jsmith@example.org""#,
            vec![id.as_str(), second_id.as_str()],
        ),
        (r#"userName eq "bjensen" and active eq false"#, vec![]),
        (
            r#"meta.lastModified gt "2000-01-01T00:00:00Z""#,
            vec![id.as_str(), second_id.as_str()],
        ),
        (&format!(r#"id eq "{id}""#), vec![id.as_str()]),
        (
            &format!(r#"{EXT}:department eq "tour operations""#),
            vec![id.as_str()],
        ),
        (r#"displayName sw "bab""#, vec![id.as_str()]),
        (r#"displayName eq "babs jensen""#, vec![id.as_str()]),
        (r#"displayName co "abs""#, vec![id.as_str()]),
        (r#"displayName sw "example""#, vec![]),
    ] {
        let path = format!("/Users?filter={}", urlencode(filter));
        let a = scim(&server, k, Method::GET, &path, None, None).await;
        assert_eq!(a.status, 200, "{filter}: {}", a.body);
        let ids: Vec<&str> = a.body["Resources"]
            .as_array()
            .map(|r| r.iter().filter_map(|u| u["id"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(ids, expected, "{filter}");
        assert_eq!(a.body["totalResults"], expected.len(), "{filter}");
    }
    for bad in [
        r#"userName eq"#,
        r#"title eq "boss""#,
        r#"userName gt "a""#,
        r#"emails[type eq "work"]"#,
        r#"active eq false"#,
        r#"not (externalId pr)"#,
        r#"userName eq "bjensen" or active eq true"#,
    ] {
        let a = scim(
            &server,
            k,
            Method::GET,
            &format!("/Users?filter={}", urlencode(bad)),
            None,
            None,
        )
        .await;
        assert_eq!((a.status, scim_type(&a)), (400, "invalidFilter"), "{bad}");
    }
    // Sorting.
    for (query, expected) in [
        ("sortBy=userName", vec![id.as_str(), second_id.as_str()]),
        (
            "sortBy=userName&sortOrder=descending",
            vec![second_id.as_str(), id.as_str()],
        ),
        (
            "sortBy=meta.created&sortOrder=descending",
            vec![second_id.as_str(), id.as_str()],
        ),
        (
            "sortBy=meta.lastModified",
            vec![id.as_str(), second_id.as_str()],
        ),
    ] {
        let a = scim(
            &server,
            k,
            Method::GET,
            &format!("/Users?{query}"),
            None,
            None,
        )
        .await;
        let ids: Vec<&str> = a.body["Resources"]
            .as_array()
            .map(|r| r.iter().filter_map(|u| u["id"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(ids, expected, "{query}");
    }
    for bad in ["sortBy=title", "sortOrder=sideways"] {
        let a = scim(
            &server,
            k,
            Method::GET,
            &format!("/Users?{bad}"),
            None,
            None,
        )
        .await;
        assert_eq!((a.status, scim_type(&a)), (400, "invalidValue"), "{bad}");
    }
    // Paging.
    let a = scim(
        &server,
        k,
        Method::GET,
        "/Users?startIndex=2&count=1",
        None,
        None,
    )
    .await;
    assert_eq!(a.body["totalResults"], 2);
    assert_eq!(a.body["startIndex"], 2);
    assert_eq!(a.body["Resources"][0]["id"], second_id.as_str());
    let a = scim(&server, k, Method::GET, "/Users?count=0", None, None).await;
    assert_eq!(
        (
            a.body["totalResults"].clone(),
            a.body["itemsPerPage"].clone()
        ),
        (json!(2), json!(0))
    );
    let a = scim(
        &server,
        k,
        Method::GET,
        "/Users?attributes=userName",
        None,
        None,
    )
    .await;
    assert!(a.body["Resources"][0].get("emails").is_none());
    assert!(a.body["Resources"][0].get("userName").is_some());

    // PATCH with paths, then If-Match versioning.
    let patched = scim(
        &server,
        k,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(json!({ "schemas": [PATCH], "Operations": [
            { "op": "replace", "path": "name.givenName", "value": "Babs" },
            { "op": "add", "path": "emails", "value": [{ "value": "babs@example.net" }] },
            { "op": "remove", "path": "phoneNumbers" },
            { "op": "replace", "path": format!("{EXT}:contractor"), "value": true },
            { "op": "replace", "value": { "active": false } },
        ] })),
        Some(&etag),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let p = &patched.body;
    assert_eq!(p["name"]["givenName"], "Babs");
    assert_eq!(p["emails"].as_array().map(Vec::len), Some(2));
    assert!(p.get("phoneNumbers").is_none());
    assert_eq!(p[EXT]["contractor"], true);
    assert_eq!(p["active"], false);
    assert_ne!(patched.etag.as_deref(), Some(etag.as_str()));
    let stale = scim(
        &server,
        k,
        Method::PUT,
        &format!("/Users/{id}"),
        Some(json!({ "schemas": [USER], "userName": "bjensen" })),
        Some(&etag),
    )
    .await;
    assert_eq!(stale.status, 412, "a stale version is refused");
    let a = scim(
        &server,
        k,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(json!({ "schemas": [PATCH], "Operations": [{ "op": "jump", "path": "userName" }] })),
        None,
    )
    .await;
    assert_eq!(a.status, 400);

    // A refused PUT changes nothing: a bad value, or a login ID of another user.
    for body in [
        json!({ "schemas": [USER], "userName": "renamed", EXT: { "contractor": "maybe" } }),
        json!({ "schemas": [USER], "userName": "renamed", "displayName": "New",
                "emails": [{ "value": "jsmith@example.org" }] }),
    ] {
        let a = scim(
            &server,
            k,
            Method::PUT,
            &format!("/Users/{id}"),
            Some(body.clone()),
            None,
        )
        .await;
        assert!(a.status == 400 || a.status == 409, "{body}: {}", a.body);
        let now = scim(&server, k, Method::GET, &format!("/Users/{id}"), None, None).await;
        assert_eq!(now.body["userName"], "bjensen", "{body}");
        assert_eq!(now.body["name"]["givenName"], "Babs", "{body}");
        assert_eq!(now.etag, patched.etag, "{body}");
    }

    // PUT states the whole resource: unlisted mapped attributes are cleared.
    let put = scim(
        &server,
        k,
        Method::PUT,
        &format!("/Users/{id}"),
        Some(
            json!({ "schemas": [USER], "userName": "barbara", "active": true,
                     "emails": [{ "value": "babs@example.net" }] }),
        ),
        patched.etag.as_deref(),
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["userName"], "barbara");
    assert!(put.body.get("name").is_none());
    assert!(put.body.get(EXT).is_none());
    assert_eq!(put.body["emails"], json!([{ "value": "babs@example.net" }]));
    assert_eq!(put.body["externalId"], Value::Null);

    // Deactivated users cannot sign in; active again, they can be deleted.
    let a = scim(
        &server,
        k,
        Method::DELETE,
        &format!("/Users/{id}"),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 204);
    let a = scim(&server, k, Method::GET, &format!("/Users/{id}"), None, None).await;
    assert_eq!(a.status, 404);
    let a = scim(
        &server,
        k,
        Method::DELETE,
        &format!("/Users/{id}"),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 404);
    let a = scim(&server, k, Method::GET, "/Users/not-an-id", None, None).await;
    assert_eq!(a.status, 404);
    let a = reqwest::Client::new()
        .post(server.url("/scim/v2/Users"))
        .bearer_auth(&key)
        .header("content-type", "text/plain")
        .body("userName=x")
        .send()
        .await
        .expect("send");
    assert_eq!(a.status(), 415);
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn groups_over_scim_reach_tokens() {
    let (server, key) = with_schema().await;
    let k = Some(key.as_str());
    let b = browser();
    assert_eq!(
        sign_up(&server, &b, "kim@example.com", "correct horse battery")
            .await
            .status(),
        303
    );
    let users = scim(
        &server,
        k,
        Method::GET,
        &format!(
            "/Users?filter={}",
            urlencode(r#"emails.value eq "kim@example.com""#)
        ),
        None,
        None,
    )
    .await;
    let kim = users.body["Resources"][0]["id"]
        .as_str()
        .expect("kim")
        .to_owned();
    let member = json!({ "value": kim, "$ref": server.url(&format!("/scim/v2/Users/{kim}")), "type": "User" });
    let created = scim(
        &server,
        k,
        Method::POST,
        "/Groups",
        Some(
            json!({ "schemas": [GROUP], "displayName": "Engineering", "externalId": "eng",
                     "members": [member] }),
        ),
        None,
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let gid = created.body["id"].as_str().expect("id").to_owned();
    assert_eq!(created.body["members"], json!([member]));
    let dup = scim(
        &server,
        k,
        Method::POST,
        "/Groups",
        Some(json!({ "schemas": [GROUP], "displayName": "Engineering" })),
        None,
    )
    .await;
    assert_eq!((dup.status, scim_type(&dup)), (409, "uniqueness"));
    let stranger = scim(
        &server,
        k,
        Method::POST,
        "/Groups",
        Some(json!({ "schemas": [GROUP], "displayName": "Ghosts",
                     "members": [{ "value": profile::Uuid::now_v7().to_string() }] })),
        None,
    )
    .await;
    assert_eq!(
        (stranger.status, scim_type(&stranger)),
        (400, "invalidValue")
    );

    // The user lists the group; the group is in the user's tokens.
    let u = scim(
        &server,
        k,
        Method::GET,
        &format!("/Users/{kim}"),
        None,
        None,
    )
    .await;
    assert_eq!(u.body["groups"][0]["display"], "Engineering");
    let client = register(&server, false).await;
    let resp = b
        .get(server.url(&authorize_path(&client.0, "openid", &[])))
        .send()
        .await
        .expect("authorize");
    let tokens =
        common::flows::exchange(&server, &client.0, Some(&client.1), &code_from(&resp)).await;
    let id_token = common::flows::jwt_claims(tokens["id_token"].as_str().expect("id token"));
    assert_eq!(id_token["groups"], json!(["Engineering"]));

    // Filters on groups.
    for (filter, n) in [
        (r#"displayName eq "Engineering""#.to_owned(), 1),
        (r#"displayName sw "Eng""#.to_owned(), 1),
        (r#"externalId eq "other""#.to_owned(), 0),
        (format!(r#"members[value eq "{kim}"]"#), 1),
        (
            format!(r#"members.value eq "{}""#, profile::Uuid::now_v7()),
            0,
        ),
    ] {
        let a = scim(
            &server,
            k,
            Method::GET,
            &format!("/Groups?filter={}", urlencode(&filter)),
            None,
            None,
        )
        .await;
        assert_eq!(a.body["totalResults"], n, "{filter}: {}", a.body);
    }
    let a = scim(
        &server,
        k,
        Method::GET,
        &format!("/Groups?filter={}", urlencode(r#"description eq "x""#)),
        None,
        None,
    )
    .await;
    assert_eq!((a.status, scim_type(&a)), (400, "invalidFilter"));
    let a = scim(
        &server,
        k,
        Method::GET,
        "/Groups?excludedAttributes=members",
        None,
        None,
    )
    .await;
    assert!(a.body["Resources"][0].get("members").is_none());

    // PATCH members by value path; rename by PUT.
    let a = scim(
        &server,
        k,
        Method::PATCH,
        &format!("/Groups/{gid}"),
        Some(json!({ "schemas": [PATCH], "Operations": [
            { "op": "remove", "path": format!(r#"members[value eq "{kim}"]"#) },
        ] })),
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.get("members").is_none());
    let a = scim(
        &server,
        k,
        Method::PUT,
        &format!("/Groups/{gid}"),
        Some(
            json!({ "schemas": [GROUP], "displayName": "Platform", "members": [{ "value": kim }] }),
        ),
        a.etag.as_deref(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["displayName"], "Platform");
    assert_eq!(a.body["members"][0]["value"], kim.as_str());
    assert!(a.body.get("externalId").is_none());
    let events = common::admin::call(
        &server,
        k,
        Method::GET,
        "/events?type=group.member_added",
        None,
    )
    .await;
    assert_eq!(
        events.1["items"][0]["actor"]["type"], "admin_key",
        "{}",
        events.1
    );
    let a = scim(
        &server,
        k,
        Method::DELETE,
        &format!("/Groups/{gid}"),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 204);
    let a = scim(
        &server,
        k,
        Method::GET,
        &format!("/Groups/{gid}"),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 404);
}

#[tokio::test]
async fn scim_of_one_tenant_is_closed_to_another() {
    let (server, key) = with_schema().await;
    let system = auth::admin_keys::create_admin_key(
        server.db(),
        server.clock.as_ref(),
        "system",
        true,
        store::audit::Actor::Cli,
    )
    .await
    .expect("system")
    .key;
    let (status, _, _) = common::admin::call(
        &server,
        Some(&system),
        Method::POST,
        "/tenants",
        Some(json!({ "id": "acme", "name": "Acme" })),
    )
    .await;
    assert_eq!(status, 201);
    let acme = server.tenant("acme");
    let acme_key = admin_key(&acme).await;
    let ours = scim(
        &server,
        Some(&key),
        Method::POST,
        "/Users",
        Some(json!({ "schemas": [USER], "userName": "ursula" })),
        None,
    )
    .await;
    let id = ours.body["id"].as_str().expect("id").to_owned();
    let a = scim(&acme, Some(&key), Method::GET, "/Users", None, None).await;
    assert_eq!(a.status, 401, "our key in their tenant");
    let a = scim(
        &acme,
        Some(&acme_key),
        Method::GET,
        &format!("/Users/{id}"),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 404);
    let a = scim(&acme, Some(&acme_key), Method::GET, "/Users", None, None).await;
    assert_eq!(a.body["totalResults"], 0);
    // The same userName is free there.
    let theirs = scim(
        &acme,
        Some(&acme_key),
        Method::POST,
        "/Users",
        Some(json!({ "schemas": [USER], "userName": "ursula" })),
        None,
    )
    .await;
    assert_eq!(theirs.status, 201);
    assert_eq!(
        theirs.body["meta"]["location"],
        acme.url(&format!(
            "/scim/v2/Users/{}",
            theirs.body["id"].as_str().unwrap_or("")
        ))
        .as_str()
    );
}

#[tokio::test]
async fn scim2_tester_passes() {
    let Ok(python) = std::env::var("TESSERA_SCIM_TESTER_PYTHON") else {
        if std::env::var("CI").is_ok() || std::env::var("TESSERA_REQUIRE_SCIM_TESTER").is_ok() {
            panic!(
                "TESSERA_SCIM_TESTER_PYTHON is not set (the test command installs scim2-tester)"
            );
        }
        println!("scim2-tester did not run: set TESSERA_SCIM_TESTER_PYTHON (tests/run.sh does)");
        return;
    };
    let (server, key) = with_schema().await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/scim/run_scim2_tester.py"
    );
    let base = server.url("/scim/v2");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .arg(base)
            .arg(key)
            .output()
            .expect("run scim2-tester")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "scim2-tester failed:\n{stdout}\n{stderr}"
    );
    println!("{stdout}");
}

/// Directories send PATCHes in parallel: each writes only what it changes, so none undoes
/// another (users' emails, active and attributes; groups' members). A group write that is
/// refused (a member of another tenant) changes nothing, not even the name it also asked for.
/// Wide filters are refused, not turned into deep queries.
#[tokio::test]
async fn parallel_patches_keep_every_change_and_refused_writes_change_nothing() {
    let (server, key) = with_schema().await;
    let k = Some(key.as_str());
    let created = scim(
        &server,
        k,
        Method::POST,
        "/Users",
        Some(json!({ "schemas": [USER], "userName": "lee", "emails": [{ "value": "lee@example.com" }] })),
        None,
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let uid = created.body["id"].as_str().expect("id").to_owned();
    let add = |op: Value| json!({ "schemas": [PATCH], "Operations": [op] });
    let patches = [
        add(json!({ "op": "add", "path": "emails", "value": [{ "value": "lee.a@example.com" }] })),
        add(json!({ "op": "add", "path": "emails", "value": [{ "value": "lee.b@example.com" }] })),
        add(json!({ "op": "replace", "path": "name.givenName", "value": "Lee" })),
        add(json!({ "op": "replace", "path": format!("{EXT}:department"), "value": "Ops" })),
    ];
    let mut tasks = tokio::task::JoinSet::new();
    for (i, body) in patches.into_iter().enumerate() {
        let (url, key, uid) = (server.url(""), key.clone(), uid.clone());
        tasks.spawn(async move {
            let status = reqwest::Client::new()
                .patch(format!("{url}/scim/v2/Users/{uid}"))
                .bearer_auth(key)
                .header("content-type", "application/scim+json")
                .body(body.to_string())
                .send()
                .await
                .expect("PATCH")
                .status()
                .as_u16();
            (i, status)
        });
    }
    let mut answers = tasks.join_all().await;
    answers.sort_unstable();
    let statuses: Vec<u16> = answers.into_iter().map(|(_, s)| s).collect();
    // A profile write that lost the race is read and applied again: every change lands.
    assert_eq!(statuses, [200, 200, 200, 200]);
    let now = scim(
        &server,
        k,
        Method::GET,
        &format!("/Users/{uid}"),
        None,
        None,
    )
    .await;
    let mut emails: Vec<&str> = now.body["emails"]
        .as_array()
        .expect("emails")
        .iter()
        .filter_map(|e| e["value"].as_str())
        .collect();
    emails.sort_unstable();
    assert_eq!(
        emails,
        ["lee.a@example.com", "lee.b@example.com", "lee@example.com"],
        "{}",
        now.body
    );
    assert_eq!(now.body["name"]["givenName"], "Lee", "{}", now.body);
    assert_eq!(now.body[EXT]["department"], "Ops", "{}", now.body);

    // Groups: ten members added by ten parallel PATCHes are all members.
    let mut users = Vec::new();
    for i in 0..10 {
        let u = scim(
            &server,
            k,
            Method::POST,
            "/Users",
            Some(json!({ "schemas": [USER], "userName": format!("m{i}") })),
            None,
        )
        .await;
        assert_eq!(u.status, 201);
        users.push(u.body["id"].as_str().expect("id").to_owned());
    }
    let g = scim(
        &server,
        k,
        Method::POST,
        "/Groups",
        Some(json!({ "schemas": [GROUP], "displayName": "Crew" })),
        None,
    )
    .await;
    assert_eq!(g.status, 201);
    let gid = g.body["id"].as_str().expect("id").to_owned();
    let mut tasks = tokio::task::JoinSet::new();
    for u in &users {
        let (url, key, gid) = (server.url(""), key.clone(), gid.clone());
        let body = add(json!({ "op": "add", "path": "members", "value": [{ "value": u }] }));
        tasks.spawn(async move {
            reqwest::Client::new()
                .patch(format!("{url}/scim/v2/Groups/{gid}"))
                .bearer_auth(key)
                .header("content-type", "application/scim+json")
                .body(body.to_string())
                .send()
                .await
                .expect("PATCH")
                .status()
                .as_u16()
        });
    }
    assert!(tasks.join_all().await.iter().all(|s| *s == 200));
    let crew = scim(
        &server,
        k,
        Method::GET,
        &format!("/Groups/{gid}"),
        None,
        None,
    )
    .await;
    assert_eq!(
        crew.body["members"].as_array().map(Vec::len),
        Some(10),
        "{}",
        crew.body
    );

    // A PUT renaming the group with a member that is no user of this tenant: refused whole.
    let stranger = uuid::Uuid::now_v7().to_string();
    let refused = scim(
        &server,
        k,
        Method::PUT,
        &format!("/Groups/{gid}"),
        Some(json!({ "schemas": [GROUP], "displayName": "Renamed", "members": [{ "value": stranger }] })),
        None,
    )
    .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let crew = scim(
        &server,
        k,
        Method::GET,
        &format!("/Groups/{gid}"),
        None,
        None,
    )
    .await;
    assert_eq!(crew.body["displayName"], "Crew", "the rename did not land");
    assert_eq!(crew.body["members"].as_array().map(Vec::len), Some(10));

    // Seventeen conditions are too many.
    let wide = vec!["emails pr"; 17].join(" or ");
    let resp = scim(
        &server,
        k,
        Method::GET,
        &format!("/Users?filter={}", urlencode(&wide)),
        None,
        None,
    )
    .await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.body["scimType"], "invalidFilter");
}
