//! Verdicts from rules: what a report's evidence means, in plain words, each verdict with the
//! evidence that made it.
//!
//! The rules are data (`rules/verdicts.toml`, format `tuntrace.rules/1`, docs/rules.md): the
//! built-in file is compiled in, and users add or replace rules with files of their own. A rule
//! is about one kind of subject (a tunnel interface, an IKE SA seen from outside, ESP without
//! IKE, SIP); it holds conditions on the subject's facts (process names and programs, ports, IKE
//! vendor IDs and identities, SIP domains, interface names and kinds…) and a summary with
//! placeholders. For each subject the first rule whose conditions hold gives the verdict; a
//! subject no rule explains gets a verdict that says its purpose is unknown and lists what was
//! found, never a guess.
//!
//! Pure and deterministic: the same report and rules give the same verdicts. The facts of the
//! whole report are gathered in one pass over each list ([`facts`]), so evaluation costs
//! O(n log n) in the report's size, with any number of interfaces.

mod facts;
mod format;
mod template;

use std::sync::OnceLock;

pub use facts::{sip_host, Fact, Subject, NAMES as FACT_NAMES, VOCABULARY};
pub use format::{On, Rule, FORMAT};

use crate::report::{Report, Verdict};

/// The rules that ship with tuntrace.
pub const BUILTIN: &str = include_str!("../../rules/verdicts.toml");

/// Evidence lines a verdict shows at most; the rest are counted.
const MAX_EVIDENCE: usize = 32;

/// A rules file that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("{file}: not a rules file: {message}")]
    Syntax { file: String, message: String },
    #[error("{file}: format {found:?} is not one this tuntrace reads (it reads {FORMAT:?})")]
    Format { file: String, found: String },
    #[error("{file}: rule {id:?}: {message}")]
    Rule { file: String, id: String, message: String },
}

/// Rules in the order they are tried.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    /// The built-in rules, compiled once.
    pub fn builtin() -> &'static RuleSet {
        static SET: OnceLock<RuleSet> = OnceLock::new();
        SET.get_or_init(|| RuleSet::load(&[]).expect("the built-in rules compile (tested)"))
    }

    /// The built-in rules and then each of `files` (name, text), in order. A rule of a later
    /// file is tried before those of earlier ones (and before the built-in rules), and replaces
    /// an earlier rule with the same id; `enabled = false` removes one.
    pub fn load(files: &[(String, String)]) -> Result<RuleSet, LoadError> {
        let mut layers = vec![format::compile("built-in rules/verdicts.toml", BUILTIN)?];
        for (name, text) in files {
            layers.push(format::compile(name, text)?);
        }
        let mut seen = std::collections::HashSet::new();
        let mut rules = Vec::new();
        for layer in layers.into_iter().rev() {
            for r in layer {
                if seen.insert(r.id.clone()) && r.enabled {
                    rules.push(r);
                }
            }
        }
        Ok(RuleSet { rules })
    }

    /// The rules, in the order they are tried.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The verdicts on a report: every tunnel interface first; when none is in view, each IKE
    /// SA as seen from outside; ESP between pairs of hosts when no IKE is in view; the tunnels
    /// seen on the wire; and SIP that no other verdict accounted for (a tunnel's verdict does
    /// not: it says what carries the SIP, the SIP verdict what the SIP is).
    pub fn verdicts(&self, r: &Report) -> Vec<Verdict> {
        let ix = facts::Index::new(r);
        let mut out = Vec::new();
        let mut sip_told = false;
        for s in ix.interfaces() {
            out.push(self.judge(&s, &mut sip_told));
        }
        if out.is_empty() && !r.ike_sas.is_empty() {
            for s in ix.ike_sas() {
                out.push(self.judge(&s, &mut sip_told));
            }
        }
        if r.ike_sas.is_empty() && !r.esp_sas.is_empty() {
            for s in ix.esp_pairs() {
                out.push(self.judge(&s, &mut sip_told));
            }
        }
        for s in ix.tunnels() {
            out.push(self.judge(&s, &mut false));
        }
        if !sip_told && ix.has_sip() {
            out.push(self.judge(&ix.sip(), &mut sip_told));
        }
        out
    }

    /// Applies the rules to `r`, replacing its verdicts.
    pub fn apply(&self, r: &mut Report) {
        r.verdicts = self.verdicts(r);
    }

    /// The verdict on one subject; `sip_told` is set when it accounts for SIP.
    fn judge(&self, s: &Subject, sip_told: &mut bool) -> Verdict {
        for rule in self.rules.iter().filter(|r| r.on == s.on) {
            if let Some(v) = verdict(rule, s) {
                *sip_told |= v.1;
                return v.0;
            }
        }
        // No rule explains it: say so, with everything found.
        let mut ev = Evidence::default();
        let mut sip = false;
        for f in s.all() {
            sip |= is_sip(f.key);
            ev.add(f.line.clone());
        }
        for k in s.elided_keys() {
            ev.add(s.elided_line(k));
        }
        if ev.lines.is_empty() {
            ev.add(Some("nothing else is known about it".into()));
        }
        *sip_told |= sip;
        Verdict {
            subject: s.name.clone(),
            summary: "purpose unknown: no rule matches what was found".into(),
            evidence: ev.finish(),
            rule: None,
        }
    }
}

fn is_sip(key: &str) -> bool {
    matches!(key, "sip" | "sip_domain" | "sip_peer")
}

/// Evidence lines in order, each once, at most [`MAX_EVIDENCE`].
#[derive(Default)]
struct Evidence {
    lines: Vec<String>,
    more: usize,
}

impl Evidence {
    fn add(&mut self, line: Option<String>) {
        let Some(l) = line else { return };
        if self.lines.contains(&l) {
            return;
        }
        if self.lines.len() < MAX_EVIDENCE {
            self.lines.push(l);
        } else {
            self.more += 1;
        }
    }

    fn finish(mut self) -> Vec<String> {
        if self.more > 0 {
            self.lines.push(format!("and {} more", self.more));
        }
        self.lines
    }
}

/// The verdict `rule` gives `s`, if its conditions hold, and whether it accounts for SIP.
fn verdict(rule: &Rule, s: &Subject) -> Option<(Verdict, bool)> {
    let mut matched: Vec<(&format::Cond, &Fact)> = Vec::new();
    for c in &rule.all {
        matched.push((c, c.first_match(s)?));
    }
    if !rule.any.is_empty() {
        let hits: Vec<_> = rule.any.iter().filter_map(|c| c.first_match(s).map(|f| (c, f))).collect();
        if hits.is_empty() {
            return None;
        }
        matched.extend(hits);
    }
    if rule.none.iter().any(|c| c.first_match(s).is_some()) {
        return None;
    }
    let summary = rule.summary.render(s)?;
    let mut ev = Evidence::default();
    let mut sip = false;
    for &k in &rule.evidence {
        for f in s.facts_of(k) {
            sip |= is_sip(k);
            ev.add(f.line.clone());
        }
        ev.add(s.elided_line(k));
    }
    for (c, f) in matched {
        sip |= is_sip(f.key);
        ev.add(c.line(f));
    }
    Some((Verdict { subject: s.name.clone(), summary, evidence: ev.finish(), rule: Some(rule.id.clone()) }, sip))
}

#[cfg(test)]
mod tests;
