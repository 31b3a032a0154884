//! Request parsing with errors that point at the field: JSON bodies (via
//! `serde_path_to_error`) and query strings (typed getters that collect
//! every problem before answering 422).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use chrono::{NaiveDateTime, TimeZone, Utc};
use hookd_core::ids::{self, Kind};
use hookd_core::store::{Cursor, ListQuery, Order};
use hookd_core::time::Timestamp;
use hookd_core::validate::{Checker, Loc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use super::error::ApiError;
use super::state::AppState;

/// Largest request body for anything but a message (whose cap is configured).
pub const MAX_BODY: usize = 1024 * 1024;
/// Room for the non-payload fields of a message body.
const MESSAGE_OVERHEAD: usize = 64 * 1024;

/// A JSON body whose errors name the field (`loc: ["body", "rateLimit"]`).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = (state.config.max_payload_bytes as usize + MESSAGE_OVERHEAD).max(MAX_BODY);
        let bytes = read_body(req.into_body(), limit).await?;
        // Every request body is an object; serde would also read a struct
        // from a JSON array, which no client means to send.
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first.is_some_and(|&b| b != b'{') {
            return Err(ApiError::field(
                Loc::body(),
                "type_error.dict",
                "request body must be a JSON object",
            ));
        }
        parse_json(&bytes).map(JsonBody)
    }
}

/// A JSON body that may be left out (`T::default()` then), for operations
/// whose every field is optional.
pub struct OptionalJsonBody<T>(pub T);

impl<T: DeserializeOwned + Default> FromRequest<AppState> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = read_body(req.into_body(), MAX_BODY).await?;
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(OptionalJsonBody(T::default()));
        }
        let req = Request::new(axum::body::Body::from(bytes));
        JsonBody::from_request(req, state)
            .await
            .map(|JsonBody(v)| OptionalJsonBody(v))
    }
}

/// A request body read in full, for handlers that parse it themselves.
pub struct RawBody(pub bytes::Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        read_body(req.into_body(), MAX_BODY).await.map(RawBody)
    }
}

/// Reads a whole body of at most `limit` bytes: 413 when larger, 408 when
/// it did not arrive within `http_body_timeout_secs`.
pub async fn read_body(body: axum::body::Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(c) = cause {
            if let Some(t) = c.downcast_ref::<crate::http_server::BodyTimeout>() {
                return ApiError::RequestTimeout(t.to_string());
            }
            if c.is::<http_body_util::LengthLimitError>() {
                return ApiError::PayloadTooLarge(format!(
                    "request body is larger than {limit} bytes"
                ));
            }
            cause = c.source();
        }
        ApiError::BadRequest(format!("cannot read the request body: {e}"))
    })
}

/// Parses JSON bytes, mapping syntax and type errors to 422s with locations.
///
/// The fast path is plain `serde_json` (which also keeps `RawValue` payloads
/// as bytes); only a failed parse is re-run through `serde_path_to_error` to
/// find where the problem is.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::field(
            Loc::body(),
            "value_error.missing",
            "request body is required (a JSON object)",
        ));
    }
    let inner = match serde_json::from_slice::<T>(bytes) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let mut loc = Loc::body();
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    if let Err(e) = serde_path_to_error::deserialize::<_, T>(de) {
        for seg in e.path().iter() {
            loc = match seg {
                serde_path_to_error::Segment::Seq { index } => loc.index(*index),
                serde_path_to_error::Segment::Map { key } => loc.field(key),
                serde_path_to_error::Segment::Enum { variant } => loc.field(variant),
                serde_path_to_error::Segment::Unknown => loc,
            };
        }
    }
    let text = inner.to_string();
    let (kind, msg) = if inner.is_syntax() || inner.is_eof() {
        ("value_error.jsondecode", format!("malformed JSON: {text}"))
    } else if let Some(rest) = text.strip_prefix("missing field `") {
        if let Some((field, _)) = rest.split_once('`') {
            loc = loc.field(field);
        }
        ("value_error.missing", "field required".to_string())
    } else {
        ("type_error", text)
    };
    Err(ApiError::field(loc, kind, msg))
}

/// For PATCH bodies: distinguishes an absent field (`None`) from an explicit
/// `null` (`Some(None)`). Use with `#[serde(default, deserialize_with = "nullable")]`.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The raw query string as ordered key/value pairs.
pub struct RawQuery(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for RawQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q)
            .map_err(|e| ApiError::BadRequest(format!("malformed query string: {e}")))?;
        Ok(RawQuery(pairs))
    }
}

/// Reads typed query parameters, collecting errors with their locations.
pub struct Query<'a> {
    pairs: &'a [(String, String)],
    pub check: Checker,
}

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 250;

impl<'a> Query<'a> {
    pub fn new(raw: &'a RawQuery) -> Query<'a> {
        Query {
            pairs: &raw.0,
            check: Checker::new(),
        }
    }

    /// The last non-empty value of `name` (the SDKs send empty values for "unset").
    pub fn str(&self, name: &str) -> Option<&'a str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    pub fn bool(&mut self, name: &str, default: bool) -> bool {
        match self.str(name) {
            None => default,
            Some("true") | Some("1") => true,
            Some("false") | Some("0") => false,
            Some(_) => {
                self.check.error(
                    &Loc::query().field(name),
                    "type_error.bool",
                    "must be true or false",
                );
                default
            }
        }
    }

    pub fn int(&mut self, name: &str) -> Option<i64> {
        let v = self.str(name)?;
        match v.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.check.error(
                    &Loc::query().field(name),
                    "type_error.integer",
                    "must be an integer",
                );
                None
            }
        }
    }

    /// RFC 3339, or a date-time without offset taken as UTC (the Python SDK sends those).
    pub fn datetime(&mut self, name: &str) -> Option<Timestamp> {
        let v = self.str(name)?;
        match parse_datetime(v) {
            Some(t) => Some(t),
            None => {
                self.check.error(
                    &Loc::query().field(name),
                    "type_error.datetime",
                    "must be an RFC 3339 date-time, e.g. 2024-01-01T00:00:00Z",
                );
                None
            }
        }
    }

    /// A comma-separated list, also accepting repeated keys; `None` when empty.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        let items: Vec<String> = self
            .pairs
            .iter()
            .filter(|(k, _)| k == name || k == &format!("{name}[]"))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        (!items.is_empty()).then_some(items)
    }

    /// `limit`, `iterator` and `order`. `key_kind` checks that an iterator
    /// has the shape of the listed ids (`None` for lists keyed by name).
    pub fn list_query(&mut self, key_kind: Option<Kind>, default_order: Order) -> ListQuery {
        let limit = match self.int("limit") {
            None => DEFAULT_LIMIT,
            Some(n) if (1..=MAX_LIMIT as i64).contains(&n) => n as usize,
            Some(_) => {
                self.check.error(
                    &Loc::query().field("limit"),
                    "value_error.number",
                    format!("limit must be between 1 and {MAX_LIMIT}"),
                );
                DEFAULT_LIMIT
            }
        };
        let cursor = self.str("iterator").map(Cursor::parse);
        if let Some(c) = &cursor {
            let ok = match key_kind {
                Some(kind) => ids::is_id(kind, &c.key),
                None => {
                    let mut probe = Checker::new();
                    probe.event_type_name(&Loc::query(), &c.key)
                }
            };
            if !ok {
                self.check.error(
                    &Loc::query().field("iterator"),
                    "value_error.iterator",
                    "invalid iterator: use the iterator or prevIterator of a previous page",
                );
            }
        }
        let order = match self.str("order") {
            None => default_order,
            Some("ascending") => Order::Ascending,
            Some("descending") => Order::Descending,
            Some(_) => {
                self.check.error(
                    &Loc::query().field("order"),
                    "type_error.enum",
                    "order must be ascending or descending",
                );
                default_order
            }
        };
        ListQuery {
            limit,
            cursor: if self.check.is_ok() { cursor } else { None },
            order,
        }
    }

    pub fn finish(self) -> Result<(), ApiError> {
        self.check.finish(()).map_err(ApiError::Validation)
    }
}

pub fn parse_datetime(v: &str) -> Option<Timestamp> {
    if let Some(t) = Timestamp::parse(v) {
        return Some(t);
    }
    // Query strings may turn '+' into ' ': "2024-01-01T00:00:00 00:00".
    if let Some(t) = Timestamp::parse(&v.replace(' ', "+")) {
        return Some(t);
    }
    NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| Timestamp(Utc.from_utc_datetime(&n).timestamp_millis()))
}

/// Path parameters, with a JSON error on malformed input.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e| ApiError::BadRequest(format!("invalid path parameter: {}", e.body_text())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes() {
        assert_eq!(
            parse_datetime("2024-01-01T00:00:00Z"),
            Some(Timestamp(1_704_067_200_000))
        );
        assert_eq!(
            parse_datetime("2024-01-01T00:00:00.5"),
            Some(Timestamp(1_704_067_200_500))
        );
        assert_eq!(
            parse_datetime("2024-01-01T01:00:00 01:00"),
            Some(Timestamp(1_704_067_200_000))
        );
        assert_eq!(parse_datetime("soon"), None);
    }

    #[test]
    fn json_errors_point_at_fields() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct T {
            a: Vec<u16>,
        }
        let e = parse_json::<T>(b"{\"a\": [1, \"x\"]}");
        match e {
            Err(ApiError::Validation(v)) => {
                assert_eq!(
                    v[0].loc,
                    vec![serde_json::json!("body"), "a".into(), 1.into()]
                );
                assert_eq!(v[0].kind, "type_error");
            }
            other => panic!("unexpected {other:?}"),
        }
        match parse_json::<T>(b"{\"a\": [1,") {
            Err(ApiError::Validation(v)) => assert_eq!(v[0].kind, "value_error.jsondecode"),
            other => panic!("unexpected {other:?}"),
        }
        match parse_json::<T>(b"{}") {
            Err(ApiError::Validation(v)) => {
                assert_eq!(v[0].kind, "value_error.missing");
                assert_eq!(v[0].loc, vec![serde_json::json!("body"), "a".into()]);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
