//! Browsing: search, one extension's summary, the marketplace order.

use std::cmp::Ordering;
use std::collections::HashMap;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{ExtensionSummary, Page, RegistryStore, Stats, StoreError, clamp_limit, parse_json_list};
use magflock_store::db::Sql;

const SUMMARY_SELECT: &str = "SELECT e.name, e.publisher, e.description, e.keywords, \
     (SELECT COUNT(*) FROM installations i WHERE i.extension = e.name) AS total_installations, \
     (SELECT COUNT(*) FROM installations i WHERE i.extension = e.name AND i.active = 1) AS active_installations, \
     (SELECT COUNT(*) FROM ratings r WHERE r.extension = e.name) AS ratings_count, \
     (SELECT CAST(COALESCE(SUM(r.stars), 0) AS BIGINT) FROM ratings r WHERE r.extension = e.name) AS stars_sum \
     FROM extensions e";

/// `q` as a LIKE pattern matching it anywhere, with `\`, `%` and `_` escaped.
pub(crate) fn like_pattern(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 2);
    out.push('%');
    for c in q.to_lowercase().chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

fn push_filter(sql: &mut Sql, q: Option<&str>) {
    if let Some(q) = q.filter(|q| !q.is_empty()) {
        let pattern = like_pattern(q);
        sql.push(" WHERE LOWER(e.name) LIKE ")
            .bind_text(&pattern)
            .push(" ESCAPE '\\' OR LOWER(e.description) LIKE ")
            .bind_text(&pattern)
            .push(" ESCAPE '\\' OR LOWER(e.keywords) LIKE ")
            .bind_text(&pattern)
            .push(" ESCAPE '\\'");
    }
}

fn summary_from_row(row: &AnyRow) -> Result<ExtensionSummary, StoreError> {
    let keywords: String = row.try_get("keywords")?;
    let ratings_count: i64 = row.try_get("ratings_count")?;
    let stars_sum: i64 = row.try_get("stars_sum")?;
    Ok(ExtensionSummary {
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        keywords: parse_json_list(&keywords, "extensions.keywords")?,
        publisher: row.try_get("publisher")?,
        latest_version: None,
        stats: Stats {
            total_installations: row.try_get("total_installations")?,
            active_installations: row.try_get("active_installations")?,
            #[allow(clippy::cast_precision_loss)] // counts of ratings are far below 2^52
            average_rating: (ratings_count > 0).then(|| stars_sum as f64 / ratings_count as f64),
            ratings_count,
            stars_sum,
        },
    })
}

/// Marketplace order: rated before unrated, higher average first (compared
/// exactly, as fractions), more ratings first, more active installations
/// first, then by name.
fn marketplace_order(a: &ExtensionSummary, b: &ExtensionSummary) -> Ordering {
    let (sa, sb) = (&a.stats, &b.stats);
    let rated = (sb.ratings_count > 0).cmp(&(sa.ratings_count > 0));
    let average = if sa.ratings_count > 0 && sb.ratings_count > 0 {
        // a_sum / a_count vs b_sum / b_count, without division.
        (i128::from(sb.stars_sum) * i128::from(sa.ratings_count))
            .cmp(&(i128::from(sa.stars_sum) * i128::from(sb.ratings_count)))
    } else {
        Ordering::Equal
    };
    rated
        .then(average)
        .then(sb.ratings_count.cmp(&sa.ratings_count))
        .then(sb.active_installations.cmp(&sa.active_installations))
        .then(a.name.cmp(&b.name))
}

impl RegistryStore {
    /// Fills `latest_version`: the highest version neither yanked nor revoked.
    async fn fill_latest(&self, items: &mut [ExtensionSummary]) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        let mut sql = Sql::new("SELECT extension, version FROM versions WHERE yanked = 0 AND extension IN (");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind_text(&item.name);
        }
        sql.push(")");
        let mut latest: HashMap<String, semver::Version> = HashMap::new();
        for row in sql.build().fetch_all(&self.pool).await? {
            let extension: String = row.try_get("extension")?;
            let version: String = row.try_get("version")?;
            let Ok(version) = semver::Version::parse(&version) else { continue };
            let entry = latest.entry(extension).or_insert_with(|| version.clone());
            if version > *entry {
                *entry = version;
            }
        }
        for item in items {
            item.latest_version = latest.get(&item.name).map(ToString::to_string);
        }
        Ok(())
    }

    /// Extensions whose name, description or keywords contain `q`
    /// (case-insensitive), by name, with the total count of matches.
    pub async fn search(
        &self,
        q: Option<&str>,
        limit: Option<u32>,
        offset: u32,
    ) -> Result<Page<ExtensionSummary>, StoreError> {
        let mut count = Sql::new("SELECT COUNT(*) AS n FROM extensions e");
        push_filter(&mut count, q);
        let total: i64 = count.build().fetch_one(&self.pool).await?.try_get("n")?;

        let mut sql = Sql::new(SUMMARY_SELECT);
        push_filter(&mut sql, q);
        sql.push(" ORDER BY e.name LIMIT ")
            .bind_int(clamp_limit(limit))
            .push(" OFFSET ")
            .bind_int(i64::from(offset));
        let rows = sql.build().fetch_all(&self.pool).await?;
        let mut items = rows.iter().map(summary_from_row).collect::<Result<Vec<_>, _>>()?;
        self.fill_latest(&mut items).await?;
        Ok(Page { items, total })
    }

    /// One extension's summary.
    pub async fn get_extension(&self, name: &str) -> Result<Option<ExtensionSummary>, StoreError> {
        let mut sql = Sql::new(SUMMARY_SELECT);
        sql.push(" WHERE e.name = ").bind_text(name);
        let Some(row) = sql.build().fetch_optional(&self.pool).await? else {
            return Ok(None);
        };
        let mut items = vec![summary_from_row(&row)?];
        self.fill_latest(&mut items).await?;
        Ok(items.pop())
    }

    /// The marketplace: installable extensions (with a version neither
    /// yanked nor revoked) in marketplace order.
    pub async fn marketplace(&self, limit: Option<u32>) -> Result<Page<ExtensionSummary>, StoreError> {
        let rows = Sql::new(SUMMARY_SELECT).build().fetch_all(&self.pool).await?;
        let mut items = rows.iter().map(summary_from_row).collect::<Result<Vec<_>, _>>()?;
        self.fill_latest(&mut items).await?;
        items.retain(|i| i.latest_version.is_some());
        items.sort_by(marketplace_order);
        let total = i64::try_from(items.len()).unwrap_or(i64::MAX);
        items.truncate(usize::try_from(clamp_limit(limit)).unwrap_or(usize::MAX));
        Ok(Page { items, total })
    }
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn like_pattern_escapes_wildcards_and_lowercases() {
        assert_eq!(like_pattern("Ab%_\\"), "%ab\\%\\_\\\\%");
    }
}
