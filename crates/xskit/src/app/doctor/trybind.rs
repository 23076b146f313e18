//! `doctor --try-bind`: the zero-copy answer from a real bind.

use super::rules::{self, Answer, Value};

/// The zero-copy answer from a real bind on `queue` of `iface`: a small
/// socket bound with XDP_ZEROCOPY (no program attached), closed at once.
pub fn try_zero_copy_bind(iface: &str, queue: u32) -> Answer {
    use xsk::{ErrorKind, FrameCopy, UmemConfig, Xsk, XskConfig};
    let cfg = XskConfig::default()
        .umem(UmemConfig::default().frame_count(64))
        .fill_size(64)
        .comp_size(64)
        .rx_size(64)
        .tx_size(64)
        .bind(FrameCopy::ZeroCopy)
        .need_wakeup(true)
        .multi_buffer(false);
    let tried = format!("tried a zero-copy bind on queue {queue}");
    match Xsk::new(iface, queue, &cfg) {
        Ok(x) => match x.socket().zero_copy() {
            Ok(true) => rules::answer(Value::Yes, format!("{tried}: ok")),
            Ok(false) => rules::answer(
                Value::No,
                format!("{tried}: the kernel bound it in copy mode"),
            ),
            Err(e) => rules::answer(
                Value::Unknown,
                format!("{tried}: bound, but the mode cannot be read ({e})"),
            ),
        },
        Err(e) if matches!(e.kind(), ErrorKind::QueueBusy) => rules::answer(
            Value::Unknown,
            format!("{tried}: the queue is busy ({e}); try an idle one, `--try-bind N`"),
        ),
        Err(e) if matches!(e.kind(), ErrorKind::QueueOutOfRange | ErrorKind::Permission) => {
            rules::answer(Value::Unknown, format!("{tried}: {e}"))
        }
        Err(e) => rules::answer(Value::No, format!("{tried}: failed: {e}")),
    }
}
