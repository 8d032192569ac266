//! From the kernel's boot clock to the wall clock.
//!
//! eBPF stamps events with `bpf_ktime_get_boot_ns()` (CLOCK_BOOTTIME: counts from boot, goes on
//! through suspend, never jumps) and /proc gives process start times on the same clock. Reports
//! need wall-clock time, so a session measures the offset between the two clocks once and
//! adds it to every stamp; later NTP steps of the wall clock do not move events already seen.

use std::io;

use tuntrace_core::time::Timestamp;

use super::HostError;

/// Nanoseconds on CLOCK_BOOTTIME, the clock of `bpf_ktime_get_boot_ns()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct BootNs(pub u64);

/// Wall-clock time = boot time + `offset_ns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootToWall {
    pub offset_ns: i64,
    /// Width of the tightest bracket of the measurement: the offset is good to half of it.
    pub uncertainty_ns: u64,
}

impl BootToWall {
    /// Measures the offset: reads REALTIME, BOOTTIME, REALTIME in a tight bracket several
    /// times and keeps the bracket with the smallest gap (the one least disturbed by a
    /// preemption), taking its middle as the wall time of the boot-clock reading.
    pub fn measure() -> Result<BootToWall, HostError> {
        let mut best: Option<BootToWall> = None;
        for _ in 0..16 {
            let r1 = now(libc::CLOCK_REALTIME)?;
            let b = now(libc::CLOCK_BOOTTIME)?;
            let r2 = now(libc::CLOCK_REALTIME)?;
            if r2 < r1 {
                continue; // the wall clock was stepped inside the bracket
            }
            let gap = (r2 - r1) as u64;
            let mid = r1 + (r2 - r1) / 2;
            let m = BootToWall { offset_ns: (mid - b) as i64, uncertainty_ns: gap };
            if best.is_none_or(|x| gap < x.uncertainty_ns) {
                best = Some(m);
            }
        }
        best.ok_or(HostError::Sys {
            call: "clock_gettime",
            source: io::Error::other("the wall clock went backwards in every measurement"),
        })
    }

    /// Wall-clock nanoseconds since the Unix epoch.
    pub fn wall_ns(&self, t: BootNs) -> i64 {
        (t.0 as i64).saturating_add(self.offset_ns)
    }

    pub fn timestamp(&self, t: BootNs) -> Timestamp {
        Timestamp(self.wall_ns(t))
    }
}

/// The boot clock now.
pub fn boot_now() -> Result<BootNs, HostError> {
    Ok(BootNs(now(libc::CLOCK_BOOTTIME)? as u64))
}

fn now(clock: libc::clockid_t) -> Result<i128, HostError> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec we own.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return Err(HostError::Sys { call: "clock_gettime", source: io::Error::last_os_error() });
    }
    Ok(ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_stamps_map_to_now_on_the_wall_clock() {
        let c = BootToWall::measure().unwrap();
        // Two clock reads on an idle-enough machine are microseconds apart, not milliseconds.
        assert!(c.uncertainty_ns < 5_000_000, "{c:?}");
        let wall = c.wall_ns(boot_now().unwrap());
        let sys = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
        assert!((wall - sys).abs() < 50_000_000, "boot→wall {wall} vs SystemTime {sys}");
        // The machine booted in the past, after 2020.
        assert!(c.offset_ns > 1_577_836_800_000_000_000 && c.offset_ns < sys, "{c:?}");
    }
}
