//! The rules file (`tuntrace.rules/1`, docs/rules.md): its TOML shape, and its compilation into
//! matchers checked once at load, so that evaluating a report never fails and never re-parses.

use serde::Deserialize;

use super::facts::{self, Subject};
use super::template::Template;
use super::LoadError;

/// The version line every rules file starts with.
pub const FORMAT: &str = "tuntrace.rules/1";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    pub format: String,
    #[serde(default)]
    pub rule: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    pub id: String,
    pub on: String,
    pub summary: String,
    #[serde(default)]
    pub all: Vec<RawCond>,
    #[serde(default)]
    pub any: Vec<RawCond>,
    #[serde(default)]
    pub none: Vec<RawCond>,
    #[serde(default)]
    pub evidence: Vec<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// One string or a list of them (`glob = "charon*"` or `glob = ["charon", "pluto"]`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(v) => vec![v],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCond {
    pub fact: String,
    #[serde(default)]
    pub is: Option<OneOrMany<String>>,
    #[serde(default)]
    pub glob: Option<OneOrMany<String>>,
    #[serde(default)]
    pub suffix: Option<OneOrMany<String>>,
    #[serde(default)]
    pub contains: Option<OneOrMany<String>>,
    #[serde(default)]
    pub regex: Option<String>,
    #[serde(default)]
    pub port: Option<OneOrMany<u16>>,
    #[serde(default)]
    pub say: Option<String>,
}

/// How a condition tests one fact's value. A condition with several matchers matches a fact
/// when any of them does; one with none matches any fact of its name (the fact is present).
#[derive(Debug)]
pub(super) enum Matcher {
    Is(Vec<String>),
    Glob(Vec<glob::Pattern>),
    /// Lower-case suffixes, compared with the value in lower case.
    Suffix(Vec<String>),
    /// Lower-case substrings, compared with the value in lower case.
    Contains(Vec<String>),
    Regex(regex::Regex),
    Port(Vec<u16>),
}

impl Matcher {
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Is(v) => v.iter().any(|x| x == value),
            Matcher::Glob(v) => v.iter().any(|p| p.matches(value)),
            Matcher::Suffix(v) => {
                let l = value.to_ascii_lowercase();
                v.iter().any(|s| l.ends_with(s.as_str()))
            }
            Matcher::Contains(v) => {
                let l = value.to_ascii_lowercase();
                v.iter().any(|s| l.contains(s.as_str()))
            }
            Matcher::Regex(r) => r.is_match(value),
            Matcher::Port(v) => value.parse::<u16>().is_ok_and(|p| v.contains(&p)),
        }
    }
}

#[derive(Debug)]
pub(super) struct Cond {
    pub fact: &'static str,
    pub matchers: Vec<Matcher>,
    /// The evidence line to give instead of the fact's own (`{value}` is the fact's value).
    pub say: Option<String>,
}

impl Cond {
    /// The first fact of the subject this condition accepts.
    pub fn first_match<'s>(&self, s: &'s Subject) -> Option<&'s facts::Fact> {
        s.facts_of(self.fact)
            .iter()
            .find(|f| self.matchers.is_empty() || self.matchers.iter().any(|m| m.matches(&f.value)))
    }

    /// The evidence line this condition gives for `f`.
    pub fn line(&self, f: &facts::Fact) -> Option<String> {
        match &self.say {
            Some(s) => Some(s.replace("{value}", &f.value)),
            None => f.line.clone(),
        }
    }
}

/// The kinds of subject a rule is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum On {
    /// A tunnel interface.
    Interface,
    /// An IKE SA seen from outside (no tunnel interface in view).
    IkeSa,
    /// ESP between two hosts with no IKE in view.
    Esp,
    /// SIP signalling no other verdict accounts for.
    Sip,
    /// Tunnels seen on the wire (the report's `tunnels` section): each WireGuard or OpenVPN
    /// tunnel, and the other kinds one subject per kind.
    Tunnel,
}

impl On {
    pub const ALL: &[On] = &[On::Interface, On::IkeSa, On::Esp, On::Sip, On::Tunnel];

    pub fn as_str(self) -> &'static str {
        match self {
            On::Interface => "interface",
            On::IkeSa => "ike_sa",
            On::Esp => "esp",
            On::Sip => "sip",
            On::Tunnel => "tunnel",
        }
    }

    fn parse(s: &str) -> Option<On> {
        On::ALL.iter().copied().find(|o| o.as_str() == s)
    }
}

#[derive(Debug)]
pub struct Rule {
    pub id: String,
    pub on: On,
    /// Where it was read from (`built-in`, a file path).
    pub source: String,
    pub(super) summary: Template,
    pub(super) all: Vec<Cond>,
    pub(super) any: Vec<Cond>,
    pub(super) none: Vec<Cond>,
    pub(super) evidence: Vec<&'static str>,
    pub(super) enabled: bool,
}

/// A fact name of the vocabulary, or an error naming the rule.
fn fact_name(source: &str, id: &str, name: &str) -> Result<&'static str, LoadError> {
    facts::known(name).ok_or_else(|| LoadError::Rule {
        file: source.into(),
        id: id.into(),
        message: format!("unknown fact {name:?} (known: {})", facts::NAMES.join(", ")),
    })
}

fn compile_cond(source: &str, id: &str, c: RawCond) -> Result<Cond, LoadError> {
    let err = |message: String| LoadError::Rule { file: source.into(), id: id.into(), message };
    let fact = fact_name(source, id, &c.fact)?;
    let mut matchers = Vec::new();
    if let Some(v) = c.is {
        matchers.push(Matcher::Is(v.into_vec()));
    }
    if let Some(v) = c.glob {
        let pats = v
            .into_vec()
            .into_iter()
            .map(|p| glob::Pattern::new(&p).map_err(|e| err(format!("glob {p:?}: {e}"))))
            .collect::<Result<_, _>>()?;
        matchers.push(Matcher::Glob(pats));
    }
    if let Some(v) = c.suffix {
        matchers.push(Matcher::Suffix(v.into_vec().into_iter().map(|s| s.to_ascii_lowercase()).collect()));
    }
    if let Some(v) = c.contains {
        matchers.push(Matcher::Contains(v.into_vec().into_iter().map(|s| s.to_ascii_lowercase()).collect()));
    }
    if let Some(r) = c.regex {
        // The regex crate's matching time is linear in the input: a user's pattern cannot make
        // evaluation slow, and the size limit keeps its compiled form small.
        let re =
            regex::RegexBuilder::new(&r).size_limit(1 << 20).build().map_err(|e| err(format!("regex {r:?}: {e}")))?;
        matchers.push(Matcher::Regex(re));
    }
    if let Some(v) = c.port {
        matchers.push(Matcher::Port(v.into_vec()));
    }
    Ok(Cond { fact, matchers, say: c.say })
}

/// Checks and compiles the rules of one file.
pub(super) fn compile(source: &str, text: &str) -> Result<Vec<Rule>, LoadError> {
    let file: File =
        toml::from_str(text).map_err(|e| LoadError::Syntax { file: source.into(), message: e.to_string() })?;
    if file.format != FORMAT {
        return Err(LoadError::Format { file: source.into(), found: file.format });
    }
    let mut out = Vec::with_capacity(file.rule.len());
    for r in file.rule {
        let id = r.id.clone();
        let err = |message: String| LoadError::Rule { file: source.into(), id: id.clone(), message };
        if r.id.is_empty() {
            return Err(err("a rule needs a non-empty id".into()));
        }
        let on = On::parse(&r.on).ok_or_else(|| {
            let names: Vec<&str> = On::ALL.iter().map(|o| o.as_str()).collect();
            err(format!("unknown subject on = {:?} (one of {})", r.on, names.join(", ")))
        })?;
        let summary = Template::parse(&r.summary).map_err(|e| err(format!("summary: {e}")))?;
        for name in summary.facts() {
            fact_name(source, &r.id, name)?;
        }
        let conds =
            |v: Vec<RawCond>| v.into_iter().map(|c| compile_cond(source, &r.id, c)).collect::<Result<Vec<_>, _>>();
        let evidence = r.evidence.iter().map(|n| fact_name(source, &r.id, n)).collect::<Result<Vec<_>, _>>()?;
        out.push(Rule {
            id: r.id.clone(),
            on,
            source: source.into(),
            summary,
            all: conds(r.all)?,
            any: conds(r.any)?,
            none: conds(r.none)?,
            evidence,
            enabled: r.enabled,
        });
    }
    Ok(out)
}
