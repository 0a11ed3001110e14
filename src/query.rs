//! `ironspider query "SQL"`: runs a query on a running server and prints a table.

use anyhow::{Context, bail};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::Value;

/// Sends `sql` to `server`'s `/api/v1/sql` and returns the rows.
pub async fn fetch(server: &str, sql: &str) -> anyhow::Result<Vec<serde_json::Map<String, Value>>> {
    let url = format!("{}/api/v1/sql", server.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&url)
        .body(sql.to_string())
        .send()
        .await
        .with_context(|| format!("cannot reach {url}; is `ironspider serve` running?"))?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        bail!("query failed ({status}): {}", text.trim());
    }
    serde_json::from_str(&text).context("the server's answer is not a JSON array of rows")
}

/// Renders rows as a table, columns in the order of the first row.
pub fn render(rows: &[serde_json::Map<String, Value>]) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    let Some(first) = rows.first() else { return "(no rows)".to_string() };
    let columns: Vec<&String> = first.keys().collect();
    table.set_header(columns.iter().map(|c| c.as_str()));
    for row in rows {
        table.add_row(columns.iter().map(|c| match row.get(*c) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        }));
    }
    format!("{table}\n({} row{})", rows.len(), if rows.len() == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_render_in_column_order_with_empty_nulls() {
        let rows: Vec<serde_json::Map<String, Value>> =
            serde_json::from_str(r#"[{"node":"a","value":1.5},{"node":null,"value":2}]"#).unwrap();
        let text = render(&rows);
        let header = text.lines().nth(1).unwrap();
        assert!(header.find("node").unwrap() < header.find("value").unwrap(), "{text}");
        assert!(text.contains("1.5") && text.ends_with("(2 rows)"), "{text}");
        assert_eq!(render(&[]), "(no rows)");
    }
}
