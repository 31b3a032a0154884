//! Payload filters of endpoints (a hookd extension): a small expression
//! language over the message's JSON payload, parsed once and cached, and
//! evaluated while a message is routed.
//!
//! ```text
//! data.amount >= 100 and data.currency in ["usd", "eur"] and not exists(data.test)
//! ```
//!
//! | form | meaning |
//! | --- | --- |
//! | `path == v`, `path != v` | equality with a JSON value (`"text"`, a number, `true`, `false`, `null`); numbers compare by value |
//! | `path < v`, `<=`, `>`, `>=` | numbers with numbers, strings with strings (so ISO dates order) |
//! | `path in [v, …]` | equal to one of the values |
//! | `exists(path)` | the path is present (`null` counts as present) |
//! | `a and b`, `a or b`, `not a`, `( … )` | `not` binds tightest, then `and`, then `or` |
//!
//! A path is dot-separated keys from the payload's root (`$.` in front is
//! allowed), with `[n]` for array elements and `["any key"]` for keys that
//! are not identifiers. A path that is absent makes every comparison false,
//! `!=` included: test absence with `not exists(…)`.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use serde_json::Value;

/// Longest filter accepted, in bytes.
pub const MAX_LEN: usize = 2048;
/// Deepest nesting of parentheses and `not`.
const MAX_DEPTH: usize = 32;

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter(Expr);

/// Why a filter does not parse: where (1-based character position) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub position: usize,
    pub message: String,
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at position {}: {}", self.position, self.message)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Exists(Vec<Seg>),
    Cmp(Vec<Seg>, Op, Value),
    In(Vec<Seg>, Vec<Value>),
}

impl Filter {
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        if text.len() > MAX_LEN {
            return Err(FilterError {
                position: MAX_LEN + 1,
                message: format!("a filter is at most {MAX_LEN} bytes"),
            });
        }
        let mut p = Parser {
            chars: text.chars().collect(),
            at: 0,
            depth: 0,
        };
        let e = p.or()?;
        p.skip_ws();
        if p.at < p.chars.len() {
            return Err(p.error("expected `and`, `or` or the end of the filter"));
        }
        Ok(Filter(e))
    }

    /// The filter for `text`, parsed once per process. A filter that does
    /// not parse (stored before validation existed) matches nothing.
    pub fn cached(text: &str) -> Arc<Filter> {
        static CACHE: LazyLock<Mutex<HashMap<String, Arc<Filter>>>> =
            LazyLock::new(|| Mutex::new(HashMap::new()));
        let mut cache = match CACHE.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(f) = cache.get(text) {
            return f.clone();
        }
        let f = Arc::new(Filter::parse(text).unwrap_or(Filter(Expr::Or(Vec::new()))));
        // Filters are few and small; a bound keeps a churn of them in check.
        if cache.len() >= 10_000 {
            cache.clear();
        }
        cache.insert(text.to_string(), f.clone());
        f
    }

    pub fn matches(&self, payload: &Value) -> bool {
        eval(&self.0, payload)
    }
}

fn eval(e: &Expr, v: &Value) -> bool {
    match e {
        Expr::Or(list) => list.iter().any(|e| eval(e, v)),
        Expr::And(list) => list.iter().all(|e| eval(e, v)),
        Expr::Not(e) => !eval(e, v),
        Expr::Exists(path) => lookup(v, path).is_some(),
        Expr::Cmp(path, op, want) => lookup(v, path).is_some_and(|got| compare(got, *op, want)),
        Expr::In(path, wants) => {
            lookup(v, path).is_some_and(|got| wants.iter().any(|w| equal(got, w)))
        }
    }
}

fn lookup<'a>(mut v: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    for seg in path {
        v = match seg {
            Seg::Key(k) => v.as_object()?.get(k)?,
            Seg::Index(i) => v.as_array()?.get(*i)?,
        };
    }
    Some(v)
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x == y,
        _ => a == b,
    }
}

fn compare(got: &Value, op: Op, want: &Value) -> bool {
    use std::cmp::Ordering;
    let order = match (got, want) {
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    };
    match op {
        Op::Eq => equal(got, want),
        Op::Ne => !equal(got, want),
        Op::Lt => order == Some(Ordering::Less),
        Op::Le => matches!(order, Some(Ordering::Less | Ordering::Equal)),
        Op::Gt => order == Some(Ordering::Greater),
        Op::Ge => matches!(order, Some(Ordering::Greater | Ordering::Equal)),
    }
}

struct Parser {
    chars: Vec<char>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn error(&self, message: impl Into<String>) -> FilterError {
        FilterError {
            position: self.at + 1,
            message: message.into(),
        }
    }

    fn skip_ws(&mut self) {
        while self.chars.get(self.at).is_some_and(|c| c.is_whitespace()) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.chars.get(self.at).copied()
    }

    /// Consumes `word` when it comes next as a whole word.
    fn keyword(&mut self, word: &str) -> bool {
        self.skip_ws();
        let end = self.at + word.chars().count();
        let matches = self
            .chars
            .get(self.at..end)
            .is_some_and(|s| s.iter().copied().eq(word.chars()))
            && !self
                .chars
                .get(end)
                .is_some_and(|c| c.is_alphanumeric() || *c == '_');
        if matches {
            self.at = end;
        }
        matches
    }

    fn expect(&mut self, c: char) -> Result<(), FilterError> {
        if self.peek() == Some(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(format!("expected `{c}`")))
        }
    }

    fn nest(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!("nested more than {MAX_DEPTH} deep")));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut list = vec![self.and()?];
        while self.keyword("or") {
            list.push(self.and()?);
        }
        Ok(if list.len() == 1 {
            list.remove(0)
        } else {
            Expr::Or(list)
        })
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut list = vec![self.unary()?];
        while self.keyword("and") {
            list.push(self.unary()?);
        }
        Ok(if list.len() == 1 {
            list.remove(0)
        } else {
            Expr::And(list)
        })
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        if self.keyword("not") {
            self.nest()?;
            let e = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(e)));
        }
        if self.peek() == Some('(') {
            self.at += 1;
            self.nest()?;
            let e = self.or()?;
            self.depth -= 1;
            self.expect(')')?;
            return Ok(e);
        }
        if self.keyword("exists") {
            self.expect('(')?;
            let path = self.path()?;
            self.expect(')')?;
            return Ok(Expr::Exists(path));
        }
        let path = self.path()?;
        if self.keyword("in") {
            self.expect('[')?;
            let mut values = Vec::new();
            if self.peek() != Some(']') {
                loop {
                    values.push(self.value()?);
                    if self.peek() == Some(',') {
                        self.at += 1;
                    } else {
                        break;
                    }
                }
            }
            self.expect(']')?;
            return Ok(Expr::In(path, values));
        }
        let op = self.op()?;
        let value = self.value()?;
        Ok(Expr::Cmp(path, op, value))
    }

    fn op(&mut self) -> Result<Op, FilterError> {
        self.skip_ws();
        let two: String = self.chars.iter().skip(self.at).take(2).collect();
        let (op, len) = match two.as_str() {
            "==" => (Op::Eq, 2),
            "!=" => (Op::Ne, 2),
            "<=" => (Op::Le, 2),
            ">=" => (Op::Ge, 2),
            _ if two.starts_with('<') => (Op::Lt, 1),
            _ if two.starts_with('>') => (Op::Gt, 1),
            _ => {
                return Err(self.error("expected a comparison (==, !=, <, <=, >, >=) or `in`"));
            }
        };
        self.at += len;
        Ok(op)
    }

    fn ident(&mut self) -> Option<String> {
        let start = self.at;
        while self
            .chars
            .get(self.at)
            .is_some_and(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
        {
            self.at += 1;
        }
        (self.at > start).then(|| self.chars[start..self.at].iter().collect())
    }

    fn path(&mut self) -> Result<Vec<Seg>, FilterError> {
        self.skip_ws();
        if self.chars.get(self.at..self.at + 2) == Some(&['$', '.']) {
            self.at += 2;
        }
        let mut path = vec![Seg::Key(self.ident().ok_or_else(|| {
            self.error("expected a field name, `not`, `exists(` or `(`")
        })?)];
        loop {
            match self.chars.get(self.at) {
                Some('.') => {
                    self.at += 1;
                    let key = self
                        .ident()
                        .ok_or_else(|| self.error("expected a field name after `.`"))?;
                    path.push(Seg::Key(key));
                }
                Some('[') => {
                    self.at += 1;
                    if self.chars.get(self.at) == Some(&'"') {
                        path.push(Seg::Key(self.string()?));
                    } else {
                        let start = self.at;
                        while self.chars.get(self.at).is_some_and(char::is_ascii_digit) {
                            self.at += 1;
                        }
                        let digits: String = self.chars[start..self.at].iter().collect();
                        let i = digits.parse().map_err(|_| {
                            self.at = start;
                            self.error("expected an array index or a quoted key")
                        })?;
                        path.push(Seg::Index(i));
                    }
                    if self.chars.get(self.at) != Some(&']') {
                        return Err(self.error("expected `]`"));
                    }
                    self.at += 1;
                }
                _ => return Ok(path),
            }
        }
    }

    fn string(&mut self) -> Result<String, FilterError> {
        // A JSON string literal: find its end, let serde_json decode it.
        let start = self.at;
        self.at += 1;
        loop {
            match self.chars.get(self.at) {
                None => {
                    self.at = start;
                    return Err(self.error("unterminated string"));
                }
                Some('\\') => self.at += 2,
                Some('"') => break,
                Some(_) => self.at += 1,
            }
        }
        self.at += 1;
        let lit: String = self.chars[start..self.at].iter().collect();
        serde_json::from_str(&lit).map_err(|e| {
            self.at = start;
            self.error(format!("invalid string: {e}"))
        })
    }

    fn value(&mut self) -> Result<Value, FilterError> {
        match self.peek() {
            Some('"') => self.string().map(Value::String),
            Some(c) if c == '-' || c.is_ascii_digit() => {
                let start = self.at;
                while self
                    .chars
                    .get(self.at)
                    .is_some_and(|c| c.is_ascii_digit() || "+-.eE".contains(*c))
                {
                    self.at += 1;
                }
                let lit: String = self.chars[start..self.at].iter().collect();
                match serde_json::from_str::<Value>(&lit) {
                    Ok(v @ Value::Number(_)) => Ok(v),
                    _ => {
                        self.at = start;
                        Err(self.error(format!("invalid number `{lit}`")))
                    }
                }
            }
            _ => {
                for (word, v) in [
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                    ("null", Value::Null),
                ] {
                    if self.keyword(word) {
                        return Ok(v);
                    }
                }
                Err(self.error("expected a value: a \"string\", a number, true, false or null"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(filter: &str, v: Value) -> bool {
        Filter::parse(filter)
            .unwrap_or_else(|e| panic!("{filter}: {e}"))
            .matches(&v)
    }

    #[test]
    fn comparisons_membership_and_existence() {
        let v = json!({"data": {"amount": 150, "currency": "usd", "tags": ["a", "b"], "n": null,
                        "at": "2026-12-03T10:00:00Z", "odd key": 1}});
        assert!(m("data.amount >= 100", v.clone()));
        assert!(m("$.data.amount == 150.0", v.clone()));
        assert!(!m("data.amount < 100", v.clone()));
        assert!(m(r#"data.currency in ["eur", "usd"]"#, v.clone()));
        assert!(!m(r#"data.currency in []"#, v.clone()));
        assert!(m(r#"data.tags[1] == "b""#, v.clone()));
        assert!(m(r#"data["odd key"] == 1"#, v.clone()));
        assert!(m(r#"data.at > "2026-12-01""#, v.clone()));
        assert!(m("exists(data.n) and data.n == null", v.clone()));
        assert!(!m("exists(data.missing)", v.clone()));
        // Absent fields fail every comparison, != too.
        assert!(!m(r#"data.missing != "x""#, v.clone()));
        assert!(
            !m("data.currency > 3", v.clone()),
            "a string is not ordered against a number"
        );
    }

    #[test]
    fn precedence_not_then_and_then_or() {
        let v = json!({"a": 1, "b": 2});
        assert!(
            m("a == 1 or b == 9 and a == 9", v.clone()),
            "and binds tighter than or"
        );
        assert!(!m("(a == 1 or b == 9) and a == 9", v.clone()));
        assert!(m("not a == 2 and b == 2", v.clone()));
        assert!(!m("not (a == 1 and b == 2)", v.clone()));
        assert!(m("not not a == 1", v));
    }

    #[test]
    fn errors_name_the_position() {
        for (f, pos) in [
            ("", 1),
            ("a ==", 5),
            ("a = 1", 3),
            ("a == 1 and", 11),
            ("a == 1 b == 2", 8),
            ("a in [1, 2", 11),
            ("(a == 1", 8),
            ("a.b. == 1", 5),
            ("a[x] == 1", 3),
            ("a == \"open", 6),
            ("a == 1.2.3", 6),
            ("a == maybe", 6),
        ] {
            let e = Filter::parse(f).expect_err(f);
            assert_eq!(e.position, pos, "{f}: {e}");
        }
        let deep = format!("{}a == 1{}", "(".repeat(40), ")".repeat(40));
        assert!(Filter::parse(&deep).unwrap_err().message.contains("nested"));
        assert!(Filter::parse(&"a == 1 and ".repeat(300)).is_err());
    }

    #[test]
    fn a_stored_filter_that_does_not_parse_matches_nothing() {
        assert!(!Filter::cached("a ==").matches(&json!({"a": 1})));
        assert!(Filter::cached("a == 1").matches(&json!({"a": 1})));
        assert!(Arc::ptr_eq(
            &Filter::cached("a == 1"),
            &Filter::cached("a == 1")
        ));
    }
}
