//! The `teams` reference table: team names to the `team_id` every growing table carries.

use sqlx::PgConnection;
use std::collections::HashMap;

/// Returns the ids of these team names, creating the teams that do not exist yet.
pub async fn ensure(conn: &mut PgConnection, names: &[String]) -> Result<HashMap<String, i64>, sqlx::Error> {
    sqlx::query!(
        "INSERT INTO teams (name) SELECT * FROM UNNEST($1::text[]) ON CONFLICT (name) DO NOTHING",
        names
    )
    .execute(&mut *conn)
    .await?;
    let rows = sqlx::query!("SELECT team_id, name FROM teams WHERE name = ANY($1)", names)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows.into_iter().map(|r| (r.name, r.team_id)).collect())
}

/// The ids of the named teams that exist (unknown names are absent from the map).
pub async fn lookup(
    executor: impl sqlx::PgExecutor<'_>,
    names: &[String],
) -> Result<HashMap<String, i64>, sqlx::Error> {
    let rows = sqlx::query!("SELECT team_id, name FROM teams WHERE name = ANY($1)", names)
        .fetch_all(executor)
        .await?;
    Ok(rows.into_iter().map(|r| (r.name, r.team_id)).collect())
}
