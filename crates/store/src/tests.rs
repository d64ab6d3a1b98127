//! Store tests, run on SQLite and (with `TESSERA_TEST_DATABASE_URL`) on PostgreSQL.

use crate::accounts::{self, IdentityKind, NewAccount, NewIdentity};
use crate::audit::{Actor, NewEvent};
use crate::sessions::{self, NewSession};
use crate::testing::TestDatabase;
use crate::{Clock, ManualClock, StoreError};
use chrono::Duration;
use uuid::Uuid;

fn account(email: &str) -> NewAccount {
    NewAccount {
        user_id: Uuid::now_v7(),
        identities: vec![NewIdentity {
            kind: IdentityKind::Email,
            value: email.to_owned(),
            verified: false,
        }],
        password_hash: Some("$argon2id$stub".into()),
        standard_attributes: serde_json::json!({ "given_name": "Ann" }),
        custom_attributes: serde_json::json!({}),
        avatar_seed: "seed".into(),
        external_id: None,
        disabled: false,
    }
}

fn signed_up(user: Uuid) -> NewEvent {
    NewEvent::new("user.signed_up", Actor::User(user)).user(user)
}

#[tokio::test]
async fn an_account_is_created_whole_with_its_profile() {
    let t = TestDatabase::create().await.expect("db");
    let clock = ManualClock::starting_now();
    let new = account("ann@example.com");
    let id = new.user_id;
    accounts::create_account(&t.db, new, clock.now(), signed_up(id))
        .await
        .expect("create");

    let c = accounts::find_login_candidate(&t.db, IdentityKind::Email, "ann@example.com")
        .await
        .expect("query")
        .expect("found");
    assert_eq!(c.user_id, id);
    assert!(!c.disabled);
    assert_eq!(c.password_hash.as_deref(), Some("$argon2id$stub"));
    assert!(
        accounts::find_login_candidate(&t.db, IdentityKind::Username, "ann@example.com")
            .await
            .expect("query")
            .is_none()
    );

    let profile = accounts::find_profile(&t.db, id)
        .await
        .expect("q")
        .expect("profile");
    assert_eq!(profile.standard_attributes["given_name"], "Ann");
    let user = accounts::find_user(&t.db, id)
        .await
        .expect("q")
        .expect("user");
    assert_eq!(
        user.created_at.timestamp_millis(),
        clock.now().timestamp_millis()
    );
    assert!(user.last_login_at.is_none() && !user.disabled);
    let ids = accounts::list_identities(&t.db, id).await.expect("ids");
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].kind, IdentityKind::Email);
    assert!(ids[0].verified_at.is_none());
    let events = crate::audit::latest(&t.db, 5).await.expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].user_id, Some(id));
}

#[tokio::test]
async fn a_taken_login_id_writes_nothing() {
    let t = TestDatabase::create().await.expect("db");
    let clock = ManualClock::starting_now();
    let first = account("bo@example.com");
    let first_id = first.user_id;
    accounts::create_account(&t.db, first, clock.now(), signed_up(first_id))
        .await
        .expect("first");

    // The second account's first identity is new, its second is taken: nothing of it may remain.
    let mut second = account("new@example.com");
    second.identities.push(NewIdentity {
        kind: IdentityKind::Email,
        value: "bo@example.com".into(),
        verified: false,
    });
    let second_id = second.user_id;
    let err = accounts::create_account(&t.db, second, clock.now(), signed_up(second_id))
        .await
        .expect_err("conflict");
    assert!(matches!(err, StoreError::Conflict("login ID")), "{err:?}");
    assert_eq!(accounts::count_users(&t.db).await.expect("count"), 1);
    assert!(
        accounts::find_profile(&t.db, second_id)
            .await
            .expect("q")
            .is_none()
    );
    assert!(
        accounts::find_login_candidate(&t.db, IdentityKind::Email, "new@example.com")
            .await
            .expect("q")
            .is_none()
    );
    assert_eq!(
        crate::audit::latest(&t.db, 5).await.expect("events").len(),
        1
    );
}

/// A provisioning write lands whole or not at all: a taken login ID (found only by the insert,
/// after the profile and external id were written in the transaction) or removing the last
/// login ID leaves the user exactly as before, events included.
#[tokio::test]
async fn a_provisioning_write_lands_whole_or_not_at_all() {
    let t = TestDatabase::create().await.expect("db");
    let clock = ManualClock::starting_now();
    let bo = account("bo@example.com");
    let ann = account("ann@example.com");
    let ann_id = ann.user_id;
    for a in [bo, ann] {
        let id = a.user_id;
        accounts::create_account(&t.db, a, clock.now(), signed_up(id))
            .await
            .expect("account");
    }
    let before = accounts::find_profile(&t.db, ann_id)
        .await
        .expect("q")
        .expect("ann");
    let ann_email = accounts::list_identities(&t.db, ann_id).await.expect("q")[0].id;
    let events_before = crate::audit::latest(&t.db, 50).await.expect("events").len();
    let change = |add: &str, remove: Vec<Uuid>| accounts::Provision {
        profile: Some(accounts::ProfileSave {
            write: accounts::ProfileWrite {
                standard_attributes: serde_json::json!({ "given_name": "Annie" }),
                custom_attributes: serde_json::json!({}),
                annotations: serde_json::json!([]),
                avatar_seed: "seed".into(),
                cover: None,
                image: None,
            },
            expected_updated_at: before.updated_at,
            event: NewEvent::new("profile.updated", Actor::Cli).user(ann_id),
        }),
        add: vec![(
            NewIdentity {
                kind: IdentityKind::Email,
                value: add.to_owned(),
                verified: false,
            },
            NewEvent::new("identity.added", Actor::Cli).user(ann_id),
        )],
        remove: remove
            .into_iter()
            .map(|id| {
                (
                    id,
                    NewEvent::new("identity.removed", Actor::Cli).user(ann_id),
                )
            })
            .collect(),
        external_id: Some((
            Some("hr-7".into()),
            NewEvent::new("user.external_id_changed", Actor::Cli).user(ann_id),
        )),
        disabled: Some((
            true,
            NewEvent::new("user.disabled", Actor::Cli).user(ann_id),
        )),
    };
    let unchanged = || async {
        let user = accounts::find_user(&t.db, ann_id)
            .await
            .expect("q")
            .expect("ann");
        assert_eq!((user.external_id, user.disabled), (None, false));
        let p = accounts::find_profile(&t.db, ann_id)
            .await
            .expect("q")
            .expect("ann");
        assert_eq!(p.standard_attributes, before.standard_attributes);
        let ids = accounts::list_identities(&t.db, ann_id).await.expect("q");
        assert_eq!(ids.len(), 1);
        assert_eq!(
            crate::audit::latest(&t.db, 50).await.expect("events").len(),
            events_before
        );
    };
    let taken = accounts::provision(&t.db, ann_id, change("bo@example.com", vec![]), clock.now())
        .await
        .expect("provision");
    assert_eq!(taken, accounts::Provisioned::Taken);
    unchanged().await;
    // The new address is added before the old one is removed (an id already gone is skipped).
    let new_id_unknown_yet = Uuid::now_v7();
    let last = accounts::provision(
        &t.db,
        ann_id,
        change("annie@example.com", vec![ann_email, new_id_unknown_yet]),
        clock.now(),
    )
    .await
    .expect("provision");
    assert_eq!(
        last,
        accounts::Provisioned::Done,
        "an unknown id is skipped"
    );
    let ids = accounts::list_identities(&t.db, ann_id).await.expect("q");
    assert_eq!(
        ids.iter().map(|i| i.value.as_str()).collect::<Vec<_>>(),
        ["annie@example.com"]
    );
    let user = accounts::find_user(&t.db, ann_id)
        .await
        .expect("q")
        .expect("ann");
    assert_eq!(
        (user.external_id.as_deref(), user.disabled),
        (Some("hr-7"), true)
    );
    let kinds: Vec<String> = crate::audit::latest(&t.db, 5)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds.len(), 5);
    // The profile it was checked against has changed since: refused, nothing written.
    let stale = accounts::provision(&t.db, ann_id, change("x@example.com", vec![]), clock.now())
        .await
        .expect("provision");
    assert_eq!(stale, accounts::Provisioned::ProfileChanged);
    assert!(
        accounts::find_login_candidate(&t.db, IdentityKind::Email, "x@example.com")
            .await
            .expect("q")
            .is_none()
    );
    let only = ids[0].id;
    let last = accounts::Provision {
        remove: vec![(
            only,
            NewEvent::new("identity.removed", Actor::Cli).user(ann_id),
        )],
        ..Default::default()
    };
    assert_eq!(
        accounts::provision(&t.db, ann_id, last, clock.now())
            .await
            .expect("provision"),
        accounts::Provisioned::LastIdentity
    );
    assert_eq!(
        accounts::list_identities(&t.db, ann_id)
            .await
            .expect("q")
            .len(),
        1
    );
    assert_eq!(
        accounts::provision(
            &t.db,
            Uuid::now_v7(),
            accounts::Provision::default(),
            clock.now()
        )
        .await
        .expect("provision"),
        accounts::Provisioned::NoSuchUser
    );
}

#[tokio::test]
async fn sessions_are_found_by_hash_touched_and_ended() {
    let t = TestDatabase::create().await.expect("db");
    let clock = ManualClock::starting_now();
    let new = account("cy@example.com");
    let user = new.user_id;
    accounts::create_account(&t.db, new, clock.now(), signed_up(user))
        .await
        .expect("create");

    let session = sessions::start_session(
        &t.db,
        NewSession {
            id: Uuid::now_v7(),
            user_id: user,
            token_hash: "hash-1".into(),
            expires_at: clock.now() + Duration::hours(1),
            ip: Some("192.0.2.1".into()),
            user_agent: Some("UA".into()),
            amr: "pwd".into(),
            second_factor: false,
        },
        clock.now(),
        NewEvent::new("login.succeeded", Actor::User(user)).user(user),
    )
    .await
    .expect("start");
    let u = accounts::find_user(&t.db, user)
        .await
        .expect("q")
        .expect("user");
    assert_eq!(
        u.last_login_at.map(|t| t.timestamp_millis()),
        Some(clock.now().timestamp_millis())
    );

    let (found, disabled) = sessions::find_by_token_hash(&t.db, "hash-1")
        .await
        .expect("q")
        .expect("found");
    assert_eq!(found, session);
    assert!(!disabled);
    assert!(
        sessions::find_by_token_hash(&t.db, "hash-2")
            .await
            .expect("q")
            .is_none()
    );

    clock.advance(Duration::minutes(5));
    sessions::touch(&t.db, session.id, clock.now())
        .await
        .expect("touch");
    let (found, _) = sessions::find_by_token_hash(&t.db, "hash-1")
        .await
        .expect("q")
        .expect("found");
    assert_eq!(
        found.last_used_at.timestamp_millis(),
        clock.now().timestamp_millis()
    );
    assert_eq!(
        sessions::list_for_user(&t.db, user)
            .await
            .expect("list")
            .len(),
        1
    );

    let ended = sessions::end_session(
        &t.db,
        session.id,
        clock.now(),
        NewEvent::new("logout", Actor::User(user)),
    )
    .await
    .expect("end");
    assert!(ended);
    assert!(
        !sessions::end_session(
            &t.db,
            session.id,
            clock.now(),
            NewEvent::new("logout", Actor::User(user))
        )
        .await
        .expect("again")
    );
    assert!(
        sessions::find_by_token_hash(&t.db, "hash-1")
            .await
            .expect("q")
            .is_none()
    );
}

#[tokio::test]
async fn migrations_are_idempotent_and_the_database_answers() {
    let t = TestDatabase::create().await.expect("db");
    t.db.migrate().await.expect("second run is a no-op");
    t.db.ping().await.expect("ping");
    let expected = if TestDatabase::is_postgres() {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(t.db.backend_name(), expected);
}

/// A user with two identities (added in order), a third-party client and a grant of it.
async fn user_with_grant(t: &TestDatabase, clock: &ManualClock) -> (Uuid, Uuid, String) {
    use crate::clients::{self, Client};
    let new = account("una@example.com");
    let user = new.user_id;
    accounts::create_account(&t.db, new, clock.now(), signed_up(user))
        .await
        .expect("create");
    clock.advance(Duration::seconds(1));
    accounts::add_identity(
        &t.db,
        user,
        NewIdentity {
            kind: IdentityKind::Phone,
            value: "+14155550100".into(),
            verified: true,
        },
        None,
        clock.now(),
        NewEvent::new("identity.added", Actor::User(user)).user(user),
    )
    .await
    .expect("phone");
    let client = Client {
        id: Uuid::now_v7(),
        client_id: "third".into(),
        name: "Third".into(),
        secret_hash: None,
        is_public: true,
        third_party: true,
        require_mfa: false,
        redirect_uris: vec!["https://app.example/cb".into()],
        post_logout_redirect_uris: vec![],
        backchannel_logout_uri: None,
        grant_types: vec!["authorization_code".into()],
        scopes: vec![],
        created_at: clock.now(),
        updated_at: clock.now(),
    };
    clients::insert_client(
        &t.db,
        &client,
        clock.now(),
        NewEvent::new("client.created", Actor::Cli),
    )
    .await
    .expect("client");
    let grant = grant_by_code(t, clock, user, &client.client_id, "code-hash").await;
    (user, grant, client.client_id)
}

#[tokio::test]
async fn groups_and_members_stay_in_their_tenant() {
    use crate::groups::{self, GroupChange, NewGroup};
    let t = TestDatabase::create().await.expect("db");
    let clock = ManualClock::starting_now();
    let ann = account("ann@example.com");
    let ann_id = ann.user_id;
    accounts::create_account(&t.db, ann, clock.now(), signed_up(ann_id))
        .await
        .expect("ann");
    let event = || NewEvent::new("group.changed", Actor::Cli);
    let new = |name: &str| NewGroup {
        name: name.into(),
        description: Some("Editors of the site".into()),
        external_id: None,
    };
    let editors = groups::create_group(&t.db, new("editors"), &[], clock.now(), event())
        .await
        .expect("create");
    assert!(matches!(
        groups::create_group(&t.db, new("editors"), &[], clock.now(), event()).await,
        Err(StoreError::Conflict("group name"))
    ));
    assert!(
        groups::add_member(&t.db, editors.id, ann_id, clock.now(), event())
            .await
            .expect("add")
    );
    assert!(
        !groups::add_member(&t.db, editors.id, ann_id, clock.now(), event())
            .await
            .expect("again"),
        "adding twice changes nothing"
    );
    assert!(matches!(
        groups::add_member(&t.db, editors.id, Uuid::now_v7(), clock.now(), event()).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        groups::group_names(&t.db, ann_id).await.expect("names"),
        ["editors"]
    );
    assert_eq!(
        groups::members(&t.db, editors.id, None, 10)
            .await
            .expect("members"),
        [ann_id]
    );

    // Another tenant sees none of it and cannot touch it.
    crate::tenants::create(
        &t.db,
        "other",
        "Other",
        &serde_json::json!({}),
        clock.now(),
        NewEvent::new("tenant.created", Actor::Cli),
    )
    .await
    .expect("tenant");
    let other = t.db.in_tenant("other");
    assert!(
        groups::find_group(&other, editors.id)
            .await
            .expect("q")
            .is_none()
    );
    assert!(
        groups::list_groups(&other, None, 10)
            .await
            .expect("q")
            .is_empty()
    );
    assert!(
        groups::groups_of(&other, &[ann_id])
            .await
            .expect("q")
            .is_empty()
    );
    assert!(matches!(
        groups::add_member(&other, editors.id, ann_id, clock.now(), event()).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        !groups::remove_member(&other, editors.id, ann_id, clock.now(), event())
            .await
            .expect("q")
    );
    assert!(matches!(
        groups::update_group(
            &other,
            editors.id,
            GroupChange::default(),
            clock.now(),
            event()
        )
        .await,
        Err(StoreError::NotFound)
    ));
    assert!(
        !groups::delete_group(&other, editors.id, clock.now(), event())
            .await
            .expect("q")
    );
    // The same name is free there.
    let theirs = groups::create_group(&other, new("editors"), &[], clock.now(), event())
        .await
        .expect("same name in another tenant");
    assert_ne!(theirs.id, editors.id);

    let renamed = groups::update_group(
        &t.db,
        editors.id,
        GroupChange {
            name: Some("writers".into()),
            description: Some(None),
            external_id: None,
        },
        clock.now(),
        event(),
    )
    .await
    .expect("rename");
    assert_eq!(renamed.name, "writers");
    assert_eq!(renamed.description, None);
    assert!(
        groups::delete_group(&t.db, editors.id, clock.now(), event())
            .await
            .expect("delete")
    );
    assert!(
        groups::group_names(&t.db, ann_id)
            .await
            .expect("names")
            .is_empty()
    );
}

#[tokio::test]
async fn userinfo_reads_the_same_on_its_fast_path_as_through_seaorm() {
    use crate::userinfo::read as userinfo_bundle;
    let t = TestDatabase::create().await.expect("db");
    let clock = ManualClock::starting_now();
    let (user, grant, client) = user_with_grant(&t, &clock).await;
    // The same database read through SeaORM's pool: neither the calling-thread SQLite readers nor
    // the direct sqlx PostgreSQL path.
    let mut pooled = t.db.clone();
    pooled.sqlite_readers = None;
    pooled.grouped_reads = None;
    let both = |jti: &'static str| {
        let (db, pooled, client) = (t.db.clone(), pooled.clone(), client.clone());
        async move {
            let here = userinfo_bundle(&db, jti, &client, grant)
                .await
                .expect("here");
            let there = userinfo_bundle(&pooled, jti, &client, grant)
                .await
                .expect("pool");
            assert_eq!(here, there, "both paths read the same");
            here
        }
    };

    let bundle = both("jti-1").await.expect("a live token");
    assert!(bundle.third_party);
    assert_eq!(bundle.profile.standard_attributes["given_name"], "Ann");
    let ids: Vec<(&str, bool)> = bundle
        .identities
        .iter()
        .map(|i| (i.value.as_str(), i.verified_at.is_some()))
        .collect();
    assert_eq!(
        ids,
        [("una@example.com", false), ("+14155550100", true)],
        "in the order they were added"
    );
    assert!(bundle.identities.iter().all(|i| i.user_id == user));
    assert!(bundle.groups.is_empty());

    // Groups come in the same read, sorted, on every path.
    for name in ["staff", "admins"] {
        crate::groups::create_group(
            &t.db,
            crate::groups::NewGroup {
                name: name.into(),
                description: None,
                external_id: None,
            },
            &[user],
            clock.now(),
            NewEvent::new("group.created", Actor::Cli),
        )
        .await
        .expect("group");
    }
    let grouped = both("jti-1").await.expect("live");
    assert_eq!(grouped.groups, ["admins", "staff"]);
    match (&t.db.sqlite_readers, &t.db.grouped_reads) {
        (Some(readers), None) => assert_eq!(readers.idle(), 1, "SQLite read on the calling thread"),
        (None, Some(_)) => assert!(TestDatabase::is_postgres()),
        other => panic!("one fast path per backend: {other:?}"),
    }

    // A revoked token, a wrong client, a revoked grant and a disabled user all read as dead.
    crate::oauth::revoke_access_token(&t.db, "jti-2", clock.now() + Duration::minutes(5))
        .await
        .expect("revoke token");
    assert_eq!(both("jti-2").await, None);
    assert_eq!(
        userinfo_bundle(&t.db, "jti-1", "another", grant)
            .await
            .expect("q"),
        None
    );
    accounts::set_disabled(
        &t.db,
        user,
        true,
        clock.now(),
        NewEvent::new("user.disabled", Actor::Cli),
    )
    .await
    .expect("disable");
    assert_eq!(both("jti-1").await, None);
    accounts::set_disabled(
        &t.db,
        user,
        false,
        clock.now(),
        NewEvent::new("user.enabled", Actor::Cli),
    )
    .await
    .expect("enable");
    assert!(both("jti-1").await.is_some());
    crate::oauth::revoke_grant(&t.db, grant, clock.now())
        .await
        .expect("revoke grant");
    assert_eq!(both("jti-1").await, None);
}

/// A second user (given name Ben, one email) with a grant to `client_id`.
async fn second_user_with_grant(t: &TestDatabase, clock: &ManualClock, client_id: &str) -> Uuid {
    let mut new = account("ben@example.com");
    new.standard_attributes = serde_json::json!({ "given_name": "Ben" });
    let user = new.user_id;
    accounts::create_account(&t.db, new, clock.now(), signed_up(user))
        .await
        .expect("create");
    grant_by_code(t, clock, user, client_id, "ben-code-hash").await
}

/// A grant of `user` to `client_id`, through an authorization code redeemed once.
async fn grant_by_code(
    t: &TestDatabase,
    clock: &ManualClock,
    user: Uuid,
    client_id: &str,
    code_hash: &str,
) -> Uuid {
    use crate::oauth::{self, AuthorizationCode, CodeRedemption};
    let code = AuthorizationCode {
        code_hash: code_hash.into(),
        client_id: client_id.to_owned(),
        user_id: user,
        session_id: None,
        redirect_uri: "https://app.example/cb".into(),
        scope: "openid".into(),
        claims: None,
        nonce: None,
        code_challenge: None,
        auth_time: clock.now(),
        amr: "pwd".into(),
        created_at: clock.now(),
        expires_at: clock.now() + Duration::minutes(1),
        used: false,
    };
    oauth::insert_authorization_code(&t.db, &code)
        .await
        .expect("code");
    let grant = Uuid::now_v7();
    let redeemed = oauth::redeem_authorization_code(&t.db, &code, grant, None, clock.now())
        .await
        .expect("redeem");
    assert!(matches!(redeemed, CodeRedemption::Redeemed(_)));
    grant
}

#[tokio::test]
async fn userinfo_reads_that_arrive_together_share_one_statement_on_postgres() {
    use crate::userinfo::read as userinfo_bundle;
    let t = TestDatabase::create().await.expect("db");
    let Some(grouped) = t.db.grouped_reads.clone() else {
        // SQLite reads on the calling thread instead (see the test above).
        assert!(
            !TestDatabase::is_postgres(),
            "PostgreSQL groups UserInfo reads"
        );
        assert!(t.db.sqlite_readers.is_some());
        return;
    };
    let clock = ManualClock::starting_now();
    let (_, ann, client) = user_with_grant(&t, &clock).await;
    let ben = second_user_with_grant(&t, &clock, &client).await;
    crate::oauth::revoke_access_token(&t.db, "dead", clock.now() + Duration::minutes(5))
        .await
        .expect("revoke token");
    // One statement per read, through SeaORM's pool, for comparison.
    let mut single = t.db.clone();
    single.grouped_reads = None;
    let keys: Vec<(&str, &str, Uuid)> = vec![
        ("a1", &client, ann),
        ("b1", &client, ben),
        ("dead", &client, ann),
        ("a2", "another", ann),
        ("a3", &client, Uuid::now_v7()),
        ("b2", &client, ben),
        ("a1", &client, ann),
    ];

    let (statements, reads) = grouped.counts();
    let together = futures_join_all(
        keys.iter()
            .map(|(jti, client, grant)| userinfo_bundle(&t.db, jti, client, *grant)),
    )
    .await;
    let (statements_after, reads_after) = grouped.counts();
    assert_eq!(statements_after - statements, 1, "one statement for all");
    assert_eq!(reads_after - reads, keys.len() as u64);

    for ((jti, client, grant), answer) in keys.iter().zip(together) {
        let answer = answer.expect("grouped read");
        let alone = userinfo_bundle(&single, jti, client, *grant)
            .await
            .expect("single read");
        assert_eq!(answer, alone, "{jti}: grouped and single reads agree");
    }
    let given = |b: Option<crate::userinfo::UserInfoBundle>| {
        b.map(|b| {
            (
                b.profile.standard_attributes["given_name"].clone(),
                b.identities.len(),
            )
        })
    };
    let read = |jti: &'static str, grant| {
        let (db, client) = (t.db.clone(), client.clone());
        async move {
            userinfo_bundle(&db, jti, &client, grant)
                .await
                .expect("read")
        }
    };
    assert_eq!(given(read("a1", ann).await), Some(("Ann".into(), 2)));
    assert_eq!(given(read("b1", ben).await), Some(("Ben".into(), 1)));
    assert_eq!(read("dead", ann).await, None);

    // The group's columns are the single query's, in the same order, then the position.
    let row = sea_orm::sqlx::query(crate::userinfo::grouped_reads::group_sql())
        .bind(vec![ann])
        .bind(vec![client.as_str()])
        .bind(vec!["a1"])
        .bind(vec![t.db.tenant()])
        .fetch_one(&grouped.pool)
        .await
        .expect("group query");
    let names: Vec<&str> = {
        use sea_orm::sqlx::{Column, Row};
        row.columns().iter().map(|c| c.name()).collect()
    };
    let mut expected: Vec<&str> = crate::userinfo::Col::ALL.iter().map(|c| c.name()).collect();
    expected.push("ord");
    assert_eq!(names, expected);

    // At most MAX_GROUP reads share a statement; the rest go in the next.
    let (statements, _) = grouped.counts();
    let many = futures_join_all((0..70).map(|_| read("a1", ann))).await;
    assert!(
        many.iter()
            .all(|b| b.as_ref() == many[0].as_ref() && b.is_some())
    );
    assert_eq!(grouped.counts().0 - statements, 2, "64 reads, then 6");

    // A revocation committed before a read is queued is always seen: reads are never answered
    // from a statement that started before them.
    crate::oauth::revoke_grant(&t.db, ben, clock.now())
        .await
        .expect("revoke grant");
    let (a, b) = tokio::join!(read("a1", ann), read("b1", ben));
    assert!(a.is_some());
    assert_eq!(b, None);
}

#[test]
fn grouped_reads_survive_the_runtime_that_drained_them() {
    if !TestDatabase::is_postgres() {
        return;
    }
    // A server's runtime can stop while its database handle lives on (tests, restarts inside one
    // process): the next read on the thread must start a new draining task, not wait forever.
    let first = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (t, grant, client) = first.block_on(async {
        let t = TestDatabase::create().await.expect("db");
        let clock = ManualClock::starting_now();
        let (_, grant, client) = user_with_grant(&t, &clock).await;
        let bundle = crate::userinfo::read(&t.db, "j", &client, grant)
            .await
            .expect("read");
        assert!(bundle.is_some());
        (t, grant, client)
    });
    // Its draining task on this thread ended with it.
    drop(first);
    let second = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    second.block_on(async {
        // The old handle's queue on this thread lost its task: a read through it starts a new
        // one. (Its pool's connections belonged to the first runtime, so the answer may be an
        // error; it must come, not hang.)
        let old = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            crate::userinfo::read(&t.db, "j", &client, grant),
        )
        .await;
        assert!(old.is_ok(), "answered, not stuck");
        // A fresh handle on the same database, as a restarted server would have.
        let db = crate::Db::connect(&t.url, &crate::DbSettings { max_connections: 2 })
            .await
            .expect("connect");
        let bundle = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            crate::userinfo::read(&db, "j", &client, grant),
        )
        .await
        .expect("answered, not stuck")
        .expect("read");
        assert!(bundle.is_some());
    });
}

/// Polls every future together (join_all without the futures crate).
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in set.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// The outbox: events written with their changes are handed to the webhooks that want them
/// (once, even if fanned out twice), leased to one caller at a time, a user's in order, retried
/// when the lease runs out, and recorded.
#[tokio::test]
async fn webhook_deliveries_come_from_the_outbox_once_and_in_order_per_user() {
    use crate::webhooks::{self, After, Attempt, WebhookValues};
    let t = TestDatabase::create().await.expect("db");
    let clock = ManualClock::starting_now();
    let key = Uuid::now_v7();
    let hook = webhooks::create(
        &t.db,
        Uuid::now_v7(),
        WebhookValues {
            url: "http://127.0.0.1:9/hook".into(),
            events: vec!["profile.updated".into(), "user.disabled".into()],
            exclude_actor: Some(key),
            sealed_secret: "sealed".into(),
        },
        None,
        clock.now(),
        NewEvent::new("webhook.created", Actor::Cli),
    )
    .await
    .expect("webhook");
    // Events from before the webhook (the sign-up, the webhook's own creation) were never sent
    // to it: they are handed out now, but it wants neither kind.
    let ann = Uuid::now_v7();
    let bo = Uuid::now_v7();
    for (user, kind, actor) in [
        (ann, "profile.updated", Actor::Cli),
        (bo, "profile.updated", Actor::Cli),
        (ann, "user.disabled", Actor::Cli),
        (ann, "profile.updated", Actor::AdminKey(key)),
        (ann, "login.failed", Actor::Anonymous),
    ] {
        clock.advance(Duration::milliseconds(5));
        crate::audit::record(&t.db, NewEvent::new(kind, actor).user(user), clock.now())
            .await
            .expect("event");
    }
    let other = t.db.in_tenant("acme");
    crate::audit::record(
        &other,
        NewEvent::new("profile.updated", Actor::Cli),
        clock.now(),
    )
    .await
    .expect("another tenant's event");
    assert_eq!(
        webhooks::fan_out(&t.db, clock.now(), 100)
            .await
            .expect("fan out"),
        7
    );
    assert_eq!(
        webhooks::fan_out(&t.db, clock.now(), 100)
            .await
            .expect("again"),
        0
    );

    // Ann's first, Bo's first; Ann's second waits for her first.
    let lease = Duration::seconds(60);
    let first = webhooks::claim_due(&t.db, clock.now(), lease, 10)
        .await
        .expect("claim");
    let got: Vec<(Option<Uuid>, String)> = first
        .iter()
        .map(|d| (d.event.user_id, d.event.kind.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (Some(ann), "profile.updated".to_owned()),
            (Some(bo), "profile.updated".to_owned())
        ],
        "the admin key's own change, other kinds and other tenants are not sent"
    );
    assert!(
        first
            .iter()
            .all(|d| d.webhook_id == hook.id && d.url == hook.url)
    );
    assert!(
        webhooks::claim_due(&t.db, clock.now(), lease, 10)
            .await
            .expect("claim")
            .is_empty(),
        "leased, and Ann's next waits"
    );
    // Ann's first fails: retried later; still nothing of Ann's goes before it.
    let ann_first = first
        .iter()
        .find(|d| d.event.user_id == Some(ann))
        .expect("ann");
    webhooks::record_attempt(
        &t.db,
        ann_first,
        Attempt {
            status_code: Some(500),
            error: None,
            duration_ms: 3,
        },
        After::Retry(clock.now() + Duration::seconds(10)),
        clock.now(),
    )
    .await
    .expect("record");
    assert!(
        webhooks::claim_due(&t.db, clock.now(), lease, 10)
            .await
            .expect("claim")
            .is_empty()
    );
    clock.advance(Duration::seconds(11));
    let retry = webhooks::claim_due(&t.db, clock.now(), lease, 10)
        .await
        .expect("claim");
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].id, ann_first.id);
    assert_eq!(retry[0].attempts, 1);
    webhooks::record_attempt(
        &t.db,
        &retry[0],
        Attempt {
            status_code: Some(200),
            error: None,
            duration_ms: 2,
        },
        After::Delivered,
        clock.now(),
    )
    .await
    .expect("record");
    let next = webhooks::claim_due(&t.db, clock.now(), lease, 10)
        .await
        .expect("claim");
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].event.kind, "user.disabled");
    // Bo's lease runs out unanswered (a crashed process): it is taken again.
    clock.advance(Duration::seconds(61));
    let again = webhooks::claim_due(&t.db, clock.now(), lease, 10)
        .await
        .expect("claim");
    let kinds: Vec<Option<Uuid>> = again.iter().map(|d| d.event.user_id).collect();
    assert!(kinds.contains(&Some(bo)), "{kinds:?}");
    let log = webhooks::deliveries(&t.db, hook.id, None, 10)
        .await
        .expect("log");
    assert_eq!(log.len(), 3);
    let delivered = log
        .iter()
        .find(|l| l.id == ann_first.id)
        .expect("ann's first");
    assert_eq!(delivered.status, "delivered");
    assert_eq!(
        delivered
            .attempts
            .iter()
            .map(|(_, a)| a.status_code)
            .collect::<Vec<_>>(),
        [Some(500), Some(200)]
    );
    assert!(
        webhooks::deliveries(&other, hook.id, None, 10)
            .await
            .expect("log")
            .is_empty(),
        "another tenant sees no deliveries of this webhook"
    );
}
