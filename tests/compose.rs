//! The compose stack, statically: its services exist, every host file it mounts is in the
//! repository, its named volumes are declared, and the image it builds makes this binary.
//! (There is no Docker engine in CI; tests/prometheus.rs runs the Prometheus side for real.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use serde_norway::Value;
use std::path::{Path, PathBuf};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn compose() -> Value {
    serde_norway::from_str(&std::fs::read_to_string(repo("docker-compose.yml")).unwrap()).unwrap()
}

fn services(compose: &Value) -> &serde_norway::Mapping {
    compose["services"].as_mapping().unwrap()
}

/// The short-syntax volume entries of a service: (source, target).
fn mounts(service: &Value) -> Vec<(String, String)> {
    service["volumes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|v| {
            let text = v.as_str().expect("volumes in short syntax");
            let mut parts = text.split(':');
            (parts.next().unwrap().to_owned(), parts.next().unwrap().to_owned())
        })
        .collect()
}

#[test]
fn the_stack_has_postgres_tokenledger_prometheus_alertmanager_and_grafana() {
    let compose = compose();
    let names: Vec<&str> = services(&compose).keys().map(|k| k.as_str().unwrap()).collect();
    for wanted in ["postgres", "tokenledger", "prometheus", "alertmanager", "grafana"] {
        assert!(names.contains(&wanted), "{wanted} missing from {names:?}");
    }
}

#[test]
fn every_mounted_host_path_exists_in_the_repository() {
    let compose = compose();
    let mut checked = 0;
    for (name, service) in services(&compose) {
        for (source, target) in mounts(service) {
            if source.starts_with("./") || source.starts_with('/') {
                assert!(
                    repo(&source).exists(),
                    "{}: {source} (mounted at {target}) is not in the repository",
                    name.as_str().unwrap()
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 6, "{checked} host mounts");
}

#[test]
fn every_named_volume_is_declared() {
    let compose = compose();
    let declared = compose["volumes"].as_mapping().unwrap();
    for (name, service) in services(&compose) {
        for (source, _) in mounts(service) {
            if !source.starts_with("./") && !source.starts_with('/') {
                assert!(
                    declared.contains_key(source.as_str()),
                    "{}: volume {source} is not declared",
                    name.as_str().unwrap()
                );
            }
        }
    }
}

#[test]
fn tokenledger_is_built_from_the_dockerfile_with_an_external_database() {
    let compose = compose();
    let service = &services(&compose)["tokenledger"];
    assert_eq!(service["build"].as_str(), Some("."));
    let env = &service["environment"];
    assert!(env["DATABASE_URL"].as_str().unwrap().contains("@postgres:5432/"));
    assert_eq!(env["TOKENLEDGER_LISTEN"].as_str(), Some("0.0.0.0:8080"));
    assert!(env["TOKENLEDGER_ADMIN_KEY"]
        .as_str()
        .unwrap()
        .starts_with("${TOKENLEDGER_ADMIN_KEY:-"));

    let dockerfile = std::fs::read_to_string(repo("Dockerfile")).unwrap();
    assert!(dockerfile.contains("FROM rust:1-bookworm AS build"));
    assert!(dockerfile.contains("FROM debian:bookworm-slim"));
    assert!(dockerfile.contains("ENV SQLX_OFFLINE=true"));
    // The binary it copies is the one Cargo.toml declares.
    let manifest = std::fs::read_to_string(repo("Cargo.toml")).unwrap();
    let bin = manifest
        .split("[[bin]]")
        .nth(1)
        .and_then(|s| s.lines().find(|l| l.starts_with("name")))
        .and_then(|l| l.split('"').nth(1))
        .unwrap();
    assert!(
        dockerfile.contains(&format!("--bin {bin}")),
        "the build names --bin {bin}"
    );
    assert!(dockerfile.contains(&format!("/src/target/release/{bin} /usr/local/bin/{bin}")));
    // Everything the build stage copies from the context exists and is not docker-ignored.
    let ignored = std::fs::read_to_string(repo(".dockerignore")).unwrap();
    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        for source in &words[1..words.len() - 1] {
            assert!(
                repo(source).exists(),
                "Dockerfile copies {source}, which does not exist"
            );
            assert!(
                !ignored.lines().any(|l| l.trim() == *source),
                ".dockerignore excludes {source}, which the Dockerfile copies"
            );
        }
    }
}

#[test]
fn grafana_provisions_the_dashboards_and_prometheus_mounts_its_rules() {
    let compose = compose();
    let grafana = mounts(&services(&compose)["grafana"]);
    assert!(grafana.contains(&(
        "./dashboards/provisioning".into(),
        "/etc/grafana/provisioning".into()
    )));
    assert!(grafana.contains(&("./dashboards".into(), "/etc/grafana/dashboards".into())));
    let provider =
        std::fs::read_to_string(repo("dashboards/provisioning/dashboards/tokenledger.yml")).unwrap();
    assert!(provider.contains("path: /etc/grafana/dashboards"));
    let datasources =
        std::fs::read_to_string(repo("dashboards/provisioning/datasources/tokenledger.yml")).unwrap();
    for uid in ["uid: prometheus", "uid: tokenledger-postgres"] {
        assert!(datasources.contains(uid), "{uid}");
    }
    let prometheus = mounts(&services(&compose)["prometheus"]);
    let config = std::fs::read_to_string(repo("deploy/prometheus/prometheus.yml")).unwrap();
    assert!(config.contains("- rules.yml"));
    assert!(prometheus.contains(&(
        "./deploy/prometheus/rules.yml".into(),
        "/etc/prometheus/rules.yml".into()
    )));
    assert!(config.contains("tokenledger:8080"));
}

#[test]
fn dashboards_use_only_the_provisioned_datasources() {
    fn walk(value: &serde_json::Value, found: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(uid) = map
                    .get("datasource")
                    .and_then(|d| d.get("uid"))
                    .and_then(|u| u.as_str())
                {
                    found.push(uid.to_owned());
                }
                map.values().for_each(|v| walk(v, found));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    for name in ["ai-spend.json", "budgets.json", "service-health.json"] {
        let text = std::fs::read_to_string(repo(&format!("dashboards/{name}"))).unwrap();
        let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut uids = Vec::new();
        walk(&dashboard, &mut uids);
        assert!(!uids.is_empty(), "{name}");
        for uid in uids {
            assert!(
                ["prometheus", "tokenledger-postgres"].contains(&uid.as_str()),
                "{name}: datasource {uid}"
            );
        }
    }
}
