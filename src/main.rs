//! The `tokenledger` command: parse the command line and hand over to the library.

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokenledger::config::Config;
use tokenledger::domain::Scope;
use tokenledger::startup::Application;

#[derive(Parser)]
#[command(
    name = "tokenledger",
    version,
    about = "Usage metering and exact cost accounting for multi-provider AI"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (configuration from the environment; see README).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage the price catalog.
    Prices {
        #[command(subcommand)]
        command: PricesCommand,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Run rollup passes until the rollups hold every stored event, then exit.
    Rollup,
    /// Benchmarks: print figures and write them as JSON.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Load realistic synthetic events fast (COPY), for benchmarks and demos.
    Seed {
        /// How many events.
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// Spread over this many days before now.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// How many teams (traffic falls off as 1/rank).
        #[arg(long, default_value_t = 20)]
        teams: usize,
        /// Random seed; event ids carry it, so two seeds can be loaded into one database.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Do not bring the rollups up to date afterwards.
        #[arg(long)]
        skip_rollup: bool,
    },
}

#[derive(Subcommand)]
enum PricesCommand {
    /// Import LiteLLM's model_prices_and_context_window.json (a path, or - for standard input).
    Import {
        file: String,
        /// RFC 3339. Default: a changed price applies from now, a new model's from the beginning of time.
        #[arg(long)]
        effective_from: Option<String>,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Latency of typical spend questions over the stored events (load them with `seed`), from
    /// rollups and over raw events; disk bytes per event.
    Spend {
        #[arg(long, default_value_t = 30)]
        iterations: usize,
        /// Runs of each question over raw events (0: skip them).
        #[arg(long, default_value_t = 3)]
        raw_iterations: usize,
        /// Where to write the figures.
        #[arg(long, default_value = "bench-spend.json")]
        out: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print its secret (shown only this once).
    Create {
        #[arg(long)]
        name: String,
        /// ingest, read or admin
        #[arg(long)]
        scope: String,
        /// Restrict an ingest or read key to one team.
        #[arg(long)]
        team: Option<String>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::from_env()?;
    tokenledger::telemetry::init(config.json_logs);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve => serve(config).await,
            Command::Migrate => tokenledger::startup::migrate_only(&config).await,
            Command::Prices {
                command: PricesCommand::Import { file, effective_from },
            } => {
                let effective_from = effective_from
                    .map(|t| chrono::DateTime::parse_from_rfc3339(&t).map(|t| t.to_utc()))
                    .transpose()
                    .context("--effective-from must be an RFC 3339 time")?;
                let json = if file == "-" {
                    std::io::read_to_string(std::io::stdin()).context("reading standard input")?
                } else {
                    std::fs::read_to_string(&file).with_context(|| format!("reading {file}"))?
                };
                let report = tokenledger::startup::import_prices(&config, &json, effective_from).await?;
                println!("{}", serde_json::to_string_pretty(&report)?);
                Ok(())
            }
            Command::Bench {
                command:
                    BenchCommand::Spend {
                        iterations,
                        raw_iterations,
                        out,
                    },
            } => {
                let figures = tokenledger::startup::bench_spend(&config, iterations, raw_iterations).await?;
                print!("{}", tokenledger::bench::spend::table(&figures));
                std::fs::write(&out, serde_json::to_string_pretty(&figures)?)
                    .with_context(|| format!("writing {out}"))?;
                println!("\nfigures written to {out}");
                Ok(())
            }
            Command::Rollup => {
                let report = tokenledger::startup::rollup(&config).await?;
                println!(
                    "rollups up to date: {} events added, {} hours recomputed",
                    report.events_added, report.hours_recomputed
                );
                Ok(())
            }
            Command::Seed {
                events,
                days,
                teams,
                seed,
                skip_rollup,
            } => {
                let options = tokenledger::seed::SeedOptions {
                    events,
                    days: days.max(1),
                    teams,
                    end: chrono::Utc::now(),
                    seed,
                    chunk: 50_000,
                };
                let report = tokenledger::startup::seed(&config, options, skip_rollup).await?;
                println!("{}", serde_json::to_string_pretty(&report)?);
                Ok(())
            }
            Command::Keys {
                command: KeysCommand::Create { name, scope, team },
            } => {
                let scope = Scope::parse(&scope).context("--scope must be ingest, read or admin")?;
                let mut config = config;
                config.listen = "127.0.0.1:0".parse()?;
                let app = Application::build(config).await?;
                let secret = tokenledger::startup::create_key(&app, &name, scope, team.as_deref()).await?;
                println!("{secret}");
                app.handle().stop(true).await;
                app.run_until_stopped().await
            }
        }
    })
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let handle_signals = config.handle_signals;
    let app = Application::build(config).await?;
    if handle_signals {
        let handle = app.handle();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down: finishing in-flight requests");
            handle.stop(true).await;
        });
    }
    app.run_until_stopped().await
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
