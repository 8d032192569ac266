//! A report narrowed to some processes (`tuntrace trace --pid/--comm`): what they own, with the
//! interfaces and totals of the whole session kept for context.

use super::Report;

/// Which processes to keep: by pid or by command name (either matches).
#[derive(Debug, Clone, Default)]
pub struct ProcessFilter {
    pub pids: Vec<u32>,
    pub comms: Vec<String>,
}

impl ProcessFilter {
    pub fn is_empty(&self) -> bool {
        self.pids.is_empty() && self.comms.is_empty()
    }

    fn keeps(&self, pid: Option<u32>, comm: Option<&str>) -> bool {
        pid.is_some_and(|p| self.pids.contains(&p)) || comm.is_some_and(|c| self.comms.iter().any(|x| x == c))
    }

    /// Keep in `r` only the processes, flows, sockets, SAs and SIP calls of the chosen
    /// processes. Interfaces and `stats` stay whole (they describe the session); ESP SAs keep
    /// their link to the IKE SA they belong to, renumbered; verdicts stay as the whole session
    /// gave them.
    pub fn apply(&self, r: &mut Report) {
        if self.is_empty() {
            return;
        }
        r.processes.retain(|p| self.keeps(Some(p.pid), p.comm.as_deref()));
        r.flows.retain(|f| self.keeps(f.pid, f.comm.as_deref()));
        r.sockets.retain(|s| self.keeps(s.pid, s.comm.as_deref()) || s.users.iter().any(|u| self.pids.contains(u)));
        let mut renumber = Vec::with_capacity(r.ike_sas.len());
        let mut kept = 0;
        for sa in &r.ike_sas {
            let keep = self.keeps(sa.pid, sa.comm.as_deref());
            renumber.push(keep.then_some(kept));
            kept += usize::from(keep);
        }
        let mut i = 0;
        r.ike_sas.retain(|_| {
            let keep = renumber[i].is_some();
            i += 1;
            keep
        });
        r.esp_sas.retain(|e| {
            let by_ike = e.ike_sa.and_then(|x| renumber.get(x).copied().flatten()).is_some();
            by_ike || self.keeps(e.pid, e.comm.as_deref())
        });
        for e in &mut r.esp_sas {
            e.ike_sa = e.ike_sa.and_then(|x| renumber.get(x).copied().flatten());
        }
        r.sip.dialogs.retain(|d| self.keeps(d.pid, d.comm.as_deref()));
        r.sip.registrations.retain(|g| self.keeps(g.pid, g.comm.as_deref()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lab fixture's report with a second IKE SA (and its ESP SA) owned by another process.
    fn sample() -> Report {
        let d = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/lab");
        let mut r = crate::replay::replay_files(&[d.join("outer.pcap"), d.join("inner.pcap")]);
        assert_eq!((r.ike_sas.len(), r.esp_sas.len()), (1, 2));
        let mut other = r.ike_sas[0].clone();
        other.initiator_spi = "00000000000000b2".into();
        (other.pid, other.comm) = (Some(20), Some("charon".into()));
        (r.ike_sas[0].pid, r.ike_sas[0].comm) = (Some(10), Some("racoon".into()));
        r.ike_sas.insert(0, other);
        for e in &mut r.esp_sas {
            e.ike_sa = Some(1);
        }
        let mut esp = r.esp_sas[0].clone();
        (esp.spi, esp.ike_sa) = ("000000b2".into(), Some(0));
        r.esp_sas.push(esp);
        r.flows[0].pid = Some(20);
        r.flows[0].comm = Some("charon".into());
        r.processes.clear();
        r
    }

    #[test]
    fn esp_sas_follow_their_ike_sa_renumbered() {
        let mut r = sample();
        let interfaces = r.interfaces.len();
        ProcessFilter { pids: vec![], comms: vec!["charon".into()] }.apply(&mut r);
        let sas: Vec<(&str, Option<u32>)> = r.ike_sas.iter().map(|s| (s.initiator_spi.as_str(), s.pid)).collect();
        assert_eq!(sas, [("00000000000000b2", Some(20))]);
        let esp: Vec<(&str, Option<usize>)> = r.esp_sas.iter().map(|e| (e.spi.as_str(), e.ike_sa)).collect();
        assert_eq!(esp, [("000000b2", Some(0))]);
        assert_eq!(r.flows.len(), 1);
        assert_eq!(r.interfaces.len(), interfaces, "interfaces stay");
        let mut r = sample();
        ProcessFilter { pids: vec![10], comms: vec![] }.apply(&mut r);
        assert_eq!(r.ike_sas.len(), 1);
        assert!(r.esp_sas.iter().all(|e| e.ike_sa == Some(0)) && r.esp_sas.len() == 2);
        let mut none = sample();
        ProcessFilter { pids: vec![999], comms: vec![] }.apply(&mut none);
        assert!(none.flows.is_empty() && none.ike_sas.is_empty() && none.esp_sas.is_empty());
        assert!(none.sip.dialogs.is_empty() && none.sip.registrations.is_empty());
    }
}
