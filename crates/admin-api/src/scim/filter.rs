//! SCIM filters and PATCH paths (RFC 7644 §3.4.2.2 and §3.5.2): a tokenizer and a recursive
//! descent parser with the RFC's precedence (`not` binds tighter than `and`, `and` tighter than
//! `or`, parentheses group), attribute paths with an optional schema URI prefix and one
//! sub-attribute, value paths (`emails[type eq "work"]`) and JSON string, number, boolean and null
//! values. Keywords and operators are case-insensitive; attribute names are compared without case
//! by the caller, as SCIM asks.
//!
//! Parsing says nothing about whether an attribute can be searched: the Users and Groups
//! endpoints map the tree onto indexed queries and refuse the rest (`invalidFilter`).

use std::fmt;

/// The longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 4096;
/// How deeply filters may nest.
const MAX_DEPTH: usize = 32;
/// The most comparisons one filter may hold: each becomes an indexed lookup, and a long chain
/// of `or`s a deep query.
pub const MAX_TERMS: usize = 16;

/// `[URI ":"] ATTRNAME ["." subAttr]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The schema URI, when the path names one.
    pub schema: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

impl AttrPath {
    /// Whether this is `name` (with sub-attribute `sub`), without regard to case.
    pub fn is(&self, name: &str, sub: Option<&str>) -> bool {
        self.name.eq_ignore_ascii_case(name)
            && match (self.sub.as_deref(), sub) {
                (None, None) => true,
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                _ => false,
            }
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = &self.schema {
            write!(f, "{s}:")?;
        }
        write!(f, "{}", self.name)?;
        if let Some(s) = &self.sub {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Lt,
    Ge,
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "lt" => CompareOp::Lt,
            "ge" => CompareOp::Ge,
            "le" => CompareOp::Le,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attr[filter]`: a value of the multi-valued `attr` matches `filter` (whose paths are
    /// relative to it).
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

/// Why a filter or path could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

fn err<T>(m: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(m.into()))
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Open,
    Close,
    OpenBracket,
    CloseBracket,
}

fn tokenize(input: &str) -> Result<Vec<Token>, ParseError> {
    if input.len() > MAX_FILTER_LEN {
        return err(format!("a filter is at most {MAX_FILTER_LEN} bytes"));
    }
    let mut out = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push(Token::Open);
            }
            ')' => {
                chars.next();
                out.push(Token::Close);
            }
            '[' => {
                chars.next();
                out.push(Token::OpenBracket);
            }
            ']' => {
                chars.next();
                out.push(Token::CloseBracket);
            }
            '"' => {
                // A JSON string: find its end (skipping escapes), then let serde decode it.
                chars.next();
                let mut end = None;
                let mut escaped = false;
                for (j, d) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if d == '\\' {
                        escaped = true;
                    } else if d == '"' {
                        end = Some(j);
                        break;
                    }
                }
                let Some(end) = end else {
                    return err("a string is not closed");
                };
                let s: String = serde_json::from_str(&input[i..=end])
                    .map_err(|_| ParseError("a string has a bad escape".into()))?;
                out.push(Token::Str(s));
            }
            _ => {
                let start = i;
                let mut end = input.len();
                while let Some(&(j, d)) = chars.peek() {
                    if d.is_whitespace() || matches!(d, '(' | ')' | '[' | ']' | '"') {
                        end = j;
                        break;
                    }
                    chars.next();
                }
                out.push(Token::Word(input[start..end].to_owned()));
            }
        }
    }
    Ok(out)
}

fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '$')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
}

/// Reads `[URI ":"] ATTRNAME ["." subAttr]`.
pub fn parse_attr_path(word: &str) -> Result<AttrPath, ParseError> {
    let (schema, rest) = match word.rfind(':') {
        Some(i) if word[..i].to_ascii_lowercase().starts_with("urn:") => {
            (Some(word[..i].to_owned()), &word[i + 1..])
        }
        Some(_) => return err(format!("{word:?} is not an attribute path")),
        None => (None, word),
    };
    let (name, sub) = match rest.split_once('.') {
        Some((n, s)) => (n, Some(s)),
        None => (rest, None),
    };
    if !is_name(name) || sub.is_some_and(|s| !is_name(s)) {
        return err(format!("{word:?} is not an attribute path"));
    }
    Ok(AttrPath {
        schema,
        name: name.to_owned(),
        sub: sub.map(str::to_owned),
    })
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
    terms: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(k))
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err("the filter nests too deeply");
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Filter, ParseError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.next();
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ParseError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.next();
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, ParseError> {
        self.enter()?;
        let out = if self.keyword("not") {
            self.next();
            if self.peek() != Some(&Token::Open) {
                return err("not must be followed by a parenthesised filter");
            }
            Filter::Not(Box::new(self.unary()?))
        } else if self.peek() == Some(&Token::Open) {
            self.next();
            let inner = self.or()?;
            if self.next() != Some(Token::Close) {
                return err("a parenthesis is not closed");
            }
            inner
        } else {
            self.attr_exp()?
        };
        self.depth -= 1;
        Ok(out)
    }

    fn attr_exp(&mut self) -> Result<Filter, ParseError> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return err(format!("a filter holds at most {MAX_TERMS} comparisons"));
        }
        let word = match self.next() {
            Some(Token::Word(w)) => w,
            Some(_) => return err("expected an attribute"),
            None => return err("the filter ends too soon"),
        };
        let path = parse_attr_path(&word)?;
        if self.peek() == Some(&Token::OpenBracket) {
            self.next();
            let inner = self.or()?;
            if self.next() != Some(Token::CloseBracket) {
                return err("a bracket is not closed");
            }
            return Ok(Filter::ValuePath {
                path,
                filter: Box::new(inner),
            });
        }
        let op = match self.next() {
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("pr") => {
                return Ok(Filter::Present(path));
            }
            Some(Token::Word(w)) => CompareOp::parse(&w)
                .ok_or_else(|| ParseError(format!("{w:?} is not a comparison operator")))?,
            _ => return err(format!("expected an operator after {word}")),
        };
        let value = match self.next() {
            Some(Token::Str(s)) => CompValue::Str(s),
            Some(Token::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "true" => CompValue::Bool(true),
                "false" => CompValue::Bool(false),
                "null" => CompValue::Null,
                _ => match serde_json::from_str::<serde_json::Value>(&w) {
                    Ok(serde_json::Value::Number(n)) => {
                        CompValue::Num(n.as_f64().unwrap_or(f64::NAN))
                    }
                    _ => return err(format!("{w:?} is not a value (quote strings)")),
                },
            },
            _ => return err(format!("expected a value after {word}")),
        };
        Ok(Filter::Compare { path, op, value })
    }
}

/// Parses a whole filter.
pub fn parse(input: &str) -> Result<Filter, ParseError> {
    let tokens = tokenize(input)?;
    if tokens.is_empty() {
        return err("the filter is empty");
    }
    let mut p = Parser {
        tokens,
        at: 0,
        depth: 0,
        terms: 0,
    };
    let f = p.or()?;
    if p.at < p.tokens.len() {
        return err("unexpected text after the filter");
    }
    Ok(f)
}

/// A PATCH path: `attrPath`, or `valuePath [ "." subAttr ]`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    /// The filter of a value path (`members[value eq "…"]`).
    pub filter: Option<Filter>,
    /// The sub-attribute after a value path (`emails[type eq "work"].value`).
    pub sub: Option<String>,
}

/// Parses a PATCH operation's `path`.
pub fn parse_path(input: &str) -> Result<PatchPath, ParseError> {
    let input = input.trim();
    let Some(open) = input.find('[') else {
        return Ok(PatchPath {
            attr: parse_attr_path(input)?,
            filter: None,
            sub: None,
        });
    };
    let Some(close) = input.rfind(']') else {
        return err("a bracket is not closed");
    };
    if close < open {
        return err("a bracket is not closed");
    }
    let attr = parse_attr_path(&input[..open])?;
    let filter = parse(&input[open + 1..close])?;
    let rest = &input[close + 1..];
    let sub = match rest.strip_prefix('.') {
        Some(s) if is_name(s) => Some(s.to_owned()),
        None if rest.is_empty() => None,
        _ => return err(format!("{input:?} is not a path")),
    };
    Ok(PatchPath {
        attr,
        filter: Some(filter),
        sub,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(name: &str) -> AttrPath {
        parse_attr_path(name).expect("path")
    }

    fn eq(name: &str, v: &str) -> Filter {
        Filter::Compare {
            path: path(name),
            op: CompareOp::Eq,
            value: CompValue::Str(v.into()),
        }
    }

    #[test]
    fn wide_filters_are_refused() {
        let chain = |n: usize| vec!["emails pr"; n].join(" or ");
        assert!(parse(&chain(MAX_TERMS)).is_ok());
        assert!(parse(&chain(MAX_TERMS + 1)).is_err());
        let ands = vec![r#"userName eq "a""#; MAX_TERMS + 1].join(" and ");
        assert!(parse(&ands).is_err());
    }

    #[test]
    fn comparisons_values_and_paths() {
        assert_eq!(
            parse(r#"userName eq "bjensen""#),
            Ok(eq("userName", "bjensen"))
        );
        assert_eq!(
            parse(r#"name.familyName co "O'Malley""#),
            Ok(Filter::Compare {
                path: AttrPath {
                    schema: None,
                    name: "name".into(),
                    sub: Some("familyName".into())
                },
                op: CompareOp::Co,
                value: CompValue::Str("O'Malley".into())
            })
        );
        assert_eq!(
            parse("urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"J\""),
            Ok(Filter::Compare {
                path: AttrPath {
                    schema: Some("urn:ietf:params:scim:schemas:core:2.0:User".into()),
                    name: "userName".into(),
                    sub: None
                },
                op: CompareOp::Sw,
                value: CompValue::Str("J".into())
            })
        );
        assert_eq!(parse("title pr"), Ok(Filter::Present(path("title"))));
        assert_eq!(
            parse("meta.lastModified GT \"2011-05-13T04:42:34Z\""),
            Ok(Filter::Compare {
                path: path("meta.lastModified"),
                op: CompareOp::Gt,
                value: CompValue::Str("2011-05-13T04:42:34Z".into())
            })
        );
        for (text, value) in [
            ("active eq true", CompValue::Bool(true)),
            ("active eq FALSE", CompValue::Bool(false)),
            ("x eq null", CompValue::Null),
            ("x gt 42", CompValue::Num(42.0)),
            ("x le -1.5e2", CompValue::Num(-150.0)),
        ] {
            match parse(text) {
                Ok(Filter::Compare { value: v, .. }) => assert_eq!(v, value, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        // JSON escapes and spaces inside strings; keywords in any case.
        assert_eq!(
            parse(r#"displayName EQ "a \"quoted\" \u00e9 and or not""#),
            Ok(eq("displayName", "a \"quoted\" é and or not"))
        );
    }

    #[test]
    fn precedence_and_grouping() {
        let a = || eq("a", "1");
        let b = || eq("b", "2");
        let c = || eq("c", "3");
        // and binds tighter than or, on either side.
        assert_eq!(
            parse(r#"a eq "1" or b eq "2" and c eq "3""#),
            Ok(Filter::Or(
                Box::new(a()),
                Box::new(Filter::And(Box::new(b()), Box::new(c())))
            ))
        );
        assert_eq!(
            parse(r#"a eq "1" and b eq "2" or c eq "3""#),
            Ok(Filter::Or(
                Box::new(Filter::And(Box::new(a()), Box::new(b()))),
                Box::new(c())
            ))
        );
        assert_eq!(
            parse(r#"a eq "1" and (b eq "2" or c eq "3")"#),
            Ok(Filter::And(
                Box::new(a()),
                Box::new(Filter::Or(Box::new(b()), Box::new(c())))
            ))
        );
        // not applies to the parenthesised filter only, and binds tighter than and.
        assert_eq!(
            parse(r#"not (a eq "1") and b eq "2""#),
            Ok(Filter::And(
                Box::new(Filter::Not(Box::new(a()))),
                Box::new(b())
            ))
        );
        // Left to right for a chain.
        assert_eq!(
            parse(r#"a eq "1" or b eq "2" or c eq "3""#),
            Ok(Filter::Or(
                Box::new(Filter::Or(Box::new(a()), Box::new(b()))),
                Box::new(c())
            ))
        );
    }

    #[test]
    fn value_paths() {
        assert_eq!(
            parse(r#"emails[type eq "work" and value co "@example.com"]"#),
            Ok(Filter::ValuePath {
                path: path("emails"),
                filter: Box::new(Filter::And(
                    Box::new(eq("type", "work")),
                    Box::new(Filter::Compare {
                        path: path("value"),
                        op: CompareOp::Co,
                        value: CompValue::Str("@example.com".into())
                    })
                ))
            })
        );
        assert_eq!(
            parse_path(r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#),
            Ok(PatchPath {
                attr: path("members"),
                filter: Some(eq("value", "2819c223-7f76-453a-919d-413861904646")),
                sub: None
            })
        );
        assert_eq!(
            parse_path(r#"emails[type eq "work"].value"#),
            Ok(PatchPath {
                attr: path("emails"),
                filter: Some(eq("type", "work")),
                sub: Some("value".into())
            })
        );
        assert_eq!(
            parse_path("name.givenName"),
            Ok(PatchPath {
                attr: path("name.givenName"),
                filter: None,
                sub: None
            })
        );
        assert_eq!(
            parse_path("urn:tessera:params:scim:schemas:extension:profile:2.0:User:department")
                .map(|p| (p.attr.schema, p.attr.name)),
            Ok((
                Some("urn:tessera:params:scim:schemas:extension:profile:2.0:User".into()),
                "department".into()
            ))
        );
    }

    #[test]
    fn bad_filters_are_refused_not_guessed() {
        for bad in [
            "",
            "   ",
            "userName",
            "userName eq",
            r#"userName eq "unterminated"#,
            r#"userName equals "x""#,
            r#"userName eq bare"#,
            r#"(userName eq "x""#,
            r#"userName eq "x")"#,
            r#"not userName eq "x""#,
            r#"userName eq "x" and"#,
            r#"userName eq "x" xor b eq "y""#,
            r#"emails[type eq "work""#,
            r#"1abc eq "x""#,
            r#"a.b.c eq "x""#,
            r#"http://x:y eq "x""#,
            r#"userName eq "\x""#,
            "and",
            "[",
        ] {
            assert!(
                parse(bad).is_err(),
                "{bad:?} was accepted: {:?}",
                parse(bad)
            );
        }
        let deep = format!("{}a pr{}", "(".repeat(100), ")".repeat(100));
        assert!(parse(&deep).is_err(), "nesting is bounded");
        assert!(parse(&format!("a eq \"{}\"", "x".repeat(MAX_FILTER_LEN))).is_err());
        for bad in [
            "",
            "members[",
            "members]value[",
            "emails[type eq \"w\"].",
            "a b",
        ] {
            assert!(parse_path(bad).is_err(), "{bad:?}");
        }
    }
}
