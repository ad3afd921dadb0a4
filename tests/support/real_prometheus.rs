//! A real Prometheus (Debian's `prometheus` binary) on a free port, with a temporary data
//! directory, scraping one test server every second; killed when dropped.

use crate::common::TestApp;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A real Prometheus scraping one test server every second, killed when dropped.
pub struct Prometheus {
    pub url: String,
    pub client: reqwest::Client,
    _child: tokio::process::Child,
    _dir: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Prometheus {
    /// Starts Prometheus scraping `app` with `bearer` as the metrics key and the repository's
    /// alert rules loaded, and waits for its first scrapes.
    pub async fn scraping(app: &TestApp, bearer: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tl-prometheus-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let target = app.address.trim_start_matches("http://");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {rules}\n\
             scrape_configs:\n  - job_name: tokenledger\n    scrape_interval: 1s\n    \
             authorization:\n      type: Bearer\n      credentials: {bearer}\n    \
             static_configs:\n      - targets: [\"{target}\"]\n",
            rules = repo("deploy/prometheus/rules.yml").display()
        );
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let port = free_port();
        let child = tokio::process::Command::new("prometheus")
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("prometheus could not start: install it with apt-get install prometheus");
        let prometheus = Self {
            url: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            _child: child,
            _dir: TempDir(dir),
        };
        prometheus.wait_for_scrapes(3).await;
        prometheus
    }

    /// Waits until the target has been scraped successfully `n` times (rates need two samples).
    pub async fn wait_for_scrapes(&self, n: u32) {
        let query = "sum_over_time(up{job=\"tokenledger\"}[1m])";
        for _ in 0..300 {
            if let Ok(body) = self.try_query(query).await {
                let value = body["data"]["result"][0]["value"][1].as_str().unwrap_or("0");
                if value.parse::<f64>().unwrap_or(0.0) >= f64::from(n) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let log = std::fs::read_to_string(self._dir.0.join("prometheus.log")).unwrap_or_default();
        panic!("Prometheus did not scrape tokenledger {n} times in 30s; its log:\n{log}");
    }

    async fn try_query(&self, query: &str) -> Result<Value, reqwest::Error> {
        self.client
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", query)])
            .send()
            .await?
            .json()
            .await
    }

    /// An instant query; panics unless Prometheus accepted it.
    pub async fn query(&self, query: &str) -> Vec<Value> {
        let body = self.try_query(query).await.unwrap();
        assert_eq!(body["status"], "success", "{query}: {body}");
        body["data"]["result"].as_array().cloned().unwrap_or_default()
    }
}
