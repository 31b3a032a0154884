//! Listings: Svix-style cursor pagination (`limit`, `iterator`,
//! `prevIterator`, `done`) and the filters of message and attempt lists.
//!
//! Both stores page by keyset on a sortable key: [`ListQuery::scan`] says
//! which way to walk and from where, [`Page::from_rows`] turns the rows
//! fetched into a page. Backends only turn a [`Scan`] into SQL.

use crate::model::DeliveryStatus;
use crate::time::Timestamp;

/// Sort order of a list (Svix `Ordering`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Ascending,
    Descending,
}

/// A position in a list, decoded from an `iterator` query parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The sort key of the item the page starts after.
    pub key: String,
    /// `true` for a `prevIterator`: the page before `key`.
    pub backwards: bool,
}

impl Cursor {
    /// Parses `KEY` (next page) or `-KEY` (previous page).
    pub fn parse(s: &str) -> Cursor {
        match s.strip_prefix('-') {
            Some(k) => Cursor {
                key: k.to_string(),
                backwards: true,
            },
            None => Cursor {
                key: s.to_string(),
                backwards: false,
            },
        }
    }
}

#[derive(Debug, Clone)]
pub struct ListQuery {
    pub limit: usize,
    pub cursor: Option<Cursor>,
    pub order: Order,
}

/// How a backend fetches one page: rows with keys strictly beyond `after`
/// (below it when `descending`), sorted that way, at most `fetch` of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan<'a> {
    pub descending: bool,
    pub after: Option<&'a str>,
    /// `limit + 1`: the extra row only tells whether more exist.
    pub fetch: usize,
}

impl ListQuery {
    /// The first page of `limit` rows in `order`.
    pub fn first(limit: usize, order: Order) -> ListQuery {
        ListQuery {
            limit,
            cursor: None,
            order,
        }
    }

    /// Moves on to the page after `page`; `false` when `page` was the last.
    /// For callers that walk a whole listing page by page.
    pub fn advance<T>(&mut self, page: &Page<T>) -> bool {
        match &page.iterator {
            Some(it) if !page.done => {
                self.cursor = Some(Cursor::parse(it));
                true
            }
            _ => false,
        }
    }

    /// The keyset walk this query asks for. A `prevIterator` walks against
    /// the list's order; [`Page::from_rows`] puts the rows back in order.
    pub fn scan(&self) -> Scan<'_> {
        let backwards = self.cursor.as_ref().is_some_and(|c| c.backwards);
        Scan {
            descending: (self.order == Order::Descending) != backwards,
            after: self.cursor.as_ref().map(|c| c.key.as_str()),
            fetch: self.limit + 1,
        }
    }
}

/// One page of results in list order, with Svix's iterator fields.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub iterator: Option<String>,
    pub prev_iterator: Option<String>,
    pub done: bool,
}

impl<T> Page<T> {
    /// Builds a page from the rows a [`ListQuery::scan`] fetched.
    pub fn from_rows(mut rows: Vec<T>, q: &ListQuery, key: impl Fn(&T) -> String) -> Page<T> {
        let more = rows.len() > q.limit;
        rows.truncate(q.limit);
        let backwards = q.cursor.as_ref().is_some_and(|c| c.backwards);
        if backwards {
            rows.reverse();
        }
        let iterator = rows.last().map(&key);
        let prev_iterator = rows.first().map(|r| format!("-{}", key(r)));
        // `done` says whether there is nothing further in the direction we
        // moved; walking backwards, the forward direction always has more.
        let done = if backwards { false } else { !more };
        Page {
            data: rows,
            iterator,
            prev_iterator,
            done,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            data: self.data.into_iter().map(f).collect(),
            iterator: self.iterator,
            prev_iterator: self.prev_iterator,
            done: self.done,
        }
    }
}

/// Filters on the message of a listed row (messages, endpoint messages, attempts).
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub event_types: Option<Vec<String>>,
    pub channel: Option<String>,
    pub before: Option<Timestamp>,
    pub after: Option<Timestamp>,
}

impl MessageFilter {
    /// The event types to match, `None` when any type matches (an empty list is no filter).
    pub fn types(&self) -> Option<&[String]> {
        self.event_types.as_deref().filter(|t| !t.is_empty())
    }
}

/// Filters for attempt and destination listings.
#[derive(Debug, Clone, Default)]
pub struct AttemptFilter {
    pub status: Option<DeliveryStatus>,
    /// 0 (no response), 100, 200, 300, 400, 500.
    pub status_code_class: Option<i32>,
    pub endpoint_id: Option<String>,
    /// On the attempt's message; `before`/`after` apply to the attempt's time.
    pub msg: MessageFilter,
    pub with_msg: bool,
}

impl AttemptFilter {
    /// The response status codes `[low, high)` of the class asked for: class
    /// 0 is "no response" (recorded as status 0), class 200 is 200–299.
    pub fn status_code_range(&self) -> Option<(i32, i32)> {
        self.status_code_class.map(|class| {
            if class == 0 {
                (0, 1)
            } else {
                (class, class.saturating_add(100))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn advance_walks_pages_until_the_last() {
        let mut q = super::ListQuery::first(2, super::Order::Ascending);
        let page = super::Page::from_rows(vec!["a", "b", "c"], &q, |s| s.to_string());
        assert!(q.advance(&page));
        assert_eq!(q.cursor.as_ref().map(|c| c.key.as_str()), Some("b"));
        let last = super::Page::from_rows(vec!["c"], &q, |s| s.to_string());
        assert!(!q.advance(&last));
    }

    use super::*;

    fn q(limit: usize, cursor: Option<&str>, order: Order) -> ListQuery {
        ListQuery {
            limit,
            cursor: cursor.map(Cursor::parse),
            order,
        }
    }

    #[test]
    fn page_forward() {
        let p = Page::from_rows(vec![1, 2, 3], &q(2, None, Order::Ascending), |x| {
            x.to_string()
        });
        assert_eq!(p.data, vec![1, 2]);
        assert_eq!(p.iterator.as_deref(), Some("2"));
        assert_eq!(p.prev_iterator.as_deref(), Some("-1"));
        assert!(!p.done);
        let p = Page::from_rows(vec![3], &q(2, Some("2"), Order::Ascending), |x| {
            x.to_string()
        });
        assert!(p.done);
    }

    #[test]
    fn page_backward_restores_list_order() {
        // Fetched walking backwards from 5: 4, 3, (2 = extra).
        let p = Page::from_rows(vec![4, 3, 2], &q(2, Some("-5"), Order::Ascending), |x| {
            x.to_string()
        });
        assert_eq!(p.data, vec![3, 4]);
        assert_eq!(p.iterator.as_deref(), Some("4"));
        assert_eq!(p.prev_iterator.as_deref(), Some("-3"));
    }

    #[test]
    fn scans_walk_against_the_order_for_previous_pages() {
        let first = q(10, None, Order::Ascending);
        assert_eq!(
            first.scan(),
            Scan {
                descending: false,
                after: None,
                fetch: 11
            }
        );
        assert!(q(10, None, Order::Descending).scan().descending);
        let back_desc = q(10, Some("-k"), Order::Descending);
        assert!(!back_desc.scan().descending);
        let back_asc = q(10, Some("-k"), Order::Ascending);
        assert!(back_asc.scan().descending);
        assert_eq!(back_asc.scan().after, Some("k"));
        let next_desc = q(10, Some("k"), Order::Descending);
        assert_eq!(next_desc.scan().after, Some("k"));
        assert!(next_desc.scan().descending);
    }

    #[test]
    fn status_code_classes() {
        let f = |c| AttemptFilter {
            status_code_class: Some(c),
            ..Default::default()
        };
        assert_eq!(f(0).status_code_range(), Some((0, 1)));
        assert_eq!(f(400).status_code_range(), Some((400, 500)));
        assert_eq!(AttemptFilter::default().status_code_range(), None);
    }
}
