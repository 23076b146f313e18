//! The echo responder on an async runtime (feature `tokio`): the same
//! one-pass rewrite as `xskit echo`, woken by the reactor instead of
//! `poll()`, so one thread can serve sockets beside other async work.

use crate::wire::echo::{self, Answered};
use crate::wire::policy::Local;
use std::time::{Duration, Instant};
use xsk::{AsyncXsk, Verdict};

/// What [`answer_for`] did.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct Answers {
    /// Echo requests answered.
    pub answered: u64,
    /// Frames not answered (not a request a host may answer).
    pub refused: u64,
}

/// Answers echo requests on `xsk` for `duration`, waiting for frames on
/// the tokio reactor. `local` says who this host is (see
/// [`crate::net::addrs::echo_local`]).
///
/// # Errors
/// The reactor failed, or the interface went away.
pub async fn answer_for(
    xsk: &mut AsyncXsk,
    local: &Local,
    duration: Duration,
) -> anyhow::Result<Answers> {
    let mut sum = Answers::default();
    let end = Instant::now() + duration;
    xsk.get_mut().refill(u32::MAX);
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        // rx_ready itself notices a vanished interface within a second.
        match tokio::time::timeout(left, xsk.rx_ready()).await {
            Err(_) => continue,
            Ok(r) => r?,
        }
        let x = xsk.get_mut();
        x.complete_to_fill(u32::MAX);
        x.rx_batch(64)
            .dispatch(|f| match echo::answer(f.data_mut(), local) {
                Ok(Answered::V4 | Answered::V6) => {
                    sum.answered += 1;
                    Verdict::Transmit
                }
                Err(_) => {
                    sum.refused += 1;
                    Verdict::Recycle
                }
            });
        x.flush()?;
    }
    Ok(sum)
}
