//! How the CLI prints: aligned tables for lists, `field  value` lines for
//! one object (or, with `--json`, the API's body as received), and pretty JSON that keeps the sender's key order and number
//! spelling (it re-indents the text instead of re-serialising a parsed value,
//! which would sort keys and reformat numbers).

use std::io::Write as _;

use serde_json::Value;

/// A table printed with columns padded to their widest cell.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    /// Minimum column widths (for output printed in pieces, like `--follow`).
    min: Vec<usize>,
}

fn width(s: &str) -> usize {
    s.chars().count()
}

impl Table {
    pub fn new(headers: Vec<&'static str>) -> Table {
        let min = headers.iter().map(|h| width(h)).collect();
        Table {
            headers,
            rows: Vec::new(),
            min,
        }
    }

    /// Sets minimum widths, column by column.
    pub fn min_widths(mut self, widths: &[usize]) -> Table {
        for (m, w) in self.min.iter_mut().zip(widths) {
            *m = (*m).max(*w);
        }
        self
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn widths(&self) -> Vec<usize> {
        let mut w = self.min.clone();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(col) = w.get_mut(i) {
                    *col = (*col).max(width(cell));
                }
            }
        }
        w
    }

    fn line(cells: &[String], widths: &[usize]) -> String {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(cell);
                let pad = widths
                    .get(i)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(width(cell));
                out.extend(std::iter::repeat_n(' ', pad + 2));
            }
        }
        out.trim_end().to_string()
    }

    /// The header line.
    pub fn header_line(&self) -> String {
        let cells: Vec<String> = self.headers.iter().map(|h| h.to_string()).collect();
        Table::line(&cells, &self.widths())
    }

    /// The row lines, without the header.
    pub fn row_lines(&self) -> Vec<String> {
        let w = self.widths();
        self.rows.iter().map(|r| Table::line(r, &w)).collect()
    }

    /// Prints the header and the rows.
    pub fn print(&self) {
        let mut out = String::new();
        out.push_str(&self.header_line());
        out.push('\n');
        for l in self.row_lines() {
            out.push_str(&l);
            out.push('\n');
        }
        print_str(&out);
    }
}

/// Writes to stdout in one call (so concurrent printers do not interleave)
/// and ignores a closed pipe (`hookd … | head`).
pub fn print_str(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}

/// A JSON value as one table cell: strings bare, `null` as `-`, lists
/// comma-separated, objects as compact JSON.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) if a.is_empty() => "-".into(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(","),
        Value::Object(o) if o.is_empty() => "-".into(),
        Value::Object(_) => v.to_string(),
    }
}

/// One object as `field  value` lines, in the given order, then any other
/// fields. Objects and lists other than of strings print as compact JSON.
pub fn object_lines(v: &Value, order: &[&str]) -> String {
    let Some(map) = v.as_object() else {
        return format!("{v}\n");
    };
    let mut keys: Vec<&str> = order
        .iter()
        .copied()
        .filter(|k| map.contains_key(*k))
        .collect();
    for k in map.keys() {
        if !keys.contains(&k.as_str()) {
            keys.push(k);
        }
    }
    let w = keys.iter().map(|k| width(k)).max().unwrap_or(0);
    let mut out = String::new();
    for k in keys {
        let value = &map[k];
        let text = match value {
            Value::Array(a) if a.iter().all(Value::is_string) => cell(value),
            Value::Array(_) | Value::Object(_) if !cell(value).eq("-") => value.to_string(),
            _ => cell(value),
        };
        out.push_str(&format!("{k:<w$}  {text}\n"));
    }
    out
}

/// Prints the body exactly as the server sent it, plus a newline.
pub fn print_raw(body: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(body);
    if !body.ends_with(b"\n") && !body.is_empty() {
        let _ = out.write_all(b"\n");
    }
    let _ = out.flush();
}

/// `text` re-indented with two spaces, keeping key order and number
/// spelling; `None` when it is not valid JSON.
pub fn pretty_json(text: &[u8]) -> Option<String> {
    serde_json::from_slice::<serde::de::IgnoredAny>(text).ok()?;
    let text = std::str::from_utf8(text).ok()?;
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = text.trim().chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("  ", depth));
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                // An empty object or list stays on one line.
                while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
                    chars.next();
                }
                if matches!(chars.peek(), Some('}') | Some(']')) {
                    if let Some(close) = chars.next() {
                        out.push(close);
                    }
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_ascii_whitespace() => {}
            c => out.push(c),
        }
    }
    Some(out)
}

/// A body for display: pretty JSON, else the text, else a note on its size.
pub fn body_for_display(body: &[u8]) -> String {
    if body.is_empty() {
        return "(empty body)".into();
    }
    if let Some(p) = pretty_json(body) {
        return p;
    }
    match std::str::from_utf8(body) {
        Ok(t) => t.trim_end().to_string(),
        Err(_) => format!("({} bytes, not UTF-8)", body.len()),
    }
}

/// Output without the fields that only repeat others under the name another
/// SDK uses (`eventTypes` = `filterTypes`, `rateLimit` = `throttleRate`,
/// `featureFlag` = the first of `featureFlags`).
pub fn without_aliases(mut v: Value) -> Value {
    if let Some(m) = v.as_object_mut() {
        m.remove("eventTypes");
        m.remove("rateLimit");
        m.remove("featureFlag");
    }
    v
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use serde_json::json;

    #[test]
    fn pretty_json_keeps_order_and_numbers() {
        let p = pretty_json(br#"{"z":1.50,"a":{"s":"x, y: {\"q\"}"},"e":[],"o":{},"l":[1,2]}"#)
            .unwrap();
        assert_eq!(
            p,
            "{\n  \"z\": 1.50,\n  \"a\": {\n    \"s\": \"x, y: {\\\"q\\\"}\"\n  },\n  \"e\": [],\n  \"o\": {},\n  \"l\": [\n    1,\n    2\n  ]\n}"
        );
        // Re-indenting pretty output gives the same text.
        assert_eq!(pretty_json(p.as_bytes()).unwrap(), p);
        assert_eq!(pretty_json(b"not json"), None);
        assert_eq!(pretty_json(b" 42 ").unwrap(), "42");
    }

    #[test]
    fn tables_align_columns() {
        let mut t = Table::new(vec!["ID", "NAME"]);
        t.row(vec!["app_1".into(), "x".into()]);
        t.row(vec!["a".into(), "longer".into()]);
        assert_eq!(t.header_line(), "ID     NAME");
        assert_eq!(t.row_lines(), vec!["app_1  x", "a      longer"]);
    }

    #[test]
    fn cells_and_objects() {
        assert_eq!(cell(&json!(null)), "-");
        assert_eq!(cell(&json!(["a", "b"])), "a,b");
        let text = object_lines(&json!({"b": 1, "id": "x", "m": {"k": "v"}}), &["id"]);
        assert_eq!(text, "id  x\nb   1\nm   {\"k\":\"v\"}\n");
    }
}
