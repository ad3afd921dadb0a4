//! The embedded default database: a private PostgreSQL cluster under the data directory, made
//! with the local install's `initdb` and run with its `pg_ctl`, started and stopped with the
//! service. It listens only on a Unix socket in a directory of its own, so it never collides with
//! another PostgreSQL on the machine. PostgreSQL refuses to run as root; started as root, the
//! cluster runs as the `postgres` user (or `nobody`).

use anyhow::{bail, Context};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SUPERUSER: &str = "tokenledger";
const DATABASE: &str = "tokenledger";
/// Unix socket paths are limited to ~107 bytes; longer data paths put the socket in /tmp.
const MAX_SOCKET_DIR_LEN: usize = 90;

/// A running private cluster.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    data_dir: PathBuf,
    socket_dir: PathBuf,
    bin_dir: PathBuf,
    run_as: Option<(u32, u32)>,
}

/// Where the server binaries are: `TOKENLEDGER_PG_BIN`, `PATH`, `pg_config --bindir`, or the
/// usual install locations (Debian keeps them off `PATH`, under /usr/lib/postgresql/N/bin).
pub fn find_bin_dir() -> anyhow::Result<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::var_os("TOKENLEDGER_PG_BIN") {
        candidates.push(dir.into());
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        if out.status.success() {
            candidates.push(String::from_utf8_lossy(&out.stdout).trim().into());
        }
    }
    let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .collect();
    versioned.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    candidates.extend(versioned.into_iter().map(|(_, p)| p));
    candidates.extend(["/usr/local/pgsql/bin", "/opt/homebrew/bin", "/usr/local/bin"].map(PathBuf::from));
    candidates.into_iter().find(|d| has_both(d)).ok_or_else(|| {
        anyhow::anyhow!(
            "the PostgreSQL server programs initdb and pg_ctl were not found. Either install PostgreSQL \
             (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql) so the embedded \
             database can run, or set DATABASE_URL to an existing PostgreSQL database"
        )
    })
}

/// uid and gid of a user, read from /etc/passwd.
fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&name))
            .then(|| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))?
    })
}

fn is_root() -> bool {
    // The effective uid, without unsafe FFI; off Linux (no /proc) the service is assumed not root.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

impl EmbeddedPostgres {
    /// Creates the cluster if needed and starts it (or adopts it if it is already running, as
    /// after a crash of the service).
    pub async fn start(data_dir: &Path) -> anyhow::Result<Self> {
        let bin_dir = find_bin_dir()?;
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating the database directory {}", data_dir.display()))?;
        let data_dir = data_dir
            .canonicalize()
            .context("resolving the database directory")?;
        let run_as = if is_root() {
            let ids = lookup_user("postgres")
                .or_else(|| lookup_user("nobody"))
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "running as root, and neither a postgres nor a nobody user exists to run PostgreSQL"
                    )
                })?;
            Some(ids)
        } else {
            None
        };
        let socket_dir = if data_dir.as_os_str().len() <= MAX_SOCKET_DIR_LEN {
            data_dir.join("run")
        } else {
            std::env::temp_dir().join(format!("tokenledger-{:x}", fingerprint(&data_dir)))
        };
        let cluster = Self {
            data_dir: data_dir.join("cluster"),
            socket_dir,
            bin_dir,
            run_as,
        };
        cluster.prepare_dirs(&data_dir)?;
        let cluster_for_blocking = cluster.clone_paths();
        tokio::task::spawn_blocking(move || cluster_for_blocking.init_and_start())
            .await
            .context("the database start task failed")??;
        cluster.create_database().await?;
        Ok(cluster)
    }

    fn clone_paths(&self) -> Self {
        Self {
            data_dir: self.data_dir.clone(),
            socket_dir: self.socket_dir.clone(),
            bin_dir: self.bin_dir.clone(),
            run_as: self.run_as,
        }
    }

    fn prepare_dirs(&self, root: &Path) -> anyhow::Result<()> {
        for dir in [root, self.socket_dir.as_path()] {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        if let Some((uid, gid)) = self.run_as {
            for dir in [root, self.socket_dir.as_path()] {
                std::os::unix::fs::chown(dir, Some(uid), Some(gid))
                    .with_context(|| format!("giving {} to the database user", dir.display()))?;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            }
            // Every parent must be traversable by the database user.
            for ancestor in root.ancestors().skip(1) {
                let mode = std::fs::metadata(ancestor)?.permissions().mode();
                if mode & 0o001 == 0 {
                    bail!(
                        "the database directory {} is inside {}, which the unprivileged database user cannot \
                         enter (PostgreSQL refuses to run as root). Set TOKENLEDGER_DATA_DIR to a directory \
                         outside it, or set DATABASE_URL",
                        root.display(),
                        ancestor.display()
                    );
                }
            }
        }
        Ok(())
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin_dir.join(program));
        command.current_dir("/").env_remove("PGDATA").env("LC_ALL", "C");
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid);
        }
        command
    }

    fn run(&self, mut command: Command, what: &str) -> anyhow::Result<Output> {
        let output = command.output().with_context(|| format!("running {what}"))?;
        if !output.status.success() {
            bail!(
                "{what} failed: {}{}",
                String::from_utf8_lossy(&output.stderr).trim(),
                String::from_utf8_lossy(&output.stdout).trim()
            );
        }
        Ok(output)
    }

    fn init_and_start(&self) -> anyhow::Result<()> {
        if !self.data_dir.join("PG_VERSION").exists() {
            let mut initdb = self.command("initdb");
            initdb.arg("-D").arg(&self.data_dir).args([
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ]);
            self.run(initdb, "initdb")?;
            tracing::info!(dir = %self.data_dir.display(), "created the embedded PostgreSQL cluster");
        }
        let mut status = self.command("pg_ctl");
        status.arg("status").arg("-D").arg(&self.data_dir);
        if status.output().map(|o| o.status.success()).unwrap_or(false) {
            tracing::info!("the embedded PostgreSQL is already running; using it");
            return Ok(());
        }
        // backend_flush_after: a backend that writes data pages asks the kernel to write them back
        // every 256 kB (PostgreSQL's own default for the checkpointer), instead of leaving them
        // dirty in the page cache until Linux flushes them, 30 s later, in one burst that queues
        // the WAL's fsync behind hundreds of megabytes and stalls every commit (README, Performance).
        let options = format!(
            "-c listen_addresses='' -k {} -c max_connections=100 -c shared_buffers=256MB -c max_wal_size=4GB -c backend_flush_after=256kB",
            self.socket_dir.display()
        );
        let mut start = self.command("pg_ctl");
        start
            .arg("start")
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(self.data_dir.join("postgres.log"))
            .args(["-w", "-t", "60", "-o", &options]);
        self.run(start, "pg_ctl start").with_context(|| {
            format!(
                "see {} for the database's own log",
                self.data_dir.join("postgres.log").display()
            )
        })?;
        tracing::info!(socket = %self.socket_dir.display(), "started the embedded PostgreSQL");
        Ok(())
    }

    async fn create_database(&self) -> anyhow::Result<()> {
        let mut conn = self
            .options_for("postgres")
            .connect()
            .await
            .context("connecting to the embedded database")?;
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(DATABASE)
            .fetch_one(&mut conn)
            .await?;
        if !exists {
            sqlx::query(&format!("CREATE DATABASE {DATABASE}"))
                .execute(&mut conn)
                .await?;
        }
        conn.close().await?;
        Ok(())
    }

    fn options_for(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.socket_dir)
            .username(SUPERUSER)
            .database(database)
    }

    /// How to connect to the service's database.
    pub fn connect_options(&self) -> PgConnectOptions {
        self.options_for(DATABASE)
    }

    /// A URL for another database of this cluster (tests make one per test).
    pub fn url_for(&self, database: &str) -> String {
        format!(
            "postgres://{SUPERUSER}@localhost/{database}?host={}",
            self.socket_dir.display()
        )
    }

    /// Stops the cluster (fast shutdown: open transactions are rolled back, committed data kept).
    pub async fn stop(&self) -> anyhow::Result<()> {
        let this = self.clone_paths();
        tokio::task::spawn_blocking(move || {
            let mut stop = this.command("pg_ctl");
            stop.arg("stop")
                .arg("-D")
                .arg(&this.data_dir)
                .args(["-m", "fast", "-w", "-t", "60"]);
            this.run(stop, "pg_ctl stop").map(|_| ())
        })
        .await
        .context("the database stop task failed")?
    }
}

fn fingerprint(path: &Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut hasher);
    hasher.finish()
}
