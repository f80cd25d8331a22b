//! A rolling window of counters in fixed buckets.

use std::time::{Duration, Instant};

const BUCKETS: usize = 10;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    epoch: u64,
    a: u64,
    b: u64,
}

/// Two counters (`a`, `b`) summed over the last `window`, in ten buckets.
#[derive(Debug)]
pub(crate) struct Window {
    start: Instant,
    bucket: Duration,
    buckets: [Bucket; BUCKETS],
}

impl Window {
    pub(crate) fn new(window: Duration, now: Instant) -> Self {
        let bucket = (window / BUCKETS as u32).max(Duration::from_millis(1));
        Self {
            start: now,
            bucket,
            buckets: [Bucket::default(); BUCKETS],
        }
    }

    fn epoch(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.start).as_nanos();
        u64::try_from(since / self.bucket.as_nanos().max(1)).unwrap_or(u64::MAX)
    }

    pub(crate) fn add(&mut self, now: Instant, a: u64, b: u64) {
        let epoch = self.epoch(now);
        let slot = &mut self.buckets[(epoch % BUCKETS as u64) as usize];
        if slot.epoch != epoch {
            *slot = Bucket { epoch, a: 0, b: 0 };
        }
        slot.a = slot.a.saturating_add(a);
        slot.b = slot.b.saturating_add(b);
    }

    /// `(a, b)` summed over the buckets still inside the window.
    pub(crate) fn sum(&self, now: Instant) -> (u64, u64) {
        let epoch = self.epoch(now);
        self.buckets
            .iter()
            .filter(|s| s.epoch <= epoch && epoch - s.epoch < BUCKETS as u64)
            .fold((0, 0), |(a, b), s| (a + s.a, b + s.b))
    }

    pub(crate) fn clear(&mut self) {
        self.buckets = [Bucket::default(); BUCKETS];
    }
}
