//! Image uploads into a profile: the avatar (`picture`), the cover, and custom attributes of type
//! `image`.
//!
//! The party's right to write the target is checked before anything is decoded, decoding runs on
//! a blocking thread (never on the async runtime) with a bounded number at once, and the image is
//! stored in the same transaction as the profile value that points at it: a refused or failed
//! upload leaves the old picture in place.

use crate::access::Party;
use crate::document::{self, Audience, Change};
use crate::images::{self, ImageError, ImagePurpose};
use crate::schema::AttributeType;
use crate::service::{Author, ChangeError, Extra, ProfileService};
use serde_json::{Value, json};
use store::images::{NewImage, NewRendition};
use store::{Clock, Db, Uuid};

/// Where an upload goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageTarget<'a> {
    /// The avatar: sets `picture`.
    Avatar,
    /// The profile's cover image.
    Cover,
    /// A custom attribute of type `image`, by name.
    Attribute(&'a str),
}

impl ImageTarget<'_> {
    fn purpose(self) -> ImagePurpose {
        match self {
            ImageTarget::Avatar => ImagePurpose::Avatar,
            ImageTarget::Cover => ImagePurpose::Cover,
            ImageTarget::Attribute(_) => ImagePurpose::Attribute,
        }
    }
}

/// Why an upload was refused.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("there is no image attribute named {0}")]
    NoSuchAttribute(String),
    #[error(transparent)]
    Change(#[from] ChangeError),
}

pub use store::images::RenditionInfo;

/// Where a user's avatar or cover can be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicImages {
    /// `picture` as UserInfo bearers may see it (the generated avatar by default).
    pub avatar: Option<String>,
    pub cover: Option<String>,
}

impl ProfileService {
    /// The stored renditions of image `id`, smallest first (none for an unknown id).
    pub async fn image_renditions(
        &self,
        db: &Db,
        id: &str,
    ) -> Result<Vec<RenditionInfo>, crate::service::ServiceError> {
        Ok(store::images::renditions(db, id).await?)
    }

    /// The bytes of one rendition of image `id`.
    pub async fn image_bytes(
        &self,
        db: &Db,
        id: &str,
        size: u32,
    ) -> Result<Option<Vec<u8>>, crate::service::ServiceError> {
        Ok(store::images::rendition_bytes(db, id, size).await?)
    }

    /// The URL of image `id` (its default rendition).
    pub fn image_url(&self, id: &str) -> String {
        format!("{}/images/{id}", self.issuer)
    }

    /// Decodes, checks and stores an upload for `user_id` by `party`, and points the target at
    /// it. Returns the new image's URL.
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_image(
        &self,
        db: &Db,
        clock: &dyn Clock,
        user_id: Uuid,
        writer: Audience<'_>,
        target: ImageTarget<'_>,
        bytes: Vec<u8>,
        by: Author,
    ) -> Result<String, UploadError> {
        let purpose = target.purpose();
        if bytes.len() > purpose.max_bytes() {
            return Err(ImageError::TooLarge {
                limit: purpose.max_bytes(),
            }
            .into());
        }
        let schema = self.schema(db).await.map_err(ChangeError::from)?;
        let current = self
            .load(db, user_id)
            .await
            .map_err(ChangeError::from)?
            .ok_or(ChangeError::NoSuchUser)?;
        let purpose_key = match target {
            ImageTarget::Avatar => "avatar".to_owned(),
            ImageTarget::Cover => "cover".to_owned(),
            ImageTarget::Attribute(name) => {
                let def = schema
                    .find_custom(name)
                    .filter(|d| d.kind == AttributeType::Image)
                    .ok_or_else(|| UploadError::NoSuchAttribute(name.to_owned()))?;
                format!("attribute:{}", def.id)
            }
        };
        // Refuse a forbidden target before spending time on decoding: the same check as the
        // write itself, with a placeholder value.
        let probe = |url: &str| match target {
            ImageTarget::Avatar => Some(json!({ "picture": url })),
            ImageTarget::Attribute(name) => Some(json!({ "custom_attributes": { name: url } })),
            ImageTarget::Cover => None,
        };
        // The cover is no attribute of the schema: every end user may set theirs, and a
        // third-party client only with the `profile` scope.
        if target == ImageTarget::Cover
            && !writer.can_write(crate::access::Access::EDITABLE, Some("profile"))
        {
            return Err(ChangeError::from(document::ProfileError::Forbidden {
                attribute: "cover".into(),
            })
            .into());
        }
        if let Some(doc) = probe(&self.image_url(&"0".repeat(64))) {
            document::apply(
                &schema,
                &current.values,
                &current.login_ids,
                writer,
                Change::Patch(&doc),
            )
            .map_err(ChangeError::from)?;
        }
        let processed = self.decode_off_runtime(purpose, user_id, bytes).await?;
        let url = self.image_url(&processed.id);
        let image = NewImage {
            id: processed.id,
            purpose: purpose_key,
            default_size: processed.default_size,
            renditions: processed
                .renditions
                .into_iter()
                .map(|r| NewRendition {
                    size: r.size,
                    width: r.width,
                    height: r.height,
                    content_type: r.content_type.to_owned(),
                    digest: r.digest,
                    bytes: r.bytes,
                })
                .collect(),
        };
        let (applied, cover) = match probe(&url) {
            Some(doc) => (
                document::apply(
                    &schema,
                    &current.values,
                    &current.login_ids,
                    writer,
                    Change::Patch(&doc),
                )
                .map_err(ChangeError::from)?,
                None,
            ),
            None => (
                document::Applied {
                    values: current.values.clone(),
                    changed: Vec::new(),
                    regenerate_avatar: false,
                },
                Some(Some(url.clone())),
            ),
        };
        let extra = Extra {
            cover,
            image: Some(image),
        };
        self.commit(db, clock, &schema, &current, applied, extra, by)
            .await?;
        Ok(url)
    }

    async fn decode_off_runtime(
        &self,
        purpose: ImagePurpose,
        owner: Uuid,
        bytes: Vec<u8>,
    ) -> Result<images::ProcessedImage, UploadError> {
        Ok(images::process_off_runtime(&self.decoding, purpose, owner.to_string(), bytes).await?)
    }

    /// The avatar and cover anyone may see for `user_id` (`None` when there is no such user). The
    /// avatar honours the bearer's access to `picture`: a picture hidden from UserInfo is not
    /// published here either.
    pub async fn public_images(
        &self,
        db: &Db,
        user_id: Uuid,
    ) -> Result<Option<PublicImages>, crate::service::ServiceError> {
        let schema = self.schema(db).await?;
        let Some(p) = self.load(db, user_id).await? else {
            return Ok(None);
        };
        let shown = self.render(&schema, &p, Audience::Party(Party::Bearer));
        Ok(Some(PublicImages {
            avatar: shown
                .get("picture")
                .and_then(Value::as_str)
                .filter(|url| self.may_redirect_to(url))
                .map(str::to_owned),
            cover: p.cover.filter(|url| self.may_redirect_to(url)),
        }))
    }

    /// Whether a public image URL may answer with a redirect to `url`: an image Tessera serves
    /// itself (`/images/…`, `/avatars/…` under the issuer) or one on `images.redirect_hosts`.
    /// Anything else (a `picture` set by hand to any site) would make Tessera an open redirector.
    pub fn may_redirect_to(&self, url: &str) -> bool {
        let Ok(target) = url::Url::parse(url) else {
            return false;
        };
        if !matches!(target.scheme(), "http" | "https")
            || !target.username().is_empty()
            || target.password().is_some()
        {
            return false;
        }
        if let Ok(issuer) = url::Url::parse(&self.issuer)
            && target.scheme() == issuer.scheme()
            && target.host() == issuer.host()
            && target.port_or_known_default() == issuer.port_or_known_default()
        {
            let base = issuer.path().trim_end_matches('/');
            let path = target.path();
            let own = ["/images/", "/avatars/"].iter().any(|p| {
                path.strip_prefix(base)
                    .is_some_and(|rest| rest.starts_with(p) && !rest.contains("/../"))
            });
            if own {
                return true;
            }
        }
        target.host_str().is_some_and(|h| {
            self.redirect_hosts
                .iter()
                .any(|r| r.eq_ignore_ascii_case(h))
        })
    }
}
