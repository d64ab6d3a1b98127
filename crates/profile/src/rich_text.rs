//! Rich text (SPEC §10, after App.net): a text, the entities found in it (mentions `@name`,
//! hashtags `#tag`, links) and the HTML Tessera builds from both.
//!
//! Positions and lengths count Unicode code points, as App.net's did, so a client in any language
//! slices the same characters. The HTML is made here from the escaped text and the entities only:
//! nothing the writer sends becomes markup. Links are http(s) only (a `javascript:` link is
//! refused, never rendered), and the text of an explicit link must be the text at its position.
//!
//! Mentions carry the user id when the name is a username of the tenant; resolving names is the
//! caller's (it needs the store): [`process`] takes a resolver.

use serde::{Deserialize, Serialize};

/// `@name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mention {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
    pub pos: usize,
    pub len: usize,
}

/// `#tag`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hashtag {
    pub name: String,
    pub pos: usize,
    pub len: usize,
}

/// A link: found in the text (its text is the URL) or given by the writer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub text: String,
    pub url: String,
    pub pos: usize,
    pub len: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entities {
    pub mentions: Vec<Mention>,
    pub hashtags: Vec<Hashtag>,
    pub links: Vec<Link>,
}

/// A processed text: what every JSON surface shows for a `text` attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RichText {
    pub text: String,
    pub html: String,
    pub entities: Entities,
}

/// Why a text (or one of its explicit links) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RichTextError {
    #[error("link {0}: only http and https links are allowed")]
    LinkScheme(usize),
    #[error("link {0}: its position is outside the text")]
    LinkOutside(usize),
    #[error("link {0}: its text is not the text at its position")]
    LinkText(usize),
    #[error("link {0}: it overlaps another link")]
    LinkOverlap(usize),
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether an entity may start at `i`: at the start, or after a character that is not part of a
/// word (so `a@b` and `x#1` are not entities).
fn at_boundary(chars: &[char], i: usize) -> bool {
    i == 0 || !(is_word(chars[i - 1]) || matches!(chars[i - 1], '@' | '#' | '/' | '.'))
}

fn slice(chars: &[char], pos: usize, len: usize) -> String {
    chars[pos..pos + len].iter().collect()
}

/// An http(s) URL with a host, or `None`.
fn checked_url(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.host().is_some()).then(|| url.to_string())
}

/// Bare http(s) URLs in the text; trailing punctuation (and an unbalanced closing bracket) is
/// not part of a link.
fn find_urls(chars: &[char]) -> Vec<Link> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let rest: String = chars[i..chars.len().min(i + 8)].iter().collect();
        let lower = rest.to_lowercase();
        if (lower.starts_with("http://") || lower.starts_with("https://"))
            && (i == 0 || !is_word(chars[i - 1]))
        {
            let mut end = i;
            while end < chars.len()
                && !chars[end].is_whitespace()
                && !matches!(chars[end], '<' | '>' | '"' | '\u{60}')
            {
                end += 1;
            }
            // Trim what ends sentences and brackets opened before the link.
            while let Some(&last) = chars[i..end].last() {
                let unbalanced = |open: char, close: char| {
                    last == close
                        && chars[i..end].iter().filter(|c| **c == open).count()
                            < chars[i..end].iter().filter(|c| **c == close).count()
                };
                if matches!(last, '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '*')
                    || unbalanced('(', ')')
                    || unbalanced('[', ']')
                {
                    end -= 1;
                } else {
                    break;
                }
            }
            let text = slice(chars, i, end - i);
            if let Some(url) = checked_url(&text) {
                out.push(Link {
                    text,
                    url,
                    pos: i,
                    len: end - i,
                });
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.0 + b.1 && b.0 < a.0 + a.1
}

/// `@name` or `#tag` starting with `sigil`, outside `taken` spans: (name, pos, len).
fn find_tagged(
    chars: &[char],
    sigil: char,
    taken: &[(usize, usize)],
) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == sigil && at_boundary(chars, i) {
            let mut end = i + 1;
            while end < chars.len()
                && (is_word(chars[end])
                    || (sigil == '@'
                        && matches!(chars[end], '.' | '-')
                        && chars.get(end + 1).copied().is_some_and(is_word)))
            {
                end += 1;
            }
            let len = end - i;
            let all_digits = chars[i + 1..end].iter().all(|c| c.is_ascii_digit());
            if len > 1
                && len <= 65
                && !(sigil == '#' && all_digits)
                && !taken.iter().any(|t| overlaps(*t, (i, len)))
            {
                out.push((slice(chars, i + 1, len - 1), i, len));
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// Finds the entities of `text`, with the writer's explicit `links` (checked: http(s) only, the
/// text at their position, no two overlapping). Found URLs that overlap an explicit link give way
/// to it. `resolve` maps a mentioned name to a user id of the tenant.
pub fn process(
    text: &str,
    explicit: &[Link],
    resolve: impl Fn(&str) -> Option<String>,
) -> Result<RichText, RichTextError> {
    let chars: Vec<char> = text.chars().collect();
    let mut links: Vec<Link> = Vec::new();
    for (n, l) in explicit.iter().enumerate() {
        let url = checked_url(&l.url).ok_or(RichTextError::LinkScheme(n))?;
        if l.len == 0 || l.pos.checked_add(l.len).is_none_or(|end| end > chars.len()) {
            return Err(RichTextError::LinkOutside(n));
        }
        if slice(&chars, l.pos, l.len) != l.text {
            return Err(RichTextError::LinkText(n));
        }
        if links
            .iter()
            .any(|o| overlaps((o.pos, o.len), (l.pos, l.len)))
        {
            return Err(RichTextError::LinkOverlap(n));
        }
        links.push(Link {
            text: l.text.clone(),
            url,
            pos: l.pos,
            len: l.len,
        });
    }
    for found in find_urls(&chars) {
        if !links
            .iter()
            .any(|l| overlaps((l.pos, l.len), (found.pos, found.len)))
        {
            links.push(found);
        }
    }
    links.sort_by_key(|l| l.pos);
    let taken: Vec<(usize, usize)> = links.iter().map(|l| (l.pos, l.len)).collect();
    let mentions: Vec<Mention> = find_tagged(&chars, '@', &taken)
        .into_iter()
        .map(|(name, pos, len)| Mention {
            id: resolve(&name),
            name,
            pos,
            len,
        })
        .collect();
    let mut taken_all = taken.clone();
    taken_all.extend(mentions.iter().map(|m| (m.pos, m.len)));
    let hashtags: Vec<Hashtag> = find_tagged(&chars, '#', &taken_all)
        .into_iter()
        .map(|(name, pos, len)| Hashtag { name, pos, len })
        .collect();
    let entities = Entities {
        mentions,
        hashtags,
        links,
    };
    Ok(RichText {
        html: html(&chars, &entities),
        text: text.to_owned(),
        entities,
    })
}

/// The longest text the text processor takes, in code points.
pub const MAX_PROCESSED: usize = 8192;
/// The most explicit links one text may carry.
pub const MAX_LINKS: usize = 100;

/// Why a text-processor request was refused: the JSON pointer of the field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub pointer: String,
    pub message: String,
}

/// Reads `{"text", "entities"?: {"links"?: [...]}}` (or a plain string): the text and its
/// explicit links. Everything else in `entities` is computed, so it is ignored.
pub fn read_input(
    value: &serde_json::Value,
    max_len: usize,
) -> Result<(String, Vec<Link>), Refusal> {
    let refuse = |pointer: &str, message: &str| Refusal {
        pointer: pointer.to_owned(),
        message: message.to_owned(),
    };
    let (text, links) = match value {
        serde_json::Value::String(s) => (s.clone(), Vec::new()),
        serde_json::Value::Object(o) => {
            let text = match o.get("text") {
                Some(serde_json::Value::String(s)) => s.clone(),
                _ => return Err(refuse("/text", "text is required (a string)")),
            };
            let links = match o.get("entities").and_then(|e| e.get("links")) {
                None | Some(serde_json::Value::Null) => Vec::new(),
                Some(serde_json::Value::Array(a)) if a.len() <= MAX_LINKS => {
                    let mut out = Vec::with_capacity(a.len());
                    for (n, l) in a.iter().enumerate() {
                        let link: Link = serde_json::from_value(l.clone()).map_err(|_| {
                            refuse(
                                &format!("/entities/links/{n}"),
                                "a link is {\"text\", \"url\", \"pos\", \"len\"}",
                            )
                        })?;
                        out.push(link);
                    }
                    out
                }
                Some(_) => {
                    return Err(refuse(
                        "/entities/links",
                        "links must be an array of at most 100 links",
                    ));
                }
            };
            (text, links)
        }
        _ => return Err(refuse("", "send a string or {\"text\": …}")),
    };
    if text.chars().count() > max_len {
        return Err(Refusal {
            pointer: "/text".into(),
            message: format!("the text is longer than {max_len} characters"),
        });
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(refuse("/text", "the text contains control characters"));
    }
    Ok((text, links))
}

impl RichTextError {
    /// The JSON pointer of the refused link.
    pub fn pointer(&self) -> String {
        let n = match self {
            RichTextError::LinkScheme(n)
            | RichTextError::LinkOutside(n)
            | RichTextError::LinkText(n)
            | RichTextError::LinkOverlap(n) => n,
        };
        format!("/entities/links/{n}")
    }
}

/// The most distinct names of one text that are looked up; mentions past them keep no id.
pub const MAX_RESOLVED_NAMES: usize = 256;

/// The names a text mentions, lower-cased (as usernames are stored), each once, at most
/// [`MAX_RESOLVED_NAMES`].
pub fn mention_names(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let taken: Vec<(usize, usize)> = find_urls(&chars).iter().map(|l| (l.pos, l.len)).collect();
    let mut names: Vec<String> = Vec::new();
    for (name, _, _) in find_tagged(&chars, '@', &taken) {
        let name = name.to_lowercase();
        if !names.contains(&name) {
            names.push(name);
            if names.len() == MAX_RESOLVED_NAMES {
                break;
            }
        }
    }
    names
}

/// The user ids of the tenant's users with these usernames, in one query.
pub async fn resolve_names(
    db: &store::Db,
    names: &[String],
) -> Result<crate::document::Mentions, store::StoreError> {
    let found = store::accounts::users_by_username(db, names).await?;
    Ok(crate::document::Mentions::new(
        found.into_iter().map(|(name, id)| (name, id.to_string())),
    ))
}

/// Processes a text with the mentions resolved to the tenant's users (by username).
pub async fn process_in(
    db: &store::Db,
    text: &str,
    links: &[Link],
) -> Result<RichText, ProcessError> {
    // Refuse bad links before touching the store.
    process(text, links, |_| None).map_err(ProcessError::Refused)?;
    let mentions = resolve_names(db, &mention_names(text))
        .await
        .map_err(ProcessError::Store)?;
    process(text, links, |name| mentions.resolve(name)).map_err(ProcessError::Refused)
}

/// Why [`process_in`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Refused(RichTextError),
    #[error(transparent)]
    Store(store::StoreError),
}

fn escape_into(out: &mut String, s: impl IntoIterator<Item = char>) {
    for c in s {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("<br>"),
            '\r' => {}
            c => out.push(c),
        }
    }
}

/// The HTML of a text: escaped, its entities wrapped, line breaks as `<br>`.
fn html(chars: &[char], e: &Entities) -> String {
    enum Span<'a> {
        Mention(&'a Mention),
        Hashtag(&'a Hashtag),
        Link(&'a Link),
    }
    let mut spans: Vec<(usize, usize, Span<'_>)> = Vec::new();
    spans.extend(e.mentions.iter().map(|m| (m.pos, m.len, Span::Mention(m))));
    spans.extend(e.hashtags.iter().map(|h| (h.pos, h.len, Span::Hashtag(h))));
    spans.extend(e.links.iter().map(|l| (l.pos, l.len, Span::Link(l))));
    spans.sort_by_key(|s| s.0);
    let mut out = String::with_capacity(chars.len() + 32 * spans.len());
    let mut at = 0;
    for (pos, len, span) in spans {
        if pos < at {
            continue;
        }
        escape_into(&mut out, chars[at..pos].iter().copied());
        let inner = chars[pos..pos + len].iter().copied();
        match span {
            Span::Mention(m) => {
                out.push_str("<span itemprop=\"mention\" data-mention-name=\"");
                escape_into(&mut out, m.name.chars());
                if let Some(id) = &m.id {
                    out.push_str("\" data-mention-id=\"");
                    escape_into(&mut out, id.chars());
                }
                out.push_str("\">");
                escape_into(&mut out, inner);
                out.push_str("</span>");
            }
            Span::Hashtag(h) => {
                out.push_str("<span itemprop=\"hashtag\" data-hashtag-name=\"");
                escape_into(&mut out, h.name.chars());
                out.push_str("\">");
                escape_into(&mut out, inner);
                out.push_str("</span>");
            }
            Span::Link(l) => {
                out.push_str("<a href=\"");
                escape_into(&mut out, l.url.chars());
                out.push_str("\" rel=\"nofollow\">");
                escape_into(&mut out, inner);
                out.push_str("</a>");
            }
        }
        at = pos + len;
    }
    escape_into(&mut out, chars[at..].iter().copied());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> RichText {
        process(text, &[], |name| {
            (name == "alice").then(|| "u-1".to_owned())
        })
        .expect("processed")
    }

    #[test]
    fn the_issue_example() {
        let r = run("Builder of @alice's #rust tools, see https://example.com");
        assert_eq!(
            r.entities.mentions,
            [Mention {
                name: "alice".into(),
                id: Some("u-1".into()),
                pos: 11,
                len: 6
            }]
        );
        assert_eq!(
            r.entities.hashtags,
            [Hashtag {
                name: "rust".into(),
                pos: 20,
                len: 5
            }]
        );
        assert_eq!(
            r.entities.links,
            [Link {
                text: "https://example.com".into(),
                url: "https://example.com/".into(),
                pos: 37,
                len: 19
            }]
        );
        assert_eq!(
            r.html,
            "Builder of <span itemprop=\"mention\" data-mention-name=\"alice\" data-mention-id=\"u-1\">@alice</span>&#39;s <span itemprop=\"hashtag\" data-hashtag-name=\"rust\">#rust</span> tools, see <a href=\"https://example.com/\" rel=\"nofollow\">https://example.com</a>"
        );
    }

    #[test]
    fn a_table_of_cases() {
        // (text, mentions, hashtags, links as (pos, len, url))
        type Case<'a> = (
            &'a str,
            &'a [(&'a str, usize, usize)],
            &'a [(&'a str, usize, usize)],
            &'a [(usize, usize, &'a str)],
        );
        let cases: &[Case<'_>] = &[
            ("plain text", &[], &[], &[]),
            ("mail a@b.com and x#1", &[], &[], &[]),
            ("#1 is not a tag, #a1 is", &[], &[("a1", 17, 3)], &[]),
            (
                "(see https://a.example/x_(y)).",
                &[],
                &[],
                &[(5, 23, "https://a.example/x_(y)")],
            ),
            (
                "end: https://a.example/p?q=1.",
                &[],
                &[],
                &[(5, 23, "https://a.example/p?q=1")],
            ),
            (
                "https://a.example/#frag @bob",
                &[("bob", 24, 4)],
                &[],
                &[(0, 23, "https://a.example/#frag")],
            ),
            ("no http://", &[], &[], &[]),
            ("ftp://a.example javascript:alert(1)", &[], &[], &[]),
            ("@a.b-c. ok", &[("a.b-c", 0, 6)], &[], &[]),
            (
                "emoji 🦀 then @bob #tag",
                &[("bob", 13, 4)],
                &[("tag", 18, 4)],
                &[],
            ),
            ("é́ combining #café", &[], &[("café", 13, 5)], &[]),
            (
                "עברית #שלום @דוד",
                &[("דוד", 12, 4)],
                &[("שלום", 6, 5)],
                &[],
            ),
            (
                "中文 #标签 and @用户",
                &[("用户", 11, 3)],
                &[("标签", 3, 3)],
                &[],
            ),
            ("@@double ##double", &[], &[], &[]),
        ];
        for (text, mentions, hashtags, links) in cases {
            let r = run(text);
            let got_m: Vec<(String, usize, usize)> = r
                .entities
                .mentions
                .iter()
                .map(|m| (m.name.clone(), m.pos, m.len))
                .collect();
            let want_m: Vec<(String, usize, usize)> = mentions
                .iter()
                .map(|(n, p, l)| (n.to_string(), *p, *l))
                .collect();
            assert_eq!(got_m, want_m, "mentions of {text:?}");
            let got_h: Vec<(String, usize, usize)> = r
                .entities
                .hashtags
                .iter()
                .map(|h| (h.name.clone(), h.pos, h.len))
                .collect();
            let want_h: Vec<(String, usize, usize)> = hashtags
                .iter()
                .map(|(n, p, l)| (n.to_string(), *p, *l))
                .collect();
            assert_eq!(got_h, want_h, "hashtags of {text:?}");
            let got_l: Vec<(usize, usize, String)> = r
                .entities
                .links
                .iter()
                .map(|l| (l.pos, l.len, l.text.clone()))
                .collect();
            let want_l: Vec<(usize, usize, String)> = links
                .iter()
                .map(|(p, l, u)| (*p, *l, u.to_string()))
                .collect();
            assert_eq!(got_l, want_l, "links of {text:?}");
            // Every entity's position names its own text.
            let chars: Vec<char> = text.chars().collect();
            for m in &r.entities.mentions {
                assert_eq!(slice(&chars, m.pos, m.len), format!("@{}", m.name));
            }
        }
    }

    #[test]
    fn nothing_in_the_text_becomes_markup() {
        let r = run(
            "<script>alert(1)</script> \"onmouseover=alert(1) https://x.example/\"><img src=x>",
        );
        assert!(
            !r.html.contains("<script") && !r.html.contains("<img"),
            "{}",
            r.html
        );
        assert!(r.html.contains("&lt;script&gt;"));
        assert_eq!(r.entities.links.len(), 1);
        assert_eq!(r.entities.links[0].text, "https://x.example/");
        assert!(
            r.html
                .contains("<a href=\"https://x.example/\" rel=\"nofollow\">")
        );
        let lines = run("one\ntwo & three");
        assert_eq!(lines.html, "one<br>two &amp; three");
    }

    #[test]
    fn explicit_links_are_checked_against_the_text() {
        let text = "read the docs here";
        let link = |text: &str, url: &str, pos, len| Link {
            text: text.into(),
            url: url.into(),
            pos,
            len,
        };
        let r = process(
            text,
            &[link("the docs", "https://docs.example/a\"b", 5, 8)],
            |_| None,
        )
        .expect("ok");
        assert_eq!(r.entities.links.len(), 1);
        assert_eq!(
            r.html,
            "read <a href=\"https://docs.example/a%22b\" rel=\"nofollow\">the docs</a> here"
        );
        let refused = |l: Link| process(text, &[l], |_| None).expect_err("refused");
        assert_eq!(
            refused(link("the docs", "javascript:alert(1)", 5, 8)),
            RichTextError::LinkScheme(0)
        );
        assert_eq!(
            refused(link("the docs", "data:text/html,x", 5, 8)),
            RichTextError::LinkScheme(0)
        );
        assert_eq!(
            refused(link("other", "https://a.example", 5, 5)),
            RichTextError::LinkText(0)
        );
        assert_eq!(
            refused(link("x", "https://a.example", 40, 1)),
            RichTextError::LinkOutside(0)
        );
        assert_eq!(
            refused(link("x", "https://a.example", usize::MAX, 2)),
            RichTextError::LinkOutside(0)
        );
        let two = [
            link("the docs", "https://a.example", 5, 8),
            link("docs here", "https://b.example", 9, 9),
        ];
        assert_eq!(
            process(text, &two, |_| None).expect_err("overlap"),
            RichTextError::LinkOverlap(1)
        );
        // An explicit link over a bare URL wins; positions count code points.
        let text = "🦀 https://a.example";
        let r = process(
            text,
            &[link("https://a.example", "https://b.example", 2, 17)],
            |_| None,
        )
        .expect("ok");
        assert_eq!(r.entities.links.len(), 1);
        assert_eq!(r.entities.links[0].url, "https://b.example/");
    }
}
