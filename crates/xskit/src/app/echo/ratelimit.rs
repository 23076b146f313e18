//! Per-source rate limit of echo replies: a token bucket per source
//! address, as the kernel keeps one per peer for `icmp_ratelimit`
//! (`inet_peer_xrlim_allow`), but in a table of fixed size allocated once,
//! so a flood from many sources can neither grow memory nor cost an
//! allocation per packet. Sources are spread over the slots by a keyed
//! hash (SipHash with a random key, so a sender cannot pick colliding
//! sources on purpose); sources that share a slot share its bucket.

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::time::Instant;

/// Buckets in the table (a power of two): 4096 × 16 bytes.
pub const SLOTS: usize = 4096;

/// `--rate-burst` unless given.
pub const DEFAULT_BURST: u32 = 200;

/// Refuses `--rate-burst` with `--rate-limit off` (0): there is no bucket
/// for a burst to fill, and options are not silently ignored.
pub fn check_options(per_second: u32, burst: Option<u32>) -> Result<(), String> {
    match burst {
        Some(b) if per_second == 0 => Err(format!(
            "--rate-burst {b} means nothing with --rate-limit off (no limit, no bucket): leave out one of them"
        )),
        _ => Ok(()),
    }
}

/// The limit: `per_second` replies to one source, in bursts of up to
/// `burst`; `per_second == 0` turns it off.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct RateLimit {
    /// Sustained replies per second per source (0: no limit).
    pub per_second: u32,
    /// Replies a source may get at once after being quiet.
    pub burst: u32,
}

#[derive(Clone, Copy, Default)]
struct Bucket {
    /// Time credit in nanoseconds, up to `burst` intervals.
    credit: u64,
    /// When the credit was last brought up to date (ns since start).
    last: u64,
    /// True once used (a fresh bucket starts full).
    used: bool,
}

/// The buckets and the limit.
pub struct Limiter {
    limit: RateLimit,
    /// Nanoseconds per reply.
    interval: u64,
    /// Most credit a bucket holds.
    cap: u64,
    start: Instant,
    hasher: std::collections::hash_map::RandomState,
    slots: Box<[Bucket]>,
}

impl Limiter {
    /// A limiter with every bucket full. Allocates its table here, once.
    pub fn new(limit: RateLimit) -> Limiter {
        let interval = 1_000_000_000u64 / u64::from(limit.per_second.max(1));
        Limiter {
            limit,
            interval,
            cap: interval.saturating_mul(u64::from(limit.burst.max(1))),
            start: Instant::now(),
            hasher: Default::default(),
            slots: vec![Bucket::default(); if limit.per_second == 0 { 0 } else { SLOTS }]
                .into_boxed_slice(),
        }
    }

    /// The limit in force.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// True if a reply to `src` may go out at `now`, and takes its token.
    pub fn admit(&mut self, src: IpAddr, now: Instant) -> bool {
        if self.limit.per_second == 0 {
            return true;
        }
        let t = now.saturating_duration_since(self.start).as_nanos() as u64;
        let i = self.hasher.hash_one(src) as usize & (SLOTS - 1);
        let b = &mut self.slots[i];
        b.credit = if b.used {
            b.credit
                .saturating_add(t.saturating_sub(b.last))
                .min(self.cap)
        } else {
            self.cap
        };
        b.used = true;
        b.last = t;
        if b.credit >= self.interval {
            b.credit -= self.interval;
            true
        } else {
            false
        }
    }
}

/// Parses `--rate-limit`: a number of replies per second, or `off` / `0`.
pub fn parse_per_second(s: &str) -> Result<u32, String> {
    match s.trim() {
        "off" | "none" => Ok(0),
        n => n
            .parse::<u32>()
            .map_err(|_| format!("{s:?} is not a rate (replies per second per source, or off)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn lim(per_second: u32, burst: u32) -> Limiter {
        Limiter::new(RateLimit { per_second, burst })
    }

    #[test]
    fn a_burst_without_a_limit_is_refused() {
        assert!(check_options(0, Some(10))
            .unwrap_err()
            .contains("--rate-burst 10"));
        assert!(check_options(0, None).is_ok());
        assert!(check_options(100, Some(10)).is_ok());
    }

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let mut l = lim(100, 5);
        let a: IpAddr = "198.18.0.2".parse().unwrap();
        let t0 = l.start;
        let n = (0..20).filter(|_| l.admit(a, t0)).count();
        assert_eq!(n, 5, "burst");
        assert!(!l.admit(a, t0 + Duration::from_millis(9)));
        assert!(l.admit(a, t0 + Duration::from_millis(10)));
        // One second later: 100 tokens accrued, but only `burst` kept.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!((0..50).filter(|_| l.admit(a, t1)).count(), 5);
        // Over ten seconds at twice the rate, about half get through.
        let mut ok = 0;
        for i in 0..2000u64 {
            if l.admit(a, t1 + Duration::from_micros(5000 * i)) {
                ok += 1;
            }
        }
        assert!((995..=1006).contains(&ok), "{ok}");
    }

    #[test]
    fn sources_have_buckets_of_their_own() {
        let mut l = lim(10, 2);
        let t = l.start;
        let (a, b): (IpAddr, IpAddr) = ("fc00::2".parse().unwrap(), "fc00::3".parse().unwrap());
        assert!(l.admit(a, t) && l.admit(a, t) && !l.admit(a, t));
        // b shares a's slot with probability 1/4096; then it is limited too.
        let same = l.hasher.hash_one(a) as usize % SLOTS == l.hasher.hash_one(b) as usize % SLOTS;
        assert_eq!(l.admit(b, t), !same);
    }

    #[test]
    fn off_admits_everything_and_allocates_nothing() {
        let mut l = lim(0, 0);
        assert!(l.slots.is_empty());
        let a: IpAddr = "198.18.0.2".parse().unwrap();
        assert!((0..100_000).all(|_| l.admit(a, l.start)));
    }

    #[test]
    fn memory_stays_fixed_under_many_sources() {
        let mut l = lim(1, 1);
        let t = l.start;
        for i in 0..100_000u32 {
            l.admit(IpAddr::V4(i.into()), t);
        }
        assert_eq!(l.slots.len(), SLOTS);
    }

    #[test]
    fn parse() {
        assert_eq!(parse_per_second("off"), Ok(0));
        assert_eq!(parse_per_second("0"), Ok(0));
        assert_eq!(parse_per_second("1000"), Ok(1000));
        assert!(parse_per_second("fast").is_err());
    }
}
