//! The real `tokenledger serve` binary as a child process, for fault tests: started with a given
//! environment on a port the kernel picks (read back from its JSON log), waited for until
//! `/readyz` answers 200, killed with SIGKILL, its memory read from `/proc/<pid>/status`.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a start may take: migrations and the default catalog on a loaded 2-core box.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// A running `tokenledger serve`; killed (SIGKILL) when dropped.
pub struct ServeProcess {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// Where its stderr (the JSON log) goes.
    pub log: PathBuf,
}

/// Resident and peak resident memory of a process, in KiB (`VmRSS`, `VmHWM`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

impl ServeProcess {
    /// Starts `tokenledger serve` with `env` on top of this process's environment (minus
    /// `DATABASE_URL` and `RUST_LOG`, so the caller decides), logging JSON to `log`, and waits
    /// until it listens and `/readyz` answers 200.
    pub async fn start(env: &[(&str, String)], log: &Path) -> Self {
        let file = std::fs::File::create(log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_tokenledger"));
        command
            .arg("serve")
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "info,sqlx=warn")
            .env("TOKENLEDGER_LOG_FORMAT", "json")
            .env("TOKENLEDGER_LISTEN", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file);
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("starting the tokenledger binary");
        let mut process = Self {
            child,
            address: String::new(),
            log: log.to_owned(),
        };
        let deadline = Instant::now() + START_DEADLINE;
        let port = loop {
            if let Some(port) = process.listening_port() {
                break port;
            }
            process.assert_running("while starting");
            assert!(
                Instant::now() < deadline,
                "tokenledger did not listen within {START_DEADLINE:?}; its log:\n{}",
                process.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        process.address = format!("http://127.0.0.1:{port}");
        process.wait_ready(deadline).await;
        process
    }

    /// The port of the "tokenledger is listening" log line, once it is written.
    fn listening_port(&self) -> Option<u16> {
        let file = std::fs::File::open(&self.log).ok()?;
        BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| {
                let entry: serde_json::Value = serde_json::from_str(&line).ok()?;
                (entry["message"] == "tokenledger is listening")
                    .then(|| entry["port"].as_u64())
                    .flatten()
                    .and_then(|p| u16::try_from(p).ok())
            })
    }

    /// Polls `/readyz` until it answers 200.
    async fn wait_ready(&mut self, deadline: Instant) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        loop {
            if let Ok(response) = client.get(format!("{}/readyz", self.address)).send().await {
                if response.status() == 200 {
                    return;
                }
            }
            self.assert_running("while waiting for /readyz");
            assert!(
                Instant::now() < deadline,
                "tokenledger was not ready within {START_DEADLINE:?}; its log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Panics (with the log) if the process has exited.
    pub fn assert_running(&mut self, when: &str) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!(
                "tokenledger exited {when} ({status}); its log:\n{}",
                self.log_tail()
            );
        }
    }

    /// `kill -9`, and waits until the process is gone. Asserts it died of that signal, not
    /// before.
    pub fn kill9(&mut self) {
        self.assert_running("before it was killed");
        self.child.kill().unwrap();
        let status = self.child.wait().unwrap();
        assert_eq!(status.signal(), Some(9), "tokenledger ended otherwise: {status}");
    }

    /// VmRSS and VmHWM of the process.
    pub fn memory(&self) -> Memory {
        memory_of(self.pid()).expect("reading /proc/<pid>/status of tokenledger")
    }

    /// The last lines of the log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

/// VmRSS and VmHWM of a process, while it runs.
pub fn memory_of(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<u64>().ok())
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
