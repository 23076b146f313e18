//! Lost-frame counts by UMEM id. A token knows only its UMEM's id (a pointer
//! would double its size on the fast path), so the counts live here; they
//! are touched only when a token is dropped, which correct programs do not do.

use std::sync::Mutex;

static LOST: Mutex<Vec<(u32, usize)>> = Mutex::new(Vec::new());

fn table() -> std::sync::MutexGuard<'static, Vec<(u32, usize)>> {
    LOST.lock().unwrap_or_else(|p| p.into_inner())
}

pub(super) fn register(id: u32) {
    table().push((id, 0));
}

pub(super) fn unregister(id: u32) {
    table().retain(|e| e.0 != id);
}

pub(super) fn record(id: u32) {
    if let Some(e) = table().iter_mut().find(|e| e.0 == id) {
        e.1 += 1;
    }
}

pub(super) fn count(id: u32) -> usize {
    table().iter().find(|e| e.0 == id).map_or(0, |e| e.1)
}
