//! The emulator's state, apart from the network: operations and their scripts, faults,
//! latency and the journal, behind one lock.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::Hasher;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tonic::Status;

use super::journal::Journal;
use super::{Completion, Fault, Method, ScriptedOperation};
use crate::pb::{self, operation};
use crate::policy::later;

/// What the handlers and the [`super::Emulator`] handle share.
pub(super) struct Shared {
    state: Mutex<State>,
    /// Woken whenever an operation changes, for `WaitOperation`.
    pub(super) changed: Notify,
    /// Mixed into page tokens, so they are opaque.
    salt: u64,
}

impl Shared {
    pub(super) fn new(salt: u64) -> Self {
        Self {
            state: Mutex::new(State::default()),
            changed: Notify::new(),
            salt,
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn page_token(&self, parent: &str, filter: &str, seq: u64) -> String {
        format!("{seq:x}.{:016x}", self.token_mac(parent, filter, seq))
    }

    fn token_mac(&self, parent: &str, filter: &str, seq: u64) -> u64 {
        // Not cryptographic: it only makes tokens opaque and catches tampering or reuse
        // with another parent or filter.
        let mut h = std::hash::DefaultHasher::new();
        h.write_u64(self.salt);
        h.write(parent.as_bytes());
        h.write_u8(0);
        h.write(filter.as_bytes());
        h.write_u64(seq);
        h.finish()
    }

    pub(super) fn parse_token(
        &self,
        token: &str,
        parent: &str,
        filter: &str,
    ) -> Result<u64, Status> {
        let bad = || Status::invalid_argument(format!("invalid page_token {token:?}"));
        let (seq, mac) = token.split_once('.').ok_or_else(bad)?;
        let seq = u64::from_str_radix(seq, 16).map_err(|_| bad())?;
        let mac = u64::from_str_radix(mac, 16).map_err(|_| bad())?;
        if mac != self.token_mac(parent, filter, seq) {
            return Err(bad());
        }
        Ok(seq)
    }
}

#[derive(Default)]
pub(super) struct State {
    /// Operations in insertion order (the key is a sequence number).
    pub(super) ops: BTreeMap<u64, OpState>,
    index: HashMap<String, u64>,
    next_seq: u64,
    faults: VecDeque<Fault>,
    pub(super) latency: Duration,
    pub(super) journal: Journal,
    pub(super) unreachable: Vec<String>,
    /// Draws for probabilistic faults, seeded by the first such fault.
    rng: Option<fastrand::Rng>,
}

impl State {
    /// Adds `script` as a new running operation, or replaces the one of the same name in
    /// its place.
    pub(super) fn insert(&mut self, script: ScriptedOperation) {
        let name = script.name.clone();
        let state = OpState {
            script,
            created: Instant::now(),
            polls: 0,
            result: None,
        };
        let seq = match self.index.get(&name) {
            Some(seq) => *seq,
            None => {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.index.insert(name, seq);
                seq
            }
        };
        self.ops.insert(seq, state);
    }

    pub(super) fn op_mut(&mut self, name: &str) -> Result<&mut OpState, Status> {
        self.index
            .get(name)
            .and_then(|seq| self.ops.get_mut(seq))
            .ok_or_else(|| not_found(name))
    }

    pub(super) fn remove(&mut self, name: &str) -> Result<(), Status> {
        let seq = self.index.remove(name).ok_or_else(|| not_found(name))?;
        self.ops.remove(&seq);
        Ok(())
    }

    pub(super) fn inject(&mut self, fault: Fault) {
        self.faults.push_back(fault);
    }

    /// The status of the first queued fault this call matches, counted against it.
    pub(super) fn fault_for(&mut self, method: Method, name: &str) -> Option<Status> {
        let rng = &mut self.rng;
        let fault = self.faults.iter_mut().find(|f| {
            f.remaining > 0
                && f.method.is_none_or(|m| m == method)
                && f.name.as_deref().is_none_or(|n| n == name)
                && f.probability.is_none_or(|(p, seed)| {
                    rng.get_or_insert_with(|| fastrand::Rng::with_seed(seed))
                        .f64()
                        < p
                })
        })?;
        fault.remaining -= 1;
        let status = fault.status();
        self.faults.retain(|f| f.remaining > 0);
        Some(status)
    }
}

fn not_found(name: &str) -> Status {
    Status::not_found(format!("operation {name:?} not found"))
}

/// One operation: its script and what has happened to it.
pub(super) struct OpState {
    pub(super) script: ScriptedOperation,
    created: Instant,
    pub(super) polls: u32,
    /// Set once it is done.
    result: Option<operation::Result>,
}

impl OpState {
    pub(super) fn is_done(&self) -> bool {
        self.result.is_some()
    }

    /// Completes it if its script says it is due by `now`.
    pub(super) fn refresh(&mut self, now: Instant) {
        if self.is_done() {
            return;
        }
        let due = match self.script.completion {
            Completion::Never => false,
            Completion::Immediately => true,
            Completion::After(d) => now >= later(self.created, d),
            Completion::AfterPolls(n) => self.polls >= n,
        };
        if due {
            self.finish(self.script.outcome.clone());
        }
    }

    pub(super) fn finish(&mut self, result: operation::Result) {
        self.result = Some(result);
    }

    /// Whether it is scripted to finish at its N-th look ([`Completion::AfterPolls`]).
    pub(super) fn by_looks(&self) -> bool {
        matches!(self.script.completion, Completion::AfterPolls(_))
    }

    /// When the operation completes on its own, if by time.
    pub(super) fn due_at(&self) -> Option<Instant> {
        match self.script.completion {
            Completion::After(d) if !self.is_done() => Some(later(self.created, d)),
            _ => None,
        }
    }

    pub(super) fn snapshot(&self) -> pb::Operation {
        pb::Operation {
            name: self.script.name.clone(),
            metadata: self.script.metadata.clone(),
            done: self.is_done(),
            result: self.result.clone(),
        }
    }
}

/// Which operations a filter keeps.
pub(super) fn parse_filter(filter: &str) -> Result<Option<bool>, Status> {
    let compact: String = filter.chars().filter(|c| !c.is_whitespace()).collect();
    match compact.as_str() {
        "" => Ok(None),
        "done=true" => Ok(Some(true)),
        "done=false" => Ok(Some(false)),
        _ => Err(Status::invalid_argument(format!(
            "unsupported filter {filter:?}; the emulator knows done=true and done=false"
        ))),
    }
}

pub(super) fn under(parent: &str, name: &str) -> bool {
    if parent.is_empty() {
        return true;
    }
    let rest = match name.strip_prefix(parent).and_then(|r| r.strip_prefix('/')) {
        Some(rest) => rest,
        None => return false,
    };
    // `projects/p/locations/l` holds `projects/p/locations/l/operations/x`;
    // `projects/p/locations/l/operations` holds the same.
    parent.ends_with("/operations") || parent == "operations" || rest.starts_with("operations/")
}
