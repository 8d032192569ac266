//! Flows: one per conversation, both directions, with its application and process.

use serde::{Deserialize, Serialize};

use super::{App, Proto, Time};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Flow {
    pub iface: Option<String>,
    pub proto: Proto,
    pub src: String,
    pub sport: Option<u16>,
    pub dst: String,
    pub dport: Option<u16>,
    pub app: App,
    pub pid: Option<u32>,
    pub comm: Option<String>,
    pub packets: u64,
    pub bytes: u64,
    pub first: Time,
    pub last: Time,
    /// Index into `tunnels` of the tunnel that carried it (additive field).
    pub tunnel: Option<usize>,
}
