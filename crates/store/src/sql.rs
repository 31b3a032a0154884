//! SQL that both stores build at run time, written once and rendered for
//! either dialect: keyset pagination (from [`ListQuery::scan`]) and the
//! filters of message, destination and attempt listings.
//!
//! Delivery status codes in SQL text come from [`DeliveryStatus`] through
//! the constants here (`concatcp!` at compile time), never typed as digits,
//! so a partial index's `WHERE status = 1` and the queries that must match
//! it cannot drift apart.

use hookd_core::model::{DeliveryStatus, TaskStatus};
use hookd_core::store::{AttemptFilter, ListQuery, MessageFilter};

pub(crate) const SUCCESS: i64 = DeliveryStatus::Success as i64;
pub(crate) const PENDING: i64 = DeliveryStatus::Pending as i64;
pub(crate) const FAIL: i64 = DeliveryStatus::Fail as i64;
pub(crate) const CANCELED: i64 = DeliveryStatus::Canceled as i64;
/// A running task's status, as stored.
pub(crate) const TASK_RUNNING: &str = TaskStatus::Running.as_str();

/// A `LIKE` pattern (with `ESCAPE '\\'`) matching `prefix` followed by
/// `sep` and anything: the prefix's own `%`, `_` and `\\` match only themselves.
pub(crate) fn like_prefix(prefix: &str, sep: char) -> String {
    let mut p = String::with_capacity(prefix.len() + 2);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push(sep);
    p.push('%');
    p
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `?` placeholders, `IN (…)` lists, channels through `json_each`.
    Sqlite,
    /// `$n` placeholders, `= ANY($n)` arrays, channels through jsonb `?`.
    Postgres,
}

/// A bound value; each backend converts it to its driver's parameter type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    Null,
    Bool(bool),
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
    /// A list, bound as one array parameter (PostgreSQL only).
    Texts(Vec<String>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::Int(v)
    }
}

impl From<&str> for Arg {
    fn from(v: &str) -> Arg {
        Arg::Text(v.to_string())
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Arg {
        Arg::Text(v)
    }
}

/// A query under construction: its text and its parameters, in order.
pub(crate) struct Sql {
    pub text: String,
    pub args: Vec<Arg>,
    dialect: Dialect,
}

impl Sql {
    pub fn new(dialect: Dialect, text: impl Into<String>) -> Sql {
        Sql {
            text: text.into(),
            args: Vec::new(),
            dialect,
        }
    }

    pub fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }

    /// Appends a placeholder for `v` (after a space).
    pub fn bind(&mut self, v: impl Into<Arg>) {
        self.args.push(v.into());
        match self.dialect {
            Dialect::Sqlite => self.text.push_str(" ?"),
            Dialect::Postgres => {
                self.text.push_str(" $");
                self.text.push_str(&self.args.len().to_string());
            }
        }
    }

    /// ` AND col >= lo AND col < hi`, for each bound given.
    fn range(&mut self, col: &str, lo: Option<i64>, hi: Option<i64>) {
        if let Some(lo) = lo {
            self.push(&format!(" AND {col} >="));
            self.bind(lo);
        }
        if let Some(hi) = hi {
            self.push(&format!(" AND {col} <"));
            self.bind(hi);
        }
    }

    /// ` AND col` is one of `values`.
    pub fn one_of(&mut self, col: &str, values: &[String]) {
        match self.dialect {
            Dialect::Sqlite => {
                self.push(&format!(" AND {col} IN ("));
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        self.push(",");
                    }
                    self.bind(v.as_str());
                }
                self.push(")");
            }
            Dialect::Postgres => {
                self.push(&format!(" AND {col} = ANY("));
                self.bind(Arg::Texts(values.to_vec()));
                self.push(")");
            }
        }
    }

    /// Keyset pagination on `key_col` (bytewise order on both stores: the
    /// PostgreSQL key columns are `COLLATE "C"`), fetching `limit + 1` rows.
    pub fn paginate(&mut self, key_col: &str, q: &ListQuery) {
        let scan = q.scan();
        if let Some(key) = scan.after {
            let op = if scan.descending { "<" } else { ">" };
            self.push(&format!(" AND {key_col} {op}"));
            self.bind(key);
        }
        let dir = if scan.descending { "DESC" } else { "ASC" };
        self.push(&format!(" ORDER BY {key_col} {dir} LIMIT"));
        self.bind(scan.fetch as i64);
    }

    /// Filters on the joined message `m`; `time_col` is the time they bound.
    pub fn message_filters(&mut self, f: &MessageFilter, time_col: &str) {
        if let Some(types) = f.types() {
            self.one_of("m.event_type", types);
        }
        if let Some(ch) = &f.channel {
            // NULL channels match nothing.
            self.json_array_has("m.channels", ch);
        }
        if let Some(b) = f.before {
            self.push(&format!(" AND {time_col} <"));
            self.bind(b.0);
        }
        if let Some(a) = f.after {
            self.push(&format!(" AND {time_col} >"));
            self.bind(a.0);
        }
    }

    /// ` AND` the JSON array column `col` (NULL: empty) holds `value`.
    pub fn json_array_has(&mut self, col: &str, value: &str) {
        match self.dialect {
            Dialect::Sqlite => {
                self.push(&format!(
                    " AND EXISTS (SELECT 1 FROM json_each({col}) WHERE value ="
                ));
                self.bind(value);
                self.push(")");
            }
            Dialect::Postgres => {
                self.push(&format!(" AND ({col}::jsonb) ?"));
                self.bind(value);
            }
        }
    }

    /// Filters of an attempt listing (`a` attempts joined with `m` messages).
    pub fn attempt_filters(&mut self, f: &AttemptFilter) {
        if let Some(s) = f.status {
            self.push(" AND a.status =");
            self.bind(s as i64);
        }
        if let Some((lo, hi)) = f.status_code_range() {
            self.range("a.response_status", Some(lo.into()), Some(hi.into()));
        }
        if let Some(ep) = &f.endpoint_id {
            self.push(" AND a.endpoint_id =");
            self.bind(ep.as_str());
        }
        self.message_filters(&f.msg, "a.created_at");
    }

    /// ` AND col >= since AND col < until`, for the bounds given.
    pub fn window(&mut self, col: &str, since: Option<i64>, until: Option<i64>) {
        self.range(col, since, until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookd_core::store::{Cursor, Order};
    use hookd_core::time::Timestamp;

    fn listing(d: Dialect) -> Sql {
        let mut sql = Sql::new(d, "SELECT a.id FROM attempts a WHERE a.app_id =");
        sql.bind("app_1");
        sql.attempt_filters(&AttemptFilter {
            status_code_class: Some(200),
            msg: MessageFilter {
                event_types: Some(vec!["a".into(), "b".into()]),
                after: Some(Timestamp(7)),
                ..Default::default()
            },
            ..Default::default()
        });
        sql.paginate(
            "a.id",
            &ListQuery {
                limit: 2,
                cursor: Some(Cursor::parse("-k")),
                order: Order::Descending,
            },
        );
        sql
    }

    #[test]
    fn like_prefix_escapes_wildcards() {
        assert_eq!(like_prefix("web-1", '-'), "web-1-%");
        assert_eq!(like_prefix("a_b%c\\", '-'), "a\\_b\\%c\\\\-%");
    }

    #[test]
    fn sqlite_placeholders_and_lists() {
        let sql = listing(Dialect::Sqlite);
        assert_eq!(
            sql.text,
            "SELECT a.id FROM attempts a WHERE a.app_id = ? AND a.response_status >= ? \
             AND a.response_status < ? AND m.event_type IN ( ?, ?) AND a.created_at > ? \
             AND a.id > ? ORDER BY a.id ASC LIMIT ?"
        );
        assert_eq!(sql.args.len(), 8);
        assert_eq!(sql.args[7], Arg::Int(3));
    }

    #[test]
    fn postgres_numbers_its_placeholders() {
        let sql = listing(Dialect::Postgres);
        assert!(sql.text.contains("m.event_type = ANY( $4)"), "{}", sql.text);
        assert!(sql.text.ends_with("a.id > $6 ORDER BY a.id ASC LIMIT $7"));
        assert_eq!(sql.args[3], Arg::Texts(vec!["a".into(), "b".into()]));
    }
}
