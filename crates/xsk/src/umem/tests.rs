use super::*;

#[test]
fn frames_are_unique_page_aligned_chunks() {
    let (umem, frames) = Umem::new(UmemConfig {
        frame_count: 64,
        frame_size: 2048,
        headroom: 0,
        unaligned: false,
        huge_pages: false,
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
