//! The layout against the kernel's `struct xsk_tx_metadata`, and the
//! encoding; pure (no system calls), so they run under Miri.

use super::*;
use std::mem::{offset_of, size_of};

/// `struct xsk_tx_metadata` as include/uapi/linux/if_xdp.h has it since
/// Linux 6.14 (`launch_time` added to the request).
#[repr(C)]
struct KernelRequest {
    csum_start: u16,
    csum_offset: u16,
    launch_time: u64,
}

#[repr(C)]
struct KernelCompletion {
    tx_timestamp: u64,
}

#[repr(C)]
union KernelUnion {
    request: std::mem::ManuallyDrop<KernelRequest>,
    completion: std::mem::ManuallyDrop<KernelCompletion>,
}

#[repr(C)]
struct KernelTxMetadata {
    flags: u64,
    u: KernelUnion,
}

#[test]
fn layout_matches_the_kernel_struct() {
    assert_eq!(size_of::<KernelTxMetadata>(), TX_METADATA_LEN);
    assert_eq!(offset_of!(KernelTxMetadata, flags), FLAGS_AT);
    let u = offset_of!(KernelTxMetadata, u);
    assert_eq!(u + offset_of!(KernelRequest, csum_start), CSUM_START_AT);
    assert_eq!(u + offset_of!(KernelRequest, csum_offset), CSUM_OFFSET_AT);
    assert_eq!(u + offset_of!(KernelRequest, launch_time), 16);
    assert_eq!(u + offset_of!(KernelCompletion, tx_timestamp), TIMESTAMP_AT);
    // The kernel wants a multiple of 8 below 256 (xdp_umem_reg).
    assert_eq!(TX_METADATA_LEN % 8, 0);
}

#[test]
fn the_6_8_layout_in_libc_has_the_same_fields_at_the_same_offsets() {
    // libc mirrors the 6.8 header: 16 bytes, no launch_time.
    assert_eq!(size_of::<libc::xsk_tx_metadata>(), 16);
    assert_eq!(offset_of!(libc::xsk_tx_metadata, flags), FLAGS_AT);
    let u = offset_of!(libc::xsk_tx_metadata, xsk_tx_metadata_union);
    assert_eq!(
        u + offset_of!(libc::xsk_tx_metadata_request, csum_start),
        CSUM_START_AT
    );
    assert_eq!(
        u + offset_of!(libc::xsk_tx_metadata_request, csum_offset),
        CSUM_OFFSET_AT
    );
    assert_eq!(
        u + offset_of!(libc::xsk_tx_metadata_completion, tx_timestamp),
        TIMESTAMP_AT
    );
    assert_eq!(FLAG_TIMESTAMP, 1);
    assert_eq!(FLAG_CHECKSUM, 2);
    assert_eq!(libc::XDP_TX_METADATA, 2);
}

#[test]
fn a_checksum_request_is_encoded_field_by_field() {
    let m = TxMetadata::default().checksum(Some(TxChecksum::new(34, 6)));
    let b = m.encode(60).unwrap();
    assert_eq!(u64::from_ne_bytes(b[0..8].try_into().unwrap()), 2);
    assert_eq!(u16::from_ne_bytes([b[8], b[9]]), 34);
    assert_eq!(u16::from_ne_bytes([b[10], b[11]]), 6);
    assert!(
        b[12..].iter().all(|&x| x == 0),
        "padding and launch_time zero"
    );
    assert_eq!(TxMetadata::decode(&b), m);
}

#[test]
fn timestamp_and_checksum_together_and_neither() {
    let m = TxMetadata::default()
        .checksum(Some(TxChecksum::new(0, 0)))
        .timestamp(true);
    let b = m.encode(2).unwrap();
    assert_eq!(u64::from_ne_bytes(b[0..8].try_into().unwrap()), 3);
    assert_eq!(TxMetadata::decode(&b), m);
    let none = TxMetadata::default().encode(0).unwrap();
    assert_eq!(none, [0; TX_METADATA_LEN]);
    assert_eq!(TxMetadata::decode(&none), TxMetadata::default());
}

#[test]
fn a_checksum_field_past_the_frame_is_refused() {
    // The kernel's test: csum_start + csum_offset + 2 > len is EINVAL.
    let m = TxMetadata::default().checksum(Some(TxChecksum::new(34, 6)));
    assert!(m.encode(42).is_ok(), "the field's last byte is the frame's");
    let e = m.encode(41).unwrap_err();
    assert!(
        e.to_string().contains("does not fit a 41-byte frame"),
        "{e}"
    );
    let far = TxMetadata::default().checksum(Some(TxChecksum::new(u16::MAX, u16::MAX)));
    assert!(far.encode(usize::from(u16::MAX)).is_err(), "no u16 wrap");
}

#[test]
fn the_timestamp_is_read_only_where_asked_for_and_written() {
    let mut b = TxMetadata::default().timestamp(true).encode(64).unwrap();
    assert_eq!(timestamp_of(&b), None, "asked for, not yet written");
    b[8..16].copy_from_slice(&1_700_000_000_123_456_789u64.to_ne_bytes());
    assert_eq!(timestamp_of(&b), Some(1_700_000_000_123_456_789));
    b[0..8].copy_from_slice(&FLAG_CHECKSUM.to_ne_bytes());
    assert_eq!(timestamp_of(&b), None, "not asked for");
}

#[test]
fn kernel_releases_are_compared_by_major_and_minor() {
    assert_eq!(release_at_least("6.18.44-fc-v1300", (6, 8)), Some(true));
    assert_eq!(release_at_least("6.8.0", (6, 8)), Some(true));
    assert_eq!(release_at_least("6.7.12-amd64", (6, 8)), Some(false));
    assert_eq!(release_at_least("5.10.0-30-amd64", (6, 8)), Some(false));
    assert_eq!(release_at_least("7.0", (6, 8)), Some(true));
    assert_eq!(release_at_least("garbage", (6, 8)), None);
}
