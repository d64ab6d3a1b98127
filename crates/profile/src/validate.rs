//! Value formats: each check returns the value in its stored (normalised) form, or a message for
//! the person who typed it.

use serde_json::Value;

pub type Checked = Result<Value, String>;

const MAX_TEXT: usize = 1024;

fn text(v: &Value) -> Result<&str, String> {
    v.as_str().ok_or_else(|| "must be a string".to_owned())
}

/// Free text: trimmed, at most 1024 characters, no control characters.
pub fn plain_text(v: &Value) -> Checked {
    let s = text(v)?.trim();
    if s.chars().count() > MAX_TEXT {
        return Err(format!("must be at most {MAX_TEXT} characters"));
    }
    if s.chars().any(|c| c.is_control()) {
        return Err("must not contain control characters".into());
    }
    Ok(Value::String(s.to_owned()))
}

/// An absolute http(s) URL.
pub fn http_url(v: &Value) -> Checked {
    let s = text(v)?.trim();
    let parsed = url::Url::parse(s).map_err(|_| "must be an absolute http(s) URL".to_owned())?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() || s.len() > 2048 {
        return Err("must be an absolute http(s) URL".into());
    }
    Ok(Value::String(s.to_owned()))
}

/// `male`, `female` or any other short text.
pub fn gender(v: &Value) -> Checked {
    let s = plain_text(v)?;
    match s.as_str() {
        Some("") => Err("must not be empty".into()),
        Some(g) if g.chars().count() > 64 => Err("must be at most 64 characters".into()),
        _ => Ok(s),
    }
}

/// `YYYY-MM-DD`, `YYYY` (year only) or `--MM-DD` (year withheld; 0000 also means withheld).
pub fn birthdate(v: &Value) -> Checked {
    let s = text(v)?.trim();
    let ok = if s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()) {
        true
    } else if let Some(md) = s.strip_prefix("--") {
        chrono::NaiveDate::parse_from_str(&format!("2000-{md}"), "%Y-%m-%d").is_ok()
            && md.len() == 5
    } else {
        s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
    };
    if ok {
        Ok(Value::String(s.to_owned()))
    } else {
        Err("must be a date as YYYY-MM-DD, YYYY or --MM-DD".into())
    }
}

/// A calendar date `YYYY-MM-DD`.
pub fn date(v: &Value) -> Checked {
    let s = text(v)?.trim();
    if s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() {
        Ok(Value::String(s.to_owned()))
    } else {
        Err("must be a date as YYYY-MM-DD".into())
    }
}

/// An IANA time-zone name such as `Europe/Paris`.
pub fn zoneinfo(v: &Value) -> Checked {
    let s = text(v)?.trim();
    match s.parse::<chrono_tz::Tz>() {
        Ok(tz) => Ok(Value::String(tz.name().to_owned())),
        Err(_) => Err("must be an IANA time-zone name such as Europe/Paris".into()),
    }
}

/// A BCP 47 language tag, stored in canonical form (`en-us` → `en-US`).
pub fn locale(v: &Value) -> Checked {
    let s = text(v)?.trim();
    match icu_locale_core::Locale::try_from_str(s) {
        Ok(l) if !s.is_empty() => Ok(Value::String(l.to_string())),
        _ => Err("must be a BCP 47 language tag such as en-GB".into()),
    }
}

/// An email address, lower-cased.
pub fn email(v: &Value) -> Checked {
    use validator::ValidateEmail;
    let s = text(v)?.trim().to_lowercase();
    if s.validate_email() && s.contains('.') {
        Ok(Value::String(s))
    } else {
        Err("must be an email address".into())
    }
}

/// A phone number in E.164 (`+33612345678`); spaces and dashes are dropped.
pub fn phone_number(v: &Value) -> Checked {
    let s = text(v)?.trim();
    if !s.starts_with('+') {
        return Err("must be in international format, starting with + and the country code".into());
    }
    match phonenumber::parse(None, s) {
        Ok(n) if phonenumber::is_valid(&n) => Ok(Value::String(
            n.format().mode(phonenumber::Mode::E164).to_string(),
        )),
        _ => Err("must be a valid phone number in international format (E.164)".into()),
    }
}

/// An ISO 3166-1 alpha-2 country code, upper-cased.
pub fn country_code(v: &Value) -> Checked {
    let s = text(v)?.trim().to_ascii_uppercase();
    match isocountry::CountryCode::for_alpha2(&s) {
        Ok(_) => Ok(Value::String(s)),
        Err(_) => Err("must be an ISO 3166-1 alpha-2 country code such as FR".into()),
    }
}

/// The postal address object: every part optional, each free text.
pub fn address(v: &Value) -> Result<Value, Vec<(String, String)>> {
    let Some(obj) = v.as_object() else {
        return Err(vec![(String::new(), "must be an object".into())]);
    };
    let mut out = serde_json::Map::new();
    let mut errors = Vec::new();
    for (k, value) in obj {
        if !crate::standard::ADDRESS_FIELDS.contains(&k.as_str()) {
            errors.push((format!("/{k}"), "is not a part of an address".into()));
            continue;
        }
        if value.is_null() {
            continue;
        }
        match plain_text(value) {
            Ok(Value::String(s)) if s.is_empty() => {}
            Ok(s) => {
                out.insert(k.clone(), s);
            }
            Err(e) => errors.push((format!("/{k}"), e)),
        }
    }
    if errors.is_empty() {
        Ok(Value::Object(out))
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(f: fn(&Value) -> Checked, input: &str, stored: &str) {
        assert_eq!(f(&json!(input)), Ok(json!(stored)), "{input}");
    }

    fn bad(f: fn(&Value) -> Checked, input: Value) {
        assert!(f(&input).is_err(), "{input} was accepted");
    }

    #[test]
    fn urls() {
        ok(http_url, "https://example.com/me", "https://example.com/me");
        ok(http_url, " http://x.example ", "http://x.example");
        for b in [
            "example.com",
            "ftp://x.example/",
            "javascript:alert(1)",
            "/relative",
            "",
        ] {
            bad(http_url, json!(b));
        }
        bad(http_url, json!(3));
    }

    #[test]
    fn birthdates_and_dates() {
        ok(birthdate, "1990-02-28", "1990-02-28");
        ok(birthdate, "1990", "1990");
        ok(birthdate, "--12-24", "--12-24");
        for b in [
            "1990-02-30",
            "90-01-01",
            "--13-01",
            "1990-1-1",
            "yesterday",
            "--02-30",
        ] {
            bad(birthdate, json!(b));
        }
        ok(date, "2024-02-29", "2024-02-29");
        bad(date, json!("2023-02-29"));
        bad(date, json!("1990"));
    }

    #[test]
    fn zones_locales_countries() {
        ok(zoneinfo, "Europe/Paris", "Europe/Paris");
        bad(zoneinfo, json!("Mars/Olympus"));
        bad(zoneinfo, json!("+02:00"));
        ok(locale, "en-us", "en-US");
        ok(locale, "zh-hant-tw", "zh-Hant-TW");
        ok(locale, "fr", "fr");
        bad(locale, json!("not a locale!"));
        bad(locale, json!(""));
        ok(country_code, "fr", "FR");
        bad(country_code, json!("XX"));
        bad(country_code, json!("FRA"));
    }

    #[test]
    fn emails_and_phones() {
        ok(email, "Ann@Example.com", "ann@example.com");
        for b in ["ann", "ann@", "@example.com", "a b@example.com"] {
            bad(email, json!(b));
        }
        ok(phone_number, "+33 6 12 34 56 78", "+33612345678");
        ok(phone_number, "+1-202-555-0143", "+12025550143");
        bad(phone_number, json!("0612345678"));
        bad(phone_number, json!("+999 123"));
        bad(phone_number, json!(33612345678u64));
    }

    #[test]
    fn text_gender_address() {
        ok(plain_text, "  Ann  ", "Ann");
        bad(plain_text, json!("a\u{0}b"));
        bad(plain_text, json!("x".repeat(1025)));
        ok(gender, "female", "female");
        ok(gender, "non-binary", "non-binary");
        bad(gender, json!(""));
        assert_eq!(
            address(&json!({"locality": " Paris ", "country": "France", "region": null})),
            Ok(json!({"locality": "Paris", "country": "France"}))
        );
        let errs = address(&json!({"planet": "Mars", "locality": 5})).expect_err("bad");
        assert_eq!(errs.len(), 2);
        assert!(address(&json!("Paris")).is_err());
    }
}
