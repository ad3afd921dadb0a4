//! The real OpenTelemetry Python SDK and OTLP/HTTP exporter against the real server: spans
//! exported as protobuf (plain and gzip) and OTLP/JSON are priced exactly, and re-exports count once.
//!
//! Needs `python3` with `venv` (Debian: `apt-get install python3-venv`) and PyPI. The virtualenv
//! is made once under the target directory (`target/tmp/otel-venv`) from `tests/otel/requirements.txt`
//! and reused. A missing Python fails this test with a message saying what to install: it never
//! passes without having run the client.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use chrono::{Duration, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

fn run(command: &mut Command, what: &str) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: could not start {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The virtualenv's python, made and filled on first use.
fn venv_python() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let requirements = manifest.join("tests/otel/requirements.txt");
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("otel-venv");
    let python = venv.join("bin/python");
    let marker = venv.join(".installed");
    let wanted = std::fs::read_to_string(&requirements).unwrap();
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) {
        return python;
    }
    // Debian's python3 has the venv module without ensurepip until python3-venv is installed.
    let probe = Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        panic!(
            "python3 -m venv is unavailable ({probe:?}); this test runs the real OpenTelemetry Python exporter. \
             Install python3 and python3-venv (Debian: apt-get install python3-venv)"
        );
    }
    let _ = std::fs::remove_dir_all(&venv);
    run(
        Command::new("python3").arg("-m").arg("venv").arg(&venv),
        "python3 -m venv",
    );
    run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements),
        "pip install -r tests/otel/requirements.txt",
    );
    std::fs::write(&marker, wanted).unwrap();
    python
}

#[tokio::test]
async fn spans_from_the_real_python_exporter_are_priced_exactly_and_counted_once() {
    let python = tokio::task::spawn_blocking(venv_python).await.unwrap();
    let app = common::spawn_app().await;
    app.put_prices(json!([{"provider": "openai", "model": "gpt-4.1-2025-04-14",
        "effective_from": "2020-01-01T00:00:00Z", "input": "2", "cache_read": "0.5", "output": "8"}]))
        .await;
    let key = app.create_key("ingest", None).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/otel/export.py");
    let address = app.address.clone();

    let stdout = tokio::task::spawn_blocking(move || {
        run(
            Command::new(python)
                .arg(script)
                .env("TOKENLEDGER_URL", address)
                .env("TOKENLEDGER_KEY", key),
            "tests/otel/export.py",
        )
    })
    .await
    .unwrap();

    let summary: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["exported"]["protobuf_retry"], 2, "{summary}");
    let now = Utc::now();
    let window = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let spend = app
        .get_json(&format!(
            "/v1/spend?from={}&to={}&group_by=team",
            window(now - Duration::hours(1)),
            window(now + Duration::hours(1))
        ))
        .await;
    let total = &spend["total"];
    // Three GenAI spans, each exported twice; the HTTP span of each export is ignored.
    assert_eq!(total["requests"], 3, "{spend}");
    assert_eq!(spend["rows"][0]["team"], "search");
    assert_eq!(total["input_tokens"], 1800);
    assert_eq!(total["cache_read_tokens"], 200);
    assert_eq!(total["output_tokens"], 180);
    assert_eq!(total["reasoning_tokens"], 40);
    // a: 800 × 2 + 200 × 0.5 + 100 × 8 = 2500; b: 500 × 2 + 50 × 8 = 1400; c: 300 × 2 + 30 × 8 = 840
    // → 4740 per million.
    let cost = Decimal::from_str_exact(total["cost"].as_str().unwrap()).unwrap();
    assert_eq!(cost, Decimal::from_str_exact("0.00474").unwrap());
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"tokenledger_events_total{outcome="duplicate",reason=""} 3"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"tokenledger_events_total{outcome="ignored",reason="otlp_no_genai_usage"} 6"#));
}
