//! The stored profile schema and its version.

use crate::audit::{self, NewEvent};
use crate::entity::{custom_attributes, profile_schema_version, standard_attribute_access};
use crate::{Db, StoreError, to_millis};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use uuid::Uuid;

/// A custom attribute definition as stored (levels and type as their names).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCustomAttribute {
    pub id: Uuid,
    pub name: String,
    pub kind: String,
    pub label: Option<String>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub enum_values: Vec<String>,
    pub end_user: String,
    pub bearer: String,
    pub scope: Option<String>,
}

/// The stored schema: access overrides `(name, end_user, bearer)` of the standard attributes (and
/// of the annotations, under the name `annotations`), and custom definitions in display order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredSchema {
    pub version: i64,
    pub standard: Vec<(String, String, String)>,
    pub custom: Vec<StoredCustomAttribute>,
}

pub async fn schema_version(db: &Db) -> Result<i64, StoreError> {
    Ok(
        profile_schema_version::Entity::find_by_id(db.tenant().to_owned())
            .filter(profile_schema_version::Column::TenantId.eq(db.tenant()))
            .one(&db.read)
            .await?
            .map_or(0, |v| v.version),
    )
}

pub async fn load_schema(db: &Db) -> Result<StoredSchema, StoreError> {
    let version = schema_version(db).await?;
    let standard = standard_attribute_access::Entity::find()
        .filter(standard_attribute_access::Column::TenantId.eq(db.tenant()))
        .all(&db.read)
        .await?
        .into_iter()
        .map(|s| (s.name, s.end_user, s.bearer))
        .collect();
    let custom = custom_attributes::Entity::find()
        .filter(custom_attributes::Column::TenantId.eq(db.tenant()))
        .order_by_asc(custom_attributes::Column::Position)
        .all(&db.read)
        .await?
        .into_iter()
        .map(|c| {
            Ok(StoredCustomAttribute {
                id: c.id,
                name: c.name,
                kind: c.kind,
                label: c.label,
                minimum: c.minimum,
                maximum: c.maximum,
                enum_values: serde_json::from_value(c.enum_values)
                    .map_err(|e| StoreError::Corrupt(format!("enum values: {e}")))?,
                end_user: c.end_user,
                bearer: c.bearer,
                scope: c.scope,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(StoredSchema {
        version,
        standard,
        custom,
    })
}

/// Replaces the schema in one transaction and bumps its version. Definitions are never deleted:
/// the caller passes every one (checked by the profile crate). Renames may swap names, so names
/// are first moved out of the way.
pub async fn save_schema(
    db: &Db,
    schema: &StoredSchema,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<i64, StoreError> {
    let now_ms = to_millis(now);
    let tx = db.write.begin().await?;
    for (name, end_user, bearer) in &schema.standard {
        standard_attribute_access::Entity::insert(standard_attribute_access::ActiveModel {
            tenant_id: Set(db.tenant().to_owned()),
            name: Set(name.clone()),
            end_user: Set(end_user.clone()),
            bearer: Set(bearer.clone()),
            updated_at: Set(now_ms),
        })
        .on_conflict(
            OnConflict::columns([
                standard_attribute_access::Column::TenantId,
                standard_attribute_access::Column::Name,
            ])
            .update_columns([
                standard_attribute_access::Column::EndUser,
                standard_attribute_access::Column::Bearer,
                standard_attribute_access::Column::UpdatedAt,
            ])
            .to_owned(),
        )
        .exec_without_returning(&tx)
        .await?;
    }
    // Move every name aside (names cannot contain '~'), then write the final ones.
    for existing in custom_attributes::Entity::find()
        .filter(custom_attributes::Column::TenantId.eq(db.tenant()))
        .all(&tx)
        .await?
    {
        custom_attributes::Entity::update_many()
            .filter(custom_attributes::Column::TenantId.eq(db.tenant()))
            .col_expr(
                custom_attributes::Column::Name,
                Expr::value(format!("~{}", existing.id.simple())),
            )
            .filter(custom_attributes::Column::Id.eq(existing.id))
            .exec(&tx)
            .await?;
    }
    for (position, c) in schema.custom.iter().enumerate() {
        let model = custom_attributes::ActiveModel {
            tenant_id: Set(db.tenant().to_owned()),
            id: Set(c.id),
            name: Set(c.name.clone()),
            kind: Set(c.kind.clone()),
            label: Set(c.label.clone()),
            minimum: Set(c.minimum),
            maximum: Set(c.maximum),
            enum_values: Set(serde_json::json!(c.enum_values)),
            position: Set(position as i32),
            end_user: Set(c.end_user.clone()),
            bearer: Set(c.bearer.clone()),
            scope: Set(c.scope.clone()),
            created_at: Set(now_ms),
            updated_at: Set(now_ms),
        };
        let written = custom_attributes::Entity::insert(model)
            .on_conflict(
                OnConflict::column(custom_attributes::Column::Id)
                    .update_columns([
                        custom_attributes::Column::Name,
                        custom_attributes::Column::Label,
                        custom_attributes::Column::Minimum,
                        custom_attributes::Column::Maximum,
                        custom_attributes::Column::EnumValues,
                        custom_attributes::Column::Position,
                        custom_attributes::Column::EndUser,
                        custom_attributes::Column::Bearer,
                        custom_attributes::Column::Scope,
                        custom_attributes::Column::UpdatedAt,
                    ])
                    // An id is a definition of this tenant or a new one: never another's.
                    .action_and_where(
                        Expr::col((
                            custom_attributes::Entity,
                            custom_attributes::Column::TenantId,
                        ))
                        .eq(db.tenant()),
                    )
                    .to_owned(),
            )
            .exec_without_returning(&tx)
            .await
            .map_err(|e| StoreError::conflict_or(e, "attribute name"))?;
        // Nothing written: the id is another tenant's. Refused, never skipped (the schema saved
        // would lack an attribute the caller holds).
        if written == 0 {
            return Err(StoreError::Conflict("attribute id"));
        }
    }
    profile_schema_version::Entity::insert(profile_schema_version::ActiveModel {
        tenant_id: Set(db.tenant().to_owned()),
        version: Set(1),
    })
    .on_conflict(
        OnConflict::column(profile_schema_version::Column::TenantId)
            .value(
                profile_schema_version::Column::Version,
                Expr::col((
                    profile_schema_version::Entity,
                    profile_schema_version::Column::Version,
                ))
                .add(1),
            )
            .to_owned(),
    )
    .exec_without_returning(&tx)
    .await?;
    let version = profile_schema_version::Entity::find_by_id(db.tenant().to_owned())
        .filter(profile_schema_version::Column::TenantId.eq(db.tenant()))
        .one(&tx)
        .await?
        .map_or(0, |v| v.version);
    audit::insert(&tx, db.tenant(), event, now).await?;
    tx.commit().await?;
    Ok(version)
}
