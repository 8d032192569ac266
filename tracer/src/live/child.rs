//! A `tuntrace trace` running as a child process in a network namespace (`ip netns exec NS`),
//! for the demo and tests that trace a lab's namespace from outside it: started, waited for
//! until it traces, stopped with SIGINT, its JSON report read back.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tuntrace_core::report::Report;

/// The line `tuntrace trace` prints on stderr once it traces.
pub const READY: &str = "tuntrace trace: tracing";

pub struct LiveChild {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Everything it printed on stderr so far.
    pub stderr: Vec<String>,
}

impl Drop for LiveChild {
    /// A caller that gives up midway still ends the tracer it started (by its pid).
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl LiveChild {
    /// `exe trace --json -q ARGS` in namespace `ns`, returned once it says it traces.
    pub fn start(exe: &Path, ns: &str, args: &[&str], timeout: Duration) -> Result<LiveChild, String> {
        let argv: Vec<&str> = ["trace", "--json", "-q"].iter().chain(args).copied().collect();
        Self::start_command(exe, ns, &argv, timeout)
    }

    /// `exe ARGV` (a command that traces live and prints its JSON report when interrupted, such
    /// as `trace --json` or `explain IFACE --watch LONG --json`) in namespace `ns`, returned once
    /// it says it traces.
    pub fn start_command(exe: &Path, ns: &str, argv: &[&str], timeout: Duration) -> Result<LiveChild, String> {
        let what = argv.first().copied().unwrap_or("trace");
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(exe)
            .args(argv)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start tuntrace {what} in {ns}: {e}"))?;
        let (tx, lines) = mpsc::channel();
        let err = child.stderr.take().ok_or("no stderr pipe")?;
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut c = LiveChild { child, lines, stderr: Vec::new() };
        let deadline = Instant::now() + timeout;
        loop {
            match c.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(l) => {
                    let ready = l.starts_with(READY);
                    c.stderr.push(l);
                    if ready {
                        return Ok(c);
                    }
                }
                Err(_) => {
                    let status = c.child.try_wait().ok().flatten();
                    return Err(format!(
                        "tuntrace {what} in {ns} {}: {}",
                        status.map_or("did not start tracing in time".to_string(), |s| format!("ended ({s})")),
                        c.stderr.join("; ")
                    ));
                }
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGINT, then its report.
    pub fn stop(mut self) -> Result<Report, String> {
        // SAFETY: kill(2) on the pid of a child we started and have not reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let mut out = String::new();
        if let Some(mut o) = self.child.stdout.take() {
            o.read_to_string(&mut out).map_err(|e| format!("reading the tracer's report: {e}"))?;
        }
        let status = self.child.wait().map_err(|e| format!("waiting for the tracer: {e}"))?;
        std::thread::sleep(Duration::from_millis(20));
        let mut stderr = std::mem::take(&mut self.stderr);
        stderr.extend(self.lines.try_iter());
        if !status.success() {
            return Err(format!("the tracer ended with {status}: {}", stderr.join("; ")));
        }
        self.stderr = stderr;
        serde_json::from_str(&out).map_err(|e| format!("the tracer's report is not JSON ({e})"))
    }
}
