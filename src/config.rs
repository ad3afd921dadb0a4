//! One typed configuration, read from the environment. Secrets are never logged.

use anyhow::{bail, Context};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Which cost counts in spend and budgets when both exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostSource {
    /// The catalog's price when one exists, else the gateway's reported cost (the default).
    Computed,
    /// The gateway's reported cost when sent, else the catalog's.
    Reported,
}

/// Where the database is.
#[derive(Clone)]
pub enum DatabaseConfig {
    /// An existing PostgreSQL server (`DATABASE_URL`).
    Url(String),
    /// A private cluster under this directory, started and stopped with the service.
    Embedded { data_dir: PathBuf },
}

#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database: DatabaseConfig,
    /// `TOKENLEDGER_ADMIN_KEY`: an admin key with this secret exists after start.
    pub admin_key: Option<String>,
    /// `TOKENLEDGER_METRICS_KEY`: if set, `/metrics` requires it as a bearer token.
    pub metrics_key: Option<String>,
    pub json_logs: bool,
    pub max_body_bytes: usize,
    /// The most bytes of request bodies (as received and as un-gzipped) held in memory at once,
    /// over all requests (`TOKENLEDGER_BODY_MEMORY`); a body that would pass it is answered 429.
    pub body_memory_bytes: usize,
    /// The most open client connections (`TOKENLEDGER_MAX_CONNECTIONS`), shared among the HTTP
    /// workers; past it, new connections wait in the listen backlog.
    pub max_connections: usize,
    pub max_batch: usize,
    pub cost_source: CostSource,
    /// Connections of the query pool (spend, keys, prices).
    pub db_pool_size: u32,
    /// Dedicated connections of the group-commit writer.
    pub writer_connections: usize,
    /// The most events one database write carries.
    pub writer_max_rows: usize,
    /// The most events waiting for the writer before ingest answers 429.
    pub writer_queue_events: usize,
    /// How long a request waits for a database connection or commit before answering 503.
    pub db_timeout: Duration,
    /// HTTP worker threads.
    pub http_workers: usize,
    /// How long a client has to send its request head before it is answered 408 and cut off
    /// (`TOKENLEDGER_HEADER_TIMEOUT_MS`; also bounds an idle new connection).
    pub header_timeout: Duration,
    /// How long a client has, from its request head on, to send the whole body before it is
    /// answered 408 and cut off (`TOKENLEDGER_BODY_TIMEOUT_MS`).
    pub body_timeout: Duration,
    /// How long a looked-up API key is trusted without asking the database again
    /// (`TOKENLEDGER_KEY_CACHE_MS`; 0 asks at every request). A revocation clears the cache of
    /// the replica that made it at once and of the others when its notification arrives; this
    /// is the bound if a notification is lost.
    pub key_cache_ttl: Duration,
    /// How often the price catalog is reloaded to see other replicas' changes.
    pub catalog_refresh: Duration,
    /// How often the rollup job runs a pass (`TOKENLEDGER_ROLLUP_INTERVAL_MS`).
    pub rollup_interval: Duration,
    /// How long a database read behind the business series of `/metrics` is reused
    /// (`TOKENLEDGER_METRICS_CACHE_SECS`; 0 reads at every scrape).
    pub metrics_cache: Duration,
    /// Teams that keep their name in the business series; the rest are `other`
    /// (`TOKENLEDGER_METRICS_TOP_TEAMS`).
    pub metrics_top_teams: usize,
    /// (provider, model) pairs that keep their model name in the business series; the rest are
    /// `other` (`TOKENLEDGER_METRICS_TOP_MODELS`).
    pub metrics_top_models: usize,
    /// How often budgets are evaluated for alerts (`TOKENLEDGER_BUDGET_EVAL_SECS`).
    pub budget_eval_interval: Duration,
    /// How often the in-memory view of `GET /v1/check` is rebuilt (`TOKENLEDGER_CHECK_REFRESH_MS`).
    pub check_refresh: Duration,
    /// How webhook deliveries are attempted (`TOKENLEDGER_WEBHOOK_*`).
    pub webhooks: crate::jobs::webhooks::DeliverySettings,
    /// How often the outbox is looked at for due deliveries (`TOKENLEDGER_WEBHOOK_POLL_MS`).
    pub webhook_poll: Duration,
    /// `TOKENLEDGER_OTLP_TEAM_ATTRIBUTE`: the span or resource attribute `POST /v1/traces` reads the
    /// team from (default `tokenledger.team`; `team` is always the fallback).
    pub otlp_team_attribute: String,
    /// Whether `serve` installs its own SIGINT/SIGTERM handling (tests turn it off).
    pub handle_signals: bool,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let database = match &self.database {
            DatabaseConfig::Url(_) => "DATABASE_URL (redacted)".to_owned(),
            DatabaseConfig::Embedded { data_dir } => format!("embedded at {}", data_dir.display()),
        };
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database", &database)
            .field("admin_key", &self.admin_key.as_ref().map(|_| "(set)"))
            .field("metrics_key", &self.metrics_key.as_ref().map(|_| "(set)"))
            .field("max_body_bytes", &self.max_body_bytes)
            .field("body_memory_bytes", &self.body_memory_bytes)
            .field("max_batch", &self.max_batch)
            .field("cost_source", &self.cost_source)
            .field("writer_connections", &self.writer_connections)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Reads the configuration through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let listen = get("TOKENLEDGER_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let listen: SocketAddr = listen
            .parse()
            .with_context(|| format!("TOKENLEDGER_LISTEN={listen} is not an address:port"))?;
        let database = match get("DATABASE_URL") {
            Some(url) => DatabaseConfig::Url(url),
            None => DatabaseConfig::Embedded {
                data_dir: get("TOKENLEDGER_DATA_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("data"))
                    .join("postgres"),
            },
        };
        let json_logs = match get("TOKENLEDGER_LOG_FORMAT").as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => bail!("TOKENLEDGER_LOG_FORMAT={other}: expected text or json"),
        };
        let cost_source = match get("TOKENLEDGER_COST_SOURCE").as_deref() {
            None | Some("computed") => CostSource::Computed,
            Some("reported") => CostSource::Reported,
            Some(other) => bail!("TOKENLEDGER_COST_SOURCE={other}: expected computed or reported"),
        };
        let number = |name: &str, default: usize| -> anyhow::Result<usize> {
            match get(name) {
                None => Ok(default),
                Some(text) => match text.parse::<usize>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => bail!("{name}={text}: expected a positive whole number"),
                },
            }
        };
        let metrics_cache = match get("TOKENLEDGER_METRICS_CACHE_SECS") {
            None => Duration::from_secs(5),
            Some(text) => match text.parse::<u64>() {
                Ok(secs) => Duration::from_secs(secs),
                Err(_) => bail!("TOKENLEDGER_METRICS_CACHE_SECS={text}: expected a whole number of seconds"),
            },
        };
        let millis = |name: &str, default: usize| -> anyhow::Result<Duration> {
            Ok(Duration::from_millis(u64::try_from(number(name, default)?)?))
        };
        let webhooks = crate::jobs::webhooks::DeliverySettings {
            timeout: millis("TOKENLEDGER_WEBHOOK_TIMEOUT_MS", 5_000)?,
            backoff: millis("TOKENLEDGER_WEBHOOK_BACKOFF_MS", 1_000)?,
            backoff_max: Duration::from_secs(u64::try_from(number(
                "TOKENLEDGER_WEBHOOK_BACKOFF_MAX_SECS",
                3_600,
            )?)?),
            max_attempts: i32::try_from(number("TOKENLEDGER_WEBHOOK_MAX_ATTEMPTS", 10)?)
                .context("TOKENLEDGER_WEBHOOK_MAX_ATTEMPTS is too large")?,
            batch: 100,
        };
        let max_body_bytes = number("TOKENLEDGER_MAX_BODY", 10 * 1024 * 1024)?;
        let body_memory_bytes = number("TOKENLEDGER_BODY_MEMORY", 256 * 1024 * 1024)?;
        if body_memory_bytes < max_body_bytes {
            bail!(
                "TOKENLEDGER_BODY_MEMORY={body_memory_bytes} is less than TOKENLEDGER_MAX_BODY={max_body_bytes}: \
                 a body of the largest accepted size could never be read"
            );
        }
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Ok(Self {
            listen,
            database,
            admin_key: get("TOKENLEDGER_ADMIN_KEY"),
            metrics_key: get("TOKENLEDGER_METRICS_KEY"),
            json_logs,
            max_body_bytes,
            body_memory_bytes,
            max_connections: number("TOKENLEDGER_MAX_CONNECTIONS", 10_000)?,
            max_batch: number("TOKENLEDGER_MAX_BATCH", 10_000)?,
            cost_source,
            db_pool_size: u32::try_from(number("TOKENLEDGER_DB_POOL_SIZE", 8)?).unwrap_or(8),
            writer_connections: number("TOKENLEDGER_WRITER_CONNECTIONS", 4)?,
            writer_max_rows: number("TOKENLEDGER_WRITER_MAX_ROWS", 5_000)?,
            writer_queue_events: number("TOKENLEDGER_WRITER_QUEUE_EVENTS", 200_000)?,
            db_timeout: Duration::from_millis(u64::try_from(number("TOKENLEDGER_DB_TIMEOUT_MS", 5_000)?)?),
            http_workers: number("TOKENLEDGER_HTTP_WORKERS", cores)?,
            header_timeout: millis("TOKENLEDGER_HEADER_TIMEOUT_MS", 10_000)?,
            body_timeout: millis("TOKENLEDGER_BODY_TIMEOUT_MS", 30_000)?,
            key_cache_ttl: match get("TOKENLEDGER_KEY_CACHE_MS") {
                None => Duration::from_millis(1_000),
                Some(text) => match text.parse::<u64>() {
                    Ok(ms) => Duration::from_millis(ms),
                    Err(_) => {
                        bail!("TOKENLEDGER_KEY_CACHE_MS={text}: expected a whole number of milliseconds")
                    }
                },
            },
            catalog_refresh: Duration::from_secs(u64::try_from(number(
                "TOKENLEDGER_CATALOG_REFRESH_SECS",
                5,
            )?)?),
            rollup_interval: Duration::from_millis(u64::try_from(number(
                "TOKENLEDGER_ROLLUP_INTERVAL_MS",
                1_000,
            )?)?),
            metrics_cache,
            metrics_top_teams: number("TOKENLEDGER_METRICS_TOP_TEAMS", 50)?,
            metrics_top_models: number("TOKENLEDGER_METRICS_TOP_MODELS", 50)?,
            budget_eval_interval: Duration::from_secs(u64::try_from(number(
                "TOKENLEDGER_BUDGET_EVAL_SECS",
                5,
            )?)?),
            check_refresh: millis("TOKENLEDGER_CHECK_REFRESH_MS", 1_000)?,
            webhooks,
            webhook_poll: millis("TOKENLEDGER_WEBHOOK_POLL_MS", 1_000)?,
            otlp_team_attribute: get("TOKENLEDGER_OTLP_TEAM_ATTRIBUTE")
                .map(|key| key.trim().to_owned())
                .filter(|key| !key.is_empty())
                .unwrap_or_else(|| "tokenledger.team".to_owned()),
            handle_signals: true,
        })
    }
}
