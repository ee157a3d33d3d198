//! `[capabilities.events]`: the topics an extension publishes to and the
//! ones it subscribes to. Topics are scoped to the project on the host: the
//! same topic name in two projects is two topics.

use serde::Deserialize;

use super::{ManifestError, invalid, push_toml_array, quote};

/// Most entries in `publish`, and in `subscribe`.
pub const MAX_TOPICS: usize = 32;
/// Longest topic name, in bytes.
pub const MAX_TOPIC_LEN: usize = 128;

/// `[capabilities.events]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table with `publish` and/or `subscribe`")]
pub(super) struct RawEvents {
    #[serde(default)]
    publish: Vec<String>,
    #[serde(default)]
    subscribe: Vec<String>,
}

/// A validated events grant: each list sorted, without duplicates, and at
/// least one of them not empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventsGrant {
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
}

impl EventsGrant {
    /// Whether the extension may publish to `topic` (exact match).
    pub fn publishes(&self, topic: &str) -> bool {
        self.publish.binary_search_by(|t| t.as_str().cmp(topic)).is_ok()
    }

    /// Whether the extension receives events published to `topic`.
    pub fn subscribes(&self, topic: &str) -> bool {
        self.subscribe.binary_search_by(|t| t.as_str().cmp(topic)).is_ok()
    }

    pub(super) fn canonical_toml(&self, out: &mut String) {
        out.push_str("\n[capabilities.events]\n");
        if !self.publish.is_empty() {
            out.push_str("publish = ");
            push_toml_array(out, &self.publish);
            out.push('\n');
        }
        if !self.subscribe.is_empty() {
            out.push_str("subscribe = ");
            push_toml_array(out, &self.subscribe);
            out.push('\n');
        }
    }
}

/// Whether `topic` is a topic name: dot-separated segments of lower-case
/// ASCII letters, digits, `_` and `-`, the first starting with a letter,
/// at most [`MAX_TOPIC_LEN`] bytes (`db.changes`, `orders.v1.created`).
pub fn is_valid_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= MAX_TOPIC_LEN
        && topic.starts_with(|c: char| c.is_ascii_lowercase())
        && topic.split('.').all(|seg| {
            !seg.is_empty()
                && seg.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        })
}

fn topics(field: &str, list: Vec<String>) -> Result<Vec<String>, ManifestError> {
    if list.len() > MAX_TOPICS {
        return Err(invalid(field, format!("has more than {MAX_TOPICS} entries")));
    }
    for (i, t) in list.iter().enumerate() {
        if !is_valid_topic(t) {
            return Err(invalid(
                format!("{field}[{i}]"),
                format!(
                    "{} is not a topic (dot-separated segments of a-z, 0-9, '_' and '-', \
                     starting with a letter, at most {MAX_TOPIC_LEN} bytes)",
                    quote(t)
                ),
            ));
        }
        if list[..i].contains(t) {
            return Err(invalid(format!("{field}[{i}]"), format!("{} is listed twice", quote(t))));
        }
    }
    let mut list = list;
    list.sort();
    Ok(list)
}

impl RawEvents {
    pub(super) fn resolve(self) -> Result<EventsGrant, ManifestError> {
        let publish = topics("capabilities.events.publish", self.publish)?;
        let subscribe = topics("capabilities.events.subscribe", self.subscribe)?;
        if publish.is_empty() && subscribe.is_empty() {
            return Err(invalid(
                "capabilities.events",
                "must list at least one topic under `publish` or `subscribe`",
            ));
        }
        Ok(EventsGrant { publish, subscribe })
    }
}

#[cfg(test)]
mod tests {
    use super::is_valid_topic;

    #[test]
    fn topic_names() {
        for ok in ["db.changes", "a", "orders.v1.created", "x_y-z.0"] {
            assert!(is_valid_topic(ok), "{ok}");
        }
        for bad in ["", ".a", "a.", "a..b", "Db.changes", "1a", "a b", "a/b", "a.*", &"a".repeat(129)] {
            assert!(!is_valid_topic(bad), "{bad}");
        }
    }
}
