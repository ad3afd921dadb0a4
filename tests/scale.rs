//! SCALE.md's cheap guard: the schema stays distributable (Citus) as migrations are added.
//!
//! A *growing* table is one with a `team_id` column that it does not mint itself: `teams` generates
//! team ids (an identity column) and is a small reference table (rule 6); every other table carrying
//! `team_id` grows with usage (today `events` and `event_keys`). Partitions count with their parent.
//!
//! - The migrations apply with every growing table `PARTITION BY HASH (team_id)`, so PostgreSQL
//!   refuses any primary or unique key without the team, exactly as Citus does (rule 1).
//! - On a normally migrated database, the catalog says: the team leads every key of a growing table
//!   (rule 1), money is NUMERIC(38,12) and internal ids are bigint (rule 8).
//! - The checks are shown a table that breaks the rules, so a guard that passes everything would fail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;
#[path = "support/hash_by_team.rs"]
mod hash_by_team;

use hash_by_team::{hash_partitioned, HashByTeam};

use sqlx::postgres::PgDatabaseError;
use sqlx::{Connection, PgConnection};
use std::collections::{BTreeSet, HashSet};

/// A table that breaks rules 1 and 8: a key without the team, a foreign key between growing
/// tables that does not pair the teams, an unsized numeric, an integer id.
const PROBE: &str = "CREATE TABLE scale_probe (
    team_id  bigint NOT NULL,
    event_id text NOT NULL,
    id_hash  uuid NOT NULL,
    batch_id integer NOT NULL,
    amount   numeric,
    UNIQUE (event_id),
    FOREIGN KEY (id_hash, team_id) REFERENCES event_keys (id_hash, team_id)
);";

#[tokio::test]
async fn migrations_apply_with_every_growing_table_hash_partitioned_by_team() {
    let (migrations, guard) = hash_partitioned(&migrations());
    let mut db = apply(&migrations).await.unwrap_or_else(|error| {
        panic!(
            "SCALE.md rule 1: with every growing table PARTITION BY HASH (team_id), as on Citus, \
             {error}\nPut team_id first in every primary and unique key of a growing table.\n\
             Statements the rewrite skipped (partitions of hash-partitioned tables): {:?}",
            guard.skipped
        )
    });
    assert!(
        !guard.growing.is_empty(),
        "no migration creates a table with team_id"
    );
    let missed = strings(&mut db, &format!("{GROWING} {NOT_HASHED}")).await;
    assert!(
        missed.is_empty(),
        "these tables carry team_id but tests/scale.rs did not hash-partition them (they got it some \
         way the rewrite does not know, e.g. ALTER TABLE ADD COLUMN): {missed:?}"
    );
}

#[tokio::test]
async fn the_team_leads_every_key_of_every_growing_table() {
    let mut db = apply(&migrations()).await.unwrap();
    let violations = team_key_violations(&mut db).await;
    assert!(
        violations.is_empty(),
        "SCALE.md rule 1: the team must lead these keys:\n{}",
        violations.join("\n")
    );
}

#[tokio::test]
async fn every_numeric_column_is_numeric_38_12() {
    let mut db = apply(&migrations()).await.unwrap();
    let violations = money_violations(&mut db).await;
    assert!(
        violations.is_empty(),
        "SCALE.md rule 8: money is NUMERIC(38,12), and every numeric column holds money:\n{}",
        violations.join("\n")
    );
}

#[tokio::test]
async fn internal_ids_are_bigint_and_client_ids_text() {
    let mut db = apply(&migrations()).await.unwrap();
    let violations = id_violations(&mut db).await;
    assert!(
        violations.is_empty(),
        "SCALE.md rule 8: internal ids are bigint:\n{}",
        violations.join("\n")
    );
}

#[tokio::test]
async fn the_guard_rejects_a_unique_key_without_the_team() {
    let mut with_probe = migrations();
    with_probe.push(Migration::new("99999999999999_probe.sql", PROBE));
    // Plain PostgreSQL takes it; only the hash partitioning by team makes it fail.
    apply(&with_probe).await.unwrap();
    let (guarded, _) = hash_partitioned(&with_probe);
    let error = apply(&guarded)
        .await
        .expect_err("the guard accepted a key without the team");
    assert!(error.contains("must include all partitioning columns"), "{error}");
}

#[tokio::test]
async fn the_catalog_checks_report_a_table_that_breaks_the_rules() {
    let mut with_probe = migrations();
    with_probe.push(Migration::new("99999999999999_probe.sql", PROBE));
    let mut db = apply(&with_probe).await.unwrap();
    let probe = |violations: Vec<String>| -> Vec<String> {
        violations
            .into_iter()
            .filter(|v| v.starts_with("scale_probe"))
            .collect()
    };
    let keys = probe(team_key_violations(&mut db).await);
    let money = probe(money_violations(&mut db).await);
    let ids = probe(id_violations(&mut db).await);
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.iter().all(|v| v.starts_with("scale_probe: ")), "{keys:?}");
    assert_eq!(money, ["scale_probe.amount is numeric"]);
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert!(ids[0].starts_with("scale_probe.batch_id is integer"), "{ids:?}");
}

#[test]
fn the_rewrite_sees_through_comments_strings_and_function_bodies() {
    let sql = "-- a comment; CREATE TABLE (team_id\n\
        CREATE TABLE a (team_id bigint NOT NULL, note text DEFAULT 'x;)', ts timestamptz) PARTITION BY RANGE (ts);\n\
        CREATE TABLE a_old PARTITION OF a DEFAULT;\n\
        CREATE TABLE b (team_id bigint GENERATED ALWAYS AS IDENTITY, \"Team_Id\" text);\n\
        DO $x$ BEGIN CREATE TABLE c (team_id bigint); END $x$;\n\
        CREATE TABLE IF NOT EXISTS public.\"D\" /* ( */ (LIKE a) WITH (fillfactor = 90)";
    let mut guard = HashByTeam::default();
    let out = guard.rewrite(sql);
    assert_eq!(guard.growing, BTreeSet::from(["a".to_owned(), "D".to_owned()]));
    assert_eq!(guard.skipped, ["CREATE TABLE a_old PARTITION OF a DEFAULT"]);
    assert!(
        out.contains("ts timestamptz) PARTITION BY HASH (team_id);\nCREATE TABLE \"a_hash_0\""),
        "{out}"
    );
    assert!(
        out.contains("(LIKE a) PARTITION BY HASH (team_id) WITH (fillfactor = 90);"),
        "{out}"
    );
    assert!(
        out.contains("PARTITION OF public.\"D\" FOR VALUES WITH (MODULUS 2, REMAINDER 1)"),
        "{out}"
    );
    assert!(
        !out.contains("RANGE") && out.contains("CREATE TABLE c (team_id bigint); END"),
        "{out}"
    );
}

struct Migration {
    name: String,
    sql: String,
}

impl Migration {
    fn new(name: &str, sql: &str) -> Self {
        Self {
            name: name.to_owned(),
            sql: sql.to_owned(),
        }
    }
}

/// The files of `migrations/`, in the order sqlx applies them (by their timestamped names).
fn migrations() -> Vec<Migration> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut all: Vec<Migration> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "sql"))
        .filter(|path| !path.to_string_lossy().ends_with(".down.sql"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            Migration::new(&name, &std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(!all.is_empty(), "no migrations found");
    all
}

/// Applies the migrations, each file as one implicit transaction (as `sqlx migrate` does), to a
/// fresh database. The error names the file and carries PostgreSQL's message and detail.
async fn apply(migrations: &[Migration]) -> Result<PgConnection, String> {
    let mut db = PgConnection::connect(&common::fresh_database().await)
        .await
        .unwrap();
    for migration in migrations {
        if let Err(error) = sqlx::raw_sql(&migration.sql).execute(&mut db).await {
            let detail = match &error {
                sqlx::Error::Database(e) => e.try_downcast_ref::<PgDatabaseError>().and_then(|e| e.detail()),
                _ => None,
            };
            return Err(format!(
                "{} fails: {error} ({})",
                migration.name,
                detail.unwrap_or("no detail")
            ));
        }
    }
    Ok(db)
}

async fn strings(db: &mut PgConnection, sql: &str) -> Vec<String> {
    sqlx::query_scalar(sql).fetch_all(db).await.unwrap()
}

// The catalog's view of the schema. Tables live in any schema but PostgreSQL's own.

/// Growing tables (partitions included) and the attnum of their team_id.
const GROWING: &str = r"WITH growing AS (
    SELECT c.oid, c.oid::regclass::text AS name, a.attnum, c.relispartition
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'team_id' AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
    WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'
      AND a.attidentity = '' AND a.attgenerated = ''
      AND coalesce(pg_get_expr(d.adbin, d.adrelid) NOT LIKE 'nextval(%', true)
)";

/// Growing tables that are not partitioned by hash of team_id alone.
const NOT_HASHED: &str = "SELECT name FROM growing g WHERE NOT relispartition AND NOT EXISTS (
    SELECT 1 FROM pg_partitioned_table p
    WHERE p.partrelid = g.oid AND p.partstrat = 'h' AND p.partnatts = 1 AND p.partattrs[0] = g.attnum)";

/// Every column of every table (partitions left out: they repeat their parent), with its type
/// (a domain's base type) and whether it mints ids (an identity or a sequence default).
const COLUMNS: &str = r"WITH columns AS (
    SELECT c.oid::regclass::text AS tab, a.attname::text AS col,
           CASE t.typtype WHEN 'd' THEN format_type(t.typbasetype, t.typtypmod)
                          ELSE format_type(a.atttypid, a.atttypmod) END AS ty,
           a.attidentity <> '' OR coalesce(pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%', false) AS minted
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    JOIN pg_type t ON t.oid = a.atttypid
    LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
    WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
      AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'
)";

/// Rule 1. team_id is the first column of every unique key (primary keys, unique constraints and
/// indexes, partial or not) and exclusion constraint of a growing table. Foreign keys: Citus
/// co-locates a team's rows, so a key between two growing tables pairs team_id with team_id in
/// first place; a growing table may reference a reference table (teams, prices) by any key; no
/// other table may reference a growing table (Citus refuses that outright).
async fn team_key_violations(db: &mut PgConnection) -> Vec<String> {
    let keys = format!(
        "{GROWING} SELECT format('%s: %s', g.name, pg_get_indexdef(i.indexrelid))
        FROM growing g JOIN pg_index i ON i.indrelid = g.oid
        WHERE (i.indisunique OR i.indisexclusion) AND i.indkey[0] <> g.attnum ORDER BY 1"
    );
    let foreign = format!(
        "{GROWING} SELECT format('%s: %s', c.conrelid::regclass, pg_get_constraintdef(c.oid))
        FROM pg_constraint c
        JOIN growing r ON r.oid = c.confrelid
        LEFT JOIN growing g ON g.oid = c.conrelid
        WHERE c.contype = 'f' AND (g.oid IS NULL OR c.conkey[1] <> g.attnum OR c.confkey[1] <> r.attnum)
        ORDER BY 1"
    );
    let mut violations = strings(db, &keys).await;
    violations.extend(strings(db, &foreign).await);
    violations
}

/// Rule 8, money. Every numeric column (or array of them) is money, so every one is NUMERIC(38,12);
/// token counts are bigint. An unsized `numeric` fails too: an analytics replica needs the scale.
async fn money_violations(db: &mut PgConnection) -> Vec<String> {
    let sql = format!(
        r"{COLUMNS} SELECT format('%s.%s is %s', tab, col, ty) FROM columns
        WHERE ty ~ '^numeric' AND ty !~ '^numeric\(38,12\)(\[\])?$' ORDER BY 1"
    );
    strings(db, &sql).await
}

/// Rule 8, ids. Internal ids are bigint: every column that mints ids (identity or sequence, e.g.
/// teams.team_id, prices.price_id, events.seq) and every column named like one of those (the id
/// carried elsewhere, e.g. events.team_id, events.price_id). Any other `*_id` column is an id the
/// client chose (events.event_id, events.user_id) and is text; integer or uuid ids fail.
async fn id_violations(db: &mut PgConnection) -> Vec<String> {
    let sql = format!(r"{COLUMNS} SELECT tab, col, ty, minted FROM columns WHERE minted OR col LIKE '%\_id'");
    let columns: Vec<(String, String, String, bool)> = sqlx::query_as(&sql).fetch_all(db).await.unwrap();
    let internal: HashSet<&str> = columns.iter().filter(|c| c.3).map(|c| c.1.as_str()).collect();
    let mut violations: Vec<String> = columns
        .iter()
        .filter_map(|(tab, col, ty, minted)| {
            let why = if *minted || internal.contains(col.as_str()) {
                (ty != "bigint").then_some("an internal id, so bigint")
            } else {
                (ty != "bigint" && ty != "text").then_some("an id is bigint (ours) or text (the client's)")
            };
            why.map(|why| format!("{tab}.{col} is {ty}: {why}"))
        })
        .collect();
    violations.sort();
    violations
}

// The rewrite. It edits the SQL text before PostgreSQL sees it, so every later statement
// (ALTER TABLE ... ADD UNIQUE, CREATE UNIQUE INDEX, a foreign key) meets a table that really is
// hash-partitioned, and PostgreSQL's own check is the judge. A small lexer (strings, quoted names,
// dollar quotes, comments) finds the statements; two shapes change, everything else runs as written:
// - `CREATE TABLE t (..., team_id ..., ...) [PARTITION BY ...]` (or `(LIKE a_growing_table ...)`):
//   its PARTITION BY clause becomes `PARTITION BY HASH (team_id)`, or that is added; two hash
//   partitions follow, so rows can still be inserted (a later backfill still runs). Multi-level
//   partitioning (team, then time) is not needed: the point is that every unique key has the team.
// - `CREATE TABLE p PARTITION OF t ...` of such a table (events_default): skipped, since a hash-
//   partitioned table takes no DEFAULT or range partition. A later statement naming p then fails
//   loudly; the failure message lists what was skipped.
// A table that gets team_id another way (ALTER TABLE ADD COLUMN, CREATE TABLE AS) is not rewritten,
// and the guard test says so rather than leaving the table unguarded.
