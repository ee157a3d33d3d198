//! Per-invocation resource usage and the violations of resource limits.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::{Sql, values_list};
use crate::{
    NewViolation, Store, StoreError, UsageEntry, UsageFilter, UsageRecord, UsageSummary, Violation,
    ViolationFilter, clamp_limit, now_ms,
};

const USAGE_COLUMNS: &str = "id, request_id, project_id, extension, version, endpoint, method, \
     status, outcome, fuel_used, wall_time_us, peak_memory_bytes, host_calls, bytes_in, \
     bytes_out, db_rows, db_time_us, created_at";

const VIOLATION_COLUMNS: &str = "id, request_id, project_id, extension, version, kind, \
     limit_value, actual_value, action, detail, created_at";

fn usage_from_row(row: &AnyRow) -> Result<UsageEntry, sqlx::Error> {
    Ok(UsageEntry {
        id: row.try_get("id")?,
        record: UsageRecord {
            request_id: row.try_get("request_id")?,
            project_id: row.try_get("project_id")?,
            extension: row.try_get("extension")?,
            version: row.try_get("version")?,
            endpoint: row.try_get("endpoint")?,
            method: row.try_get("method")?,
            status: row.try_get("status")?,
            outcome: row.try_get("outcome")?,
            fuel_used: row.try_get("fuel_used")?,
            wall_time_us: row.try_get("wall_time_us")?,
            peak_memory_bytes: row.try_get("peak_memory_bytes")?,
            host_calls: row.try_get("host_calls")?,
            bytes_in: row.try_get("bytes_in")?,
            bytes_out: row.try_get("bytes_out")?,
            db_rows: row.try_get("db_rows")?,
            db_time_us: row.try_get("db_time_us")?,
            created_at: row.try_get("created_at")?,
        },
    })
}

fn violation_from_row(row: &AnyRow) -> Result<Violation, sqlx::Error> {
    Ok(Violation {
        id: row.try_get("id")?,
        request_id: row.try_get("request_id")?,
        project_id: row.try_get("project_id")?,
        extension: row.try_get("extension")?,
        version: row.try_get("version")?,
        kind: row.try_get("kind")?,
        limit_value: row.try_get("limit_value")?,
        actual_value: row.try_get("actual_value")?,
        action: row.try_get("action")?,
        detail: row.try_get("detail")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Appends the time window, cursor, order and limit shared by the log queries.
fn page(sql: &mut Sql, since: Option<i64>, until: Option<i64>, before_id: Option<i64>, limit: Option<u32>) {
    sql.and_cmp("created_at", ">=", since)
        .and_cmp("created_at", "<", until)
        .and_cmp("id", "<", before_id)
        .push(" ORDER BY id DESC LIMIT ")
        .bind_int(clamp_limit(limit));
}

/// Rows per multi-row INSERT of usage records.
const USAGE_ROWS_PER_STATEMENT: usize = 64;
/// Columns bound per usage row.
const USAGE_COLUMNS_PER_ROW: usize = 17;

impl Store {
    /// Stores a batch of usage records in one transaction. A record whose
    /// `request_id` is already stored is skipped, so retrying a batch is safe.
    /// Returns how many rows were inserted.
    pub async fn insert_usage_batch(&self, records: &[UsageRecord]) -> Result<u64, StoreError> {
        if records.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await?;
        let mut inserted = 0;
        // Multi-row INSERTs: one statement per chunk instead of one per row,
        // the store's main cost per invocation. 17 parameters a row keeps a
        // chunk far below both engines' parameter limits.
        for chunk in records.chunks(USAGE_ROWS_PER_STATEMENT) {
            let mut sql = String::from(
                "INSERT INTO resource_usage_log (request_id, project_id, extension, version, \
                 endpoint, method, status, outcome, fuel_used, wall_time_us, peak_memory_bytes, \
                 host_calls, bytes_in, bytes_out, db_rows, db_time_us, created_at) VALUES ",
            );
            sql.push_str(&values_list(self.kind, chunk.len(), USAGE_COLUMNS_PER_ROW));
            sql.push_str(" ON CONFLICT (request_id) DO NOTHING");
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for r in chunk {
                q = q
                    .bind(r.request_id.clone())
                    .bind(r.project_id.clone())
                    .bind(r.extension.clone())
                    .bind(r.version.clone())
                    .bind(r.endpoint.clone())
                    .bind(r.method.clone())
                    .bind(r.status)
                    .bind(r.outcome.clone())
                    .bind(r.fuel_used)
                    .bind(r.wall_time_us)
                    .bind(r.peak_memory_bytes)
                    .bind(r.host_calls)
                    .bind(r.bytes_in)
                    .bind(r.bytes_out)
                    .bind(r.db_rows)
                    .bind(r.db_time_us)
                    .bind(r.created_at);
            }
            inserted += q.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// Usage rows matching `filter`, newest first.
    pub async fn query_usage(&self, filter: &UsageFilter) -> Result<Vec<UsageEntry>, StoreError> {
        let mut sql = Sql::new("SELECT ");
        sql.push(USAGE_COLUMNS)
            .push(" FROM resource_usage_log WHERE project_id = ")
            .bind_text(&filter.project_id)
            .and_eq("extension", filter.extension.as_deref())
            .and_eq("version", filter.version.as_deref())
            .and_eq("outcome", filter.outcome.as_deref());
        page(&mut sql, filter.since, filter.until, filter.before_id, filter.limit);
        let rows = sql.build().fetch_all(&self.pool).await?;
        Ok(rows.iter().map(usage_from_row).collect::<Result<_, _>>()?)
    }

    /// Totals per (extension, version, outcome) for the project, optionally
    /// for one extension, ordered by those three.
    pub async fn usage_summary(
        &self,
        project: &str,
        extension: Option<&str>,
    ) -> Result<Vec<UsageSummary>, StoreError> {
        // PostgreSQL sums BIGINT as NUMERIC, which the Any driver cannot
        // decode: cast back.
        let mut sql = Sql::new(
            "SELECT extension, version, outcome, COUNT(*) AS count, \
             CAST(SUM(fuel_used) AS BIGINT) AS fuel_used, \
             CAST(SUM(wall_time_us) AS BIGINT) AS wall_time_us, \
             MAX(peak_memory_bytes) AS max_peak_memory_bytes \
             FROM resource_usage_log WHERE project_id = ",
        );
        sql.bind_text(project)
            .and_eq("extension", extension)
            .push(" GROUP BY extension, version, outcome ORDER BY extension, version, outcome");
        let rows = sql.build().fetch_all(&self.pool).await?;
        let summary = rows
            .iter()
            .map(|row| {
                Ok(UsageSummary {
                    extension: row.try_get("extension")?,
                    version: row.try_get("version")?,
                    outcome: row.try_get("outcome")?,
                    count: row.try_get("count")?,
                    fuel_used: row.try_get("fuel_used")?,
                    wall_time_us: row.try_get("wall_time_us")?,
                    max_peak_memory_bytes: row.try_get("max_peak_memory_bytes")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(summary)
    }

    /// Records a violation of a resource limit, stamped now.
    pub async fn insert_violation(&self, new: &NewViolation) -> Result<Violation, StoreError> {
        let created_at = now_ms();
        let row = sqlx::query(
            "INSERT INTO resource_violations (request_id, project_id, extension, version, kind, \
             limit_value, actual_value, action, detail, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(new.request_id.as_deref())
        .bind(&new.project_id)
        .bind(&new.extension)
        .bind(&new.version)
        .bind(&new.kind)
        .bind(new.limit_value)
        .bind(new.actual_value)
        .bind(&new.action)
        .bind(&new.detail)
        .bind(created_at)
        .fetch_one(&self.pool)
        .await?;
        Ok(Violation {
            id: row.try_get("id")?,
            request_id: new.request_id.clone(),
            project_id: new.project_id.clone(),
            extension: new.extension.clone(),
            version: new.version.clone(),
            kind: new.kind.clone(),
            limit_value: new.limit_value,
            actual_value: new.actual_value,
            action: new.action.clone(),
            detail: new.detail.clone(),
            created_at,
        })
    }

    /// Violations matching `filter`, newest first.
    pub async fn query_violations(&self, filter: &ViolationFilter) -> Result<Vec<Violation>, StoreError> {
        let mut sql = Sql::new("SELECT ");
        sql.push(VIOLATION_COLUMNS)
            .push(" FROM resource_violations WHERE project_id = ")
            .bind_text(&filter.project_id)
            .and_eq("extension", filter.extension.as_deref())
            .and_eq("version", filter.version.as_deref())
            .and_eq("kind", filter.kind.as_deref());
        page(&mut sql, filter.since, filter.until, filter.before_id, filter.limit);
        let rows = sql.build().fetch_all(&self.pool).await?;
        Ok(rows.iter().map(violation_from_row).collect::<Result<_, _>>()?)
    }
}
