//! The observability stack against real programs: a real Prometheus (Debian's `prometheus`
//! package) scrapes the test server; every PromQL query of every dashboard must parse and return
//! data through its HTTP API, every SQL panel must return rows from the test database, and
//! `promtool`/`amtool` must accept `deploy/`. Missing binaries fail these tests (CI installs them).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;
#[path = "support/real_prometheus.rs"]
mod real_prometheus;
#[path = "support/usage_seed.rs"]
mod usage_seed;

use common::{spawn_app_with, TestApp};
use real_prometheus::Prometheus;
use rust_decimal::Decimal;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::Duration;

const METRICS_KEY: &str = "tl_test_scrape_key";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs a tool of the Prometheus packages and requires success.
fn run_tool(program: &str, args: &[&str], dir: &Path) {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} could not run ({e}): install it with apt-get install prometheus prometheus-alertmanager")
        });
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn promtool_accepts_the_prometheus_config_and_alert_rules() {
    let dir = repo("deploy/prometheus");
    run_tool("promtool", &["check", "config", "prometheus.yml"], &dir);
    run_tool("promtool", &["check", "rules", "rules.yml"], &dir);
}

#[test]
fn the_alert_rules_pass_their_promtool_unit_tests() {
    run_tool(
        "promtool",
        &["test", "rules", "rules.test.yml"],
        &repo("deploy/prometheus"),
    );
}

#[test]
fn amtool_accepts_the_alertmanager_config() {
    run_tool(
        "amtool",
        &["check-config", "alertmanager.yml"],
        &repo("deploy/alertmanager"),
    );
}

async fn seeded_stack() -> (TestApp, Prometheus) {
    let app = spawn_app_with(|config| {
        config.metrics_key = Some(METRICS_KEY.into());
        config.metrics_cache = Duration::from_secs(1);
        config.budget_eval_interval = Duration::from_secs(1);
        config.check_refresh = Duration::from_millis(200);
    })
    .await;
    usage_seed::seed(&app).await;
    // A budget the seeded spend has blown through, so the Budgets dashboard has data: its
    // thresholds and its forecast fire on the service's own evaluator.
    let response = app
        .client
        .post(app.url("/v1/budgets"))
        .bearer_auth(&app.admin_key)
        .json(
            &serde_json::json!({"name": "ads monthly", "team": "ads", "period": "monthly",
            "amount": "0.001", "currency": "USD", "thresholds": [50, 80, 100], "forecast": true}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    app.rollup().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let alerts: Value = app.get_json("/v1/alerts").await;
        if alerts["alerts"].as_array().is_some_and(|a| a.len() >= 4) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no budget alerts fired: {alerts}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let prometheus = Prometheus::scraping(&app, METRICS_KEY).await;
    (app, prometheus)
}

#[tokio::test]
async fn real_prometheus_holds_the_business_series_that_match_spend() {
    let (app, prometheus) = seeded_stack().await;
    let (total, requests) = usage_seed::spend_total(&app).await;

    // Exactly, from the text Prometheus scraped: each sample reads back as the decimal it is.
    let text = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(METRICS_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(usage_seed::decimal_sum(&text, "tokenledger_spend_total"), total);

    // Through Prometheus, which stores float64 and sums in float64: each of the n < 20 series is
    // the nearest double to its decimal (relative error <= 2^-53) and each addition adds at most
    // another 2^-53 of the running sum, so the sum is within n * 2^-52 of the exact total
    // (relative); 1e-12 is that bound with a wide margin, and still far below a cent at any scale.
    let series = prometheus.query("tokenledger_spend_total").await;
    assert!(series.len() >= 5, "spend series in Prometheus: {series:?}");
    let sum = prometheus.query("sum(tokenledger_spend_total)").await;
    let scraped: f64 = sum[0]["value"][1].as_str().unwrap().parse().unwrap();
    let exact = usage_seed::decimal_sum(&text, "tokenledger_spend_total");
    let exact_f64: f64 = exact.to_string().parse().unwrap();
    assert!(
        (scraped - exact_f64).abs() <= exact_f64.abs() * 1e-12,
        "Prometheus sum {scraped} vs exact {exact}"
    );
    // A single series round-trips exactly: Prometheus prints the shortest text of the double.
    for sample in &series {
        let value = Decimal::from_str(sample["value"][1].as_str().unwrap()).unwrap();
        let labels = &sample["metric"];
        let line = usage_seed::samples(&text, "tokenledger_spend_total")
            .into_iter()
            .find(|(l, _)| {
                ["team", "provider", "model", "currency"]
                    .iter()
                    .all(|k| labels[*k] == l[*k])
            })
            .unwrap();
        assert_eq!(value, Decimal::from_str(&line.1).unwrap(), "{labels}");
    }

    let count = |result: Vec<Value>| -> f64 { result[0]["value"][1].as_str().unwrap().parse().unwrap() };
    assert_eq!(
        count(prometheus.query("sum(tokenledger_requests_total)").await),
        requests as f64
    );
    assert_eq!(
        count(prometheus.query("sum(tokenledger_unpriced_events_total)").await),
        2.0
    );
    assert_eq!(
        count(
            prometheus
                .query("sum(tokenledger_tokens_total{kind=\"reasoning\"})")
                .await
        ),
        2300.0
    );
    assert_eq!(
        count(
            prometheus
                .query("sum(tokenledger_tokens_total{kind=\"cache_read\"})")
                .await
        ),
        24004.0
    );
    assert_eq!(
        count(
            prometheus
                .query("count(tokenledger_events_total{outcome=\"rejected\",reason=\"invalid_usage\"})")
                .await
        ),
        1.0
    );
    // The alert rules are loaded and evaluated by this Prometheus too.
    let rules: Value = prometheus
        .client
        .get(format!("{}/api/v1/rules", prometheus.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rules["data"]["groups"].as_array().unwrap().len(), 3, "{rules}");
}

/// Every (dashboard title / panel title, target) of the dashboards, nested rows included.
fn dashboard_targets() -> Vec<(String, Value)> {
    fn walk(dashboard: &str, panels: &[Value], out: &mut Vec<(String, Value)>) {
        for panel in panels {
            let name = format!("{dashboard} / {}", panel["title"].as_str().unwrap_or(""));
            for target in panel["targets"].as_array().into_iter().flatten() {
                out.push((name.clone(), target.clone()));
            }
            if let Some(inner) = panel["panels"].as_array() {
                walk(dashboard, inner, out);
            }
        }
    }
    let mut out = Vec::new();
    for (_, dashboard) in dashboards() {
        let title = dashboard["title"].as_str().unwrap().to_owned();
        walk(&title, dashboard["panels"].as_array().unwrap(), &mut out);
    }
    assert!(out.len() > 30, "too few dashboard targets: {}", out.len());
    out
}

fn dashboards() -> Vec<(PathBuf, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo("dashboards"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "{files:?}");
    files
        .into_iter()
        .map(|p| {
            let dashboard = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (p, dashboard)
        })
        .collect()
}

/// Grafana's interval variables as a dashboard at its default range would give them, and every
/// template variable as "All" (`.*`, the variables' allValue; every matcher on them is `=~`).
fn promql(expr: &str) -> String {
    let mut out = expr
        .replace("$__rate_interval", "1m")
        .replace("$__interval", "15s")
        .replace("$__range", "1h");
    for var in [
        "${currency}",
        "$currency",
        "${team}",
        "$team",
        "${provider}",
        "$provider",
        "${model}",
        "$model",
    ] {
        out = out.replace(var, ".*");
    }
    assert!(!out.contains('$'), "an unsubstituted variable in {out}");
    out
}

/// Grafana's SQL macros over the last 40 days, and `$currency` as USD (the seeded currency).
fn sql(raw: &str) -> String {
    let mut out = raw.replace("$currency", "USD").replace("${currency}", "USD");
    while let Some(start) = out.find("$__timeFilter(") {
        let open = start + "$__timeFilter(".len();
        let close = open + out[open..].find(')').unwrap();
        let column = out[open..close].trim().to_owned();
        out.replace_range(
            start..=close,
            &format!("{column} BETWEEN now() - interval '40 days' AND now() + interval '1 day'"),
        );
    }
    out = out
        .replace("$__timeFrom()", "(now() - interval '40 days')")
        .replace("$__timeTo()", "(now() + interval '1 day')");
    assert!(!out.contains('$'), "an unsubstituted macro in {out}");
    out
}

#[tokio::test]
async fn every_dashboard_promql_query_returns_data_from_a_real_prometheus() {
    let (_app, prometheus) = seeded_stack().await;
    // Two more scrapes after the seed, so that rates over the window have data points.
    prometheus.wait_for_scrapes(5).await;
    let mut checked = 0;
    let mut empty = Vec::new();
    for (panel, target) in dashboard_targets() {
        let Some(expr) = target["expr"].as_str() else {
            continue;
        };
        let query = promql(expr);
        let result = prometheus.query(&query).await; // panics unless it parses
        checked += 1;
        if result.is_empty() {
            empty.push(format!("{panel}: {query}"));
        }
    }
    assert!(
        empty.is_empty(),
        "dashboard queries without data:\n{}",
        empty.join("\n")
    );
    assert!(checked > 30, "{checked} PromQL queries");
    println!("{checked} dashboard PromQL queries parsed, all with data");

    // Template variables `label_values(selector, label)` must offer values.
    for (_, dashboard) in dashboards() {
        let title = dashboard["title"].as_str().unwrap();
        for variable in dashboard["templating"]["list"].as_array().unwrap() {
            let name = format!("{title} / {}", variable["name"].as_str().unwrap());
            let definition = variable["query"]["query"].as_str().unwrap();
            let inner = definition
                .strip_prefix("label_values(")
                .and_then(|s| s.strip_suffix(')'))
                .unwrap_or_else(|| panic!("{name}: not label_values: {definition}"));
            let (selector, label) = inner.rsplit_once(',').unwrap();
            let query = promql(&format!("count by ({}) ({})", label.trim(), selector.trim()));
            let result = prometheus.query(&query).await;
            assert!(!result.is_empty(), "{name} offers no values: {query}");
        }
    }
}

#[tokio::test]
async fn every_dashboard_sql_query_returns_rows_from_the_rollups() {
    let app = spawn_app_with(|_| {}).await;
    usage_seed::seed(&app).await;
    let pool = app.db().await;
    let mut checked = 0;
    for (panel, target) in dashboard_targets() {
        let Some(raw) = target["rawSql"].as_str() else {
            continue;
        };
        let query = sql(raw);
        let rows = sqlx::query(&query)
            .fetch_all(&pool)
            .await
            .unwrap_or_else(|e| panic!("{panel}: {e}\n{query}"));
        assert!(!rows.is_empty(), "{panel} returned no rows:\n{query}");
        checked += 1;
    }
    assert!(checked >= 4, "{checked} SQL queries");
    println!("{checked} dashboard SQL queries returned rows");
}
