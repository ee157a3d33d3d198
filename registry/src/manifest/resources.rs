//! `[resources]`: per-extension limits, each defaulted and capped by a host maximum.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::{ManifestError, invalid, quote};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

/// Fuel per invocation when the manifest says nothing.
pub const DEFAULT_FUEL: u64 = 100_000_000;
/// Host maximum for `resources.fuel`: a manifest is hostile input and may not
/// ask for an unbounded CPU budget.
pub const MAX_FUEL: u64 = 10_000_000_000;

/// Aggregate memory (all memories and tables) when the manifest says nothing.
pub const DEFAULT_MEMORY_BYTES: u64 = 64 * MIB;
/// Host maximum for `resources.memory` (hostile input: caps what one
/// invocation may reserve).
pub const MAX_MEMORY_BYTES: u64 = 4 * GIB;
/// Host minimum for `resources.memory`: one WebAssembly page.
pub const MIN_MEMORY_BYTES: u64 = 64 * KIB;

/// Wall-clock deadline per invocation when the manifest says nothing.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
/// Host maximum for `resources.timeout-ms` (hostile input).
pub const MAX_TIMEOUT_MS: u64 = 60_000;

/// In-flight invocations of one extension per host when the manifest says nothing.
pub const DEFAULT_CONCURRENCY: u32 = 32;
/// Host maximum for `resources.concurrency` (hostile input).
pub const MAX_CONCURRENCY: u32 = 1024;

/// Longest accepted memory size string such as `"64MiB"` (hostile input; the
/// longest meaningful value is far shorter).
const MAX_MEMORY_STRING_LEN: usize = 32;

/// Resolved resource limits of one extension version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resources {
    /// Fuel budget per invocation.
    pub fuel: u64,
    /// Aggregate byte limit over all linear memories and tables of an instance.
    pub memory_bytes: u64,
    /// Wall-clock deadline per invocation.
    pub timeout: Duration,
    /// In-flight invocations of this extension per host.
    pub concurrency: u32,
}

impl Default for Resources {
    fn default() -> Self {
        Self {
            fuel: DEFAULT_FUEL,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            timeout: Duration::from_millis(DEFAULT_TIMEOUT_MS),
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

/// `[resources]` as written, before defaults and caps.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawResources {
    #[serde(default, deserialize_with = "integer")]
    fuel: Option<i64>,
    memory: Option<RawMemory>,
    #[serde(default, deserialize_with = "integer")]
    timeout_ms: Option<i64>,
    #[serde(default, deserialize_with = "integer")]
    concurrency: Option<i64>,
}

/// An integer field, with a message that says "an integer" rather than "i64".
fn integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    struct IntegerVisitor;

    impl Visitor<'_> for IntegerVisitor {
        type Value = i64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an integer")
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
            // Saturate: anything past i64::MAX is above every host maximum.
            Ok(i64::try_from(v).unwrap_or(i64::MAX))
        }
    }

    deserializer.deserialize_i64(IntegerVisitor).map(Some)
}

/// `resources.memory` as written: an integer of bytes or a size string.
#[derive(Debug)]
enum RawMemory {
    Bytes(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for RawMemory {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MemoryVisitor;

        impl Visitor<'_> for MemoryVisitor {
            type Value = RawMemory;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"an integer number of bytes or a size such as "64MiB""#)
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawMemory, E> {
                Ok(RawMemory::Bytes(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawMemory, E> {
                Ok(RawMemory::Bytes(i64::try_from(v).unwrap_or(i64::MAX)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawMemory, E> {
                Ok(RawMemory::Text(v.to_owned()))
            }
        }

        deserializer.deserialize_any(MemoryVisitor)
    }
}

impl RawResources {
    pub(super) fn resolve(self) -> Result<Resources, ManifestError> {
        let fuel = match self.fuel {
            None => DEFAULT_FUEL,
            Some(v) => bounded("resources.fuel", v, 1, MAX_FUEL, &v.to_string())?,
        };
        let memory_bytes = match self.memory {
            None => DEFAULT_MEMORY_BYTES,
            Some(RawMemory::Bytes(v)) => {
                let shown = v.to_string();
                bounded_bytes("resources.memory", v, &shown)?
            }
            Some(RawMemory::Text(text)) => {
                let bytes = parse_memory_text(&text)?;
                // Saturate: anything past i64::MAX is above the maximum anyway.
                bounded_bytes("resources.memory", i64::try_from(bytes).unwrap_or(i64::MAX), &text)?
            }
        };
        let timeout_ms = match self.timeout_ms {
            None => DEFAULT_TIMEOUT_MS,
            Some(v) => bounded("resources.timeout-ms", v, 1, MAX_TIMEOUT_MS, &v.to_string())?,
        };
        let concurrency = match self.concurrency {
            None => DEFAULT_CONCURRENCY,
            Some(v) => {
                let n = bounded("resources.concurrency", v, 1, u64::from(MAX_CONCURRENCY), &v.to_string())?;
                u32::try_from(n)
                    .map_err(|_| invalid("resources.concurrency", "is out of range".to_owned()))?
            }
        };
        Ok(Resources { fuel, memory_bytes, timeout: Duration::from_millis(timeout_ms), concurrency })
    }
}

fn bounded(field: &str, value: i64, min: u64, max: u64, shown: &str) -> Result<u64, ManifestError> {
    let Ok(v) = u64::try_from(value) else {
        return Err(invalid(field, format!("{} must be at least {min}", quote(shown))));
    };
    if v < min {
        return Err(invalid(field, format!("{} must be at least {min}", quote(shown))));
    }
    if v > max {
        return Err(invalid(field, format!("{} is above the host maximum of {max}", quote(shown))));
    }
    Ok(v)
}

fn bounded_bytes(field: &str, value: i64, shown: &str) -> Result<u64, ManifestError> {
    let v = u64::try_from(value).unwrap_or(0);
    if v < MIN_MEMORY_BYTES {
        return Err(invalid(
            field,
            format!("{} is below the host minimum of {}", quote(shown), human_bytes(MIN_MEMORY_BYTES)),
        ));
    }
    if v > MAX_MEMORY_BYTES {
        return Err(invalid(
            field,
            format!("{} is above the host maximum of {}", quote(shown), human_bytes(MAX_MEMORY_BYTES)),
        ));
    }
    Ok(v)
}

/// Parses `"<digits>KiB"`, `"<digits>MiB"` or `"<digits>GiB"`. Saturates at
/// `u64::MAX` so the caller reports "above the host maximum".
fn parse_memory_text(text: &str) -> Result<u64, ManifestError> {
    let bad = || {
        invalid(
            "resources.memory",
            format!(
                "{} is not a size; write an integer of bytes or digits followed by KiB, MiB or GiB (\"64MiB\")",
                quote(text)
            ),
        )
    };
    if text.len() > MAX_MEMORY_STRING_LEN {
        return Err(bad());
    }
    let (digits, unit) = if let Some(d) = text.strip_suffix("KiB") {
        (d, KIB)
    } else if let Some(d) = text.strip_suffix("MiB") {
        (d, MIB)
    } else if let Some(d) = text.strip_suffix("GiB") {
        (d, GIB)
    } else {
        return Err(bad());
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = digits.parse().unwrap_or(u64::MAX);
    Ok(n.saturating_mul(unit))
}

/// "4 GiB", "64 KiB", "1000 bytes": for messages.
pub(super) fn human_bytes(bytes: u64) -> String {
    for (unit, name) in [(GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")] {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{} {name}", bytes / unit);
        }
    }
    format!("{bytes} bytes")
}

/// The canonical TOML value of a memory size: `"64MiB"` when exact, else an integer.
pub(super) fn canonical_memory(bytes: u64) -> String {
    for (unit, name) in [(GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")] {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("\"{}{name}\"", bytes / unit);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn memory_text_accepts_the_three_units_and_rejects_others() {
        assert_eq!(parse_memory_text("512KiB").ok(), Some(512 * KIB));
        assert_eq!(parse_memory_text("64MiB").ok(), Some(64 * MIB));
        assert_eq!(parse_memory_text("1GiB").ok(), Some(GIB));
        for bad in ["", "MiB", "64", "64mib", "64 MiB", "-1MiB", "1.5GiB", "64MB"] {
            assert!(parse_memory_text(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(parse_memory_text("99999999999999999999GiB").ok(), Some(u64::MAX));
    }

    #[test]
    fn canonical_memory_is_exact_and_compact() {
        assert_eq!(canonical_memory(64 * MIB), "\"64MiB\"");
        assert_eq!(canonical_memory(4 * GIB), "\"4GiB\"");
        assert_eq!(canonical_memory(100_000), "100000");
        assert_eq!(human_bytes(4 * GIB), "4 GiB");
    }
}
