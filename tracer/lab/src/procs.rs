//! Processes the lab starts, and the state file that lets a later run find them again.
//!
//! The lab must never end a process it did not start. A child we still hold cannot have its pid
//! reused (it is not reaped until we wait), so signalling it is safe. A pid read back from the
//! state file of a killed run is only signalled when /proc/PID/cmdline still names the program we
//! recorded, which guards against the pid having been reused by something else since.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::LabError;

/// Where state files live: on tmpfs, so a reboot forgets them together with the namespaces.
pub const STATE_ROOT: &str = "/run/tuntrace-lab";

/// One process as written to the state file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Recorded {
    /// What it is to the lab ("charon ue", "tcpdump outer", ...).
    pub what: String,
    pub pid: u32,
    /// The program it ends up as after the `ip netns exec`/`unshare` chain (base name of argv[0]).
    pub program: String,
}

/// Everything a run created that a later run may have to remove.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub prefix: String,
    /// The process that brought the lab up, so a lab still in use is never taken for a leftover.
    #[serde(default)]
    pub owner: Option<Owner>,
    pub namespaces: Vec<String>,
    pub processes: Vec<Recorded>,
    pub workdir: PathBuf,
}

/// A process identified beyond its pid: (pid, start time in clock ticks since boot).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    pub start: u64,
}

/// Start time of a process (field 22 of /proc/PID/stat), which tells a reused pid apart.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(") ")?;
    // rest starts at field 3 (state); field 22 is the 20th of rest.
    rest.split_whitespace().nth(19)?.parse().ok()
}

impl Owner {
    pub fn me() -> Owner {
        let pid = std::process::id();
        Owner { pid, start: start_time(pid).unwrap_or(0) }
    }

    pub fn is_running(&self) -> bool {
        alive(self.pid) && start_time(self.pid) == Some(self.start)
    }
}

/// Prefixes of labs this process currently has up (a lab can only be owned by a live process).
static LIVE: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

pub fn claim(prefix: &str) -> bool {
    let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    if live.iter().any(|p| p == prefix) {
        return false;
    }
    live.push(prefix.to_string());
    true
}

pub fn release(prefix: &str) {
    LIVE.lock().unwrap_or_else(|e| e.into_inner()).retain(|p| p != prefix);
}

pub fn state_dir(prefix: &str) -> PathBuf {
    Path::new(STATE_ROOT).join(prefix)
}

impl State {
    pub fn path(prefix: &str) -> PathBuf {
        state_dir(prefix).join("state.json")
    }

    pub fn load(prefix: &str) -> Option<State> {
        let text = fs::read_to_string(Self::path(prefix)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Written before each thing is created, so a crash at any point leaves a complete record.
    pub fn save(&self) -> Result<(), LabError> {
        let dir = state_dir(&self.prefix);
        // Another lab's teardown may remove the empty STATE_ROOT between our two mkdirs: retry.
        let mut made = fs::create_dir_all(&dir);
        for _ in 0..3 {
            if made.is_ok() {
                break;
            }
            made = fs::create_dir_all(&dir);
        }
        made.map_err(|e| LabError::io(format!("create {}", dir.display()), e))?;
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        let tmp = dir.join("state.json.tmp");
        fs::write(&tmp, text).map_err(|e| LabError::io(format!("write {}", tmp.display()), e))?;
        fs::rename(&tmp, Self::path(&self.prefix)).map_err(|e| LabError::io(format!("rename {}", tmp.display()), e))
    }
}

/// argv of a live process, or None if it is gone.
pub fn cmdline(pid: u32) -> Option<Vec<String>> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    if raw.is_empty() {
        // Zombies and kernel threads have an empty cmdline.
        return None;
    }
    Some(raw.split(|b| *b == 0).filter(|s| !s.is_empty()).map(|s| String::from_utf8_lossy(s).into_owned()).collect())
}

pub fn program_of(argv: &[String]) -> Option<&str> {
    argv.first().map(|a| a.rsplit('/').next().unwrap_or(a))
}

/// A process that exists and has not exited (zombies count as gone).
pub fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised comm, which may itself contain ") ".
        Ok(s) => s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')).unwrap_or(false),
        Err(_) => false,
    }
}

/// Send a signal to one pid through procps' kill (std can only SIGKILL its own children).
pub fn signal(pid: u32, sig: &str) -> bool {
    Command::new("kill")
        .args(["-s", sig, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A process this run started and still holds.
pub struct Proc {
    pub what: String,
    pub program: String,
    pub child: Child,
}

/// How a process ended when the lab stopped it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stopped {
    pub what: String,
    pub pid: u32,
    /// "exited" (was already done), "term" (ended on SIGTERM), "kill" (needed SIGKILL).
    pub how: String,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn recorded(&self) -> Recorded {
        Recorded { what: self.what.clone(), pid: self.pid(), program: self.program.clone() }
    }

    /// True once the process has exited (and reaps it).
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Wait for a voluntary exit; false if it is still running after `limit`.
    pub fn wait_for_exit(&mut self, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        loop {
            if self.exited() {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, a grace period, then SIGKILL.
    pub fn stop(&mut self, sig: &str, grace: Duration) -> Stopped {
        let pid = self.pid();
        let what = self.what.clone();
        if self.exited() {
            return Stopped { what, pid, how: "exited".into() };
        }
        signal(pid, sig);
        if self.wait_for_exit(grace) {
            return Stopped { what, pid, how: sig.to_ascii_lowercase() };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Stopped { what, pid, how: "kill".into() }
    }
}

/// End a pid recorded by an earlier run, if it still is the program we recorded.
/// Returns what was done, or None when the pid is gone or now belongs to something else.
pub fn stop_recorded(r: &Recorded, grace: Duration) -> Option<Stopped> {
    let argv = cmdline(r.pid)?;
    if program_of(&argv) != Some(r.program.as_str()) {
        return None;
    }
    signal(r.pid, "TERM");
    let end = Instant::now() + grace;
    while Instant::now() < end {
        if !alive(r.pid) {
            return Some(Stopped { what: r.what.clone(), pid: r.pid, how: "term".into() });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Re-check identity right before the hard kill: the pid may have been recycled meanwhile.
    let argv = cmdline(r.pid)?;
    if program_of(&argv) != Some(r.program.as_str()) {
        return None;
    }
    signal(r.pid, "KILL");
    Some(Stopped { what: r.what.clone(), pid: r.pid, how: "kill".into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_and_named() {
        let me = std::process::id();
        assert!(alive(me));
        let argv = cmdline(me).expect("own cmdline");
        assert!(program_of(&argv).is_some());
        assert!(!alive(u32::MAX - 1));
        let me = Owner::me();
        assert!(me.start > 0 && me.is_running());
        assert!(!Owner { start: me.start + 1, ..me }.is_running(), "a different start time is another process");
    }

    #[test]
    fn recorded_pid_with_other_program_is_left_alone() {
        // A sleep we start, recorded under a program name it does not have: must not be touched.
        let mut child = Command::new("sleep").arg("5").spawn().expect("sleep");
        // spawn() returns once exec has begun; argv appears a moment later.
        let end = Instant::now() + Duration::from_secs(2);
        while cmdline(child.id()).is_none() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(5));
        }
        let r = Recorded { what: "test".into(), pid: child.id(), program: "charon".into() };
        assert!(stop_recorded(&r, Duration::from_millis(100)).is_none());
        assert!(matches!(child.try_wait(), Ok(None)), "sleep must still run");
        let r = Recorded { program: "sleep".into(), ..r };
        let s = stop_recorded(&r, Duration::from_secs(2)).expect("stopped");
        assert_eq!(s.pid, child.id());
        let _ = child.wait();
    }
}
