//! User search for the Admin API, over an index kept in the same transaction as every write that
//! changes what it covers (profile saves, identities added or removed, new accounts).
//!
//! The index (`profile_search`) holds lower-cased tokens: under `q` the words of a user's names
//! (`name`, `given_name`, `middle_name`, `family_name`, `nickname`), their email addresses (whole,
//! and the domain alone) and usernames; under `attr:<definition id>` each custom attribute's value.
//! Free text matches tokens by prefix, attributes match exactly; both are range scans on the
//! `(field, value)` primary key; under `display` the whole display name (`name`, SCIM's
//! `displayName`). Pages are ordered by user id (UUID v7, so by creation), and a
//! cursor is the last id seen: users added while someone pages through appear after it, never
//! twice.

use crate::accounts::{User, from_user_row};
use crate::entity::{group_members, groups, identities, profile_search, profiles, users};
use crate::{Db, StoreError};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};
use serde_json::Value;
use std::collections::BTreeSet;
use uuid::Uuid;

/// The longest token kept (longer values are cut at this many characters, on both sides).
pub const MAX_TOKEN_CHARS: usize = 300;
const NAME_ATTRIBUTES: [&str; 5] = [
    "name",
    "given_name",
    "middle_name",
    "family_name",
    "nickname",
];
/// The field of free-text tokens.
const Q: &str = "q";
/// The field of the whole display name (`name`), for SCIM's `displayName` filters.
pub const DISPLAY: &str = "display";

/// The index form of a searched or stored text: trimmed, runs of white space made one space,
/// lower-cased, at most [`MAX_TOKEN_CHARS`] characters.
pub fn token(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
        .chars()
        .take(MAX_TOKEN_CHARS)
        .collect()
}

/// The index field of a custom attribute.
pub fn attribute_field(definition: Uuid) -> String {
    format!("attr:{definition}")
}

/// The text a custom attribute value is indexed (and searched) by.
pub fn attribute_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(token(s)),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
    .filter(|t| !t.is_empty())
}

/// The index rows of one user.
fn entries(
    standard: &Value,
    custom: &Value,
    identities: &[(String, String)],
) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    if let Some(display) = standard.get("name").and_then(Value::as_str).map(token)
        && !display.is_empty()
    {
        out.insert((DISPLAY.to_owned(), display));
    }
    for name in NAME_ATTRIBUTES {
        if let Some(text) = standard.get(name).and_then(Value::as_str) {
            for word in text.split(|c: char| c.is_whitespace() || c == ',') {
                let word = token(word);
                if !word.is_empty() {
                    out.insert((Q.to_owned(), word));
                }
            }
        }
    }
    for (kind, value) in identities {
        match kind.as_str() {
            "email" => {
                out.insert((Q.to_owned(), token(value)));
                if let Some((_, domain)) = value.rsplit_once('@') {
                    out.insert((Q.to_owned(), token(domain)));
                }
            }
            "username" => {
                out.insert((Q.to_owned(), token(value)));
            }
            _ => {}
        }
    }
    if let Some(custom) = custom.as_object() {
        for (id, value) in custom {
            if let (Ok(id), Some(text)) = (Uuid::parse_str(id), attribute_text(value)) {
                out.insert((attribute_field(id), text));
            }
        }
    }
    out
}

/// Rewrites the index rows of `user_id` from what is stored now. Part of the caller's transaction.
pub(crate) async fn reindex(
    tx: &impl ConnectionTrait,
    tenant: &str,
    user_id: Uuid,
) -> Result<(), StoreError> {
    profile_search::Entity::delete_many()
        .filter(profile_search::Column::TenantId.eq(tenant))
        .filter(profile_search::Column::UserId.eq(user_id))
        .exec(tx)
        .await?;
    let Some(profile) = profiles::Entity::find_by_id(user_id)
        .filter(profiles::Column::TenantId.eq(tenant))
        .one(tx)
        .await?
    else {
        return Ok(());
    };
    let ids: Vec<(String, String)> = identities::Entity::find()
        .filter(identities::Column::TenantId.eq(tenant))
        .select_only()
        .column(identities::Column::Kind)
        .column(identities::Column::Value)
        .filter(identities::Column::UserId.eq(user_id))
        .into_tuple()
        .all(tx)
        .await?;
    index(
        tx,
        tenant,
        user_id,
        &profile.standard,
        &profile.custom,
        &ids,
    )
    .await
}

/// Writes the index rows of a user from the values given (a new account, whose rows are
/// known without reading them back). Part of the caller's transaction.
pub(crate) async fn index(
    tx: &impl ConnectionTrait,
    tenant: &str,
    user_id: Uuid,
    standard: &Value,
    custom: &Value,
    identities: &[(String, String)],
) -> Result<(), StoreError> {
    let rows: Vec<_> = entries(standard, custom, identities)
        .into_iter()
        .map(|(field, value)| profile_search::ActiveModel {
            tenant_id: Set(tenant.to_owned()),
            field: Set(field),
            value: Set(value),
            user_id: Set(user_id),
        })
        .collect();
    if !rows.is_empty() {
        profile_search::Entity::insert_many(rows)
            .exec_without_returning(tx)
            .await?;
    }
    Ok(())
}

/// Builds the index for every user of every tenant when it is empty (a database from before
/// the index, or a migration that emptied it to add a field). Returns how many users were
/// indexed.
pub async fn rebuild_if_empty(db: &Db) -> Result<u64, StoreError> {
    // One row is enough to know (a count would read the whole index at every start).
    if profile_search::Entity::find()
        .one(&db.read)
        .await?
        .is_some()
    {
        return Ok(0);
    }
    let tenants: Vec<String> = crate::entity::tenants::Entity::find()
        .select_only()
        .column(crate::entity::tenants::Column::Id)
        .filter(crate::entity::tenants::Column::DeletedAt.is_null())
        .into_tuple()
        .all(&db.read)
        .await?;
    let mut indexed = 0;
    for tenant in tenants {
        indexed += rebuild_tenant(&db.in_tenant(&tenant)).await?;
    }
    Ok(indexed)
}

async fn rebuild_tenant(db: &Db) -> Result<u64, StoreError> {
    let mut after: Option<Uuid> = None;
    let mut indexed = 0;
    loop {
        let mut page = users::Entity::find()
            .filter(users::Column::TenantId.eq(db.tenant()))
            .select_only()
            .column(users::Column::Id)
            .order_by_asc(users::Column::Id)
            .limit(500);
        if let Some(a) = after {
            page = page.filter(users::Column::Id.gt(a));
        }
        let ids: Vec<Uuid> = page.into_tuple().all(&db.read).await?;
        let Some(last) = ids.last().copied() else {
            return Ok(indexed);
        };
        let tx = db.write.begin().await?;
        for id in &ids {
            reindex(&tx, db.tenant(), *id).await?;
        }
        tx.commit().await?;
        indexed += ids.len() as u64;
        after = Some(last);
    }
}

/// What to look for; every given condition must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserQuery {
    /// Free-text words; each must start one of the user's name words, emails or usernames.
    pub words: Vec<String>,
    /// Normalised login IDs.
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub username: Option<String>,
    /// (definition id, value) pairs, matched exactly (case-insensitively for text).
    pub attributes: Vec<(Uuid, String)>,
    pub disabled: Option<bool>,
    /// Members of the group of this name.
    pub group: Option<String>,
    /// Only users after this id (the cursor).
    pub after: Option<Uuid>,
    pub limit: u64,
}

fn with_identity(tenant: &str, kind: &str, value: &str) -> SelectStatement {
    Query::select()
        .column(identities::Column::UserId)
        .from(identities::Entity)
        .and_where(Expr::col(identities::Column::TenantId).eq(tenant))
        .and_where(Expr::col(identities::Column::Kind).eq(kind))
        .and_where(Expr::col(identities::Column::Value).eq(value))
        .to_owned()
}

fn with_token(tenant: &str, field: &str, matches: Expr) -> SelectStatement {
    Query::select()
        .column(profile_search::Column::UserId)
        .from(profile_search::Entity)
        .and_where(Expr::col(profile_search::Column::TenantId).eq(tenant))
        .and_where(Expr::col(profile_search::Column::Field).eq(field))
        .and_where(matches)
        .to_owned()
}

/// One page of users matching `query`, ordered by id.
pub async fn search_users(db: &Db, query: &UserQuery) -> Result<Vec<User>, StoreError> {
    let rows = select_users(db.tenant(), query).all(&db.read).await?;
    Ok(rows.into_iter().map(from_user_row).collect())
}

fn select_users(tenant: &str, query: &UserQuery) -> sea_orm::Select<users::Entity> {
    let mut select = users::Entity::find().filter(users::Column::TenantId.eq(tenant));
    if let Some(after) = query.after {
        select = select.filter(users::Column::Id.gt(after));
    }
    match query.disabled {
        Some(true) => select = select.filter(users::Column::DisabledAt.is_not_null()),
        Some(false) => select = select.filter(users::Column::DisabledAt.is_null()),
        None => {}
    }
    for (kind, value) in [
        ("email", &query.email),
        ("phone", &query.phone_number),
        ("username", &query.username),
    ] {
        if let Some(value) = value {
            select =
                select.filter(users::Column::Id.in_subquery(with_identity(tenant, kind, value)));
        }
    }
    if let Some(name) = &query.group {
        // The (tenant, name) unique index, then the (group, user) primary key.
        let members = Query::select()
            .column((group_members::Entity, group_members::Column::UserId))
            .from(group_members::Entity)
            .inner_join(
                groups::Entity,
                Expr::col((groups::Entity, groups::Column::Id))
                    .equals((group_members::Entity, group_members::Column::GroupId)),
            )
            .and_where(Expr::col((groups::Entity, groups::Column::TenantId)).eq(tenant))
            .and_where(Expr::col((groups::Entity, groups::Column::Name)).eq(name.as_str()))
            .to_owned();
        select = select.filter(users::Column::Id.in_subquery(members));
    }
    for word in &query.words {
        let word = token(word);
        let upper = format!("{word}\u{10FFFF}");
        let range = Expr::col(profile_search::Column::Value)
            .gte(word.as_str())
            .and(Expr::col(profile_search::Column::Value).lt(upper.as_str()));
        select = select.filter(users::Column::Id.in_subquery(with_token(tenant, Q, range)));
    }
    for (definition, value) in &query.attributes {
        let exact = Expr::col(profile_search::Column::Value).eq(token(value).as_str());
        select = select.filter(users::Column::Id.in_subquery(with_token(
            tenant,
            &attribute_field(*definition),
            exact,
        )));
    }
    select.order_by_asc(users::Column::Id).limit(query.limit)
}

/// How a text condition matches (values compared lower-cased, as they are stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextMatch {
    Exact,
    Prefix,
    /// A substring: `LIKE '%…%'` over the tenant's rows of that kind (an index range, not the
    /// users table).
    Contains,
    Suffix,
}

/// How a time condition compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A condition tree over users (SCIM filters), each leaf an indexed lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserFilter {
    And(Box<UserFilter>, Box<UserFilter>),
    Or(Box<UserFilter>, Box<UserFilter>),
    Not(Box<UserFilter>),
    /// A login ID of one of `kinds` matches.
    Identity {
        kinds: Vec<&'static str>,
        how: TextMatch,
        value: String,
    },
    /// The user has a login ID of one of `kinds`.
    HasIdentity(Vec<&'static str>),
    ExternalId(TextMatch, String),
    HasExternalId,
    /// An index field of `profile_search` (`q` words, `attr:<id>` values, `display`).
    Indexed {
        field: String,
        how: TextMatch,
        value: String,
    },
    Id(Uuid),
    /// The profile's last change (Unix milliseconds).
    UpdatedAt(Compare, i64),
    CreatedAt(Compare, i64),
    Disabled(bool),
    /// Members of the group with this id.
    InGroup(Uuid),
    /// Nothing matches (a value that can never be stored, such as a malformed id).
    Nothing,
}

fn like_pattern(value: &str, how: TextMatch) -> String {
    let escaped = value
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    match how {
        TextMatch::Exact => escaped,
        TextMatch::Prefix => format!("{escaped}%"),
        TextMatch::Contains => format!("%{escaped}%"),
        TextMatch::Suffix => format!("%{escaped}"),
    }
}

pub(crate) fn text_expr<C: sea_orm::sea_query::IntoColumnRef + Copy>(
    col: C,
    how: TextMatch,
    value: &str,
) -> sea_orm::sea_query::SimpleExpr {
    match how {
        TextMatch::Exact => Expr::col(col).eq(value),
        TextMatch::Prefix => {
            let upper = format!("{value}\u{10FFFF}");
            Expr::col(col)
                .gte(value)
                .and(Expr::col(col).lt(upper.as_str()))
        }
        other => Expr::col(col)
            .like(sea_orm::sea_query::LikeExpr::new(like_pattern(value, other)).escape('\\')),
    }
}

pub(crate) fn compare_expr(
    col: impl sea_orm::sea_query::IntoColumnRef,
    op: Compare,
    v: i64,
) -> sea_orm::sea_query::SimpleExpr {
    let c = Expr::col(col);
    match op {
        Compare::Eq => c.eq(v),
        Compare::Gt => c.gt(v),
        Compare::Ge => c.gte(v),
        Compare::Lt => c.lt(v),
        Compare::Le => c.lte(v),
    }
}

fn filter_condition(tenant: &str, f: &UserFilter) -> sea_orm::sea_query::SimpleExpr {
    use sea_orm::sea_query::SimpleExpr;
    let user_id = (users::Entity, users::Column::Id);
    let in_ids = |sub: SelectStatement| -> SimpleExpr { Expr::col(user_id).in_subquery(sub) };
    match f {
        UserFilter::And(a, b) => filter_condition(tenant, a).and(filter_condition(tenant, b)),
        UserFilter::Or(a, b) => filter_condition(tenant, a).or(filter_condition(tenant, b)),
        UserFilter::Not(a) => filter_condition(tenant, a).not(),
        UserFilter::Identity { kinds, how, value } => in_ids(
            Query::select()
                .column(identities::Column::UserId)
                .from(identities::Entity)
                .and_where(Expr::col(identities::Column::TenantId).eq(tenant))
                .and_where(Expr::col(identities::Column::Kind).is_in(kinds.iter().copied()))
                .and_where(text_expr(
                    identities::Column::Value,
                    *how,
                    &value.to_lowercase(),
                ))
                .to_owned(),
        ),
        UserFilter::HasIdentity(kinds) => in_ids(
            Query::select()
                .column(identities::Column::UserId)
                .from(identities::Entity)
                .and_where(Expr::col(identities::Column::TenantId).eq(tenant))
                .and_where(Expr::col(identities::Column::Kind).is_in(kinds.iter().copied()))
                .to_owned(),
        ),
        UserFilter::ExternalId(how, value) => {
            text_expr((users::Entity, users::Column::ExternalId), *how, value)
        }
        UserFilter::HasExternalId => {
            Expr::col((users::Entity, users::Column::ExternalId)).is_not_null()
        }
        UserFilter::Indexed { field, how, value } => in_ids(with_token(
            tenant,
            field,
            text_expr(profile_search::Column::Value, *how, &token(value)),
        )),
        UserFilter::Id(id) => Expr::col(user_id).eq(*id),
        UserFilter::UpdatedAt(op, at) => in_ids(
            Query::select()
                .column(profiles::Column::UserId)
                .from(profiles::Entity)
                .and_where(Expr::col(profiles::Column::TenantId).eq(tenant))
                .and_where(compare_expr(profiles::Column::UpdatedAt, *op, *at))
                .to_owned(),
        ),
        UserFilter::CreatedAt(op, at) => {
            compare_expr((users::Entity, users::Column::CreatedAt), *op, *at)
        }
        UserFilter::Disabled(true) => {
            Expr::col((users::Entity, users::Column::DisabledAt)).is_not_null()
        }
        UserFilter::Disabled(false) => {
            Expr::col((users::Entity, users::Column::DisabledAt)).is_null()
        }
        UserFilter::InGroup(group) => in_ids(
            Query::select()
                .column(group_members::Column::UserId)
                .from(group_members::Entity)
                .and_where(Expr::col(group_members::Column::TenantId).eq(tenant))
                .and_where(Expr::col(group_members::Column::GroupId).eq(*group))
                .to_owned(),
        ),
        UserFilter::Nothing => Expr::val(1).eq(0),
    }
}

/// A leaf answered by an index, as the set of user ids it matches (column `uid`); `None` for a
/// condition that only narrows rows already found (`Disabled`, a negation).
fn leaf_set(tenant: &str, f: &UserFilter) -> Option<SelectStatement> {
    let ids = |col: sea_orm::sea_query::ColumnRef, table: sea_orm::sea_query::TableRef| {
        let mut q = Query::select();
        q.expr_as(Expr::col(col), sea_orm::sea_query::Alias::new("uid"))
            .from(table);
        q
    };
    let identity_ids = || {
        ids(
            (identities::Entity, identities::Column::UserId).into_column_ref(),
            identities::Entity.into_table_ref(),
        )
    };
    let user_ids = || {
        let mut q = ids(
            (users::Entity, users::Column::Id).into_column_ref(),
            users::Entity.into_table_ref(),
        );
        q.and_where(Expr::col((users::Entity, users::Column::TenantId)).eq(tenant));
        q
    };
    use sea_orm::sea_query::{IntoColumnRef, IntoTableRef};
    Some(match f {
        UserFilter::Identity { kinds, how, value } => identity_ids()
            .and_where(Expr::col(identities::Column::TenantId).eq(tenant))
            .and_where(Expr::col(identities::Column::Kind).is_in(kinds.iter().copied()))
            .and_where(text_expr(
                identities::Column::Value,
                *how,
                &value.to_lowercase(),
            ))
            .to_owned(),
        UserFilter::HasIdentity(kinds) => identity_ids()
            .and_where(Expr::col(identities::Column::TenantId).eq(tenant))
            .and_where(Expr::col(identities::Column::Kind).is_in(kinds.iter().copied()))
            .to_owned(),
        UserFilter::ExternalId(how, value) => user_ids()
            .and_where(text_expr(
                (users::Entity, users::Column::ExternalId),
                *how,
                value,
            ))
            .to_owned(),
        UserFilter::HasExternalId => user_ids()
            .and_where(Expr::col((users::Entity, users::Column::ExternalId)).is_not_null())
            .to_owned(),
        UserFilter::Indexed { field, how, value } => ids(
            (profile_search::Entity, profile_search::Column::UserId).into_column_ref(),
            profile_search::Entity.into_table_ref(),
        )
        .and_where(Expr::col(profile_search::Column::TenantId).eq(tenant))
        .and_where(Expr::col(profile_search::Column::Field).eq(field.as_str()))
        .and_where(text_expr(
            profile_search::Column::Value,
            *how,
            &token(value),
        ))
        .to_owned(),
        UserFilter::Id(id) => user_ids()
            .and_where(Expr::col((users::Entity, users::Column::Id)).eq(*id))
            .to_owned(),
        UserFilter::UpdatedAt(op, at) => ids(
            (profiles::Entity, profiles::Column::UserId).into_column_ref(),
            profiles::Entity.into_table_ref(),
        )
        .and_where(Expr::col(profiles::Column::TenantId).eq(tenant))
        .and_where(compare_expr(profiles::Column::UpdatedAt, *op, *at))
        .to_owned(),
        UserFilter::CreatedAt(op, at) => user_ids()
            .and_where(compare_expr(
                (users::Entity, users::Column::CreatedAt),
                *op,
                *at,
            ))
            .to_owned(),
        UserFilter::InGroup(group) => ids(
            (group_members::Entity, group_members::Column::UserId).into_column_ref(),
            group_members::Entity.into_table_ref(),
        )
        .and_where(Expr::col(group_members::Column::TenantId).eq(tenant))
        .and_where(Expr::col(group_members::Column::GroupId).eq(*group))
        .to_owned(),
        UserFilter::Nothing => user_ids().and_where(Expr::val(1).eq(0)).to_owned(),
        UserFilter::Disabled(_) | UserFilter::Not(_) | UserFilter::And(..) | UserFilter::Or(..) => {
            return None;
        }
    })
}

/// `a OP b` over two id sets, each wrapped so that the operators nest the same way on every
/// backend (PostgreSQL binds INTERSECT tighter than UNION; SQLite reads them left to right).
fn combine(
    a: SelectStatement,
    op: sea_orm::sea_query::UnionType,
    b: SelectStatement,
    n: &mut usize,
) -> SelectStatement {
    use sea_orm::sea_query::Alias;
    let mut wrap = |s: SelectStatement| {
        *n += 1;
        let alias = Alias::new(format!("s{n}"));
        Query::select()
            .column((alias.clone(), Alias::new("uid")))
            .from_subquery(s, alias)
            .to_owned()
    };
    let mut left = wrap(a);
    left.union(op, wrap(b));
    left
}

/// How a filter is answered: a set of ids found through indexes, narrowed by conditions on the
/// rows found (`Disabled`, negations, disjunctions that involve those).
struct Plan {
    set: Option<SelectStatement>,
    narrow: Option<sea_orm::sea_query::SimpleExpr>,
}

fn plan(tenant: &str, f: &UserFilter, n: &mut usize) -> Plan {
    use sea_orm::sea_query::UnionType;
    if let Some(set) = leaf_set(tenant, f) {
        return Plan {
            set: Some(set),
            narrow: None,
        };
    }
    match f {
        UserFilter::And(a, b) => {
            let (pa, pb) = (plan(tenant, a, n), plan(tenant, b, n));
            let set = match (pa.set, pb.set) {
                (Some(x), Some(y)) => Some(combine(x, UnionType::Intersect, y, n)),
                (x, y) => x.or(y),
            };
            let narrow = match (pa.narrow, pb.narrow) {
                (Some(x), Some(y)) => Some(x.and(y)),
                (x, y) => x.or(y),
            };
            Plan { set, narrow }
        }
        UserFilter::Or(a, b) => {
            let (pa, pb) = (plan(tenant, a, n), plan(tenant, b, n));
            match (pa, pb) {
                (
                    Plan {
                        set: Some(x),
                        narrow: None,
                    },
                    Plan {
                        set: Some(y),
                        narrow: None,
                    },
                ) => Plan {
                    set: Some(combine(x, UnionType::Distinct, y, n)),
                    narrow: None,
                },
                (pa, pb) => {
                    // Each side must still be found through an index: the union of the two sides'
                    // sets, narrowed by the whole condition.
                    let set = match (pa.set, pb.set) {
                        (Some(x), Some(y)) => Some(combine(x, UnionType::Distinct, y, n)),
                        _ => None,
                    };
                    Plan {
                        set,
                        narrow: Some(filter_condition(tenant, f)),
                    }
                }
            }
        }
        other => Plan {
            set: None,
            narrow: Some(filter_condition(tenant, other)),
        },
    }
}

/// The tenant's users matching `filter`, through indexes (see [`filter_users`]).
fn filtered_users(
    tenant: &str,
    filter: Option<&UserFilter>,
) -> Result<sea_orm::Select<users::Entity>, StoreError> {
    let mut select = users::Entity::find().filter(users::Column::TenantId.eq(tenant));
    if let Some(f) = filter {
        let p = plan(tenant, f, &mut 0);
        let Some(set) = p.set else {
            return Err(StoreError::Unindexed);
        };
        select = select.filter(users::Column::Id.in_subquery(set));
        if let Some(narrow) = p.narrow {
            select = select.filter(narrow);
        }
    }
    Ok(select)
}

/// The order of a filtered list of users (ties by id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UserOrder {
    /// Creation order (ids are UUID v7).
    #[default]
    Created,
    /// By the username, else the first email address.
    LoginId,
    /// By the profile's last change.
    LastModified,
}

fn order_key(tenant: &str, order: UserOrder) -> Option<sea_orm::sea_query::SimpleExpr> {
    use sea_orm::sea_query::{Func, SimpleExpr, SubQueryStatement};
    let login = |kind: &str| -> SimpleExpr {
        SimpleExpr::SubQuery(
            None,
            Box::new(SubQueryStatement::SelectStatement(
                Query::select()
                    .expr(Expr::col((identities::Entity, identities::Column::Value)).min())
                    .from(identities::Entity)
                    .and_where(
                        Expr::col((identities::Entity, identities::Column::UserId))
                            .equals((users::Entity, users::Column::Id)),
                    )
                    .and_where(
                        Expr::col((identities::Entity, identities::Column::TenantId)).eq(tenant),
                    )
                    .and_where(Expr::col((identities::Entity, identities::Column::Kind)).eq(kind))
                    .to_owned(),
            )),
        )
    };
    match order {
        UserOrder::Created => None,
        UserOrder::LoginId => Some(Func::coalesce([login("username"), login("email")]).into()),
        UserOrder::LastModified => Some(SimpleExpr::SubQuery(
            None,
            Box::new(SubQueryStatement::SelectStatement(
                Query::select()
                    .column((profiles::Entity, profiles::Column::UpdatedAt))
                    .from(profiles::Entity)
                    .and_where(
                        Expr::col((profiles::Entity, profiles::Column::UserId))
                            .equals((users::Entity, users::Column::Id)),
                    )
                    .to_owned(),
            )),
        )),
    }
}

/// The users matching `filter` (all with `None`), in `order`: how many in all, and the `limit`
/// after the first `offset`. A filter is answered through indexes: one that none of its
/// conditions can narrow that way (only `Disabled` or negations, or a disjunction with such a
/// side) is refused with [`StoreError::Unindexed`] rather than read by scanning the users.
pub async fn filter_users(
    db: &Db,
    filter: Option<&UserFilter>,
    order: UserOrder,
    descending: bool,
    offset: u64,
    limit: u64,
) -> Result<(u64, Vec<User>), StoreError> {
    let mut select = filtered_users(db.tenant(), filter)?;
    let total = select.clone().count(&db.read).await?;
    let direction = if descending {
        sea_orm::Order::Desc
    } else {
        sea_orm::Order::Asc
    };
    let rows = if limit == 0 {
        Vec::new()
    } else {
        if let Some(key) = order_key(db.tenant(), order) {
            select = select.order_by(key, direction.clone());
        }
        select
            .order_by(users::Column::Id, direction)
            .offset(offset)
            .limit(limit)
            .all(&db.read)
            .await?
    };
    Ok((total, rows.into_iter().map(from_user_row).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn searches_are_index_lookups_not_scans() {
        let t = crate::testing::TestDatabase::create().await.expect("db");
        if t.db.backend_name() != "sqlite" {
            return; // PostgreSQL plans tiny tables as scans whatever the indexes.
        }
        let query = UserQuery {
            words: vec!["ada".into()],
            email: Some("ada@example.org".into()),
            attributes: vec![(Uuid::now_v7(), "red".into())],
            limit: 50,
            ..UserQuery::default()
        };
        let stmt = sea_orm::QueryTrait::build(
            &select_users(crate::DEFAULT_TENANT, &query),
            sea_orm::DbBackend::Sqlite,
        );
        let explain = sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Sqlite,
            format!("EXPLAIN QUERY PLAN {}", stmt.sql),
            stmt.values.map(|v| v.0).unwrap_or_default(),
        );
        let rows = t.db.read.query_all_raw(explain).await.expect("plan");
        let plan: Vec<String> = rows
            .iter()
            .map(|r| r.try_get::<String>("", "detail").expect("detail"))
            .collect();
        let text = plan.join("\n");
        assert!(!text.contains("SCAN users"), "{text}");
        assert!(!text.contains("SCAN profile_search"), "{text}");
        assert!(!text.contains("SCAN identities"), "{text}");
        assert!(text.contains("profile_search USING"), "{text}");
    }

    #[tokio::test]
    async fn user_filters_are_index_lookups_not_scans() {
        let t = crate::testing::TestDatabase::create().await.expect("db");
        if t.db.backend_name() != "sqlite" {
            return; // PostgreSQL plans tiny tables as scans whatever the indexes.
        }
        let user_name = || UserFilter::Identity {
            kinds: vec!["username", "email"],
            how: TextMatch::Exact,
            value: "bjensen".into(),
        };
        let filters = [
            user_name(),
            UserFilter::Or(
                Box::new(user_name()),
                Box::new(UserFilter::ExternalId(TextMatch::Exact, "x".into())),
            ),
            UserFilter::And(
                Box::new(user_name()),
                Box::new(UserFilter::Not(Box::new(UserFilter::Disabled(true)))),
            ),
            UserFilter::UpdatedAt(Compare::Gt, 1),
            UserFilter::CreatedAt(Compare::Ge, 1),
            UserFilter::InGroup(Uuid::now_v7()),
            UserFilter::Identity {
                kinds: vec!["email"],
                how: TextMatch::Prefix,
                value: "bj".into(),
            },
            UserFilter::And(
                Box::new(UserFilter::Or(
                    Box::new(user_name()),
                    Box::new(UserFilter::InGroup(Uuid::now_v7())),
                )),
                Box::new(UserFilter::Not(Box::new(UserFilter::HasExternalId))),
            ),
        ];
        // Nothing an index can narrow: refused, not scanned.
        for f in [
            UserFilter::Disabled(false),
            UserFilter::Not(Box::new(user_name())),
            UserFilter::Or(Box::new(user_name()), Box::new(UserFilter::Disabled(true))),
        ] {
            assert!(
                matches!(
                    filtered_users(crate::DEFAULT_TENANT, Some(&f)),
                    Err(StoreError::Unindexed)
                ),
                "{f:?}"
            );
        }
        for f in filters {
            let select = filtered_users(crate::DEFAULT_TENANT, Some(&f)).expect("indexed");
            let stmt = sea_orm::QueryTrait::build(&select, sea_orm::DbBackend::Sqlite);
            let explain = sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Sqlite,
                format!("EXPLAIN QUERY PLAN {}", stmt.sql),
                stmt.values.map(|v| v.0).unwrap_or_default(),
            );
            let rows = t.db.read.query_all_raw(explain).await.expect("plan");
            let text: Vec<String> = rows
                .iter()
                .map(|r| r.try_get::<String>("", "detail").expect("detail"))
                .collect();
            let text = text.join("\n");
            println!("{f:?}\n{text}\n");
            for table in ["users", "profiles", "identities", "group_members"] {
                assert!(!text.contains(&format!("SCAN {table}")), "{f:?}:\n{text}");
            }
        }
    }

    #[test]
    fn tokens_cover_names_emails_usernames_and_attributes() {
        let def = Uuid::now_v7();
        let got = entries(
            &json!({ "name": "Ada  Lovelace", "given_name": "Ada", "locale": "en" }),
            &json!({ def.to_string(): "R&D", "junk": 1 }),
            &[
                ("email".into(), "ada@Example.org".into()),
                ("username".into(), "ada_l".into()),
                ("phone".into(), "+4420".into()),
            ],
        );
        let want: BTreeSet<(String, String)> = [
            ("q", "ada"),
            ("q", "lovelace"),
            ("q", "ada@example.org"),
            ("q", "example.org"),
            ("q", "ada_l"),
        ]
        .into_iter()
        .map(|(f, v)| (f.to_owned(), v.to_owned()))
        .chain([
            (attribute_field(def), "r&d".to_owned()),
            (DISPLAY.to_owned(), "ada lovelace".to_owned()),
        ])
        .collect();
        assert_eq!(got, want);
    }
}
