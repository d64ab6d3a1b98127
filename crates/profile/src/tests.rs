//! Tests of the profile rules (pure) and of the service on both databases.

use crate::access::{Access, Level, Party};
use crate::document::{
    Audience, Change, LoginId, ProfileError, ProfileFacts, StoredValues, apply, render,
};
use crate::schema::ProfileSchema;
use serde_json::{Value, json};
use store::accounts::IdentityKind;

fn schema() -> ProfileSchema {
    ProfileSchema::default()
        .apply_document(&json!({
            "standard": { "address": { "end_user": "readwrite", "bearer": "readonly" },
                          "nickname": { "end_user": "readonly", "bearer": "readonly" } },
            "custom": [
                { "name": "department", "type": "string", "minimum": 1, "maximum": 8,
                  "end_user": "readwrite", "bearer": "readonly", "scope": "custom:department" },
                { "name": "team", "type": "enum", "enum": ["red", "blue"],
                  "end_user": "readonly", "bearer": "readonly" },
                { "name": "salary", "type": "integer", "minimum": 0 },
                { "name": "age", "type": "number", "maximum": 150, "end_user": "readwrite", "bearer": "readonly" },
                { "name": "newsletter", "type": "boolean", "end_user": "readwrite", "bearer": "readonly" },
                { "name": "home_country", "type": "country_code", "end_user": "readwrite", "bearer": "readonly" },
            ]
        }))
        .expect("schema")
}

fn logins() -> Vec<LoginId> {
    vec![
        LoginId {
            kind: IdentityKind::Email,
            value: "ann@example.com".into(),
            verified: true,
        },
        LoginId {
            kind: IdentityKind::Email,
            value: "ann@work.example".into(),
            verified: false,
        },
    ]
}

fn custom_id(s: &ProfileSchema, name: &str) -> String {
    s.find_custom(name)
        .map(|c| c.id.to_string())
        .unwrap_or_default()
}

fn facts<'a>(values: &'a StoredValues, logins: &'a [LoginId]) -> ProfileFacts<'a> {
    ProfileFacts {
        values,
        login_ids: logins,
        updated_at: 1_700_000_000,
        default_picture: Some("https://id.example/avatars/x.svg".into()),
    }
}

#[test]
fn the_end_user_sees_what_the_schema_lets_them_and_no_more() {
    let s = schema();
    let mut values = StoredValues::default();
    values.standard.insert("given_name".into(), json!("Ann"));
    values
        .standard
        .insert("middle_name".into(), json!("Secret"));
    values.custom.insert(custom_id(&s, "salary"), json!(100));
    values.custom.insert(custom_id(&s, "team"), json!("red"));
    let l = logins();
    let doc = Value::Object(render(
        &s,
        &facts(&values, &l),
        Audience::Party(Party::EndUser),
    ));
    assert_eq!(doc["given_name"], "Ann");
    assert!(doc.get("middle_name").is_none(), "hidden by default");
    assert_eq!(doc["email"], "ann@example.com");
    assert_eq!(doc["email_verified"], true);
    assert_eq!(
        doc["picture"], "https://id.example/avatars/x.svg",
        "generated default"
    );
    assert_eq!(doc["custom_attributes"]["team"], "red");
    assert!(
        doc["custom_attributes"].get("salary").is_none(),
        "new custom attributes are hidden"
    );
    // The admin sees everything.
    let admin = Value::Object(render(
        &s,
        &facts(&values, &l),
        Audience::Party(Party::Admin),
    ));
    assert_eq!(admin["middle_name"], "Secret");
    assert_eq!(admin["custom_attributes"]["salary"], 100);
}

#[test]
fn third_party_clients_get_only_granted_scopes() {
    let s = schema();
    let mut values = StoredValues::default();
    values.standard.insert("given_name".into(), json!("Ann"));
    values
        .custom
        .insert(custom_id(&s, "department"), json!("R&D"));
    values.custom.insert(custom_id(&s, "team"), json!("blue"));
    let l = logins();
    let f = facts(&values, &l);
    let email_only = Value::Object(render(
        &s,
        &f,
        Audience::ThirdParty {
            scopes: &["openid", "email"],
        },
    ));
    assert_eq!(email_only["email"], "ann@example.com");
    assert!(email_only.get("given_name").is_none());
    assert!(email_only.get("custom_attributes").is_none());
    let with_custom = Value::Object(render(
        &s,
        &f,
        Audience::ThirdParty {
            scopes: &["openid", "profile", "custom:department"],
        },
    ));
    assert_eq!(with_custom["given_name"], "Ann");
    assert!(with_custom.get("email").is_none());
    assert_eq!(
        with_custom["custom_attributes"],
        json!({ "department": "R&D" }),
        "team names no scope"
    );
    // First-party: everything the bearer can read.
    let first = Value::Object(render(&s, &f, Audience::Party(Party::Bearer)));
    assert_eq!(
        first["custom_attributes"],
        json!({ "department": "R&D", "team": "blue" })
    );
}

#[test]
fn patch_merges_and_put_replaces() {
    let s = schema();
    let mut values = StoredValues::default();
    values.standard.insert("given_name".into(), json!("Ann"));
    values.standard.insert("family_name".into(), json!("Lee"));
    values.standard.insert(
        "address".into(),
        json!({ "locality": "Paris", "country": "France" }),
    );
    let l = logins();
    let patched = apply(
        &s,
        &values,
        &l,
        Audience::Party(Party::EndUser),
        Change::Patch(&json!({
            "family_name": null,
            "address": { "country": null, "postal_code": "75001" },
            "custom_attributes": { "department": "R&D" },
            "locale": "fr-fr",
        })),
    )
    .expect("patch");
    assert_eq!(patched.values.standard["given_name"], "Ann", "untouched");
    assert!(
        !patched.values.standard.contains_key("family_name"),
        "null clears"
    );
    assert_eq!(
        patched.values.standard["address"],
        json!({ "locality": "Paris", "postal_code": "75001" })
    );
    assert_eq!(patched.values.standard["locale"], "fr-FR", "canonical form");
    assert_eq!(patched.values.custom[&custom_id(&s, "department")], "R&D");
    let mut changed = patched.changed.clone();
    changed.sort();
    assert_eq!(
        changed,
        [
            "address",
            "custom_attributes.department",
            "family_name",
            "locale"
        ]
    );

    let put = apply(
        &s,
        &patched.values,
        &l,
        Audience::Party(Party::EndUser),
        Change::Put(&json!({ "given_name": "Annie" })),
    )
    .expect("put");
    assert_eq!(put.values.standard.get("given_name"), Some(&json!("Annie")));
    assert!(
        !put.values.standard.contains_key("locale"),
        "PUT clears what it leaves out"
    );
    assert!(!put.values.standard.contains_key("address"));
    assert!(put.values.custom.is_empty());
}

#[test]
fn writes_to_attributes_the_party_cannot_write_are_refused_whole() {
    let s = schema();
    let values = StoredValues::default();
    let l = logins();
    for (body, attribute) in [
        (
            json!({ "given_name": "Ann", "middle_name": "X" }),
            "middle_name",
        ),
        (json!({ "nickname": "Me" }), "nickname"),
        (
            json!({ "custom_attributes": { "team": "blue" } }),
            "custom_attributes.team",
        ),
        (
            json!({ "custom_attributes": { "salary": 5 } }),
            "custom_attributes.salary",
        ),
    ] {
        let err = apply(
            &s,
            &values,
            &l,
            Audience::Party(Party::EndUser),
            Change::Patch(&body),
        )
        .expect_err("refused");
        assert_eq!(
            err,
            ProfileError::Forbidden {
                attribute: attribute.into()
            },
            "{body}"
        );
    }
    // The bearer can never write; the admin always can.
    let err = apply(
        &s,
        &values,
        &l,
        Audience::Party(Party::Bearer),
        Change::Patch(&json!({ "given_name": "A" })),
    )
    .expect_err("bearer");
    assert!(matches!(err, ProfileError::Forbidden { .. }));
    assert!(
        apply(
            &s,
            &values,
            &l,
            Audience::Party(Party::Admin),
            Change::Patch(&json!({ "middle_name": "X", "custom_attributes": { "salary": 5 } }))
        )
        .is_ok()
    );
}

#[test]
fn naming_an_attribute_the_writer_cannot_read_is_refused_whatever_the_value() {
    let s = schema();
    let mut values = StoredValues::default();
    values
        .standard
        .insert("middle_name".into(), json!("Secret"));
    values.custom.insert(custom_id(&s, "salary"), json!(100));
    let l = logins();
    // The stored value, another value, and null: the same answer, so guessing tells nothing.
    for body in [
        json!({ "middle_name": "Secret" }),
        json!({ "middle_name": "Guess" }),
        json!({ "middle_name": null }),
        json!({ "custom_attributes": { "salary": 100 } }),
        json!({ "custom_attributes": { "salary": 1 } }),
        json!({ "custom_attributes": { "salary": null } }),
    ] {
        for change in [Change::Patch(&body), Change::Put(&body)] {
            let err = apply(&s, &values, &l, Audience::Party(Party::EndUser), change)
                .expect_err("refused");
            assert!(matches!(err, ProfileError::Forbidden { .. }), "{body}");
        }
    }
    // A read-only attribute sent back unchanged is fine: its value is no secret.
    values.custom.insert(custom_id(&s, "team"), json!("red"));
    let body = json!({ "custom_attributes": { "team": "red" } });
    assert!(
        apply(
            &s,
            &values,
            &l,
            Audience::Party(Party::EndUser),
            Change::Patch(&body)
        )
        .is_ok()
    );
}

#[test]
fn a_third_party_writes_as_the_end_user_but_only_within_its_scopes() {
    let s = schema();
    let mut values = StoredValues::default();
    values.standard.insert("given_name".into(), json!("Ann"));
    values.standard.insert("locale".into(), json!("fr"));
    values
        .custom
        .insert(custom_id(&s, "department"), json!("R&D"));
    let l = logins();
    let scopes = ["openid", "profile"];
    let third = Audience::ThirdParty { scopes: &scopes };
    let ok = apply(
        &s,
        &values,
        &l,
        third,
        Change::Patch(&json!({ "given_name": "Annie" })),
    )
    .expect("within the profile scope");
    assert_eq!(ok.values.standard.get("given_name"), Some(&json!("Annie")));
    // Outside the granted scopes: as if hidden.
    for body in [
        json!({ "email": "ann@example.com" }),
        json!({ "custom_attributes": { "department": "R&D" } }),
        json!({ "address": { "locality": "Paris" } }),
    ] {
        let err = apply(&s, &values, &l, third, Change::Patch(&body)).expect_err("refused");
        assert!(matches!(err, ProfileError::Forbidden { .. }), "{body}");
    }
    // A PUT replaces only what the scopes cover.
    let put = apply(
        &s,
        &values,
        &l,
        third,
        Change::Put(&json!({ "given_name": "A" })),
    )
    .expect("put");
    assert_eq!(put.values.standard.get("given_name"), Some(&json!("A")));
    assert!(
        !put.values.standard.contains_key("locale"),
        "locale is a profile claim"
    );
    assert_eq!(
        put.values.custom.get(&custom_id(&s, "department")),
        Some(&json!("R&D")),
        "outside the scopes: untouched"
    );
    // What the bearer may only read stays unwritable.
    let err = apply(
        &s,
        &values,
        &l,
        third,
        Change::Patch(&json!({ "nickname": "N" })),
    )
    .expect_err("read-only");
    assert!(matches!(err, ProfileError::Forbidden { .. }));
}

#[test]
fn invalid_values_are_reported_with_pointers() {
    let s = schema();
    let values = StoredValues::default();
    let l = logins();
    let err = apply(
        &s,
        &values,
        &l,
        Audience::Party(Party::EndUser),
        Change::Patch(&json!({
            "birthdate": "1990-13-01",
            "zoneinfo": "Mars/Base",
            "picture": "ftp://x",
            "email": "stranger@example.com",
            "address": { "planet": "Mars" },
            "unknown": 1,
            "custom_attributes": {
                "department": "far too long a name",
                "age": 200,
                "newsletter": "yes",
                "home_country": "XX",
                "nope": 1
            }
        })),
    )
    .expect_err("invalid");
    let ProfileError::Invalid(errors) = err else {
        panic!("expected invalid")
    };
    let mut pointers: Vec<&str> = errors.iter().map(|(p, _)| p.as_str()).collect();
    pointers.sort();
    assert_eq!(
        pointers,
        [
            "/address/planet",
            "/birthdate",
            "/custom_attributes/age",
            "/custom_attributes/department",
            "/custom_attributes/home_country",
            "/custom_attributes/newsletter",
            "/custom_attributes/nope",
            "/email",
            "/picture",
            "/unknown",
            "/zoneinfo",
        ]
    );
    // An own login ID is fine for email, in any case.
    let ok = apply(
        &s,
        &values,
        &l,
        Audience::Party(Party::EndUser),
        Change::Patch(&json!({ "email": "Ann@Work.Example" })),
    )
    .expect("own email");
    assert_eq!(ok.values.standard["email"], "ann@work.example");
}

#[test]
fn values_kept_after_limits_change_but_new_writes_must_meet_them() {
    let s = schema();
    let mut values = StoredValues::default();
    values
        .custom
        .insert(custom_id(&s, "department"), json!("Engineering"));
    let l = logins();
    // Another attribute changes: the old, now too long, department is kept as it is.
    let applied = apply(
        &s,
        &values,
        &l,
        Audience::Party(Party::EndUser),
        Change::Patch(&json!({ "given_name": "Ann" })),
    )
    .expect("ok");
    assert_eq!(
        applied.values.custom[&custom_id(&s, "department")],
        "Engineering"
    );
    let err = apply(
        &s,
        &values,
        &l,
        Audience::Party(Party::EndUser),
        Change::Patch(&json!({ "custom_attributes": { "department": "Engineers" } })),
    );
    assert!(err.is_err());
}

#[test]
fn schema_rules() {
    let s = schema();
    let doc = s.to_document();
    // A round trip through the document is the identity.
    assert_eq!(s.apply_document(&doc).expect("round trip"), s);
    // Renaming by id keeps the id; type changes and deletions are refused, naming the attribute.
    let mut renamed = doc.clone();
    renamed["custom"][0]["name"] = json!("division");
    let r = s.apply_document(&renamed).expect("rename");
    assert_eq!(
        r.find_custom("division").map(|c| c.id),
        s.find_custom("department").map(|c| c.id)
    );
    let mut retyped = doc.clone();
    retyped["custom"][1]["type"] = json!("string");
    retyped["custom"][1]
        .as_object_mut()
        .map(|o| o.remove("enum"));
    let e = s.apply_document(&retyped).expect_err("type change");
    assert!(e.conflict && e.attribute == "team", "{e}");
    let mut dropped = doc.clone();
    dropped["custom"].as_array_mut().map(|a| a.remove(2));
    let e = s.apply_document(&dropped).expect_err("deletion");
    assert!(e.conflict && e.attribute == "salary", "{e}");
    for (bad, attribute) in [
        (
            json!({ "custom": [{ "name": "Bad", "type": "string" }] }),
            "Bad",
        ),
        (
            json!({ "custom": [{ "name": "ends_", "type": "string" }] }),
            "ends_",
        ),
        (
            json!({ "custom": [{ "name": "given_name", "type": "string" }] }),
            "given_name",
        ),
        (
            json!({ "custom": [{ "name": "exp", "type": "string" }] }),
            "exp",
        ),
        (
            json!({ "custom": [{ "name": "x1", "type": "colour" }] }),
            "x1",
        ),
        (
            json!({ "custom": [{ "name": "x1", "type": "enum" }] }),
            "x1",
        ),
        (
            json!({ "custom": [{ "name": "x1", "type": "boolean", "maximum": 3 }] }),
            "x1",
        ),
        (
            json!({ "custom": [{ "name": "x1", "type": "string", "bearer": "readwrite" }] }),
            "x1",
        ),
        (
            json!({ "custom": [{ "name": "x1", "type": "string", "end_user": "readonly", "bearer": "hidden" }] }),
            "x1",
        ),
        (
            json!({ "standard": { "email": { "bearer": "readwrite" } } }),
            "email",
        ),
        (
            json!({ "standard": { "shoe_size": { "bearer": "readonly" } } }),
            "shoe_size",
        ),
    ] {
        let e = ProfileSchema::default()
            .apply_document(&bad)
            .expect_err("refused");
        assert_eq!(e.attribute, attribute, "{bad}: {e}");
    }
    assert_eq!(crate::schema::title_case("job_title"), "Job Title");
    assert_eq!(
        Access::new(Level::Hidden, Level::Readonly).map(|a| a.bearer),
        Ok(Level::Readonly)
    );
}

fn text_schema() -> ProfileSchema {
    ProfileSchema::default()
        .apply_document(&json!({
            "custom": [
                { "name": "bio", "type": "text", "end_user": "readwrite", "bearer": "readonly" },
                { "name": "motto", "type": "text", "maximum": 10, "minimum": 2,
                  "end_user": "readwrite", "bearer": "readonly" },
                { "name": "note", "type": "text", "end_user": "readonly", "bearer": "readonly" },
            ]
        }))
        .expect("schema")
}

#[test]
fn text_attributes_store_the_processed_text_and_refuse_what_the_processor_refuses() {
    let s = text_schema();
    let bio = "Builder of @alice's #rust tools, see https://example.com";
    let mentions = crate::document::Mentions::new([("Alice".to_owned(), "u-1".to_owned())]);
    let applied = crate::document::apply_with(
        &s,
        &StoredValues::default(),
        &[],
        Audience::Party(Party::EndUser),
        Change::Patch(&json!({ "custom_attributes": { "bio": bio } })),
        &mentions,
    )
    .expect("applied");
    let stored = &applied.values.custom[&custom_id(&s, "bio")];
    assert_eq!(stored["text"], bio);
    assert_eq!(stored["entities"]["mentions"][0]["id"], "u-1");
    assert_eq!(stored["entities"]["hashtags"][0]["name"], "rust");
    assert_eq!(
        stored["entities"]["links"][0]["url"],
        "https://example.com/"
    );
    assert!(
        stored["html"]
            .as_str()
            .is_some_and(|h| h.contains("<a href=\"https://example.com/\" rel=\"nofollow\">"))
    );
    assert_eq!(applied.changed, ["custom_attributes.bio"]);

    // Sending back what was read changes nothing (even for a read-only text).
    let read_back = json!({ "custom_attributes": { "bio": stored.clone() } });
    let again = apply(
        &s,
        &applied.values,
        &[],
        Audience::Party(Party::EndUser),
        Change::Patch(&read_back),
    )
    .expect("same");
    assert!(again.changed.is_empty());

    // The object form: only text and explicit links are read; html and mentions are rebuilt.
    let forged = json!({ "custom_attributes": { "bio": {
        "text": "see my site",
        "html": "<script>alert(1)</script>",
        "entities": {
            "mentions": [{ "name": "root", "id": "admin", "pos": 0, "len": 3 }],
            "links": [{ "text": "my site", "url": "https://ann.example", "pos": 4, "len": 7 }],
        },
    } } });
    let applied = apply(
        &s,
        &StoredValues::default(),
        &[],
        Audience::Party(Party::EndUser),
        Change::Patch(&forged),
    )
    .expect("object form");
    let stored = &applied.values.custom[&custom_id(&s, "bio")];
    assert_eq!(
        stored["html"],
        "see <a href=\"https://ann.example/\" rel=\"nofollow\">my site</a>"
    );
    assert_eq!(stored["entities"]["mentions"], json!([]));

    for (body, pointer) in [
        (
            json!({ "motto": "x".repeat(11) }),
            "/custom_attributes/motto",
        ),
        (json!({ "motto": "x" }), "/custom_attributes/motto"),
        (json!({ "bio": "é".repeat(257) }), "/custom_attributes/bio"),
        (
            json!({ "bio": { "text": "x".repeat(300) } }),
            "/custom_attributes/bio/text",
        ),
        (
            json!({ "bio": { "text": "click", "entities": { "links": [
                { "text": "click", "url": "javascript:alert(1)", "pos": 0, "len": 5 }] } } }),
            "/custom_attributes/bio/entities/links/0",
        ),
        (
            json!({ "bio": { "text": "click", "entities": { "links": [
                { "text": "other", "url": "https://x.example", "pos": 0, "len": 5 }] } } }),
            "/custom_attributes/bio/entities/links/0",
        ),
        (json!({ "bio": 42 }), "/custom_attributes/bio"),
        (json!({ "bio": "a\u{0}b" }), "/custom_attributes/bio"),
    ] {
        let err = apply(
            &s,
            &StoredValues::default(),
            &[],
            Audience::Party(Party::EndUser),
            Change::Patch(&json!({ "custom_attributes": body.clone() })),
        )
        .expect_err("refused");
        match err {
            ProfileError::Invalid(errors) => {
                assert_eq!(errors[0].0, pointer, "{body}: {errors:?}")
            }
            other => panic!("{body}: {other:?}"),
        }
    }
    assert!(matches!(
        apply(
            &s,
            &StoredValues::default(),
            &[],
            Audience::Party(Party::EndUser),
            Change::Patch(&json!({ "custom_attributes": { "note": "mine now" } })),
        ),
        Err(ProfileError::Forbidden { .. })
    ));
    // Limits of a text: lengths, at most 8192.
    for bad in [
        json!({ "custom": [{ "name": "t", "type": "text", "maximum": 9000 }] }),
        json!({ "custom": [{ "name": "tt", "type": "text", "maximum": 2.5 }] }),
        json!({ "custom": [{ "name": "tt", "type": "text", "minimum": 300 }] }),
        json!({ "custom": [{ "name": "tt", "type": "text", "enum": ["a"] }] }),
    ] {
        assert!(
            ProfileSchema::default().apply_document(&bad).is_err(),
            "{bad}"
        );
    }
    assert_eq!(
        crate::document::mentioned_names(
            &s,
            Change::Put(&json!({ "custom_attributes": {
                "bio": "@Ann and @bob, again @ann", "motto": { "text": "@cy" }, "note": "@dee" } }))
        ),
        ["ann", "bob", "cy", "dee"]
    );
}

#[test]
fn annotations_follow_the_schema_levels_and_are_never_shown_to_third_parties() {
    let mut s = ProfileSchema::default();
    let put = json!({ "given_name": "Ann", "annotations": [
        { "type": "com.example.prefs", "value": { "theme": "dark" } }] });
    let applied = apply(
        &s,
        &StoredValues::default(),
        &[],
        Audience::Party(Party::EndUser),
        Change::Put(&put),
    )
    .expect("end user writes by default");
    assert_eq!(applied.values.annotations.len(), 1);
    assert!(applied.changed.contains(&"annotations".to_owned()));
    // A PUT without annotations keeps them.
    let kept = apply(
        &s,
        &applied.values,
        &[],
        Audience::Party(Party::EndUser),
        Change::Put(&json!({ "given_name": "Ann" })),
    )
    .expect("put");
    assert_eq!(kept.values.annotations, applied.values.annotations);
    assert!(
        crate::document::annotations_for(&s, &kept.values, Audience::Party(Party::Bearer))
            .is_some()
    );
    assert!(
        crate::document::annotations_for(
            &s,
            &kept.values,
            Audience::ThirdParty {
                scopes: &["openid", "profile"]
            }
        )
        .is_none()
    );
    assert!(matches!(
        apply(
            &s,
            &kept.values,
            &[],
            Audience::ThirdParty {
                scopes: &["openid", "profile"]
            },
            Change::Patch(&json!({ "annotations": [] })),
        ),
        Err(ProfileError::Forbidden { .. })
    ));
    s = s
        .apply_document(&json!({ "annotations": { "end_user": "readonly" } }))
        .expect("readonly");
    assert_eq!(
        s.to_document()["annotations"],
        json!({ "end_user": "readonly", "bearer": "readonly" })
    );
    assert!(matches!(
        apply(
            &s,
            &kept.values,
            &[],
            Audience::Party(Party::EndUser),
            Change::Patch(&json!({ "annotations": [{ "type": "com.example.prefs" }] })),
        ),
        Err(ProfileError::Forbidden { attribute }) if attribute == "annotations"
    ));
    // Sending back what was read is no change, so it is allowed.
    assert!(
        apply(
            &s,
            &kept.values,
            &[],
            Audience::Party(Party::EndUser),
            Change::Patch(&json!({ "annotations": kept.values.annotations.clone() })),
        )
        .is_ok()
    );
    // The admin may always.
    assert!(
        apply(
            &s,
            &kept.values,
            &[],
            Audience::Party(Party::Admin),
            Change::Patch(&json!({ "annotations": [{ "type": "com.example.prefs" }] })),
        )
        .is_ok_and(|a| a.values.annotations.is_empty())
    );
    assert!(
        ProfileSchema::default()
            .apply_document(&json!({ "annotations": { "bearer": "readwrite" } }))
            .is_err()
    );
}

mod with_database {
    use super::*;
    use crate::service::ProfileService;
    use store::audit::Actor;
    use store::testing::TestDatabase;
    use store::{Clock, ManualClock};

    async fn user(db: &store::Db, clock: &ManualClock) -> store::Uuid {
        let id = store::Uuid::now_v7();
        let new = crate::NewProfile::generated(true);
        store::accounts::create_account(
            db,
            store::accounts::NewAccount {
                user_id: id,
                identities: vec![store::accounts::NewIdentity {
                    kind: IdentityKind::Email,
                    value: "zoe@example.com".into(),
                    verified: false,
                }],
                password_hash: None,
                standard_attributes: new.standard_attributes,
                custom_attributes: json!({}),
                avatar_seed: new.avatar_seed,
                external_id: None,
                disabled: false,
            },
            clock.now(),
            store::audit::NewEvent::new("user.signed_up", Actor::Cli).user(id),
        )
        .await
        .expect("account");
        id
    }

    #[tokio::test]
    async fn schema_changes_persist_and_renames_keep_values() {
        let t = TestDatabase::create().await.expect("db");
        let clock = ManualClock::starting_now();
        let service = ProfileService::start(&t.db, "https://id.example")
            .await
            .expect("service");
        let doc = json!({ "custom": [{ "name": "department", "type": "string", "end_user": "readwrite", "bearer": "readonly" }] });
        service
            .replace_schema(&t.db, &clock, &doc, Actor::Cli)
            .await
            .expect("import");
        let id = user(&t.db, &clock).await;
        let view = service
            .change(
                &t.db,
                &clock,
                id,
                Audience::Party(Party::EndUser),
                Change::Patch(
                    &json!({ "custom_attributes": { "department": "R&D" }, "given_name": "Zoe" }),
                ),
                crate::Author::new(Actor::User(id)),
            )
            .await
            .expect("change");
        assert_eq!(view["custom_attributes"]["department"], "R&D");
        let nickname = view.get("nickname").cloned();
        assert!(
            nickname.is_none(),
            "nickname is hidden from the end user by default"
        );

        // Rename through a fresh document (matched by id) and reload in another "process".
        let mut exported = service.schema(&t.db).await.expect("schema").to_document();
        exported["custom"][0]["name"] = json!("division");
        service
            .replace_schema(&t.db, &clock, &exported, Actor::Cli)
            .await
            .expect("rename");
        let other = ProfileService::start(&t.db, "https://id.example")
            .await
            .expect("other process");
        let view = other
            .view(&t.db, id, Audience::Party(Party::Admin))
            .await
            .expect("view")
            .expect("profile");
        assert_eq!(view["custom_attributes"]["division"], "R&D");
        assert!(
            view["nickname"]
                .as_str()
                .is_some_and(|n| n.split(' ').count() == 3),
            "generated nickname: {view:?}"
        );

        // A running process that did not make the change sees it within a second.
        let running = ProfileService::start(&t.db, "https://id.example")
            .await
            .expect("running");
        let mut relabelled = running.schema(&t.db).await.expect("schema").to_document();
        relabelled["custom"][0]["label"] = json!("Division");
        service
            .replace_schema(&t.db, &clock, &relabelled, Actor::Cli)
            .await
            .expect("relabel");
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let seen = running.schema(&t.db).await.expect("schema");
        assert_eq!(seen.custom[0].label.as_deref(), Some("Division"));
        let exported = relabelled;

        // A refused import changes nothing.
        let mut bad = exported.clone();
        bad["custom"][0]["type"] = json!("integer");
        assert!(
            service
                .replace_schema(&t.db, &clock, &bad, Actor::Cli)
                .await
                .is_err()
        );
        let again = ProfileService::start(&t.db, "https://id.example")
            .await
            .expect("reload");
        assert_eq!(
            again.schema(&t.db).await.expect("schema").custom[0].name,
            "division"
        );

        // Audit: the change lists attributes, with values only for bearer-readable ones.
        let events = store::audit::latest(&t.db, 10).await.expect("events");
        let change = events
            .iter()
            .find(|e| e.kind == "profile.updated")
            .expect("profile event");
        assert_eq!(change.detail["values"]["given_name"], "Zoe");
    }

    #[tokio::test]
    async fn mentions_resolve_to_the_tenants_usernames_and_annotations_persist() {
        let t = TestDatabase::create().await.expect("db");
        let clock = ManualClock::starting_now();
        let service = ProfileService::start(&t.db, "https://id.example")
            .await
            .expect("service");
        let doc = json!({
            "custom": [{ "name": "bio", "type": "text", "end_user": "readwrite", "bearer": "readonly" }],
            "annotations": { "end_user": "readwrite", "bearer": "readonly" },
        });
        service
            .replace_schema(&t.db, &clock, &doc, Actor::Cli)
            .await
            .expect("import");
        let id = user(&t.db, &clock).await;
        let alice = store::Uuid::now_v7();
        store::accounts::create_account(
            &t.db,
            store::accounts::NewAccount {
                user_id: alice,
                identities: vec![store::accounts::NewIdentity {
                    kind: IdentityKind::Username,
                    value: "alice".into(),
                    verified: false,
                }],
                password_hash: None,
                standard_attributes: json!({}),
                custom_attributes: json!({}),
                avatar_seed: "seed".into(),
                external_id: None,
                disabled: false,
            },
            clock.now(),
            store::audit::NewEvent::new("user.signed_up", Actor::Cli).user(alice),
        )
        .await
        .expect("alice");
        let view = service
            .change(
                &t.db,
                &clock,
                id,
                Audience::Party(Party::EndUser),
                Change::Patch(&json!({
                    "custom_attributes": { "bio": "Builder of @Alice's #rust tools, ask @nobody" },
                    "annotations": [{ "type": "com.example.app", "value": { "level": 3 } }],
                })),
                crate::Author::new(Actor::User(id)),
            )
            .await
            .expect("change");
        let mentions = &view["custom_attributes"]["bio"]["entities"]["mentions"];
        assert_eq!(mentions[0]["name"], "Alice");
        // A username of another tenant is not the tenant's: no id.
        store::tenants::create(
            &t.db,
            "other",
            "Other",
            &json!({}),
            clock.now(),
            store::audit::NewEvent::new("tenant.created", Actor::Cli),
        )
        .await
        .expect("tenant");
        let elsewhere = crate::rich_text::process_in(&t.db.in_tenant("other"), "hi @alice", &[])
            .await
            .expect("processed");
        assert_eq!(elsewhere.entities.mentions[0].id, None);
        let here = crate::rich_text::process_in(&t.db, "hi @alice", &[])
            .await
            .expect("processed");
        assert_eq!(here.entities.mentions[0].id, Some(alice.to_string()));
        assert_eq!(mentions[0]["id"], alice.to_string());
        assert!(mentions[1].get("id").is_none(), "{mentions}");
        assert_eq!(view["annotations"][0]["value"]["level"], 3);

        let other = ProfileService::start(&t.db, "https://id.example")
            .await
            .expect("other process");
        let schema = other.schema(&t.db).await.expect("schema");
        assert_eq!(schema.annotations.end_user, Level::Readwrite);
        let loaded = other.load(&t.db, id).await.expect("load").expect("profile");
        assert_eq!(
            loaded.values.annotations,
            [json!({ "type": "com.example.app", "value": { "level": 3 } })]
        );
        let plain = other.render(&schema, &loaded, Audience::Party(Party::EndUser));
        assert!(plain.get("annotations").is_none(), "only when asked");
        assert_eq!(
            plain["custom_attributes"]["bio"]["text"],
            "Builder of @Alice's #rust tools, ask @nobody"
        );
    }

    #[tokio::test]
    async fn refused_changes_apply_nothing_and_avatars_regenerate() {
        let t = TestDatabase::create().await.expect("db");
        let clock = ManualClock::starting_now();
        let service = ProfileService::start(&t.db, "https://id.example")
            .await
            .expect("service");
        let id = user(&t.db, &clock).await;
        let before = service
            .view(&t.db, id, Audience::Party(Party::Admin))
            .await
            .expect("v")
            .expect("p");
        let err = service
            .change(
                &t.db,
                &clock,
                id,
                Audience::Party(Party::EndUser),
                Change::Patch(&json!({ "given_name": "Zed", "middle_name": "Q" })),
                crate::Author::new(Actor::User(id)),
            )
            .await;
        assert!(matches!(
            err,
            Err(crate::ChangeError::Refused(ProfileError::Forbidden { .. }))
        ));
        let after = service
            .view(&t.db, id, Audience::Party(Party::Admin))
            .await
            .expect("v")
            .expect("p");
        assert_eq!(before, after, "nothing of a refused write is applied");

        let view = service
            .change(
                &t.db,
                &clock,
                id,
                Audience::Party(Party::EndUser),
                Change::Patch(&json!({ "regenerate_avatar": true })),
                crate::Author::new(Actor::User(id)),
            )
            .await
            .expect("regenerate");
        assert_ne!(view["picture"], before["picture"]);
        assert!(
            view["picture"]
                .as_str()
                .is_some_and(|p| p.starts_with("https://id.example/avatars/"))
        );
    }
}

#[test]
fn every_custom_type_validates_its_values() {
    let s = ProfileSchema::default()
        .apply_document(&json!({ "custom": [
            { "name": "a_string", "type": "string", "minimum": 2, "maximum": 4, "end_user": "readwrite", "bearer": "readonly" },
            { "name": "a_number", "type": "number", "minimum": -1.5, "maximum": 1.5, "end_user": "readwrite", "bearer": "readonly" },
            { "name": "an_integer", "type": "integer", "minimum": 0, "maximum": 10, "end_user": "readwrite", "bearer": "readonly" },
            { "name": "a_boolean", "type": "boolean", "end_user": "readwrite", "bearer": "readonly" },
            { "name": "an_enum", "type": "enum", "enum": ["s", "m", "l"], "end_user": "readwrite", "bearer": "readonly" },
            { "name": "an_email", "type": "email", "end_user": "readwrite", "bearer": "readonly" },
            { "name": "a_phone", "type": "phone_number", "end_user": "readwrite", "bearer": "readonly" },
            { "name": "a_url", "type": "url", "end_user": "readwrite", "bearer": "readonly" },
            { "name": "a_country", "type": "country_code", "end_user": "readwrite", "bearer": "readonly" },
            { "name": "a_date", "type": "date", "end_user": "readwrite", "bearer": "readonly" },
            { "name": "an_image", "type": "image", "end_user": "readwrite", "bearer": "readonly" },
        ]}))
        .expect("schema");
    let l = logins();
    let write = |name: &str, v: Value| {
        apply(
            &s,
            &StoredValues::default(),
            &l,
            Audience::Party(Party::EndUser),
            Change::Patch(&json!({ "custom_attributes": { name: v } })),
        )
        .map(|a| a.values.custom.get(&custom_id(&s, name)).cloned())
    };
    let good: [(&str, Value, Value); 13] = [
        ("a_string", json!(" ab "), json!("ab")),
        ("a_number", json!(1.25), json!(1.25)),
        ("an_integer", json!(10), json!(10)),
        ("a_boolean", json!(false), json!(false)),
        ("an_enum", json!("m"), json!("m")),
        ("an_email", json!("X@Example.org"), json!("x@example.org")),
        ("a_phone", json!("+44 20 7946 0958"), json!("+442079460958")),
        (
            "a_url",
            json!("https://example.org/a"),
            json!("https://example.org/a"),
        ),
        ("a_country", json!("de"), json!("DE")),
        ("a_date", json!("2024-02-29"), json!("2024-02-29")),
        (
            "an_image",
            json!("https://cdn.example/x.png"),
            json!("https://cdn.example/x.png"),
        ),
        ("a_number", json!(-1.5), json!(-1.5)),
        ("an_integer", json!(0), json!(0)),
    ];
    for (name, input, stored) in good {
        assert_eq!(
            write(name, input.clone()),
            Ok(Some(stored)),
            "{name} {input}"
        );
    }
    let bad: [(&str, Value); 16] = [
        ("a_string", json!("a")),
        ("a_string", json!("abcde")),
        ("a_string", json!(5)),
        ("a_number", json!(2)),
        ("a_number", json!("1")),
        ("an_integer", json!(1.5)),
        ("an_integer", json!(11)),
        ("a_boolean", json!("true")),
        ("an_enum", json!("xl")),
        ("an_email", json!("nope")),
        ("a_phone", json!("12345")),
        ("a_url", json!("mailto:a@b.c")),
        ("a_country", json!("ZZ")),
        ("a_date", json!("2023-02-29")),
        ("an_image", json!("not a url")),
        ("an_enum", json!(["s"])),
    ];
    for (name, input) in bad {
        let err = write(name, input.clone()).expect_err("refused");
        let ProfileError::Invalid(errors) = err else {
            panic!("{name}: not a validation error")
        };
        assert_eq!(errors[0].0, format!("/custom_attributes/{name}"), "{input}");
    }
}

#[test]
fn a_third_party_client_with_only_openid_gets_the_subject_alone() {
    let s = schema();
    let mut values = StoredValues::default();
    values.standard.insert("given_name".into(), json!("Ann"));
    let l = logins();
    let doc = render(
        &s,
        &facts(&values, &l),
        Audience::ThirdParty {
            scopes: &["openid"],
        },
    );
    assert!(doc.is_empty(), "{doc:?}");
}
