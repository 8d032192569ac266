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

    /// Keep in `r` only the processes, flows, sockets, SAs, SIP calls and tunnels of the chosen
    /// processes. Interfaces and `stats` stay whole (they describe the session); ESP SAs keep
    /// their link to the IKE SA they belong to, renumbered; a tunnel that carried something kept
    /// stays with it (and the tunnels that carried it in turn), renumbered; verdicts stay as the
    /// whole session gave them.
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
        self.tunnels(r);
    }

    /// The tunnels of the chosen processes and those that carried what was kept.
    fn tunnels(&self, r: &mut Report) {
        let n = r.tunnels.len();
        let mut keep: Vec<bool> = r.tunnels.iter().map(|t| self.keeps(t.pid, t.comm.as_deref())).collect();
        let carried = r.flows.iter().map(|f| f.tunnel).chain(r.ike_sas.iter().map(|s| s.tunnel));
        let carried =
            carried.chain(r.sip.dialogs.iter().map(|d| d.tunnel)).chain(r.sip.registrations.iter().map(|g| g.tunnel));
        let mut seeds: Vec<usize> = carried.flatten().filter(|&i| i < n).collect();
        seeds.extend((0..n).filter(|&i| keep[i]));
        // Each kept tunnel's carriers too; a chain is at most `n` long.
        for s in seeds {
            let mut at = Some(s);
            for _ in 0..n {
                let Some(i) = at.filter(|&i| i < n) else { break };
                keep[i] = true;
                at = r.tunnels[i].tunnel;
            }
        }
        let mut next = 0;
        let renumber: Vec<Option<usize>> = keep
            .iter()
            .map(|&k| {
                next += usize::from(k);
                k.then(|| next - 1)
            })
            .collect();
        let mut i = 0;
        r.tunnels.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        let map = |t: &mut Option<usize>| *t = t.and_then(|x| renumber.get(x).copied().flatten());
        r.tunnels.iter_mut().for_each(|t| map(&mut t.tunnel));
        r.flows.iter_mut().for_each(|f| map(&mut f.tunnel));
        r.ike_sas.iter_mut().for_each(|s| map(&mut s.tunnel));
        r.sip.dialogs.iter_mut().for_each(|d| map(&mut d.tunnel));
        r.sip.registrations.iter_mut().for_each(|g| map(&mut g.tunnel));
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

    fn tunnel(pid: Option<u32>, carried_in: Option<usize>) -> crate::report::Tunnel {
        serde_json::from_value(serde_json::json!({
            "kind": "gre", "transport": "ip", "iface": null, "src": "198.18.0.2", "sport": null,
            "dst": "198.18.0.1", "dport": null, "ids": [], "ids_elided": 0, "variant": null,
            "packets": 1, "bytes": 100, "first": "2026-12-04T22:46:14.555129Z",
            "last": "2026-12-04T22:46:14.555129Z", "inner_flows": 0, "pid": pid, "comm": null,
            "tunnel": carried_in, "wireguard": null, "openvpn": null, "gre": null
        }))
        .unwrap()
    }

    /// Tunnels of the chosen processes stay, and those that carried a kept flow with the
    /// tunnels that carried them in turn; every index into `tunnels` follows the renumbering.
    #[test]
    fn tunnels_of_the_chosen_and_their_carriers_stay_renumbered() {
        let mut r = sample();
        // 0: another process's; 1: the outer tunnel of 2; 2: carries charon's flow;
        // 3: no chosen process's (its comm unknown), carries 4; 4: another process's, but
        // charon's IKE SA came through it.
        r.tunnels = vec![tunnel(Some(7), None), tunnel(None, None), tunnel(None, Some(1)), tunnel(Some(20), None)];
        r.tunnels.push(tunnel(Some(7), Some(3)));
        r.flows[0].tunnel = Some(2);
        r.ike_sas[0].tunnel = Some(4);
        ProcessFilter { pids: vec![], comms: vec!["charon".into()] }.apply(&mut r);
        let kept: Vec<(Option<u32>, Option<usize>)> = r.tunnels.iter().map(|t| (t.pid, t.tunnel)).collect();
        // The IKE SA of pid 20 (charon) inside tunnel 4 keeps 4 and 3.
        assert_eq!(kept, [(None, None), (None, Some(0)), (Some(20), None), (Some(7), Some(2))]);
        assert_eq!(r.flows[0].tunnel, Some(1));
        assert_eq!(r.ike_sas[0].tunnel, Some(3));
        let mut none = sample();
        none.tunnels = vec![tunnel(Some(7), None)];
        ProcessFilter { pids: vec![999], comms: vec![] }.apply(&mut none);
        assert!(none.tunnels.is_empty());
    }
}
