//! A `tuntrace trace --json -q` running in a network namespace, its stderr followed on a thread:
//! started and awaited until it says it traces, signalled, and read back as a report.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tuntrace_core::report::Report;

pub struct Tracer {
    pub child: Child,
    pub lines: mpsc::Receiver<String>,
    /// What it has said on stderr so far.
    pub stderr: Vec<String>,
}

impl Drop for Tracer {
    /// A test that fails midway still ends the tracer it started (by its pid).
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Tracer {
    /// Starts it in namespace `ns` with `args` and waits (30 s at most) for its ready line.
    pub fn start(ns: &str, args: &[&str]) -> Tracer {
        Tracer::start_env(ns, args, &[])
    }

    /// [`Tracer::start`] with these environment variables set for it.
    pub fn start_env(ns: &str, args: &[&str], env: &[(&str, &str)]) -> Tracer {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, env!("CARGO_BIN_EXE_tuntrace"), "trace", "--json", "-q"])
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tuntrace trace");
        let (tx, lines) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        let mut t = Tracer { child, lines, stderr: Vec::new() };
        t.wait_for("tuntrace trace: tracing", Duration::from_secs(30));
        t
    }

    /// Waits until a line of its stderr contains `what`.
    pub fn wait_for(&mut self, what: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(l) => {
                    let hit = l.contains(what);
                    self.stderr.push(l);
                    if hit {
                        return;
                    }
                }
                Err(_) => {
                    panic!("tuntrace trace did not say {what:?} in {timeout:?}; stderr:\n{}", self.stderr.join("\n"))
                }
            }
        }
    }

    /// The tracer's own process (ip netns exec execs it, so the pid is the same).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on a child we started and have not reaped.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }

    /// Waits for it to end; its report (when it printed one), exit status and stderr.
    pub fn finish(mut self) -> (Option<Report>, ExitStatus, Vec<String>) {
        let mut out = String::new();
        self.child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        let status = self.child.wait().unwrap();
        // The stderr reader ends with the process; take what it has.
        std::thread::sleep(Duration::from_millis(50));
        let mut stderr = std::mem::take(&mut self.stderr);
        stderr.extend(self.lines.try_iter());
        let report = (!out.is_empty()).then(|| {
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("report JSON: {e}\n{out}\n{}", stderr.join("\n")))
        });
        (report, status, stderr)
    }

    /// SIGINT, then the report it prints; it must end successfully with one.
    pub fn stop(self) -> (Report, Vec<String>) {
        self.signal(libc::SIGINT);
        let (report, status, stderr) = self.finish();
        assert!(status.success(), "tuntrace trace: {status}; stderr:\n{}", stderr.join("\n"));
        (report.unwrap_or_else(|| panic!("no report; stderr:\n{}", stderr.join("\n"))), stderr)
    }
}
