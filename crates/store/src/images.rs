//! Uploaded images: one row per rendition, content-addressed ids, owned by a user.

use crate::entity::images;
use crate::{Db, StoreError, to_millis};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

/// An image to store with the profile change that points at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewImage {
    pub id: String,
    /// What it is for (`avatar`, `cover`, `attribute:<definition id>`): storing one replaces the
    /// owner's earlier images with the same purpose.
    pub purpose: String,
    pub default_size: u32,
    pub renditions: Vec<NewRendition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRendition {
    pub size: u32,
    pub width: u32,
    pub height: u32,
    pub content_type: String,
    pub digest: String,
    pub bytes: Vec<u8>,
}

/// A rendition's facts, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenditionInfo {
    pub size: u32,
    pub is_default: bool,
    pub content_type: String,
    pub digest: String,
}

fn small(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Stores `image` for `owner` and removes the owner's other images of the same purpose (an old
/// avatar goes when a new one arrives). Part of the caller's transaction.
pub(crate) async fn replace(
    tx: &impl ConnectionTrait,
    tenant: &str,
    owner: Uuid,
    image: NewImage,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    images::Entity::delete_many()
        .filter(images::Column::TenantId.eq(tenant))
        .filter(images::Column::Owner.eq(owner))
        .filter(images::Column::Purpose.eq(image.purpose.as_str()))
        .filter(images::Column::Id.ne(image.id.as_str()))
        .exec(tx)
        .await?;
    for r in image.renditions {
        images::Entity::insert(images::ActiveModel {
            tenant_id: Set(tenant.to_owned()),
            id: Set(image.id.clone()),
            size: Set(small(r.size)),
            is_default: Set(r.size == image.default_size),
            owner: Set(owner),
            purpose: Set(image.purpose.clone()),
            content_type: Set(r.content_type),
            width: Set(small(r.width)),
            height: Set(small(r.height)),
            digest: Set(r.digest),
            data: Set(r.bytes),
            created_at: Set(to_millis(now)),
        })
        .on_conflict(
            OnConflict::columns([images::Column::Id, images::Column::Size])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(tx)
        .await?;
    }
    Ok(())
}

/// The renditions of image `id`, smallest first (empty when there is no such image).
pub async fn renditions(db: &Db, id: &str) -> Result<Vec<RenditionInfo>, StoreError> {
    let rows: Vec<(i32, bool, String, String)> = images::Entity::find()
        .filter(images::Column::TenantId.eq(db.tenant()))
        .select_only()
        .column(images::Column::Size)
        .column(images::Column::IsDefault)
        .column(images::Column::ContentType)
        .column(images::Column::Digest)
        .filter(images::Column::Id.eq(id))
        .order_by_asc(images::Column::Size)
        .into_tuple()
        .all(&db.read)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(size, is_default, content_type, digest)| RenditionInfo {
            size: u32::try_from(size).unwrap_or(0),
            is_default,
            content_type,
            digest,
        })
        .collect())
}

/// The bytes of one rendition.
pub async fn rendition_bytes(db: &Db, id: &str, size: u32) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(images::Entity::find()
        .filter(images::Column::TenantId.eq(db.tenant()))
        .select_only()
        .column(images::Column::Data)
        .filter(images::Column::Id.eq(id))
        .filter(images::Column::Size.eq(small(size)))
        .into_tuple::<Vec<u8>>()
        .one(&db.read)
        .await?)
}
