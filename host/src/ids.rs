//! Identifiers the host mints on hot paths: request ids (which key usage
//! records) and event ids.
//!
//! They are time-ordered (version 7) UUIDs: 48 bits of Unix milliseconds,
//! then 74 random bits from the thread's CSPRNG (no `getrandom` system call
//! per id, as `Uuid::now_v7` and `new_v4` make). Stored as text keys of a
//! unique index, ids that grow with time are appended at the index's right
//! edge; random ones land on a random leaf each, and every batch of usage
//! records then dirties (and writes) about one index page per record
//! (docs/BENCHMARKS.md).

/// A new version 7 UUID.
pub fn time_ordered() -> uuid::Uuid {
    let ms = u64::try_from(crate::now_ms()).unwrap_or_default();
    uuid::Builder::from_unix_timestamp_millis(ms, &rand::random()).into_uuid()
}

/// [`time_ordered`] as the hyphenated lower-case text stored and sent.
pub fn time_ordered_string() -> String {
    time_ordered().hyphenated().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_version_7_and_sort_by_time() {
        let a = time_ordered();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = time_ordered();
        assert_eq!(a.get_version_num(), 7);
        assert_ne!(a, b);
        assert!(a.hyphenated().to_string() < b.hyphenated().to_string(), "{a} then {b}");
    }
}
