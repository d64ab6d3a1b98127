//! Uploaded images: avatars, covers and image attributes.
//!
//! An upload is decoded (PNG, JPEG, WebP, or a GIF's first frame) under hard limits, so that a small
//! file claiming huge dimensions (a decompression bomb) is refused before any pixel memory is
//! taken. What is kept is never the uploaded file: the pixels are re-encoded into fresh PNG or
//! JPEG renditions, which leaves EXIF, GPS and every other piece of metadata behind.
//!
//! - Avatars are centre-cropped to a square and rendered at 200×200 (the default) and 512×512.
//! - Covers must be at least 960 px wide; they keep their aspect ratio and are rendered 960 px wide
//!   and, when the upload is wider, up to 1920 px wide (the default is the largest).
//! - Image attributes keep their aspect ratio, at most 1024 px on the longer side (the default), with
//!   a 256 px thumbnail.
//!
//! An image's id is the SHA-256 of its owner and its default rendition, so an upload of the same
//! picture by the same user lands on the same id, and one user's image never collides with
//! another's.

use image::imageops::FilterType;
use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use sha2::{Digest, Sha256};
use std::io::Cursor;

/// The most bytes an avatar or image attribute upload may have.
pub const AVATAR_MAX_BYTES: usize = 1024 * 1024;
/// The most bytes a cover upload may have.
pub const COVER_MAX_BYTES: usize = 4 * 1024 * 1024;
/// The narrowest cover accepted.
pub const COVER_MIN_WIDTH: u32 = 960;
/// No side of a decoded image may be longer than this.
const MAX_SIDE: u32 = 12_000;
/// Decoded pixel memory allowed for one image (about 40 megapixels of RGBA).
const MAX_DECODED_BYTES: u64 = 160 * 1024 * 1024;

/// What an upload is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImagePurpose {
    Avatar,
    Cover,
    Attribute,
}

impl ImagePurpose {
    /// The largest upload accepted, in bytes.
    pub fn max_bytes(self) -> usize {
        match self {
            ImagePurpose::Avatar | ImagePurpose::Attribute => AVATAR_MAX_BYTES,
            ImagePurpose::Cover => COVER_MAX_BYTES,
        }
    }
}

/// Why an upload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the file is not a PNG, JPEG, WebP or GIF image")]
    NotAnImage,
    #[error("the image is damaged or incomplete")]
    Damaged,
    #[error(
        "the image's dimensions are too large (at most {MAX_SIDE} px a side and 40 megapixels)"
    )]
    TooManyPixels,
    #[error("the image is {width} px wide; a cover must be at least {min} px wide")]
    TooNarrow { width: u32, min: u32 },
    #[error("the image is empty")]
    Empty,
}

/// One encoded size of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    /// The size it is asked for by (`?size=`): the side of a square, or the width.
    pub size: u32,
    pub width: u32,
    pub height: u32,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
    /// Hex SHA-256 of `bytes` (the strong ETag).
    pub digest: String,
}

/// An upload turned into the renditions Tessera keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessedImage {
    /// Content-addressed id (hex SHA-256 of the owner and the default rendition).
    pub id: String,
    /// The size served when none is asked for.
    pub default_size: u32,
    pub renditions: Vec<Rendition>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `id` has the shape of an image id (so that lookups of junk never reach the database).
pub fn is_image_id(id: &str) -> bool {
    id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Decodes `bytes` within the limits. Formats other than PNG, JPEG, WebP and GIF are refused.
pub fn decode(bytes: &[u8]) -> Result<DynamicImage, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| ImageError::NotAnImage)?;
    match reader.format() {
        Some(ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP | ImageFormat::Gif) => {}
        _ => return Err(ImageError::NotAnImage),
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    let mut reader = reader;
    reader.limits(limits);
    let image = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => ImageError::TooManyPixels,
        image::ImageError::Unsupported(_) => ImageError::NotAnImage,
        _ => ImageError::Damaged,
    })?;
    if image.width() == 0 || image.height() == 0 {
        return Err(ImageError::Damaged);
    }
    Ok(image)
}

fn encode(image: &DynamicImage, size: u32) -> Result<Rendition, ImageError> {
    let mut out = Vec::new();
    let content_type = if image.color().has_alpha() {
        image
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .map_err(|_| ImageError::Damaged)?;
        "image/png"
    } else {
        let rgb = DynamicImage::ImageRgb8(image.to_rgb8());
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
        rgb.write_with_encoder(encoder)
            .map_err(|_| ImageError::Damaged)?;
        "image/jpeg"
    };
    let digest = hex(&Sha256::digest(&out));
    Ok(Rendition {
        size,
        width: image.width(),
        height: image.height(),
        content_type,
        bytes: out,
        digest,
    })
}

/// The image scaled so its width is `width`, keeping the aspect ratio.
fn to_width(image: &DynamicImage, width: u32) -> DynamicImage {
    if image.width() == width {
        return image.clone();
    }
    let height = ((u64::from(image.height()) * u64::from(width)) / u64::from(image.width())).max(1);
    image.resize_exact(
        width,
        u32::try_from(height).unwrap_or(u32::MAX),
        FilterType::CatmullRom,
    )
}

/// The image fitted into a `side`×`side` box (never enlarged).
fn fit(image: &DynamicImage, side: u32) -> DynamicImage {
    if image.width() <= side && image.height() <= side {
        image.clone()
    } else {
        image.resize(side, side, FilterType::CatmullRom)
    }
}

/// Decodes and renders an upload for `purpose`, owned by `owner` (a user id).
pub fn process(
    purpose: ImagePurpose,
    owner: &str,
    bytes: &[u8],
) -> Result<ProcessedImage, ImageError> {
    if bytes.len() > purpose.max_bytes() {
        return Err(ImageError::TooLarge {
            limit: purpose.max_bytes(),
        });
    }
    let image = decode(bytes)?;
    let (renditions, default_size) = match purpose {
        ImagePurpose::Avatar => {
            let side = image.width().min(image.height());
            let square = image.crop_imm(
                (image.width() - side) / 2,
                (image.height() - side) / 2,
                side,
                side,
            );
            let mut out = Vec::new();
            for size in [200, 512] {
                let scaled = square.resize_exact(size, size, FilterType::CatmullRom);
                out.push(encode(&scaled, size)?);
            }
            (out, 200)
        }
        ImagePurpose::Cover => {
            if image.width() < COVER_MIN_WIDTH {
                return Err(ImageError::TooNarrow {
                    width: image.width(),
                    min: COVER_MIN_WIDTH,
                });
            }
            let mut out = vec![encode(&to_width(&image, COVER_MIN_WIDTH), COVER_MIN_WIDTH)?];
            let large = image.width().min(1920);
            if large > COVER_MIN_WIDTH {
                out.push(encode(&to_width(&image, large), large)?);
            }
            (out, large)
        }
        ImagePurpose::Attribute => {
            let thumb = encode(&fit(&image, 256), 256)?;
            let full = encode(&fit(&image, 1024), 1024)?;
            (vec![thumb, full], 1024)
        }
    };
    let mut h = Sha256::new();
    h.update(owner.as_bytes());
    h.update([0]);
    if let Some(default) = renditions.iter().find(|r| r.size == default_size) {
        h.update(default.digest.as_bytes());
    }
    Ok(ProcessedImage {
        id: hex(&h.finalize()),
        default_size,
        renditions,
    })
}

/// [`process`] on a blocking thread, never on the async runtime, with at most as many at once
/// as `permits` allows (each may take tens of MB while it runs).
pub async fn process_off_runtime(
    permits: &tokio::sync::Semaphore,
    purpose: ImagePurpose,
    owner: String,
    bytes: Vec<u8>,
) -> Result<ProcessedImage, ImageError> {
    // The semaphore is never closed; were it, decoding would go on without a permit.
    let _permit = permits.acquire().await.ok();
    match tokio::task::spawn_blocking(move || process(purpose, &owner, &bytes)).await {
        Ok(result) => result,
        // A panic inside a decoder is a damaged image, not a crashed server.
        Err(_) => Err(ImageError::Damaged),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage, Rgba, RgbaImage};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "current_thread")]
    async fn decoding_leaves_the_async_runtime_free() {
        // On a single-threaded runtime another task can only run while the upload waits; if the
        // decoding ran inline it would never get a turn before the result is back.
        let big = DynamicImage::ImageRgb8(RgbImage::from_fn(3000, 3000, |x, y| {
            Rgb([(x / 12) as u8, (y / 12) as u8, 90])
        }));
        let mut bytes = Vec::new();
        big.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
            .unwrap();
        let ticks = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ticker = tokio::spawn({
            let (ticks, done) = (ticks.clone(), done.clone());
            async move {
                while !done.load(Ordering::SeqCst) {
                    ticks.fetch_add(1, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                }
            }
        });
        let permits = tokio::sync::Semaphore::new(1);
        let before = ticks.load(Ordering::SeqCst);
        let processed =
            process_off_runtime(&permits, ImagePurpose::Avatar, "u".into(), bytes).await;
        let during = ticks.load(Ordering::SeqCst) - before;
        done.store(true, Ordering::SeqCst);
        ticker.await.unwrap();
        assert_eq!(processed.unwrap().renditions.len(), 2);
        assert!(during > 0, "the runtime was blocked while decoding");
    }

    fn png(width: u32, height: u32) -> Vec<u8> {
        // Left half red, right half blue, so a centre crop can be checked.
        let img = RgbImage::from_fn(width, height, |x, _| {
            if x < width / 2 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        });
        let mut out = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn avatar_is_cropped_to_a_centred_square_in_two_sizes() {
        // 300×100: the centre square is x 100..200, half red and half blue.
        let processed = process(ImagePurpose::Avatar, "u1", &png(300, 100)).unwrap();
        assert_eq!(processed.default_size, 200);
        let sizes: Vec<_> = processed
            .renditions
            .iter()
            .map(|r| (r.size, r.width, r.height))
            .collect();
        assert_eq!(sizes, vec![(200, 200, 200), (512, 512, 512)]);
        let small = image::load_from_memory(&processed.renditions[0].bytes)
            .unwrap()
            .to_rgb8();
        let left = small.get_pixel(20, 100);
        let right = small.get_pixel(180, 100);
        assert!(left[0] > 200 && left[2] < 60, "left {left:?}");
        assert!(right[2] > 200 && right[0] < 60, "right {right:?}");
        assert_eq!(processed.renditions[0].content_type, "image/jpeg");
        assert!(is_image_id(&processed.id));
    }

    #[test]
    fn transparency_is_kept_as_png() {
        let img = RgbaImage::from_pixel(64, 64, Rgba([0, 128, 0, 100]));
        let mut bytes = Vec::new();
        DynamicImage::ImageRgba8(img)
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
            .unwrap();
        let processed = process(ImagePurpose::Avatar, "u1", &bytes).unwrap();
        assert_eq!(processed.renditions[0].content_type, "image/png");
    }

    #[test]
    fn ids_are_content_addressed_per_owner() {
        let a = process(ImagePurpose::Avatar, "u1", &png(50, 50)).unwrap();
        let b = process(ImagePurpose::Avatar, "u1", &png(50, 50)).unwrap();
        let c = process(ImagePurpose::Avatar, "u2", &png(50, 50)).unwrap();
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, c.id);
    }

    #[test]
    fn covers_keep_their_aspect_and_need_960_pixels() {
        assert_eq!(
            process(ImagePurpose::Cover, "u1", &png(959, 300)),
            Err(ImageError::TooNarrow {
                width: 959,
                min: 960
            })
        );
        let cover = process(ImagePurpose::Cover, "u1", &png(2400, 600)).unwrap();
        let sizes: Vec<_> = cover
            .renditions
            .iter()
            .map(|r| (r.size, r.width, r.height))
            .collect();
        assert_eq!(sizes, vec![(960, 960, 240), (1920, 1920, 480)]);
        assert_eq!(cover.default_size, 1920);
        let exact = process(ImagePurpose::Cover, "u1", &png(960, 200)).unwrap();
        assert_eq!(exact.renditions.len(), 1);
        assert_eq!(exact.default_size, 960);
    }

    #[test]
    fn attribute_images_fit_without_enlarging() {
        let small = process(ImagePurpose::Attribute, "u1", &png(100, 40)).unwrap();
        assert_eq!(
            small
                .renditions
                .iter()
                .map(|r| (r.width, r.height))
                .collect::<Vec<_>>(),
            vec![(100, 40), (100, 40)]
        );
        let big = process(ImagePurpose::Attribute, "u1", &png(2048, 1024)).unwrap();
        assert_eq!(
            big.renditions
                .iter()
                .map(|r| (r.width, r.height))
                .collect::<Vec<_>>(),
            vec![(256, 128), (1024, 512)]
        );
    }

    #[test]
    fn junk_truncation_and_bombs_are_refused() {
        assert_eq!(
            process(ImagePurpose::Avatar, "u", b"<html>hi</html>"),
            Err(ImageError::NotAnImage)
        );
        assert_eq!(
            process(ImagePurpose::Avatar, "u", b""),
            Err(ImageError::Empty)
        );
        let full = png(400, 400);
        assert_eq!(
            process(ImagePurpose::Avatar, "u", &full[..full.len() / 2]),
            Err(ImageError::Damaged)
        );
        // A PNG header announcing 50000×50000 pixels in a few bytes.
        let mut bomb = png(1, 1);
        bomb[16..20].copy_from_slice(&50_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&50_000u32.to_be_bytes());
        // Fix the IHDR checksum so only the size is wrong.
        let crc = crc(&bomb[12..29]);
        bomb[29..33].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(
            process(ImagePurpose::Avatar, "u", &bomb),
            Err(ImageError::TooManyPixels)
        );
        let too_big = vec![0u8; AVATAR_MAX_BYTES + 1];
        assert_eq!(
            process(ImagePurpose::Avatar, "u", &too_big),
            Err(ImageError::TooLarge {
                limit: AVATAR_MAX_BYTES
            })
        );
    }

    fn crc(data: &[u8]) -> u32 {
        let mut c = 0xffff_ffffu32;
        for &b in data {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
}
