//! What a running phase shows the outside world, for a progress display: each worker
//! stores its own figures once a second, and a reader adds them up whenever it likes.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// One worker's latest figures.
#[derive(Debug, Default)]
struct Slot {
    connected: AtomicU64,
    received: AtomicU64,
    errors: AtomicU64,
    p99_us: AtomicU64,
}

/// Live figures of the phase that is running. Create one per run and hand it to every
/// phase; a phase starts by clearing it.
#[derive(Debug)]
pub struct Progress {
    slots: Vec<Slot>,
}

/// A snapshot of [`Progress`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgressSnapshot {
    /// Client connections open now.
    pub connected: u64,
    /// Messages received since the phase started (warm-up included).
    pub received: u64,
    /// Client errors since the phase started.
    pub errors: u64,
    /// The highest p99 latency any worker saw in its last whole second of the window, µs.
    pub p99_us: u64,
}

impl Progress {
    /// Room for `workers` load-generator workers (the scenario's `loadgen.threads`).
    pub fn new(workers: usize) -> Self {
        Progress {
            slots: (0..workers.max(1)).map(|_| Slot::default()).collect(),
        }
    }

    /// Adds up the workers' latest figures.
    pub fn snapshot(&self) -> ProgressSnapshot {
        let mut s = ProgressSnapshot::default();
        for slot in &self.slots {
            s.connected += slot.connected.load(Relaxed);
            s.received += slot.received.load(Relaxed);
            s.errors += slot.errors.load(Relaxed);
            s.p99_us = s.p99_us.max(slot.p99_us.load(Relaxed));
        }
        s
    }

    pub(crate) fn clear(&self) {
        for slot in &self.slots {
            slot.connected.store(0, Relaxed);
            slot.received.store(0, Relaxed);
            slot.errors.store(0, Relaxed);
            slot.p99_us.store(0, Relaxed);
        }
    }

    pub(crate) fn store(&self, worker: usize, s: ProgressSnapshot) {
        if let Some(slot) = self.slots.get(worker) {
            slot.connected.store(s.connected, Relaxed);
            slot.received.store(s.received, Relaxed);
            slot.errors.store(s.errors, Relaxed);
            slot.p99_us.store(s.p99_us, Relaxed);
        }
    }
}
