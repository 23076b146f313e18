use super::*;

#[test]
fn frames_are_unique_page_aligned_chunks() {
    let (umem, frames) = Umem::new(UmemConfig {
        frame_count: 64,
        frame_size: 2048,
        headroom: 0,
        unaligned: false,
        huge_pages: false,
        tx_metadata: false,
        tx_software_checksum: false,
    })
    .unwrap();
    assert_eq!(frames.len(), 64);
    assert_eq!(umem.area_addr() % 4096, 0, "UMEM must be page aligned");
    let mut addrs: Vec<u64> = frames.iter().map(Frame::addr).collect();
    addrs.sort_unstable();
    addrs.dedup();
    assert_eq!(addrs.len(), 64, "every token has a chunk of its own");
    assert!(addrs.iter().all(|a| a % 2048 == 0));
    assert!(addrs.iter().all(|&a| a + 2048 <= umem.area_len() as u64));
}

#[test]
fn data_is_bounded_by_len_and_capacity() {
    let (umem, mut frames) = Umem::new(UmemConfig {
        frame_count: 2,
        frame_size: 2048,
        headroom: 128,
        unaligned: false,
        huge_pages: false,
        tx_metadata: false,
        tx_software_checksum: false,
    })
    .unwrap();
    let mut f = frames.pop().unwrap();
    assert_eq!(umem.capacity(&f), 2048 - 128);
    assert!(umem.set_len(&mut f, 2048 - 127).is_err());
    umem.set_len(&mut f, 60).unwrap();
    umem.data_mut(&mut f).fill(0xab);
    assert_eq!(umem.data(&f), &[0xab; 60][..]);
    // The neighbouring frame is untouched.
    let mut g = frames.pop().unwrap();
    umem.set_len(&mut g, 60).unwrap();
    assert!(umem.data(&g).iter().all(|&b| b == 0));
}

#[test]
fn kernel_addresses_map_back_to_their_chunk() {
    let (umem, _frames) = Umem::new(UmemConfig {
        frame_count: 4,
        frame_size: 4096,
        ..UmemConfig::default()
    })
    .unwrap();
    let mut f = umem.frame_from_kernel(4096 * 2 + 256, 100);
    assert_eq!(umem.capacity(&f), 4096 - 256);
    umem.reset(&mut f);
    assert_eq!(f.addr(), 4096 * 2);
    assert!(f.is_empty());
}

#[test]
#[should_panic(expected = "does not belong")]
fn frames_of_another_umem_are_refused() {
    let (a, mut fa) = Umem::new(UmemConfig {
        frame_count: 1,
        ..Default::default()
    })
    .unwrap();
    let (_b, _fb) = Umem::new(UmemConfig {
        frame_count: 1,
        ..Default::default()
    })
    .unwrap();
    let f = fa.pop().unwrap();
    assert!(a.owns(&f) && !_b.owns(&f));
    let _ = a.data(&f);
    let _ = _b.data(&f);
}

#[test]
fn headroom_that_would_wrap_u32_is_refused() {
    // u32::MAX - 255 + 256 + 64 wraps to 64 in u32 arithmetic.
    let e = UmemConfig {
        frame_count: 1,
        frame_size: 4096,
        headroom: u32::MAX - 255,
        unaligned: false,
        huge_pages: false,
        tx_metadata: false,
        tx_software_checksum: false,
    }
    .validate()
    .unwrap_err();
    assert!(e.to_string().contains("headroom"), "{e}");
    for headroom in [u32::MAX, u32::MAX - 319, 4096 - 256 - 63] {
        let c = UmemConfig {
            frame_count: 1,
            headroom,
            ..Default::default()
        };
        assert!(Umem::new(c).is_err(), "headroom {headroom} accepted");
    }
    assert!(UmemConfig {
        frame_count: 1,
        headroom: 4096 - 256 - 64,
        ..Default::default()
    }
    .validate()
    .is_ok());
}

#[test]
fn sizes_are_computed_without_wrapping() {
    let c = UmemConfig {
        frame_count: u32::MAX,
        frame_size: 4096,
        ..Default::default()
    };
    // 16 TiB fits a 64-bit usize; on 32-bit targets it is refused.
    assert_eq!(c.len(), usize::try_from(u64::from(u32::MAX) * 4096).ok());
}

#[test]
fn dropped_tokens_are_counted_as_lost() {
    let (umem, mut frames) = Umem::new(UmemConfig {
        frame_count: 8,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(umem.lost_frames(), 0);
    frames.truncate(3);
    assert_eq!(umem.lost_frames(), 5);
    let f = frames.pop().unwrap();
    let _ = f.into_addr();
    assert_eq!(umem.lost_frames(), 5, "a token given back is not lost");
}

#[test]
fn unaligned_chunks_above_a_page_need_huge_pages() {
    let mut c = UmemConfig {
        frame_count: 4,
        frame_size: 5000,
        unaligned: true,
        ..Default::default()
    };
    let e = c.validate().unwrap_err();
    assert!(e.to_string().contains("page size"), "{e}");
    c.huge_pages = true;
    assert!(c.validate().is_ok(), "the kernel decides with huge pages");
}

#[test]
fn bad_shapes_are_refused_with_reasons() {
    let e = UmemConfig {
        frame_size: 3000,
        ..Default::default()
    }
    .validate()
    .unwrap_err();
    assert!(e.to_string().contains("unaligned"), "{e}");
    let e = UmemConfig {
        frame_size: 1024,
        ..Default::default()
    }
    .validate()
    .unwrap_err();
    assert!(e.to_string().contains("2048"), "{e}");
    assert!(UmemConfig {
        frame_size: 3000,
        unaligned: true,
        ..Default::default()
    }
    .validate()
    .is_ok());
}

#[test]
fn tx_metadata_needs_its_room_in_the_headroom() {
    let c = UmemConfig::default().frame_count(2).tx_metadata(true);
    assert_eq!(c.headroom, TX_METADATA_LEN as u32, "the setter raised it");
    assert_eq!(
        UmemConfig::default()
            .headroom(64)
            .tx_metadata(true)
            .headroom,
        64
    );
    let e = c.headroom(8).validate().unwrap_err();
    assert!(
        e.to_string()
            .contains("no room for 24 bytes of TX metadata"),
        "{e}"
    );
    let e = UmemConfig::default()
        .tx_software_checksum(true)
        .validate()
        .unwrap_err();
    assert!(e.to_string().contains("tx_metadata"), "{e}");
}

#[test]
fn tx_metadata_lies_right_before_the_data_and_marks_the_descriptor() {
    use crate::{TxChecksum, TxMetadata};
    let (umem, mut frames) = Umem::new(
        UmemConfig::default()
            .frame_count(2)
            .frame_size(2048)
            .tx_metadata(true),
    )
    .unwrap();
    let mut f = frames.pop().unwrap();
    let meta = TxMetadata::default()
        .checksum(Some(TxChecksum::new(34, 6)))
        .timestamp(true);
    let e = umem.set_tx_metadata(&mut f, &meta).unwrap_err();
    assert!(e.to_string().contains("0-byte frame"), "length first: {e}");
    umem.set_len(&mut f, 60).unwrap();
    umem.data_mut(&mut f).fill(0xee);
    umem.set_tx_metadata(&mut f, &meta).unwrap();
    assert_eq!(umem.tx_metadata(&f), Some(meta));
    assert!(umem.data(&f).iter().all(|&b| b == 0xee), "data untouched");
    // The 24 bytes before the data, as the kernel reads them.
    // SAFETY: the test holds the token and makes no other slice.
    let head = unsafe { umem.head_before(f.addr()) }.to_vec();
    assert_eq!(head.len(), TX_METADATA_LEN, "the whole headroom");
    assert_eq!(head[0], 3, "flags: timestamp | checksum");
    assert_eq!(u16::from_ne_bytes([head[8], head[9]]), 34);
    assert_eq!(u16::from_ne_bytes([head[10], head[11]]), 6);
    assert!(umem.set_len(&mut f, 41).is_err(), "would cut the checksum");
    umem.set_len(&mut f, 42).unwrap();
    assert_eq!(
        umem.tx_timestamp(&f),
        None,
        "not sent: the request is there"
    );
    let desc = f.into_desc();
    assert_eq!(desc.options, libc::XDP_TX_METADATA);
    // What the kernel does at completion: the time over the request.
    // SAFETY: the test holds the chunk (its descriptor) and no other slice.
    let head = unsafe { umem.head_before_mut(desc.addr) };
    head[8..16].copy_from_slice(&42u64.to_ne_bytes());
    let done = umem.frame_from_kernel(desc.addr, 0);
    assert_eq!(umem.tx_timestamp(&done), Some(42));
    let _ = done.into_addr();

    let mut g = frames.pop().unwrap();
    umem.set_len(&mut g, 60).unwrap();
    umem.set_tx_metadata(&mut g, &meta).unwrap();
    umem.set_tx_metadata(&mut g, &TxMetadata::default())
        .unwrap();
    assert_eq!(umem.tx_metadata(&g), None, "an empty request unmarks");
    assert_eq!(g.into_desc().options, 0);
}

#[test]
fn tx_metadata_is_refused_without_the_area() {
    let (umem, mut frames) = Umem::new(UmemConfig::default().frame_count(1)).unwrap();
    let mut f = frames.pop().unwrap();
    umem.set_len(&mut f, 60).unwrap();
    let e = umem
        .set_tx_metadata(&mut f, &crate::TxMetadata::default().timestamp(true))
        .unwrap_err();
    assert!(e.to_string().contains("no TX metadata area"), "{e}");
    assert_eq!(umem.tx_timestamp(&f), None);
    let _ = f.into_addr();
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 256 }))]

    /// The resend pass's two compares (`xsk::room_test`) accept an address
    /// exactly when `decode` would and its chunk has `len` bytes of room
    /// from it; they decline where they do not apply.
    #[test]
    fn room_test_agrees_with_decode_and_the_room(
        fs in proptest::prop_oneof![
            proptest::prelude::Just(2048u32),
            proptest::prelude::Just(4096),
            proptest::prelude::Just(3000),
        ],
        count in 1u32..6,
        unaligned in proptest::prelude::any::<bool>(),
        len in 0u32..5000,
        near in 0u64..(8 << 12),
        far in proptest::prelude::any::<u64>(),
        chunk in 0u64..6,
        delta in -1i64..=1,
        pick in 0u8..3,
    ) {
        // Aligned chunks are 2048 or 4096 bytes; 3000 needs unaligned mode.
        let (umem, _frames) = Umem::new(UmemConfig {
            frame_count: count,
            frame_size: fs,
            unaligned: unaligned || fs == 3000,
            ..UmemConfig::default()
        })
        .unwrap();
        // Anywhere near the UMEM, anywhere at all, or next to where a
        // chunk's room falls short of `len` (where an off-by-one would be).
        let edge = i64::from(fs) - i64::from(len) + delta;
        let addr = match pick {
            0 => near,
            1 => far,
            _ => (chunk * u64::from(fs)).wrapping_add(edge as u64),
        };
        let Some((limit, mask, max_offset)) = crate::xsk::room_test(&umem, len) else {
            proptest::prop_assert!(umem.config.unaligned || len == 0 || len > fs);
            return Ok(());
        };
        proptest::prop_assert!(!umem.config.unaligned && len > 0 && len <= fs);
        let fast = addr < limit && addr & mask <= max_offset;
        // The reference: decode's bounds, then the room to the chunk's end.
        let fs = u64::from(fs);
        let inside = (addr / fs * fs)
            .checked_add(fs)
            .is_some_and(|end| end <= umem.area_len() as u64);
        let slow = inside && u64::from(len) <= addr / fs * fs + fs - addr;
        proptest::prop_assert_eq!(fast, slow, "addr {:#x} len {}", addr, len);
    }
}
