//! (being written)
use crate::event::Event;
use super::Damage;
pub struct Reader<'a> { _b: &'a [u8], first: u32 }
impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8], first: u32) -> Self { Reader { _b: b, first } }
    pub fn interfaces_seen(&self) -> u32 { let _ = self.first; 0 }
    pub fn next(&mut self) -> Option<Result<Event<'a>, Damage>> { None }
}
