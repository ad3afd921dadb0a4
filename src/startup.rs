//! Wiring: the database (embedded or `DATABASE_URL`), migrations, the catalog, the writer, the
//! background jobs and the HTTP server; and the order in which they stop.

use crate::auth::{generate_secret, hash_secret, secret_prefix, KeyCache};
use crate::config::{Config, DatabaseConfig};
use crate::embedded_postgres::EmbeddedPostgres;
use crate::error::ApiError;
use crate::ingest::writer::{WriterConfig, WriterTasks};
use crate::ingest::{EventWriter, Ingestor};
use crate::metrics::Metrics;
use crate::pricing::CatalogHandle;
use crate::{routes, store};
use actix_web::{middleware::from_fn, web, App, HttpServer};
use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;
use std::net::TcpListener;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// What every handler can reach.
pub struct AppState {
    pub pool: PgPool,
    pub ingestor: Ingestor,
    pub keys: Arc<KeyCache>,
    pub config: Config,
    pub metrics: Arc<Metrics>,
    pub catalog: Arc<CatalogHandle>,
    /// The cached database read behind the business series of `/metrics`.
    pub business_metrics: crate::metrics::business::Cache,
    /// What `GET /v1/check` answers from.
    pub budgets: Arc<crate::budgets::CheckView>,
    /// The budget series of `/metrics`, filled from `budgets` at each render.
    pub budget_metrics: crate::budgets::metrics::BudgetMetrics,
    /// The OpenAPI document, rendered once.
    pub openapi: String,
    /// The bytes of request bodies all requests together may hold (`TOKENLEDGER_BODY_MEMORY`).
    pub bodies: routes::body::BodyBudget,
}

impl AppState {
    /// Rebuilds the in-memory catalog from the database.
    pub async fn reload_catalog(&self) -> Result<(), ApiError> {
        reload_catalog(&self.pool, &self.catalog)
            .await
            .map_err(ApiError::from)
    }
}

async fn reload_catalog(pool: &PgPool, catalog: &CatalogHandle) -> Result<(), sqlx::Error> {
    catalog.replace(crate::catalog::load(pool).await?);
    Ok(())
}

/// Where the database is, starting the embedded cluster if that is the configuration.
async fn database(config: &Config) -> anyhow::Result<(PgConnectOptions, Option<EmbeddedPostgres>)> {
    match &config.database {
        DatabaseConfig::Url(url) => {
            let options =
                PgConnectOptions::from_str(url).context("DATABASE_URL is not a valid PostgreSQL URL")?;
            Ok((options, None))
        }
        DatabaseConfig::Embedded { data_dir } => {
            let embedded = EmbeddedPostgres::start(data_dir).await?;
            Ok((embedded.connect_options(), Some(embedded)))
        }
    }
}

/// Makes sure an admin key exists: the configured one, or a new one printed once.
async fn bootstrap_admin_key(pool: &PgPool, config: &Config) -> anyhow::Result<()> {
    if let Some(secret) = &config.admin_key {
        store::keys::ensure_admin(
            pool,
            "bootstrap-admin",
            &hash_secret(secret),
            &secret_prefix(secret),
        )
        .await?;
        return Ok(());
    }
    let (secret, prefix) = generate_secret();
    if store::keys::create_first_admin(pool, &hash_secret(&secret), &prefix).await? {
        // Printed once, to stdout, so it can be captured; it is never stored or logged.
        println!("tokenledger: created the first admin API key (shown only this once): {secret}");
    }
    Ok(())
}

/// Applies pending migrations and exits (starting and stopping the embedded database if used).
pub async fn migrate_only(config: &Config) -> anyhow::Result<()> {
    let (connect, embedded) = database(config).await?;
    let pool = store::pool(connect, 2, config.db_timeout);
    let migrated = store::migrate(&pool)
        .await
        .context("applying database migrations");
    pool.close().await;
    if let Some(embedded) = embedded {
        embedded.stop().await?;
    }
    migrated?;
    tracing::info!("migrations applied");
    Ok(())
}

/// Imports a LiteLLM price map from the command line (migrating first, as `serve` would).
pub async fn import_prices(
    config: &Config,
    json: &str,
    effective_from: Option<chrono::DateTime<chrono::Utc>>,
) -> anyhow::Result<crate::catalog::ImportReport> {
    let (connect, embedded) = database(config).await?;
    let pool = store::pool(connect, 2, config.db_timeout);
    let result = async {
        store::migrate(&pool)
            .await
            .context("applying database migrations")?;
        let report = crate::catalog::import_litellm(&pool, json, effective_from, "litellm-import").await?;
        let catalog = crate::catalog::load(&pool).await?;
        let models: Vec<(String, String)> = report
            .imported
            .iter()
            .map(|v| (v.provider.clone(), v.model.clone()))
            .collect();
        crate::catalog::price_unpriced(&pool, &catalog, &models).await?;
        anyhow::Ok(report)
    }
    .await;
    pool.close().await;
    if let Some(embedded) = embedded {
        embedded.stop().await?;
    }
    result
}

/// Loads a synthetic seed (`tokenledger seed`), then, unless `skip_rollup`, brings the rollups
/// up to date.
pub async fn seed(
    config: &Config,
    options: crate::seed::SeedOptions,
    skip_rollup: bool,
) -> anyhow::Result<serde_json::Value> {
    let (connect, embedded) = database(config).await?;
    let pool = store::pool(connect, 4, config.db_timeout);
    let result = async {
        store::migrate(&pool)
            .await
            .context("applying database migrations")?;
        let from = options.end - chrono::TimeDelta::days(i64::from(options.days));
        let months = (options.days / 28) + 2;
        store::partitions::ensure_months(&pool, from, months)
            .await
            .context("creating event partitions")?;
        crate::catalog::load_default_if_empty(&pool)
            .await
            .context("loading the default price catalog")?;
        let catalog = Arc::new(crate::catalog::load(&pool).await?);
        // Rollup passes run beside the load, as they would beside live ingest: each pass then
        // aggregates a few chunks, not the whole load at the end.
        let (done, mut stop) = tokio::sync::watch::channel(false);
        let passes = (!skip_rollup).then(|| {
            let pool = pool.clone();
            tokio::spawn(async move {
                loop {
                    if let Err(error) = crate::jobs::rollup::run_once(&pool).await {
                        tracing::warn!(%error, "rollup pass failed; will retry");
                    }
                    tokio::select! {
                        _ = stop.wait_for(|d| *d) => return,
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    }
                }
            })
        });
        let started = std::time::Instant::now();
        let seeded = crate::seed::run(&pool, catalog, &options).await;
        let _ = done.send(true);
        if let Some(passes) = passes {
            let _ = passes.await;
        }
        let seeded = seeded?;
        let rollup = if skip_rollup {
            None
        } else {
            let pass = crate::jobs::rollup::catch_up(&pool, Duration::from_secs(24 * 3600)).await?;
            Some(serde_json::json!({
                "caught_up_seconds_after_start": started.elapsed().as_secs_f64(),
                "last_pass_events": pass.events_added,
            }))
        };
        anyhow::Ok(serde_json::json!({"seed": seeded, "rollup": rollup}))
    }
    .await;
    pool.close().await;
    if let Some(embedded) = embedded {
        embedded.stop().await?;
    }
    result
}

/// `tokenledger bench spend`: brings the rollups up to date, then measures spend questions.
pub async fn bench_spend(
    config: &Config,
    iterations: usize,
    raw_iterations: usize,
) -> anyhow::Result<crate::bench::spend::SpendFigures> {
    let (connect, embedded) = database(config).await?;
    let pool = store::pool(connect, 2, config.db_timeout);
    let result = async {
        store::migrate(&pool)
            .await
            .context("applying database migrations")?;
        crate::jobs::rollup::catch_up(&pool, Duration::from_secs(24 * 3600)).await?;
        crate::bench::spend::run(&pool, iterations, raw_iterations).await
    }
    .await;
    pool.close().await;
    if let Some(embedded) = embedded {
        embedded.stop().await?;
    }
    result
}

/// Runs rollup passes until the rollups hold every event stored so far (`tokenledger rollup`).
pub async fn rollup(config: &Config) -> anyhow::Result<crate::jobs::rollup::PassReport> {
    let (connect, embedded) = database(config).await?;
    let pool = store::pool(connect, 2, config.db_timeout);
    let result = async {
        store::migrate(&pool)
            .await
            .context("applying database migrations")?;
        Ok(crate::jobs::rollup::catch_up(&pool, Duration::from_secs(24 * 3600)).await?)
    }
    .await;
    pool.close().await;
    if let Some(embedded) = embedded {
        embedded.stop().await?;
    }
    result
}

/// A built, not yet running, service.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    state: web::Data<AppState>,
    writer_tasks: WriterTasks,
    jobs: JoinSet<()>,
    embedded: Option<EmbeddedPostgres>,
}

impl Application {
    /// Prepares everything: the database is migrated and the port bound when this returns.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let (connect, embedded) = database(&config).await?;
        let pool = store::pool(connect.clone(), config.db_pool_size, config.db_timeout);
        store::migrate(&pool)
            .await
            .context("applying database migrations (is the database reachable?)")?;
        store::partitions::ensure_ahead(&pool, chrono::Utc::now(), 2)
            .await
            .context("creating event partitions")?;
        bootstrap_admin_key(&pool, &config)
            .await
            .context("creating the admin key")?;
        crate::catalog::load_default_if_empty(&pool)
            .await
            .context("loading the default price catalog")?;

        let catalog = Arc::new(CatalogHandle::default());
        reload_catalog(&pool, &catalog)
            .await
            .context("loading the price catalog")?;
        let metrics = Arc::new(Metrics::new().context("registering metrics")?);
        let (writer, writer_tasks) = EventWriter::start(
            connect.clone(),
            WriterConfig {
                connections: config.writer_connections,
                max_rows: config.writer_max_rows,
                queue_events: config.writer_queue_events,
                timeout: config.db_timeout,
            },
            metrics.clone(),
        );
        let check_view = Arc::new(crate::budgets::CheckView::default());
        let keys = Arc::new(KeyCache::new(config.key_cache_ttl));
        let openapi = serde_json::to_string(&routes::openapi()).context("rendering the OpenAPI document")?;
        let state = web::Data::new(AppState {
            pool: pool.clone(),
            ingestor: Ingestor {
                catalog: catalog.clone(),
                writer,
                metrics: metrics.clone(),
                max_batch: config.max_batch,
                budgets: check_view.clone(),
                cost_source: config.cost_source,
            },
            keys: keys.clone(),
            config: config.clone(),
            metrics,
            catalog: catalog.clone(),
            business_metrics: crate::metrics::business::Cache::new(
                config.metrics_cache,
                crate::metrics::business::Shape {
                    cost_source: config.cost_source,
                    top_teams: config.metrics_top_teams,
                    top_models: config.metrics_top_models,
                },
            ),
            budgets: check_view.clone(),
            budget_metrics: crate::budgets::metrics::BudgetMetrics::new()
                .context("registering budget metrics")?,
            openapi,
            bodies: routes::body::BodyBudget::new(config.body_memory_bytes),
        });

        let listener =
            TcpListener::bind(config.listen).with_context(|| format!("binding {}", config.listen))?;
        let port = listener.local_addr()?.port();
        let app_state = state.clone();
        let mut server = HttpServer::new(move || {
            use utoipa_actix_web::AppExt;
            App::new()
                .app_data(app_state.clone())
                .configure(routes::extractor_errors)
                .wrap(from_fn(routes::deadline::body_deadline))
                .wrap(from_fn(routes::middleware::observe))
                .into_utoipa_app()
                .configure(routes::configure)
                .into_app()
                .default_service(web::to(routes::not_found))
        })
        .workers(config.http_workers)
        .max_connections(config.max_connections.div_ceil(config.http_workers.max(1)))
        .client_request_timeout(config.header_timeout)
        .client_disconnect_timeout(Duration::from_secs(2))
        .shutdown_timeout(30)
        .listen(listener)?;
        // Signals are handled by `main` (serve), which stops the server in order; tests stop it
        // through its handle.
        server = server.disable_signals();
        let server = server.run();

        let mut jobs = JoinSet::new();
        // One connection of its own, held while listening for revocations.
        jobs.spawn(crate::auth::forget_revoked_keys(
            store::pool(connect.clone(), 1, config.db_timeout),
            keys,
        ));
        jobs.spawn(refresh_catalog(pool.clone(), catalog, config.catalog_refresh));
        jobs.spawn(crate::jobs::rollup::run_every(
            pool.clone(),
            config.rollup_interval,
            state.metrics.clone(),
        ));
        jobs.spawn(crate::budgets::check::run_every(
            pool.clone(),
            check_view,
            config.cost_source,
            config.check_refresh,
        ));
        jobs.spawn(crate::jobs::budget_alerts::run_every(
            pool.clone(),
            config.budget_eval_interval,
            config.cost_source,
            state.metrics.clone(),
        ));
        // Each delivery waits out its own backoff; the outbox is polled for due ones.
        jobs.spawn(crate::jobs::webhooks::run_every(
            pool.clone(),
            config.webhook_poll,
            config.webhooks.clone(),
        ));
        jobs.spawn(maintain_partitions(pool));
        tracing::info!(address = %config.listen, port, "tokenledger is listening");
        Ok(Self {
            port,
            server,
            state,
            writer_tasks,
            jobs,
            embedded,
        })
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle that stops the server gracefully.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped (SIGINT/SIGTERM, or `handle().stop(true)`), then stops in order:
    /// in-flight requests finish and their batches commit, the writer drains, jobs stop, the
    /// embedded database stops.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self {
            server,
            state,
            writer_tasks,
            mut jobs,
            embedded,
            ..
        } = self;
        let served = server.await;
        tracing::info!("HTTP server stopped; committing queued events");
        writer_tasks.shutdown().await;
        jobs.shutdown().await;
        state.pool.close().await;
        drop(state);
        if let Some(embedded) = embedded {
            embedded.stop().await.context("stopping the embedded database")?;
            tracing::info!("embedded PostgreSQL stopped");
        }
        served.context("the HTTP server failed")
    }
}

/// Picks up price and alias changes made on other replicas.
async fn refresh_catalog(pool: PgPool, catalog: Arc<CatalogHandle>, every: Duration) {
    let mut seen = crate::catalog::version(&pool).await.ok();
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match crate::catalog::version(&pool).await {
            Ok(version) if Some(version) != seen => {
                if reload_catalog(&pool, &catalog).await.is_ok() {
                    seen = Some(version);
                }
            }
            Ok(_) => {}
            Err(error) => tracing::debug!(%error, "catalog refresh skipped"),
        }
    }
}

/// Keeps monthly partitions created ahead.
async fn maintain_partitions(pool: PgPool) {
    let mut tick = tokio::time::interval(Duration::from_secs(6 * 3600));
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(error) = store::partitions::ensure_ahead(&pool, chrono::Utc::now(), 2).await {
            tracing::warn!(%error, "creating event partitions failed; will retry");
        }
    }
}

/// Creates an API key from the command line; returns its secret.
pub async fn create_key(
    app: &Application,
    name: &str,
    scope: crate::domain::Scope,
    team: Option<&str>,
) -> anyhow::Result<String> {
    let (secret, prefix) = generate_secret();
    store::keys::insert(
        &app.state.pool,
        name,
        scope.as_str(),
        team,
        &hash_secret(&secret),
        &prefix,
    )
    .await?;
    Ok(secret)
}
