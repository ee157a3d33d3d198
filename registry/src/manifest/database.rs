//! `[capabilities.database]`: what an extension may do in its project's
//! database. The grant is enforced by the database itself on the host; here
//! it is only parsed, strictly.

use serde::Deserialize;

use super::{ManifestError, invalid, push_toml_array, quote};

/// Most entries in `tables`.
pub const MAX_DATABASE_TABLES: usize = 64;
/// Longest table name, in bytes (PostgreSQL's identifier limit).
pub const MAX_TABLE_NAME_LEN: usize = 63;
/// The `tables` entry that grants every table of the project (never the
/// host's own tables, nor another project's).
pub const ALL_TABLES: &str = "*";

/// `[capabilities.database]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table with `access` and `tables`")]
pub(super) struct RawDatabase {
    access: String,
    tables: Vec<String>,
}

/// Read, or read and write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatabaseAccess {
    /// `SELECT` only.
    Read,
    /// `SELECT`, `INSERT`, `UPDATE`, `DELETE` (never DDL).
    ReadWrite,
}

impl DatabaseAccess {
    pub fn as_str(self) -> &'static str {
        match self {
            DatabaseAccess::Read => "read",
            DatabaseAccess::ReadWrite => "read-write",
        }
    }
}

/// Which tables the grant covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DatabaseTables {
    /// Every table of the project database (`tables = ["*"]`).
    All,
    /// Exactly these tables, sorted, without duplicates.
    Only(Vec<String>),
}

/// A validated database grant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DatabaseGrant {
    pub access: DatabaseAccess,
    pub tables: DatabaseTables,
}

impl DatabaseGrant {
    /// Whether the grant allows writes.
    pub fn writes(&self) -> bool {
        self.access == DatabaseAccess::ReadWrite
    }

    /// Whether `table` is in the grant's table list (exact, case-sensitive).
    pub fn covers(&self, table: &str) -> bool {
        match &self.tables {
            DatabaseTables::All => true,
            DatabaseTables::Only(list) => list.iter().any(|t| t == table),
        }
    }

    pub(super) fn canonical_toml(&self, out: &mut String) {
        out.push_str("\n[capabilities.database]\n");
        out.push_str("access = \"");
        out.push_str(self.access.as_str());
        out.push_str("\"\ntables = ");
        match &self.tables {
            DatabaseTables::All => push_toml_array(out, &[ALL_TABLES]),
            DatabaseTables::Only(list) => push_toml_array(out, list),
        }
        out.push('\n');
    }
}

/// A table name a grant may list: an SQL identifier that needs no quoting,
/// not one of the engines' own (`sqlite_*`, `pg_*`).
fn check_table(field: &str, name: &str) -> Result<(), ManifestError> {
    let why = if name.is_empty() || name.len() > MAX_TABLE_NAME_LEN {
        format!("must be 1 to {MAX_TABLE_NAME_LEN} bytes")
    } else if !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        format!("{} is not a table name (letters, digits and '_', not starting with a digit)", quote(name))
    } else if name.to_ascii_lowercase().starts_with("sqlite_") || name.to_ascii_lowercase().starts_with("pg_")
    {
        format!("{} names a table of the database engine itself", quote(name))
    } else {
        return Ok(());
    };
    Err(invalid(field, why))
}

impl RawDatabase {
    pub(super) fn resolve(self) -> Result<DatabaseGrant, ManifestError> {
        let access = match self.access.as_str() {
            "read" => DatabaseAccess::Read,
            "read-write" => DatabaseAccess::ReadWrite,
            other => {
                return Err(invalid(
                    "capabilities.database.access",
                    format!("{} is not an access level (one of read, read-write)", quote(other)),
                ));
            }
        };
        let field = "capabilities.database.tables";
        if self.tables.is_empty() {
            return Err(invalid(field, "must list at least one table, or \"*\" for all of them"));
        }
        if self.tables.len() > MAX_DATABASE_TABLES {
            return Err(invalid(field, format!("has more than {MAX_DATABASE_TABLES} entries")));
        }
        if self.tables.iter().any(|t| t == ALL_TABLES) {
            if self.tables.len() > 1 {
                return Err(invalid(field, "\"*\" grants every table and must be the only entry"));
            }
            return Ok(DatabaseGrant { access, tables: DatabaseTables::All });
        }
        for (i, t) in self.tables.iter().enumerate() {
            check_table(&format!("{field}[{i}]"), t)?;
            if self.tables[..i].contains(t) {
                return Err(invalid(format!("{field}[{i}]"), format!("{} is listed twice", quote(t))));
            }
        }
        let mut tables = self.tables;
        tables.sort();
        Ok(DatabaseGrant { access, tables: DatabaseTables::Only(tables) })
    }
}
