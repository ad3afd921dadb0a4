//! A PostgreSQL cluster a test owns, so it can take it away: made in a temporary directory from
//! the installed binaries (through `tokenledger::embedded_postgres`), listening on a Unix socket
//! whose path does not change, so a restarted cluster is at the same address. Stopped `-m
//! immediate` (like a crash: connections cut, no checkpoint) and started again with crash
//! recovery; or frozen (SIGSTOP of the postmaster and every backend: connections stay open and
//! nothing answers, like a paused VM or a network partition) and thawed. Removed when dropped.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use tokenledger::embedded_postgres::{find_bin_dir, EmbeddedPostgres};

pub struct PrivatePostgres {
    root: PathBuf,
    /// The URL of its `tokenledger` database (the same before and after a restart).
    pub url: String,
}

impl PrivatePostgres {
    /// Creates and starts a new cluster.
    pub async fn start() -> Self {
        let root = std::env::temp_dir().join(format!("tl-faults-pg-{:016x}", rand::random::<u64>()));
        let cluster = EmbeddedPostgres::start(&root)
            .await
            .expect("starting the private PostgreSQL cluster");
        Self {
            root: root.canonicalize().unwrap(),
            url: cluster.url_for("tokenledger"),
        }
    }

    /// Starts it again after `stop_immediate` (crash recovery), at the same address.
    pub async fn restart(&self) {
        EmbeddedPostgres::start(&self.root)
            .await
            .expect("restarting the private PostgreSQL cluster");
    }

    /// `pg_ctl stop -m immediate`, waiting until the server is gone.
    pub fn stop_immediate(&self) {
        let output = self.pg_ctl_stop().output().unwrap();
        assert!(
            output.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// SIGSTOP to the postmaster (so it starts no new process), then to each of its processes.
    pub fn freeze(&self) {
        let postmaster = self.postmaster_pid();
        assert!(signal("STOP", postmaster), "kill -STOP {postmaster}");
        for child in children(postmaster) {
            // A backend whose client just left may be gone already.
            signal("STOP", child);
        }
    }

    /// SIGCONT to the processes `freeze` stopped.
    pub fn thaw(&self) {
        assert!(self.try_thaw(), "kill -CONT of the postmaster failed");
    }

    fn try_thaw(&self) -> bool {
        let Some(postmaster) = self.try_postmaster_pid() else {
            return false;
        };
        for child in children(postmaster) {
            signal("CONT", child);
        }
        signal("CONT", postmaster)
    }

    fn postmaster_pid(&self) -> u32 {
        self.try_postmaster_pid().expect("reading postmaster.pid")
    }

    fn try_postmaster_pid(&self) -> Option<u32> {
        let pid_file = std::fs::read_to_string(self.root.join("cluster/postmaster.pid")).ok()?;
        pid_file.lines().next()?.trim().parse().ok()
    }

    fn pg_ctl_stop(&self) -> Command {
        let data = self.root.join("cluster");
        // pg_ctl runs as the cluster's owner (EmbeddedPostgres runs it unprivileged under root).
        let owner = std::fs::metadata(&data).unwrap();
        let mut command = Command::new(find_bin_dir().unwrap().join("pg_ctl"));
        command
            .current_dir("/")
            .uid(owner.uid())
            .gid(owner.gid())
            .arg("stop")
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w", "-t", "60"]);
        command
    }
}

/// The processes whose parent is `parent`.
fn children(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // pid (comm) state ppid ...; comm may hold spaces, so read after the last ')'.
            let ppid: u32 = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
            (ppid == parent).then_some(pid)
        })
        .collect()
}

/// Sends a signal; whether the process was there to get it.
fn signal(name: &str, pid: u32) -> bool {
    Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        // A frozen cluster cannot stop.
        self.try_thaw();
        let _ = self.pg_ctl_stop().output();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
