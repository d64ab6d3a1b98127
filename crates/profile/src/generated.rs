//! Generated defaults for new profiles: a friendly nickname ("Brave Tiger 42") and a
//! deterministic avatar image, drawn from the user id and an avatar seed. Asking to regenerate the
//! avatar changes the seed, so the image (and its URL) changes.

use sha2::{Digest, Sha256};

const ADJECTIVES: [&str; 32] = [
    "Brave", "Calm", "Clever", "Bright", "Gentle", "Swift", "Bold", "Happy", "Kind", "Lucky",
    "Merry", "Noble", "Quiet", "Quick", "Sunny", "Witty", "Eager", "Fancy", "Jolly", "Lively",
    "Proud", "Wise", "Zesty", "Cosmic", "Daring", "Golden", "Hidden", "Mellow", "Nimble", "Rapid",
    "Silver", "Steady",
];

const ANIMALS: [&str; 32] = [
    "Tiger", "Falcon", "Otter", "Panda", "Fox", "Heron", "Lynx", "Owl", "Badger", "Dolphin",
    "Eagle", "Gecko", "Hare", "Koala", "Lemur", "Moose", "Newt", "Orca", "Puffin", "Quokka",
    "Raven", "Seal", "Toucan", "Walrus", "Yak", "Zebra", "Bison", "Crane", "Dingo", "Ibis",
    "Jaguar", "Marten",
];

/// A random friendly name: adjective, animal and a number from 10 to 99.
pub fn friendly_name() -> String {
    let bytes = rand::random::<[u8; 3]>();
    format!(
        "{} {} {}",
        ADJECTIVES[bytes[0] as usize % ADJECTIVES.len()],
        ANIMALS[bytes[1] as usize % ANIMALS.len()],
        10 + bytes[2] as usize % 90
    )
}

/// A new random avatar seed.
pub fn avatar_seed() -> String {
    let bytes = rand::random::<[u8; 9]>();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `seed` looks like one we made (so the avatar route renders nothing for junk).
pub fn is_avatar_seed(seed: &str) -> bool {
    (8..=64).contains(&seed.len()) && seed.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The avatar as SVG: a symmetric 5×5 pattern in a colour, both derived from the tenant, the user
/// id and the seed (SPEC §11: the same user id in two tenants gets two avatars). Same inputs, same
/// image. The `default` tenant hashes the user id and seed alone, as before tenants existed, so
/// no avatar of an existing database changes.
pub fn avatar_svg(tenant: &str, user_id: &str, seed: &str) -> String {
    let digest = if tenant == "default" {
        Sha256::digest(format!("{user_id}:{seed}").as_bytes())
    } else {
        Sha256::digest(format!("{tenant}\0{user_id}:{seed}").as_bytes())
    };
    let hue = u16::from_be_bytes([digest[0], digest[1]]) % 360;
    let fg = format!("hsl({hue}, 55%, 50%)");
    let bg = format!("hsl({}, 40%, 92%)", (hue + 180) % 360);
    let mut cells = String::new();
    for row in 0..5 {
        for col in 0..3 {
            let bit = digest[2 + row * 3 + col] & 1 == 1;
            if bit {
                for c in [col, 4 - col] {
                    cells.push_str(&format!(
                        "<rect x=\"{}\" y=\"{}\" width=\"40\" height=\"40\"/>",
                        20 + c * 40,
                        20 + row * 40
                    ));
                }
            }
        }
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 240 240\" width=\"240\" height=\"240\" role=\"img\" aria-label=\"Generated avatar\"><rect width=\"240\" height=\"240\" fill=\"{bg}\"/><g fill=\"{fg}\">{cells}</g></svg>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_look_friendly() {
        let name = friendly_name();
        let parts: Vec<&str> = name.split(' ').collect();
        assert_eq!(parts.len(), 3, "{name}");
        assert!(ADJECTIVES.contains(&parts[0]) && ANIMALS.contains(&parts[1]));
        let n: u32 = parts[2].parse().expect("number");
        assert!((10..100).contains(&n));
    }

    #[test]
    fn avatars_are_deterministic_and_change_with_the_seed() {
        let a = avatar_svg("default", "user-1", "seed-a");
        assert_eq!(a, avatar_svg("default", "user-1", "seed-a"));
        assert_ne!(a, avatar_svg("default", "user-1", "seed-b"));
        assert_ne!(a, avatar_svg("default", "user-2", "seed-a"));
        // Seeded by the tenant too: one user id and seed, two tenants, three images.
        let acme = avatar_svg("acme", "user-1", "seed-a");
        assert_ne!(acme, a);
        assert_ne!(acme, avatar_svg("globex", "user-1", "seed-a"));
        assert_eq!(acme, avatar_svg("acme", "user-1", "seed-a"));
        assert!(a.starts_with("<svg") && a.ends_with("</svg>"));
        let seed = avatar_seed();
        assert!(is_avatar_seed(&seed) && seed != avatar_seed());
        assert!(!is_avatar_seed("../../etc") && !is_avatar_seed("x"));
    }
}
